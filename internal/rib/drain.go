// SPDX-License-Identifier: Apache-2.0

package rib

// Drain reports routes whose best set changed since they were last
// reported, oldest change first, calling fn once per (instance, family,
// key) with the current best set: the ECMP paths, best first. An empty
// best means the route is gone (withdraw). Several changes of one route
// between two Drains give one call with the final state, and a route that
// appeared and disappeared in between gives none.
//
// VPN table changes are reported with instance MasterInstance.
//
// best is only valid during the call (it aliases the route's path list);
// the paths in it may be kept. fn must not modify the RIB: a call of a
// mutating method from fn panics.
//
// limit > 0 stops after that many calls, so the owner can interleave
// draining with other work; limit <= 0 drains everything. Drain returns
// the number of calls made; Pending tells how many routes are still
// queued.
func (r *RIB) Drain(limit int, fn func(inst string, fam Family, key Key, best []*Path)) int {
	r.checkMutable()
	r.draining = true
	defer func() { r.draining = false }()
	n := 0
	for r.dirtyHead < len(r.dirty) && (limit <= 0 || n < limit) {
		rt := r.dirty[r.dirtyHead]
		r.dirty[r.dirtyHead] = nil
		r.dirtyHead++
		rt.dirty = false
		t := rt.tbl
		if len(rt.paths) == 0 {
			t.forget(rt)
			if !rt.notified {
				continue
			}
			rt.notified = false
			n++
			fn(t.inst.name, t.fam, rt.key, nil)
			continue
		}
		rt.notified = true
		n++
		fn(t.inst.name, t.fam, rt.key, rt.paths[:rt.nbest:rt.nbest])
	}
	switch {
	case r.dirtyHead == len(r.dirty):
		r.dirty = r.dirty[:0]
		r.dirtyHead = 0
	case r.dirtyHead > 1024 && r.dirtyHead > len(r.dirty)/2:
		k := copy(r.dirty, r.dirty[r.dirtyHead:])
		clear(r.dirty[k:])
		r.dirty = r.dirty[:k]
		r.dirtyHead = 0
	}
	return n
}

// Pending returns the number of routes queued for Drain (some of which
// may turn out to need no call).
func (r *RIB) Pending() int { return len(r.dirty) - r.dirtyHead }
