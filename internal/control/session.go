// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/rib"
)

// subscription is an agent's subscription to a routing instance.
type subscription struct {
	instanceID int
	noRibOut   bool
}

// session is one XMPP session with a vrouter agent.
type session struct {
	s      *Server
	conn   net.Conn
	remote netip.Addr
	hold   time.Duration // the hold time in force when the session opened
	name   string        // the agent's host name (its bare JID)

	// Output queue, shared by the loop, the config pusher and the writer.
	omu     sync.Mutex
	queue   [][]byte
	queued  int
	wake    chan struct{}
	closed  chan struct{}
	closeMu sync.Once
	reason  atomic.Value // string

	// Counters (atomic).
	rxMsgs, txMsgs, rxBytes, txBytes atomic.Int64
	rxRoutes                         atomic.Int64
	established                      atomic.Int64 // unix nanos

	// Loop-owned.
	peer      rib.PeerID
	up        bool
	subs      map[string]*subscription
	pending   map[string][]pendingRoute // routes for subscribed instances not yet configured
	eorTimer  *time.Timer
	eorSent   bool
	published map[routeRef]struct{} // routes this agent has in the RIB, for unsubscribe
}

type routeRef struct {
	inst string
	fam  rib.Family
	key  rib.Key
}

type pendingRoute struct {
	fam      rib.Family
	key      rib.Key
	label    uint32
	attrs    *rib.Attrs
	withdraw bool
}

func newSession(s *Server, c net.Conn) *session {
	sess := &session{
		s:         s,
		conn:      c,
		wake:      make(chan struct{}, 1),
		closed:    make(chan struct{}),
		subs:      map[string]*subscription{},
		pending:   map[string][]pendingRoute{},
		published: map[routeRef]struct{}{},
		hold:      s.holdTime(),
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		sess.remote = ap.Addr().Unmap()
	}
	return sess
}

// close ends the session once, with a reason for the log.
func (sess *session) close(reason string) {
	sess.closeMu.Do(func() {
		sess.reason.Store(reason)
		close(sess.closed)
		sess.conn.Close()
	})
}

func (sess *session) isClosed() bool {
	select {
	case <-sess.closed:
		return true
	default:
		return false
	}
}

// send queues bytes for the writer. It never blocks; a session whose
// queue grows past the limit is closed (a slow or stuck agent).
func (sess *session) send(b []byte) {
	if len(b) == 0 {
		return
	}
	sess.omu.Lock()
	if sess.isClosed() {
		sess.omu.Unlock()
		return
	}
	sess.queue = append(sess.queue, b)
	sess.queued += len(b)
	over := sess.queued > sess.s.cfg.MaxQueueBytes
	sess.omu.Unlock()
	if over {
		sess.s.log.Warn("agent does not read its messages, closing", "agent", sess.name, "queued_bytes", sess.queued)
		sess.close("output queue over limit")
		return
	}
	select {
	case sess.wake <- struct{}{}:
	default:
	}
}

func (sess *session) writer(ctx context.Context) {
	keep := time.NewTicker(sess.hold / 3)
	defer keep.Stop()
	var batch [][]byte
	for {
		select {
		case <-sess.closed:
			return
		case <-ctx.Done():
			return
		case <-keep.C:
			if err := sess.write([]byte(xmpp.Keepalive)); err != nil {
				sess.close("write: " + err.Error())
				return
			}
			continue
		case <-sess.wake:
		}
		sess.omu.Lock()
		batch, sess.queue = sess.queue, batch[:0]
		sess.queued = 0
		sess.omu.Unlock()
		if len(batch) == 0 {
			continue
		}
		bufs := net.Buffers(batch)
		n, err := bufs.WriteTo(sess.conn)
		sess.txBytes.Add(n)
		sess.txMsgs.Add(int64(len(batch)))
		sess.s.m.txMessages.Add(float64(len(batch)))
		if err != nil {
			sess.close("write: " + err.Error())
			return
		}
		clear(batch)
	}
}

