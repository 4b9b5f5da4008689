// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/contrail-go/contrail/pkg/client"
)

func entry6(prefix, nh string, label uint32) *xmpp.UnicastEntry {
	return &xmpp.UnicastEntry{NLRI: xmpp.NLRI{AF: xmpp.AFIPv6, SAFI: 1, Address: prefix},
		NextHops: []xmpp.NextHop{{AF: 1, Address: nh, Label: label, TunnelEncapsulation: []string{"vxlan"}}}}
}

// TestReceivedRoutesIPv6 checks how received inet6 routes become
// dataplane routes: IPv6 prefixes behind IPv4 tunnel endpoints.
func TestReceivedRoutesIPv6(t *testing.T) {
	a := testAgent()
	vn := &vnView{name: "d:p:A", ri: "d:p:A:A", vni: 5}
	rr, why := a.remoteRoute(vn, entry6("2001:db8::4/128", "192.0.2.2", 5), nil)
	if why != "" || rr.Prefix != netip.MustParsePrefix("2001:db8::4/128") || rr.TunnelEndpoint != netip.MustParseAddr("192.0.2.2") || rr.VNI != 5 {
		t.Errorf("inet6 route: %+v %q", rr, why)
	}
	if _, why := a.remoteRoute(vn, entry6("2001:db8::3/128", "192.0.2.1", 5), nil); why != "local" {
		t.Errorf("own inet6 route: %q", why)
	}
	if _, why := a.remoteRoute(vn, entry6("10.1.1.4/32", "192.0.2.2", 5), nil); !strings.Contains(why, "bad prefix") {
		t.Errorf("IPv4 prefix in an inet6 entry: %q", why)
	}
	if _, why := a.remoteRoute(vn, entry("2001:db8::4/128", "192.0.2.2", 5, "vxlan"), nil); !strings.Contains(why, "bad prefix") {
		t.Errorf("IPv6 prefix in an inet entry: %q", why)
	}
	if _, why := a.remoteRoute(vn, entry6("2001:db8::4/128", "2001:db8:ff::2", 5), nil); !strings.Contains(why, "bad next hop") {
		t.Errorf("IPv6 tunnel endpoint: %q", why)
	}
}

// network6 creates a virtual network with one IPv4 and one IPv6 subnet
// and returns it with the gateways the API gave the subnets.
func (c *cluster) network6(name, cidr4, cidr6 string) (client.Object, netip.Addr, netip.Addr) {
	c.t.Helper()
	var subnets []any
	for _, cidr := range []string{cidr4, cidr6} {
		p := netip.MustParsePrefix(cidr)
		subnets = append(subnets, map[string]any{"subnet": map[string]any{"ip_prefix": p.Addr().String(), "ip_prefix_len": p.Bits()}})
	}
	vn := c.create("virtual-network", client.Object{
		"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to":   []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": subnets},
		}},
	})
	raw, _ := json.Marshal(vn["network_ipam_refs"])
	var refs []struct {
		Attr struct {
			Subnets []struct {
				Gateway string `json:"default_gateway"`
			} `json:"ipam_subnets"`
		} `json:"attr"`
	}
	if err := json.Unmarshal(raw, &refs); err != nil || len(refs) != 1 || len(refs[0].Attr.Subnets) != 2 {
		c.t.Fatalf("network %s: ipam refs %s: %v", name, raw, err)
	}
	var gws [2]netip.Addr
	for i, s := range refs[0].Attr.Subnets {
		g, err := netip.ParseAddr(s.Gateway)
		if err != nil {
			c.t.Fatalf("network %s: gateway %q: %v", name, s.Gateway, err)
		}
		gws[i] = g
	}
	return vn, gws[0], gws[1]
}

// vmPort6 is a VM interface with an IPv6 instance IP and, when v4 is set,
// an IPv4 one too.
func (c *cluster) vmPort6(host, name string, vn client.Object, v4 bool) (*vmPort, string) {
	c.t.Helper()
	p, vmi := c.vmObjects(name, vn)
	ip6 := c.instanceIP(name+"-ip6", "v6", vn, vmi)
	if v4 {
		p.ip = c.instanceIP(name+"-ip", "v4", vn, vmi)
	}
	c.routerRef(host, p.vm)
	return p, ip6
}

// vmBox6 creates the VM's namespace with its addresses set statically
// (no DHCPv6): the IPv6 one without DAD, and a default route per family.
// The VM answers UDP on port 7777 in both families with its name.
func vmBox6(t testing.TB, h *host, p *vmPort, name, ip6 string, gw4, gw6 netip.Addr) {
	t.Helper()
	vmLink(t, h, p, name)
	p.box.Sysctl(t, "net.ipv6.conf.eth0.accept_dad", "0")
	vmUp(t, p, gw4.String())
	p.box.Addr(t, "eth0", ip6+"/64")
	p.box.Route(t, "::/0", gw6.String(), "eth0", 0)
}

