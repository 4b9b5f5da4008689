// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/contrail-go/contrail/pkg/client"
)

// TestL2NetworkAcrossHosts: a network in l2 forwarding mode is bridged
// across two hosts: the agents publish their VMs' MACs as EVPN routes and
// install the other host's MACs, and the VMs (same subnet, no gateway)
// reach each other.
func TestL2NetworkAcrossHosts(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	p := netip.MustParsePrefix("10.5.5.0/24")
	vn := c.create("virtual-network", client.Object{
		"fq_name": []string{"default-domain", "default-project", "l2net"}, "parent_type": "project",
		"virtual_network_properties": map[string]any{"forwarding_mode": "l2"},
		"network_ipam_refs": []any{map[string]any{
			"to": []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
				"subnet": map[string]any{"ip_prefix": p.Addr().String(), "ip_prefix_len": p.Bits()}}}},
		}},
	})
	h1, h2 := c.twoHosts()
	p1 := c.vmPort("host1", "vm1", vn)
	p2 := c.vmPort("host2", "vm2", vn)
	for _, x := range []struct {
		h    *host
		p    *vmPort
		name string
	}{{h1, p1, "vm1"}, {h2, p2, "vm2"}} {
		vmBox(t, x.h, x.p, x.name, "")
	}
	h1.start(t, []string{c.addr}, t.TempDir())
	h2.start(t, []string{c.addr}, t.TempDir())
	h1.waitSynced(t)
	h1.addPortOK(t, portJSON(p1))
	h2.waitSynced(t)
	h2.addPortOK(t, portJSON(p2))
	pr := p1.box.Prober(t, p2.ip)
	if _, ok := pr.Until("vm2", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("vm1 -> vm2 on the l2 network: no answer; interfaces %+v\nhost1:\n%s", h1.agent.Interfaces(), h1.box.Dump())
	}
	if _, ok := p2.box.Prober(t, p1.ip).Until("vm1", 5*time.Second, 100*time.Millisecond); !ok {
		t.Fatal("vm2 -> vm1 on the l2 network: no answer")
	}
	_ = context.Background
}
