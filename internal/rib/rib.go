// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"slices"
)

// RIB owns the routing instances, the master VPN tables, the peers and the
// interned attributes. It is not safe for concurrent use: one event loop
// owns it (STYLE.md section 2), mutates it, and drains its change
// notifications.
type RIB struct {
	instances map[string]*instance
	master    *instance

	// importers lists, per route target, the instances importing it.
	importers map[RouteTarget][]*instance
	// vpnByRT indexes VPN paths by the route targets they carry, so that
	// an import target change touches only the routes it concerns.
	vpnByRT map[RouteTarget]map[*Path]struct{}

	peers      []peerState // slot 0 unused
	peerByName map[peerName]PeerID
	freePeers  []uint32
	peerGen    uint32

	attrs attrTable

	dirty     []*route // routes whose best set changed, in order of first change
	dirtyHead int      // dirty[:dirtyHead] are drained

	epoch    uint64 // marks instances during import fan-out
	npaths   int
	draining bool

	alwaysCompareMED bool
}

// Option configures a RIB.
type Option func(*RIB)

// WithAlwaysCompareMED compares MED between paths from different
// neighbor ASes too (the original's always-compare-med knob).
func WithAlwaysCompareMED(on bool) Option {
	return func(r *RIB) { r.alwaysCompareMED = on }
}

// New returns an empty RIB with the master instance's VPN tables.
func New(opts ...Option) *RIB {
	r := &RIB{
		instances:  make(map[string]*instance),
		importers:  make(map[RouteTarget][]*instance),
		vpnByRT:    make(map[RouteTarget]map[*Path]struct{}),
		peers:      make([]peerState, 1),
		peerByName: make(map[peerName]PeerID),
		attrs:      newAttrTable(),
	}
	r.master = &instance{name: MasterInstance, master: true}
	for _, o := range opts {
		o(r)
	}
	return r
}

// instance is a routing instance (VRF), or the master instance holding
// the VPN tables.
type instance struct {
	name    string
	rd      RD
	imports []RouteTarget // sorted, unique
	exports []RouteTarget // sorted, unique
	tables  [numFamilies]*table
	mark    uint64
	master  bool
}

func (in *instance) table(f Family) *table {
	t := in.tables[f]
	if t == nil {
		t = &table{inst: in, fam: f}
		if f == Inet {
			t.inet = make(map[uint64]*route)
		} else {
			t.routes = make(map[Key]*route)
		}
		in.tables[f] = t
	}
	return t
}

// table is the routes of one family in one instance. Both maps include
// emptied routes until they are drained.
//
// VRF inet tables, the most numerous and largest when instances import
// each other, key their map by the prefix packed into a uint64 (address
// << 8 | length): 16-byte map slots instead of 48, and a faster hash.
type table struct {
	inst   *instance
	fam    Family
	routes map[Key]*route    // every table but inet
	inet   map[uint64]*route // inet tables
	count  int               // routes with at least one path
	npaths int
}

// inetKey packs a key of an inet VRF table.
func inetKey(k Key) uint64 {
	return uint64(k.addr[0])<<32 | uint64(k.addr[1])<<24 | uint64(k.addr[2])<<16 | uint64(k.addr[3])<<8 | uint64(k.bits)
}

// lookup returns the route of k, nil if there is none.
func (t *table) lookup(k Key) *route {
	if t.inet != nil {
		if k.kind != kindInet4 || k.rd != 0 {
			return nil
		}
		return t.inet[inetKey(k)]
	}
	return t.routes[k]
}

// get returns the route of k, creating an empty one if needed; k must be
// valid for the table.
func (t *table) get(k Key) *route {
	if t.inet != nil {
		ik := inetKey(k)
		rt := t.inet[ik]
		if rt == nil {
			rt = newRoute(t, k)
			t.inet[ik] = rt
		}
		return rt
	}
	rt := t.routes[k]
	if rt == nil {
		rt = newRoute(t, k)
		t.routes[k] = rt
	}
	return rt
}

