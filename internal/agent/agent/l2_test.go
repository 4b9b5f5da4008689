// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/contrail-go/contrail/pkg/client"
)

// TestL2NetworkAcrossHosts: a network in l2 forwarding mode is bridged
// across two hosts: the agents publish their VMs' MACs as EVPN routes and
// install the other host's MACs, and the VMs (same subnet, no gateway)
// reach each other.
func TestL2NetworkAcrossHosts(t *testing.T) {
	needRoot(t)
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
	h1b, h2b := newBox(t, "host1"), newBox(t, "host2")
	h1b.link(t, "u1", h2b, "u2", 0)
	h1b.up(t, "u1", "192.0.2.1/24")
	h2b.up(t, "u2", "192.0.2.2/24")
	h1 := c.host("host1", "192.0.2.1", h1b, "")
	h2 := c.host("host2", "192.0.2.2", h2b, "")
	p1 := c.vmPort("host1", "vm1", vn)
	p2 := c.vmPort("host2", "vm2", vn)
	for _, x := range []struct {
		h    *host
		p    *vmPort
		name string
	}{{h1, p1, "vm1"}, {h2, p2, "vm2"}} {
		x.p.box = newBox(t, x.name)
		x.p.box.link(t, "eth0", x.h.box, x.p.tap, 1400)
		setMAC(t, x.p.box, "eth0", x.p.mac)
		x.p.box.up(t, "eth0", x.p.ip+"/24")
		x.p.box.echo(t)
	}
	h1.start(t, []string{c.addr}, t.TempDir())
	h2.start(t, []string{c.addr}, t.TempDir())
	for _, x := range []struct {
		h *host
		p *vmPort
	}{{h1, p1}, {h2, p2}} {
		waitFor(t, "agent synced", 10*time.Second, func() bool { return x.h.agent.Status().ConfigSynced })
		if code, body := x.h.addPort(t, portJSON(x.p)); code != 200 {
			t.Fatalf("add port: %d %s", code, body)
		}
	}
	pr := p1.box.prober(t, p2.ip)
	if _, ok := pr.until("vm2", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("vm1 -> vm2 on the l2 network: no answer; interfaces %+v\nhost1:\n%s", h1.agent.Interfaces(), h1b.dump())
	}
	if _, ok := p2.box.prober(t, p1.ip).until("vm1", 5*time.Second, 100*time.Millisecond); !ok {
		t.Fatal("vm2 -> vm1 on the l2 network: no answer")
	}
	_ = context.Background
}
