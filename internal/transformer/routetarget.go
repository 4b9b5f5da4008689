// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/pkg/client"
)

// System route-target ranges (the original's ZooKeeper paths
// /id/bgp/route-targets/type0/ and type1_2/): for a 2-byte AS number the
// numbers 8000000 .. 8000000+2^24-1, for a 4-byte one 8000 .. 8000+2^15-1.
const (
	rtBase2Byte = 8000000
	rtSize2Byte = 1 << 24
	rtBase4Byte = 8000
	rtSize4Byte = 1 << 15
)

// gscFQ is the fq-name of the global system config.
const gscFQ = "default-global-system-config"

// systemRange returns the first number and the size of the system
// route-target range for asn.
func (t *Transformer) systemRange(asn int64) (lo, size uint32) {
	lo, size = rtBase2Byte, rtSize2Byte
	if asn > 0xFFFF {
		lo, size = rtBase4Byte, rtSize4Byte
	}
	if t.cfg.RouteTargetRangeSize > 0 && t.cfg.RouteTargetRangeSize < size {
		size = t.cfg.RouteTargetRangeSize
	}
	return lo, size
}

// parseRT splits "target:<asn|ip>:<number>".
func parseRT(name string) (admin string, n uint64, ok bool) {
	rest, found := strings.CutPrefix(name, "target:")
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(rest[i+1:], 10, 32)
	if err != nil {
		return "", 0, false
	}
	return rest[:i], n, true
}

// validRT reports whether name is a route target the API accepts: the
// administrator part an AS number or an IPv4 address.
func validRT(name string) bool {
	admin, _, ok := parseRT(name)
	if !ok {
		return false
	}
	if _, err := strconv.ParseUint(admin, 10, 32); err == nil {
		return true
	}
	a, err := netip.ParseAddr(admin)
	return err == nil && a.Is4()
}

// isSystemRT reports whether name is in the system range of asn.
func (t *Transformer) isSystemRT(name string, asn int64) bool {
	admin, n, ok := parseRT(name)
	if !ok || admin != strconv.FormatInt(asn, 10) {
		return false
	}
	lo, size := t.systemRange(asn)
	return n >= uint64(lo) && n < uint64(lo)+uint64(size)
}

func rtName(asn int64, n uint32) string {
	return "target:" + strconv.FormatInt(asn, 10) + ":" + strconv.FormatUint(uint64(n), 10)
}

// globalASN reads the AS number of the global system config.
func globalASN(v *view) (int64, error) {
	n := v.lookup("global-system-config", gscFQ)
	if n == nil {
		return 0, errors.New("transformer: no global-system-config")
	}
	var asn int64
	if !n.Obj.Prop("autonomous_system", &asn) || asn <= 0 {
		return 0, errors.New("transformer: global-system-config has no autonomous_system")
	}
	return asn, nil
}

// ownSystemRT picks, from refs to route targets, the system-range one an
// object owns: the lowest number referred in both directions, excluding
// those for which skip says no (a logical router's target on a network's
// routing instance). The rest of the system-range refs are returned too.
func (t *Transformer) ownSystemRT(v *view, refs []*confgraph.Node, dirs map[string]int, asn int64, skip func(*confgraph.Node) bool) (own string, others []string) {
	best := uint64(0)
	for _, rt := range refs {
		name := rt.Obj.Name()
		if !t.isSystemRT(name, asn) || dirs[rt.Obj.UUID] != rtBoth || (skip != nil && skip(rt)) {
			continue
		}
		_, n, _ := parseRT(name)
		if own == "" || n < best {
			if own != "" {
				others = append(others, own)
			}
			own, best = name, n
		} else {
			others = append(others, name)
		}
	}
	return own, others
}

// rtAllocator hands out system route-target numbers. It keeps no state of
// its own that matters after a restart: a number is taken when its
// route-target object exists (the API makes the fq-name unique, so a
// create that gets 409 means someone else has it and the next is tried).
// pending covers the moment between creating an object and seeing it in
// the graph.
type rtAllocator struct {
	mu      sync.Mutex
	pending map[string]time.Time
	cursor  map[int64]uint32
}

func newRTAllocator() *rtAllocator {
	return &rtAllocator{pending: map[string]time.Time{}, cursor: map[int64]uint32{}}
}

// pick reserves a number that neither the graph nor pending holds,
// starting at the cursor.
func (t *Transformer) pickRT(asn int64) (string, error) {
	a := t.alloc
	lo, size := t.systemRange(asn)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	t.g.RLock()
	defer t.g.RUnlock()
	// Once the graph shows a created target, the graph says whether it is
	// taken (it may be deleted again later); a create the graph never
	// showed (lost to a racing writer) is forgotten after a while.
	for k, at := range a.pending {
		if _, seen := t.g.LookupFQString("route-target", k); seen || now.Sub(at) > 2*time.Minute {
			delete(a.pending, k)
		}
	}
	start := a.cursor[asn]
	if start < lo || start >= lo+size {
		start = lo
	}
	for i := uint32(0); i < size; i++ {
		n := lo + (start-lo+i)%size
		name := rtName(asn, n)
		if _, taken := a.pending[name]; taken {
			continue
		}
		if _, taken := t.g.LookupFQString("route-target", name); taken {
			continue
		}
		a.pending[name] = now
		a.cursor[asn] = n + 1
		return name, nil
	}
	return "", ErrExhausted
}

