package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Changes lists what one Reconcile did, one human-readable line per kernel
// object ("add route 10.1.1.3/32 table 1100 dev tap1").
type Changes struct {
	Applied []string
}

// Empty reports whether nothing was changed.
func (c Changes) Empty() bool { return len(c.Applied) == 0 }

func (c *Changes) add(format string, args ...any) {
	c.Applied = append(c.Applied, fmt.Sprintf(format, args...))
}

// Dataplane programs the kernel of one network namespace. Reconcile must not
// be called concurrently.
type Dataplane struct {
	ns  netns.NsHandle
	h   *netlink.Handle
	log *slog.Logger

	// Per Reconcile: the links of the namespace, listed once.
	byName  map[string]netlink.Link
	byIndex map[int]netlink.Link
	// Ports whose sysctls were set, by name, with the ifindex they had
	// and the families set up: a port seen again with the same index and
	// families is not checked again.
	sysctlDone map[string]sysctlMark
	// raw is a netlink socket in the namespace for the requests the
	// netlink package cannot make (proxy entries with a protocol).
	raw *nl.SocketHandle
	// noV6 is set when the kernel has no IPv6 (ipv6.disable=1): IPv6
	// objects are then neither listed nor made.
	noV6 bool
}

type sysctlMark struct {
	index  int
	v4, v6 bool
}

// New returns a Dataplane working in ns. The handle stays owned by the
// caller and must stay open until Close. A nil log discards output.
func New(ns netns.NsHandle, log *slog.Logger) (*Dataplane, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in namespace %v: %w", ns, err)
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink socket in namespace %v: %w", ns, err)
	}
	d := &Dataplane{ns: ns, h: h, log: log, sysctlDone: map[string]sysctlMark{}, raw: &nl.SocketHandle{Socket: s}}
	if _, err := d.h.RuleList(netlink.FAMILY_V6); errors.Is(err, unix.EAFNOSUPPORT) {
		d.noV6 = true
	}
	return d, nil
}

// Close releases the netlink sockets. Kernel state is left as it is.
func (d *Dataplane) Close() { d.h.Close(); d.raw.Close() }

// families are the address families the dataplane programs.
func (d *Dataplane) families() []int {
	if d.noV6 {
		return []int{netlink.FAMILY_V4}
	}
	return []int{netlink.FAMILY_V4, netlink.FAMILY_V6}
}

// Reconcile makes the namespace match desired and reports what it changed.
// It only reads and writes objects it owns (see the package doc). On error
// it stops at the first failing object; calling it again resumes.
func (d *Dataplane) Reconcile(ctx context.Context, desired State) (Changes, error) {
	var ch Changes
	p, err := compile(desired)
	if err != nil {
		return ch, fmt.Errorf("invalid desired state: %w", err)
	}
	if err := d.listLinks(); err != nil {
		return ch, err
	}
	steps := []func(*plan, *Changes) error{
		d.syncForwarding, d.syncDevices, d.syncBridges, d.syncPorts, d.syncRules, d.syncRoutes, d.syncNeighbors, d.syncProxies,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return ch, err
		}
		if err := step(p, &ch); err != nil {
			return ch, err
		}
	}
	for _, c := range ch.Applied {
		d.log.Info("dataplane change", "change", c)
	}
	return ch, nil
}

