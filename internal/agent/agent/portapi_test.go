// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

// portReq sends a port API request to h and decodes a 200 answer into out.
func (h *host) portReq(t testing.TB, method, path string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.portURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, string(data)
}

// TestPortAPIVMPortsAndLinkState: a VM-style port (POST /vm, as the CNI
// plugin registers a pod) is programmed from the config alone and
// described by GET /vm and /vm-cfg; PUT /disable-port stops its traffic
// (device down, routes withdrawn), which stays so across an agent
// restart, and PUT /enable-port brings it back.
func TestPortAPIVMPortsAndLinkState(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	vn := c.network("vnp", "10.7.7.0/24")
	h1, h2 := c.twoHosts()
	p1 := c.vmPort("host1", "pod1", vn)
	p2 := c.vmPort("host2", "vm2", vn)
	gw := "10.7.7.254"
	vmBox(t, h1, p1, "pod1", gw)
	vmBox(t, h2, p2, "vm2", gw)
	dir1 := t.TempDir()
	h1.start(t, []string{c.addr}, dir1)
	h2.start(t, []string{c.addr}, t.TempDir())
	waitFor(t, "agents synced", 10*time.Second, func() bool {
		return h1.agent.Status().ConfigSynced && h2.agent.Status().ConfigSynced
	})
	h2.addPortOK(t, portJSON(p2))
	vmReq := map[string]any{"vm-uuid": p1.vm, "vmi-uuid": p1.vmi, "vm-name": "pod1", "vm-id": "uid-1",
		"host-ifname": p1.tap, "vm-ifname": "eth0", "vm-namespace": "/var/run/netns/pod1", "vn-uuid": ""}
	if code, body := h1.portReq(t, "POST", "/vm", vmReq, nil); code != 200 {
		t.Fatalf("POST /vm: %d %s", code, body)
	}
	// Bad input is refused with the field named, and nothing is kept.
	bad := map[string]any{"vm-uuid": "nope", "vmi-uuid": p1.vmi, "vm-name": "x", "host-ifname": p1.tap}
	if code, body := h1.portReq(t, "POST", "/vm", bad, nil); code != 400 || !strings.Contains(body, `"vm-uuid"`) {
		t.Errorf("bad vm-uuid: %d %s", code, body)
	}
	gone := map[string]any{"vm-uuid": p2.vm, "vmi-uuid": p2.vmi, "vm-name": "x", "host-ifname": "tapnothere"}
	if code, body := h1.portReq(t, "POST", "/vm", gone, nil); code != 400 || !strings.Contains(body, "does not exist") {
		t.Errorf("missing device: %d %s", code, body)
	}

	pr := p1.box.Prober(t, p2.ip)
	if _, ok := pr.Until("vm2", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("pod1 -> vm2: no answer; interfaces %+v", h1.agent.Interfaces())
	}
	var ports []portapi.Port
	if code, body := h1.portReq(t, "GET", "/vm/"+p1.vm, nil, &ports); code != 200 || len(ports) != 1 ||
		ports[0].IPAddress != p1.ip || ports[0].Plen != 24 || ports[0].Gateway != gw || ports[0].MACAddress != p1.mac || ports[0].VNID != p1.vn {
		t.Errorf("GET /vm: %d %s", code, body)
	}
	var cfg []portapi.VMIConfig
	if code, body := h1.portReq(t, "GET", "/vm-cfg/pod1", nil, &cfg); code != 200 || len(cfg) != 1 ||
		cfg[0].ID != p1.vmi || cfg[0].IPAddress != p1.ip || cfg[0].VNName != "default-domain:default-project:vnp" {
		t.Errorf("GET /vm-cfg: %d %s", code, body)
	}
	if code, _ := h1.portReq(t, "GET", "/vm-cfg/nosuchvm", nil, nil); code != 404 {
		t.Errorf("GET /vm-cfg of an unknown VM: %d", code)
	}

	linkUp := func() bool {
		l, err := h1.box.H.LinkByName(p1.tap)
		return err == nil && l.Attrs().Flags&net.FlagUp != 0
	}
	blocked := func(what string) {
		t.Helper()
		waitFor(t, what+": pod1's device down", 5*time.Second, func() bool { return !linkUp() })
		time.Sleep(300 * time.Millisecond) // the dataplane has withdrawn the port meanwhile
		for range 3 {
			if got := pr.Once(300 * time.Millisecond); got != "" {
				t.Fatalf("%s: pod1 still reaches vm2 (%q)", what, got)
			}
		}
	}
	var p portapi.Port
	if code, body := h1.portReq(t, "PUT", "/disable-port/"+p1.vmi, nil, &p); code != 200 || !p.Disabled {
		t.Fatalf("PUT /disable-port: %d %s", code, body)
	}
	blocked("disabled")
	if code, body := h1.portReq(t, "GET", "/port/"+p1.vmi, nil, nil); code != 200 || !strings.Contains(body, `"link-state": 0`) {
		t.Errorf("GET /port of the disabled port: %d %s", code, body)
	}
	for _, it := range h1.agent.Interfaces() {
		if it.UUID == p1.vmi && !strings.Contains(it.State, "disabled") {
			t.Errorf("interface state %q", it.State)
		}
	}

	// Restarted, the agent keeps the port disabled.
	h1.stop()
	h1.start(t, []string{c.addr}, dir1)
	waitFor(t, "agent restarted", 10*time.Second, func() bool { return h1.agent.Status().ConfigSynced })
	blocked("after restart")

	if code, body := h1.portReq(t, "PUT", "/enable-port/"+p1.vmi, nil, &p); code != 200 || p.Disabled {
		t.Fatalf("PUT /enable-port: %d %s", code, body)
	}
	if _, ok := pr.Until("vm2", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("pod1 -> vm2 after enable: no answer; interfaces %+v", h1.agent.Interfaces())
	}
	if code, _ := h1.portReq(t, "PUT", "/enable-port/"+p2.vmi, nil, nil); code != 404 {
		t.Errorf("enable a port of another host: %d", code)
	}
	if code, body := h1.portReq(t, "DELETE", "/vm/"+p1.vm, nil, nil); code != 200 {
		t.Errorf("DELETE /vm: %d %s", code, body)
	}
	waitFor(t, "pod1's port removed", 5*time.Second, func() bool { return len(h1.agent.Interfaces()) == 0 })
}