// forget removes an emptied route from the map.
func (t *table) forget(rt *route) {
	if t.inet != nil {
		ik := inetKey(rt.key)
		if t.inet[ik] == rt {
			delete(t.inet, ik)
		}
		return
	}
	if t.routes[rt.key] == rt {
		delete(t.routes, rt.key)
	}
}

// all iterates over the routes, emptied ones included. The table may be
// changed during the iteration.
func (t *table) all(yield func(*route) bool) {
	if t.inet != nil {
		for _, rt := range t.inet {
			if !yield(rt) {
				return
			}
		}
		return
	}
	for _, rt := range t.routes {
		if !yield(rt) {
			return
		}
	}
}

// size is the number of routes in the map, emptied ones included.
func (t *table) size() int { return len(t.routes) + len(t.inet) }

func newRoute(t *table, k Key) *route {
	rt := &route{key: k, tbl: t}
	rt.paths = rt.inline[:0]
	return rt
}

// route is the paths of one key in one table, best first. paths[:nbest]
// is the ECMP best set.
type route struct {
	key       Key
	tbl       *table
	paths     []*Path
	inline    [1]*Path // backing array of paths while it has one path
	nbest     int32
	dirty     bool // queued for Drain
	notified  bool // the last Drain reported a non-empty best set
	medSorted bool // paths carry MED-dominated marks (see medGroups)
}

func (rt *route) primary(peer PeerID) *Path {
	for _, p := range rt.paths {
		if p.src == nil && p.peer == peer {
			return p
		}
	}
	return nil
}

// InstanceConfig is the configuration of a routing instance.
type InstanceConfig struct {
	// Name is the routing instance's fq-name, e.g.
	// default-domain:admin:vn1:vn1.
	Name string
	// RD is the instance RD (<control-node-router-id>:<instance-index> in
	// the original), used to export paths that have no SourceRD. Paths of
	// an instance with neither are not exported.
	RD RD
	// ImportTargets select the VPN routes imported into the instance.
	ImportTargets []RouteTarget
	// ExportTargets are attached to the instance's paths on export. An
	// instance without export targets exports nothing.
	ExportTargets []RouteTarget
}

// SetInstance creates an instance or updates one. A new instance imports
// the VPN routes its import targets select; changed import targets import
// and withdraw the routes concerned; changed export targets or RD
// re-export the instance's paths, which re-runs their import into other
// instances.
func (r *RIB) SetInstance(cfg InstanceConfig) error {
	r.checkMutable()
	if cfg.Name == "" || cfg.Name == MasterInstance {
		return ErrBadInstance
	}
	imports := toSet(slices.Clone(cfg.ImportTargets))
	exports := toSet(slices.Clone(cfg.ExportTargets))
	in := r.instances[cfg.Name]
	if in == nil {
		in = &instance{name: cfg.Name, rd: cfg.RD, exports: exports}
		r.instances[cfg.Name] = in
		r.setImports(in, imports)
		return nil
	}
	if !slices.Equal(in.imports, imports) {
		r.setImports(in, imports)
	}
	if in.rd != cfg.RD || !slices.Equal(in.exports, exports) {
		in.rd = cfg.RD
		in.exports = exports
		for _, t := range in.tables {
			if t == nil {
				continue
			}
			for rt := range t.all {
				for _, p := range rt.paths {
					if p.src == nil {
						r.export(p)
					}
				}
			}
		}
	}
	return nil
}

// DeleteInstance deletes an instance with every path in it: paths added
// to it (and their VPN copies) and paths imported into it. Drain reports
// the withdrawals.
func (r *RIB) DeleteInstance(name string) error {
	r.checkMutable()
	in := r.instances[name]
	if in == nil {
		return ErrNoInstance
	}
	r.setImports(in, nil)
	for _, t := range in.tables {
		if t == nil {
			continue
		}
		for rt := range t.all {
			for len(rt.paths) > 0 {
				p := rt.paths[len(rt.paths)-1]
				if p.src != nil {
					r.dropImport(p)
				} else {
					r.deletePath(p)
				}
			}
		}
	}
	delete(r.instances, name)
	return nil
}

