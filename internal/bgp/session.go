// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// State is an RFC 4271 FSM state.
type State int32

// FSM states.
const (
	Idle State = iota
	Connect
	Active
	OpenSent
	OpenConfirm
	Established
)

var stateNames = [...]string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// NotificationError is a NOTIFICATION sent or received.
type NotificationError struct {
	Code, Subcode uint8
	Data          []byte
	// Received is true when the peer sent it, false when we did.
	Received bool
	Reason   string
}

func (e *NotificationError) Error() string {
	dir := "sent"
	if e.Received {
		dir = "received"
	}
	s := fmt.Sprintf("bgp: notification %d/%d %s", e.Code, e.Subcode, dir)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// ErrSessionClosed is returned by Send after the session has ended.
var ErrSessionClosed = errors.New("bgp: session closed")

// SessionConfig configures one BGP session.
type SessionConfig struct {
	LocalAS, PeerAS uint32
	RouterID        netip.Addr
	// HoldTime is the hold time we propose; 0 disables keepalives and the
	// hold timer if the peer agrees. Values below 3s (other than 0) are
	// raised to 3s. The zero SessionConfig uses 0; callers normally set 90s.
	HoldTime time.Duration
	// Families advertised in the multiprotocol capability (default
	// InetVPN, Inet6VPN, EVPN). The route-target constraint family is
	// always advertised; its routes are ignored for now.
	Families []rib.Family
	// GracefulRestart advertises the graceful restart capability with
	// RestartTime (default 120s). Helper/restarting behaviour is not
	// implemented.
	GracefulRestart bool
	RestartTime     time.Duration
	// Restarting sets the Restart State bit and, for our families, the
	// forwarding state preserved flag in the capability.
	Restarting bool
	// PrefixLimit is the maximum number of prefixes accepted per family;
	// exceeding it closes the session with Cease/Maximum Number of
	// Prefixes Reached (6/1). Zero or absent means no limit.
	PrefixLimit map[rib.Family]int
	// NextHop is our next hop for next-hop-self (eBGP).
	NextHop netip.Addr
	// ClusterID makes us a route reflector towards iBGP peers.
	ClusterID uint32
	// OpenTimeout bounds the wait for the peer's OPEN (default 30s).
	OpenTimeout time.Duration

	// OnEstablished, if set, is called from Run once the session is
	// Established, before any UPDATE is read.
	OnEstablished func(*Session)
	// OnChanges, if set, is called from Run with the changes of each
	// received UPDATE, in order.
	OnChanges func(*Session, []PathChange)
	// OnRouteRefresh, if set, is called from Run when the peer asks for a
	// ROUTE-REFRESH.
	OnRouteRefresh func(*Session, rib.Family)
	// OnOpen, if set, is called from Run once the peer's OPEN is accepted
	// (the session enters OpenConfirm); an error closes the session with
	// NOTIFICATION Cease/Connection Collision Resolution (6/7). The
	// speaker resolves connection collisions here (RFC 4271 6.8).
	OnOpen func(*Session) error
	// OnEndOfRIB, if set, is called from Run when the peer sends the
	// End-of-RIB marker of a family (RFC 4724 section 2);
	// FamilyRouteTarget for the route-target family.
	OnEndOfRIB func(*Session, rib.Family)
	// OnRTC, if set, is called from Run with the route-target membership
	// routes (RFC 4684) of each received UPDATE.
	OnRTC func(*Session, []RTCChange)

	// Outbound tells that we dialled the connection (collision
	// resolution keeps the connection opened by the higher identifier).
	Outbound bool
	// ASOverride replaces the peer's AS with ours in the AS_PATH of
	// routes sent to an eBGP peer.
	ASOverride bool
	// LoopCount is how many times our AS may appear in a received
	// AS_PATH before the route is treated as a loop (default 0).
	LoopCount int
}

// FamilyRouteTarget stands for the route-target family (RFC 4684) where a
// rib.Family is expected (End-of-RIB events); the RIB has no such table.
const FamilyRouteTarget rib.Family = 0xfe

// RTCChange is one route-target membership route (RFC 4684): the peer
// wants VPN routes carrying Target. Default is set for the default route
// (prefix length 0) and for partial prefixes, which ask for every target.
type RTCChange struct {
	OriginAS uint32
	Target   rib.RouteTarget
	Default  bool
	Withdraw bool
}

func (c *SessionConfig) families() []rib.Family {
	if len(c.Families) == 0 {
		return []rib.Family{rib.InetVPN, rib.Inet6VPN, rib.EVPN}
	}
	return c.Families
}

// Session is one BGP session over a connected net.Conn. It starts in
// OpenSent (the caller owns Idle/Connect/Active: dialing and accepting).
// Run drives it; Send queues UPDATEs from other goroutines.
type Session struct {
	cfg   SessionConfig
	conn  net.Conn
	state atomic.Int32

	out  chan []byte
	done chan struct{}

	mu        sync.Mutex
	peerID    netip.Addr
	peerAS    uint32
	hold      time.Duration
	as4       bool
	closeOnce sync.Once
	wmu       sync.Mutex // serialises writes to conn
	notified  bool       // a NOTIFICATION was written: nothing may follow it (under wmu)

	prefixes map[rib.Family]map[rib.Key]struct{}

	// What the peer's OPEN said (under mu).
	peerFams    map[bgp.Family]bool
	peerGR      bool
	peerGRTime  time.Duration
	peerGRFams  map[bgp.Family]bool // families whose forwarding state the peer preserved
	peerRestart bool                // R bit: the peer has restarted
	kill        chan *NotificationError

	// Counters.
	RxUpdates, TxUpdates atomic.Int64

	// testNoKeepalive stops sending KEEPALIVEs (test hook).
	testNoKeepalive atomic.Bool
}

// NewSession returns a session over conn; Run starts it.
func NewSession(conn net.Conn, cfg SessionConfig) *Session {
	s := &Session{
		cfg:      cfg,
		conn:     conn,
		out:      make(chan []byte, 256),
		done:     make(chan struct{}),
		prefixes: make(map[rib.Family]map[rib.Key]struct{}),
		kill:     make(chan *NotificationError, 1),
	}
	s.state.Store(int32(Idle))
	return s
}

// State returns the FSM state.
func (s *Session) State() State { return State(s.state.Load()) }

// PeerID returns the peer's BGP identifier once OPEN was received.
func (s *Session) PeerID() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerID
}

