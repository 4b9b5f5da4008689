// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"sort"
)

// State is the introspect view of the API server.
type State struct {
	Listen        string         `json:"listen"`
	CacheRevision int64          `json:"cache_revision"`
	Objects       int            `json:"objects"`
	ByType        map[string]int `json:"objects_by_type"`
	Store         []string       `json:"store_endpoints"`
	Embedded      bool           `json:"embedded_store"`
	Pending       []string       `json:"pending_allocations,omitempty"`
}

// State reports what the server holds now.
func (s *Server) State() State {
	st := State{Store: s.st.ClientURLs(), Embedded: s.st.Embedded(), ByType: map[string]int{}}
	if a := s.Addr(); a != nil {
		st.Listen = a.String()
	}
	s.cache.RLock()
	st.CacheRevision = s.cache.Rev()
	st.Objects = s.cache.Len()
	for _, t := range s.cache.Types() {
		st.ByType[t] = s.cache.Count(t)
	}
	s.cache.RUnlock()
	s.alloc.mu.Lock()
	for k := range s.alloc.pending {
		st.Pending = append(st.Pending, k)
	}
	s.alloc.mu.Unlock()
	sort.Strings(st.Pending)
	return st
}

// CheckStore is a health check: the store answers a linearizable read and
// the cache keeps up with it.
func (s *Server) CheckStore(ctx context.Context) error {
	return s.syncCache(ctx)
}
