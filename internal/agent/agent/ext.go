// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/agent/fastpath"
	"github.com/contrail-go/contrail/internal/agent/flows"
	"github.com/contrail-go/contrail/internal/agent/nsrun"
	"github.com/contrail-go/contrail/internal/agent/security"
	"github.com/contrail-go/contrail/internal/agent/services"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// extensions are the per-port layers above the routing dataplane: DHCP
// (services) and security groups, network ACLs and floating-IP NAT
// (security). They are driven from the dataplane loop after each
// successful reconcile, with the same resolved ports.
type extensions struct {
	dhcp    *services.DHCP
	fw      *security.Firewall
	flowTab *flows.Table
	fp      *fastpath.Path
	fpState *dataplane.State // what the fast path was last set up for
	// the plan the fast path is to follow next, and whether rules changed
	// since it last did; fpLoop takes them
	fpMu     sync.Mutex
	fpPlan   *dpPlan
	fpSec    bool
	fpKick   chan struct{}
	meta     *services.Metadata
	metaSet  map[string]string
	dns      *services.DNS
	dnsSet   map[string]services.DNSPort
	dhcpSet  map[string]services.PortInfo
	lastSec  *security.State
	secError string
	dhcpErr  map[string]string
	dhcpTook time.Duration
}

func (x *extensions) open(a *Agent) error {
	x.dhcpSet = map[string]services.PortInfo{}
	x.dhcpErr = map[string]string{}
	x.metaSet = map[string]string{}
	x.dnsSet = map[string]services.DNSPort{}
	if !a.cfg.NoDNS {
		err := nsrun.Do(a.ns, func() error {
			d, err := services.NewDNS(services.DNSConfig{Listen: a.cfg.DNSListen, Upstream: a.cfg.DNSUpstream,
				Log: a.log.With("component", "dns")})
			x.dns = d
			return err
		})
		if err != nil {
			a.log.Warn("DNS proxy not available", "err", err)
			x.dns = nil
		}
	}
	if a.cfg.MetadataUpstream != "" {
		err := nsrun.Do(a.ns, func() error {
			m, err := services.NewMetadata(services.MetadataConfig{Listen: a.cfg.MetadataListen, Upstream: a.cfg.MetadataUpstream,
				Secret: a.cfg.MetadataSecret, Log: a.log.With("component", "metadata")})
			x.meta = m
			return err
		})
		if err != nil {
			a.log.Warn("metadata proxy not available", "err", err)
			x.meta = nil
		}
	}
	if a.cfg.NoDHCP {
		return x.openFirewall(a)
	}
	err := nsrun.Do(a.ns, func() error {
		d, err := services.NewDHCP(a.log.With("component", "dhcp"))
		if err != nil {
			return err
		}
		x.dhcp = d
		return nil
	})
	if err != nil {
		a.log.Warn("DHCP server not available", "err", err)
	}
	return x.openFirewall(a)
}

func (x *extensions) openFirewall(a *Agent) error {
	if a.cfg.NoFirewall {
		return nil
	}
	fw, err := security.New(a.log.With("component", "security"), security.WithNetNS(a.ns), security.WithTunnelDevices(dataplane.DevicePrefix),
		security.WithDenyLog(denyLogGroup), security.WithUntrackedTunnel(a.cfg.UnderlayDev, dataplane.VXLANPort))
	if err != nil {
		a.log.Warn("security groups and ACLs not enforced: firewall not available", "err", err)
		return nil
	}
	x.fw = fw
	if !a.cfg.NoFastPath {
		fp, err := fastpath.New(fastpath.Config{Log: a.log.With("component", "fastpath"), NetNS: a.ns})
		if err != nil {
			a.log.Warn("eBPF fast path not available: every packet goes through the stack", "err", err)
		} else {
			x.fp = fp
			x.fpKick = make(chan struct{}, 1)
		}
	}
	ft, err := flows.New(x.flowConfig(a, denyLogGroup))
	if err != nil {
		a.log.Warn("flow records not available", "err", err)
		x.closeFastPath()
		return nil
	}
	x.flowTab = ft
	return nil
}

// closeFastPath detaches the fast path; the stack forwards everything.
func (x *extensions) closeFastPath() {
	if x.fp != nil {
		x.fp.Close()
		x.fp = nil
	}
}

// denyLogGroup is the nflog group (in the agent's namespace) the
// firewall's deny rules log to and the flow table reads, so that refused
// connections become deny flow records.
const denyLogGroup = 0x4354

func (x *extensions) flowConfig(a *Agent, denyGroup uint16) flows.Config {
	c := flows.Config{Log: a.log.With("component", "flows"), NetNS: a.ns, Resolve: x.fw.Resolve, DenyLogGroup: denyGroup}
	if x.fp != nil {
		c.Offload = x.fp
	}
	return c
}

