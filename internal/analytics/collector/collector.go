// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh"
)

// Config configures a Collector.
type Config struct {
	// Listen is the Sandesh TCP address (default "0.0.0.0:8086").
	Listen string
	// Writer receives the rows (MessageTable, Object*, FlowRecordTable,
	// FlowSeriesTable, StatTable.*). Required.
	Writer store.Writer
	// Logger (default: discard).
	Logger *slog.Logger
	// Registry gets the collector's metrics (default: a private one).
	Registry *prometheus.Registry
	// MaxFrame is the largest frame accepted; a larger one closes the
	// session (default sandesh.DefaultMaxFrame, 4 MiB).
	MaxFrame int
	// SessionQueue bounds the messages of one session waiting to be
	// processed (default 4096). When it is full, logs, flows and stats of
	// that session are dropped and counted; UVEs wait (TCP back-pressure
	// on that generator only).
	SessionQueue int
	// BatchSize is the number of rows the collector gathers before a
	// Write (default 1000); a batch is also written when no more
	// messages are waiting.
	BatchSize int
	// Writers is the number of concurrent Write calls (default 2).
	Writers int
	// HandshakeTimeout bounds the wait for a new session's
	// SandeshCtrlClientToServer (default 10s).
	HandshakeTimeout time.Duration
	// UVESink, if set, gets every UVE change the cache gets (e.g. a
	// redisuve.Writer mirroring the UVEs to Redis).
	UVESink UVESink
	// MaxConnections bounds the connections served at once, sessions and
	// handshakes (default 4096); more are closed at once and counted.
	MaxConnections int
}

// UVESink receives the UVE changes the collector applies to its cache.
// Its methods are called from the sessions' goroutines and must not block.
type UVESink interface {
	Update(o uve.Origin, table, key, structName string, attrs []sandesh.Field, t int64)
	Delete(o uve.Origin, table, key, structName string)
	WithdrawOrigin(o uve.Origin)
}

// Collector receives Sandesh sessions from generators: it keeps their
// UVEs (Cache, a uve.Source) and writes their logs, object logs, flows
// and stats to a store.Writer.
type Collector struct {
	cfg     Config
	log     *slog.Logger
	cache   *uve.Cache
	m       *metrics
	batches chan []store.Row

	mu       sync.Mutex
	ln       net.Listener
	sessions map[uint64]*session
	owners   map[uve.Origin]uint64 // generator -> session that owns its UVEs
	nextID   uint64
	started  bool

	wg      sync.WaitGroup // sessions
	writeWG sync.WaitGroup // writers

	conns                    atomic.Int64 // connections being served
	rowsWritten, writeErrors atomic.Uint64
	lastWriteErr             atomic.Int64
}

// New returns a collector; Listen (optional) and Start run it.
func New(cfg Config) (*Collector, error) {
	if cfg.Writer == nil {
		return nil, errors.New("collector: no store writer")
	}
	if cfg.Listen == "" {
		cfg.Listen = "0.0.0.0:8086"
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = sandesh.DefaultMaxFrame
	}
	if cfg.SessionQueue <= 0 {
		cfg.SessionQueue = 4096
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 2
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 4096
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	c := &Collector{
		cfg:      cfg,
		log:      log.With("component", "collector"),
		cache:    uve.NewCache(),
		batches:  make(chan []store.Row, 64),
		sessions: map[uint64]*session{},
		owners:   map[uve.Origin]uint64{},
	}
	c.m = newMetrics(reg, c)
	return c, nil
}

// UVEs returns the collector's UVE cache; it implements uve.Source.
func (c *Collector) UVEs() *uve.Cache { return c.cache }

// Listen opens the Sandesh listener (Start does it if not done before);
// afterwards Addr tells the bound address.
func (c *Collector) Listen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("collector: listen %s: %w", c.cfg.Listen, err)
	}
	c.ln = ln
	return nil
}

// Addr returns the listener's address, nil before Listen.
func (c *Collector) Addr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln == nil {
		return nil
	}
	return c.ln.Addr()
}