// setImports changes in's import targets to imports (a sorted set),
// importing and withdrawing the VPN paths concerned.
func (r *RIB) setImports(in *instance, imports []RouteTarget) {
	old := in.imports
	in.imports = imports
	for _, rt := range old {
		if _, ok := slices.BinarySearch(imports, rt); ok {
			continue
		}
		l := r.importers[rt]
		if i := slices.Index(l, in); i >= 0 {
			l = slices.Delete(l, i, i+1)
		}
		if len(l) == 0 {
			delete(r.importers, rt)
		} else {
			r.importers[rt] = l
		}
		for vp := range r.vpnByRT[rt] {
			if s := importIn(vp, in); s != nil && !intersects(vp.attrs.RouteTargets, imports) {
				r.dropImport(s)
			}
		}
	}
	for _, rt := range imports {
		if _, ok := slices.BinarySearch(old, rt); ok {
			continue
		}
		r.importers[rt] = append(r.importers[rt], in)
		for vp := range r.vpnByRT[rt] {
			if vp.originInstance() != in && importIn(vp, in) == nil {
				r.importInto(vp, in)
			}
		}
	}
}

// importIn returns vp's copy in instance in, if any.
func importIn(vp *Path, in *instance) *Path {
	for _, s := range vp.links.imports {
		if s.route.tbl.inst == in {
			return s
		}
	}
	return nil
}

// originInstance returns the VRF a VPN path was exported from; nil for a
// path learned from a BGP peer.
func (p *Path) originInstance() *instance {
	if p.src == nil {
		return nil
	}
	return p.src.route.tbl.inst
}

// intersects reports whether two sorted sets share an element.
func intersects(a, b []RouteTarget) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}

// AddPath adds or replaces the path that peer has for key in the VRF table
// fam (Inet, Inet6 or EVPN) of instance inst: an agent publishing a route.
// attrs is interned (see Attrs) and not retained. The path is exported to
// the VPN table fam.VPN() with RD attrs.SourceRD (the instance RD when
// zero) and the instance's export targets, and from there imported into
// every other instance whose import targets match. Adding a path equal to
// the current one only clears its stale mark.
func (r *RIB) AddPath(inst string, fam Family, key Key, peer PeerID, label uint32, attrs *Attrs) error {
	r.checkMutable()
	in := r.instances[inst]
	switch {
	case in == nil:
		return ErrNoInstance
	case !fam.isVRF():
		return ErrBadFamily
	case !key.validFor(fam, false):
		return ErrBadKey
	case r.peer(peer) == nil:
		return ErrUnknownPeer
	}
	rt := in.table(fam).get(key)
	old := rt.primary(peer)
	a := r.internFor(old, attrs)
	if old != nil && old.attrs == a && old.label == label {
		r.attrs.release(a)
		old.flags &^= flagStale
		return nil
	}
	np := &Path{route: rt, peer: peer, label: label, attrs: a, links: &pathLinks{}}
	if old != nil {
		np.links.exported, old.links.exported = old.links.exported, nil
		r.swapPeer(old, np)
		r.replace(rt, old, np)
		r.attrs.release(old.attrs)
	} else {
		r.linkPeer(np)
		r.insert(rt, np)
	}
	r.export(np)
	return nil
}

// internFor interns attrs for a path replacing old. An update usually
// repeats the attributes of the path it replaces (a new label, a
// re-publish after graceful restart); comparing with them, which are in
// cache, saves the hash and the table lookup.
func (r *RIB) internFor(old *Path, attrs *Attrs) *Attrs {
	if old != nil && attrs != nil && attrs.table != &r.attrs && old.attrs.Equal(attrs) {
		return r.attrs.ref(old.attrs)
	}
	return r.attrs.intern(attrs)
}

