// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
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
	// AdminDown keeps the neighbor configured but without a session:
	// nothing is dialled and connections from it are closed.
	AdminDown bool
	// Families default to InetVPN, Inet6VPN and EVPN.
	Families []rib.Family
	// MD5Password enables TCP MD5 signatures (RFC 2385, Linux only).
	MD5Password string
	// PrefixLimit is the maximum number of prefixes per family.
	PrefixLimit map[rib.Family]int
	// PrefixLimitIdle is how long the neighbor stays idle (no dialling,
	// connections refused) after its session was closed for exceeding
	// the prefix limit; 0 uses the usual reconnect backoff.
	PrefixLimitIdle time.Duration
	// GracefulRestart advertises the graceful restart capability with
	// RestartTime (default 120s).
	GracefulRestart bool
	RestartTime     time.Duration
	// GRHelper keeps the routes of a peer that advertised graceful
	// restart when its session fails (Event.RestartTime of EventDown).
	GRHelper bool
	// ASOverride replaces the peer's AS with ours in AS_PATHs sent to it
	// (eBGP).
	ASOverride bool
	// LoopCount is how often our AS may appear in a received AS_PATH.
	LoopCount int
}

// equalNeighbor reports whether two neighbor configs are the same.
func equalNeighbor(a, b Neighbor) bool {
	return a.Address == b.Address && a.Port == b.Port && a.PeerAS == b.PeerAS && a.LocalAS == b.LocalAS &&
		a.HoldTime == b.HoldTime && a.Passive == b.Passive && a.AdminDown == b.AdminDown &&
		slices.Equal(a.Families, b.Families) && a.MD5Password == b.MD5Password &&
		maps.Equal(a.PrefixLimit, b.PrefixLimit) && a.PrefixLimitIdle == b.PrefixLimitIdle &&
		a.GracefulRestart == b.GracefulRestart && a.RestartTime == b.RestartTime && a.GRHelper == b.GRHelper && a.ASOverride == b.ASOverride &&
		a.LoopCount == b.LoopCount
}

// softChange reports whether b differs from a only in settings that apply
// without resetting the session: passive, the prefix limit idle time, the
// GR helper, and prefix limit values of families that had a limit (a
// running session only tracks families it had a limit for).
func softChange(a, b Neighbor) bool {
	a2 := a
	a2.Passive, a2.PrefixLimitIdle, a2.GRHelper, a2.PrefixLimit = b.Passive, b.PrefixLimitIdle, b.GRHelper, b.PrefixLimit
	if !equalNeighbor(a2, b) {
		return false
	}
	for f, n := range b.PrefixLimit {
		if n > 0 && a.PrefixLimit[f] <= 0 {
			return false
		}
	}
	return true
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
	// Restarting starts the speaker as a restarting speaker (RFC 4724
	// section 4.1): neighbors with GracefulRestart get the Restart State
	// bit and forwarding-state-preserved flags (the vrouters keep
	// forwarding while a control node restarts), and the VPN End-of-RIB
	// markers are held back until EndRestart, so that helpers keep our
	// previous routes until the agents have published theirs again.
	Restarting bool
	// ConnectRetry is the first reconnect delay (default 1s); it doubles
	// up to MaxBackoff (default 30s) and resets once a session is up.
	ConnectRetry, MaxBackoff time.Duration
	Logger                   *slog.Logger
}

// EventType tells what an Event reports.
type EventType int

// Event types.
const (
	EventUp       EventType = iota + 1 // session Established
	EventDown                          // session ended; Err says why
	EventChanges                       // paths received
	EventEndOfRIB                      // End-of-RIB received for Family
)

// Event is a session or path change of one neighbor.
type Event struct {
	Type     EventType
	Neighbor netip.Addr
	// Session numbers the Established sessions of the speaker: the events
	// of one session carry its number (a neighbor re-configured at run
	// time may report the end of its old session after the new one is
	// up).
	Session uint64
	Changes []PathChange
	Err     error
	// PeerID (EventUp) is the peer's BGP identifier; External tells an
	// eBGP peer; Families are the VPN families both sides advertised.
	PeerID   netip.Addr
	External bool
	Families []rib.Family
	// Family is the family of EventEndOfRIB (FamilyRouteTarget for
	// route-target membership).
	Family rib.Family
	// RestartTime (EventDown) is non-zero when the neighbor is a graceful
	// restart helper for this peer and the session failed without a
	// NOTIFICATION (other than hold timer expiry): keep the peer's routes
	// as stale for this long, or until it is back and sends End-of-RIB.
	RestartTime time.Duration
}

// outKey identifies a path in a neighbor's adj-RIB-out.
type outKey struct {
	fam rib.Family
	key rib.Key
}