func (sess *session) write(b []byte) error {
	sess.conn.SetWriteDeadline(time.Now().Add(sess.hold))
	n, err := sess.conn.Write(b)
	sess.txBytes.Add(int64(n))
	return err
}

// run serves the session until it ends.
func (sess *session) run(ctx context.Context) {
	s := sess.s
	s.m.sessionsTotal.Inc()
	defer func() {
		sess.close("ended")
		s.post(func() { s.sessionDown(sess) })
	}()
	stop := context.AfterFunc(ctx, func() { sess.close("control node stopping") })
	defer stop()
	rd, err := sess.open()
	if err != nil {
		s.log.Info("XMPP session refused", "remote", sess.conn.RemoteAddr().String(), "agent", sess.name, "err", err)
		return
	}
	sess.established.Store(time.Now().UnixNano())
	upDone := make(chan struct{})
	s.post(func() { s.sessionUp(sess); close(upDone) })
	select {
	case <-upDone:
	case <-sess.closed:
		return
	}
	go sess.writer(ctx)
	err = sess.read(rd)
	reason, _ := sess.reason.Load().(string)
	switch {
	case reason != "" && reason != "ended":
		s.log.Info("XMPP session closed", "agent", sess.name, "reason", reason)
	case errors.Is(err, io.EOF):
		s.log.Info("XMPP session closed by agent", "agent", sess.name)
	default:
		s.log.Warn("XMPP session closed", "agent", sess.name, "err", err)
	}
}

// open reads the agent's stream header, answers it and, when TLS is
// configured, runs STARTTLS and the second stream open.
func (sess *session) open() (*xmpp.Reader, error) {
	s := sess.s
	sess.conn.SetReadDeadline(time.Now().Add(15 * time.Second)) // the original's open timer
	rd := xmpp.NewReader(sess.conn, s.cfg.MaxStanza)
	hdr, err := sess.readHeader(rd)
	if err != nil {
		return nil, err
	}
	reply := &xmpp.StreamHeader{From: xmpp.ControlNodeJID, To: sess.name, ID: "++123", XMLNS: s.cfg.Subcluster}
	if err := sess.write(reply.Encode()); err != nil {
		return nil, err
	}
	_ = hdr
	if s.cfg.TLS != nil {
		f := &xmpp.StreamFeatures{StartTLS: true, TLSRequired: true}
		if err := sess.write(f.Marshal()); err != nil {
			return nil, err
		}
		fr, err := sess.next(rd)
		if err != nil {
			return nil, err
		}
		if fr.Kind != xmpp.FrameStartTLS {
			return nil, fmt.Errorf("expected <starttls/>, got %s", fr.Kind)
		}
		if err := sess.write([]byte(xmpp.Proceed)); err != nil {
			return nil, err
		}
		tc := tls.Server(sess.conn, s.cfg.TLS)
		tc.SetDeadline(time.Now().Add(15 * time.Second))
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		sess.conn = tc
		rd = xmpp.NewReader(tc, s.cfg.MaxStanza)
		if _, err := sess.readHeader(rd); err != nil {
			return nil, err
		}
		if err := sess.write(reply.Encode()); err != nil {
			return nil, err
		}
	}
	sess.conn.SetReadDeadline(time.Now().Add(sess.hold))
	return rd, nil
}

func (sess *session) readHeader(rd *xmpp.Reader) (*xmpp.StreamHeader, error) {
	f, err := sess.next(rd)
	if err != nil {
		return nil, err
	}
	if f.Kind != xmpp.FrameHeader {
		return nil, fmt.Errorf("expected a stream header, got %s", f.Kind)
	}
	h := f.Header
	if h.From == "" {
		return nil, errors.New("stream header without from")
	}
	if sub := sess.s.cfg.Subcluster; sub != "" && h.XMLNS != sub {
		return nil, fmt.Errorf("subcluster %q does not match ours (%q)", h.XMLNS, sub)
	}
	sess.name = h.From
	return h, nil
}

