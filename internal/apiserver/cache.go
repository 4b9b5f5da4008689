// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"slices"
	"sync"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/store"
)

// node is an object in the in-memory graph with the links that point at it.
type node struct {
	obj       *model.Object
	createRev int64
	modRev    int64
	// viewRev changes whenever anything a GET shows changes: the object,
	// its back-refs or its children. It is the ETag.
	viewRev  int64
	backRefs map[string]string // referring uuid -> its type
	children map[string]string // child uuid -> child type
}

type typeSet struct {
	nodes  map[string]*node
	sorted []string
	dirty  bool
}

func (t *typeSet) uuids() []string {
	if t.dirty {
		// A new slice: readers of the old one may still be iterating it.
		t.sorted = make([]string, 0, len(t.nodes))
		for u := range t.nodes {
			t.sorted = append(t.sorted, u)
		}
		slices.Sort(t.sorted)
		t.dirty = false
	}
	return t.sorted
}

// cache is the API server's view of the whole config graph, fed by the etcd
// watch. Every API server keeps one, so reads never touch etcd; writes are
// checked against it and guarded in their etcd transaction by compares, so a
// stale cache can only make a write retry, never commit something wrong.
//
// Lock order: cache.mu before alloc.mu.
type cache struct {
	mu      sync.RWMutex
	rev     int64
	byUUID  map[string]*node
	byFQ    map[string]map[string]string // type -> fq-name string -> uuid
	byType  map[string]*typeSet
	allocs  map[string]string // allocation key (id or ip) -> owner uuid
	revWait chan struct{}     // closed and replaced whenever rev advances
	ready   chan struct{}     // closed after the first Reset
	once    sync.Once

	// allocKeys returns the allocation keys an object holds; set by the server.
	allocKeys func(c *cache, o *model.Object) []string
	// onChange is called (with mu held) for every applied event; may be nil.
	onChange func(ev store.Event)
	// onAdvance is called (with mu held) when rev advances; may be nil.
	onAdvance func(rev int64)
	// onFree is called (with mu held) for every allocation key released; may be nil.
	onFree func(key string)
}

func newCache() *cache {
	return &cache{
		byUUID:  map[string]*node{},
		byFQ:    map[string]map[string]string{},
		byType:  map[string]*typeSet{},
		allocs:  map[string]string{},
		revWait: make(chan struct{}),
		ready:   make(chan struct{}),
	}
}

// Reset implements store.Handler.
func (c *cache) Reset(entries []store.Entry, rev int64) error {
	c.mu.Lock()
	c.byUUID = make(map[string]*node, len(entries))
	c.byFQ = map[string]map[string]string{}
	c.byType = map[string]*typeSet{}
	c.allocs = map[string]string{}
	for _, e := range entries {
		c.insert(e, rev, false)
	}
	for _, e := range entries {
		c.link(e.Object, rev)
	}
	for _, e := range entries {
		for _, k := range c.allocKeys(c, e.Object) {
			c.allocs[k] = e.Object.UUID
		}
	}
	c.advance(rev)
	c.mu.Unlock()
	c.once.Do(func() { close(c.ready) })
	return nil
}

// Apply implements store.Handler.
func (c *cache) Apply(rev int64, events []store.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Deletes first release their links, then creates and updates link
	// against the state after the whole transaction.
	for _, ev := range events {
		if ev.Op == store.OpDelete {
			c.remove(ev.Object.UUID, rev)
		}
	}
	for _, ev := range events {
		if ev.Op == store.OpDelete {
			continue
		}
		if old := c.byUUID[ev.Object.UUID]; old != nil {
			c.unlink(old.obj, rev)
			for _, k := range c.allocKeys(c, old.obj) {
				c.freeAlloc(k, old.obj.UUID)
			}
		}
		c.insert(ev.Entry, rev, true)
	}
	for _, ev := range events {
		if ev.Op == store.OpDelete {
			continue
		}
		c.link(ev.Object, rev)
		for _, k := range c.allocKeys(c, ev.Object) {
			c.allocs[k] = ev.Object.UUID
		}
	}
	if c.onChange != nil {
		for _, ev := range events {
			c.onChange(ev)
		}
	}
	c.advance(rev)
	return nil
}

