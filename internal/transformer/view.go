// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"sync"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
)

// view is what one reconcile reads of the config graph. It records every
// object, fq-name and type it looks at; after the reconcile these become
// the key's dependencies, so that a change to any of them queues the key
// again. This is what makes the transformer level-triggered without a
// hand-written "who cares about what" table per resource: a network that
// read a policy, a peer network's routing instance or a security group by
// name is reconciled again when that one changes, appears or goes.
//
// Callers hold the graph's read lock while they use a view.
type view struct {
	g     *confgraph.Graph
	rev   int64
	uuids map[string]struct{}
	names map[string]struct{} // type + " " + fq-name
	types map[string]struct{}
}

func newView(g *confgraph.Graph) *view {
	return &view{g: g, rev: g.Rev(), uuids: map[string]struct{}{}, names: map[string]struct{}{}, types: map[string]struct{}{}}
}

func nameKey(typ, fq string) string { return typ + " " + fq }

// get returns the node of uuid, or nil.
func (v *view) get(uuid string) *confgraph.Node {
	v.uuids[uuid] = struct{}{}
	return v.g.Get(uuid)
}

// lookup returns the node of (type, fq-name), or nil; a missing name is a
// dependency too, so that its creation queues the reader.
func (v *view) lookup(typ, fq string) *confgraph.Node {
	v.names[nameKey(typ, fq)] = struct{}{}
	u, ok := v.g.LookupFQString(typ, fq)
	if !ok {
		return nil
	}
	return v.get(u)
}

// refs returns the nodes n refers to through field.
func (v *view) refs(n *confgraph.Node, field string) []*confgraph.Node {
	for _, r := range n.Obj.Refs[field] {
		v.uuids[r.UUID] = struct{}{}
	}
	return v.g.RefNodes(n, field)
}

// backRefs returns the nodes of type typ that refer to n.
func (v *view) backRefs(n *confgraph.Node, typ string) []*confgraph.Node {
	v.uuids[n.Obj.UUID] = struct{}{}
	out := v.g.BackRefNodes(n, typ)
	for _, b := range out {
		v.uuids[b.Obj.UUID] = struct{}{}
	}
	return out
}

// children returns n's children of type typ.
func (v *view) children(n *confgraph.Node, typ string) []*confgraph.Node {
	v.uuids[n.Obj.UUID] = struct{}{}
	out := v.g.ChildNodes(n, typ)
	for _, c := range out {
		v.uuids[c.Obj.UUID] = struct{}{}
	}
	return out
}

// all returns the uuids of every object of typ; any change of that type
// queues the reader.
func (v *view) all(typ string) []string {
	v.types[typ] = struct{}{}
	return v.g.UUIDs(typ)
}

// depIndex maps what a key read to the key, to find the keys a change
// concerns.
type depIndex struct {
	mu    sync.Mutex
	byKey map[string]*view
	uuid  map[string]map[string]struct{}
	name  map[string]map[string]struct{}
	typ   map[string]map[string]struct{}
}

func newDepIndex() *depIndex {
	return &depIndex{
		byKey: map[string]*view{},
		uuid:  map[string]map[string]struct{}{},
		name:  map[string]map[string]struct{}{},
		typ:   map[string]map[string]struct{}{},
	}
}

// set replaces the dependencies of key with what v read. Callers still
// hold the graph's read lock under which v was used: a change committed
// after that read is applied (and its dependents looked up) only after
// the lock is released, so it cannot miss the new dependencies.
func (d *depIndex) set(key string, v *view) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropLocked(key)
	d.byKey[key] = v
	for u := range v.uuids {
		addDep(d.uuid, u, key)
	}
	for n := range v.names {
		addDep(d.name, n, key)
	}
	for t := range v.types {
		addDep(d.typ, t, key)
	}
}

// addType makes any change of objects of typ queue key, on top of what
// its last reconcile read (a network waiting for a free route target).
func (d *depIndex) addType(key, typ string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.byKey[key]
	if v == nil {
		v = &view{uuids: map[string]struct{}{}, names: map[string]struct{}{}, types: map[string]struct{}{}}
		d.byKey[key] = v
	}
	v.types[typ] = struct{}{}
	addDep(d.typ, typ, key)
}

// drop forgets key (its object is gone).
func (d *depIndex) drop(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropLocked(key)
}

func (d *depIndex) dropLocked(key string) {
	old := d.byKey[key]
	if old == nil {
		return
	}
	delete(d.byKey, key)
	for u := range old.uuids {
		delDep(d.uuid, u, key)
	}
	for n := range old.names {
		delDep(d.name, n, key)
	}
	for t := range old.types {
		delDep(d.typ, t, key)
	}
}

func addDep(m map[string]map[string]struct{}, k, key string) {
	s := m[k]
	if s == nil {
		s = map[string]struct{}{}
		m[k] = s
	}
	s[key] = struct{}{}
}

func delDep(m map[string]map[string]struct{}, k, key string) {
	if s := m[k]; s != nil {
		delete(s, key)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// dependents adds to out every key that read something o touches: o
// itself, its parent (whose children changed), the objects it refers to
// (whose back-refs changed), its fq-name and its type.
func (d *depIndex) dependents(o *model.Object, out map[string]struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	collect := func(s map[string]struct{}) {
		for k := range s {
			out[k] = struct{}{}
		}
	}
	collect(d.uuid[o.UUID])
	if o.ParentUUID != "" {
		collect(d.uuid[o.ParentUUID])
	}
	for _, refs := range o.Refs {
		for _, r := range refs {
			collect(d.uuid[r.UUID])
		}
	}
	collect(d.name[nameKey(o.Type, o.FQNameString())])
	collect(d.typ[o.Type])
}

func (d *depIndex) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byKey)
}