// outEntry is a path in a neighbor's adj-RIB-out; sent tells that it was
// sent on the current session (it may be held back by the peer's
// route-target filter).
type outEntry struct {
	pc   PathChange
	sent bool
}

type neighbor struct {
	cfg      Neighbor
	ctx      context.Context
	cancel   context.CancelCauseFunc
	incoming chan net.Conn

	// sendMu orders sends to the session: the replay of the
	// adj-RIB-out when it comes up and Advertise calls.
	sendMu sync.Mutex

	mu        sync.Mutex
	sess      *Session   // Established session
	cands     []*Session // sessions before Established
	sessID    uint64
	adjOut    map[outKey]*outEntry
	idleUntil time.Time

	// Route-target constraint on the current session: the peer's
	// membership routes, by target, with their number of origins.
	rtcOn      bool
	rtc        map[rib.RouteTarget]int
	rtcDefault int
	vpnEoRSent bool
	// The VPN End-of-RIB goes out once the adj-RIB-out was replayed, the
	// peer's route-target End-of-RIB is in (when the family is on) and
	// the speaker is not restarting (see Config.Restarting).
	replayed, peerRTCEoR bool
	// Our membership routes sent on the current session.
	rtcSent        map[rib.RouteTarget]bool
	rtcSentDefault bool

	// Statistics for the introspect.
	flaps       int
	upSince     time.Time
	lastErr     string
	lastErrTime time.Time
}

