// SPDX-License-Identifier: Apache-2.0

// Package controller is the vrouter agent's side of XMPP: one session with
// one control node, over which the agent subscribes to routing instances
// and to its config, publishes its routes and receives route updates and
// config. The vrouter agent runs one Client per control node and handles
// reconnection; tests and the control node's scale benchmark use it as a
// simulated agent.
package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// Handler receives what the control node sends. Calls come from the
// client's reader goroutine, one at a time, in arrival order.
type Handler interface {
	// Update is a route update (items and retracts of one instance and
	// family) or the End-of-RIB marker.
	Update(u *xmpp.Update)
	// Config is a config push.
	Config(c *xmpp.Config)
}

// RawUpdateHandler may be implemented by a Handler that wants route update
// messages undecoded (a load generator that only counts item ids): the
// client then calls UpdateRaw with the message's bytes instead of Update.
type RawUpdateHandler interface {
	UpdateRaw(raw []byte)
}

// Config configures a client.
type Config struct {
	// Server is the control node's XMPP address, "ip:port".
	Server string
	// Name is the agent's host name: its bare JID and the virtual-router's name.
	Name string
	// Subcluster is the stream's xmlns ("" by default, as the original).
	Subcluster string
	// TLS, when set, is used when the control node offers STARTTLS.
	TLS *tls.Config
	// HoldTime: keepalives every HoldTime/3; nothing received for
	// HoldTime ends the session. Default 90 s.
	HoldTime time.Duration
	// DialTimeout bounds connecting and opening the stream. Default 10 s.
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// Client is one XMPP session with a control node.
type Client struct {
	cfg  Config
	conn net.Conn
	h    Handler
	log  *slog.Logger

	wmu    sync.Mutex
	seq    atomic.Uint64
	closed chan struct{}
	once   sync.Once
	err    atomic.Value // error that ended the session

	rxUpdates atomic.Int64
	rxConfigs atomic.Int64
	done      chan struct{}
}

// Dial connects to the control node, opens the stream and starts reading.
func Dial(ctx context.Context, cfg Config, h Handler) (*Client, error) {
	if cfg.HoldTime <= 0 {
		cfg.HoldTime = 90 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		return nil, errors.New("controller: agent name is required")
	}
	d := net.Dialer{Timeout: cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("controller: connect %s: %w", cfg.Server, err)
	}
	c := &Client{cfg: cfg, conn: conn, h: h, log: cfg.Logger.With("control_node", cfg.Server),
		closed: make(chan struct{}), done: make(chan struct{})}
	rd, err := c.open()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("controller: open stream with %s: %w", cfg.Server, err)
	}
	if _, ok := h.(RawUpdateHandler); ok {
		rd.RawMessages = true
	}
	go c.read(rd)
	go c.keepalive()
	return c, nil
}

func (c *Client) open() (*xmpp.Reader, error) {
	c.conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	defer c.conn.SetDeadline(time.Time{})
	hdr := &xmpp.StreamHeader{From: c.cfg.Name, To: xmpp.ControlNodeJID, XMLNS: c.cfg.Subcluster}
	if _, err := c.conn.Write(hdr.Encode()); err != nil {
		return nil, err
	}
	rd := xmpp.NewReader(c.conn, 0)
	f, err := next(rd)
	if err != nil {
		return nil, err
	}
	if f.Kind != xmpp.FrameHeader {
		return nil, fmt.Errorf("expected the control node's stream header, got %s", f.Kind)
	}
	if c.cfg.TLS == nil {
		return rd, nil
	}
	// With TLS configured, the control node offers STARTTLS next.
	f, err = next(rd)
	if err != nil {
		return nil, err
	}
	if f.Kind != xmpp.FrameFeatures || f.Features == nil || !f.Features.StartTLS {
		return nil, fmt.Errorf("TLS required but the control node sent %s", f.Kind)
	}
	if _, err := c.conn.Write([]byte(xmpp.StartTLS)); err != nil {
		return nil, err
	}
	if f, err = next(rd); err != nil {
		return nil, err
	}
	if f.Kind != xmpp.FrameProceed {
		return nil, fmt.Errorf("expected <proceed/>, got %s", f.Kind)
	}
	tc := tls.Client(c.conn, c.cfg.TLS)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	c.conn = tc
	if _, err := c.conn.Write(hdr.Encode()); err != nil {
		return nil, err
	}
	rd = xmpp.NewReader(tc, 0)
	if f, err = next(rd); err != nil {
		return nil, err
	}
	if f.Kind != xmpp.FrameHeader {
		return nil, fmt.Errorf("expected a stream header after TLS, got %s", f.Kind)
	}
	return rd, nil
}

func next(rd *xmpp.Reader) (xmpp.Frame, error) {
	for {
		f, err := rd.Next()
		if err != nil || f.Kind != xmpp.FrameKeepalive {
			return f, err
		}
	}
}

// Done is closed when the session has ended; Err says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the reason the session ended, or nil while it is up.
func (c *Client) Err() error {
	if e, ok := c.err.Load().(error); ok {
		return e
	}
	return nil
}

// Close ends the session.
func (c *Client) Close() error {
	c.shutdown(errors.New("closed"))
	<-c.done
	return nil
}

func (c *Client) shutdown(err error) {
	c.once.Do(func() {
		c.err.Store(err)
		close(c.closed)
		c.wmu.Lock()
		c.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		c.conn.Write([]byte(xmpp.StreamClose))
		c.wmu.Unlock()
		c.conn.Close()
	})
}

