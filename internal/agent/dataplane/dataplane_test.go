package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestCompileRejects(t *testing.T) {
	gw := Subnet{Prefix: netip.MustParsePrefix("10.1.1.0/24"), Gateway: netip.MustParseAddr("10.1.1.254")}
	base := func() State {
		return State{
			TunnelIP:    netip.MustParseAddr("192.0.2.1"),
			UnderlayDev: "u1",
			Networks:    []Network{{Name: "A", VNI: 100, Subnets: []Subnet{gw}}},
		}
	}
	tests := []struct {
		name   string
		mutate func(*State)
		want   string
	}{
		{"ok", func(*State) {}, ""},
		{"empty state needs nothing", func(s *State) { *s = State{} }, ""},
		{"no tunnel ip", func(s *State) { s.TunnelIP = netip.Addr{} }, "tunnel IP"},
		{"vni zero", func(s *State) { s.Networks[0].VNI = 0 }, "VNI 0"},
		{"table clash", func(s *State) {
			s.Networks = append(s.Networks, Network{Name: "B", VNI: 100 + TableSpan, Subnets: []Subnet{gw}})
		}, "table 1100"},
		{"duplicate network", func(s *State) { s.Networks = append(s.Networks, s.Networks[0]) }, "listed twice"},
		{"port unknown network", func(s *State) {
			s.Ports = []Port{{Name: "p", IP: netip.MustParseAddr("10.1.1.3"), Network: "X"}}
		}, `port "p": unknown network`},
		{"port outside subnets", func(s *State) {
			s.Ports = []Port{{Name: "p", IP: netip.MustParseAddr("10.9.1.3"), Network: "A"}}
		}, "in no subnet"},
		{"leaked route of another VNI", func(s *State) {
			s.Remote = []RemoteRoute{{Network: "A", Prefix: netip.MustParsePrefix("10.1.1.4/32"),
				TunnelEndpoint: netip.MustParseAddr("192.0.2.2"), VNI: 7}}
		}, ""},
		{"leaked route whose transit table clashes", func(s *State) {
			s.Remote = []RemoteRoute{{Network: "A", Prefix: netip.MustParsePrefix("10.1.1.4/32"),
				TunnelEndpoint: netip.MustParseAddr("192.0.2.2"), VNI: 100 + TableSpan}}
		}, "table 1100"},
		{"gateway outside subnet", func(s *State) {
			s.Networks[0].Subnets[0].Gateway = netip.MustParseAddr("10.2.0.1")
		}, "gateway"},
		{"ipv6 subnet with an IPv4 gateway", func(s *State) {
			s.Networks[0].Subnets = append(s.Networks[0].Subnets, Subnet{Prefix: netip.MustParsePrefix("2001:db8::/64"), Gateway: netip.MustParseAddr("10.1.1.1")})
		}, "gateway"},
		{"port without address", func(s *State) {
			s.Ports = []Port{{Name: "p", Network: "A"}}
		}, "no address"},
		{"ipv6-only port outside subnets", func(s *State) {
			s.Ports = []Port{{Name: "p", IP6: netip.MustParseAddr("2001:db8::3"), Network: "A"}}
		}, "in no subnet"},
		{"ipv4 address as IP6", func(s *State) {
			s.Ports = []Port{{Name: "p", IP6: netip.MustParseAddr("10.1.1.3"), Network: "A"}}
		}, "not IPv6"},
		{"ipv6-only port", func(s *State) {
			s.Networks[0].Subnets = append(s.Networks[0].Subnets, Subnet{Prefix: netip.MustParsePrefix("2001:db8::/64"), Gateway: netip.MustParseAddr("2001:db8::1")})
			s.Ports = []Port{{Name: "p", IP6: netip.MustParseAddr("2001:db8::3"), Network: "A"}}
		}, ""},
		{"extra addresses", func(s *State) {
			s.Ports = []Port{{Name: "p", IP: netip.MustParseAddr("10.1.1.3"), Extra: []netip.Addr{netip.MustParseAddr("10.1.1.9")}, Network: "A"}}
		}, ""},
		{"extra address outside subnets", func(s *State) {
			s.Ports = []Port{{Name: "p", IP: netip.MustParseAddr("10.1.1.3"), Extra: []netip.Addr{netip.MustParseAddr("10.7.1.9")}, Network: "A"}}
		}, "in no subnet"},
		{"extra address twice", func(s *State) {
			s.Ports = []Port{{Name: "p", IP: netip.MustParseAddr("10.1.1.3"), Extra: []netip.Addr{netip.MustParseAddr("10.1.1.3")}, Network: "A"}}
		}, "listed twice"},
		{"extra ipv6 without a first one", func(s *State) {
			s.Networks[0].Subnets = append(s.Networks[0].Subnets, Subnet{Prefix: netip.MustParsePrefix("2001:db8::/64"), Gateway: netip.MustParseAddr("2001:db8::1")})
			s.Ports = []Port{{Name: "p", IP: netip.MustParseAddr("10.1.1.3"), Extra: []netip.Addr{netip.MustParseAddr("2001:db8::9")}, Network: "A"}}
		}, "without a first address"},
		{"ipv6 route with an IPv6 endpoint", func(s *State) {
			s.Remote = []RemoteRoute{{Network: "A", Prefix: netip.MustParsePrefix("2001:db8::4/128"), TunnelEndpoint: netip.MustParseAddr("2001:db8:ff::2")}}
		}, "IPv4 tunnel endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.mutate(&s)
			_, err := compile(s)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	if got := DeviceName(100); got != "vx100" || !isOwnedDeviceName(got) {
		t.Errorf("DeviceName(100) = %q", got)
	}
	for _, n := range []string{"vxlan0", "vx", "eth0", "vx1a"} {
		if isOwnedDeviceName(n) {
			t.Errorf("%q must not be owned", n)
		}
	}
	if got := TableForVNI(100); got != 1100 || !isOwnedTable(got) {
		t.Errorf("TableForVNI(100) = %d", got)
	}
	if got := RouterMAC(netip.MustParseAddr("192.0.2.1")).String(); got != "02:00:c0:00:02:01" {
		t.Errorf("RouterMAC = %s", got)
	}
}

// TestTwoHostsTwoTenants builds two hosts joined by an underlay veth and four
// VMs, two per network, with the same addresses in both networks.
func TestTwoHostsTwoTenants(t *testing.T) {
	nstest.NeedRoot(t)

	h1, h2 := twoHosts(t)

	type vm struct {
		ns   *nstest.NS
		host *nstest.NS
		port string
		ip   string
	}
	vms := map[string]*vm{
		"vm1": {host: h1, port: "tapvm1", ip: "10.1.1.3"},
		"vm2": {host: h2, port: "tapvm2", ip: "10.1.1.4"},
		"vm3": {host: h1, port: "tapvm3", ip: "10.1.1.3"},
		"vm4": {host: h2, port: "tapvm4", ip: "10.1.1.4"},
		"vm5": {host: h1, port: "tapvm5", ip: "10.1.1.5"}, // A, next to vm1
	}
	for name, v := range vms {
		v.ns = nstest.New(t, name)
		v.ns.Pair(t, "eth0", v.host, v.port, 1450)
		v.ns.Up(t, "eth0", v.ip+"/24")
		v.ns.DefaultVia(t, "10.1.1.254")
		v.ns.UDPEcho(t, name)
	}

	subnet := []Subnet{{Prefix: netip.MustParsePrefix("10.1.1.0/24"), Gateway: netip.MustParseAddr("10.1.1.254")}}
	nets := []Network{{Name: "default-domain:p:A", VNI: 100, Subnets: subnet}, {Name: "default-domain:p:B", VNI: 200, Subnets: subnet}}
	addr := netip.MustParseAddr
	remote := func(netName, ip, ep string) RemoteRoute {
		return RemoteRoute{Network: netName, Prefix: netip.PrefixFrom(addr(ip), 32), TunnelEndpoint: addr(ep)}
	}
	state1 := State{
		TunnelIP: addr("192.0.2.1"), UnderlayDev: "u1", Networks: nets,
		Ports: []Port{
			{Name: "tapvm1", IP: addr("10.1.1.3"), Network: "default-domain:p:A"},
			{Name: "tapvm3", IP: addr("10.1.1.3"), Network: "default-domain:p:B"},
			// a second address, routed to the port like the first
			{Name: "tapvm5", IP: addr("10.1.1.5"), Extra: []netip.Addr{addr("10.1.1.15")}, Network: "default-domain:p:A"},
		},
		Remote: []RemoteRoute{
			remote("default-domain:p:A", "10.1.1.4", "192.0.2.2"),
			remote("default-domain:p:B", "10.1.1.4", "192.0.2.2"),
		},
	}
	state2 := State{
		TunnelIP: addr("192.0.2.2"), UnderlayDev: "u2", Networks: nets,
		Ports: []Port{
			{Name: "tapvm2", IP: addr("10.1.1.4"), Network: "default-domain:p:A"},
			{Name: "tapvm4", IP: addr("10.1.1.4"), Network: "default-domain:p:B"},
		},
		Remote: []RemoteRoute{
			remote("default-domain:p:A", "10.1.1.3", "192.0.2.1"),
			remote("default-domain:p:A", "10.1.1.5", "192.0.2.1"),
			remote("default-domain:p:A", "10.1.1.15", "192.0.2.1"),
			remote("default-domain:p:B", "10.1.1.3", "192.0.2.1"),
		},
	}

	dp1, dp2 := twoDataplanes(t, h1, h2)

	// Leftovers of a "previous run" and foreign objects in host1.
	leftover := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "vx999"}, VxlanId: 999, Port: VXLANPort}
	if err := h1.H.LinkAdd(leftover); err != nil {
		t.Fatalf("leftover device: %v", err)
	}
	stale := netlink.NewRule()
	stale.Priority, stale.IifName, stale.Table = RulePriority, "tapgone", 1999
	foreign := netlink.NewRule()
	foreign.Priority, foreign.IifName, foreign.Table = 30000, "u1", 50
	for _, r := range []*netlink.Rule{stale, foreign} {
		if err := h1.H.RuleAdd(r); err != nil {
			t.Fatalf("rule: %v", err)
		}
	}
	u1, _ := h1.H.LinkByName("u1")
	for _, table := range []int{1999, 50} {
		r := &netlink.Route{Table: table, Dst: prefixToIPNet(netip.MustParsePrefix("10.9.0.0/16")), LinkIndex: u1.Attrs().Index}
		if err := h1.H.RouteAdd(r); err != nil {
			t.Fatalf("route table %d: %v", table, err)
		}
	}

	ch1 := reconcileOK(t, dp1, state1, "host1")
	reconcileOK(t, dp2, state2, "host2")
	t.Logf("host1 first reconcile: %q", ch1.Applied)
	if ch1.Empty() {
		t.Fatal("first reconcile reported no change")
	}
	for _, want := range []string{"delete device vx999", "delete rule priority 20000 iif tapgone lookup 1999"} {
		if !slices.Contains(ch1.Applied, want) {
			t.Errorf("first reconcile of host1 misses %q; got %q", want, ch1.Applied)
		}
	}

	expect := func(from, dst, want string) {
		t.Helper()
		expectAnswer(t, vms[from].ns, dst, want, h1)
	}
	expect("vm1", "10.1.1.4", "vm2")
	expect("vm2", "10.1.1.3", "vm1")
	expect("vm3", "10.1.1.4", "vm4")
	expect("vm4", "10.1.1.3", "vm3")
	expect("vm1", "10.1.1.5", "vm5") // same host, same network
	expect("vm2", "10.1.1.5", "vm5")
	expect("vm3", "10.1.1.5", "") // network B has no 10.1.1.5
	expect("vm4", "10.1.1.5", "")
	// vm5's second address, from the same host and across the tunnel
	// (TCP: the answer comes from the address asked)
	vms["vm5"].ns.Addr(t, "eth0", "10.1.1.15/24")
	vms["vm5"].ns.Listen(t, 8080)
	for _, from := range []string{"vm1", "vm2"} {
		if !vms[from].ns.CanConnect("10.1.1.15", 8080) {
			t.Errorf("%s cannot reach vm5's second address 10.1.1.15", from)
		}
	}
	if vms["vm4"].ns.CanConnect("10.1.1.15", 8080) {
		t.Error("network B reaches vm5's second address")
	}
	if t.Failed() {
		t.FailNow()
	}

	if ch := reconcileOK(t, dp1, state1, "host1"); !ch.Empty() {
		t.Errorf("second reconcile of host1 changed %q", ch.Applied)
	}
	if ch := reconcileOK(t, dp2, state2, "host2"); !ch.Empty() {
		t.Errorf("second reconcile of host2 changed %q", ch.Applied)
	}

	// Foreign objects survive.
	if !hasRule(t, h1, 30000, "u1", 50) {
		t.Error("foreign rule priority 30000 was removed")
	}
	if n := countRoutes(t, h1, func(r netlink.Route) bool { return r.Table == 50 }); n != 1 {
		t.Errorf("foreign table 50 has %d routes, want 1", n)
	}
	if n := countRoutes(t, h1, func(r netlink.Route) bool { return r.Table == 1999 }); n != 0 {
		t.Errorf("stale table 1999 still has %d routes", n)
	}

	// Withdraw VM2 from host1: VM1 loses VM2 and must not reach VM4 instead.
	state1b := state1
	state1b.Remote = state1.Remote[1:]
	if ch := reconcileOK(t, dp1, state1b, "host1"); ch.Empty() {
		t.Error("withdrawing a remote route changed nothing")
	}
	expect("vm1", "10.1.1.4", "")
	expect("vm3", "10.1.1.4", "vm4")

	// Move vm5's port from network A to network B.
	state1c := state1b
	state1c.Ports = slices.Clone(state1b.Ports)
	state1c.Ports[2].Network = "default-domain:p:B"
	if ch := reconcileOK(t, dp1, state1c, "host1"); ch.Empty() {
		t.Error("moving a port changed nothing")
	}
	expect("vm3", "10.1.1.5", "vm5")
	expect("vm1", "10.1.1.5", "")
	if ch := reconcileOK(t, dp1, state1c, "host1"); !ch.Empty() {
		t.Errorf("reconcile after the move changed %q", ch.Applied)
	}

	// Delete everything.
	for _, hs := range []struct {
		dp   *Dataplane
		host *nstest.NS
	}{{dp1, h1}, {dp2, h2}} {
		if ch := emptyHost(t, hs.dp, hs.host); ch.Empty() {
			t.Errorf("%s: emptying reported no change", hs.host.Name)
		}
	}
	if !hasRule(t, h1, 30000, "u1", 50) {
		t.Error("foreign rule priority 30000 was removed by the empty reconcile")
	}
}