// Start serves generators until ctx ends, then shuts down in this order:
// stop accepting; close every session (each withdraws its generator's
// UVEs and hands its pending rows to the writers); wait for the sessions;
// let the writers write what is left; return. It returns nil after a
// clean shutdown and the listener's error otherwise.
func (c *Collector) Start(ctx context.Context) error {
	if err := c.Listen(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("collector: already started")
	}
	c.started = true
	ln := c.ln
	c.mu.Unlock()
	c.log.Info("collector listening", "addr", ln.Addr().String())

	// Writers outlive the sessions so that the last rows are written; they
	// use a context that is not canceled with ctx.
	wctx := context.WithoutCancel(ctx)
	for i := 0; i < c.cfg.Writers; i++ {
		c.writeWG.Add(1)
		go c.writer(wctx)
	}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		// End the streams following the cache (uve.PathWatch, the
		// analytics API's uve-stream) so their servers can shut down.
		c.cache.CloseWatchers()
	})
	defer stop()

	var err error
	for {
		conn, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("collector: accept: %w", aerr)
			}
			break
		}
		if c.conns.Add(1) > int64(c.cfg.MaxConnections) {
			c.conns.Add(-1)
			c.m.closed.WithLabelValues("too_many_connections").Inc()
			conn.Close()
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.conns.Add(-1)
			c.serve(ctx, conn)
		}()
	}
	c.mu.Lock()
	for _, s := range c.sessions {
		s.fail("collector shutting down")
	}
	c.mu.Unlock()
	c.wg.Wait()
	close(c.batches)
	c.writeWG.Wait()
	return err
}

// writer writes batches, merging those that are waiting up to 4 batch
// sizes per Write.
func (c *Collector) writer(ctx context.Context) {
	defer c.writeWG.Done()
	for b := range c.batches {
	merge:
		for len(b) < 4*c.cfg.BatchSize {
			select {
			case more, ok := <-c.batches:
				if !ok {
					break merge
				}
				b = append(b, more...)
			default:
				break merge
			}
		}
		start := time.Now()
		err := c.cfg.Writer.Write(ctx, b)
		c.m.writeSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			c.writeErrors.Add(1)
			c.m.rowsDropped.Add(float64(len(b)))
			// Log at most every 10 s: a broken store must not flood the log.
			now := time.Now().UnixNano()
			if last := c.lastWriteErr.Load(); now-last > int64(10*time.Second) && c.lastWriteErr.CompareAndSwap(last, now) {
				c.log.Error("store write failed; rows dropped", "rows", len(b), "err", err)
			}
			continue
		}
		c.rowsWritten.Add(uint64(len(b)))
		c.m.rowsWritten.Add(float64(len(b)))
	}
}

// submit hands rows to the writers; it waits while they are busy (the
// back-pressure that fills the sessions' queues).
func (c *Collector) submit(rows []store.Row) {
	if len(rows) == 0 {
		return
	}
	c.batches <- rows
}

// SessionInfo describes one generator session.
type SessionInfo struct {
	Generator string    `json:"generator"` // source:node_type:module:instance_id
	Remote    string    `json:"remote"`
	Since     time.Time `json:"since"`
	Received  uint64    `json:"messages_received"`
	Bytes     uint64    `json:"bytes_received"`
	Dropped   uint64    `json:"messages_dropped_queue_level"`
	QueueLen  int       `json:"queue_length"`
	Pid       uint32    `json:"pid"`
	HTTPPort  uint32    `json:"http_port"`
}

// Sessions lists the current generator sessions.
func (c *Collector) Sessions() []SessionInfo {
	c.mu.Lock()
	out := make([]SessionInfo, 0, len(c.sessions))
	for _, s := range c.sessions {
		out = append(out, s.info())
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Generator < out[j].Generator })
	return out
}

// Stats are the collector's totals.
type Stats struct {
	Sessions      int    `json:"sessions"`
	Received      uint64 `json:"messages_received"`
	Dropped       uint64 `json:"messages_dropped"`
	RowsWritten   uint64 `json:"rows_written"`
	WriteErrors   uint64 `json:"write_errors"`
	UVEs          int    `json:"uves"`
	ClosedInvalid uint64 `json:"sessions_closed_invalid"`
}

// Stats returns the collector's totals.
func (c *Collector) Stats() Stats {
	c.mu.Lock()
	n := len(c.sessions)
	c.mu.Unlock()
	return Stats{
		Sessions: n, Received: c.m.receivedTotal.Load(), Dropped: c.m.droppedTotal.Load(),
		RowsWritten: c.rowsWritten.Load(), WriteErrors: c.writeErrors.Load(), UVEs: c.cache.Len(),
		ClosedInvalid: c.m.invalidTotal.Load(),
	}
}