// start runs what follows the kernel (the flow table) until ctx ends.
func (x *extensions) start(ctx context.Context, a *Agent) {
	if x.flowTab == nil {
		return
	}
	err := x.flowTab.Start(ctx)
	if err != nil {
		// Without nflog (no nfnetlink_log) the flow table still records
		// the connections that were let through.
		a.log.Warn("denied connections not recorded", "err", err)
		if ft, nerr := flows.New(x.flowConfig(a, 0)); nerr == nil {
			x.flowTab = ft
			err = ft.Start(ctx)
		}
	}
	if err != nil {
		a.log.Warn("flow records not available", "err", err)
		x.flowTab = nil
		// conntrack is not followed: nothing would take flows out
		x.closeFastPath()
	}
}

// wait returns once what start started has ended.
func (x *extensions) wait() {
	if x.flowTab != nil {
		x.flowTab.Wait()
	}
}

func (x *extensions) close() {
	if x.dhcp != nil {
		// Bounded: a stuck DHCP reader must not keep the agent from
		// stopping.
		done := make(chan struct{})
		go func() { x.dhcp.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
	if x.fw != nil {
		x.fw.Close()
	}
	x.closeFastPath()
	if x.meta != nil {
		x.meta.Close()
	}
	if x.dns != nil {
		x.dns.Close()
	}
}

// apply brings DHCP and the firewall in line with the programmed ports.
func (x *extensions) apply(ctx context.Context, a *Agent, plan *dpPlan) {
	a.mu.Lock()
	dhcpWant := map[string]services.PortInfo{}
	metaWant := map[string]metaPort{}
	dnsWant := map[string]services.DNSPort{}
	var sec security.State
	sec.SGMembers = map[int][]netip.Prefix{}
	sec.VNPrefixes = map[string][]netip.Prefix{}
	active := map[string]bool{}
	for _, p := range plan.state.Ports {
		active[p.Name] = true
	}
	r := newResolver(a.db)
	for _, o := range a.db.byType("virtual-network") {
		vn, err := r.vn(o)
		if err != nil {
			continue
		}
		for _, s := range vn.subnets {
			sec.VNPrefixes[vn.name] = append(sec.VNPrefixes[vn.name], s.prefix.Masked())
		}
	}
	// The rules of a network's or a group's ACLs, computed once per
	// network or group: finding an object's ACLs walks all its links,
	// and a network links every port and address in it (1,000 ports in
	// one network made this quadratic).
	rulesOf := map[*model.Object][]security.Rule{}
	aclRules := func(o *model.Object) []security.Rule {
		if rules, ok := rulesOf[o]; ok {
			return rules
		}
		var out []security.Rule
		for _, acl := range a.db.linked(o, "access-control-list") {
			rules, err := security.RulesFromACL(acl)
			if err != nil {
				a.log.Debug("ACL entries skipped", "acl", acl.FQNameString(), "err", err)
			}
			out = append(out, rules...)
		}
		rulesOf[o] = out
		return out
	}
	ids := make([]string, 0, len(plan.views))
	for id := range plan.views {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		v := plan.views[id]
		if !v.active() || !active[v.port.SystemName] {
			continue
		}
		name := v.port.SystemName
		if len(v.ips) == 0 && len(v.ip6s) == 0 {
			continue // an l2 port without an address: nothing to serve or filter
		}
		if sn, ok := v.vn.subnetOf(firstIP(v.ips)); ok { // DHCP: IPv4 only
			pi := services.PortInfo{Name: name, MAC: v.mac, Addr: netip.PrefixFrom(v.ips[0], sn.prefix.Bits()), Gateway: sn.gw,
				Hostname: v.port.DisplayName}
			x := a.dhcpExtrasFor(v.vn.obj, v.ips[0], sn)
			pi.DNS, pi.Routes, pi.MTU, pi.Domain = x.dns, x.routes, x.mtu, x.domain
			if x.proxyDNS && sn.dns.Is4() {
				dnsWant[name] = services.DNSPort{Name: name, IP: v.ips[0], Hostname: v.port.DisplayName, Domain: x.domain, Server: sn.dns}
			}
			if pi.MAC != nil && !x.disabled {
				dhcpWant[name] = pi
			}
		}
		if vmUUID := v.port.InstanceID; vmUUID != "" && len(v.ips) > 0 {
			metaWant[name] = metaPort{vmi: v.port.ID, vm: vmUUID, tenant: v.port.VMProjectID, ip: v.ips[0]}
		}
		sp := security.Port{Name: name, VN: v.vn.name, IPs: v.ips, PolicyEnabled: true, HasSGs: len(v.sgs) > 0}
		var pse bool
		if v.vmi.Prop("port_security_enabled", &pse) {
			sp.PolicyEnabled = pse
		}
		for _, sg := range v.sgs {
			sp.SGRules = append(sp.SGRules, aclRules(sg)...)
		}
		sp.VNRules = append(sp.VNRules, aclRules(v.vn.obj)...)
		for _, f := range v.fips {
			if !f.fixed.IsValid() {
				continue
			}
			sp.FloatingIPs = append(sp.FloatingIPs, security.FloatingIP{Floating: f.addr, Fixed: f.fixed,
				FloatingTable: dataplane.TableForVNI(f.vn.vni), PortTable: dataplane.TableForVNI(v.vn.vni),
				FloatingDev: dataplane.DeviceName(f.vn.vni)})
		}
		sec.Ports = append(sec.Ports, sp)
		for _, id := range v.sgID {
			for _, ip := range append(v.ips[:len(v.ips):len(v.ips)], v.ip6s...) {
				sec.SGMembers[int(id)] = append(sec.SGMembers[int(id)], netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
	}
	// Members of security groups and networks elsewhere: the routes carry
	// their security group ids and network (as the original agent learns
	// the network of an address from its route); networks the agent has
	// no config of (another network connected by a policy) are known
	// this way only.
	a.eachUnicastRouteLocked(func(ue *xmpp.UnicastEntry, p netip.Prefix) {
		if vn := ue.VirtualNetwork; vn != "" {
			sec.VNPrefixes[vn] = append(sec.VNPrefixes[vn], p.Masked())
		}
		for _, id := range ue.SecurityGroups {
			sec.SGMembers[int(id)] = append(sec.SGMembers[int(id)], p.Masked())
		}
	})
	for id, ps := range sec.SGMembers {
		sec.SGMembers[id] = sortPrefixes(ps)
	}
	for vn, ps := range sec.VNPrefixes {
		sec.VNPrefixes[vn] = sortPrefixes(ps)
	}
	a.mu.Unlock()

	t0 := time.Now()
	defer func() { a.log.Debug("services and security applied", "took", time.Since(t0)) }()
	if x.dhcp != nil {
		for name := range x.dhcpSet {
			if _, ok := dhcpWant[name]; !ok {
				x.dhcp.RemovePort(name)
				delete(x.dhcpSet, name)
			}
		}
		// SetPort opens a socket per port; two at a time, so that a burst
		// of new ports leaves CPU to routing.
		var todo []services.PortInfo
		for name, pi := range dhcpWant {
			if old, ok := x.dhcpSet[name]; ok && reflect.DeepEqual(old, pi) {
				continue
			}
			todo = append(todo, pi)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for _, pi := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := x.dhcp.SetPort(pi); err != nil {
					a.log.Warn("DHCP not served on port", "port", pi.Name, "err", err)
					return
				}
				mu.Lock()
				x.dhcpSet[pi.Name] = pi
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	x.dhcpTook = time.Since(t0)
	if x.meta != nil {
		for name := range x.metaSet {
			if _, ok := metaWant[name]; !ok {
				x.meta.RemovePort(name)
				delete(x.metaSet, name)
			}
		}
		for name, mp := range metaWant {
			k := fmt.Sprint(mp)
			if x.metaSet[name] == k {
				continue
			}
			if err := x.meta.SetPort(name, mp.vmi, mp.vm, mp.tenant, mp.ip); err != nil {
				a.log.Warn("metadata proxy not served on port", "port", name, "err", err)
				continue
			}
			x.metaSet[name] = k
		}
	}
	if x.dns != nil {
		for name := range x.dnsSet {
			if _, ok := dnsWant[name]; !ok {
				x.dns.RemovePort(name)
				delete(x.dnsSet, name)
			}
		}
		for name, dp := range dnsWant {
			if x.dnsSet[name] == dp {
				continue
			}
			if err := x.dns.SetPort(dp); err != nil {
				a.log.Warn("DNS proxy not served on port", "port", name, "err", err)
				continue
			}
			x.dnsSet[name] = dp
		}
	}
	secChanged := false
	if x.fw != nil && (x.lastSec == nil || !reflect.DeepEqual(*x.lastSec, sec)) {
		secChanged = true
		nftMu.Lock()
		err := x.fw.Reconcile(ctx, sec)
		nftMu.Unlock()
		if err != nil {
			x.secError = err.Error()
			a.log.Warn("firewall reconcile failed", "err", err)
			x.lastSec = nil
		} else {
			x.secError = ""
			x.lastSec = &sec
		}
	}
	if x.fp != nil {
		// In its own goroutine: the next port's DHCP and rules do not
		// wait for it.
		x.fpMu.Lock()
		x.fpPlan, x.fpSec = plan, x.fpSec || secChanged
		x.fpMu.Unlock()
		select {
		case x.fpKick <- struct{}{}:
		default:
		}
	}
}

// fpInterval is the shortest time between two syncs of the fast path.
const fpInterval = 500 * time.Millisecond

// fpLoop brings the fast path in line with the latest applied plan, at
// most once per fpInterval: a burst of port adds (each a new plan) costs
// a few syncs, each of which lists every device. Held meanwhile, the fast
// path leaves the flows to the stack.
func (x *extensions) fpLoop(ctx context.Context, a *Agent) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.fpKick:
		}
		if wait := fpInterval - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		x.fpMu.Lock()
		plan, sec := x.fpPlan, x.fpSec
		x.fpSec = false
		x.fpMu.Unlock()
		if plan != nil {
			x.syncFastPath(a, plan, sec)
		}
	}
}

// syncFastPath follows a change of the dataplane or the rules: the
// program is attached to the routed ports and the tunnel devices, every
// offloaded flow is dropped (its route or its verdict may have changed)
// and the flow table dumps conntrack to offer the fast path the flows
// that are still there.
func (x *extensions) syncFastPath(a *Agent, plan *dpPlan, secChanged bool) {
	if x.fp == nil || x.flowTab == nil {
		return
	}
	st := plan.state
	if !secChanged && !x.fp.Held() && x.fpState != nil && reflect.DeepEqual(*x.fpState, st) {
		return
	}
	l2 := map[string]bool{}
	devs := map[string]bool{}
	for _, n := range st.Networks {
		if n.L2 {
			l2[n.Name] = true
			continue
		}
		devs[dataplane.DeviceName(n.VNI)] = true
	}
	for _, r := range st.Remote {
		if r.VNI != 0 && !l2[r.Network] {
			devs[dataplane.DeviceName(r.VNI)] = true
		}
	}
	tunnels := make([]string, 0, len(devs))
	for d := range devs {
		tunnels = append(tunnels, d)
	}
	var ports []fastpath.Port
	for _, p := range st.Ports {
		if l2[p.Network] {
			continue
		}
		ports = append(ports, fastpath.Port{Dev: p.Name, MAC: p.MAC, IP: p.IP})
		for _, a := range p.Extra {
			if a.Is4() {
				ports = append(ports, fastpath.Port{Dev: p.Name, MAC: p.MAC, IP: a})
			}
		}
	}
	t0 := time.Now()
	if err := x.fp.SetDevices(ports, tunnels); err != nil {
		a.log.Warn("fast path not on every device", "err", err)
	}
	x.fp.Flush()
	x.fp.Release()
	x.flowTab.Refresh()
	x.fpState = &st
	a.log.Debug("fast path follows the dataplane", "devices", len(ports)+len(tunnels), "took", time.Since(t0))
}

// nftMu serializes firewall reconciles in the process: google/nftables
// allocates set ids from a package variable without a lock, which races
// when two agents run in one process (tests).
var nftMu sync.Mutex

type metaPort struct {
	vmi, vm, tenant string
	ip              netip.Addr
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	sort.Slice(ps, func(i, j int) bool {
		return ps[i].Addr().Less(ps[j].Addr()) || (ps[i].Addr() == ps[j].Addr() && ps[i].Bits() < ps[j].Bits())
	})
	return compactPrefixes(ps)
}

func compactPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == out[len(out)-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// flowRecords returns the flow records of the port connections.
func (x *extensions) flowRecords(ctx context.Context) (any, error) {
	if x.flowTab == nil {
		return []flows.Record{}, nil
	}
	out := map[string]any{"flows": x.flowTab.Snapshot(), "stats": x.flowTab.Stats()}
	if x.fp != nil {
		out["fastpath"] = map[string]any{"stats": x.fp.Stats(), "devices": x.fp.Devices()}
	}
	return out, nil
}

// eachUnicastRouteLocked calls fn with every unicast route the agent
// holds, those of the peers that are up and then those kept stale, and
// its prefix; other entries and routes with a bad prefix are passed over.
// The caller holds a.mu.
func (a *Agent) eachUnicastRouteLocked(fn func(ue *xmpp.UnicastEntry, p netip.Prefix)) {
	tables := []map[string]map[string]xmpp.Entry{}
	for _, p := range a.peers {
		if p.up {
			tables = append(tables, p.routes)
		}
	}
	for _, m := range append(tables, a.stale...) {
		for _, items := range m {
			for _, e := range items {
				ue, ok := e.(*xmpp.UnicastEntry)
				if !ok {
					continue
				}
				p, err := netip.ParsePrefix(ue.NLRI.Address)
				if err != nil {
					continue
				}
				fn(ue, p)
			}
		}
	}
}
