// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/rib"
	"github.com/contrail-go/contrail/internal/store"
)

// Server is a control node.
type Server struct {
	cfg   Config
	log   *slog.Logger
	st    *store.Store
	graph *confgraph.Graph
	m     *metrics

	ev   chan func()
	done chan struct{}

	// Owned by the loop.
	rib       *rib.RIB
	instances map[string]rib.InstanceConfig
	instSubs  map[string]map[*session]*subscription
	sessions  map[string]*session // by agent name

	listener net.Listener
	lmu      sync.Mutex
	ready    chan struct{}
	wg       sync.WaitGroup

	cfgPush *configPusher
	bgp     *bgpSide        // owned by the loop; nil until this node's bgp-router exists
	ctx     context.Context // Start's context, for goroutines started later
	// hold is the XMPP hold time for new sessions: the configured one, or
	// global-system-config's fast_convergence_parameters.xmpp_hold_time
	// when fast convergence is enabled there.
	hold atomic.Int64
	// listening is when the XMPP listener opened (Unix ns).
	listening atomic.Int64
}

func (s *Server) holdTime() time.Duration { return time.Duration(s.hold.Load()) }

func (s *Server) setHoldTime(d time.Duration) {
	if old := time.Duration(s.hold.Swap(int64(d))); old != d {
		s.log.Info("XMPP hold time for new sessions", "hold_time", d)
	}
}

// New builds a control node that reads config from st. Start runs it.
func New(st *store.Store, cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "control"),
		st:        st,
		graph:     confgraph.New(),
		ev:        make(chan func(), 4096),
		done:      make(chan struct{}),
		rib:       rib.New(),
		instances: map[string]rib.InstanceConfig{},
		instSubs:  map[string]map[*session]*subscription{},
		sessions:  map[string]*session{},
		ready:     make(chan struct{}),
	}
	s.hold.Store(int64(cfg.HoldTime))
	s.m = newMetrics(cfg.Registry, s)
	s.cfgPush = newConfigPusher(s)
	return s
}

// Ready is closed when the XMPP listener accepts sessions.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the XMPP listener's address once ready.
func (s *Server) Addr() net.Addr {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Graph is the control node's view of the config.
func (s *Server) Graph() *confgraph.Graph { return s.graph }

// post runs fn on the event loop. It never blocks once the loop has ended.
func (s *Server) post(fn func()) {
	select {
	case s.ev <- fn:
	case <-s.done:
	}
}

// call runs fn on the loop and waits for it (introspect and tests).
func (s *Server) call(ctx context.Context, fn func()) error {
	ran := make(chan struct{})
	s.post(func() { fn(); close(ran) })
	select {
	case <-ran:
		return nil
	case <-s.done:
		return errors.New("control: stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start follows the config, serves XMPP and blocks until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	loopDone := make(chan struct{})
	go func() { s.loop(ctx); close(loopDone) }()

	s.graph.Subscribe(func(b confgraph.Batch) { s.cfgPush.changed(b) })
	followErr := make(chan error, 1)
	go func() { followErr <- s.st.Follow(ctx, 0, s.graph) }()
	select {
	case <-s.graph.Ready():
	case err := <-followErr:
		return fmt.Errorf("control: config watch: %w", err)
	case <-ctx.Done():
		return nil
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.cfgPush.run(ctx) }()

	l, err := net.Listen("tcp", s.cfg.XMPPListen)
	if err != nil {
		return fmt.Errorf("control: listen %s: %w", s.cfg.XMPPListen, err)
	}
	s.lmu.Lock()
	s.listener = l
	s.lmu.Unlock()
	s.log.Info("XMPP serving", "addr", l.Addr().String(), "hold_time", s.cfg.HoldTime)
	s.listening.Store(time.Now().UnixNano())
	close(s.ready)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.accept(ctx, l) }()

	select {
	case <-ctx.Done():
	case err = <-followErr:
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("control: config watch: %w", err)
		}
	}
	cancel()
	l.Close()
	s.wg.Wait()
	<-loopDone
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

func (s *Server) accept(ctx context.Context, l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.log.Warn("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		sess := newSession(s, c)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); sess.run(ctx) }()
	}
}

// loop owns the RIB. Every closure posted runs here; after a burst of
// them the RIB's changes are drained and sent to the subscribed agents.
func (s *Server) loop(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case fn := <-s.ev:
			fn()
			for i := 0; i < 1024; i++ {
				select {
				case fn := <-s.ev:
					fn()
					continue
				default:
				}
				break
			}
			s.flushRoutes()
		}
	}
}