// listLinks reads every link once; the steps look links up in the maps.
func (d *Dataplane) listLinks() error {
	links, err := dump(d.h.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	d.byName = make(map[string]netlink.Link, len(links))
	d.byIndex = make(map[int]netlink.Link, len(links))
	for _, l := range links {
		d.byName[l.Attrs().Name] = l
		d.byIndex[l.Attrs().Index] = l
	}
	return nil
}

// link returns the link named name, from the list or, for a link created
// during this Reconcile, from the kernel.
func (d *Dataplane) link(name string) (netlink.Link, error) {
	if l, ok := d.byName[name]; ok {
		return l, nil
	}
	l, err := d.h.LinkByName(name)
	if err != nil {
		return nil, err
	}
	d.byName[name] = l
	d.byIndex[l.Attrs().Index] = l
	return l, nil
}

func (d *Dataplane) syncForwarding(p *plan, ch *Changes) error {
	if len(p.nets) == 0 {
		return nil // leave forwarding as found when we own nothing
	}
	want := []sysctl{{"net/ipv4/ip_forward", "1"}}
	if p.v6 {
		if d.noV6 {
			return fmt.Errorf("the state has IPv6 but the kernel has no IPv6")
		}
		// proxy_ndp of "all", not only of the ports: with it a
		// unicast neighbor solicitation (a VM's reachability probe)
		// for a proxied address is answered instead of forwarded.
		want = append(want, sysctl{"net/ipv6/conf/all/forwarding", "1"}, sysctl{"net/ipv6/conf/all/proxy_ndp", "1"})
	}
	return d.sysctls(want, ch)
}

// sysctls applies want in one switch to the namespace and records the
// values it changed.
func (d *Dataplane) sysctls(want []sysctl, ch *Changes) error {
	changed, err := ensureSysctls(d.ns, want)
	for _, c := range changed {
		ch.add("set sysctl %s=%s", strings.ReplaceAll(c.key, "/", "."), c.value)
	}
	return err
}

// syncDevices creates, fixes and deletes the VXLAN devices.
func (d *Dataplane) syncDevices(p *plan, ch *Changes) error {
	want := map[string]*netPlan{}
	for _, n := range p.nets {
		want[n.dev] = n
	}
	var underlay netlink.Link
	if len(want) > 0 {
		var err error
		if underlay, err = d.link(p.underlay); err != nil {
			return fmt.Errorf("underlay device %q: %w", p.underlay, err)
		}
	}
	have := map[string]bool{}
	for _, l := range d.byName {
		name := l.Attrs().Name
		if !isOwnedDeviceName(name) || l.Type() != "vxlan" {
			continue
		}
		n, ok := want[name]
		if ok && vxlanMatches(l.(*netlink.Vxlan), n, p, underlay.Attrs().Index) {
			have[name] = true
			if l.Attrs().Flags&net.FlagUp == 0 {
				if err := d.h.LinkSetUp(l); err != nil {
					return fmt.Errorf("set device %s up: %w", name, err)
				}
				ch.add("set device %s up", name)
			}
			continue
		}
		if err := d.h.LinkDel(l); err != nil {
			return fmt.Errorf("delete device %s: %w", name, err)
		}
		delete(d.byName, name)
		delete(d.byIndex, l.Attrs().Index)
		ch.add("delete device %s", name)
	}
	for _, name := range sortedKeys(want) {
		if have[name] {
			continue
		}
		n := want[name]
		vx := &netlink.Vxlan{
			LinkAttrs:    netlink.LinkAttrs{Name: name, HardwareAddr: RouterMAC(p.tunnelIP), Alias: "contrail dataplane " + n.name},
			VxlanId:      int(n.vni),
			VtepDevIndex: underlay.Attrs().Index,
			SrcAddr:      net.IP(p.tunnelIP.AsSlice()),
			Port:         VXLANPort,
			Learning:     false,
		}
		if err := d.h.LinkAdd(vx); err != nil {
			return fmt.Errorf("add device %s (VNI %d): %w", name, n.vni, err)
		}
		if err := d.h.LinkSetUp(vx); err != nil {
			return fmt.Errorf("set device %s up: %w", name, err)
		}
		ch.add("add device %s vni %d", name, n.vni)
	}
	return nil
}

// syncBridges keeps one bridge per l2 network, with the network's VXLAN
// device in it, and deletes the bridges of networks that are gone.
func (d *Dataplane) syncBridges(p *plan, ch *Changes) error {
	want := map[string]*netPlan{}
	for _, n := range p.nets {
		if n.l2 {
			want[n.bridge] = n
		}
	}
	var gone []netlink.Link
	for name, l := range d.byName {
		if !isOwnedBridgeName(name) || l.Type() != "bridge" {
			continue
		}
		if _, ok := want[name]; !ok {
			gone = append(gone, l)
		}
	}
	for _, l := range gone {
		if err := d.h.LinkDel(l); err != nil {
			return fmt.Errorf("delete bridge %s: %w", l.Attrs().Name, err)
		}
		delete(d.byName, l.Attrs().Name)
		delete(d.byIndex, l.Attrs().Index)
		ch.add("delete bridge %s", l.Attrs().Name)
	}
	for _, name := range sortedKeys(want) {
		n := want[name]
		br, err := d.link(name)
		if err != nil {
			b := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, Alias: "contrail dataplane " + n.name}}
			if err := d.h.LinkAdd(b); err != nil {
				return fmt.Errorf("add bridge %s: %w", name, err)
			}
			ch.add("add bridge %s", name)
			if br, err = d.link(name); err != nil {
				return fmt.Errorf("bridge %s: %w", name, err)
			}
		}
		if br.Attrs().Flags&net.FlagUp == 0 {
			if err := d.h.LinkSetUp(br); err != nil {
				return fmt.Errorf("set bridge %s up: %w", name, err)
			}
			ch.add("set bridge %s up", name)
		}
		vx, err := d.link(n.dev)
		if err != nil {
			return fmt.Errorf("device %q: %w", n.dev, err)
		}
		if vx.Attrs().MasterIndex != br.Attrs().Index {
			if err := d.h.LinkSetMasterByIndex(vx, br.Attrs().Index); err != nil {
				return fmt.Errorf("put %s in bridge %s: %w", n.dev, name, err)
			}
			ch.add("set device %s master %s", n.dev, name)
		}
	}
	return nil
}