// DeletePath deletes the path that peer has for key in the VRF table fam
// of instance inst, with its exported and imported copies.
func (r *RIB) DeletePath(inst string, fam Family, key Key, peer PeerID) error {
	r.checkMutable()
	in := r.instances[inst]
	if in == nil {
		return ErrNoInstance
	}
	if !fam.isVRF() {
		return ErrBadFamily
	}
	t := in.tables[fam]
	if t == nil {
		return ErrNoPath
	}
	rt := t.lookup(key)
	if rt == nil {
		return ErrNoPath
	}
	p := rt.primary(peer)
	if p == nil {
		return ErrNoPath
	}
	r.deletePath(p)
	return nil
}

// AddVPNPath adds or replaces the path that peer (usually a BGP neighbor)
// has for key in the VPN table fam (InetVPN, Inet6VPN or EVPN); key must
// carry an RD. The path is imported into every instance whose import
// targets intersect attrs.RouteTargets.
func (r *RIB) AddVPNPath(fam Family, key Key, peer PeerID, label uint32, attrs *Attrs) error {
	r.checkMutable()
	switch {
	case !fam.isVPN():
		return ErrBadFamily
	case !key.validFor(fam, true):
		return ErrBadKey
	case r.peer(peer) == nil:
		return ErrUnknownPeer
	}
	rt := r.master.table(fam).get(key)
	old := rt.primary(peer)
	a := r.internFor(old, attrs)
	if old != nil && old.attrs == a && old.label == label {
		r.attrs.release(a)
		old.flags &^= flagStale
		return nil
	}
	np := &Path{route: rt, peer: peer, label: label, attrs: a, links: &pathLinks{}}
	if old != nil {
		r.swapPeer(old, np)
	} else {
		r.linkPeer(np)
	}
	r.installVPN(rt, np, old)
	return nil
}

// DeleteVPNPath deletes the path that peer has for key in the VPN table
// fam, with its imported copies.
func (r *RIB) DeleteVPNPath(fam Family, key Key, peer PeerID) error {
	r.checkMutable()
	if !fam.isVPN() {
		return ErrBadFamily
	}
	t := r.master.tables[fam]
	if t == nil {
		return ErrNoPath
	}
	rt := t.lookup(key)
	if rt == nil {
		return ErrNoPath
	}
	p := rt.primary(peer)
	if p == nil {
		return ErrNoPath
	}
	r.deletePath(p)
	return nil
}

// export brings the VPN copy of VRF primary path p up to date with p and
// its instance's export targets and RD. p.links.exported is the current
// copy, which may belong to p's predecessor.
func (r *RIB) export(p *Path) {
	in := p.route.tbl.inst
	old := p.links.exported
	rd := p.attrs.SourceRD
	if rd == 0 {
		rd = in.rd
	}
	if len(in.exports) == 0 || rd == 0 {
		if old != nil {
			r.deletePath(old)
			p.links.exported = nil
		}
		return
	}
	vkey := p.route.key.vpnKey(rd)
	var va *Attrs
	if old != nil && old.src.attrs == p.attrs && old.attrs.SourceRD == rd && slices.Equal(old.attrs.RouteTargets, in.exports) {
		// The VRF attributes did not change (old.src, p's predecessor,
		// still holds them through p) and neither did the export.
		va = r.attrs.ref(old.attrs)
	} else {
		tmp := *p.attrs
		tmp.RouteTargets = in.exports
		tmp.SourceRD = rd
		va = r.attrs.internValue(&tmp)
	}
	if old != nil && old.src == p && old.attrs == va && old.label == p.label && old.route.key == vkey {
		r.attrs.release(va)
		return
	}
	vrt := r.master.table(p.route.tbl.fam.VPN()).get(vkey)
	if old != nil && old.route != vrt {
		r.deletePath(old)
		old = nil
	}
	np := &Path{route: vrt, src: p, peer: p.peer, label: p.label, attrs: va, links: &pathLinks{}}
	p.links.exported = np
	r.installVPN(vrt, np, old)
}

