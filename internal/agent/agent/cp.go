// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"context"
	"github.com/contrail-go/contrail/internal/agent/portapi"
	"net/netip"
	"sort"
	"time"

	"github.com/contrail-go/contrail/internal/agent/controller"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// cpLoop keeps every control-node session in step with the ports: config
// subscriptions, routing-instance subscriptions and published routes.
func (a *Agent) cpLoop(ctx context.Context) {
	var took time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cpKick:
		}
		// Gather changes for the debounce, and for at least twice what the
		// last sync took: a sync walks every port under the agent's lock,
		// and in a burst of port adds (each one kicks) back-to-back syncs
		// would keep the adds waiting for the lock.
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(a.cfg.Debounce, 2*took)):
		}
		start := time.Now()
		a.syncControl()
		took = time.Since(start)
	}
}

// wantRoute is one route the agent publishes.
type wantRoute struct {
	entry xmpp.Entry
	raw   []byte
}

// sessionOps are the writes one session needs, computed under the lock.
type sessionOps struct {
	c         *controller.Client
	p         *peer
	cfgSub    bool
	vmSub     []string
	vmUnsub   []string
	subscribe []string
	unsub     []string
	ids       map[string]int
	publish   map[string][]xmpp.Entry
	withdraw  map[string][]xmpp.Entry
	eor       bool
}

func (a *Agent) syncControl() {
	a.mu.Lock()
	views := a.resolveLocked()
	want := a.wantedRoutesLocked(views)
	a.wantRIs = len(want)
	vms := map[string]bool{}
	for _, e := range a.ports {
		vms[e.port.InstanceID] = true
	}
	for vm := range a.pendVMs {
		vms[vm] = true
	}
	var ops []*sessionOps
	for _, p := range a.peers {
		if !p.up || p.client == nil {
			continue
		}
		op := &sessionOps{c: p.client, p: p, ids: map[string]int{}, publish: map[string][]xmpp.Entry{}, withdraw: map[string][]xmpp.Entry{}}
		if a.cfgPeer == p {
			if !p.cfgSub {
				op.cfgSub, p.cfgSub = true, true
				a.cfgSince = time.Now()
			}
			for vm := range vms {
				if !p.vms[vm] {
					op.vmSub = append(op.vmSub, vm)
					p.vms[vm] = true
				}
			}
			for vm := range p.vms {
				if !vms[vm] {
					op.vmUnsub = append(op.vmUnsub, vm)
					delete(p.vms, vm)
				}
			}
		}
		for inst := range want {
			if _, ok := p.subs[inst]; !ok {
				id := a.instanceIDLocked(inst)
				p.subs[inst] = id
				op.subscribe = append(op.subscribe, inst)
				op.ids[inst] = id
			}
		}
		for inst := range p.subs {
			if _, ok := want[inst]; !ok {
				delete(p.subs, inst)
				delete(p.published, inst)
				op.unsub = append(op.unsub, inst)
				// Routes received for it are no longer wanted.
				for node := range p.routes {
					if _, ri, err := xmpp.ParseItemsNode(node); err == nil && ri == inst {
						delete(p.routes, node)
					}
				}
			}
		}
		for inst, routes := range want {
			pub := p.published[inst]
			if pub == nil {
				pub = map[string]wantRoute{}
				p.published[inst] = pub
			}
			for node, r := range routes {
				if old, ok := pub[node]; ok && bytes.Equal(old.raw, r.raw) {
					continue
				}
				pub[node] = r
				op.publish[inst] = append(op.publish[inst], r.entry)
			}
			for node, old := range pub {
				if _, ok := routes[node]; ok {
					continue
				}
				delete(pub, node)
				op.withdraw[inst] = append(op.withdraw[inst], old.entry)
			}
		}
		if !p.eorSent && (a.cfgPeer != p || a.configSyncedLocked()) {
			p.eorSent, op.eor = true, true
		}
		ops = append(ops, op)
	}
	a.mu.Unlock()
	for _, op := range ops {
		a.runOps(op)
	}
}

// runOps writes one session's changes: subscriptions first (the control
// node refuses a publish to an instance not subscribed), then routes.
// A failed write means the session is ending; it is resynced when it
// comes back.
func (a *Agent) runOps(op *sessionOps) {
	c := op.c
	fail := func(err error) bool {
		if err != nil {
			a.log.Debug("write to control node failed", "control_node", op.p.addr, "err", err)
			return true
		}
		return false
	}
	if op.cfgSub && fail(c.SubscribeConfig(a.cfg.VRouterFQName())) {
		return
	}
	sort.Strings(op.vmSub)
	for _, vm := range op.vmSub {
		if fail(c.SubscribeVM(vm)) {
			return
		}
	}
	for _, vm := range op.vmUnsub {
		if fail(c.UnsubscribeVM(vm)) {
			return
		}
	}
	sort.Strings(op.unsub)
	for _, inst := range op.unsub {
		if fail(c.Unsubscribe(inst)) {
			return
		}
	}
	sort.Strings(op.subscribe)
	for _, inst := range op.subscribe {
		if fail(c.Subscribe(inst, op.ids[inst])) {
			return
		}
	}
	for inst, es := range op.withdraw {
		if fail(c.PublishMany(inst, es, true)) {
			return
		}
		a.m.routesWithdrawn.Add(float64(len(es)))
	}
	for inst, es := range op.publish {
		if fail(c.PublishMany(inst, es, false)) {
			return
		}
		a.m.routesPublished.Add(float64(len(es)))
	}
	if op.eor {
		fail(c.EndOfRib())
	}
}