func vxlanMatches(l *netlink.Vxlan, n *netPlan, p *plan, underlayIndex int) bool {
	src, _ := netip.AddrFromSlice(l.SrcAddr)
	return l.VxlanId == int(n.vni) && l.VtepDevIndex == underlayIndex && src.Unmap() == p.tunnelIP &&
		l.Port == VXLANPort && !l.Learning && bytes.Equal(l.HardwareAddr, RouterMAC(p.tunnelIP))
}

// ownedAddr reports whether a is a gateway address the dataplane added:
// an IPv4 /32 or IPv6 /128 carrying the IFA_F_NOPREFIXROUTE flag.
func ownedAddr(a netlink.Addr) bool {
	ones, bits := a.Mask.Size()
	host := ones == bits && (bits == 32 && a.IP.To4() != nil || bits == 128 && a.IP.To4() == nil)
	return host && a.Flags&unix.IFA_F_NOPREFIXROUTE != 0
}

// addrOf is the address of a as a netip.Addr, IPv4 unmapped.
func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// forgetSysctls drops the sysctl memory of links that are no longer ports.
func (d *Dataplane) forgetSysctls(p *plan) {
	keep := make(map[string]bool, len(p.ports))
	for _, pt := range p.ports {
		keep[pt.name] = true
	}
	for name := range d.sysctlDone {
		if !keep[name] {
			delete(d.sysctlDone, name)
		}
	}
}