// Abort drops the connection without closing the stream, as a crashed
// agent would.
func (c *Client) Abort() {
	c.once.Do(func() {
		c.err.Store(errors.New("aborted"))
		close(c.closed)
		c.conn.Close()
	})
	<-c.done
}

func (c *Client) read(rd *xmpp.Reader) {
	defer close(c.done)
	for {
		c.conn.SetReadDeadline(time.Now().Add(c.cfg.HoldTime))
		f, err := rd.Next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("hold timer expired after %v", c.cfg.HoldTime)
			}
			c.shutdown(err)
			return
		}
		switch f.Kind {
		case xmpp.FrameMessage:
			if rh, ok := c.h.(RawUpdateHandler); ok {
				c.rxUpdates.Add(1)
				rh.UpdateRaw(f.Raw)
				continue
			}
			u, err := xmpp.DecodeMessage(f.Elem)
			if err != nil {
				c.log.Warn("bad update from control node", "err", err)
				continue
			}
			c.rxUpdates.Add(1)
			c.h.Update(u)
		case xmpp.FrameIQ:
			st, err := xmpp.DecodeIQ(f.Elem)
			if err != nil {
				c.log.Warn("bad IQ from control node", "err", err)
				continue
			}
			if cfg, ok := st.(*xmpp.Config); ok {
				c.rxConfigs.Add(1)
				c.h.Config(cfg)
			}
		case xmpp.FrameClose:
			c.shutdown(errors.New("control node closed the stream"))
			return
		}
	}
}

func (c *Client) keepalive() {
	t := time.NewTicker(c.cfg.HoldTime / 3)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
			if err := c.write([]byte(xmpp.Keepalive)); err != nil {
				c.shutdown(err)
				return
			}
		}
	}
}

func (c *Client) write(b []byte) error {
	select {
	case <-c.closed:
		if err := c.Err(); err != nil {
			return fmt.Errorf("controller: session ended: %w", err)
		}
		return errors.New("controller: session ended")
	default:
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(c.cfg.HoldTime))
	_, err := c.conn.Write(b)
	return err
}

func (c *Client) bgpPeer() string { return xmpp.JID(xmpp.ControlNodeJID, xmpp.ResourceBGPPeer) }

// Subscribe subscribes to a routing instance; instanceID is the agent's
// local index of the instance (part of its routes' RD).
func (c *Client) Subscribe(instance string, instanceID int) error {
	id := "subscribe" + strconv.FormatUint(c.seq.Add(1), 10)
	s := xmpp.NewSubscribe(c.cfg.Name, id, instance, instanceID)
	s.To = c.bgpPeer()
	return c.write(s.Marshal())
}

// Unsubscribe ends a routing-instance subscription.
func (c *Client) Unsubscribe(instance string) error {
	id := "unsubscribe" + strconv.FormatUint(c.seq.Add(1), 10)
	u := xmpp.NewUnsubscribe(c.cfg.Name, id, instance)
	u.To = c.bgpPeer()
	return c.write(u.Marshal())
}

// SubscribeConfig asks for the config of this agent's virtual-router
// (fq-name "default-global-system-config:<name>").
func (c *Client) SubscribeConfig(vrouterFQName string) error {
	id := "config" + strconv.FormatUint(c.seq.Add(1), 10)
	s := xmpp.NewConfigSubscribe(c.cfg.Name, id, xmpp.VirtualRouterNode(vrouterFQName))
	s.To = xmpp.JID(xmpp.ControlNodeJID, xmpp.ResourceConfig)
	return c.write(s.Marshal())
}

// SubscribeVM asks for the config of one virtual machine.
func (c *Client) SubscribeVM(uuid string) error {
	id := "vm" + strconv.FormatUint(c.seq.Add(1), 10)
	s := xmpp.NewConfigSubscribe(c.cfg.Name, id, xmpp.VirtualMachineNode(uuid))
	s.To = xmpp.JID(xmpp.ControlNodeJID, xmpp.ResourceConfig)
	return c.write(s.Marshal())
}

// UnsubscribeVM ends the config subscription of one virtual machine.
func (c *Client) UnsubscribeVM(uuid string) error {
	id := "vm" + strconv.FormatUint(c.seq.Add(1), 10)
	u := xmpp.NewUnsubscribe(c.cfg.Name, id, xmpp.VirtualMachineNode(uuid))
	u.To = xmpp.JID(xmpp.ControlNodeJID, xmpp.ResourceConfig)
	return c.write(u.Marshal())
}

// Publish adds (or, with withdraw, removes) a route in a routing instance.
func (c *Client) Publish(vrf string, entry xmpp.Entry, withdraw bool) error {
	rp := &xmpp.RoutePublish{From: c.cfg.Name, Seq: c.seq.Add(1), VRF: vrf, Entry: entry, Withdraw: withdraw}
	return c.write(rp.Marshal())
}

// PublishMany sends several route changes in one write.
func (c *Client) PublishMany(vrf string, entries []xmpp.Entry, withdraw bool) error {
	var b []byte
	for _, e := range entries {
		rp := &xmpp.RoutePublish{From: c.cfg.Name, Seq: c.seq.Add(1), VRF: vrf, Entry: e, Withdraw: withdraw}
		b = rp.AppendMarshal(b)
	}
	return c.write(b)
}

// EndOfRib tells the control node this agent has sent all its routes.
func (c *Client) EndOfRib() error {
	pub, col := xmpp.EndOfRibIQs(c.cfg.Name, c.seq.Add(1))
	return c.write(col.AppendMarshal(pub.Marshal()))
}

// Stats returns how many updates and config messages were received.
func (c *Client) Stats() (updates, configs int64) { return c.rxUpdates.Load(), c.rxConfigs.Load() }
