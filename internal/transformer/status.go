// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/contrail-go/contrail/internal/model"
)

// ObjectStatus is the introspect view of the last reconcile of one key.
type ObjectStatus struct {
	Key        string    `json:"key"`
	FQName     string    `json:"fq_name,omitempty"`
	Last       time.Time `json:"last_reconcile"`
	DurationMS float64   `json:"duration_ms"`
	Result     string    `json:"result"`
	Error      string    `json:"error,omitempty"`
	Problems   []string  `json:"bad_input,omitempty"`
	Writes     int       `json:"writes"`
	Reconciles int       `json:"reconciles"`
}

// statusTable keeps the last reconcile of every key.
type statusTable struct {
	mu sync.Mutex
	m  map[string]*ObjectStatus
}

func newStatusTable() *statusTable { return &statusTable{m: map[string]*ObjectStatus{}} }

func (s *statusTable) get(key string) *ObjectStatus {
	e := s.m[key]
	if e == nil {
		e = &ObjectStatus{Key: key}
		s.m[key] = e
	}
	return e
}

func (s *statusTable) record(key string, at time.Time, d time.Duration, result string, err error, writes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(key)
	e.Last, e.DurationMS, e.Result, e.Writes = at, float64(d.Microseconds())/1000, result, writes
	e.Reconciles++
	e.Error = ""
	if err != nil {
		e.Error = err.Error()
	}
}

// setProblems records the bad input of an object and reports whether it
// changed.
func (s *statusTable) setProblems(key string, o *model.Object, problems []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(key)
	e.FQName = o.FQNameString()
	p := slices.Clone(problems)
	slices.Sort(p)
	p = slices.Compact(p)
	changed := !slices.Equal(p, e.Problems)
	e.Problems = p
	if len(e.Problems) == 0 {
		e.Problems = nil
	}
	return changed
}

func (s *statusTable) forget(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (s *statusTable) inError() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.m {
		if len(e.Problems) > 0 || e.Error != "" {
			n++
		}
	}
	return n
}

// list returns the entries of one type (or all), one key, or only those
// in error, sorted by key.
func (s *statusTable) list(typ, key string, errorsOnly bool) []ObjectStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ObjectStatus{}
	for k, e := range s.m {
		if key != "" && k != key {
			continue
		}
		if t, _ := splitKey(k); typ != "" && t != typ {
			continue
		}
		if errorsOnly && len(e.Problems) == 0 && e.Error == "" {
			continue
		}
		c := *e
		c.Problems = slices.Clone(e.Problems)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ObjectStatus) int { return strings.Compare(a.Key, b.Key) })
	return out
}