// syncPorts sets the sysctls of the ports, brings them up and gives each
// the gateway addresses of its subnets. Gateway addresses on links that are
// no longer ports are removed.
func (d *Dataplane) syncPorts(p *plan, ch *Changes) error {
	d.forgetSysctls(p)
	type portAddr struct {
		port string
		addr netip.Addr
	}
	want := map[portAddr]bool{}
	for _, pt := range p.ports {
		if pt.net.l2 {
			continue
		}
		if pt.ip.IsValid() {
			want[portAddr{pt.name, pt.gateway}] = true
			if pt.service.IsValid() {
				want[portAddr{pt.name, pt.service}] = true
			}
		}
		if pt.ip6.IsValid() {
			want[portAddr{pt.name, pt.gateway6}] = true
		}
	}
	fam := netlink.FAMILY_ALL
	if d.noV6 {
		fam = netlink.FAMILY_V4
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return d.h.AddrList(nil, fam) })
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	have := map[portAddr]bool{}
	for _, a := range addrs {
		if !ownedAddr(a) {
			continue
		}
		l, ok := d.byIndex[a.LinkIndex]
		if !ok {
			continue // link vanished meanwhile
		}
		k := portAddr{l.Attrs().Name, addrOf(a.IP)}
		if want[k] && !have[k] {
			have[k] = true
			continue
		}
		if err := d.h.AddrDel(l, &a); err != nil {
			return fmt.Errorf("delete address %v from %s: %w", k.addr, k.port, err)
		}
		ch.add("delete address %v/%d dev %s", k.addr, k.addr.BitLen(), k.port)
	}
	for _, pt := range p.ports {
		l, err := d.link(pt.name)
		if err != nil {
			return fmt.Errorf("port %q: %w", pt.name, err)
		}
		master := ""
		if m, ok := d.byIndex[l.Attrs().MasterIndex]; ok && l.Attrs().MasterIndex != 0 {
			master = m.Attrs().Name
		}
		if pt.net.l2 {
			if err := d.linkUp(l, "port", ch); err != nil {
				return err
			}
			if master != pt.net.bridge {
				br, err := d.link(pt.net.bridge)
				if err != nil {
					return fmt.Errorf("bridge %q: %w", pt.net.bridge, err)
				}
				if err := d.h.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
					return fmt.Errorf("put port %s in bridge %s: %w", pt.name, pt.net.bridge, err)
				}
				ch.add("set port %s master %s", pt.name, pt.net.bridge)
			}
			continue
		}
		if isOwnedBridgeName(master) {
			if err := d.h.LinkSetNoMaster(l); err != nil {
				return fmt.Errorf("take port %s out of bridge %s: %w", pt.name, master, err)
			}
			ch.add("set port %s nomaster", pt.name)
		}
		// Sysctls before the port comes up: with accept_dad=0 its
		// IPv6 link-local address is usable at once (the kernel sends
		// no neighbor solicitation from a tentative one).
		mark := sysctlMark{index: l.Attrs().Index, v4: pt.ip.IsValid(), v6: pt.ip6.IsValid()}
		if old, ok := d.sysctlDone[pt.name]; !ok || old.index != mark.index || mark.v4 && !old.v4 || mark.v6 && !old.v6 {
			if err := d.sysctls(portSysctls(pt), ch); err != nil {
				return fmt.Errorf("port %q: %w", pt.name, err)
			}
			if ok && old.index == mark.index {
				mark.v4, mark.v6 = mark.v4 || old.v4, mark.v6 || old.v6
			}
			d.sysctlDone[pt.name] = mark
		}
		if err := d.linkUp(l, "port", ch); err != nil {
			return err
		}
		for _, gw := range []netip.Addr{pt.gateway, pt.service, pt.gateway6} {
			if !gw.IsValid() || have[portAddr{pt.name, gw}] {
				continue
			}
			a := &netlink.Addr{
				IPNet: &net.IPNet{IP: net.IP(gw.AsSlice()), Mask: net.CIDRMask(gw.BitLen(), gw.BitLen())},
				Flags: unix.IFA_F_NOPREFIXROUTE,
			}
			if gw.Is6() {
				a.Flags |= unix.IFA_F_NODAD
			}
			if err := d.h.AddrAdd(l, a); err != nil {
				return fmt.Errorf("add gateway address %v to port %s: %w", gw, pt.name, err)
			}
			ch.add("add address %v/%d dev %s", gw, gw.BitLen(), pt.name)
		}
	}
	return nil
}

