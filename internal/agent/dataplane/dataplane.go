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

	"github.com/vishvananda/netlink"
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
	return &Dataplane{ns: ns, h: h, log: log}, nil
}

// Close releases the netlink socket. Kernel state is left as it is.
func (d *Dataplane) Close() { d.h.Close() }

// Reconcile makes the namespace match desired and reports what it changed.
// It only reads and writes objects it owns (see the package doc). On error
// it stops at the first failing object; calling it again resumes.
func (d *Dataplane) Reconcile(ctx context.Context, desired State) (Changes, error) {
	var ch Changes
	p, err := compile(desired)
	if err != nil {
		return ch, fmt.Errorf("invalid desired state: %w", err)
	}
	steps := []func(*plan, *Changes) error{
		d.syncForwarding, d.syncDevices, d.syncPorts, d.syncRules, d.syncRoutes, d.syncNeighbors,
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

func (d *Dataplane) syncForwarding(p *plan, ch *Changes) error {
	if len(p.nets) == 0 {
		return nil // leave forwarding as found when we own nothing
	}
	changed, err := ensureSysctl(d.ns, "net/ipv4/ip_forward", "1")
	if err != nil {
		return err
	}
	if changed {
		ch.add("set sysctl net.ipv4.ip_forward=1")
	}
	return nil
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
		if underlay, err = d.h.LinkByName(p.underlay); err != nil {
			return fmt.Errorf("underlay device %q: %w", p.underlay, err)
		}
	}
	links, err := d.h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	have := map[string]bool{}
	for _, l := range links {
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

func vxlanMatches(l *netlink.Vxlan, n *netPlan, p *plan, underlayIndex int) bool {
	src, _ := netip.AddrFromSlice(l.SrcAddr)
	return l.VxlanId == int(n.vni) && l.VtepDevIndex == underlayIndex && src.Unmap() == p.tunnelIP &&
		l.Port == VXLANPort && !l.Learning && bytes.Equal(l.HardwareAddr, RouterMAC(p.tunnelIP))
}

// ownedAddr reports whether a is a gateway address the dataplane added:
// an IPv4 /32 carrying the IFA_F_NOPREFIXROUTE flag.
func ownedAddr(a netlink.Addr) bool {
	ones, bits := a.Mask.Size()
	return a.IP.To4() != nil && ones == 32 && bits == 32 && a.Flags&unix.IFA_F_NOPREFIXROUTE != 0
}

// syncPorts brings the ports up, gives each its gateway address and turns
// on proxy ARP. Gateway addresses on links that are no longer ports are
// removed.
func (d *Dataplane) syncPorts(p *plan, ch *Changes) error {
	wantAddr := map[string]netip.Addr{}
	for _, pt := range p.ports {
		wantAddr[pt.name] = pt.gateway
	}
	addrs, err := d.h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	haveAddr := map[string]bool{}
	for _, a := range addrs {
		if !ownedAddr(a) {
			continue
		}
		l, err := d.h.LinkByIndex(a.LinkIndex)
		if err != nil {
			continue // link vanished meanwhile
		}
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		name := l.Attrs().Name
		if gw, ok := wantAddr[name]; ok && gw == ip && !haveAddr[name] {
			haveAddr[name] = true
			continue
		}
		if err := d.h.AddrDel(l, &a); err != nil {
			return fmt.Errorf("delete address %v from %s: %w", ip, name, err)
		}
		ch.add("delete address %v/32 dev %s", ip, name)
	}
	for _, pt := range p.ports {
		l, err := d.h.LinkByName(pt.name)
		if err != nil {
			return fmt.Errorf("port %q: %w", pt.name, err)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			if err := d.h.LinkSetUp(l); err != nil {
				return fmt.Errorf("set port %s up: %w", pt.name, err)
			}
			ch.add("set port %s up", pt.name)
		}
		if !haveAddr[pt.name] {
			a := &netlink.Addr{
				IPNet: &net.IPNet{IP: net.IP(pt.gateway.AsSlice()), Mask: net.CIDRMask(32, 32)},
				Flags: unix.IFA_F_NOPREFIXROUTE,
			}
			if err := d.h.AddrAdd(l, a); err != nil {
				return fmt.Errorf("add gateway address %v to port %s: %w", pt.gateway, pt.name, err)
			}
			ch.add("add address %v/32 dev %s", pt.gateway, pt.name)
		}
		changed, err := ensureSysctl(d.ns, "net/ipv4/conf/"+pt.name+"/proxy_arp", "1")
		if err != nil {
			return fmt.Errorf("port %q: %w", pt.name, err)
		}
		if changed {
			ch.add("set sysctl net.ipv4.conf.%s.proxy_arp=1", pt.name)
		}
	}
	return nil
}

type ruleKey struct {
	iif   string
	table int
}

// syncRules keeps one "iif <dev> lookup <table>" rule per port and per
// VXLAN device, all at RulePriority.
func (d *Dataplane) syncRules(p *plan, ch *Changes) error {
	want := map[ruleKey]bool{}
	for _, n := range p.nets {
		want[ruleKey{n.dev, n.table}] = true
	}
	for _, pt := range p.ports {
		want[ruleKey{pt.name, pt.net.table}] = true
	}
	rules, err := d.h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	have := map[ruleKey]bool{}
	for _, r := range rules {
		if r.Priority != RulePriority {
			continue
		}
		k := ruleKey{r.IifName, r.Table}
		if want[k] && !have[k] && r.Src == nil && r.Dst == nil && r.OifName == "" && r.Mark == 0 {
			have[k] = true
			continue
		}
		if err := d.h.RuleDel(&r); err != nil {
			return fmt.Errorf("delete rule iif %s lookup %d: %w", r.IifName, r.Table, err)
		}
		ch.add("delete rule priority %d iif %s lookup %d", RulePriority, r.IifName, r.Table)
	}
	for _, k := range sortedRuleKeys(want) {
		if have[k] {
			continue
		}
		r := netlink.NewRule()
		r.Family = netlink.FAMILY_V4
		r.Priority = RulePriority
		r.IifName = k.iif
		r.Table = k.table
		if err := d.h.RuleAdd(r); err != nil {
			return fmt.Errorf("add rule iif %s lookup %d: %w", k.iif, k.table, err)
		}
		ch.add("add rule priority %d iif %s lookup %d", RulePriority, k.iif, k.table)
	}
	return nil
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
		l, err := d.h.LinkByName(name)
		if err != nil {
			return 0, fmt.Errorf("device %q: %w", name, err)
		}
		return l.Attrs().Index, nil
	}
	for _, n := range p.nets {
		k := routeKey{table: n.table, dst: netip.MustParsePrefix("0.0.0.0/0"), typ: unix.RTN_UNREACHABLE, metric: unreachableMetric}
		want[k] = routeWant{k, fmt.Sprintf("unreachable default table %d", n.table)}
		vx, err := index(n.dev)
		if err != nil {
			return err
		}
		for _, r := range n.remote {
			k := routeKey{table: n.table, dst: r.prefix, gw: r.nexthop, dev: vx, typ: unix.RTN_UNICAST}
			want[k] = routeWant{k, fmt.Sprintf("%v via %v dev %s onlink table %d", r.prefix, r.nexthop, n.dev, n.table)}
		}
	}
	for _, pt := range p.ports {
		idx, err := index(pt.name)
		if err != nil {
			return err
		}
		k := routeKey{table: pt.net.table, dst: netip.PrefixFrom(pt.ip, 32), dev: idx, typ: unix.RTN_UNICAST}
		want[k] = routeWant{k, fmt.Sprintf("%v/32 dev %s table %d", pt.ip, pt.name, pt.net.table)}
	}
	routes, err := d.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
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
			r.Scope = netlink.SCOPE_LINK
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
		a, _ := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		k.dst = netip.PrefixFrom(a.Unmap(), ones)
	} else {
		k.dst = netip.MustParsePrefix("0.0.0.0/0")
	}
	if r.Type == unix.RTN_UNICAST {
		k.dev = r.LinkIndex
		if r.Gw != nil {
			k.gw, _ = netip.AddrFromSlice(r.Gw.To4())
		}
	}
	return k
}

// syncNeighbors keeps the permanent ARP entries (next hop -> MAC) and the
// FDB entries (MAC -> tunnel endpoint) of every VXLAN device. Devices that
// are not desired were already deleted with their entries.
func (d *Dataplane) syncNeighbors(p *plan, ch *Changes) error {
	for _, name := range sortedKeys(p.nets) {
		n := p.nets[name]
		l, err := d.h.LinkByName(n.dev)
		if err != nil {
			return fmt.Errorf("device %q: %w", n.dev, err)
		}
		idx := l.Attrs().Index
		wantARP := map[netip.Addr]string{}
		wantFDB := map[string]netip.Addr{}
		for _, r := range n.remote {
			if m, ok := wantARP[r.nexthop]; ok && m != r.mac.String() {
				return fmt.Errorf("network %q: next hop %v has two MACs %s and %s", n.name, r.nexthop, m, r.mac)
			}
			wantARP[r.nexthop] = r.mac.String()
			if e, ok := wantFDB[r.mac.String()]; ok && e != r.endpoint {
				return fmt.Errorf("network %q: MAC %s behind two tunnel endpoints %v and %v", n.name, r.mac, e, r.endpoint)
			}
			wantFDB[r.mac.String()] = r.endpoint
		}
		if err := d.syncARP(n.dev, idx, wantARP, ch); err != nil {
			return err
		}
		if err := d.syncFDB(n.dev, idx, wantFDB, ch); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dataplane) syncARP(dev string, idx int, want map[netip.Addr]string, ch *Changes) error {
	neighs, err := d.h.NeighList(idx, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list neighbors of %s: %w", dev, err)
	}
	have := map[netip.Addr]bool{}
	for _, nb := range neighs {
		if nb.State&netlink.NUD_PERMANENT == 0 {
			continue
		}
		ip, _ := netip.AddrFromSlice(nb.IP.To4())
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
		nb := &netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: net.IP(ip.AsSlice()), HardwareAddr: mac}
		if err := d.h.NeighSet(nb); err != nil {
			return fmt.Errorf("add neighbor %v lladdr %s dev %s: %w", ip, mac, dev, err)
		}
		ch.add("add neighbor %v lladdr %s dev %s", ip, mac, dev)
	}
	return nil
}

func (d *Dataplane) syncFDB(dev string, idx int, want map[string]netip.Addr, ch *Changes) error {
	entries, err := d.h.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("list fdb of %s: %w", dev, err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if e.LinkIndex != idx || len(e.HardwareAddr) == 0 || e.IP == nil {
			continue
		}
		mac := e.HardwareAddr.String()
		ip, _ := netip.AddrFromSlice(e.IP.To4())
		if ep, ok := want[mac]; ok && ep == ip && !have[mac] {
			have[mac] = true
			continue
		}
		del := netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: e.State, IP: e.IP, HardwareAddr: e.HardwareAddr}
		if err := d.h.NeighDel(&del); err != nil {
			return fmt.Errorf("delete fdb %s dst %v dev %s: %w", mac, ip, dev, err)
		}
		ch.add("delete fdb %s dst %v dev %s", mac, ip, dev)
	}
	for _, mac := range sortedKeys(want) {
		if have[mac] {
			continue
		}
		hw, _ := net.ParseMAC(mac)
		ep := want[mac]
		e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT, IP: net.IP(ep.AsSlice()), HardwareAddr: hw}
		if err := d.h.NeighAppend(e); err != nil {
			return fmt.Errorf("add fdb %s dst %v dev %s: %w", mac, ep, dev, err)
		}
		ch.add("add fdb %s dst %v dev %s", mac, ep, dev)
	}
	return nil
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
		if c := cmpStr(a.iif, b.iif); c != 0 {
			return c
		}
		return a.table - b.table
	})
	return ks
}