// twoHosts makes the namespaces host1 and host2 joined by the underlay
// veth u1 (192.0.2.1) -- u2 (192.0.2.2).
func twoHosts(t *testing.T) (h1, h2 *nstest.NS) {
	t.Helper()
	h1, h2 = nstest.New(t, "host1"), nstest.New(t, "host2")
	h1.Pair(t, "u1", h2, "u2", 0)
	h1.Up(t, "u1", "192.0.2.1/24")
	h2.Up(t, "u2", "192.0.2.2/24")
	return h1, h2
}

// twoDataplanes opens a Dataplane in each host; they close at cleanup.
func twoDataplanes(t *testing.T, h1, h2 *nstest.NS) (dp1, dp2 *Dataplane) {
	t.Helper()
	dps := make([]*Dataplane, 2)
	for i, h := range []*nstest.NS{h1, h2} {
		dp, err := New(h.NS, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(dp.Close)
		dps[i] = dp
	}
	return dps[0], dps[1]
}

// reconcileOK applies s to the dataplane of host and fails on error.
func reconcileOK(t *testing.T, dp *Dataplane, s State, host string) Changes {
	t.Helper()
	ch, err := dp.Reconcile(context.Background(), s)
	if err != nil {
		t.Fatalf("reconcile %s: %v", host, err)
	}
	return ch
}

// reconcileStable applies s twice: the second time must change nothing.
func reconcileStable(t *testing.T, dp *Dataplane, s State) {
	t.Helper()
	reconcileOK(t, dp, s, "")
	if ch := reconcileOK(t, dp, s, ""); !ch.Empty() {
		t.Fatalf("second reconcile: %q", ch.Applied)
	}
}

// emptyHost reconciles the dataplane of host to the empty state twice,
// the second time without change, and checks that nothing of ours is
// left; it returns the changes of the first time.
func emptyHost(t *testing.T, dp *Dataplane, host *nstest.NS) Changes {
	t.Helper()
	ch := reconcileOK(t, dp, State{}, host.Name)
	if again := reconcileOK(t, dp, State{}, host.Name); !again.Empty() {
		t.Errorf("%s: second empty reconcile changed %q", host.Name, again.Applied)
	}
	assertNothingOurs(t, host)
	return ch
}

// expectAnswer probes dst from vm: want must answer within 5s, or nobody
// for 1.5s when want is "". A link that just came up may drop packets
// for up to a second (link watch).
func expectAnswer(t *testing.T, vm *nstest.NS, dst, want string, dump *nstest.NS) {
	t.Helper()
	wait := 5 * time.Second
	if want == "" {
		wait = 1500 * time.Millisecond
	}
	if got := vm.Probe(t, dst, wait); got != want {
		t.Errorf("%s -> %s answered by %q, want %q\n%s:\n%s", vm.Name, dst, got, want, dump.Name, dump.Dump())
	}
}

func hasRule(t *testing.T, n *nstest.NS, prio int, iif string, table int) bool {
	t.Helper()
	return hasRuleFamily(t, n, netlink.FAMILY_V4, prio, iif, table)
}

func hasRuleFamily(t *testing.T, n *nstest.NS, fam, prio int, iif string, table int) bool {
	t.Helper()
	rules, err := n.H.RuleList(fam)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Priority == prio && r.IifName == iif && r.Table == table {
			return true
		}
	}
	return false
}

