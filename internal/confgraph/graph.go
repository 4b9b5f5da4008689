// SPDX-License-Identifier: Apache-2.0

// Package confgraph keeps the whole config graph in memory, fed by the
// store's ordered config stream: every object with its back-references and
// children, indexed by uuid, fq-name and type. It replaces the original's
// IF-MAP graph for every daemon that reads config (API server, schema
// transformer, control node, ...).
//
// Readers take the read lock (RLock/RUnlock) around a group of lookups so
// that they see one consistent revision; the accessor methods that say
// "callers hold the read lock" never lock themselves. Subscribers get every
// applied batch after the lock is released, in commit order.
package confgraph

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/store"
)

// Node is an object in the graph with the links that point at it.
type Node struct {
	Obj       *model.Object
	CreateRev int64
	ModRev    int64
	// ViewRev changes whenever anything a reader of the node sees changes:
	// the object, its back-refs or its children.
	ViewRev  int64
	BackRefs map[string]string // referring uuid -> its type
	Children map[string]string // child uuid -> child type
}

type typeSet struct {
	nodes  map[string]*Node
	sorted []string
	dirty  bool
}

// Batch is what subscribers receive: the events of one revision (one API
// write), or a full reset.
type Batch struct {
	Rev    int64
	Reset  bool
	Events []store.Event
}

// Graph is the in-memory config graph. It implements store.Handler.
//
// Lock order: Graph.mu before any lock taken in the hooks.
type Graph struct {
	mu      sync.RWMutex
	rev     int64
	byUUID  map[string]*Node
	byFQ    map[string]map[string]string // type -> fq-name string -> uuid
	byType  map[string]*typeSet
	revWait chan struct{}
	ready   chan struct{}
	once    sync.Once
	sortMu  sync.Mutex

	// Hooks, set before the graph is fed; called with the write lock held.
	// OnRemove is called for an object leaving the graph (deleted, or the
	// old version of an updated one) before it goes; OnAdd after an
	// object (new or updated) is in the graph; OnAdvance after the
	// revision advanced.
	OnRemove  func(o *model.Object)
	OnAdd     func(o *model.Object)
	OnAdvance func(rev int64)
	OnReset   func()

	subMu sync.Mutex
	subs  []func(Batch)
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{
		byUUID:  map[string]*Node{},
		byFQ:    map[string]map[string]string{},
		byType:  map[string]*typeSet{},
		revWait: make(chan struct{}),
		ready:   make(chan struct{}),
	}
}

// Subscribe registers fn for every batch applied from now on. fn runs on
// the goroutine that feeds the graph, after the lock is released, so it
// may read the graph; it should hand work off quickly.
func (g *Graph) Subscribe(fn func(Batch)) {
	g.subMu.Lock()
	g.subs = append(g.subs, fn)
	g.subMu.Unlock()
}

func (g *Graph) publish(b Batch) {
	g.subMu.Lock()
	subs := slices.Clone(g.subs)
	g.subMu.Unlock()
	for _, fn := range subs {
		fn(b)
	}
}

// Ready is closed after the first full state has been loaded.
func (g *Graph) Ready() <-chan struct{} { return g.ready }

// RLock takes the read lock.
func (g *Graph) RLock() { g.mu.RLock() }

// RUnlock releases the read lock.
func (g *Graph) RUnlock() { g.mu.RUnlock() }

// Reset implements store.Handler.
func (g *Graph) Reset(entries []store.Entry, rev int64) error {
	g.mu.Lock()
	if g.OnReset != nil {
		g.OnReset()
	}
	g.byUUID = make(map[string]*Node, len(entries))
	g.byFQ = map[string]map[string]string{}
	g.byType = map[string]*typeSet{}
	for _, e := range entries {
		g.insert(e, rev)
	}
	for _, e := range entries {
		g.link(e.Object, rev)
	}
	if g.OnAdd != nil {
		for _, e := range entries {
			g.OnAdd(e.Object)
		}
	}
	g.advance(rev)
	g.mu.Unlock()
	g.once.Do(func() { close(g.ready) })
	g.publish(Batch{Rev: rev, Reset: true})
	return nil
}