// NeighborStatus is a neighbor as the introspect shows it.
type NeighborStatus struct {
	Address       string    `json:"peer_address"`
	Port          uint16    `json:"peer_port"`
	PeerAS        uint32    `json:"peer_asn"`
	LocalAS       uint32    `json:"local_asn"`
	PeerID        string    `json:"peer_id,omitempty"`
	State         string    `json:"state"`
	Passive       bool      `json:"passive"`
	AdminDown     bool      `json:"admin_down"`
	Families      []string  `json:"families,omitempty"`
	Negotiated    []string  `json:"negotiated_families,omitempty"`
	HoldTime      int       `json:"hold_time"`
	UpSince       time.Time `json:"established_since,omitzero"`
	Flaps         int       `json:"flap_count"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_at,omitzero"`
	RxUpdates     int64     `json:"rx_update_messages"`
	TxUpdates     int64     `json:"tx_update_messages"`
	PrefixesSent  int       `json:"prefixes_sent"`
	RTCTargets    int       `json:"peer_route_targets"`
	Outbound      bool      `json:"outbound,omitempty"`
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
	// localRTC are the targets we ask peers for (route-target
	// constraint): the import targets of our instances. Until
	// SetRouteTargets is called it is nil and we send the default
	// membership route, which asks for everything.
	localRTC map[rib.RouteTarget]bool

	sessSeq    atomic.Uint64
	restarting bool // under mu
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
	s := &Speaker{cfg: cfg, log: cfg.Logger, events: make(chan Event, 1024), neighbors: make(map[netip.Addr]*neighbor),
		restarting: cfg.Restarting}
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

// CloseListener closes the listening socket at once, so that a new
// speaker may bind the same address while this one shuts down (Start
// returns after its sessions end).
func (s *Speaker) CloseListener() {
	if s.ln != nil {
		s.ln.Close()
	}
}

// Events returns the event channel. It is closed when Start returns.
// The consumer must keep reading: a full channel stalls the sessions.
func (s *Speaker) Events() <-chan Event { return s.events }

func (s *Speaker) normalize(n Neighbor) (Neighbor, error) {
	if !n.Address.IsValid() {
		return n, errors.New("bgp: neighbor address required")
	}
	n.Address = n.Address.Unmap()
	if n.Port == 0 {
		n.Port = 179
	}
	if n.LocalAS == 0 {
		n.LocalAS = s.cfg.LocalAS
	}
	if n.PeerAS == 0 {
		return n, fmt.Errorf("bgp: neighbor %s: peer AS required", n.Address)
	}
	switch {
	case n.HoldTime == 0:
		n.HoldTime = 90 * time.Second
	case n.HoldTime < 0:
		n.HoldTime = 0
	}
	return n, nil
}

// AddNeighbor configures a neighbor; its session starts with Start (or
// at once if Start is running).
func (s *Speaker) AddNeighbor(n Neighbor) error {
	n, err := s.normalize(n)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.neighbors[n.Address]; ok {
		return fmt.Errorf("bgp: neighbor %s already configured", n.Address)
	}
	return s.addLocked(n, nil)
}

// addLocked adds a neighbor with an optional adj-RIB-out carried over
// from its previous configuration; s.mu is held.
func (s *Speaker) addLocked(n Neighbor, adjOut map[outKey]*outEntry) error {
	if s.stopping {
		return errors.New("bgp: speaker stopped")
	}
	if n.MD5Password != "" && s.ln != nil {
		if err := listenerMD5(s.ln, n.Address, n.MD5Password); err != nil {
			return err
		}
	}
	if adjOut == nil {
		adjOut = make(map[outKey]*outEntry)
	}
	nb := &neighbor{cfg: n, incoming: make(chan net.Conn, 2), adjOut: adjOut}
	s.neighbors[n.Address] = nb
	if s.ctx != nil {
		s.goNeighbor(nb)
	} else {
		s.pending = append(s.pending, nb)
	}
	return nil
}

// SetNeighbor adds a neighbor or changes its configuration at run time.
// Changes to passive, the GR helper, prefix limit values and the prefix
// limit idle time apply to the running session; any other change closes
// the session (NOTIFICATION Cease/Other Configuration Change, or
// Administrative Shutdown for admin down) and starts a new one, keeping
// what we advertise to the neighbor. It returns whether a running
// session had to be reset.
func (s *Speaker) SetNeighbor(n Neighbor) (reset bool, err error) {
	n, err = s.normalize(n)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	nb := s.neighbors[n.Address]
	if nb == nil {
		return false, s.addLocked(n, nil)
	}
	nb.mu.Lock()
	old := nb.cfg
	if equalNeighbor(old, n) {
		nb.mu.Unlock()
		return false, nil
	}
	if softChange(old, n) {
		nb.cfg = n
		if !maps.Equal(old.PrefixLimit, n.PrefixLimit) || old.PrefixLimitIdle != n.PrefixLimitIdle {
			nb.idleUntil = time.Time{} // the operator changed the limit: try again
		}
		sessions := append(slices.Clone(nb.cands), nb.sess)
		nb.mu.Unlock()
		for _, sess := range sessions {
			if sess != nil {
				sess.setPrefixLimit(n.PrefixLimit)
			}
		}
		// Wake the neighbor goroutine: passive may have been cleared.
		nb.poke()
		return false, nil
	}
	reset = nb.sess != nil || len(nb.cands) > 0
	adjOut := nb.adjOut
	nb.mu.Unlock()
	cause := ErrConfigChange
	if n.AdminDown && !old.AdminDown {
		cause = ErrAdminDown
	}
	if nb.cancel != nil {
		nb.cancel(cause)
	}
	delete(s.neighbors, n.Address)
	for _, e := range adjOut {
		e.sent = false
	}
	return reset, s.addLocked(n, adjOut)
}

// RemoveNeighbor deletes a neighbor: its session ends with NOTIFICATION
// Cease/Peer De-configured (6/3) and EventDown.
func (s *Speaker) RemoveNeighbor(addr netip.Addr) error {
	addr = addr.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	nb := s.neighbors[addr]
	if nb == nil {
		return fmt.Errorf("bgp: unknown neighbor %s", addr)
	}
	delete(s.neighbors, addr)
	if nb.cancel != nil {
		nb.cancel(ErrPeerDeconfigured)
	} else {
		s.pending = slices.DeleteFunc(s.pending, func(x *neighbor) bool { return x == nb })
	}
	if nb.cfg.MD5Password != "" && s.ln != nil {
		_ = listenerMD5(s.ln, addr, "")
	}
	return nil
}

// Neighbors returns the configured neighbors' addresses.
func (s *Speaker) Neighbors() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Keys(s.neighbors))
	slices.SortFunc(out, netip.Addr.Compare)
	return out
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
	nb.ctx, nb.cancel = context.WithCancelCause(s.ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runNeighbor(nb)
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
		for {
			select {
			case c := <-nb.incoming:
				if c != nil {
					c.Close()
				}
				continue
			default:
			}
			break
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
		// The neighbor goroutine runs it; a collision with a session of
		// ours is resolved once its OPEN is in (RFC 4271 6.8).
		select {
		case nb.incoming <- c:
		default:
			c.Close()
		}
	}
}

// poke wakes the neighbor goroutine (a nil connection) after a
// configuration change.
func (nb *neighbor) poke() {
	select {
	case nb.incoming <- nil:
	default:
	}
}

func (s *Speaker) emit(ev Event) {
	select {
	case s.events <- ev:
	case <-s.ctx.Done():
	}
}

type sessionEnd struct {
	sess     *Session
	err      error
	outbound bool
}

