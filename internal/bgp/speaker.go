// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
)

// Neighbor configures a BGP neighbor.
type Neighbor struct {
	Address netip.Addr
	// Port is the neighbor's port when we dial (default 179).
	Port uint16
	// PeerAS is the neighbor's AS; LocalAS overrides the speaker's AS.
	PeerAS, LocalAS uint32
	// HoldTime is the proposed hold time (default 90s; negative means 0,
	// no keepalives).
	HoldTime time.Duration
	// Passive neighbors are never dialled; we wait for them to connect.
	Passive bool
	// Families default to InetVPN, Inet6VPN and EVPN.
	Families []rib.Family
	// MD5Password enables TCP MD5 signatures (RFC 2385, Linux only).
	MD5Password string
	// PrefixLimit is the maximum number of prefixes per family.
	PrefixLimit map[rib.Family]int
	// GracefulRestart advertises the graceful restart capability.
	GracefulRestart bool
}

// Config configures a Speaker.
type Config struct {
	RouterID netip.Addr
	LocalAS  uint32
	// ListenAddr is the address to listen on, such as "0.0.0.0:179" or
	// "127.0.0.1:0". Empty means do not listen. Its host, if any, is also
	// the source address of outgoing connections.
	ListenAddr string
	// NextHop is our next hop for next-hop-self (default RouterID).
	NextHop netip.Addr
	// ClusterID makes the speaker a route reflector for iBGP neighbors.
	ClusterID uint32
	// ConnectRetry is the first reconnect delay (default 1s); it doubles
	// up to MaxBackoff (default 30s) and resets once a session is up.
	ConnectRetry, MaxBackoff time.Duration
	Logger                   *slog.Logger
}

// EventType tells what an Event reports.
type EventType int

// Event types.
const (
	EventUp      EventType = iota + 1 // session Established
	EventDown                         // session ended; Err says why
	EventChanges                      // paths received
)

// Event is a session or path change of one neighbor.
type Event struct {
	Type     EventType
	Neighbor netip.Addr
	Changes  []PathChange
	Err      error
}

// outKey identifies a path in a neighbor's adj-RIB-out.
type outKey struct {
	fam rib.Family
	key rib.Key
}

type neighbor struct {
	cfg      Neighbor
	incoming chan net.Conn

	// sendMu orders sends to the session: the replay of the
	// adj-RIB-out when it comes up and Advertise calls.
	sendMu sync.Mutex

	mu     sync.Mutex
	sess   *Session
	adjOut map[outKey]PathChange
}

// Speaker owns the sessions to configured neighbors. See doc.go for the
// goroutine layout and shutdown order.
type Speaker struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	events chan Event

	mu        sync.Mutex
	neighbors map[netip.Addr]*neighbor
	ctx       context.Context // set by Start
	stopping  bool
	wg        sync.WaitGroup
	startOnce sync.Once
	pending   []*neighbor
}

// NewSpeaker binds the listener (if configured) and returns a speaker;
// Start runs it.
func NewSpeaker(cfg Config) (*Speaker, error) {
	if !cfg.RouterID.Is4() {
		return nil, errors.New("bgp: router id must be an IPv4 address")
	}
	if cfg.LocalAS == 0 {
		return nil, errors.New("bgp: local AS is required")
	}
	if !cfg.NextHop.IsValid() {
		cfg.NextHop = cfg.RouterID
	}
	if cfg.ConnectRetry <= 0 {
		cfg.ConnectRetry = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Speaker{cfg: cfg, log: cfg.Logger, events: make(chan Event, 1024), neighbors: make(map[netip.Addr]*neighbor)}
	if cfg.ListenAddr != "" {
		// Plain TCP: MPTCP sockets (the Go default for listeners)
		// reject TCP_MD5SIG.
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(context.Background(), "tcp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("bgp: listen: %w", err)
		}
		s.ln = ln
	}
	return s, nil
}

// Addr returns the bound listen address, nil if not listening.
func (s *Speaker) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Events returns the event channel. It is closed when Start returns.
// The consumer must keep reading: a full channel stalls the sessions.
func (s *Speaker) Events() <-chan Event { return s.events }

// AddNeighbor configures a neighbor; its session starts with Start (or
// at once if Start is running).
func (s *Speaker) AddNeighbor(n Neighbor) error {
	if !n.Address.IsValid() {
		return errors.New("bgp: neighbor address required")
	}
	n.Address = n.Address.Unmap()
	if n.Port == 0 {
		n.Port = 179
	}
	if n.LocalAS == 0 {
		n.LocalAS = s.cfg.LocalAS
	}
	if n.PeerAS == 0 {
		return fmt.Errorf("bgp: neighbor %s: peer AS required", n.Address)
	}
	switch {
	case n.HoldTime == 0:
		n.HoldTime = 90 * time.Second
	case n.HoldTime < 0:
		n.HoldTime = 0
	}
	nb := &neighbor{cfg: n, incoming: make(chan net.Conn, 1), adjOut: make(map[outKey]PathChange)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return errors.New("bgp: speaker stopped")
	}
	if _, ok := s.neighbors[n.Address]; ok {
		return fmt.Errorf("bgp: neighbor %s already configured", n.Address)
	}
	if n.MD5Password != "" && s.ln != nil {
		if err := listenerMD5(s.ln, n.Address, n.MD5Password); err != nil {
			return err
		}
	}
	s.neighbors[n.Address] = nb
	if s.ctx != nil {
		s.goNeighbor(nb)
	} else {
		s.pending = append(s.pending, nb)
	}
	return nil
}

func listenerMD5(ln net.Listener, peer netip.Addr, key string) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return errors.New("bgp: listener does not expose its socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return setMD5(rc, peer, key)
}

// goNeighbor starts a neighbor goroutine; s.mu is held.
func (s *Speaker) goNeighbor(nb *neighbor) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runNeighbor(s.ctx, nb)
	}()
}