// Apply implements store.Handler.
func (g *Graph) Apply(rev int64, events []store.Event) error {
	g.mu.Lock()
	// Deletes first release their links; creates and updates then link
	// against the state after the whole transaction.
	for _, ev := range events {
		if ev.Op == store.OpDelete {
			g.remove(ev.Object.UUID, rev)
		}
	}
	for _, ev := range events {
		if ev.Op == store.OpDelete {
			continue
		}
		if old := g.byUUID[ev.Object.UUID]; old != nil {
			if g.OnRemove != nil {
				g.OnRemove(old.Obj)
			}
			g.unlink(old.Obj, rev)
		}
		g.insert(ev.Entry, rev)
	}
	for _, ev := range events {
		if ev.Op == store.OpDelete {
			continue
		}
		g.link(ev.Object, rev)
		if g.OnAdd != nil {
			g.OnAdd(ev.Object)
		}
	}
	g.advance(rev)
	g.mu.Unlock()
	g.publish(Batch{Rev: rev, Events: events})
	return nil
}

// Progress implements store.Handler.
func (g *Graph) Progress(rev int64) {
	g.mu.Lock()
	g.advance(rev)
	g.mu.Unlock()
}

func (g *Graph) advance(rev int64) {
	if rev <= g.rev {
		return
	}
	g.rev = rev
	if g.OnAdvance != nil {
		g.OnAdvance(rev)
	}
	close(g.revWait)
	g.revWait = make(chan struct{})
}

// Revision returns the last applied revision.
func (g *Graph) Revision() int64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.rev
}

// Rev returns the last applied revision; callers hold the read lock.
func (g *Graph) Rev() int64 { return g.rev }

// WaitRev blocks until the graph has applied revision rev.
func (g *Graph) WaitRev(ctx context.Context, rev int64) error {
	for {
		g.mu.RLock()
		cur, ch := g.rev, g.revWait
		g.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *Graph) insert(e store.Entry, rev int64) {
	o := e.Object
	n := g.byUUID[o.UUID]
	if n == nil {
		n = &Node{}
		g.byUUID[o.UUID] = n
	}
	n.Obj, n.CreateRev, n.ModRev, n.ViewRev = o, e.CreateRev, e.ModRev, max(e.ModRev, rev)
	fq := g.byFQ[o.Type]
	if fq == nil {
		fq = map[string]string{}
		g.byFQ[o.Type] = fq
	}
	fq[fqKey(o.FQName)] = o.UUID
	ts := g.byType[o.Type]
	if ts == nil {
		ts = &typeSet{nodes: map[string]*Node{}}
		g.byType[o.Type] = ts
	}
	if _, ok := ts.nodes[o.UUID]; !ok {
		ts.dirty = true
	}
	ts.nodes[o.UUID] = n
}

func (g *Graph) touch(uuid string, rev int64) *Node {
	n := g.byUUID[uuid]
	if n != nil && rev > n.ViewRev {
		n.ViewRev = rev
	}
	return n
}

// link records o's refs and parent link on the nodes they point at.
func (g *Graph) link(o *model.Object, rev int64) {
	for _, refs := range o.Refs {
		for _, r := range refs {
			if t := g.touch(r.UUID, rev); t != nil {
				if t.BackRefs == nil {
					t.BackRefs = map[string]string{}
				}
				t.BackRefs[o.UUID] = o.Type
			}
		}
	}
	if o.ParentUUID != "" {
		if p := g.touch(o.ParentUUID, rev); p != nil {
			if p.Children == nil {
				p.Children = map[string]string{}
			}
			p.Children[o.UUID] = o.Type
		}
	}
}

func (g *Graph) unlink(o *model.Object, rev int64) {
	for _, refs := range o.Refs {
		for _, r := range refs {
			if t := g.touch(r.UUID, rev); t != nil {
				delete(t.BackRefs, o.UUID)
			}
		}
	}
	if o.ParentUUID != "" {
		if p := g.touch(o.ParentUUID, rev); p != nil {
			delete(p.Children, o.UUID)
		}
	}
}

func (g *Graph) remove(uuid string, rev int64) {
	n := g.byUUID[uuid]
	if n == nil {
		return
	}
	o := n.Obj
	if g.OnRemove != nil {
		g.OnRemove(o)
	}
	g.unlink(o, rev)
	delete(g.byUUID, uuid)
	if fq := g.byFQ[o.Type]; fq != nil && fq[fqKey(o.FQName)] == uuid {
		delete(fq, fqKey(o.FQName))
	}
	if ts := g.byType[o.Type]; ts != nil {
		delete(ts.nodes, uuid)
		ts.dirty = true
	}
}

// Get returns the node of uuid, or nil; callers hold the read lock.
func (g *Graph) Get(uuid string) *Node { return g.byUUID[uuid] }

// LookupFQ returns the uuid of (type, fq-name); callers hold the read lock.
func (g *Graph) LookupFQ(typ string, fq []string) (string, bool) {
	u, ok := g.byFQ[typ][fqKey(fq)]
	return u, ok
}

// fqKey is the index key of an fq-name: its ':'-joined form, except when
// that is ambiguous (["a", "b:c"] and ["a:b", "c"] both join to "a:b:c"):
// names of several components one of which holds a ':' get a quoted form,
// marked by a leading NUL that no plain key has.
func fqKey(fq []string) string {
	quote := false
	for _, c := range fq {
		if strings.IndexByte(c, 0) >= 0 || len(fq) > 1 && strings.IndexByte(c, ':') >= 0 {
			quote = true
			break
		}
	}
	if !quote {
		return model.FQNameString(fq)
	}
	var b strings.Builder
	b.WriteByte(0)
	for i, c := range fq {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Quote(c))
	}
	return b.String()
}