// runNeighbor is the neighbor's goroutine: it dials (unless passive) with
// backoff, runs accepted connections, and reports the end of sessions,
// until the neighbor's context ends. Several sessions may run while a
// collision is being resolved.
func (s *Speaker) runNeighbor(nb *neighbor) {
	ctx := nb.ctx
	backoff := s.cfg.ConnectRetry
	ended := make(chan sessionEnd, 4)
	dialed := make(chan net.Conn, 1)
	running, outbound := 0, 0
	dialing := false
	dialT := time.NewTimer(0)
	defer dialT.Stop()
	cfg := func() Neighbor {
		nb.mu.Lock()
		defer nb.mu.Unlock()
		return nb.cfg
	}
	for {
		select {
		case <-ctx.Done():
			for running > 0 {
				e := <-ended
				running--
				s.sessionEnded(nb, e)
			}
			if dialing {
				if c := <-dialed; c != nil {
					c.Close()
				}
			}
			return
		case <-dialT.C:
			c := cfg()
			nb.mu.Lock()
			busy := nb.sess != nil || time.Now().Before(nb.idleUntil)
			nb.mu.Unlock()
			if c.Passive || c.AdminDown || dialing || outbound > 0 || busy {
				continue
			}
			dialing = true
			go func() { dialed <- s.dial(ctx, c) }()
		case c := <-dialed:
			dialing = false
			if c == nil {
				backoff = min(backoff*2, s.cfg.MaxBackoff)
				dialT.Reset(jitter(backoff))
				continue
			}
			running++
			outbound++
			s.startSession(nb, c, true, ended)
		case c := <-nb.incoming:
			if c == nil { // configuration changed
				dialT.Reset(0)
				continue
			}
			nb.mu.Lock()
			idle := time.Now().Before(nb.idleUntil)
			nb.mu.Unlock()
			if cfg().AdminDown || idle {
				c.Close()
				continue
			}
			running++
			s.startSession(nb, c, false, ended)
		case e := <-ended:
			running--
			if e.outbound {
				outbound--
			}
			wasUp := s.sessionEnded(nb, e)
			delay := backoff
			if wasUp {
				backoff = s.cfg.ConnectRetry
				delay = backoff
			} else if e.outbound {
				backoff = min(backoff*2, s.cfg.MaxBackoff)
			}
			var ne *NotificationError
			if idle := cfg().PrefixLimitIdle; idle > 0 && errors.As(e.err, &ne) && !ne.Received &&
				ne.Code == bgp.BGP_ERROR_CEASE && ne.Subcode == bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED {
				nb.mu.Lock()
				nb.idleUntil = time.Now().Add(idle)
				nb.mu.Unlock()
				delay = idle
			}
			dialT.Reset(jitter(delay))
		}
	}
}

// jitter returns d reduced by up to a quarter, so that two speakers that
// dial each other do not stay in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

func (s *Speaker) startSession(nb *neighbor, c net.Conn, outbound bool, ended chan<- sessionEnd) {
	sess := NewSession(c, s.sessionConfig(nb, outbound))
	nb.mu.Lock()
	nb.cands = append(nb.cands, sess)
	nb.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := sess.Run(nb.ctx)
		ended <- sessionEnd{sess: sess, err: err, outbound: outbound}
	}()
}

// sessionEnded forgets a session and reports EventDown if it was
// Established.
func (s *Speaker) sessionEnded(nb *neighbor, e sessionEnd) bool {
	nb.mu.Lock()
	nb.cands = slices.DeleteFunc(nb.cands, func(x *Session) bool { return x == e.sess })
	wasUp := nb.sess == e.sess
	id := nb.sessID
	helper := nb.cfg.GRHelper
	if wasUp {
		nb.sess = nil
		nb.rtcOn = false
		nb.upSince = time.Time{}
	}
	if e.err != nil {
		nb.lastErr, nb.lastErrTime = e.err.Error(), time.Now()
	}
	nb.mu.Unlock()
	s.log.Info("bgp session ended", "neighbor", nb.cfg.Address, "up", wasUp, "err", e.err)
	if !wasUp {
		return false
	}
	ev := Event{Type: EventDown, Neighbor: nb.cfg.Address, Session: id, Err: e.err}
	if rt, ok := e.sess.PeerGracefulRestart(); ok && helper && gracefulEnd(e.err) {
		ev.RestartTime = rt
	}
	s.emit(ev)
	return true
}

// gracefulEnd reports whether a session that ended with err may be
// helped through a restart (RFC 4724 section 4.2): the connection failed
// or the hold timer expired; any other NOTIFICATION ends it for good.
func gracefulEnd(err error) bool {
	var ne *NotificationError
	if !errors.As(err, &ne) {
		return true
	}
	return ne.Code == bgp.BGP_ERROR_HOLD_TIMER_EXPIRED
}

