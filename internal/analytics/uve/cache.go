// SPDX-License-Identifier: Apache-2.0

package uve

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/contrail-go/contrail/internal/sandesh"
)

// Origin identifies the generator a UVE came from: the collector names it
// source:node_type:module:instance_id.
type Origin struct {
	Source, NodeType, Module, InstanceID string
}

// String returns source:node_type:module:instance_id.
func (o Origin) String() string {
	return o.Source + ":" + o.NodeType + ":" + o.Module + ":" + o.InstanceID
}

// Cache holds the UVEs every connected generator reported, per object
// table, key, generator and struct type, with their attributes as they
// came on the wire (type and annotations included), and aggregates them
// on read. It implements Source. Safe for concurrent use.
type Cache struct {
	mu     sync.RWMutex
	tables map[string]map[string]*entry // table -> key -> entry
	count  int                          // (origin, struct) pairs held

	watchers        map[*watcher]struct{} // see Watch
	droppedWatchers uint64
	closed          bool // CloseWatchers was called
}

// entry is one UVE (table:key) across generators.
type entry struct {
	origins map[Origin]map[string]*structState // origin -> struct name -> state
}

type structState struct {
	attrs []sandesh.Field // in the order first seen
	t     int64           // µs of the last update
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{tables: map[string]map[string]*entry{}} }

// Update merges attrs (the UVE struct's fields other than name and
// deleted) into the UVE table/key of origin o's struct structName.
func (c *Cache) Update(o Origin, table, key, structName string, attrs []sandesh.Field, t int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := c.tables[table]
	if keys == nil {
		keys = map[string]*entry{}
		c.tables[table] = keys
	}
	e := keys[key]
	if e == nil {
		e = &entry{origins: map[Origin]map[string]*structState{}}
		keys[key] = e
	}
	structs := e.origins[o]
	if structs == nil {
		structs = map[string]*structState{}
		e.origins[o] = structs
	}
	st := structs[structName]
	if st == nil {
		st = &structState{}
		structs[structName] = st
		c.count++
	}
	st.t = max(st.t, t)
next:
	for _, f := range attrs {
		if f.Name == "name" || f.Name == "deleted" {
			continue
		}
		for i := range st.attrs {
			if st.attrs[i].Name == f.Name {
				st.attrs[i] = f
				continue next
			}
		}
		st.attrs = append(st.attrs, f)
	}
	if len(c.watchers) > 0 {
		c.notifyLocked(Change{Table: table, Key: key, Struct: structName})
	}
}

// Delete removes origin o's struct structName of table/key.
func (c *Cache) Delete(o Origin, table, key, structName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteLocked(o, table, key, structName)
}

func (c *Cache) deleteLocked(o Origin, table, key, structName string) {
	e := c.tables[table][key]
	if e == nil {
		return
	}
	structs := e.origins[o]
	if _, ok := structs[structName]; !ok {
		return
	}
	delete(structs, structName)
	c.count--
	if len(c.watchers) > 0 {
		c.notifyLocked(Change{Table: table, Key: key, Struct: structName, Removed: true})
	}
	if len(structs) == 0 {
		delete(e.origins, o)
	}
	if len(e.origins) == 0 {
		delete(c.tables[table], key)
		if len(c.tables[table]) == 0 {
			delete(c.tables, table)
		}
	}
}

// WithdrawOrigin removes every UVE of origin o (its generator went away)
// and returns how many structs it removed.
func (c *Cache) WithdrawOrigin(o Origin) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for table, keys := range c.tables {
		for key, e := range keys {
			structs := e.origins[o]
			for name := range structs {
				c.deleteLocked(o, table, key, name)
				n++
			}
		}
	}
	return n
}

// Len returns the number of (generator, UVE struct) pairs held.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.count
}

// SeqTypes returns, for origin o, the UVE struct types it holds and how
// many UVEs of each (the handshake's type_info).
func (c *Cache) SeqTypes(o Origin) map[string]uint32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]uint32{}
	for _, keys := range c.tables {
		for _, e := range keys {
			for name := range e.origins[o] {
				out[name]++
			}
		}
	}
	return out
}

// Types implements Source.
func (c *Cache) Types(ctx context.Context) ([]string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.tables))
	for t := range c.tables {
		out = append(out, TypeOf(t))
	}
	sort.Strings(out)
	return out, nil
}

// Keys implements Source.
func (c *Cache) Keys(ctx context.Context, typ string, f Filter) ([]string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for key, e := range c.tables[TableOf(typ)] {
		if !MatchKey(f.KFilt, key) {
			continue
		}
		if len(c.select_(e, f)) == 0 {
			continue
		}
		out = append(out, key)
	}
	sort.Strings(out)
	return out, nil
}

// Get implements Source.
func (c *Cache) Get(ctx context.Context, typ, key string, f Filter) (map[string]any, bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.tables[TableOf(typ)][key]
	if e == nil {
		return nil, false, nil
	}
	parts := c.select_(e, f)
	if len(parts) == 0 {
		return nil, false, nil
	}
	return Aggregate(parts, f), true, nil
}

// select_ returns the parts of e that pass the filter's sfilt, mfilt and
// cfilt, grouped by struct name.
func (c *Cache) select_(e *entry, f Filter) map[string][]Part {
	out := map[string][]Part{}
	for o, structs := range e.origins {
		if f.SFilt != "" && o.Source != f.SFilt {
			continue
		}
		if f.MFilt != "" && o.Module != f.MFilt {
			continue
		}
		for name, st := range structs {
			if !structWanted(f.CFilt, name) {
				continue
			}
			out[name] = append(out[name], Part{Origin: o, Attrs: st.attrs, T: st.t})
		}
	}
	return out
}

// structWanted reports whether cfilt (struct or struct:attr entries)
// keeps any of struct name.
func structWanted(cfilt []string, name string) bool {
	if len(cfilt) == 0 {
		return true
	}
	for _, c := range cfilt {
		s, _, _ := strings.Cut(c, ":")
		if s == name {
			return true
		}
	}
	return false
}

// attrWanted reports whether cfilt keeps attribute attr of struct name:
// an entry "name" keeps all of them, "name:attr" that one.
func attrWanted(cfilt []string, name, attr string) bool {
	if len(cfilt) == 0 {
		return true
	}
	for _, c := range cfilt {
		s, a, hasAttr := strings.Cut(c, ":")
		if s == name && (!hasAttr || a == attr) {
			return true
		}
	}
	return false
}

// MatchKey reports whether key matches one of the kfilt patterns (with *
// wildcards); an empty kfilt matches every key.
func MatchKey(kfilt []string, key string) bool {
	if len(kfilt) == 0 {
		return true
	}
	for _, p := range kfilt {
		if p == key {
			return true
		}
		if strings.Contains(p, "*") {
			if wildcard(p, key) {
				return true
			}
		}
	}
	return false
}

func wildcard(p, s string) bool {
	parts := strings.Split(p, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