// installVPN puts VPN path np in route rt in place of old (nil to add),
// indexes it by route target and brings its imports up to date.
func (r *RIB) installVPN(rt *route, np, old *Path) {
	if old != nil {
		r.replace(rt, old, np)
		r.unindexRT(old)
	} else {
		r.insert(rt, np)
	}
	r.indexRT(np)
	r.syncImports(np, old)
	if old != nil {
		r.attrs.release(old.attrs)
	}
}

func (r *RIB) indexRT(vp *Path) {
	for _, rt := range vp.attrs.RouteTargets {
		s := r.vpnByRT[rt]
		if s == nil {
			s = make(map[*Path]struct{})
			r.vpnByRT[rt] = s
		}
		s[vp] = struct{}{}
	}
}

func (r *RIB) unindexRT(vp *Path) {
	for _, rt := range vp.attrs.RouteTargets {
		s := r.vpnByRT[rt]
		delete(s, vp)
		if len(s) == 0 {
			delete(r.vpnByRT, rt)
		}
	}
}

// syncImports imports VPN path vp into every instance whose import targets
// intersect its route targets, except the VRF it was exported from. When
// vp replaces old, old's copies are replaced in the instances that still
// import vp and deleted from the others.
func (r *RIB) syncImports(vp, old *Path) {
	origin := vp.originInstance()
	r.epoch += 2
	want, done := r.epoch, r.epoch+1
	nwant := 0
	for _, rt := range vp.attrs.RouteTargets {
		for _, in := range r.importers[rt] {
			if in != origin && in.mark != want {
				in.mark = want
				nwant++
			}
		}
	}
	if old != nil {
		for _, s := range old.links.imports {
			in := s.route.tbl.inst
			if in.mark == want {
				in.mark = done
				nwant--
				ns := &Path{route: s.route, src: vp, peer: vp.peer, label: vp.label, attrs: r.attrs.ref(vp.attrs)}
				r.replace(s.route, s, ns)
				vp.links.imports = append(vp.links.imports, ns)
			} else {
				r.remove(s.route, s)
			}
			r.attrs.release(s.attrs)
		}
		old.links.imports = nil
	}
	if nwant == 0 {
		return
	}
	for _, rt := range vp.attrs.RouteTargets {
		for _, in := range r.importers[rt] {
			if in.mark == want {
				in.mark = done
				r.importInto(vp, in)
			}
		}
	}
}

// importInto adds a copy of VPN path vp to instance in.
func (r *RIB) importInto(vp *Path, in *instance) {
	rt := in.table(vp.route.tbl.fam.VRF()).get(vp.route.key.vrfKey())
	s := &Path{route: rt, src: vp, peer: vp.peer, label: vp.label, attrs: r.attrs.ref(vp.attrs)}
	r.insert(rt, s)
	vp.links.imports = append(vp.links.imports, s)
}

// dropImport deletes an imported VRF path.
func (r *RIB) dropImport(s *Path) {
	l := s.src.links.imports
	if i := slices.Index(l, s); i >= 0 {
		l[i] = l[len(l)-1]
		l[len(l)-1] = nil
		s.src.links.imports = l[:len(l)-1]
	}
	r.remove(s.route, s)
	r.attrs.release(s.attrs)
}

// deletePath deletes a primary path or a VPN path with everything copied
// from it.
func (r *RIB) deletePath(p *Path) {
	if l := p.links; l != nil {
		if l.exported != nil {
			r.deletePath(l.exported)
			l.exported = nil
		}
		for _, s := range l.imports {
			r.remove(s.route, s)
			r.attrs.release(s.attrs)
		}
		l.imports = nil
		if p.src == nil {
			r.unlinkPeer(p)
		}
		if p.route.tbl.inst.master {
			r.unindexRT(p)
		}
	}
	r.remove(p.route, p)
	r.attrs.release(p.attrs)
}

// insert adds p to rt in best-path order.
func (r *RIB) insert(rt *route, p *Path) {
	var buf [8]*Path
	old := append(buf[:0], rt.paths[:rt.nbest]...)
	i := r.position(rt, p)
	rt.paths = slices.Insert(rt.paths, i, p)
	if len(rt.paths) == 1 {
		rt.tbl.count++
	}
	r.npaths++
	rt.tbl.npaths++
	r.settle(rt, old)
}

