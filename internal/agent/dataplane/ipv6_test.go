package dataplane

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vmAddrs configures the VM side of a port: its interface eth0 gets the
// given addresses (IPv6 ones without DAD) and a default route per family
// via the subnet gateway.
func (n *testNS) vmAddrs(t *testing.T, v4, v6 string) {
	t.Helper()
	if _, err := ensureSysctls(n.ns, []sysctl{{"net/ipv6/conf/eth0/accept_dad", "0"}}); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	n.up(t, "eth0", "")
	l, err := n.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if v4 != "" {
		a, _ := netlink.ParseAddr(v4 + "/24")
		if err := n.h.AddrAdd(l, a); err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		if err := n.h.RouteAdd(&netlink.Route{Gw: netip.MustParseAddr("10.1.1.254").AsSlice()}); err != nil {
			t.Fatalf("%s: default route: %v", n.name, err)
		}
	}
	if v6 != "" {
		a, _ := netlink.ParseAddr(v6 + "/64")
		a.Flags = unix.IFA_F_NODAD
		if err := n.h.AddrAdd(l, a); err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		r := &netlink.Route{Dst: prefixToIPNet(netip.MustParsePrefix("::/0")), Gw: netip.MustParseAddr("2001:db8:1::1").AsSlice(), LinkIndex: l.Attrs().Index}
		if err := n.h.RouteAdd(r); err != nil {
			t.Fatalf("%s: default IPv6 route: %v", n.name, err)
		}
	}
}

