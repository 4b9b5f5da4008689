// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// dpLoop programs the kernel: after each change (debounced) it computes
// the desired dataplane state and reconciles when it differs from what
// was last applied. Changes arriving during a reconcile are gathered into
// the next one, so a burst of port adds costs a few reconciles.
func (a *Agent) dpLoop(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.dpKick:
		case <-retry.C:
		}
		if a.cfg.Debounce > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(a.cfg.Debounce):
			}
		}
		if err := a.syncDataplane(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			// Dumps interrupted by concurrent changes are common during
			// bursts: retry soon, then back off.
			fails++
			d := min(time.Duration(fails)*100*time.Millisecond, 2*time.Second)
			a.log.Warn("dataplane reconcile failed, retrying", "err", err, "in", d)
			retry.Reset(d)
			continue
		}
		fails = 0
	}
}

// dpPlan is the desired state plus what the agent hangs on it.
type dpPlan struct {
	state   dataplane.State
	views   map[string]*portView
	portErr map[string]string // port id -> why it is left out
	routes  int
	skipped []string
}

func (a *Agent) syncDataplane(ctx context.Context) error {
	links, err := a.nl.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	devs := make(map[string]bool, len(links))
	for _, l := range links {
		devs[l.Attrs().Name] = true
	}
	a.mu.Lock()
	var plan *dpPlan
	restoring := a.restoring
	if restoring && a.syncedLocked() {
		restoring, a.restoring, a.saved = false, false, nil
		a.log.Info("config and routes synced: dataplane follows the control plane")
	}
	if restoring {
		if a.saved == nil {
			// Nothing saved: an empty state removes what a crashed
			// run may have left, and nothing is lost.
			plan = &dpPlan{views: map[string]*portView{}}
		} else {
			plan = &dpPlan{state: *a.saved, views: map[string]*portView{}}
			a.filterSavedLocked(&plan.state, devs)
		}
	} else {
		plan = a.planLocked(devs)
	}
	a.dpStatus.Restoring = restoring
	a.views = plan.views
	defer a.cond.Broadcast() // port adds waiting for their state
	for id, e := range a.ports {
		switch {
		case restoring:
			e.state = "restoring: waiting for config and routes"
		case plan.portErr[id] != "":
			e.state = plan.portErr[id]
		default:
			e.state = "active"
		}
	}
	same := a.applied != nil && reflect.DeepEqual(*a.applied, plan.state)
	a.mu.Unlock()
	// Each skipped route is logged once, not at every reconcile.
	skipped := make(map[string]bool, len(plan.skipped))
	for _, s := range plan.skipped {
		skipped[s] = true
		if !a.skipped[s] {
			a.log.Warn("route not installed", "reason", s)
		}
	}
	a.skipped = skipped
	if !same {
		if fp := a.ext.fp; fp != nil {
			// Devices may be recreated and routes move: no packet may
			// follow a decision cached before. The fast path takes flows
			// again once the extensions caught up (syncFastPath).
			fp.Hold()
		}
		start := time.Now()
		ch, err := a.dp.Reconcile(ctx, plan.state)
		d := time.Since(start)
		a.m.reconcileSeconds.Observe(d.Seconds())
		a.mu.Lock()
		a.dpStatus.Reconciles++
		a.dpStatus.LastDuration = d.String()
		a.dpStatus.LastAt = time.Now()
		a.dpStatus.LastChanges = len(ch.Applied)
		if err != nil {
			a.dpStatus.Failures++
			a.dpStatus.LastError = err.Error()
			a.dpStatus.LastFailure = err.Error()
			a.applied = nil
			a.mu.Unlock()
			return err
		}
		a.dpStatus.LastError = ""
		st := plan.state
		a.applied = &st
		var disabled []portapi.Port
		for _, e := range a.ports {
			if e.port.Disabled {
				disabled = append(disabled, e.port)
			}
		}
		a.mu.Unlock()
		// A reconcile that started before a port was disabled may have
		// brought its device up again: disabled ports are set down
		// after every reconcile.
		for _, p := range disabled {
			a.setPortLink(p)
		}
		if err := a.saveState(&st); err != nil {
			a.log.Warn("dataplane state not saved", "err", err)
		}
	}
	now := time.Now()
	a.mu.Lock()
	for _, e := range a.ports {
		if e.state == "active" && e.programmed.IsZero() {
			e.programmed = now
			a.m.portProgramSeconds.Observe(now.Sub(e.added).Seconds())
		}
	}
	a.mu.Unlock()
	if !restoring {
		a.mu.Lock()
		a.extPlan = plan
		a.mu.Unlock()
		select {
		case a.extKick <- struct{}{}:
		default:
		}
	}
	return nil
}