// position returns where p goes in rt's sorted paths: after the paths not
// worse than it.
func (r *RIB) position(rt *route, p *Path) int {
	for i, q := range rt.paths {
		if r.compare(p, q, false) < 0 {
			return i
		}
	}
	return len(rt.paths)
}

// remove deletes p from rt.
func (r *RIB) remove(rt *route, p *Path) {
	i := slices.Index(rt.paths, p)
	if i < 0 {
		return
	}
	var buf [8]*Path
	old := append(buf[:0], rt.paths[:rt.nbest]...)
	rt.paths = slices.Delete(rt.paths, i, i+1)
	r.npaths--
	rt.tbl.npaths--
	if len(rt.paths) == 0 {
		rt.tbl.count--
		rt.nbest = 0
		rt.medSorted = false
		r.markDirty(rt)
		return
	}
	r.settle(rt, old)
}

// replace puts np in old's place in rt, moved to its best-path position.
func (r *RIB) replace(rt *route, old, np *Path) {
	var buf [8]*Path
	prev := append(buf[:0], rt.paths[:rt.nbest]...)
	i := slices.Index(rt.paths, old)
	rt.paths = slices.Delete(rt.paths, i, i+1)
	j := r.position(rt, np)
	rt.paths = slices.Insert(rt.paths, j, np)
	r.settle(rt, prev)
}

// settle finishes a change of rt's paths: it re-sorts them if MED groups
// require it, recomputes the ECMP set, and queues rt for Drain if the best
// set differs from old, the best set before the change.
func (r *RIB) settle(rt *route, old []*Path) {
	r.medGroups(rt)
	n := 1
	for n < len(rt.paths) && r.compare(rt.paths[0], rt.paths[n], true) == 0 {
		n++
	}
	rt.nbest = int32(n)
	if !slices.Equal(old, rt.paths[:n]) {
		r.markDirty(rt)
	}
}

// medGroups implements step 7 of the best-path order (see compare). MED is
// only comparable between paths from the same neighbor AS, which makes a
// plain pairwise comparison non-transitive (RFC 4271 section 9.1.2.2 c):
// the order of the paths would depend on the order they arrived in. So,
// as routers do with deterministic MED, a path is marked MED-dominated
// when another path from its neighbor AS is equal to it in steps 1-6 and
// has a lower MED; the comparison then only looks at the mark, which makes
// the order total. Routes with fewer than two paths that have a neighbor
// AS (all XMPP-learned routes) never need this.
func (r *RIB) medGroups(rt *route) {
	if r.alwaysCompareMED {
		return
	}
	n := 0
	for _, p := range rt.paths {
		if p.attrs.neighborAS != 0 {
			n++
		}
	}
	if n < 2 {
		if rt.medSorted {
			rt.medSorted = false
			for _, p := range rt.paths {
				p.flags &^= flagMEDDominated
			}
			r.sortPaths(rt)
		}
		return
	}
	for _, p := range rt.paths {
		p.flags &^= flagMEDDominated
		nas := p.attrs.neighborAS
		if nas == 0 {
			continue
		}
		for _, q := range rt.paths {
			if q.attrs.neighborAS == nas && q.attrs.MED < p.attrs.MED && compareTier(p.attrs, q.attrs) == 0 {
				p.flags |= flagMEDDominated
				break
			}
		}
	}
	rt.medSorted = true
	r.sortPaths(rt)
}

func (r *RIB) sortPaths(rt *route) {
	slices.SortStableFunc(rt.paths, func(a, b *Path) int { return r.compare(a, b, false) })
}

func (r *RIB) markDirty(rt *route) {
	if !rt.dirty {
		rt.dirty = true
		r.dirty = append(r.dirty, rt)
	}
}

func (r *RIB) checkMutable() {
	if r.draining {
		panic("rib: RIB modified from a Drain callback")
	}
}
