// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"bytes"
	"testing"
)

// FuzzDecodeVMAndGateway: the POST /vm and /gateway bodies never panic,
// and a VM port that decodes has the keys the agent needs.
func FuzzDecodeVMAndGateway(f *testing.F) {
	f.Add([]byte(`{"vm-uuid":"` + testVM + `","vmi-uuid":"` + testVMI + `","host-ifname":"tap0","vm-name":"pod"}`))
	f.Add([]byte(`[{"interface":"gw0","routing-instance":"default-domain:p:vn:vn","subnets":[{"ip-address":"10.0.0.0","prefix-len":24}]}]`))
	f.Add([]byte(`{"vm-uuid":1}`))
	f.Add([]byte(`[{}] x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := decodeVMPortBytes(data); err == nil && (p.HostIfname == "" || p.VMUUID == "" || p.VMIUUID == "") {
			t.Fatalf("decoded a VM port without its required keys: %+v", p)
		}
		for _, del := range []bool{false, true} {
			_, _ = decodeGateways(bytes.NewReader(data), del)
		}
	})
}