// extLoop applies DHCP and the firewall to the latest programmed plan, in
// its own goroutine so that slow services never delay routing.
func (a *Agent) extLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.extKick:
		}
		a.mu.Lock()
		plan := a.extPlan
		a.mu.Unlock()
		if plan == nil {
			continue
		}
		start := time.Now()
		a.ext.apply(ctx, a, plan)
		d := time.Since(start)
		a.mu.Lock()
		a.dpStatus.LastExtDuration = d.String() + " (dhcp " + a.ext.dhcpTook.String() + ")"
		a.mu.Unlock()
	}
}

// filterSavedLocked drops saved ports whose device is gone.
func (a *Agent) filterSavedLocked(s *dataplane.State, devs map[string]bool) {
	s.TunnelIP, s.UnderlayDev = a.cfg.TunnelIP, a.cfg.UnderlayDev
	s.Ports = slices.DeleteFunc(slices.Clone(s.Ports), func(p dataplane.Port) bool { return !devs[p.Name] })
}

// planLocked computes the desired dataplane from ports, config and routes.
// Everything the dataplane would refuse is left out here, with a reason,
// so that one bad port or route never blocks the others.
func (a *Agent) planLocked(devs map[string]bool) *dpPlan {
	views := a.resolveLocked()
	plan := &dpPlan{views: views, portErr: map[string]string{}}
	st := &plan.state
	st.TunnelIP, st.UnderlayDev = a.cfg.TunnelIP, a.cfg.UnderlayDev
	nets := map[string]*vnView{}
	tables := map[int]string{}
	vnis := map[uint32]string{}
	addNet := func(vn *vnView) bool {
		if _, ok := nets[vn.name]; ok {
			return true
		}
		if _, dup := vnis[vn.vni]; dup {
			return false
		}
		if vn.mode == modeL2 { // bridged: no routing table
			vnis[vn.vni] = vn.name
			nets[vn.name] = vn
			return true
		}
		t := dataplane.TableForVNI(vn.vni)
		if _, dup := tables[t]; dup {
			return false
		}
		tables[t] = vn.name
		vnis[vn.vni] = vn.name
		nets[vn.name] = vn
		return true
	}
	ids := make([]string, 0, len(views))
	for id := range views {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	portNames := map[string]bool{}
	localMACs := map[string]bool{}
	local := map[string]map[netip.Addr]bool{} // network -> local port addresses
	for _, id := range ids {
		v := views[id]
		if !v.active() {
			plan.portErr[id] = v.err
			continue
		}
		name := v.port.SystemName
		if v.port.Type == 2 {
			plan.portErr[id] = "remote port: nothing to program on this host"
			continue
		}
		if !devs[name] {
			plan.portErr[id] = "device " + name + " does not exist"
			continue
		}
		if portNames[name] {
			plan.portErr[id] = "device " + name + " is used by another port"
			continue
		}
		if v.vn.mode == modeL2 {
			if !addNet(v.vn) {
				plan.portErr[id] = fmt.Sprintf("network %s: VNI %d clashes with another network", v.vn.name, v.vn.vni)
				continue
			}
			portNames[name] = true
			dpp := dataplane.Port{Name: name, MAC: v.mac, Network: v.vn.name}
			if len(v.ips) > 0 {
				dpp.IP = v.ips[0]
			}
			st.Ports = append(st.Ports, dpp)
			if v.mac != nil {
				localMACs[v.mac.String()] = true
			}
			continue
		}
		// The first address of each family, if it is in a subnet with
		// a gateway; a port needs one of them.
		var ip4, ip6 netip.Addr
		var bad []string
		for _, fam := range [][]netip.Addr{v.ips, v.ip6s} {
			if len(fam) == 0 {
				continue
			}
			if usableAddr(v.vn, fam[0]) {
				if fam[0].Is4() {
					ip4 = fam[0]
				} else {
					ip6 = fam[0]
				}
				continue
			}
			bad = append(bad, fmt.Sprintf("address %v is in no subnet with a gateway of network %s", fam[0], v.vn.name))
		}
		if !ip4.IsValid() && !ip6.IsValid() {
			if len(bad) == 0 {
				bad = append(bad, "no IP address")
			}
			plan.portErr[id] = strings.Join(bad, "; ")
			continue
		}
		if !addNet(v.vn) {
			plan.portErr[id] = fmt.Sprintf("network %s: VNI %d clashes with another network's table", v.vn.name, v.vn.vni)
			continue
		}
		for _, b := range bad {
			// Dual stack with one family unusable: the other is
			// programmed.
			plan.skipped = append(plan.skipped, fmt.Sprintf("port %s: %s", name, b))
		}
		// The further addresses of each family (secondary instance
		// IPs) are routed to the port too.
		var extra []netip.Addr
		for _, fam := range [][]netip.Addr{v.ips, v.ip6s} {
			if len(fam) < 2 || !usableAddr(v.vn, fam[0]) {
				continue
			}
			for _, a := range fam[1:] {
				if usableAddr(v.vn, a) {
					extra = append(extra, a)
				} else {
					plan.skipped = append(plan.skipped, fmt.Sprintf("port %s: address %v is in no subnet with a gateway of network %s", name, a, v.vn.name))
				}
			}
		}
		portNames[name] = true
		st.Ports = append(st.Ports, dataplane.Port{Name: name, MAC: v.mac, IP: ip4, IP6: ip6, Extra: extra, Network: v.vn.name})
		if local[v.vn.name] == nil {
			local[v.vn.name] = map[netip.Addr]bool{}
		}
		for _, ip := range append([]netip.Addr{ip4, ip6}, extra...) {
			if ip.IsValid() {
				local[v.vn.name][ip] = true
			}
		}
		for _, f := range v.fips {
			if len(f.vn.subnets) > 0 {
				addNet(f.vn)
			}
		}
	}
	netNames := make([]string, 0, len(nets))
	for n := range nets {
		netNames = append(netNames, n)
	}
	sort.Strings(netNames)
	for _, n := range netNames {
		vn := nets[n]
		dn := dataplane.Network{Name: vn.name, VNI: vn.vni, L2: vn.mode == modeL2}
		if dn.L2 {
			st.Networks = append(st.Networks, dn)
			plan.remoteMACs(a, vn, localMACs)
			continue
		}
		for _, s := range vn.subnets {
			if subnetUsable(s) {
				dn.Subnets = append(dn.Subnets, dataplane.Subnet{Prefix: s.prefix.Masked(), Gateway: s.gw, Service: a.dnsServiceAddr(vn, s)})
			}
		}
		st.Networks = append(st.Networks, dn)
	}
	// Remote routes: the union of what the live sessions sent, then what
	// lost sessions left (stale), first come first served per prefix.
	tables2 := map[int]string{}
	for t, n := range tables {
		tables2[t] = n
	}
	nexthops := map[string]netip.Addr{} // device/next hop -> endpoint
	for _, n := range netNames {
		vn := nets[n]
		if vn.mode == modeL2 {
			continue
		}
		seen := map[netip.Prefix]bool{}
		var sources []map[string]xmpp.Entry
		for _, fam := range []xmpp.Family{xmpp.FamilyInet, xmpp.FamilyInet6} {
			node := xmpp.ItemsNode(fam, vn.ri)
			for _, p := range a.peers {
				if p.up && p.routes != nil {
					sources = append(sources, p.routes[node])
				}
			}
			for _, s := range a.stale {
				sources = append(sources, s[node])
			}
		}
		for _, src := range sources {
			ids := make([]string, 0, len(src))
			for id := range src {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				rr, why := a.remoteRoute(vn, src[id], vnis)
				if why != "" {
					if why != "local" {
						plan.skipped = append(plan.skipped, fmt.Sprintf("%s %s: %s", vn.ri, id, why))
					}
					continue
				}
				if seen[rr.Prefix] || (rr.Prefix.IsSingleIP() && local[vn.name][rr.Prefix.Addr()]) {
					continue
				}
				if rr.TunnelEndpoint == a.cfg.TunnelIP {
					// Another local network's port, leaked into this one.
					other, ok := vnis[rr.VNI]
					if !ok || !rr.Prefix.IsSingleIP() || !local[other][rr.Prefix.Addr()] {
						plan.skipped = append(plan.skipped, fmt.Sprintf("%s %s: next hop is this host but no local port has the address", vn.ri, id))
						continue
					}
					seen[rr.Prefix] = true
					st.Remote = append(st.Remote, rr)
					plan.routes++
					continue
				}
				if rr.VNI != vn.vni {
					if _, isLocal := vnis[rr.VNI]; !isLocal {
						t := dataplane.TableForVNI(rr.VNI)
						if other, dup := tables2[t]; dup && other != fmt.Sprint("#", rr.VNI) {
							plan.skipped = append(plan.skipped, fmt.Sprintf("%s %s: VNI %d clashes with the table of %s", vn.ri, id, rr.VNI, other))
							continue
						}
						tables2[t] = fmt.Sprint("#", rr.VNI)
					}
				}
				dev := dataplane.DeviceName(rr.VNI)
				k := dev + "/" + rr.Prefix.Masked().Addr().String()
				if ep, ok := nexthops[k]; ok && ep != rr.TunnelEndpoint {
					plan.skipped = append(plan.skipped, fmt.Sprintf("%s %s: next hop address already behind %v", vn.ri, id, ep))
					continue
				}
				nexthops[k] = rr.TunnelEndpoint
				seen[rr.Prefix] = true
				st.Remote = append(st.Remote, rr)
				plan.routes++
			}
		}
	}
	return plan
}

// remoteMACs adds the MACs of an l2 network's remote VMs, from the EVPN
// routes of its instance, to the plan.
func (plan *dpPlan) remoteMACs(a *Agent, vn *vnView, localMACs map[string]bool) {
	node := xmpp.ItemsNode(xmpp.FamilyEVPN, vn.ri)
	var sources []map[string]xmpp.Entry
	for _, p := range a.peers {
		if p.up && p.routes != nil {
			sources = append(sources, p.routes[node])
		}
	}
	for _, s := range a.stale {
		sources = append(sources, s[node])
	}
	seen := map[string]bool{}
	for _, src := range sources {
		ids := make([]string, 0, len(src))
		for id := range src {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			e, ok := src[id].(*xmpp.EVPNEntry)
			if !ok {
				continue
			}
			mac, err := net.ParseMAC(e.NLRI.MAC)
			if err != nil || len(mac) != 6 || localMACs[mac.String()] || seen[mac.String()] {
				continue
			}
			var ep netip.Addr
			for _, nh := range e.NextHops {
				addr, err := netip.ParseAddr(nh.Address)
				if err != nil || !addr.Is4() || addr == a.cfg.TunnelIP || !slices.Contains(nh.TunnelEncapsulation, "vxlan") || nh.Label != vn.vni {
					continue
				}
				if !ep.IsValid() || addr.Less(ep) {
					ep = addr
				}
			}
			if !ep.IsValid() {
				continue
			}
			seen[mac.String()] = true
			plan.state.RemoteMACs = append(plan.state.RemoteMACs, dataplane.RemoteMAC{Network: vn.name, MAC: mac, TunnelEndpoint: ep})
		}
	}
}

// usableAddr reports whether ip is in a subnet of vn with a gateway.
func usableAddr(vn *vnView, ip netip.Addr) bool {
	sn, ok := vn.subnetOf(ip)
	return ok && subnetUsable(sn)
}

// subnetUsable reports whether s has a gateway of its family inside it
// (an IPAM without a gateway has "0.0.0.0" or "::").
// dnsServiceAddr is the address the ports of subnet s get for the DNS
// proxy in its direct mode (the subnet's DNS service address, where the
// IPAM has the agent answer DNS); invalid otherwise.
func (a *Agent) dnsServiceAddr(vn *vnView, s subnetView) netip.Addr {
	if a.cfg.NoDNS || a.cfg.DNSListen.IsValid() || !s.dns.Is4() || s.dns == s.gw || !s.prefix.Contains(s.dns) {
		return netip.Addr{}
	}
	if !a.dhcpExtrasFor(vn.obj, s.dns, s).proxyDNS {
		return netip.Addr{}
	}
	return s.dns
}

func subnetUsable(s subnetView) bool {
	a := s.prefix.Addr()
	return s.prefix.IsValid() && !a.Is4In6() && s.gw.IsValid() && s.gw.Is4() == a.Is4() && s.prefix.Contains(s.gw)
}

// remoteRoute turns a received inet or inet6 entry into a dataplane route,
// or says why it is not one ("local" for the agent's own routes). Next
// hops (tunnel endpoints) are IPv4 in both families.
func (a *Agent) remoteRoute(vn *vnView, e xmpp.Entry, vnis map[uint32]string) (dataplane.RemoteRoute, string) {
	ue, ok := e.(*xmpp.UnicastEntry)
	if !ok {
		return dataplane.RemoteRoute{}, "not an inet entry"
	}
	pfx, err := netip.ParsePrefix(ue.NLRI.Address)
	if err != nil || pfx.Addr().Is4In6() || ue.NLRI.AF == xmpp.AFIPv4 && !pfx.Addr().Is4() || ue.NLRI.AF == xmpp.AFIPv6 && !pfx.Addr().Is6() {
		return dataplane.RemoteRoute{}, fmt.Sprintf("bad prefix %q", ue.NLRI.Address)
	}
	var best *xmpp.NextHop
	bad := ""
	for i := range ue.NextHops {
		nh := &ue.NextHops[i]
		addr, err := netip.ParseAddr(nh.Address)
		if err != nil || !addr.Is4() || addr.IsUnspecified() || addr.IsMulticast() {
			bad = fmt.Sprintf("bad next hop %q", nh.Address)
			continue
		}
		if !slices.Contains(nh.TunnelEncapsulation, "vxlan") {
			bad = fmt.Sprintf("next hop %s has no vxlan encapsulation (%s)", nh.Address, strings.Join(nh.TunnelEncapsulation, ","))
			continue
		}
		if nh.Label == 0 || nh.Label >= 1<<24 {
			bad = fmt.Sprintf("next hop %s: label %d is not a VNI", nh.Address, nh.Label)
			continue
		}
		if addr == a.cfg.TunnelIP && nh.Label == vn.vni {
			return dataplane.RemoteRoute{}, "local"
		}
		if best == nil || nh.Address < best.Address {
			best = nh
		}
	}
	if best == nil {
		if bad == "" {
			bad = "no next hop"
		}
		return dataplane.RemoteRoute{}, bad
	}
	ep := netip.MustParseAddr(best.Address)
	return dataplane.RemoteRoute{Network: vn.name, Prefix: pfx.Masked(), TunnelEndpoint: ep, VNI: best.Label}, ""
}
