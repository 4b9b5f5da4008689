// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contrail-go/contrail/internal/ipam"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/store"
)

// Config configures one API server.
type Config struct {
	// Listen is the REST address, e.g. "0.0.0.0:8082" (port 0 picks a free one).
	Listen string
	// MaxRequestBytes bounds request bodies (the original's max_request_size).
	MaxRequestBytes int64
	// WriteTimeout bounds one API write against etcd.
	WriteTimeout time.Duration
	// SkipDefaults leaves the start-up objects alone (tests of other daemons may want that).
	SkipDefaults bool
	// AutonomousSystem of default-global-system-config when it is first created.
	AutonomousSystem int64
	Logger           *slog.Logger
	Registry         *prometheus.Registry
	// OnCommit, when set, is given the shape of every committed write
	// transaction. The benchmark uses it to replay writes of the same size
	// against raw etcd; it must be fast and must not keep the shape.
	OnCommit func(TxnShape)
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "0.0.0.0:8082"
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 1024000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.AutonomousSystem == 0 {
		c.AutonomousSystem = 64512
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the VNC REST API server. It is the only writer of config to etcd.
type Server struct {
	cfg   Config
	st    *store.Store
	keys  store.Keys
	log   *slog.Logger
	cache *cache
	alloc *allocator
	hot   *hotKeys // in-process queue of the writers of contended keys
	mux   *http.ServeMux
	m     *metrics

	listener net.Listener
	ready    chan struct{}
	mu       sync.Mutex

	// committed is the highest revision this server has committed. Reads
	// wait until the cache reaches it, so a client reads its own writes
	// without every write waiting for the watch.
	committed atomic.Int64

	subnetMu    sync.Mutex
	subnetCache map[*model.Object][]*ipam.Subnet
}

// New builds a server on an open store. Start runs it.
func New(st *store.Store, cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:   cfg,
		st:    st,
		keys:  st.Keys,
		log:   cfg.Logger.With("component", "api"),
		cache: newCache(),
		ready: make(chan struct{}),
	}
	s.alloc = newAllocator()
	s.hot = newHotKeys()
	s.subnetCache = map[*model.Object][]*ipam.Subnet{}
	s.cache.allocKeys = s.allocationKeys
	s.cache.onAdvance = s.alloc.releaseUpTo
	s.cache.onFree = func(key string) {
		if scope, ok := s.keys.IPScope(key); ok {
			s.alloc.freed(scope)
		}
	}
	s.m = newMetrics(cfg.Registry, s)
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

// Handler is the REST API as an http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.m.wrap(s.mux) }

// Addr is the bound REST address once Start has begun serving.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Ready is closed when the server serves requests.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Start follows the store, creates the default objects, serves the REST API
// and blocks until ctx ends. Shutdown order: stop accepting, finish in-flight
// requests (bounded), stop the watch; the store is closed by its owner.
func (s *Server) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchErr := make(chan error, 1)
	go func() { watchErr <- s.st.Follow(ctx, 0, s.cache) }()
	select {
	case <-s.cache.Ready():
	case err := <-watchErr:
		return fmt.Errorf("apiserver: config watch: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	if !s.cfg.SkipDefaults {
		if err := s.ensureDefaults(ctx); err != nil {
			return fmt.Errorf("apiserver: default objects: %w", err)
		}
	}
	l, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("apiserver: listen %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.listener = l
	s.mu.Unlock()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	s.log.Info("config API serving", "addr", l.Addr().String())
	close(s.ready)
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	case err = <-watchErr:
		if err != nil {
			err = fmt.Errorf("apiserver: config watch: %w", err)
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	cancel()
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// WaitSynced waits until the server's cache holds every write committed to
// the store before the call.
func (s *Server) WaitSynced(ctx context.Context) error { return s.syncCache(ctx) }