// portSysctls are the sysctls of an L3 port.
func portSysctls(pt portPlan) []sysctl {
	var out []sysctl
	if pt.ip.IsValid() {
		// Proxied ARP answers are delayed by a random part of
		// proxy_delay (0.8 s by default); VMs ARP for every address of
		// their subnet, so answer at once.
		out = append(out, sysctl{"net/ipv4/conf/" + pt.name + "/proxy_arp", "1"},
			sysctl{"net/ipv4/neigh/" + pt.name + "/proxy_delay", "0"})
	}
	if pt.ip6.IsValid() {
		// IPv6 on, no DAD (the gateway address and the link-local one
		// are usable at once), no router advertisements taken from
		// the VM, forwarding and proxy NDP without delay.
		c := "net/ipv6/conf/" + pt.name + "/"
		out = append(out, sysctl{c + "disable_ipv6", "0"}, sysctl{c + "accept_dad", "0"}, sysctl{c + "accept_ra", "0"},
			sysctl{c + "forwarding", "1"}, sysctl{c + "proxy_ndp", "1"},
			sysctl{"net/ipv6/neigh/" + pt.name + "/proxy_delay", "0"})
	}
	return out
}

// linkUp sets l up unless it is.
func (d *Dataplane) linkUp(l netlink.Link, what string, ch *Changes) error {
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := d.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s %s up: %w", what, l.Attrs().Name, err)
	}
	ch.add("set %s %s up", what, l.Attrs().Name)
	return nil
}

type ruleKey struct {
	family int
	iif    string
	table  int
}

// syncRules keeps one "iif <dev> lookup <table>" rule per port and per
// VXLAN device, all at RulePriority, for IPv4 and IPv6 alike: a port with
// no IPv6 address still has its IPv6 rule, so that its IPv6 traffic meets
// the unreachable default of its table rather than the main table.
func (d *Dataplane) syncRules(p *plan, ch *Changes) error {
	want := map[ruleKey]bool{}
	for _, fam := range d.families() {
		for _, n := range p.nets {
			if !n.l2 {
				want[ruleKey{fam, n.dev, n.table}] = true
			}
		}
		for _, pt := range p.ports {
			if !pt.net.l2 {
				want[ruleKey{fam, pt.name, pt.net.table}] = true
			}
		}
	}
	have := map[ruleKey]bool{}
	for _, fam := range d.families() {
		rules, err := dump(func() ([]netlink.Rule, error) { return d.h.RuleList(fam) })
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		for _, r := range rules {
			if r.Priority != RulePriority {
				continue
			}
			k := ruleKey{fam, r.IifName, r.Table}
			if want[k] && !have[k] && r.Src == nil && r.Dst == nil && r.OifName == "" && r.Mark == 0 {
				have[k] = true
				continue
			}
			r.Family = fam
			if err := d.h.RuleDel(&r); err != nil {
				return fmt.Errorf("delete rule iif %s lookup %d: %w", r.IifName, r.Table, err)
			}
			ch.add("delete %srule priority %d iif %s lookup %d", famPrefix(fam), RulePriority, r.IifName, r.Table)
		}
	}
	for _, k := range sortedRuleKeys(want) {
		if have[k] {
			continue
		}
		r := netlink.NewRule()
		r.Family = k.family
		r.Priority = RulePriority
		r.IifName = k.iif
		r.Table = k.table
		if err := d.h.RuleAdd(r); err != nil {
			return fmt.Errorf("add %srule iif %s lookup %d: %w", famPrefix(k.family), k.iif, k.table, err)
		}
		ch.add("add %srule priority %d iif %s lookup %d", famPrefix(k.family), RulePriority, k.iif, k.table)
	}
	return nil
}

// famPrefix marks the IPv6 objects in change lines ("add -6 rule ...").
func famPrefix(fam int) string {
	if fam == netlink.FAMILY_V6 {
		return "-6 "
	}
	return ""
}

// routeKey identifies a route by the fields the dataplane sets.
type routeKey struct {
	table  int
	dst    netip.Prefix
	gw     netip.Addr
	dev    int
	typ    int
	metric int
}

type routeWant struct {
	key  routeKey
	desc string
}

