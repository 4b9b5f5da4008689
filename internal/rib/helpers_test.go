// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
)

// env is a RIB with named peers and a shadow of what Drain reported.
type env struct {
	t      testing.TB
	r      *RIB
	peers  map[string]PeerID
	shadow map[string][]*Path // "inst|fam|key" -> last reported best set
	calls  int
}

func newEnv(t testing.TB, opts ...Option) *env {
	return &env{t: t, r: New(opts...), peers: map[string]PeerID{}, shadow: map[string][]*Path{}}
}

func rtOf(s string) RouteTarget { return MustParseRouteTarget("target:" + s) }

func rts(ss ...string) []RouteTarget {
	var out []RouteTarget
	for _, s := range ss {
		out = append(out, rtOf(s))
	}
	return out
}

// instance creates or updates an instance with import and export targets
// given as "64512:1" strings.
func (e *env) instance(name string, imports, exports []string) {
	e.t.Helper()
	if err := e.r.SetInstance(InstanceConfig{Name: name, ImportTargets: rts(imports...), ExportTargets: rts(exports...)}); err != nil {
		e.t.Fatalf("SetInstance %s: %v", name, err)
	}
}

// agent registers an XMPP peer whose name is its address.
func (e *env) agent(ip string) PeerID {
	return e.peer(PeerXMPP, ip, PeerInfo{Addr: netip.MustParseAddr(ip)})
}

func (e *env) bgp(ip string, external bool) PeerID {
	return e.peer(PeerBGP, "bgp-"+ip, PeerInfo{Addr: netip.MustParseAddr(ip), External: external})
}

func (e *env) peer(kind PeerKind, name string, info PeerInfo) PeerID {
	e.t.Helper()
	info.Kind, info.Name = kind, name
	id, err := e.r.AddPeer(info)
	if err != nil {
		e.t.Fatal(err)
	}
	e.peers[name] = id
	return id
}

// agentAttrs are the attributes an agent at ip publishes in its VRF with
// instance id n.
func agentAttrs(ip string, n uint16) *Attrs {
	a := netip.MustParseAddr(ip)
	return &Attrs{NextHop: a, Encap: EncapGRE | EncapUDP, VirtualNetwork: "vn", LocalPref: 100,
		MED: DefaultMED(100), SourceRD: RDFromAddr(a, n), SecurityGroups: []uint32{8000001}}
}

func pfx(s string) Key { return PrefixKey(netip.MustParsePrefix(s)) }

// publish adds an agent route: the agent at ip publishes prefix in inst
// with instance id 1 and the given label.
func (e *env) publish(inst, ip, prefix string, label uint32) {
	e.t.Helper()
	e.publishAttrs(inst, ip, prefix, label, agentAttrs(ip, 1))
}

func (e *env) publishAttrs(inst, ip, prefix string, label uint32, a *Attrs) {
	e.t.Helper()
	if err := e.r.AddPath(inst, Inet, pfx(prefix), e.peers[ip], label, a); err != nil {
		e.t.Fatalf("AddPath %s %s %s: %v", inst, ip, prefix, err)
	}
	e.check()
}

func (e *env) withdraw(inst, ip, prefix string) {
	e.t.Helper()
	if err := e.r.DeletePath(inst, Inet, pfx(prefix), e.peers[ip]); err != nil {
		e.t.Fatalf("DeletePath %s %s %s: %v", inst, ip, prefix, err)
	}
	e.check()
}

// nhs formats a best set as "ip/label" strings in order.
func nhs(best []*Path) []string {
	out := []string{}
	for _, p := range best {
		out = append(out, fmt.Sprintf("%s/%d", p.NextHop(), p.Label()))
	}
	return out
}

// best returns the best set of a VRF inet route as nhs.
func (e *env) best(inst, prefix string) []string {
	ri, ok := e.r.Route(inst, Inet, pfx(prefix))
	if !ok {
		return []string{}
	}
	return nhs(ri.Paths[:ri.ECMP])
}

// prefixes returns the sorted prefixes of the inet table of inst.
func (e *env) prefixes(inst string) []string {
	out := []string{}
	for ri := range e.r.Routes(inst, Inet) {
		out = append(out, ri.Key.String())
	}
	sort.Strings(out)
	return out
}

