// SPDX-License-Identifier: Apache-2.0

package uve

import "context"

// Change tells that the UVE Table:Key may have changed: struct Struct of
// one of its generators was updated or removed. It carries no value; a
// watcher reads the current aggregated UVE from the Source, so several
// changes to one UVE fold into one read.
type Change struct {
	Table   string `json:"table"`
	Key     string `json:"key"`
	Struct  string `json:"struct"`
	Removed bool   `json:"removed,omitempty"`
}

// Watcher is a Source that reports its changes.
type Watcher interface {
	// Watch returns a channel that gets the changes made after Watch
	// returns, buffered for buf of them (default 1024). The channel is
	// closed when ctx ends, and also when the watcher falls behind (the
	// buffer fills: the source never waits for a watcher) or loses its
	// connection to the source. A caller that still wants changes then
	// watches again and re-reads the whole state it follows.
	Watch(ctx context.Context, buf int) (<-chan Change, error)
}

// DefaultWatchBuffer is the buffer Watch uses for buf <= 0.
const DefaultWatchBuffer = 1024

type watcher struct {
	ch chan Change
}

// Watch implements Watcher. A watcher whose buffer is full when a change
// comes is dropped (its channel closed) rather than waited for, so a
// slow reader never holds up the generators' updates.
func (c *Cache) Watch(ctx context.Context, buf int) (<-chan Change, error) {
	if buf <= 0 {
		buf = DefaultWatchBuffer
	}
	w := &watcher{ch: make(chan Change, buf)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		close(w.ch)
		return w.ch, nil
	}
	if c.watchers == nil {
		c.watchers = map[*watcher]struct{}{}
	}
	c.watchers[w] = struct{}{}
	c.mu.Unlock()
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.dropLocked(w)
	})
	return w.ch, nil
}

// dropLocked closes w's channel if it is still registered.
func (c *Cache) dropLocked(w *watcher) {
	if _, ok := c.watchers[w]; ok {
		delete(c.watchers, w)
		close(w.ch)
	}
}

// notifyLocked hands ch to every watcher, dropping those that are full.
func (c *Cache) notifyLocked(ch Change) {
	for w := range c.watchers {
		select {
		case w.ch <- ch:
		default:
			c.droppedWatchers++
			c.dropLocked(w)
		}
	}
}

// CloseWatchers ends every watch (their channels close) and makes later
// Watch calls return closed channels: the collector calls it when it
// stops, so that streams following the cache end.
func (c *Cache) CloseWatchers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for w := range c.watchers {
		c.dropLocked(w)
	}
}

// WatchStats returns the watchers registered and how many were dropped
// for falling behind.
func (c *Cache) WatchStats() (watchers int, dropped uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.watchers), c.droppedWatchers
}
