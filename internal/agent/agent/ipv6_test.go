// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/transformer"
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
	vm := c.create("virtual-machine", client.Object{"fq_name": []string{name}})
	vmi := c.create("virtual-machine-interface", client.Object{
		"fq_name": []string{"default-domain", "default-project", name + "-eth0"}, "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": vn.UUID()}},
		"virtual_machine_refs": []any{map[string]any{"uuid": vm.UUID()}},
	})
	iip := func(suffix, family string) string {
		o := c.create("instance-ip", client.Object{"fq_name": []string{name + suffix}, "instance_ip_family": family,
			"virtual_network_refs":           []any{map[string]any{"uuid": vn.UUID()}},
			"virtual_machine_interface_refs": []any{map[string]any{"uuid": vmi.UUID()}}})
		return o.GetString("instance_ip_address")
	}
	p := &vmPort{vm: vm.UUID(), vmi: vmi.UUID(), vn: vn.UUID(), tap: "tap" + name}
	ip6 := iip("-ip6", "v6")
	if v4 {
		p.ip = iip("-ip", "v4")
	}
	macs, _ := vmi.Get("virtual_machine_interface_mac_addresses", "mac_address").([]any)
	if len(macs) > 0 {
		p.mac, _ = macs[0].(string)
	}
	vr, err := c.api.ReadByFQName(context.Background(), "virtual-router", []string{"default-global-system-config", host})
	if err != nil {
		c.t.Fatalf("virtual-router %s: %v", host, err)
	}
	if err := c.api.RefUpdate(context.Background(), "virtual-router", vr.UUID(), "virtual-machine", vm.UUID(), client.RefAdd, nil); err != nil {
		c.t.Fatalf("virtual-router ref: %v", err)
	}
	return p, ip6
}

// vmBox6 creates the VM's namespace with its addresses set statically
// (no DHCPv6): the IPv6 one without DAD, and a default route per family.
// The VM answers UDP on port 7777 in both families with its name.
func vmBox6(t testing.TB, h *host, p *vmPort, name, ip6 string, gw4, gw6 netip.Addr) {
	t.Helper()
	p.box = newBox(t, name)
	p.box.link(t, "eth0", h.box, p.tap, 1400)
	setMAC(t, p.box, "eth0", p.mac)
	err := onThreadIn(p.box.ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/eth0/accept_dad", []byte("0"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	cidr4 := ""
	if p.ip != "" {
		cidr4 = p.ip + "/24"
	}
	p.box.up(t, "eth0", cidr4)
	if p.ip != "" {
		p.box.defaultVia(t, gw4.String())
	}
	l, err := p.box.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := netlink.ParseAddr(ip6 + "/64")
	a.Flags = unix.IFA_F_NODAD
	if err := p.box.h.AddrAdd(l, a); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	def := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}, Gw: gw6.AsSlice()}
	if err := p.box.h.RouteAdd(def); err != nil {
		t.Fatalf("%s: default IPv6 route: %v", name, err)
	}
	var pc net.PacketConn
	if err := onThreadIn(p.box.ns, func() (err error) { pc, err = net.ListenPacket("udp", ":7777"); return err }); err != nil {
		t.Fatalf("%s: echo: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
}

// prober6 sends datagrams to an IPv6 (or IPv4) address from inside a box.
func (b *box) prober6(t testing.TB, dst string) *prober {
	t.Helper()
	var c *net.UDPConn
	err := onThreadIn(b.ns, func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), 7777)))
		return err
	})
	if err != nil {
		t.Fatalf("%s: dial %s: %v", b.name, dst, err)
	}
	t.Cleanup(func() { c.Close() })
	return &prober{c: c}
}

// hasRoute6 reports whether table has an IPv6 route to dst out of dev.
func hasRoute6(t testing.TB, b *box, table int, dst, dev string) bool {
	t.Helper()
	routes, err := b.h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() != dst {
			continue
		}
		if l, err := b.h.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().Name == dev {
			return true
		}
	}
	return false
}