// HoldTime returns the negotiated hold time.
func (s *Session) HoldTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hold
}

// LocalInfo returns what EncodeUpdates needs for this session's peer.
func (s *Session) LocalInfo() LocalInfo {
	return LocalInfo{AS: s.cfg.LocalAS, PeerAS: s.cfg.PeerAS, RouterID: s.cfg.RouterID,
		NextHop: s.cfg.NextHop, ClusterID: s.cfg.ClusterID, ASOverride: s.cfg.ASOverride}
}

// Outbound reports whether we dialled the session's connection.
func (s *Session) Outbound() bool { return s.cfg.Outbound }

// PeerFamily reports whether both sides advertised family f (rib.InetVPN,
// Inet6VPN, EVPN or FamilyRouteTarget) once OPEN was received.
func (s *Session) PeerFamily(f rib.Family) bool {
	bf, ok := bgpFamily(f)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.peerFams[bf] {
		return false
	}
	return f == FamilyRouteTarget || slices.Contains(s.cfg.families(), f)
}

// PeerGracefulRestart returns the restart time the peer advertised in its
// graceful restart capability (RFC 4724), and whether it did.
func (s *Session) PeerGracefulRestart() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerGRTime, s.peerGR
}

// Close ends the session from another goroutine with a NOTIFICATION of
// code/subcode (Run returns the error). Later calls do nothing.
func (s *Session) Close(code, subcode uint8, reason string) {
	select {
	case s.kill <- &NotificationError{Code: code, Subcode: subcode, Reason: reason}:
	default:
	}
}

// Causes given to the context of Run (context.WithCancelCause) that pick
// the Cease subcode sent.
var (
	ErrPeerDeconfigured = errors.New("bgp: peer de-configured")
	ErrAdminDown        = errors.New("bgp: administratively down")
	ErrConfigChange     = errors.New("bgp: configuration changed")
)

// errAbort (Speaker.Abort) ends sessions without a NOTIFICATION.
var errAbort = errors.New("bgp: aborted")

// onCancel ends a session whose context is done: with NOTIFICATION Cease
// and the subcode of the cause, or silently for an abort.
func (s *Session) onCancel(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), errAbort) {
		return errAbort
	}
	sub, why := ceaseSubcode(ctx)
	return s.notify(bgp.BGP_ERROR_CEASE, sub, nil, why)
}