func (sess *session) next(rd *xmpp.Reader) (xmpp.Frame, error) {
	for {
		f, err := rd.Next()
		if err != nil {
			return f, err
		}
		if f.Kind != xmpp.FrameKeepalive {
			return f, nil
		}
	}
}

// read decodes stanzas until the session ends. Any stanza it cannot make
// sense of closes the session: the agent will reconnect and resend.
func (sess *session) read(rd *xmpp.Reader) error {
	s := sess.s
	var pairer xmpp.Pairer
	for {
		sess.conn.SetReadDeadline(time.Now().Add(sess.hold))
		f, err := rd.Next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				sess.close("hold timer expired")
				return fmt.Errorf("hold timer expired after %v", sess.hold)
			}
			if sess.isClosed() {
				return nil
			}
			var de *xmpp.DecodeError
			if errors.As(err, &de) || errors.Is(err, xmpp.ErrStanzaTooLarge) {
				s.m.badStanzas.Inc()
				sess.close("bad input: " + err.Error())
			}
			return err
		}
		sess.rxBytes.Add(int64(len(f.Raw)))
		switch f.Kind {
		case xmpp.FrameKeepalive:
			continue
		case xmpp.FrameClose:
			sess.close("agent closed the stream")
			return io.EOF
		case xmpp.FrameIQ:
			sess.rxMsgs.Add(1)
			s.m.rxMessages.Inc()
			if err := sess.handleIQ(f.Elem, &pairer); err != nil {
				s.m.badStanzas.Inc()
				sess.close("bad input: " + err.Error())
				return err
			}
		case xmpp.FrameMessage:
			sess.rxMsgs.Add(1)
			s.m.rxMessages.Inc()
			// The production agent sends its End-of-RIB as a message.
			if u, err := xmpp.DecodeMessage(f.Elem); err == nil && u.IsEndOfRib() {
				s.post(func() { s.agentEndOfRib(sess) })
			}
		default:
			// Other elements are ignored, as the original does.
		}
	}
}

func (sess *session) handleIQ(el *xmpp.Element, pairer *xmpp.Pairer) error {
	s := sess.s
	st, err := xmpp.DecodeIQ(el)
	if err != nil {
		return err
	}
	switch m := st.(type) {
	case *xmpp.Subscribe:
		if strings.HasSuffix(m.To, "/"+xmpp.ResourceConfig) || isConfigNode(m.Node) {
			node := m.Node
			s.cfgPush.subscribe(sess, node, true)
			return nil
		}
		sub := &subscription{}
		if m.Options != nil {
			sub.instanceID, sub.noRibOut = m.Options.InstanceID, m.Options.NoRibOut
		}
		inst := m.Node
		s.post(func() { s.subscribe(sess, inst, sub) })
	case *xmpp.Unsubscribe:
		if strings.HasSuffix(m.To, "/"+xmpp.ResourceConfig) || isConfigNode(m.Node) {
			s.cfgPush.subscribe(sess, m.Node, false)
			return nil
		}
		inst := m.Node
		s.post(func() { s.unsubscribe(sess, inst) })
	case *xmpp.Publish:
		if old := pairer.Publish(m); old != nil {
			s.log.Debug("publish replaced before its collection", "agent", sess.name, "node", old.Node)
		}
	case *xmpp.Collection:
		rc, err := pairer.Collection(m)
		if err != nil {
			return err
		}
		if rc.EndOfRib {
			s.post(func() { s.agentEndOfRib(sess) })
			return nil
		}
		changes, err := decodeRouteChange(rc)
		if err != nil {
			return err
		}
		sess.rxRoutes.Add(int64(len(changes)))
		s.post(func() { s.publish(sess, rc.VRF, changes) })
	default:
		// IQ results and other IQs need no action.
	}
	return nil
}

func isConfigNode(node string) bool {
	return strings.HasPrefix(node, "virtual-router:") || strings.HasPrefix(node, "virtual-machine:")
}