// drain drains everything into the shadow and returns the calls as
// sorted "inst|fam|key=nh,nh" strings.
func (e *env) drain() []string {
	e.t.Helper()
	var out []string
	e.r.Drain(0, func(inst string, fam Family, key Key, best []*Path) {
		k := inst + "|" + fam.String() + "|" + key.String()
		if len(best) == 0 {
			if _, ok := e.shadow[k]; !ok {
				e.t.Errorf("withdraw of %s, which was never announced", k)
			}
			delete(e.shadow, k)
		} else {
			e.shadow[k] = slices.Clone(best)
		}
		out = append(out, k+"="+strings.Join(nhs(best), ","))
		e.calls++
	})
	sort.Strings(out)
	e.checkShadow()
	return out
}

// checkShadow verifies that what Drain reported equals the RIB's state.
func (e *env) checkShadow() {
	e.t.Helper()
	seen := 0
	visit := func(in *instance) {
		for f, t := range in.tables {
			if t == nil {
				continue
			}
			for rt := range t.all {
				if len(rt.paths) == 0 {
					continue
				}
				seen++
				k := in.name + "|" + Family(f).String() + "|" + rt.key.String()
				if got, want := e.shadow[k], rt.paths[:rt.nbest]; !slices.Equal(got, want) {
					e.t.Errorf("drained state of %s = %v, RIB has %v", k, nhs(got), nhs(want))
				}
			}
		}
	}
	visit(e.r.master)
	for _, in := range e.r.instances {
		visit(in)
	}
	if seen != len(e.shadow) {
		e.t.Errorf("drained %d routes, RIB has %d", len(e.shadow), seen)
	}
}

// check verifies the RIB's invariants.
func (e *env) check() {
	e.t.Helper()
	checkInvariants(e.t, e.r)
}

func checkInvariants(t testing.TB, r *RIB) {
	t.Helper()
	refs := map[*Attrs]int32{}
	npaths := 0
	peerCount := map[PeerID]int{}
	all := append([]*instance{r.master}, mapValues(r.instances)...)
	for _, in := range all {
		for f, tb := range in.tables {
			if tb == nil {
				continue
			}
			count, tp := 0, 0
			for rt := range tb.all {
				k := rt.key
				if tb.lookup(k) != rt || rt.tbl != tb || Family(f) != tb.fam {
					t.Fatalf("%s: route %s misfiled", TableName(in.name, tb.fam), k)
				}
				if len(rt.paths) == 0 {
					if !rt.dirty {
						t.Errorf("%s %s: empty route not queued", TableName(in.name, tb.fam), k)
					}
					continue
				}
				count++
				tp += len(rt.paths)
				for i, p := range rt.paths {
					npaths++
					refs[p.attrs]++
					if p.route != rt {
						t.Errorf("%s: path in wrong route", k)
					}
					if i > 0 && r.compare(rt.paths[i-1], p, false) > 0 {
						t.Errorf("%s %s: paths out of order at %d:\n%s", TableName(in.name, tb.fam), k, i, dumpRoute(r, rt))
					}
					checkPathLinks(t, r, in, p)
					if p.src == nil {
						peerCount[p.peer]++
					}
				}
				n := 1
				for n < len(rt.paths) && r.compare(rt.paths[0], rt.paths[n], true) == 0 {
					n++
				}
				if int(rt.nbest) != n {
					t.Errorf("%s: nbest %d, want %d", k, rt.nbest, n)
				}
			}
			if count != tb.count || tp != tb.npaths {
				t.Errorf("%s: count %d/%d paths %d/%d", TableName(in.name, tb.fam), tb.count, count, tb.npaths, tp)
			}
		}
	}
	if npaths != r.npaths {
		t.Errorf("npaths %d, counted %d", r.npaths, npaths)
	}
	for a, n := range refs {
		if a.refs != n || a.table != &r.attrs {
			t.Errorf("attrs %p: refs %d, used by %d paths", a, a.refs, n)
		}
	}
	for rt, set := range r.vpnByRT {
		if len(set) == 0 {
			t.Errorf("empty index set for %s", rt)
		}
		for p := range set {
			if !p.route.tbl.inst.master || !slices.Contains(p.route.paths, p) || !slices.Contains(p.attrs.RouteTargets, rt) {
				t.Errorf("index for %s holds a dead or foreign path %s", rt, p.route.key)
			}
		}
	}
	for rt, ins := range r.importers {
		for _, in := range ins {
			if r.instances[in.name] != in || !slices.Contains(in.imports, rt) {
				t.Errorf("importers of %s lists %s", rt, in.name)
			}
		}
	}
	for _, in := range r.instances {
		for _, rt := range in.imports {
			if !slices.Contains(r.importers[rt], in) {
				t.Errorf("%s missing from importers of %s", in.name, rt)
			}
		}
	}
	if len(refs) != r.attrs.n {
		t.Errorf("attr table holds %d, paths use %d", r.attrs.n, len(refs))
	}
	for i := range r.peers {
		ps := &r.peers[i]
		if ps.id == 0 {
			continue
		}
		n := 0
		for p := ps.head; p != nil; p = p.links.nextPeer {
			n++
			if p.peer != ps.id || p.src != nil {
				t.Errorf("peer list of %s holds a foreign path", ps.info.Name)
			}
		}
		if n != ps.count || n != peerCount[ps.id] {
			t.Errorf("peer %s: list %d, count %d, paths %d", ps.info.Name, n, ps.count, peerCount[ps.id])
		}
	}
}