// countRoutes counts the IPv4 and IPv6 routes of every table that match.
func countRoutes(t *testing.T, n *nstest.NS, match func(netlink.Route) bool) int {
	t.Helper()
	var routes []netlink.Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := n.H.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, rs...)
	}
	c := 0
	for _, r := range routes {
		if match(r) {
			c++
		}
	}
	return c
}

func assertNothingOurs(t *testing.T, n *nstest.NS) {
	t.Helper()
	links, err := n.H.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if isOwnedDeviceName(l.Attrs().Name) {
			t.Errorf("%s: device %s left", n.Name, l.Attrs().Name)
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := n.H.RuleList(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if r.Priority == RulePriority {
				t.Errorf("%s: rule (family %d) iif %s lookup %d left", n.Name, fam, r.IifName, r.Table)
			}
		}
	}
	if c := countRoutes(t, n, func(r netlink.Route) bool { return isOwnedTable(r.Table) }); c != 0 {
		t.Errorf("%s: %d routes left in owned tables", n.Name, c)
	}
	if ps := ownedProxies(t, n); len(ps) != 0 {
		t.Errorf("%s: proxy neighbors left: %v", n.Name, ps)
	}
	addrs, err := n.H.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ownedAddr(a) {
			t.Errorf("%s: gateway address %v left", n.Name, a.IPNet)
		}
	}
}

