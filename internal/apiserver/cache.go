// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
)

// node is an object of the config graph.
type node = confgraph.Node

// cache is the API server's view of the whole config graph, fed by the etcd
// watch, plus the index of allocated IDs and addresses. Every API server
// keeps one, so reads never touch etcd; writes are checked against it and
// guarded in their etcd transaction by compares, so a stale cache can only
// make a write retry, never commit something wrong.
//
// Lock order: the graph's lock before alloc.mu.
type cache struct {
	*confgraph.Graph
	allocs map[string]string // allocation key (id or ip) -> owner uuid

	// allocKeys returns the allocation keys an object holds; set by the server.
	allocKeys func(c *cache, o *model.Object) []string
	// onAdvance is called (with the lock held) when the revision advances.
	onAdvance func(rev int64)
	// onFree is called (with the lock held) for every allocation key released.
	onFree func(key string)
}

func newCache() *cache {
	c := &cache{Graph: confgraph.New(), allocs: map[string]string{}}
	c.OnReset = func() { c.allocs = map[string]string{} }
	c.OnAdd = func(o *model.Object) {
		for _, k := range c.allocKeys(c, o) {
			c.allocs[k] = o.UUID
		}
	}
	c.OnRemove = func(o *model.Object) {
		for _, k := range c.allocKeys(c, o) {
			c.freeAlloc(k, o.UUID)
		}
	}
	c.OnAdvance = func(rev int64) {
		if c.onAdvance != nil {
			c.onAdvance(rev)
		}
	}
	return c
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
