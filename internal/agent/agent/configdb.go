// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/schema"
)

// configDB is the agent's copy of its config subgraph, kept from the
// control node's config messages. Nodes are named by type and fq-name, as
// on the wire; Object rebuilds the model.Object form (JSON properties,
// refs with attributes, parent) that other packages of the agent consume.
// It is not safe for concurrent use; the agent guards it with its lock.
type configDB struct {
	nodes  map[string]*cnode // "type/fq-name"
	byUUID map[string]*cnode
	// adj holds the links: node key -> other node key -> metadata. A link
	// is stored on both ends; left says whether the key is the link's left
	// end (the referring object or the parent).
	adj map[string]map[string]linkEnd
	// gen counts config messages; nodes and links remember the message
	// that last refreshed them, for the sweep after a config peer change.
	gen uint64
}

type linkEnd struct {
	meta string
	left bool
	gen  uint64
}

type cnode struct {
	typ, name string
	uuid      string
	props     []*xmpp.Element
	gen       uint64
	obj       *model.Object // built on demand, dropped on change
	err       error         // why obj has no properties
}

func newConfigDB() *configDB {
	return &configDB{nodes: map[string]*cnode{}, byUUID: map[string]*cnode{}, adj: map[string]map[string]linkEnd{}}
}

func nodeKey(typ, name string) string { return typ + "/" + name }

// apply merges one config message. It returns the number of objects and
// links it changed.
func (db *configDB) apply(c *xmpp.Config) int {
	db.gen++
	n := 0
	for _, b := range c.Blocks {
		for _, o := range b.Objects {
			switch {
			case o.Node != nil && b.Delete:
				db.deleteNode(o.Node.Type, o.Node.Name)
			case o.Node != nil:
				db.updateNode(o.Node)
			case o.Link != nil && b.Delete:
				db.unlink(nodeKey(o.Link.Left.Type, o.Link.Left.Name), nodeKey(o.Link.Right.Type, o.Link.Right.Name))
			case o.Link != nil:
				db.link(nodeKey(o.Link.Left.Type, o.Link.Left.Name), nodeKey(o.Link.Right.Type, o.Link.Right.Name), o.Link.Metadata)
			default:
				continue
			}
			n++
		}
	}
	return n
}

func (db *configDB) updateNode(cn *xmpp.ConfigNode) {
	k := nodeKey(cn.Type, cn.Name)
	old := db.nodes[k]
	if old != nil && old.uuid != "" {
		delete(db.byUUID, old.uuid)
	}
	n := &cnode{typ: cn.Type, name: cn.Name, props: cn.Props, gen: db.gen}
	n.uuid = uuidFromProps(cn.Props)
	db.nodes[k] = n
	if n.uuid != "" {
		db.byUUID[n.uuid] = n
	}
	db.invalidate(k)
}

func (db *configDB) deleteNode(typ, name string) {
	k := nodeKey(typ, name)
	n := db.nodes[k]
	if n == nil {
		return
	}
	db.invalidate(k)
	delete(db.nodes, k)
	if n.uuid != "" && db.byUUID[n.uuid] == n {
		delete(db.byUUID, n.uuid)
	}
	for other := range db.adj[k] {
		db.unlink(k, other)
	}
}

func (db *configDB) link(a, b, meta string) {
	db.invalidate(a)
	db.invalidate(b)
	if db.adj[a] == nil {
		db.adj[a] = map[string]linkEnd{}
	}
	if db.adj[b] == nil {
		db.adj[b] = map[string]linkEnd{}
	}
	db.adj[a][b] = linkEnd{meta: meta, left: true, gen: db.gen}
	db.adj[b][a] = linkEnd{meta: meta, left: false, gen: db.gen}
}

func (db *configDB) unlink(a, b string) {
	db.invalidate(a)
	db.invalidate(b)
	delete(db.adj[a], b)
	if len(db.adj[a]) == 0 {
		delete(db.adj, a)
	}
	delete(db.adj[b], a)
	if len(db.adj[b]) == 0 {
		delete(db.adj, b)
	}
}

// invalidate drops the built object of k and of its neighbours (their
// refs may name k's uuid, or its attribute node).
func (db *configDB) invalidate(k string) {
	if n := db.nodes[k]; n != nil {
		n.obj = nil
	}
	for other := range db.adj[k] {
		if n := db.nodes[other]; n != nil {
			n.obj = nil
		}
	}
}

// sweep deletes every node and link not refreshed since generation gen:
// what a new config peer did not send again.
func (db *configDB) sweep(gen uint64) int {
	removed := 0
	for k, n := range db.nodes {
		if n.gen < gen {
			db.deleteNode(n.typ, n.name)
			_ = k
			removed++
		}
	}
	for a, m := range db.adj {
		for b, e := range m {
			if e.left && e.gen < gen {
				db.unlink(a, b)
				removed++
			}
		}
	}
	return removed
}