// allocRT creates a new system route target for owner and returns its
// name. The caller refers to it at once; if it crashes before that, the
// garbage collector removes the unreferenced object.
func (t *Transformer) allocRT(ctx context.Context, r *rec, asn int64, owner string) (string, error) {
	for {
		name, err := t.pickRT(asn)
		if err != nil {
			return "", err
		}
		_, err = r.create(ctx, "route-target", rtBody(name, owner))
		if errors.Is(err, errExists) {
			continue // taken by someone the graph has not shown yet; stays pending
		}
		if err != nil {
			t.alloc.mu.Lock()
			delete(t.alloc.pending, name)
			t.alloc.mu.Unlock()
			return "", err
		}
		t.m.rtAllocated.Inc()
		r.log.Info("route target allocated", "route_target", name, "owner", owner)
		return name, nil
	}
}

// ownRT returns the route target to give the object of key: one this term
// allocated for it in a reconcile that failed before referring to it, if
// that one is still there and unreferenced, else a new one.
func (tm *term) ownRT(ctx context.Context, r *rec, asn int64, owner string) (string, error) {
	t := tm.t
	tm.mu.Lock()
	prev := tm.allocated[r.key]
	tm.mu.Unlock()
	if prev != "" && t.isSystemRT(prev, asn) {
		t.g.RLock()
		u, ok := t.g.LookupFQString("route-target", prev)
		free := ok && len(t.g.Get(u).BackRefs) == 0
		t.g.RUnlock()
		if free {
			return prev, nil
		}
	}
	name, err := t.allocRT(ctx, r, asn, owner)
	if err == nil {
		tm.mu.Lock()
		tm.allocated[r.key] = name
		tm.mu.Unlock()
	}
	return name, err
}

// referred forgets the route target allocated for key: it is referred to.
func (tm *term) referred(key string) {
	tm.mu.Lock()
	delete(tm.allocated, key)
	tm.mu.Unlock()
}

func rtBody(name, owner string) client.Object {
	return client.Object{
		"fq_name":     []string{name},
		"annotations": keyValuePairs{KeyValuePair: []keyValuePair{{Key: OwnedAnnotation, Value: owner}}},
	}
}

// ensureRT creates the route-target object name unless it exists.
func (t *Transformer) ensureRT(ctx context.Context, r *rec, name, owner string) error {
	t.g.RLock()
	_, ok := t.g.LookupFQString("route-target", name)
	t.g.RUnlock()
	if ok {
		return nil
	}
	_, err := r.create(ctx, "route-target", rtBody(name, owner))
	if errors.Is(err, errExists) {
		return nil
	}
	return err
}

// reconcileGC deletes what the transformer made and nothing needs any
// more: route targets of the system range or created by it that nothing
// refers to, and access-control-lists whose parent is gone. A candidate is
// deleted only after it has stayed one for GCGrace, which covers the
// moment between creating a route target and referring to it (also across
// a crash of the leader: the new one starts its own grace). The API
// refuses to delete a route target that something refers to, so a race
// with a new reference fails safely.
func (tm *term) reconcileGC(ctx context.Context, r *rec) (result, error) {
	t := tm.t
	t.g.RLock()
	v := newView(t.g)
	asn, _ := globalASN(v)
	cands := map[string]string{} // uuid -> type
	for _, u := range t.g.UUIDs("route-target") {
		n := t.g.Get(u)
		if n == nil || len(n.BackRefs) > 0 {
			continue
		}
		_, owned := annotation(n.Obj, OwnedAnnotation)
		if owned || (asn > 0 && t.isSystemRT(n.Obj.Name(), asn)) {
			cands[u] = "route-target"
		}
	}
	for _, u := range t.g.UUIDs("access-control-list") {
		n := t.g.Get(u)
		if n != nil && n.Obj.ParentUUID != "" && t.g.Get(n.Obj.ParentUUID) == nil {
			cands[u] = "access-control-list"
		}
	}
	t.g.RUnlock()

	now := time.Now()
	for u := range tm.gcSeen {
		if _, ok := cands[u]; !ok {
			delete(tm.gcSeen, u)
		}
	}
	var wait time.Duration
	var firstErr error
	for u, typ := range cands {
		since, ok := tm.gcSeen[u]
		if !ok {
			tm.gcSeen[u] = now
			since = now
		}
		left := t.cfg.GCGrace - now.Sub(since)
		if left > 0 {
			if wait == 0 || left < wait {
				wait = left
			}
			continue
		}
		err := r.del(ctx, typ, u)
		if err != nil && !errors.Is(err, ErrFenced) && client.IsConflict(errors.Unwrap(err)) {
			err = nil // referred to again meanwhile
		}
		if err != nil {
			if errors.Is(err, ErrFenced) {
				return result{}, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		delete(tm.gcSeen, u)
		t.m.gcDeleted.WithLabelValues(typ).Inc()
		r.log.Info("garbage collected", "type", typ, "uuid", u)
	}
	tm.gcPending.Store(int64(len(tm.gcSeen)))
	if firstErr != nil {
		return result{}, fmt.Errorf("transformer: garbage collection: %w", firstErr)
	}
	if wait > 0 {
		return result{after: wait + 10*time.Millisecond}, nil
	}
	return result{after: t.cfg.GCInterval}, nil
}