// TestIPv6AcrossHosts runs a dual-stack VM on one host and an IPv6-only VM
// on another, in a network with an IPv4 and an IPv6 subnet: the agents
// publish the inet6 routes, the control node reflects them, each agent
// installs the other's route in the network's table and the VMs talk over
// IPv6 both ways; the dual-stack VM keeps its IPv4 and the IPv6-only port
// is active.
func TestIPv6AcrossHosts(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	vn, gw4, gw6 := c.network6("v6net", "10.6.6.0/24", "2001:db8:6::/64")
	vni, _ := vn.GetInt("virtual_network_network_id")
	tbl := dataplane.TableForVNI(uint32(vni))
	vx := dataplane.DeviceName(uint32(vni))

	h1, h2 := c.twoHosts()
	h1b, h2b := h1.box, h2.box
	p1, ip61 := c.vmPort6("host1", "vm61", vn, true)
	p2, ip62 := c.vmPort6("host2", "vm62", vn, false)
	vmBox6(t, h1, p1, "vm61", ip61, gw4, gw6)
	vmBox6(t, h2, p2, "vm62", ip62, gw4, gw6)
	h1.start(t, []string{c.addr}, t.TempDir())
	h2.start(t, []string{c.addr}, t.TempDir())
	h1.waitSynced(t)
	h1.addPortOK(t, portJSON6(p1, ip61))
	h2.waitSynced(t)
	h2.addPortOK(t, portJSON6(p2, ip62))
	waitFor(t, "vm62's inet6 route on host1", 20*time.Second, func() bool {
		return hasRoute(t, h1b, tbl, ip62+"/128", vx)
	})
	waitFor(t, "vm61's inet6 route on host2", 20*time.Second, func() bool {
		return hasRoute(t, h2b, tbl, ip61+"/128", vx)
	})
	if _, ok := p1.box.Prober(t, ip62).Until("vm62", 10*time.Second, 200*time.Millisecond); !ok {
		t.Fatalf("vm61 -> vm62 over IPv6: no answer\nhost1:\n%s", h1b.Dump())
	}
	if _, ok := p2.box.Prober(t, ip61).Until("vm61", 10*time.Second, 200*time.Millisecond); !ok {
		t.Fatal("vm62 -> vm61 over IPv6: no answer")
	}
	if !hasRoute(t, h1b, tbl, p1.ip+"/32", p1.tap) {
		t.Errorf("dual-stack port: no IPv4 route %s/32 dev %s", p1.ip, p1.tap)
	}
	for _, x := range []struct {
		h  *host
		id string
	}{{h1, p1.vmi}, {h2, p2.vmi}} {
		x.h.agent.mu.Lock()
		e := x.h.agent.ports[x.id]
		state := ""
		if e != nil {
			state = e.state
		}
		x.h.agent.mu.Unlock()
		if state != "active" {
			t.Errorf("%s: port %s state %q", x.h.name, x.id, state)
		}
	}
}

// sgRule6 is sgRule for IPv6: ingress on one port, or egress anywhere.
func sgRule6(ingress bool, proto string, port int) map[string]any {
	r := sgRule(ingress, proto, port)
	r["ethertype"] = "IPv6"
	any6 := []any{map[string]any{"subnet": map[string]any{"ip_prefix": "::", "ip_prefix_len": 0}}}
	if ingress {
		r["src_addresses"] = any6
	} else {
		r["dst_addresses"] = any6
	}
	return r
}

// TestIPv6SecurityGroup puts an IPv6-only port in a security group that
// allows only TCP 22 in: IPv6 UDP to it is dropped until the group allows
// it, so IPv6-only ports are filtered like the others.
func TestIPv6SecurityGroup(t *testing.T) {
	nstest.NeedRoot(t)
	if os.Getenv("AGENT_NO_FIREWALL") != "" {
		t.Skip("firewall disabled")
	}
	c := newCluster(t)
	c.startTransformer()

	vn, gw4, gw6 := c.network6("v6sg", "10.7.7.0/24", "2001:db8:7::/64")
	h := c.oneHost("host1", "192.0.2.1")
	hb := h.box
	p1, ip61 := c.vmPort6("host1", "vm71", vn, true)
	p2, ip62 := c.vmPort6("host1", "vm72", vn, false)
	sg := c.securityGroup("ssh6", []any{sgRule6(true, "tcp", 22), sgRule6(false, "any", 0)}, p2)
	vmBox6(t, h, p1, "vm71", ip61, gw4, gw6)
	vmBox6(t, h, p2, "vm72", ip62, gw4, gw6)
	h.start(t, []string{c.addr}, t.TempDir())
	h.waitSynced(t)
	h.addPortOK(t, portJSON6(p1, ip61))
	h.addPortOK(t, portJSON6(p2, ip62))
	waitFor(t, "the group's ACLs at the agent", 15*time.Second, func() bool {
		n := 0
		for _, acl := range h.agent.ACLs() {
			if acl.Parent == "security-group" && acl.Rules > 0 {
				n++
			}
		}
		return n >= 2
	})
	// vm72 (grouped) reaches vm71 (no group): egress allowed, the reply
	// is part of the connection.
	if _, ok := p2.box.Prober(t, ip61).Until("vm71", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("vm72 -> vm71 over IPv6: no answer\nhost1:\n%s", hb.Dump())
	}
	time.Sleep(500 * time.Millisecond) // the firewall follows the dataplane
	pr := p1.box.Prober(t, ip62)
	for range 3 {
		if got := pr.Once(500 * time.Millisecond); got != "" {
			t.Fatalf("vm71 -> vm72 UDP 7777 over IPv6 passed a group that allows only TCP 22: %q", got)
		}
	}
	if err := c.api.Update(context.Background(), "security-group", sg.UUID(), client.Object{
		"security_group_entries": map[string]any{"policy_rule": []any{sgRule6(true, "tcp", 22), sgRule6(true, "udp", 7777), sgRule6(false, "any", 0)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := pr.Until("vm72", 15*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("vm71 -> vm72 UDP 7777 over IPv6 still dropped after the group allows it; ACLs %+v", h.agent.ACLs())
	}
}