// uuidFromProps reads id-perms/uuid/{uuid-mslong,uuid-lslong}.
func uuidFromProps(props []*xmpp.Element) string {
	for _, p := range props {
		if p.Name.Local != "id-perms" {
			continue
		}
		u := p.Child("uuid")
		if u == nil {
			return ""
		}
		var ms, ls uint64
		var err1, err2 error = fmt.Errorf("missing"), fmt.Errorf("missing")
		if e := u.Child("uuid-mslong"); e != nil {
			ms, err1 = strconv.ParseUint(strings.TrimSpace(e.Text), 10, 64)
		}
		if e := u.Child("uuid-lslong"); e != nil {
			ls, err2 = strconv.ParseUint(strings.TrimSpace(e.Text), 10, 64)
		}
		if err1 != nil || err2 != nil {
			return ""
		}
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], ms)
		binary.BigEndian.PutUint64(b[8:], ls)
		h := fmt.Sprintf("%x", b[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	return ""
}

// get returns the object of type typ and fq-name name.
func (db *configDB) get(typ, name string) *model.Object {
	n := db.nodes[nodeKey(typ, name)]
	if n == nil {
		return nil
	}
	return db.object(n)
}

// getUUID returns the object with the given uuid.
func (db *configDB) getUUID(uuid string) *model.Object {
	n := db.byUUID[uuid]
	if n == nil {
		return nil
	}
	return db.object(n)
}

// linked returns the objects of type typ linked to o (in either
// direction), sorted by fq-name.
func (db *configDB) linked(o *model.Object, typ string) []*model.Object {
	var out []*model.Object
	for other := range db.adj[nodeKey(o.Type, o.FQNameString())] {
		if n := db.nodes[other]; n != nil && n.typ == typ {
			out = append(out, db.object(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FQNameString() < out[j].FQNameString() })
	return out
}

// count returns the number of nodes per type.
func (db *configDB) count() map[string]int {
	out := map[string]int{}
	for _, n := range db.nodes {
		out[n.typ]++
	}
	return out
}

func (db *configDB) object(n *cnode) *model.Object {
	if n.obj != nil {
		return n.obj
	}
	o := &model.Object{Type: n.typ, UUID: n.uuid, FQName: model.ParseFQNameString(n.name),
		Props: map[string]json.RawMessage{}, Refs: map[string][]model.Ref{}}
	props, err := xmpp.ElementsToJSON(n.props, shapeFor(n.typ))
	n.err = err
	for k, v := range props {
		if raw, err := json.Marshal(v); err == nil {
			o.Props[k] = raw
		}
	}
	res := schema.Lookup(n.typ)
	k := nodeKey(n.typ, n.name)
	for other, e := range db.adj[k] {
		on := db.nodes[other]
		if on == nil || res == nil {
			continue
		}
		if e.left {
			field := schema.RefsField(on.typ)
			l := res.RefField(field)
			if l == nil {
				continue // a child, or an attribute node
			}
			r := model.Ref{To: model.ParseFQNameString(on.name), UUID: on.uuid}
			if l.Attr != nil {
				if an := db.nodes[nodeKey(l.Name, "attr("+n.name+","+on.name+")")]; an != nil {
					if ao := db.object(an); ao != nil {
						r.Attr = ao.Props["value"]
					}
				}
			}
			o.Refs[field] = append(o.Refs[field], r)
			continue
		}
		// k is the right end: other is its parent when the schema says so.
		for _, pl := range res.Parents {
			if pl.From == on.typ {
				o.ParentType, o.ParentUUID = on.typ, on.uuid
			}
		}
	}
	for _, refs := range o.Refs {
		sort.Slice(refs, func(i, j int) bool { return model.FQNameString(refs[i].To) < model.FQNameString(refs[j].To) })
	}
	n.obj = o
	return o
}

// Schema-driven shapes: ElementsToJSON then returns the JSON the API
// stores, so consumers can decode properties into their usual types.

var (
	linkOnce   sync.Once
	linkByName map[string]*schema.Link
)

func linkNamed(name string) *schema.Link {
	linkOnce.Do(func() {
		linkByName = map[string]*schema.Link{}
		for _, r := range schema.All() {
			for _, l := range r.Refs {
				linkByName[l.Name] = l
			}
		}
	})
	return linkByName[name]
}

var shapeCache sync.Map // type name -> xmpp.Shape

func shapeFor(typ string) xmpp.Shape {
	if s, ok := shapeCache.Load(typ); ok {
		return s.(xmpp.Shape)
	}
	var root func(prop string) (*schema.Type, bool)
	if res := schema.Lookup(typ); res != nil {
		root = func(prop string) (*schema.Type, bool) {
			if p := res.Prop(prop); p != nil {
				return p.Type, false
			}
			return nil, false
		}
	} else if l := linkNamed(typ); l != nil && l.Attr != nil {
		// An attribute node: its one property "value" is the ref's attribute.
		root = func(prop string) (*schema.Type, bool) {
			if prop == "value" {
				return l.Attr, false
			}
			return nil, false
		}
	}
	var shape xmpp.Shape
	if root != nil {
		shape = func(path []string) (xmpp.ValueKind, bool) {
			t, list := root(path[0])
			for _, name := range path[1:] {
				if t == nil {
					return xmpp.KindAuto, false
				}
				f := t.Field(name)
				if f == nil {
					return xmpp.KindAuto, false
				}
				t, list = f.Type, f.List
			}
			if t == nil {
				return xmpp.KindAuto, list
			}
			return kindOf(t), list
		}
	}
	shapeCache.Store(typ, shape)
	return shape
}

func kindOf(t *schema.Type) xmpp.ValueKind {
	switch t.Kind {
	case schema.KindString, schema.KindDateTime, schema.KindTime:
		return xmpp.KindString
	case schema.KindInteger, schema.KindNumber:
		return xmpp.KindNumber
	case schema.KindBoolean:
		return xmpp.KindBool
	case schema.KindComplex:
		return xmpp.KindObject
	}
	return xmpp.KindAuto
}

// byType returns the objects of one type, sorted by fq-name.
func (db *configDB) byType(typ string) []*model.Object {
	var out []*model.Object
	for _, n := range db.nodes {
		if n.typ == typ {
			out = append(out, db.object(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FQNameString() < out[j].FQNameString() })
	return out
}