// LookupFQString is LookupFQ with a ':'-joined fq-name. Names whose
// components hold a ':' (other than one-component names, such as route
// targets) are found only by LookupFQ.
func (g *Graph) LookupFQString(typ, fq string) (string, bool) {
	u, ok := g.byFQ[typ][fq]
	return u, ok
}

// Len returns the number of objects; callers hold the read lock.
func (g *Graph) Len() int { return len(g.byUUID) }

// Count returns the number of objects of a type; callers hold the read lock.
func (g *Graph) Count(typ string) int {
	if ts := g.byType[typ]; ts != nil {
		return len(ts.nodes)
	}
	return 0
}

// Types returns the types that have objects; callers hold the read lock.
func (g *Graph) Types() []string {
	out := make([]string, 0, len(g.byType))
	for t, ts := range g.byType {
		if len(ts.nodes) > 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// UUIDs returns the uuids of a type in sorted order; callers hold the read
// lock and must not change the slice.
func (g *Graph) UUIDs(typ string) []string {
	ts := g.byType[typ]
	if ts == nil {
		return nil
	}
	g.sortMu.Lock()
	defer g.sortMu.Unlock()
	if ts.dirty {
		// A new slice: readers of the old one may still be iterating it.
		s := make([]string, 0, len(ts.nodes))
		for u := range ts.nodes {
			s = append(s, u)
		}
		slices.Sort(s)
		ts.sorted, ts.dirty = s, false
	}
	return ts.sorted
}

// Parent returns the parent node of n, or nil; callers hold the read lock.
func (g *Graph) Parent(n *Node) *Node {
	if n == nil || n.Obj.ParentUUID == "" {
		return nil
	}
	return g.byUUID[n.Obj.ParentUUID]
}

// RefNodes returns the nodes that n refers to through ref field (e.g.
// "virtual_network_refs"), in ref order; callers hold the read lock.
func (g *Graph) RefNodes(n *Node, field string) []*Node {
	var out []*Node
	for _, r := range n.Obj.Refs[field] {
		if t := g.byUUID[r.UUID]; t != nil {
			out = append(out, t)
		}
	}
	return out
}

// BackRefNodes returns the nodes of type typ that refer to n, sorted by
// uuid; callers hold the read lock.
func (g *Graph) BackRefNodes(n *Node, typ string) []*Node {
	return g.linked(n.BackRefs, typ)
}

// ChildNodes returns n's children of type typ, sorted by uuid; callers
// hold the read lock.
func (g *Graph) ChildNodes(n *Node, typ string) []*Node {
	return g.linked(n.Children, typ)
}

func (g *Graph) linked(m map[string]string, typ string) []*Node {
	var uuids []string
	for u, t := range m {
		if typ == "" || t == typ {
			uuids = append(uuids, u)
		}
	}
	slices.Sort(uuids)
	out := make([]*Node, 0, len(uuids))
	for _, u := range uuids {
		if n := g.byUUID[u]; n != nil {
			out = append(out, n)
		}
	}
	return out
}