// Start runs the speaker until ctx is cancelled, then shuts down in the
// order documented in doc.go and closes Events. It may be called once.
func (s *Speaker) Start(ctx context.Context) error {
	started := false
	s.startOnce.Do(func() { started = true })
	if !started {
		return errors.New("bgp: speaker already started")
	}
	s.mu.Lock()
	s.ctx = ctx
	for _, nb := range s.pending {
		s.goNeighbor(nb)
	}
	s.pending = nil
	s.mu.Unlock()

	var acceptWG sync.WaitGroup
	if s.ln != nil {
		acceptWG.Add(1)
		go func() {
			defer acceptWG.Done()
			s.acceptLoop(ctx)
		}()
	}
	<-ctx.Done()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	acceptWG.Wait()
	s.wg.Wait()
	// Close accepted connections no session took.
	s.mu.Lock()
	for _, nb := range s.neighbors {
		select {
		case c := <-nb.incoming:
			c.Close()
		default:
		}
	}
	s.mu.Unlock()
	close(s.events)
	return nil
}

func (s *Speaker) acceptLoop(ctx context.Context) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("bgp accept", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		s.mu.Lock()
		nb := s.neighbors[ap.Addr().Unmap()]
		s.mu.Unlock()
		if nb == nil {
			s.log.Info("bgp: connection from unknown peer", "peer", c.RemoteAddr())
			c.Close()
			continue
		}
		nb.mu.Lock()
		busy := nb.sess != nil
		nb.mu.Unlock()
		if busy {
			// Connection collision resolution is not implemented: an
			// Established session wins.
			c.Close()
			continue
		}
		select {
		case nb.incoming <- c:
		default:
			// A connection is already pending or a session is up
			// (collision handling is not implemented).
			c.Close()
		}
	}
}

func (s *Speaker) emit(ctx context.Context, ev Event) {
	select {
	case s.events <- ev:
	case <-ctx.Done():
	}
}