// TestIPv6AcrossHosts runs a dual-stack VM on one host and an IPv6-only VM
// on another, in a network with an IPv4 and an IPv6 subnet: the agents
// publish the inet6 routes, the control node reflects them, each agent
// installs the other's route in the network's table and the VMs talk over
// IPv6 both ways; the dual-stack VM keeps its IPv4 and the IPv6-only port
// is active.
func TestIPv6AcrossHosts(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	vn, gw4, gw6 := c.network6("v6net", "10.6.6.0/24", "2001:db8:6::/64")
	vni, _ := vn.GetInt("virtual_network_network_id")
	tbl := dataplane.TableForVNI(uint32(vni))
	vx := dataplane.DeviceName(uint32(vni))

	h1b, h2b := newBox(t, "host1"), newBox(t, "host2")
	h1b.link(t, "u1", h2b, "u2", 0)
	h1b.up(t, "u1", "192.0.2.1/24")
	h2b.up(t, "u2", "192.0.2.2/24")
	h1 := c.host("host1", "192.0.2.1", h1b, "")
	h2 := c.host("host2", "192.0.2.2", h2b, "")
	p1, ip61 := c.vmPort6("host1", "vm61", vn, true)
	p2, ip62 := c.vmPort6("host2", "vm62", vn, false)
	vmBox6(t, h1, p1, "vm61", ip61, gw4, gw6)
	vmBox6(t, h2, p2, "vm62", ip62, gw4, gw6)
	h1.start(t, []string{c.addr}, t.TempDir())
	h2.start(t, []string{c.addr}, t.TempDir())
	for _, x := range []struct {
		h   *host
		p   *vmPort
		ip6 string
	}{{h1, p1, ip61}, {h2, p2, ip62}} {
		waitFor(t, "agent synced", 10*time.Second, func() bool { return x.h.agent.Status().ConfigSynced })
		pj := portJSON(x.p)
		pj.IP6Address = x.ip6
		if code, body := x.h.addPort(t, pj); code != 200 {
			t.Fatalf("add port: %d %s", code, body)
		}
	}
	waitFor(t, "vm62's inet6 route on host1", 20*time.Second, func() bool {
		return hasRoute6(t, h1b, tbl, ip62+"/128", vx)
	})
	waitFor(t, "vm61's inet6 route on host2", 20*time.Second, func() bool {
		return hasRoute6(t, h2b, tbl, ip61+"/128", vx)
	})
	if _, ok := p1.box.prober6(t, ip62).until("vm62", 10*time.Second, 200*time.Millisecond); !ok {
		t.Fatalf("vm61 -> vm62 over IPv6: no answer\nhost1:\n%s", h1b.dump())
	}
	if _, ok := p2.box.prober6(t, ip61).until("vm61", 10*time.Second, 200*time.Millisecond); !ok {
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
	needRoot(t)
	if os.Getenv("AGENT_NO_FIREWALL") != "" {
		t.Skip("firewall disabled")
	}
	c := newCluster(t)
	tr, err := transformer.New(transformer.Config{APIURL: c.api.BaseURL(), Store: c.st, LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	trDone := make(chan error, 1)
	go func() { trDone <- tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-trDone })

	vn, gw4, gw6 := c.network6("v6sg", "10.7.7.0/24", "2001:db8:7::/64")
	hb := newBox(t, "host1")
	peerBox := newBox(t, "underlay")
	hb.link(t, "u1", peerBox, "u2", 0)
	hb.up(t, "u1", "192.0.2.1/24")
	h := c.host("host1", "192.0.2.1", hb, "")
	p1, ip61 := c.vmPort6("host1", "vm71", vn, true)
	p2, ip62 := c.vmPort6("host1", "vm72", vn, false)
	sg := c.create("security-group", client.Object{
		"fq_name": []string{"default-domain", "default-project", "ssh6"}, "parent_type": "project",
		"security_group_entries": map[string]any{"policy_rule": []any{sgRule6(true, "tcp", 22), sgRule6(false, "any", 0)}},
	})
	if err := c.api.RefUpdate(context.Background(), "virtual-machine-interface", p2.vmi, "security-group", sg.UUID(), client.RefAdd, nil); err != nil {
		t.Fatal(err)
	}
	vmBox6(t, h, p1, "vm71", ip61, gw4, gw6)
	vmBox6(t, h, p2, "vm72", ip62, gw4, gw6)
	h.start(t, []string{c.addr}, t.TempDir())
	waitFor(t, "agent synced", 10*time.Second, func() bool { return h.agent.Status().ConfigSynced })
	for _, x := range []struct {
		p   *vmPort
		ip6 string
	}{{p1, ip61}, {p2, ip62}} {
		pj := portJSON(x.p)
		pj.IP6Address = x.ip6
		if code, body := h.addPort(t, pj); code != 200 {
			t.Fatalf("add port: %d %s", code, body)
		}
	}
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
	if _, ok := p2.box.prober6(t, ip61).until("vm71", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("vm72 -> vm71 over IPv6: no answer\nhost1:\n%s", hb.dump())
	}
	time.Sleep(500 * time.Millisecond) // the firewall follows the dataplane
	pr := p1.box.prober6(t, ip62)
	for range 3 {
		if got := pr.once(500 * time.Millisecond); got != "" {
			t.Fatalf("vm71 -> vm72 UDP 7777 over IPv6 passed a group that allows only TCP 22: %q", got)
		}
	}
	if err := c.api.Update(context.Background(), "security-group", sg.UUID(), client.Object{
		"security_group_entries": map[string]any{"policy_rule": []any{sgRule6(true, "tcp", 22), sgRule6(true, "udp", 7777), sgRule6(false, "any", 0)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := pr.until("vm72", 15*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("vm71 -> vm72 UDP 7777 over IPv6 still dropped after the group allows it; ACLs %+v", h.agent.ACLs())
	}
}