// TestLeakedRoutesTransitDevices connects two networks on two hosts the way
// a policy does: each host gets the other network's VM as a route of its
// own network carrying the other VNI. Each host has a local network with
// one VNI and a transit device for the other; traffic flows both ways and
// the transit devices go with the leaked routes.
func TestLeakedRoutesTransitDevices(t *testing.T) {
	nstest.NeedRoot(t)
	h1, h2 := twoHosts(t)
	va, vb := nstest.New(t, "vma"), nstest.New(t, "vmb")
	va.Pair(t, "eth0", h1, "tapa", 1400)
	vb.Pair(t, "eth0", h2, "tapb", 1400)
	va.Up(t, "eth0", "10.1.1.3/24")
	vb.Up(t, "eth0", "10.2.2.3/24")
	for _, v := range []struct {
		n  *nstest.NS
		gw string
	}{{va, "10.1.1.254"}, {vb, "10.2.2.254"}} {
		v.n.DefaultVia(t, v.gw)
	}
	va.UDPEcho(t, "vma")
	vb.UDPEcho(t, "vmb")
	addr := netip.MustParseAddr
	netA := Network{Name: "d:p:A", VNI: 100, Subnets: []Subnet{{Prefix: netip.MustParsePrefix("10.1.1.0/24"), Gateway: addr("10.1.1.254")}}}
	netB := Network{Name: "d:p:B", VNI: 200, Subnets: []Subnet{{Prefix: netip.MustParsePrefix("10.2.2.0/24"), Gateway: addr("10.2.2.254")}}}
	s1 := State{TunnelIP: addr("192.0.2.1"), UnderlayDev: "u1", Networks: []Network{netA},
		Ports:  []Port{{Name: "tapa", IP: addr("10.1.1.3"), Network: "d:p:A"}},
		Remote: []RemoteRoute{{Network: "d:p:A", Prefix: netip.MustParsePrefix("10.2.2.3/32"), TunnelEndpoint: addr("192.0.2.2"), VNI: 200}}}
	s2 := State{TunnelIP: addr("192.0.2.2"), UnderlayDev: "u2", Networks: []Network{netB},
		Ports:  []Port{{Name: "tapb", IP: addr("10.2.2.3"), Network: "d:p:B"}},
		Remote: []RemoteRoute{{Network: "d:p:B", Prefix: netip.MustParsePrefix("10.1.1.3/32"), TunnelEndpoint: addr("192.0.2.1"), VNI: 100}}}
	dp1, dp2 := twoDataplanes(t, h1, h2)
	reconcileStable(t, dp1, s1)
	reconcileStable(t, dp2, s2)
	if _, err := h1.H.LinkByName("vx200"); err != nil {
		t.Fatalf("host1 has no transit device vx200: %v", err)
	}
	if got := va.Probe(t, "10.2.2.3", 5*time.Second); got != "vmb" {
		t.Fatalf("A -> B over the leaked route answered %q\nhost1:\n%s\nhost2:\n%s", got, h1.Dump(), h2.Dump())
	}
	if got := vb.Probe(t, "10.1.1.3", 5*time.Second); got != "vma" {
		t.Fatalf("B -> A answered %q", got)
	}
	// Both networks on host1: the leaked routes of the local VMs point at
	// host1 itself, and the kernel hands the frame from one VXLAN device
	// to the other without leaving the host.
	vc := nstest.New(t, "vmc")
	vc.Pair(t, "eth0", h1, "tapc", 1400)
	vc.Up(t, "eth0", "10.2.2.5/24")
	vc.DefaultVia(t, "10.2.2.254")
	vc.UDPEcho(t, "vmc")
	s1local := s1
	s1local.Networks = []Network{netA, netB}
	s1local.Ports = append(slices.Clone(s1.Ports), Port{Name: "tapc", IP: addr("10.2.2.5"), Network: "d:p:B"})
	s1local.Remote = append(slices.Clone(s1.Remote),
		RemoteRoute{Network: "d:p:A", Prefix: netip.MustParsePrefix("10.2.2.5/32"), TunnelEndpoint: addr("192.0.2.1"), VNI: 200},
		RemoteRoute{Network: "d:p:B", Prefix: netip.MustParsePrefix("10.1.1.3/32"), TunnelEndpoint: addr("192.0.2.1"), VNI: 100})
	reconcileOK(t, dp1, s1local, "host1")
	if got := va.Probe(t, "10.2.2.5", 5*time.Second); got != "vmc" {
		t.Errorf("A -> B on the same host answered %q\nhost1:\n%s", got, h1.Dump())
	}
	reconcileOK(t, dp1, s1, "host1")

	// The leak goes: so do the route and the transit device.
	s1.Remote = nil
	reconcileOK(t, dp1, s1, "host1")
	if _, err := h1.H.LinkByName("vx200"); err == nil {
		t.Error("transit device vx200 left after the leak went")
	}
	if got := va.Probe(t, "10.2.2.3", 1500*time.Millisecond); got != "" {
		t.Errorf("A -> B without the leak answered %q", got)
	}
}

