package dataplane

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vmAddrs configures the VM side of a port: its interface eth0 gets the
// given addresses (IPv6 ones without DAD) and a default route per family
// via the subnet gateway.
func vmAddrs(t *testing.T, n *nstest.NS, v4, v6 string) {
	t.Helper()
	n.Sysctl(t, "net.ipv6.conf.eth0.accept_dad", "0")
	n.LinkUp(t, "eth0")
	if v4 != "" {
		n.Addr(t, "eth0", v4+"/24")
		n.DefaultVia(t, "10.1.1.254")
	}
	if v6 != "" {
		n.Addr(t, "eth0", v6+"/64")
		n.Route(t, "::/0", "2001:db8:1::1", "eth0", 0)
	}
}

// TestIPv6 runs two hosts with two networks that use the same IPv4 and
// IPv6 subnets: dual-stack and IPv6-only VMs talk across hosts and on one
// host, each network stays isolated, leftovers of IPv6 objects go, a
// second reconcile changes nothing and withdrawn routes take their proxy
// entries with them.
func TestIPv6(t *testing.T) {
	nstest.NeedRoot(t)
	h1, h2 := twoHosts(t)

	type vm struct {
		host   *nstest.NS
		port   string
		v4, v6 string
		netw   string
		ns     *nstest.NS
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
		v.ns = nstest.New(t, name)
		v.ns.Pair(t, "eth0", v.host, v.port, 1400)
		vmAddrs(t, v.ns, v.v4, v.v6)
		v.ns.UDPEcho(t, name)
	}
	// vm1 probes its neighbors again every ~100 ms (unicast solicitations
	// of the reachability confirmation), which must be answered too.
	_, err := ensureSysctls(vms["vm1"].ns.NS, []sysctl{
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
	states := map[*nstest.NS]*State{
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

	dp1, dp2 := twoDataplanes(t, h1, h2)

	// IPv6 leftovers of a "previous run" in host1, and foreign objects.
	u1, _ := h1.H.LinkByName("u1")
	stale := netlink.NewRule()
	stale.Family, stale.Priority, stale.IifName, stale.Table = netlink.FAMILY_V6, RulePriority, "tapgone", 1999
	foreign := netlink.NewRule()
	foreign.Family, foreign.Priority, foreign.IifName, foreign.Table = netlink.FAMILY_V6, 30000, "u1", 50
	for _, r := range []*netlink.Rule{stale, foreign} {
		if err := h1.H.RuleAdd(r); err != nil {
			t.Fatalf("rule: %v", err)
		}
	}
	for _, table := range []int{1999, 50} {
		r := &netlink.Route{Table: table, Dst: prefixToIPNet(netip.MustParsePrefix("2001:db8:9::/48")), LinkIndex: u1.Attrs().Index}
		if err := h1.H.RouteAdd(r); err != nil {
			t.Fatalf("route table %d: %v", table, err)
		}
	}
	gwLeft := &netlink.Addr{IPNet: prefixToIPNet(netip.MustParsePrefix("2001:db8:9::1/128")), Flags: unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_NODAD}
	if err := h1.H.AddrAdd(u1, gwLeft); err != nil {
		t.Fatalf("leftover address: %v", err)
	}
	if err := dp1.proxyRequest(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE, proxyEntry{u1.Attrs().Index, addr("2001:db8:9::9")}); err != nil {
		t.Fatalf("leftover proxy: %v", err)
	}
	foreignProxy := &netlink.Neigh{LinkIndex: u1.Attrs().Index, Family: netlink.FAMILY_V6, Flags: netlink.NTF_PROXY, IP: net.IP(addr("2001:db8:9::8").AsSlice())}
	if err := h1.H.NeighAdd(foreignProxy); err != nil {
		t.Fatalf("foreign proxy: %v", err)
	}

	ch1 := reconcileOK(t, dp1, *states[h1], "host1")
	reconcileOK(t, dp2, *states[h2], "host2")
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
		expectAnswer(t, vms[from].ns, dst, want, h1)
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
		if got := vms["vm1"].ns.Probe(t, "2001:db8:1::4", time.Second); got != "vm2" {
			t.Errorf("vm1 -> vm2 answered %q while its neighbor entry is confirmed", got)
		}
		time.Sleep(400 * time.Millisecond)
		neighs, err := vms["vm1"].ns.H.NeighList(0, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range neighs {
			if addrOf(n.IP) == addr("2001:db8:1::4") && n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
				t.Errorf("round %d: vm1's neighbor entry for vm2 is in state %#x: unicast solicitations were not answered", i, n.State)
			}
		}
	}

	if ch := reconcileOK(t, dp1, *states[h1], "host1"); !ch.Empty() {
		t.Errorf("second reconcile of host1 changed %q", ch.Applied)
	}
	if ch := reconcileOK(t, dp2, *states[h2], "host2"); !ch.Empty() {
		t.Errorf("second reconcile of host2 changed %q", ch.Applied)
	}
	if !hasRuleFamily(t, h1, netlink.FAMILY_V6, 30000, "u1", 50) {
		t.Error("foreign IPv6 rule was removed")
	}
	if n := countRoutes(t, h1, func(r netlink.Route) bool { return r.Table == 50 }); n != 1 {
		t.Errorf("foreign table 50 has %d routes, want 1", n)
	}
	hasForeignProxy := func() bool {
		ns, err := h1.H.NeighProxyList(u1.Attrs().Index, netlink.FAMILY_V6)
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
	ch := reconcileOK(t, dp1, s1b, "host1")
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
	ch = reconcileOK(t, dp1, s1c, "host1")
	for _, want := range []string{"delete address 2001:db8:1::1/128 dev tap61", "delete route 2001:db8:1::3/128 table 1100", "delete neighbor proxy 2001:db8:1::3 dev tap65"} {
		if !slices.Contains(ch.Applied, want) {
			t.Errorf("removing vm1's IPv6 address misses %q; got %q", want, ch.Applied)
		}
	}
	expect("vm5", "2001:db8:1::3", "")
	if ch := reconcileOK(t, dp1, s1c, "host1"); !ch.Empty() {
		t.Errorf("reconcile after the change changed %q", ch.Applied)
	}

	emptyHost(t, dp1, h1)
	emptyHost(t, dp2, h2)
	if !hasForeignProxy() {
		t.Error("foreign proxy entry was removed by the empty reconcile")
	}
}