// dial connects to the neighbor; nil if it failed.
func (s *Speaker) dial(ctx context.Context, n Neighbor) net.Conn {
	d := net.Dialer{Timeout: 5 * time.Second}
	d.SetMultipathTCP(false)
	if s.ln != nil {
		if ap, err := netip.ParseAddrPort(s.ln.Addr().String()); err == nil && !ap.Addr().IsUnspecified() {
			d.LocalAddr = &net.TCPAddr{IP: ap.Addr().AsSlice()}
		}
	}
	if n.MD5Password != "" {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			return setMD5(rc, n.Address, n.MD5Password)
		}
	}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(n.Address.String(), strconv.Itoa(int(n.Port))))
	if err != nil {
		s.log.Debug("bgp dial", "neighbor", n.Address, "err", err)
		return nil
	}
	return c
}

// errCollision loses a connection collision.
var errCollision = errors.New("connection collision")

// resolveCollision runs when sess has the peer's OPEN (RFC 4271 6.8): an
// Established session wins; between two sessions that both have the
// peer's OPEN, the one whose connection the speaker with the higher BGP
// identifier opened is kept.
func (s *Speaker) resolveCollision(nb *neighbor, sess *Session) error {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if nb.sess != nil {
		return errCollision
	}
	peerID := sess.PeerID()
	keepOutbound := s.cfg.RouterID.Compare(peerID) > 0
	for _, other := range nb.cands {
		if other == sess || other.State() != OpenConfirm {
			continue
		}
		if sess.Outbound() == keepOutbound {
			other.Close(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION, "connection collision")
		} else {
			return errCollision
		}
	}
	return nil
}

func (s *Speaker) sessionConfig(nb *neighbor, outbound bool) SessionConfig {
	nb.mu.Lock()
	n := nb.cfg
	nb.mu.Unlock()
	return SessionConfig{
		LocalAS:         n.LocalAS,
		PeerAS:          n.PeerAS,
		RouterID:        s.cfg.RouterID,
		HoldTime:        n.HoldTime,
		Families:        n.Families,
		GracefulRestart: n.GracefulRestart,
		RestartTime:     n.RestartTime,
		Restarting:      s.Restarting(),
		PrefixLimit:     maps.Clone(n.PrefixLimit),
		NextHop:         s.cfg.NextHop,
		ClusterID:       s.cfg.ClusterID,
		Outbound:        outbound,
		ASOverride:      n.ASOverride,
		LoopCount:       n.LoopCount,
		OnOpen: func(sess *Session) error {
			return s.resolveCollision(nb, sess)
		},
		OnEstablished: func(sess *Session) {
			nb.mu.Lock()
			if nb.sess != nil {
				// Lost a race with another session that got here first.
				nb.mu.Unlock()
				sess.Close(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION, "connection collision")
				return
			}
			nb.cands = slices.DeleteFunc(nb.cands, func(x *Session) bool { return x == sess })
			nb.sess = sess
			nb.sessID = s.sessSeq.Add(1)
			nb.flaps++
			nb.upSince = time.Now()
			nb.rtcOn = sess.PeerFamily(FamilyRouteTarget)
			nb.rtc = map[rib.RouteTarget]int{}
			nb.rtcDefault = 0
			nb.vpnEoRSent, nb.replayed, nb.peerRTCEoR = false, false, false
			nb.rtcSent, nb.rtcSentDefault = nil, false
			id := nb.sessID
			nb.mu.Unlock()
			var fams []rib.Family
			for _, f := range vpnFamilies {
				if sess.PeerFamily(f) {
					fams = append(fams, f)
				}
			}
			s.emit(Event{Type: EventUp, Neighbor: n.Address, Session: id, PeerID: sess.PeerID(),
				External: n.PeerAS != n.LocalAS, Families: fams})
			s.replay(nb, sess, 0, true)
		},
		OnChanges: func(sess *Session, ch []PathChange) {
			for i := range ch {
				ch[i].Source = n.Address
				ch[i].SourceIBGP = n.PeerAS == n.LocalAS
			}
			s.emit(Event{Type: EventChanges, Neighbor: n.Address, Session: s.currentID(nb, sess), Changes: ch})
		},
		OnRouteRefresh: func(sess *Session, f rib.Family) {
			s.replay(nb, sess, f, false)
		},
		OnEndOfRIB: func(sess *Session, f rib.Family) {
			if f == FamilyRouteTarget {
				s.rtcEndOfRIB(nb, sess)
			}
			s.emit(Event{Type: EventEndOfRIB, Neighbor: n.Address, Session: s.currentID(nb, sess), Family: f})
		},
		OnRTC: func(sess *Session, ch []RTCChange) {
			s.peerRTC(nb, sess, ch)
		},
	}
}