// runNeighbor is the neighbor's goroutine: Idle -> Connect/Active ->
// session -> backoff, until ctx is done.
func (s *Speaker) runNeighbor(ctx context.Context, nb *neighbor) {
	backoff := s.cfg.ConnectRetry
	for ctx.Err() == nil {
		conn := s.connect(ctx, nb, backoff)
		if conn == nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(backoff*2, s.cfg.MaxBackoff)
			continue
		}
		up := false
		sess := NewSession(conn, s.sessionConfig(nb, &up))
		err := sess.Run(ctx)
		nb.mu.Lock()
		nb.sess = nil
		nb.mu.Unlock()
		if up {
			backoff = s.cfg.ConnectRetry
			s.emit(ctx, Event{Type: EventDown, Neighbor: nb.cfg.Address, Err: err})
		} else {
			backoff = min(backoff*2, s.cfg.MaxBackoff)
		}
		s.log.Info("bgp session ended", "neighbor", nb.cfg.Address, "err", err)
		// Wait before the next attempt; an incoming connection is
		// taken at once by connect.
		t := time.NewTimer(s.cfg.ConnectRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// connect returns a connection to nb: an accepted one, or (unless
// passive) one we dial after waiting up to wait for an incoming one.
func (s *Speaker) connect(ctx context.Context, nb *neighbor, wait time.Duration) net.Conn {
	if nb.cfg.Passive {
		select {
		case c := <-nb.incoming:
			return c
		case <-ctx.Done():
			return nil
		}
	}
	select {
	case c := <-nb.incoming:
		return c
	case <-ctx.Done():
		return nil
	default:
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	d.SetMultipathTCP(false)
	if s.ln != nil {
		if ap, err := netip.ParseAddrPort(s.ln.Addr().String()); err == nil && !ap.Addr().IsUnspecified() {
			d.LocalAddr = &net.TCPAddr{IP: ap.Addr().AsSlice()}
		}
	}
	if nb.cfg.MD5Password != "" {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			return setMD5(rc, nb.cfg.Address, nb.cfg.MD5Password)
		}
	}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(nb.cfg.Address.String(), strconv.Itoa(int(nb.cfg.Port))))
	if err == nil {
		return c
	}
	s.log.Debug("bgp dial", "neighbor", nb.cfg.Address, "err", err)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case c := <-nb.incoming:
		return c
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

func (s *Speaker) sessionConfig(nb *neighbor, up *bool) SessionConfig {
	n := nb.cfg
	return SessionConfig{
		LocalAS:         n.LocalAS,
		PeerAS:          n.PeerAS,
		RouterID:        s.cfg.RouterID,
		HoldTime:        n.HoldTime,
		Families:        n.Families,
		GracefulRestart: n.GracefulRestart,
		PrefixLimit:     n.PrefixLimit,
		NextHop:         s.cfg.NextHop,
		ClusterID:       s.cfg.ClusterID,
		OnEstablished: func(sess *Session) {
			*up = true
			nb.mu.Lock()
			nb.sess = sess
			nb.mu.Unlock()
			s.emit(s.ctx, Event{Type: EventUp, Neighbor: n.Address})
			s.replay(nb, sess, 0)
		},
		OnChanges: func(_ *Session, ch []PathChange) {
			s.emit(s.ctx, Event{Type: EventChanges, Neighbor: n.Address, Changes: ch})
		},
		OnRouteRefresh: func(sess *Session, f rib.Family) {
			s.replay(nb, sess, f)
		},
	}
}

// replay sends the adj-RIB-out (of family f, all if 0) to sess from a
// new goroutine: Send blocks on a full queue, which only the session's
// own goroutine (the caller) drains.
func (s *Speaker) replay(nb *neighbor, sess *Session, f rib.Family) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		nb.sendMu.Lock()
		defer nb.sendMu.Unlock()
		nb.mu.Lock()
		var sel []PathChange
		for _, c := range nb.adjOut {
			if f == 0 || c.Family == f {
				sel = append(sel, c)
			}
		}
		nb.mu.Unlock()
		if len(sel) > 0 {
			_ = sess.Send(sel)
		}
	}()
}

// Advertise records changes in the neighbor's adj-RIB-out and sends them
// if its session is Established (otherwise they are sent when it comes
// up).
func (s *Speaker) Advertise(neighborAddr netip.Addr, changes []PathChange) error {
	s.mu.Lock()
	nb := s.neighbors[neighborAddr.Unmap()]
	s.mu.Unlock()
	if nb == nil {
		return fmt.Errorf("bgp: unknown neighbor %s", neighborAddr)
	}
	return s.advertise(nb, changes)
}

// AdvertiseAll is Advertise to every neighbor.
func (s *Speaker) AdvertiseAll(changes []PathChange) error {
	s.mu.Lock()
	nbs := make([]*neighbor, 0, len(s.neighbors))
	for _, nb := range s.neighbors {
		nbs = append(nbs, nb)
	}
	s.mu.Unlock()
	var errs []error
	for _, nb := range nbs {
		errs = append(errs, s.advertise(nb, changes))
	}
	return errors.Join(errs...)
}

func (s *Speaker) advertise(nb *neighbor, changes []PathChange) error {
	nb.sendMu.Lock()
	defer nb.sendMu.Unlock()
	nb.mu.Lock()
	for _, c := range changes {
		k := outKey{c.Family, c.Key}
		if c.Withdraw {
			delete(nb.adjOut, k)
		} else {
			nb.adjOut[k] = c
		}
	}
	sess := nb.sess
	nb.mu.Unlock()
	if sess == nil || sess.State() != Established {
		return nil
	}
	if err := sess.Send(changes); err != nil && !errors.Is(err, ErrSessionClosed) {
		return err
	}
	return nil
}

// State returns the FSM state of the neighbor's session (Idle if none).
func (s *Speaker) State(neighborAddr netip.Addr) State {
	s.mu.Lock()
	nb := s.neighbors[neighborAddr.Unmap()]
	s.mu.Unlock()
	if nb == nil {
		return Idle
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if nb.sess == nil {
		return Idle
	}
	return nb.sess.State()
}
