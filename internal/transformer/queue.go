// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"sync"
	"time"
)

// queue is the work queue of reconcile keys. A key is in it at most once;
// a key added while a worker handles it is handed out again after Done, so
// one key never runs in two workers at once and a change seen during a
// reconcile is never lost. Keys added with addAfter wait on a timer first.
type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []string
	queued  map[string]bool // in items
	active  map[string]bool // handed to a worker
	dirty   map[string]bool // added while active
	timers  map[string]*time.Timer
	retries map[string]bool // keys whose timer is work due (a retry), not a periodic check
	closed  bool
}

func newQueue() *queue {
	q := &queue{
		queued:  map[string]bool{},
		active:  map[string]bool{},
		dirty:   map[string]bool{},
		timers:  map[string]*time.Timer{},
		retries: map[string]bool{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues key unless it is queued already.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *queue) addLocked(key string) {
	if q.closed {
		return
	}
	if t, ok := q.timers[key]; ok {
		t.Stop()
		delete(q.timers, key)
		delete(q.retries, key)
	}
	if q.active[key] {
		q.dirty[key] = true
		return
	}
	if q.queued[key] {
		return
	}
	q.queued[key] = true
	q.items = append(q.items, key)
	q.cond.Signal()
}

// addAfter queues key after d, unless something queues it sooner. retry
// says the key failed (the queue is not idle while it waits).
func (q *queue) addAfter(key string, d time.Duration, retry bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.queued[key] {
		return
	}
	if t, ok := q.timers[key]; ok {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.timers[key] != t {
			return
		}
		delete(q.timers, key)
		delete(q.retries, key)
		q.addLocked(key)
	})
	q.timers[key] = t
	if retry {
		q.retries[key] = true
	} else {
		delete(q.retries, key)
	}
}

// addSoon queues key after d unless it is queued or already due within a
// busy timer: a burst of causes runs it once. The wait counts as work
// (the queue is not idle).
func (q *queue) addSoon(key string, d time.Duration) {
	q.mu.Lock()
	busy := q.retries[key]
	pending := q.queued[key] || q.dirty[key]
	q.mu.Unlock()
	if busy || pending {
		return
	}
	q.addAfter(key, d, true)
}

// get blocks until a key is available or the queue is shut down.
func (q *queue) get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	key := q.items[0]
	q.items[0] = ""
	q.items = q.items[1:]
	delete(q.queued, key)
	q.active[key] = true
	return key, true
}

// done marks key finished; if it was added meanwhile it is queued again.
func (q *queue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.active, key)
	if q.dirty[key] {
		delete(q.dirty, key)
		q.addLocked(key)
	}
}

// shutdown wakes every worker, drops every key and stops the timers.
func (q *queue) shutdown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for _, t := range q.timers {
		t.Stop()
	}
	q.timers, q.items = map[string]*time.Timer{}, nil
	q.cond.Broadcast()
}

// queueStats is the introspect view of the queue.
type queueStats struct {
	Depth    int `json:"depth"`
	Active   int `json:"in_flight"`
	Retrying int `json:"retrying"`
	Timers   int `json:"scheduled"`
}

func (q *queue) stats() queueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return queueStats{Depth: len(q.items), Active: len(q.active), Retrying: len(q.retries), Timers: len(q.timers)}
}

// idle reports that no key is queued, running or waiting for a retry.
func (q *queue) idle() bool {
	s := q.stats()
	return s.Depth == 0 && s.Active == 0 && s.Retrying == 0
}