func (s *Speaker) currentID(nb *neighbor, sess *Session) uint64 {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if nb.sess == sess {
		return nb.sessID
	}
	return 0
}

// vpnFamilies are the families the adj-RIB-out holds.
var vpnFamilies = []rib.Family{rib.InetVPN, rib.Inet6VPN, rib.EVPN}

// passes reports whether the peer's route-target filter lets c through;
// nb.mu is held.
func (nb *neighbor) passes(c *PathChange) bool {
	if !nb.rtcOn || nb.rtcDefault > 0 {
		return true
	}
	for _, rt := range c.Attrs.RouteTargets {
		if nb.rtc[rt] > 0 {
			return true
		}
	}
	return false
}

// replay sends the adj-RIB-out (of family f, all if 0) to sess from a
// new goroutine: Send blocks on a full queue, which only the session's
// own goroutine (the caller) drains. On a new session (up) it first sends
// our route-target membership routes and, after the routes, the
// End-of-RIB markers (those of the VPN families wait for the peer's
// route-target End-of-RIB when the route-target constraint is on).
func (s *Speaker) replay(nb *neighbor, sess *Session, f rib.Family, up bool) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		nb.sendMu.Lock()
		defer nb.sendMu.Unlock()
		rtc := sess.PeerFamily(FamilyRouteTarget)
		if up && rtc {
			msgs := s.rtcReconcileLocked(nb, sess)
			msgs = append(msgs, EndOfRIB(FamilyRouteTarget))
			if sess.SendRaw(msgs) != nil {
				return
			}
		}
		nb.mu.Lock()
		if nb.sess != sess {
			nb.mu.Unlock()
			return
		}
		var sel []PathChange
		for _, e := range nb.adjOut {
			if f != 0 && e.pc.Family != f {
				continue
			}
			if !sess.PeerFamily(e.pc.Family) {
				e.sent = false
				continue
			}
			e.sent = nb.passes(&e.pc)
			if e.sent {
				sel = append(sel, e.pc)
			}
		}
		nb.mu.Unlock()
		if len(sel) > 0 {
			if sess.Send(sel) != nil {
				return
			}
		}
		if up {
			nb.mu.Lock()
			nb.replayed = true
			nb.mu.Unlock()
			s.maybeVPNEndOfRIB(nb, sess)
		}
	}()
}

// maybeVPNEndOfRIB sends the End-of-RIB of the negotiated VPN families
// once the session is ready for it (see neighbor.replayed); nb.sendMu is
// held.
func (s *Speaker) maybeVPNEndOfRIB(nb *neighbor, sess *Session) {
	s.mu.Lock()
	restarting := s.restarting
	s.mu.Unlock()
	nb.mu.Lock()
	ready := nb.sess == sess && !nb.vpnEoRSent && nb.replayed && (!nb.rtcOn || nb.peerRTCEoR) && !restarting
	if ready {
		nb.vpnEoRSent = true
	}
	nb.mu.Unlock()
	if !ready {
		return
	}
	var msgs [][]byte
	for _, f := range vpnFamilies {
		if sess.PeerFamily(f) {
			msgs = append(msgs, EndOfRIB(f))
		}
	}
	_ = sess.SendRaw(msgs)
}

// EndRestart ends the restarting period (Config.Restarting): the VPN
// End-of-RIB markers held back are sent, and new sessions no longer
// carry the Restart State bit.
func (s *Speaker) EndRestart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.restarting {
		return
	}
	s.restarting = false
	if s.stopping {
		return
	}
	for _, nb := range s.neighbors {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			nb.sendMu.Lock()
			defer nb.sendMu.Unlock()
			nb.mu.Lock()
			sess := nb.sess
			nb.mu.Unlock()
			if sess != nil {
				s.maybeVPNEndOfRIB(nb, sess)
			}
		}()
	}
}

// Restarting reports whether the speaker is still in its restarting
// period.
func (s *Speaker) Restarting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarting
}

// Abort ends every session at once without a NOTIFICATION and stops the
// neighbors, as a crash would (for tests of peers' graceful restart
// helpers); the speaker is unusable afterwards.
func (s *Speaker) Abort() {
	s.CloseListener()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, nb := range s.neighbors {
		if nb.cancel != nil {
			nb.cancel(errAbort)
		}
	}
}

// rtcEndOfRIB: the peer has sent all its route-target membership routes,
// so what it wants is known: send the VPN End-of-RIB markers (RFC 4684
// section 6).
func (s *Speaker) rtcEndOfRIB(nb *neighbor, sess *Session) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		nb.sendMu.Lock()
		defer nb.sendMu.Unlock()
		// The routes the membership routes received so far select go
		// before the End-of-RIB markers.
		s.resyncLocked(nb, sess)
		nb.mu.Lock()
		if nb.sess == sess {
			nb.peerRTCEoR = true
		}
		nb.mu.Unlock()
		s.maybeVPNEndOfRIB(nb, sess)
	}()
}