func (d *Dataplane) syncRoutes(p *plan, ch *Changes) error {
	want := map[routeKey]routeWant{}
	index := func(name string) (int, error) {
		l, err := d.link(name)
		if err != nil {
			return 0, fmt.Errorf("device %q: %w", name, err)
		}
		return l.Attrs().Index, nil
	}
	for _, n := range p.nets {
		if n.l2 {
			continue
		}
		for _, fam := range d.families() {
			k := routeKey{table: n.table, dst: defaultRoute(fam), typ: unix.RTN_UNREACHABLE, metric: unreachableMetric}
			want[k] = routeWant{k, fmt.Sprintf("%sunreachable default table %d", famPrefix(fam), n.table)}
		}
		if len(n.subnets) > 0 {
			// Each subnet out of the VXLAN device via the subnet's
			// own address, which never resolves there: addresses
			// without a route of their own are not forwarded, but
			// proxy ARP answers for them, so a VM whose first ARP
			// for a peer comes before the peer's route does not wait
			// for its ARP retry (a second).
			vx, err := index(n.dev)
			if err != nil {
				return err
			}
			routed := map[netip.Prefix]bool{}
			for _, r := range n.remote {
				routed[r.prefix] = true
			}
			for _, sn := range n.subnets {
				if routed[sn] || sn.Addr().Is6() {
					// A route of the whole subnet wins; IPv6 has no
					// proxy for a whole subnet (see syncProxies).
					continue
				}
				k := routeKey{table: n.table, dst: sn, gw: sn.Addr(), dev: vx, typ: unix.RTN_UNICAST}
				want[k] = routeWant{k, fmt.Sprintf("%v via %v dev %s onlink table %d", sn, sn.Addr(), n.dev, n.table)}
			}
		}
		for _, r := range n.remote {
			if r.port != "" {
				idx, err := index(r.port)
				if err != nil {
					return err
				}
				k := routeKey{table: n.table, dst: r.prefix, dev: idx, typ: unix.RTN_UNICAST, metric: unicastMetric(r.prefix.Addr())}
				want[k] = routeWant{k, fmt.Sprintf("%v dev %s table %d", r.prefix, r.port, n.table)}
				continue
			}
			vx, err := index(r.dev)
			if err != nil {
				return err
			}
			k := routeKey{table: n.table, dst: r.prefix, gw: r.nexthop, dev: vx, typ: unix.RTN_UNICAST, metric: unicastMetric(r.prefix.Addr())}
			want[k] = routeWant{k, fmt.Sprintf("%v via %v dev %s onlink table %d", r.prefix, r.nexthop, r.dev, n.table)}
		}
	}
	for _, pt := range p.ports {
		if pt.net.l2 {
			continue
		}
		idx, err := index(pt.name)
		if err != nil {
			return err
		}
		for _, ip := range pt.addrs() {
			k := routeKey{table: pt.net.table, dst: netip.PrefixFrom(ip, ip.BitLen()), dev: idx, typ: unix.RTN_UNICAST, metric: unicastMetric(ip)}
			want[k] = routeWant{k, fmt.Sprintf("%v dev %s table %d", k.dst, pt.name, pt.net.table)}
		}
	}
	var routes []netlink.Route
	for _, fam := range d.families() {
		rs, err := dump(func() ([]netlink.Route, error) {
			return d.h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return fmt.Errorf("list routes: %w", err)
		}
		routes = append(routes, rs...)
	}
	have := map[routeKey]bool{}
	for _, r := range routes {
		if !isOwnedTable(r.Table) {
			continue
		}
		k := keyOfRoute(r)
		if _, ok := want[k]; ok && (k.gw == netip.Addr{} || r.Flags&int(netlink.FLAG_ONLINK) != 0) {
			have[k] = true
			continue
		}
		if err := d.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %v table %d: %w", k.dst, r.Table, err)
		}
		ch.add("delete route %v table %d", k.dst, r.Table)
	}
	keys := make([]routeKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b routeKey) int { return cmpStr(want[a].desc, want[b].desc) })
	for _, k := range keys {
		if have[k] {
			continue
		}
		r := &netlink.Route{
			Table:    k.table,
			Dst:      prefixToIPNet(k.dst),
			Type:     k.typ,
			Priority: k.metric,
		}
		switch {
		case k.typ != unix.RTN_UNICAST:
		case k.gw.IsValid():
			r.LinkIndex = k.dev
			r.Gw = net.IP(k.gw.AsSlice())
			r.Flags = int(netlink.FLAG_ONLINK)
		default:
			r.LinkIndex = k.dev
			if k.dst.Addr().Is4() {
				r.Scope = netlink.SCOPE_LINK
			}
		}
		if err := d.h.RouteAdd(r); err != nil {
			return fmt.Errorf("add route %s: %w", want[k].desc, err)
		}
		ch.add("add route %s", want[k].desc)
	}
	return nil
}