func ceaseSubcode(ctx context.Context) (uint8, string) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrPeerDeconfigured):
		return bgp.BGP_ERROR_SUB_PEER_DECONFIGURED, "peer de-configured"
	case errors.Is(cause, ErrConfigChange):
		return bgp.BGP_ERROR_SUB_OTHER_CONFIGURATION_CHANGE, "configuration changed"
	}
	return bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN, "shutdown"
}

// Send encodes changes for this peer and queues the UPDATEs. It blocks
// while the send queue is full and fails once the session has ended.
func (s *Session) Send(changes []PathChange) error {
	return s.SendRaw(EncodeUpdates(changes, s.LocalInfo()))
}

// setPrefixLimit changes the prefix limits of a running session.
func (s *Session) setPrefixLimit(m map[rib.Family]int) {
	s.mu.Lock()
	s.cfg.PrefixLimit = maps.Clone(m)
	s.mu.Unlock()
}

// SendRaw queues encoded messages (header included).
func (s *Session) SendRaw(msgs [][]byte) error {
	s.TxUpdates.Add(int64(len(msgs)))
	for _, m := range msgs {
		select {
		case s.out <- m:
		case <-s.done:
			return ErrSessionClosed
		}
	}
	return nil
}

// Done is closed when Run has returned.
func (s *Session) Done() <-chan struct{} { return s.done }

type inMsg struct {
	b   []byte
	err error
	// final: the reader handled the message and the session ends with err
	// (any NOTIFICATION is already sent).
	final bool
}