func (a *Agent) instanceIDLocked(inst string) int {
	if id, ok := a.instIDs[inst]; ok {
		return id
	}
	id := len(a.instIDs) + 1
	a.instIDs[inst] = id
	return id
}

// cachedView is a resolved port, kept until the port or the config
// changes (any config message invalidates every view).
type cachedView struct {
	port   portapi.Port
	gen    uint64
	view   *portView
	routes []instRoute
	routed bool
}

type instRoute struct {
	inst, node string
	r          wantRoute
}

// resolveLocked resolves every port against the config, reusing what did
// not change.
func (a *Agent) resolveLocked() map[string]*portView {
	var r *resolver
	out := make(map[string]*portView, len(a.ports))
	for id, e := range a.ports {
		if c := a.vcache[id]; c != nil && c.gen == a.db.gen && c.port == e.port {
			out[id] = c.view
			continue
		}
		if r == nil {
			r = newResolver(a.db)
		}
		v := r.port(e.port)
		a.vcache[id] = &cachedView{port: e.port, gen: a.db.gen, view: v}
		out[id] = v
	}
	for id := range a.vcache {
		if _, ok := a.ports[id]; !ok {
			delete(a.vcache, id)
		}
	}
	return out
}

// wantedRoutesLocked lists, per routing instance, the routes of the local
// ports: inet (and inet6) for each address, EVPN MAC+IP, and each
// floating IP in its network's instance. An instance with ports but no
// routes is still listed (it is subscribed to, for the routes of others).
func (a *Agent) wantedRoutesLocked(views map[string]*portView) map[string]map[string]wantRoute {
	want := map[string]map[string]wantRoute{}
	for id := range views {
		c := a.vcache[id]
		if c == nil {
			continue
		}
		if !c.routed {
			c.routes, c.routed = a.portRoutes(c.view), true
		}
		if c.view.active() && want[c.view.vn.ri] == nil {
			want[c.view.vn.ri] = map[string]wantRoute{}
		}
		for _, r := range c.routes {
			m := want[r.inst]
			if m == nil {
				m = map[string]wantRoute{}
				want[r.inst] = m
			}
			m[r.node] = r.r
		}
	}
	return want
}

// portRoutes lists the routes of one port.
func (a *Agent) portRoutes(v *portView) []instRoute {
	var out []instRoute
	add := func(inst, node string, e xmpp.Entry) {
		out = append(out, instRoute{inst: inst, node: node, r: wantRoute{entry: e, raw: e.AppendMarshal(nil)}})
	}
	if !v.active() {
		return nil
	}
	tunnel := a.cfg.TunnelIP.String()
	vn := v.vn
	nh := []xmpp.NextHop{{AF: 1, Address: tunnel, Label: vn.vni, TunnelEncapsulation: []string{"vxlan"}, VirtualNetwork: vn.name}}
	if vn.mode != modeL2 {
		for _, ip := range append(v.ips[:len(v.ips):len(v.ips)], v.ip6s...) {
			fam := xmpp.FamilyInet
			if ip.Is6() {
				fam = xmpp.FamilyInet6
			}
			pfx := netip.PrefixFrom(ip, ip.BitLen()).String()
			e := &xmpp.UnicastEntry{
				NLRI:     xmpp.NLRI{AF: fam.AF, SAFI: fam.SAFI, Address: pfx},
				NextHops: nh, Version: 1, VirtualNetwork: vn.name,
				SecurityGroups: v.sgID, LocalPreference: 100, SubProtocol: "interface",
			}
			add(vn.ri, xmpp.RouteNode(fam, vn.ri, pfx), e)
		}
	}
	if vn.mode != modeL3 && v.mac != nil {
		ips := v.ips
		if len(ips) == 0 {
			ips = []netip.Addr{netip.IPv4Unspecified()}
		}
		for _, ip := range ips {
			pfx := netip.PrefixFrom(ip, 32).String()
			e := &xmpp.EVPNEntry{
				NLRI:           xmpp.EVPNNLRI{AF: xmpp.AFL2VPN, SAFI: xmpp.SAFIEnet, MAC: v.mac.String(), Address: pfx},
				NextHops:       []xmpp.EVPNNextHop{{AF: 1, Address: tunnel, Label: vn.vni, TunnelEncapsulation: []string{"vxlan"}}},
				VirtualNetwork: vn.name, SecurityGroups: v.sgID, LocalPreference: 100,
			}
			add(vn.ri, xmpp.EVPNRouteNode(v.mac.String(), pfx), e)
		}
	}
	for _, f := range v.fips {
		pfx := netip.PrefixFrom(f.addr, 32).String()
		e := &xmpp.UnicastEntry{
			NLRI: xmpp.NLRI{AF: 1, SAFI: 1, Address: pfx},
			NextHops: []xmpp.NextHop{{AF: 1, Address: tunnel, Label: f.vn.vni, TunnelEncapsulation: []string{"vxlan"},
				VirtualNetwork: f.vn.name}},
			Version: 1, VirtualNetwork: f.vn.name, SecurityGroups: v.sgID, LocalPreference: 100, SubProtocol: "interface",
		}
		add(f.vn.ri, xmpp.RouteNode(xmpp.FamilyInet, f.vn.ri, pfx), e)
	}
	return out
}
