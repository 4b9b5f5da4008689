// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// allocator keeps the allocation keys that this server's in-flight writes
// have picked but not yet seen committed, so that concurrent requests on one
// server do not race for the same ID or address. Across servers the etcd
// transaction (create-revision == 0 on the key) is what decides.
type allocator struct {
	mu      sync.Mutex
	pending map[string]struct{}
	hints   map[string]int64
	// external holds keys found taken in the store although no object
	// holds them (addresses from /ip-alloc), with when they were seen;
	// entries expire so that an /ip-free on another server is noticed.
	external map[string]time.Time
	// committed holds reservations of committed writes until the cache
	// shows them, so that no local request picks them meanwhile.
	committed []deferred
	// addrHints remembers per subnet uuid where the last allocation was,
	// so that the next one does not scan every taken address again. A
	// freed address in the subnet drops the hint, so freed addresses are
	// reused first, as the original's allocator does.
	addrHints map[string]netip.Addr
}

func (a *allocator) addrHint(scope string) netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrHints[scope]
}

func (a *allocator) setAddrHint(scope string, addr netip.Addr) {
	a.mu.Lock()
	a.addrHints[scope] = addr
	a.mu.Unlock()
}

// freed is called (by the cache, with its lock held) for every allocation
// key that goes away.
func (a *allocator) freed(scope string) {
	a.mu.Lock()
	delete(a.addrHints, scope)
	a.mu.Unlock()
}

type deferred struct {
	rev  int64
	keys []string
}

// releaseAfter releases keys once the cache has applied rev.
func (a *allocator) releaseAfter(rev int64, keys []string) {
	if len(keys) == 0 {
		return
	}
	a.mu.Lock()
	a.committed = append(a.committed, deferred{rev, keys})
	a.mu.Unlock()
}

// releaseUpTo releases the reservations of writes up to rev. The cache
// calls it with its lock held (lock order: cache.mu, then alloc.mu).
func (a *allocator) releaseUpTo(rev int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	kept := a.committed[:0]
	for _, d := range a.committed {
		if d.rev <= rev {
			for _, k := range d.keys {
				delete(a.pending, k)
			}
			continue
		}
		kept = append(kept, d)
	}
	a.committed = kept
}

const externalTTL = time.Minute

func newAllocator() *allocator {
	return &allocator{
		pending:   map[string]struct{}{},
		hints:     map[string]int64{},
		external:  map[string]time.Time{},
		addrHints: map[string]netip.Addr{},
	}
}

// markExternal records that key is taken outside the object graph.
func (a *allocator) markExternal(key string) {
	a.mu.Lock()
	a.external[key] = time.Now()
	a.mu.Unlock()
}

func (a *allocator) forgetExternal(key string) {
	a.mu.Lock()
	delete(a.external, key)
	a.mu.Unlock()
}

func (a *allocator) reserve(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.pending[key]; ok {
		return false
	}
	a.pending[key] = struct{}{}
	return true
}

func (a *allocator) release(keys []string) {
	if len(keys) == 0 {
		return
	}
	a.mu.Lock()
	for _, k := range keys {
		delete(a.pending, k)
	}
	a.mu.Unlock()
}

// isPending reports whether key is reserved by an in-flight write here or
// known to be taken outside the object graph.
func (a *allocator) isPending(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.pending[key]; ok {
		return true
	}
	if t, ok := a.external[key]; ok {
		if time.Since(t) < externalTTL {
			return true
		}
		delete(a.external, key)
	}
	return false
}

// idPool is a numeric ID space.
type idPool struct {
	name     string
	min, max int64 // inclusive
}

var (
	vnIDPool = idPool{name: "virtual-network", min: 1, max: 1<<24 - 1}
	sgIDPool = idPool{name: "security-group", min: 8000000, max: 8000000 + 1<<32 - 1}
)

// pickID finds a free ID in pool, starting after the last one this server
// handed out, and reserves it locally. used tells whether the committed
// state already holds an ID. Callers hold the cache read lock.
func (s *Server) pickID(p idPool, used func(key string) bool) (int64, string, bool) {
	a := s.alloc
	a.mu.Lock()
	start := a.hints[p.name]
	a.mu.Unlock()
	if start < p.min || start > p.max {
		start = p.min
	}
	n := start
	span := p.max - p.min + 1
	for i := int64(0); i < span; i++ {
		key := s.keys.ID(p.name, strconv.FormatInt(n, 10))
		if !used(key) && !a.isPending(key) && a.reserve(key) {
			a.mu.Lock()
			a.hints[p.name] = n + 1
			a.mu.Unlock()
			return n, key, true
		}
		n++
		if n > p.max {
			n = p.min
		}
	}
	return 0, "", false
}