// peerRTC applies the peer's route-target membership changes and sends
// the routes that now pass (or withdraws those that no longer do).
func (s *Speaker) peerRTC(nb *neighbor, sess *Session, ch []RTCChange) {
	nb.mu.Lock()
	if nb.sess != sess || !nb.rtcOn {
		nb.mu.Unlock()
		return
	}
	for _, c := range ch {
		d := 1
		if c.Withdraw {
			d = -1
		}
		if c.Default {
			nb.rtcDefault = max(nb.rtcDefault+d, 0)
			continue
		}
		n := max(nb.rtc[c.Target]+d, 0)
		if n == 0 {
			delete(nb.rtc, c.Target)
		} else {
			nb.rtc[c.Target] = n
		}
	}
	nb.mu.Unlock()
	s.resyncRTC(nb, sess)
}

// resyncRTC sends the difference between what passes the peer's filter
// and what was sent, from a new goroutine.
func (s *Speaker) resyncRTC(nb *neighbor, sess *Session) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		nb.sendMu.Lock()
		defer nb.sendMu.Unlock()
		s.resyncLocked(nb, sess)
	}()
}

// resyncLocked is resyncRTC's work; nb.sendMu is held.
func (s *Speaker) resyncLocked(nb *neighbor, sess *Session) {
	{
		nb.mu.Lock()
		if nb.sess != sess {
			nb.mu.Unlock()
			return
		}
		var send []PathChange
		for k, e := range nb.adjOut {
			if !sess.PeerFamily(e.pc.Family) {
				continue
			}
			pass := nb.passes(&e.pc)
			switch {
			case pass && !e.sent:
				send = append(send, e.pc)
			case !pass && e.sent:
				send = append(send, PathChange{Family: k.fam, Key: k.key, Withdraw: true})
			}
			e.sent = pass
		}
		nb.mu.Unlock()
		if len(send) > 0 {
			_ = sess.Send(send)
		}
	}
}

// SetRouteTargets sets the targets we advertise as route-target
// membership routes (the import targets of our instances) and sends the
// difference to the neighbors that negotiated the route-target family.
//
// It does not wait for the sends (a session's send queue may be full
// while its own goroutine waits for the caller): one goroutine per
// neighbor brings what the neighbor was sent in line with the targets set
// last.
func (s *Speaker) SetRouteTargets(targets []rib.RouteTarget) {
	want := map[rib.RouteTarget]bool{}
	for _, rt := range targets {
		want[rt] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.localRTC != nil && maps.Equal(s.localRTC, want) {
		return
	}
	s.localRTC = want
	if s.stopping {
		return
	}
	for _, nb := range s.neighbors {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			nb.sendMu.Lock()
			defer nb.sendMu.Unlock()
			nb.mu.Lock()
			sess := nb.sess
			nb.mu.Unlock()
			if sess != nil && sess.PeerFamily(FamilyRouteTarget) {
				_ = sess.SendRaw(s.rtcReconcileLocked(nb, sess))
			}
		}()
	}
}

// rtcReconcileLocked returns the membership routes to announce and
// withdraw so that the session has exactly our current targets (the
// default route while none were set), and records them as sent;
// nb.sendMu is held.
func (s *Speaker) rtcReconcileLocked(nb *neighbor, sess *Session) [][]byte {
	s.mu.Lock()
	wantDefault := s.localRTC == nil
	want := maps.Clone(s.localRTC)
	s.mu.Unlock()
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if nb.sess != sess {
		return nil
	}
	var add, del []rib.RouteTarget
	for rt := range want {
		if !nb.rtcSent[rt] {
			add = append(add, rt)
		}
	}
	for rt := range nb.rtcSent {
		if !want[rt] {
			del = append(del, rt)
		}
	}
	slices.Sort(add)
	slices.Sort(del)
	local := sess.LocalInfo()
	var msgs [][]byte
	if wantDefault && !nb.rtcSentDefault {
		msgs = append(msgs, EncodeRTC(nil, false, local)...)
	}
	if len(add) > 0 {
		msgs = append(msgs, EncodeRTC(add, false, local)...)
	}
	if len(del) > 0 {
		msgs = append(msgs, EncodeRTC(del, true, local)...)
	}
	if !wantDefault && nb.rtcSentDefault {
		msgs = append(msgs, EncodeRTC(nil, true, local)...)
	}
	nb.rtcSent, nb.rtcSentDefault = want, wantDefault
	return msgs
}

