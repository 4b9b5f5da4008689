// SPDX-License-Identifier: Apache-2.0

package dataplane

import (
	"net/netip"
	"strings"
	"testing"
)

// TestServiceAddress: a subnet's service address goes to the ports of the
// subnet with the gateway, and must be another IPv4 address of the subnet.
func TestServiceAddress(t *testing.T) {
	state := func(svc string) State {
		sn := Subnet{Prefix: netip.MustParsePrefix("10.1.1.0/24"), Gateway: netip.MustParseAddr("10.1.1.254")}
		if svc != "" {
			sn.Service = netip.MustParseAddr(svc)
		}
		return State{
			TunnelIP: netip.MustParseAddr("192.0.2.1"), UnderlayDev: "u1",
			Networks: []Network{{Name: "A", VNI: 100, Subnets: []Subnet{sn}}},
			Ports:    []Port{{Name: "p1", IP: netip.MustParseAddr("10.1.1.3"), Network: "A"}},
		}
	}
	p, err := compile(state("10.1.1.253"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ports) != 1 || p.ports[0].service != netip.MustParseAddr("10.1.1.253") || p.ports[0].gateway != netip.MustParseAddr("10.1.1.254") {
		t.Fatalf("port plan: %+v", p.ports)
	}
	p, err = compile(state(""))
	if err != nil || p.ports[0].service.IsValid() {
		t.Fatalf("no service address: %v %+v", err, p.ports)
	}
	for _, bad := range []string{"10.1.1.254", "10.9.9.9", "fd00::1"} {
		if _, err := compile(state(bad)); err == nil || !strings.Contains(err.Error(), "service address") {
			t.Errorf("service address %s: %v", bad, err)
		}
	}
}