// readMsg reads one message, checking the header itself so that a bad
// marker or length gets its NOTIFICATION.
func readMsg(r io.Reader) ([]byte, error) {
	hdr := make([]byte, bgp.BGP_HEADER_LENGTH, MaxMessageLen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	for _, c := range hdr[:16] {
		if c != 0xff {
			return nil, bgp.NewMessageError(bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_CONNECTION_NOT_SYNCHRONIZED, nil, "marker is not all ones")
		}
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	if n < bgp.BGP_HEADER_LENGTH || n > MaxMessageLen {
		return nil, bgp.NewMessageError(bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_BAD_MESSAGE_LENGTH, slicesClone(hdr[16:18]), "bad message length")
	}
	b := hdr[:n]
	if _, err := io.ReadFull(r, b[bgp.BGP_HEADER_LENGTH:]); err != nil {
		return nil, err
	}
	return b, nil
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

func (s *Session) options() []*bgp.MarshallingOption {
	return []*bgp.MarshallingOption{{Use2ByteAS: !s.as4}}
}

// write sends whole messages; the reader goroutine may write a
// NOTIFICATION while Run writes UPDATEs, so writes are serialised.
func (s *Session) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.notified {
		return ErrSessionClosed
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := s.conn.Write(b)
	return err
}

func (s *Session) writeMsg(m *bgp.BGPMessage) error {
	b, err := m.Serialize(s.options()...)
	if err != nil {
		return err
	}
	return s.write(b)
}

// notify sends a NOTIFICATION (best effort) and returns the error that
// ends the session.
// A NOTIFICATION is the last message of a connection (RFC 4271 6.1): an
// UPDATE or KEEPALIVE that another goroutine has queued is not written
// after it.
func (s *Session) notify(code, sub uint8, data []byte, reason string) error {
	b, err := bgp.NewBGPNotificationMessage(code, sub, data).Serialize(s.options()...)
	s.wmu.Lock()
	if err == nil && !s.notified {
		_ = s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, _ = s.conn.Write(b)
	}
	s.notified = true
	s.wmu.Unlock()
	return &NotificationError{Code: code, Subcode: sub, Data: data, Reason: reason}
}

// notifyErr sends the NOTIFICATION a decode error names.
func (s *Session) notifyErr(err error) error {
	var me *bgp.MessageError
	if errors.As(err, &me) {
		return s.notify(me.TypeCode, me.SubTypeCode, me.Data, me.Message)
	}
	return err
}

func (s *Session) openMessage() *bgp.BGPMessage {
	var caps []bgp.ParameterCapabilityInterface
	var tuples []*bgp.CapGracefulRestartTuple
	for _, f := range s.cfg.families() {
		if bf, ok := bgpFamily(f); ok {
			caps = append(caps, bgp.NewCapMultiProtocol(bf))
			tuples = append(tuples, bgp.NewCapGracefulRestartTuple(bf, s.cfg.Restarting))
		}
	}
	caps = append(caps, bgp.NewCapMultiProtocol(bgp.RF_RTC_UC),
		bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(s.cfg.LocalAS))
	if s.cfg.GracefulRestart {
		rt := s.cfg.RestartTime
		if rt <= 0 {
			rt = 120 * time.Second
		}
		caps = append(caps, bgp.NewCapGracefulRestart(s.cfg.Restarting, true, uint16(min(rt/time.Second, 4095)), tuples))
	}
	as2 := uint16(bgp.AS_TRANS)
	if s.cfg.LocalAS <= 0xFFFF {
		as2 = uint16(s.cfg.LocalAS)
	}
	m, _ := bgp.NewBGPOpenMessage(as2, uint16(s.proposedHold()/time.Second), s.cfg.RouterID,
		[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	return m
}

func (s *Session) proposedHold() time.Duration {
	h := s.cfg.HoldTime
	if h > 0 && h < 3*time.Second {
		h = 3 * time.Second
	}
	return min(h, 65535*time.Second)
}

// Run runs the session until it ends, the peer closes it or ctx is
// cancelled (which sends Cease/Administrative Shutdown). It closes the
// connection before returning and always returns a non-nil error saying
// why the session ended.
func (s *Session) Run(ctx context.Context) (err error) {
	defer s.closeOnce.Do(func() { close(s.done) })
	defer s.state.Store(int32(Idle))
	defer s.conn.Close()

	// Reader: the only goroutine reading conn. It ends when conn closes.
	// Until the session is Established (estab closed, after
	// OnEstablished) it hands messages to Run; then it handles them
	// itself (decoding, OnChanges...), so that a consumer applying
	// backpressure on received routes never keeps Run from writing
	// (and the speaker's senders from draining into the socket). It tells
	// Run of each message (alive) for the hold timer.
	in := make(chan inMsg)
	// ack: Run has handled a message from in; the reader reads no further
	// before, so that messages are handled one at a time, in order.
	ack := make(chan struct{})
	alive := make(chan struct{}, 1)
	estab := make(chan struct{})
	stopRead := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			b, err := readMsg(s.conn)
			final := false
			if err == nil {
				select {
				case <-estab:
					select {
					case alive <- struct{}{}:
					default:
					}
					if err = s.handleEstablished(b); err == nil {
						continue
					}
					b, final = nil, true
				default:
				}
			}
			select {
			case in <- inMsg{b: b, err: err, final: final}:
			case <-stopRead:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-ack:
			case <-stopRead:
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stopRead)
	defer s.conn.Close()

	s.state.Store(int32(OpenSent))
	if err := s.writeMsg(s.openMessage()); err != nil {
		return err
	}
	openTimeout := s.cfg.OpenTimeout
	if openTimeout <= 0 {
		openTimeout = 30 * time.Second
	}
	timer := time.NewTimer(openTimeout)
	defer timer.Stop()

	// OpenSent / OpenConfirm.
	for s.State() != Established {
		var m inMsg
		select {
		case <-ctx.Done():
			return s.onCancel(ctx)
		case k := <-s.kill:
			return s.notify(k.Code, k.Subcode, nil, k.Reason)
		case <-timer.C:
			return s.notify(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0, nil, "hold timer expired in "+s.State().String())
		case m = <-in:
		}
		if m.err != nil {
			return s.notifyErr(m.err)
		}
		msg, perr := bgp.ParseBGPMessage(m.b, s.options()...)
		if perr != nil {
			return s.notifyErr(perr)
		}
		switch body := msg.Body.(type) {
		case *bgp.BGPNotification:
			return &NotificationError{Code: body.ErrorCode, Subcode: body.ErrorSubcode, Data: body.Data, Received: true}
		case *bgp.BGPOpen:
			if s.State() != OpenSent {
				return s.notify(bgp.BGP_ERROR_FSM_ERROR, 0, nil, "OPEN in "+s.State().String())
			}
			if err := s.handleOpen(body); err != nil {
				return err
			}
			s.state.Store(int32(OpenConfirm))
			if s.cfg.OnOpen != nil {
				if err := s.cfg.OnOpen(s); err != nil {
					return s.notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION, nil, err.Error())
				}
			}
			if err := s.writeMsg(bgp.NewBGPKeepAliveMessage()); err != nil {
				return err
			}
			s.state.Store(int32(OpenConfirm))
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			if h := s.HoldTime(); h > 0 {
				timer.Reset(h)
			} else {
				timer.Reset(openTimeout)
			}
		case *bgp.BGPKeepAlive:
			if s.State() != OpenConfirm {
				return s.notify(bgp.BGP_ERROR_FSM_ERROR, 0, nil, "KEEPALIVE in "+s.State().String())
			}
			s.state.Store(int32(Established))
		default:
			return s.notify(bgp.BGP_ERROR_FSM_ERROR, 0, nil, fmt.Sprintf("message type %d in %s", msg.Header.Type, s.State()))
		}
		if s.State() != Established {
			ack <- struct{}{}
		}
	}
	timer.Stop()
	if s.cfg.OnEstablished != nil {
		s.cfg.OnEstablished(s)
	}
	close(estab)
	ack <- struct{}{} // the KEEPALIVE that made the session Established

	// Established.
	hold := s.HoldTime()
	var holdC, kaC <-chan time.Time
	var holdT *time.Timer
	if hold > 0 {
		holdT = time.NewTimer(hold)
		defer holdT.Stop()
		holdC = holdT.C
		kt := time.NewTicker(hold / 3)
		defer kt.Stop()
		kaC = kt.C
	}
	for {
		select {
		case <-ctx.Done():
			return s.onCancel(ctx)
		case k := <-s.kill:
			return s.notify(k.Code, k.Subcode, nil, k.Reason)
		case <-holdC:
			return s.notify(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0, nil, "hold timer expired")
		case <-kaC:
			if s.testNoKeepalive.Load() {
				continue
			}
			if err := s.writeMsg(bgp.NewBGPKeepAliveMessage()); err != nil {
				return err
			}
		case b := <-s.out:
			// Write what is queued in one go.
			buf := b
			for more := true; more && len(buf) < 64<<10; {
				select {
				case b2 := <-s.out:
					buf = append(buf[:len(buf):len(buf)], b2...)
				default:
					more = false
				}
			}
			if err := s.write(buf); err != nil {
				return err
			}
		case <-alive:
			if holdT != nil {
				holdT.Reset(hold)
			}
		case m := <-in:
			if m.final {
				return m.err
			}
			if m.err != nil {
				if errors.Is(m.err, io.EOF) || errors.Is(m.err, net.ErrClosed) {
					return fmt.Errorf("bgp: peer closed the connection: %w", m.err)
				}
				return s.notifyErr(m.err)
			}
			if holdT != nil {
				holdT.Reset(hold)
			}
			// Read before the reader knew the session was Established.
			if err := s.handleEstablished(m.b); err != nil {
				return err
			}
			ack <- struct{}{}
		}
	}
}

func (s *Session) handleOpen(o *bgp.BGPOpen) error {
	peerAS, err := bgp.ValidateOpenMsg(o, s.cfg.PeerAS, s.cfg.LocalAS, s.cfg.RouterID)
	if err != nil {
		return s.notifyErr(err)
	}
	as4 := false
	fams := map[bgp.Family]bool{}
	grFams := map[bgp.Family]bool{}
	var gr, restarted bool
	var grTime time.Duration
	for _, p := range o.OptParams {
		if pc, ok := p.(*bgp.OptionParameterCapability); ok {
			for _, c := range pc.Capability {
				switch c := c.(type) {
				case *bgp.CapFourOctetASNumber:
					as4 = true
				case *bgp.CapMultiProtocol:
					fams[c.CapValue] = true
				case *bgp.CapGracefulRestart:
					gr = true
					grTime = time.Duration(c.Time) * time.Second
					restarted = c.Flags&0x08 != 0
					for _, t := range c.Tuples {
						if t.Flags&0x80 != 0 {
							grFams[bgp.NewFamily(t.AFI, t.SAFI)] = true
						}
					}
				}
			}
		}
	}
	theirs := time.Duration(o.HoldTime) * time.Second
	hold := min(s.proposedHold(), theirs)
	s.mu.Lock()
	s.peerID = o.ID
	s.peerAS = peerAS
	s.hold = hold
	s.as4 = as4
	s.peerFams = fams
	s.peerGR, s.peerGRTime, s.peerGRFams, s.peerRestart = gr, grTime, grFams, restarted
	s.mu.Unlock()
	return nil
}

func (s *Session) handleEstablished(b []byte) error {
	msg, perr := bgp.ParseBGPMessage(b, s.options()...)
	if msg == nil {
		return s.notifyErr(perr)
	}
	switch body := msg.Body.(type) {
	case *bgp.BGPKeepAlive:
		return nil
	case *bgp.BGPNotification:
		return &NotificationError{Code: body.ErrorCode, Subcode: body.ErrorSubcode, Data: body.Data, Received: true}
	case *bgp.BGPRouteRefresh:
		if perr != nil {
			return s.notifyErr(perr)
		}
		if f, ok := familyOf(body.AFI, body.SAFI); ok && s.cfg.OnRouteRefresh != nil {
			s.cfg.OnRouteRefresh(s, f)
		}
		return nil
	case *bgp.BGPUpdate:
		s.RxUpdates.Add(1)
		if f, ok := endOfRIB(body); ok && perr == nil {
			if s.cfg.OnEndOfRIB != nil {
				s.cfg.OnEndOfRIB(s, f)
			}
			return nil
		}
		if rtc := decodeRTC(body); len(rtc) > 0 && s.cfg.OnRTC != nil {
			if _, _, reset := IsSessionReset(perr); !reset {
				s.cfg.OnRTC(s, rtc)
			}
		}
		changes, err := decodeChecked(body, perr)
		if code, sub, reset := IsSessionReset(err); reset {
			return s.notifyErr(bgp.NewMessageError(code, sub, messageErrorData(err), err.Error()))
		}
		s.checkLoops(changes)
		if err := s.countPrefixes(changes); err != nil {
			return err
		}
		if len(changes) > 0 && s.cfg.OnChanges != nil {
			s.cfg.OnChanges(s, changes)
		}
		return nil
	default:
		if perr != nil {
			return s.notifyErr(perr)
		}
		return s.notify(bgp.BGP_ERROR_FSM_ERROR, 0, nil, "unexpected message")
	}
}

func messageErrorData(err error) []byte {
	var me *bgp.MessageError
	if errors.As(err, &me) {
		return me.Data
	}
	return nil
}

// checkLoops marks iBGP paths and turns reflected paths that looped back
// to us (our router id as ORIGINATOR_ID or our cluster id in
// CLUSTER_LIST, RFC 4456 section 8) into withdrawals.
func (s *Session) checkLoops(changes []PathChange) {
	if s.cfg.PeerAS != s.cfg.LocalAS {
		// eBGP: our AS in the AS_PATH more than LoopCount times is a loop.
		for i := range changes {
			c := &changes[i]
			if c.Withdraw {
				continue
			}
			n := 0
			for _, seg := range c.Attrs.ASPath {
				for _, as := range seg.ASNs {
					if as == s.cfg.LocalAS {
						n++
					}
				}
			}
			if n > s.cfg.LoopCount {
				*c = PathChange{Family: c.Family, Key: c.Key, Withdraw: true}
			}
		}
		return
	}
	peer := s.PeerID()
	for i := range changes {
		c := &changes[i]
		if c.Withdraw {
			continue
		}
		c.FromPeer = peer
		if c.Attrs.OriginatorID == s.cfg.RouterID ||
			s.cfg.ClusterID != 0 && slices.Contains(c.Attrs.ClusterList, s.cfg.ClusterID) {
			*c = PathChange{Family: c.Family, Key: c.Key, Withdraw: true}
		}
	}
}

// countPrefixes tracks accepted prefixes per family and enforces the
// prefix limit.
//
// Only families with a limit are tracked (a set of keys per family, so
// that repeated announcements count once): a full feed without a limit
// costs no memory here.
func (s *Session) countPrefixes(changes []PathChange) error {
	s.mu.Lock()
	limits := s.cfg.PrefixLimit
	s.mu.Unlock()
	if len(limits) == 0 {
		return nil
	}
	for _, c := range changes {
		if limits[c.Family] <= 0 {
			continue
		}
		m := s.prefixes[c.Family]
		if c.Withdraw {
			delete(m, c.Key)
			continue
		}
		if m == nil {
			m = make(map[rib.Key]struct{})
			s.prefixes[c.Family] = m
		}
		m[c.Key] = struct{}{}
		if lim := limits[c.Family]; lim > 0 && len(m) > lim {
			bf, _ := bgpFamily(c.Family)
			data := make([]byte, 7)
			binary.BigEndian.PutUint16(data[0:2], bf.Afi())
			data[2] = bf.Safi()
			binary.BigEndian.PutUint32(data[3:7], uint32(lim))
			return s.notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED, data,
				fmt.Sprintf("%s prefix limit %d exceeded", c.Family, lim))
		}
	}
	return nil
}