// TestIPv6 runs two hosts with two networks that use the same IPv4 and
// IPv6 subnets: dual-stack and IPv6-only VMs talk across hosts and on one
// host, each network stays isolated, leftovers of IPv6 objects go, a
// second reconcile changes nothing and withdrawn routes take their proxy
// entries with them.
func TestIPv6(t *testing.T) {
	requirePrivileged(t)
	ctx := context.Background()
	h1, h2 := mkNS(t, "host1"), mkNS(t, "host2")
	h1.vethTo(t, "u1", h2, "u2", 0)
	h1.up(t, "u1", "192.0.2.1/24")
	h2.up(t, "u2", "192.0.2.2/24")

	type vm struct {
		host   *testNS
		port   string
		v4, v6 string
		netw   string
		ns     *testNS
	}
	const A, B = "d:p:A", "d:p:B"
	vms := map[string]*vm{
		"vm1": {host: h1, port: "tap61", v4: "10.1.1.3", v6: "2001:db8:1::3", netw: A}, // dual stack
		"vm2": {host: h2, port: "tap62", v4: "10.1.1.4", v6: "2001:db8:1::4", netw: A}, // dual stack
		"vm3": {host: h1, port: "tap63", v6: "2001:db8:1::3", netw: B},                 // IPv6 only
		"vm4": {host: h2, port: "tap64", v4: "10.1.1.4", v6: "2001:db8:1::4", netw: B}, // dual stack
		"vm5": {host: h1, port: "tap65", v6: "2001:db8:1::5", netw: A},                 // IPv6 only, next to vm1
	}
	names := []string{"vm1", "vm2", "vm3", "vm4", "vm5"}
	for _, name := range names {
		v := vms[name]
		v.ns = mkNS(t, name)
		v.ns.vethTo(t, "eth0", v.host, v.port, 1400)
		v.ns.vmAddrs(t, v.v4, v.v6)
		v.ns.echoServer(t, name)
	}
	// vm1 probes its neighbors again every ~100 ms (unicast solicitations
	// of the reachability confirmation), which must be answered too.
	_, err := ensureSysctls(vms["vm1"].ns.ns, []sysctl{
		{"net/ipv6/neigh/eth0/base_reachable_time_ms", "100"},
		{"net/ipv6/neigh/eth0/delay_first_probe_time", "0"},
		{"net/ipv6/neigh/eth0/retrans_time_ms", "100"},
	})
	if err != nil {
		t.Fatal(err)
	}

	addr := netip.MustParseAddr
	subnets := []Subnet{
		{Prefix: netip.MustParsePrefix("10.1.1.0/24"), Gateway: addr("10.1.1.254")},
		{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), Gateway: addr("2001:db8:1::1")},
	}
	nets := []Network{{Name: A, VNI: 100, Subnets: subnets}, {Name: B, VNI: 200, Subnets: subnets}}
	states := map[*testNS]*State{
		h1: {TunnelIP: addr("192.0.2.1"), UnderlayDev: "u1", Networks: nets},
		h2: {TunnelIP: addr("192.0.2.2"), UnderlayDev: "u2", Networks: nets},
	}
	for _, name := range names {
		v := vms[name]
		p := Port{Name: v.port, Network: v.netw}
		if v.v4 != "" {
			p.IP = addr(v.v4)
		}
		if v.v6 != "" {
			p.IP6 = addr(v.v6)
		}
		states[v.host].Ports = append(states[v.host].Ports, p)
		ep, other := addr("192.0.2.2"), h1 // the VM's host's tunnel IP, the other host
		if v.host == h1 {
			ep, other = addr("192.0.2.1"), h2
		}
		for _, a := range []string{v.v4, v.v6} {
			if a != "" {
				ip := addr(a)
				states[other].Remote = append(states[other].Remote,
					RemoteRoute{Network: v.netw, Prefix: netip.PrefixFrom(ip, ip.BitLen()), TunnelEndpoint: ep})
			}
		}
	}

	dp1, err := New(h1.ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp1.Close)
	dp2, err := New(h2.ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp2.Close)

	// IPv6 leftovers of a "previous run" in host1, and foreign objects.
	u1, _ := h1.h.LinkByName("u1")
	stale := netlink.NewRule()
	stale.Family, stale.Priority, stale.IifName, stale.Table = netlink.FAMILY_V6, RulePriority, "tapgone", 1999
	foreign := netlink.NewRule()
	foreign.Family, foreign.Priority, foreign.IifName, foreign.Table = netlink.FAMILY_V6, 30000, "u1", 50
	for _, r := range []*netlink.Rule{stale, foreign} {
		if err := h1.h.RuleAdd(r); err != nil {
			t.Fatalf("rule: %v", err)
		}
	}
	for _, table := range []int{1999, 50} {
		r := &netlink.Route{Table: table, Dst: prefixToIPNet(netip.MustParsePrefix("2001:db8:9::/48")), LinkIndex: u1.Attrs().Index}
		if err := h1.h.RouteAdd(r); err != nil {
			t.Fatalf("route table %d: %v", table, err)
		}
	}
	gwLeft := &netlink.Addr{IPNet: prefixToIPNet(netip.MustParsePrefix("2001:db8:9::1/128")), Flags: unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_NODAD}
	if err := h1.h.AddrAdd(u1, gwLeft); err != nil {
		t.Fatalf("leftover address: %v", err)
	}
	if err := dp1.proxyRequest(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE, proxyEntry{u1.Attrs().Index, addr("2001:db8:9::9")}); err != nil {
		t.Fatalf("leftover proxy: %v", err)
	}
	foreignProxy := &netlink.Neigh{LinkIndex: u1.Attrs().Index, Family: netlink.FAMILY_V6, Flags: netlink.NTF_PROXY, IP: net.IP(addr("2001:db8:9::8").AsSlice())}
	if err := h1.h.NeighAdd(foreignProxy); err != nil {
		t.Fatalf("foreign proxy: %v", err)
	}

	reconcile := func(dp *Dataplane, s State, host string) Changes {
		t.Helper()
		ch, err := dp.Reconcile(ctx, s)
		if err != nil {
			t.Fatalf("reconcile %s: %v", host, err)
		}
		return ch
	}
	ch1 := reconcile(dp1, *states[h1], "host1")
	reconcile(dp2, *states[h2], "host2")
	t.Logf("host1 first reconcile: %q", ch1.Applied)
	for _, want := range []string{
		"delete -6 rule priority 20000 iif tapgone lookup 1999",
		"delete address 2001:db8:9::1/128 dev u1",
		"delete neighbor proxy 2001:db8:9::9 dev u1",
		"add address 2001:db8:1::1/128 dev tap63",
		"add route 2001:db8:1::4/128 via 2001:db8:1::4 dev vx200 onlink table 1200",
		"add neighbor 2001:db8:1::4 lladdr 02:00:c0:00:02:02 dev vx100",
		"add neighbor proxy 2001:db8:1::5 dev tap61",
		"set sysctl net.ipv6.conf.all.proxy_ndp=1",
	} {
		if !slices.Contains(ch1.Applied, want) {
			t.Errorf("first reconcile of host1 misses %q", want)
		}
	}
	wantProxies := []string{
		"2001:db8:1::3 dev tap65", "2001:db8:1::4 dev tap61", "2001:db8:1::4 dev tap63", "2001:db8:1::4 dev tap65",
		"2001:db8:1::5 dev tap61",
	}
	if got := ownedProxies(t, h1); !slices.Equal(got, wantProxies) {
		t.Errorf("host1 proxies %q, want %q", got, wantProxies)
	}

	expect := func(from, dst, want string) {
		t.Helper()
		wait := 5 * time.Second
		if want == "" {
			wait = 1500 * time.Millisecond
		}
		if got := vms[from].ns.probe(t, dst, wait); got != want {
			t.Errorf("%s -> %s answered by %q, want %q\nhost1:\n%s", from, dst, got, want, h1.dump())
		}
	}
	expect("vm1", "2001:db8:1::4", "vm2")
	expect("vm2", "2001:db8:1::3", "vm1")
	expect("vm3", "2001:db8:1::4", "vm4")
	expect("vm4", "2001:db8:1::3", "vm3")
	expect("vm1", "2001:db8:1::5", "vm5") // same host, same network
	expect("vm5", "2001:db8:1::3", "vm1")
	expect("vm2", "2001:db8:1::5", "vm5")
	expect("vm1", "10.1.1.4", "vm2") // dual stack: IPv4 still works
	expect("vm4", "10.1.1.3", "")    // B has no 10.1.1.3 (vm3 is IPv6 only)
	expect("vm3", "2001:db8:1::5", "")
	expect("vm4", "2001:db8:1::5", "")
	if t.Failed() {
		t.FailNow()
	}

	// vm1's entry for vm2 gets stale within ~100 ms and is then confirmed
	// by unicast solicitations to vm2's address: the host must answer
	// them itself (all.proxy_ndp) rather than forward them to vm2, whose
	// answer would arrive with a hop limit below 255 and be ignored: the
	// entry would fail (seen without all.proxy_ndp).
	for i := range 4 {
		if got := vms["vm1"].ns.probe(t, "2001:db8:1::4", time.Second); got != "vm2" {
			t.Errorf("vm1 -> vm2 answered %q while its neighbor entry is confirmed", got)
		}
		time.Sleep(400 * time.Millisecond)
		neighs, err := vms["vm1"].ns.h.NeighList(0, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range neighs {
			if addrOf(n.IP) == addr("2001:db8:1::4") && n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
				t.Errorf("round %d: vm1's neighbor entry for vm2 is in state %#x: unicast solicitations were not answered", i, n.State)
			}
		}
	}

	if ch := reconcile(dp1, *states[h1], "host1"); !ch.Empty() {
		t.Errorf("second reconcile of host1 changed %q", ch.Applied)
	}
	if ch := reconcile(dp2, *states[h2], "host2"); !ch.Empty() {
		t.Errorf("second reconcile of host2 changed %q", ch.Applied)
	}
	if !hasRuleFamily(t, h1, netlink.FAMILY_V6, 30000, "u1", 50) {
		t.Error("foreign IPv6 rule was removed")
	}
	if n := countRoutes(t, h1, func(r netlink.Route) bool { return r.Table == 50 }); n != 1 {
		t.Errorf("foreign table 50 has %d routes, want 1", n)
	}
	hasForeignProxy := func() bool {
		ns, err := h1.h.NeighProxyList(u1.Attrs().Index, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if addrOf(n.IP) == addr("2001:db8:9::8") {
				return true
			}
		}
		return false
	}
	if !hasForeignProxy() {
		t.Error("foreign proxy entry was removed")
	}

	// Withdraw vm2's IPv6 route from host1: vm1 and vm5 lose it, the proxy
	// entries for it go, network B still reaches its own 2001:db8:1::4.
	s1b := *states[h1]
	s1b.Remote = slices.DeleteFunc(slices.Clone(s1b.Remote), func(r RemoteRoute) bool {
		return r.Network == A && r.Prefix == netip.MustParsePrefix("2001:db8:1::4/128")
	})
	ch := reconcile(dp1, s1b, "host1")
	for _, want := range []string{"delete neighbor proxy 2001:db8:1::4 dev tap61", "delete neighbor proxy 2001:db8:1::4 dev tap65"} {
		if !slices.Contains(ch.Applied, want) {
			t.Errorf("withdrawal misses %q; got %q", want, ch.Applied)
		}
	}
	expect("vm1", "2001:db8:1::4", "")
	expect("vm3", "2001:db8:1::4", "vm4")
	expect("vm1", "10.1.1.4", "vm2")

	// vm1 loses its IPv6 address (IPv4 only now): its gateway address,
	// route and proxies go; vm5 no longer reaches it.
	s1c := s1b
	s1c.Ports = slices.Clone(s1b.Ports)
	for i := range s1c.Ports {
		if s1c.Ports[i].Name == "tap61" {
			s1c.Ports[i].IP6 = netip.Addr{}
		}
	}
	ch = reconcile(dp1, s1c, "host1")
	for _, want := range []string{"delete address 2001:db8:1::1/128 dev tap61", "delete route 2001:db8:1::3/128 table 1100", "delete neighbor proxy 2001:db8:1::3 dev tap65"} {
		if !slices.Contains(ch.Applied, want) {
			t.Errorf("removing vm1's IPv6 address misses %q; got %q", want, ch.Applied)
		}
	}
	expect("vm5", "2001:db8:1::3", "")
	if ch := reconcile(dp1, s1c, "host1"); !ch.Empty() {
		t.Errorf("reconcile after the change changed %q", ch.Applied)
	}

	for _, hs := range []struct {
		dp   *Dataplane
		host *testNS
	}{{dp1, h1}, {dp2, h2}} {
		reconcile(hs.dp, State{}, hs.host.name)
		if ch := reconcile(hs.dp, State{}, hs.host.name); !ch.Empty() {
			t.Errorf("%s: second empty reconcile changed %q", hs.host.name, ch.Applied)
		}
		assertNothingOurs(t, hs.host)
	}
	if !hasForeignProxy() {
		t.Error("foreign proxy entry was removed by the empty reconcile")
	}
}