// TestL2Network bridges an l2 network across two hosts: each port is in
// the network's bridge with its VXLAN device, the remote VM's MAC points
// at the other host, and broadcasts (ARP) are replicated to it.
func TestL2Network(t *testing.T) {
	nstest.NeedRoot(t)
	h1, h2 := twoHosts(t)
	mac1, _ := net.ParseMAC("02:00:00:00:03:03")
	mac2, _ := net.ParseMAC("02:00:00:00:03:04")
	v1, v2 := nstest.New(t, "vm1"), nstest.New(t, "vm2")
	v1.Pair(t, "eth0", h1, "tapl1", 1400)
	v2.Pair(t, "eth0", h2, "tapl2", 1400)
	for _, v := range []struct {
		n   *nstest.NS
		mac net.HardwareAddr
		ip  string
	}{{v1, mac1, "10.3.3.3/24"}, {v2, mac2, "10.3.3.4/24"}} {
		v.n.SetMAC(t, "eth0", v.mac.String())
		v.n.Up(t, "eth0", v.ip)
	}
	v1.UDPEcho(t, "vm1")
	v2.UDPEcho(t, "vm2")
	addr := netip.MustParseAddr
	l2 := Network{Name: "d:p:L", VNI: 300, L2: true}
	s1 := State{TunnelIP: addr("192.0.2.1"), UnderlayDev: "u1", Networks: []Network{l2},
		Ports:      []Port{{Name: "tapl1", MAC: mac1, Network: "d:p:L"}},
		RemoteMACs: []RemoteMAC{{Network: "d:p:L", MAC: mac2, TunnelEndpoint: addr("192.0.2.2")}}}
	s2 := State{TunnelIP: addr("192.0.2.2"), UnderlayDev: "u2", Networks: []Network{l2},
		Ports:      []Port{{Name: "tapl2", MAC: mac2, Network: "d:p:L"}},
		RemoteMACs: []RemoteMAC{{Network: "d:p:L", MAC: mac1, TunnelEndpoint: addr("192.0.2.1")}}}
	dp1, dp2 := twoDataplanes(t, h1, h2)
	reconcileStable(t, dp1, s1)
	reconcileStable(t, dp2, s2)
	if got := v1.Probe(t, "10.3.3.4", 5*time.Second); got != "vm2" {
		t.Fatalf("vm1 -> vm2 over the l2 network answered %q\nhost1:\n%s", got, h1.Dump())
	}
	if got := v2.Probe(t, "10.3.3.3", 5*time.Second); got != "vm1" {
		t.Fatalf("vm2 -> vm1 answered %q", got)
	}
	reconcileOK(t, dp1, State{}, "host1")
	assertNothingOurs(t, h1)
	if _, err := h1.H.LinkByName("cbr300"); err == nil {
		t.Error("bridge cbr300 left")
	}
}

// ownedProxies lists the proxy entries marked as ours in n, as
// "<addr> dev <name>".
func ownedProxies(t *testing.T, n *nstest.NS) []string {
	t.Helper()
	d, err := New(n.NS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	es, err := d.listProxies()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		name := fmt.Sprint(e.dev)
		if l, err := n.H.LinkByIndex(e.dev); err == nil {
			name = l.Attrs().Name
		}
		out = append(out, fmt.Sprintf("%v dev %s", e.addr, name))
	}
	slices.Sort(out)
	return out
}