// checkPathLinks verifies export and import links of p, which is in
// instance in, against the RT configuration.
func checkPathLinks(t testing.TB, r *RIB, in *instance, p *Path) {
	t.Helper()
	switch {
	case !in.master && p.src == nil: // VRF primary
		vp := p.links.exported
		rd := p.attrs.SourceRD
		if rd == 0 {
			rd = in.rd
		}
		if len(in.exports) == 0 || rd == 0 {
			if vp != nil {
				t.Errorf("%s %s: exported without targets", in.name, p.route.key)
			}
			return
		}
		if vp == nil || vp.src != p || vp.route.key != p.route.key.vpnKey(rd) ||
			!slices.Equal(vp.attrs.RouteTargets, in.exports) || !slices.Contains(vp.route.paths, vp) || vp.label != p.label {
			t.Errorf("%s %s: bad export %v", in.name, p.route.key, vp)
			return
		}
		want := p.attrs.Clone()
		want.RouteTargets, want.SourceRD = in.exports, rd
		if !vp.attrs.Equal(want) {
			t.Errorf("%s %s: exported attributes differ from the VRF path's", in.name, p.route.key)
		}
	case !in.master: // imported
		vp := p.src
		if p.links != nil || !vp.route.tbl.inst.master || !slices.Contains(vp.links.imports, p) ||
			p.attrs != vp.attrs || p.label != vp.label || p.peer != vp.peer {
			t.Errorf("%s %s: bad import", in.name, p.route.key)
		}
	default: // VPN path
		want := map[*instance]bool{}
		for _, other := range r.instances {
			if other != p.originInstance() && intersects(other.imports, p.attrs.RouteTargets) {
				want[other] = true
			}
		}
		got := map[*instance]bool{}
		for _, s := range p.links.imports {
			if got[s.route.tbl.inst] {
				t.Errorf("%s: imported twice into %s", p.route.key, s.route.tbl.inst.name)
			}
			got[s.route.tbl.inst] = true
			if !slices.Contains(s.route.paths, s) || s.route.key != p.route.key.vrfKey() {
				t.Errorf("%s: dangling import in %s", p.route.key, s.route.tbl.inst.name)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: imported into %d instances, want %d", p.route.key, len(got), len(want))
		}
		for in := range want {
			if !got[in] {
				t.Errorf("%s: not imported into %s", p.route.key, in.name)
			}
		}
		for _, rt := range p.attrs.RouteTargets {
			if _, ok := r.vpnByRT[rt][p]; !ok {
				t.Errorf("%s: not indexed under %s", p.route.key, rt)
			}
		}
		if p.src != nil && p.src.links.exported != p {
			t.Errorf("%s: export back link broken", p.route.key)
		}
	}
}

func dumpRoute(r *RIB, rt *route) string {
	var b strings.Builder
	for i, p := range rt.paths {
		a := p.attrs
		info, _ := r.Peer(p.peer)
		fmt.Fprintf(&b, "%d: peer=%s lp=%d seq=%d aslen=%d nas=%d med=%d dominated=%v copy=%v rd=%s\n", i, info.Name,
			a.LocalPref, a.Mobility.Seq, a.asPathLen, a.neighborAS, a.MED, p.flags&flagMEDDominated != 0, p.src != nil, p.SourceRD())
	}
	return b.String()
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