func keyOfRoute(r netlink.Route) routeKey {
	k := routeKey{table: r.Table, typ: r.Type, metric: r.Priority}
	if r.Dst != nil {
		ones, _ := r.Dst.Mask.Size()
		k.dst = netip.PrefixFrom(addrOf(r.Dst.IP), ones)
	} else {
		k.dst = defaultRoute(r.Family)
	}
	if r.Type == unix.RTN_UNICAST {
		k.dev = r.LinkIndex
		if r.Gw != nil {
			k.gw = addrOf(r.Gw)
		}
	}
	return k
}

// defaultRoute is the default prefix of an address family.
func defaultRoute(fam int) netip.Prefix {
	if fam == netlink.FAMILY_V6 {
		return netip.MustParsePrefix("::/0")
	}
	return netip.MustParsePrefix("0.0.0.0/0")
}

// unicastMetric is the metric the kernel reports for a unicast route to a
// destination of a's family added with metric 0.
func unicastMetric(a netip.Addr) int {
	if a.Is6() {
		return metric6
	}
	return 0
}

// syncNeighbors keeps the permanent ARP entries (next hop -> MAC) and the
// FDB entries (MAC -> tunnel endpoint) of every VXLAN device, from the
// remote routes leaving by it (a leaked route leaves by the device of its
// VNI, not of its network). Devices that are not desired were already
// deleted with their entries.
func (d *Dataplane) syncNeighbors(p *plan, ch *Changes) error {
	type devWant struct {
		arp map[netip.Addr]string
		fdb map[string]netip.Addr // MAC -> endpoint (L3 next hops)
		l2  map[fdbPair]bool      // l2 networks: MAC, endpoint pairs
	}
	byDev := map[string]*devWant{}
	for _, n := range p.nets {
		w := &devWant{arp: map[netip.Addr]string{}, fdb: map[string]netip.Addr{}, l2: map[fdbPair]bool{}}
		for _, f := range n.fdb {
			w.l2[f] = true
		}
		byDev[n.dev] = w
	}
	for _, name := range sortedKeys(p.nets) {
		n := p.nets[name]
		for _, r := range n.remote {
			if r.port != "" {
				continue
			}
			w := byDev[r.dev]
			if m, ok := w.arp[r.nexthop]; ok && m != r.mac.String() {
				return fmt.Errorf("device %s: next hop %v has two MACs %s and %s", r.dev, r.nexthop, m, r.mac)
			}
			w.arp[r.nexthop] = r.mac.String()
			if e, ok := w.fdb[r.mac.String()]; ok && e != r.endpoint {
				return fmt.Errorf("device %s: MAC %s behind two tunnel endpoints %v and %v", r.dev, r.mac, e, r.endpoint)
			}
			w.fdb[r.mac.String()] = r.endpoint
		}
	}
	for _, dev := range sortedKeys(byDev) {
		l, err := d.link(dev)
		if err != nil {
			return fmt.Errorf("device %q: %w", dev, err)
		}
		idx := l.Attrs().Index
		if err := d.syncARP(dev, idx, byDev[dev].arp, ch); err != nil {
			return err
		}
		pairs := byDev[dev].l2
		for mac, ep := range byDev[dev].fdb {
			pairs[fdbPair{mac: mac, ep: ep}] = true
		}
		if err := d.syncFDB(dev, idx, pairs, ch); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dataplane) syncARP(dev string, idx int, want map[netip.Addr]string, ch *Changes) error {
	var neighs []netlink.Neigh
	for _, fam := range d.families() {
		ns, err := dump(func() ([]netlink.Neigh, error) { return d.h.NeighList(idx, fam) })
		if err != nil {
			return fmt.Errorf("list neighbors of %s: %w", dev, err)
		}
		neighs = append(neighs, ns...)
	}
	have := map[netip.Addr]bool{}
	for _, nb := range neighs {
		if nb.State&netlink.NUD_PERMANENT == 0 || nb.Flags&netlink.NTF_PROXY != 0 {
			continue
		}
		ip := addrOf(nb.IP)
		if m, ok := want[ip]; ok && m == nb.HardwareAddr.String() {
			have[ip] = true
			continue
		}
		if err := d.h.NeighDel(&nb); err != nil {
			return fmt.Errorf("delete neighbor %v dev %s: %w", ip, dev, err)
		}
		ch.add("delete neighbor %v dev %s", ip, dev)
	}
	for _, ip := range sortedAddrKeys(want) {
		if have[ip] {
			continue
		}
		mac, _ := net.ParseMAC(want[ip])
		fam := netlink.FAMILY_V4
		if ip.Is6() {
			fam = netlink.FAMILY_V6
		}
		nb := &netlink.Neigh{LinkIndex: idx, Family: fam, State: netlink.NUD_PERMANENT,
			IP: net.IP(ip.AsSlice()), HardwareAddr: mac}
		if err := d.h.NeighSet(nb); err != nil {
			return fmt.Errorf("add neighbor %v lladdr %s dev %s: %w", ip, mac, dev, err)
		}
		ch.add("add neighbor %v lladdr %s dev %s", ip, mac, dev)
	}
	return nil
}

func (d *Dataplane) syncFDB(dev string, idx int, want map[fdbPair]bool, ch *Changes) error {
	entries, err := dump(func() ([]netlink.Neigh, error) { return d.h.NeighList(idx, unix.AF_BRIDGE) })
	if err != nil {
		return fmt.Errorf("list fdb of %s: %w", dev, err)
	}
	have := map[fdbPair]bool{}
	for _, e := range entries {
		if e.LinkIndex != idx || len(e.HardwareAddr) == 0 || e.IP == nil {
			continue
		}
		mac := e.HardwareAddr.String()
		ip, _ := netip.AddrFromSlice(e.IP.To4())
		k := fdbPair{mac: mac, ep: ip}
		if want[k] && !have[k] {
			have[k] = true
			continue
		}
		del := netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: e.State, IP: e.IP, HardwareAddr: e.HardwareAddr}
		if err := d.h.NeighDel(&del); err != nil {
			return fmt.Errorf("delete fdb %s dst %v dev %s: %w", mac, ip, dev, err)
		}
		ch.add("delete fdb %s dst %v dev %s", mac, ip, dev)
	}
	keys := make([]fdbPair, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b fdbPair) int {
		if c := cmpStr(a.mac, b.mac); c != 0 {
			return c
		}
		return a.ep.Compare(b.ep)
	})
	for _, k := range keys {
		if have[k] {
			continue
		}
		hw, _ := net.ParseMAC(k.mac)
		mac, ep := k.mac, k.ep
		e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT, IP: net.IP(ep.AsSlice()), HardwareAddr: hw}
		if err := d.h.NeighAppend(e); err != nil {
			return fmt.Errorf("add fdb %s dst %v dev %s: %w", mac, ep, dev, err)
		}
		ch.add("add fdb %s dst %v dev %s", mac, ep, dev)
	}
	return nil
}

// dump runs a netlink dump again when the kernel reports it was
// interrupted by a concurrent change (the results would be inconsistent).
func dump[T any](list func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for range 5 {
		out, err = list()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sortedAddrKeys[V any](m map[netip.Addr]V) []netip.Addr {
	ks := make([]netip.Addr, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b netip.Addr) int { return a.Compare(b) })
	return ks
}

func sortedRuleKeys(m map[ruleKey]bool) []ruleKey {
	ks := make([]ruleKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b ruleKey) int {
		if a.family != b.family {
			return a.family - b.family
		}
		if c := cmpStr(a.iif, b.iif); c != 0 {
			return c
		}
		return a.table - b.table
	})
	return ks
}