// eligible reports whether a path may be advertised to nb: never back to
// the neighbor it came from, and a path learned over iBGP goes to iBGP
// neighbors only when we are a route reflector (RFC 4456).
func (s *Speaker) eligible(nb *neighbor, c *PathChange) bool {
	if !c.Source.IsValid() {
		return true
	}
	if c.Source == nb.cfg.Address {
		return false
	}
	if c.SourceIBGP && nb.cfg.PeerAS == nb.cfg.LocalAS && s.cfg.ClusterID == 0 {
		return false
	}
	return true
}

// Advertise records changes in the neighbor's adj-RIB-out and sends them
// if its session is Established (otherwise they are sent when it comes
// up). Paths the neighbor must not get (see eligible) count as
// withdrawals; the peer's route-target filter holds back what it did not
// ask for.
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
	nbs := slices.Collect(maps.Values(s.neighbors))
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
	sess := nb.sess
	live := sess != nil && sess.State() == Established
	var send []PathChange
	for i := range changes {
		c := &changes[i]
		k := outKey{c.Family, c.Key}
		e := nb.adjOut[k]
		if c.Withdraw || !s.eligible(nb, c) {
			if e != nil {
				delete(nb.adjOut, k)
				if e.sent && live {
					send = append(send, PathChange{Family: c.Family, Key: c.Key, Withdraw: true})
				}
			}
			continue
		}
		if e == nil {
			e = &outEntry{}
			nb.adjOut[k] = e
		}
		e.pc = *c
		wasSent := e.sent
		e.sent = live && sess.PeerFamily(c.Family) && nb.passes(c)
		switch {
		case e.sent:
			send = append(send, *c)
		case wasSent && live:
			send = append(send, PathChange{Family: c.Family, Key: c.Key, Withdraw: true})
		}
	}
	nb.mu.Unlock()
	if !live || len(send) == 0 {
		return nil
	}
	if err := sess.Send(send); err != nil && !errors.Is(err, ErrSessionClosed) {
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
	if nb.sess != nil {
		return nb.sess.State()
	}
	st := Idle
	for _, c := range nb.cands {
		st = max(st, c.State())
	}
	if st == Idle && !nb.cfg.AdminDown {
		if nb.cfg.Passive {
			st = Active
		} else {
			st = Connect
		}
	}
	return st
}

// Status returns the neighbors as the introspect shows them.
func (s *Speaker) Status() []NeighborStatus {
	s.mu.Lock()
	nbs := slices.Collect(maps.Values(s.neighbors))
	s.mu.Unlock()
	var out []NeighborStatus
	for _, nb := range nbs {
		st := s.State(nb.cfg.Address)
		nb.mu.Lock()
		c := nb.cfg
		ns := NeighborStatus{Address: c.Address.String(), Port: c.Port, PeerAS: c.PeerAS, LocalAS: c.LocalAS,
			State: st.String(), Passive: c.Passive, AdminDown: c.AdminDown, HoldTime: int(c.HoldTime / time.Second),
			UpSince: nb.upSince, Flaps: nb.flaps, LastError: nb.lastErr, LastErrorTime: nb.lastErrTime}
		fams := c.Families
		if len(fams) == 0 {
			fams = vpnFamilies
		}
		for _, f := range fams {
			ns.Families = append(ns.Families, familyName(f))
		}
		ns.Families = append(ns.Families, familyName(FamilyRouteTarget))
		if sess := nb.sess; sess != nil {
			ns.PeerID = sess.PeerID().String()
			ns.HoldTime = int(sess.HoldTime() / time.Second)
			ns.RxUpdates, ns.TxUpdates = sess.RxUpdates.Load(), sess.TxUpdates.Load()
			ns.Outbound = sess.Outbound()
			for _, f := range append(slices.Clone(vpnFamilies), FamilyRouteTarget) {
				if sess.PeerFamily(f) {
					ns.Negotiated = append(ns.Negotiated, familyName(f))
				}
			}
			for _, e := range nb.adjOut {
				if e.sent {
					ns.PrefixesSent++
				}
			}
			ns.RTCTargets = len(nb.rtc) + nb.rtcDefault
		}
		nb.mu.Unlock()
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b NeighborStatus) int {
		return netip.MustParseAddr(a.Address).Compare(netip.MustParseAddr(b.Address))
	})
	return out
}

// familyName is the original's name of a family (bgp_schema.xsd
// AddressFamily).
func familyName(f rib.Family) string {
	switch f {
	case rib.InetVPN:
		return "inet-vpn"
	case rib.Inet6VPN:
		return "inet6-vpn"
	case rib.EVPN:
		return "e-vpn"
	case FamilyRouteTarget:
		return "route-target"
	}
	return f.String()
}