// Progress implements store.Handler.
func (c *cache) Progress(rev int64) {
	c.mu.Lock()
	c.advance(rev)
	c.mu.Unlock()
}

func (c *cache) advance(rev int64) {
	if rev <= c.rev {
		return
	}
	c.rev = rev
	if c.onAdvance != nil {
		c.onAdvance(rev)
	}
	close(c.revWait)
	c.revWait = make(chan struct{})
}

// waitRev blocks until the cache has applied revision rev.
func (c *cache) waitRev(ctx context.Context, rev int64) error {
	for {
		c.mu.RLock()
		cur, ch := c.rev, c.revWait
		c.mu.RUnlock()
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

func (c *cache) insert(e store.Entry, rev int64, keepLinks bool) {
	o := e.Object
	n := c.byUUID[o.UUID]
	if n == nil || !keepLinks {
		n = &node{}
		if old := c.byUUID[o.UUID]; old != nil && keepLinks {
			n.backRefs, n.children = old.backRefs, old.children
		}
		c.byUUID[o.UUID] = n
	}
	n.obj, n.createRev, n.modRev, n.viewRev = o, e.CreateRev, e.ModRev, max(e.ModRev, rev)
	fq := c.byFQ[o.Type]
	if fq == nil {
		fq = map[string]string{}
		c.byFQ[o.Type] = fq
	}
	fq[o.FQNameString()] = o.UUID
	ts := c.byType[o.Type]
	if ts == nil {
		ts = &typeSet{nodes: map[string]*node{}}
		c.byType[o.Type] = ts
	}
	if _, ok := ts.nodes[o.UUID]; !ok {
		ts.dirty = true
	}
	ts.nodes[o.UUID] = n
}

func (c *cache) touch(uuid string, rev int64) *node {
	n := c.byUUID[uuid]
	if n != nil && rev > n.viewRev {
		n.viewRev = rev
	}
	return n
}

// link records o's refs and parent link on the nodes they point at.
func (c *cache) link(o *model.Object, rev int64) {
	for _, refs := range o.Refs {
		for _, r := range refs {
			if t := c.touch(r.UUID, rev); t != nil {
				if t.backRefs == nil {
					t.backRefs = map[string]string{}
				}
				t.backRefs[o.UUID] = o.Type
			}
		}
	}
	if o.ParentUUID != "" {
		if p := c.touch(o.ParentUUID, rev); p != nil {
			if p.children == nil {
				p.children = map[string]string{}
			}
			p.children[o.UUID] = o.Type
		}
	}
}

func (c *cache) unlink(o *model.Object, rev int64) {
	for _, refs := range o.Refs {
		for _, r := range refs {
			if t := c.touch(r.UUID, rev); t != nil {
				delete(t.backRefs, o.UUID)
			}
		}
	}
	if o.ParentUUID != "" {
		if p := c.touch(o.ParentUUID, rev); p != nil {
			delete(p.children, o.UUID)
		}
	}
}

func (c *cache) remove(uuid string, rev int64) {
	n := c.byUUID[uuid]
	if n == nil {
		return
	}
	o := n.obj
	c.unlink(o, rev)
	for _, k := range c.allocKeys(c, o) {
		c.freeAlloc(k, uuid)
	}
	delete(c.byUUID, uuid)
	if fq := c.byFQ[o.Type]; fq != nil && fq[o.FQNameString()] == uuid {
		delete(fq, o.FQNameString())
	}
	if ts := c.byType[o.Type]; ts != nil {
		delete(ts.nodes, uuid)
		ts.dirty = true
	}
}

func (c *cache) freeAlloc(k, owner string) {
	if c.allocs[k] != owner {
		return
	}
	delete(c.allocs, k)
	if c.onFree != nil {
		c.onFree(k)
	}
}

// get returns the node of uuid; callers hold mu.
func (c *cache) get(uuid string) *node { return c.byUUID[uuid] }

// lookupFQ returns the uuid of (type, fq-name); callers hold mu.
func (c *cache) lookupFQ(typ string, fq []string) (string, bool) {
	u, ok := c.byFQ[typ][model.FQNameString(fq)]
	return u, ok
}

// revision returns the last applied revision.
func (c *cache) revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}
