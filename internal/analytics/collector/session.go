// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh"
)

// session is one generator's connection.
type session struct {
	id     uint64
	conn   net.Conn
	remote string
	since  time.Time
	origin uve.Origin
	ctrl   *sandesh.CtrlClientToServer
	queue  chan *sandesh.Message

	received, bytes, dropped atomic.Uint64
	boxes                    boxes // used by the processor goroutine only

	failOnce sync.Once
	reason   atomic.Value // string
	invalid  atomic.Bool  // closed because of bad input
}

func (s *session) info() SessionInfo {
	return SessionInfo{
		Generator: s.origin.String(), Remote: s.remote, Since: s.since,
		Received: s.received.Load(), Bytes: s.bytes.Load(), Dropped: s.dropped.Load(),
		QueueLen: len(s.queue), Pid: s.ctrl.Pid, HTTPPort: s.ctrl.HTTPPort,
	}
}

// fail records why the session ends (the first reason wins) and closes
// its connection, which ends the reader.
func (s *session) fail(reason string) {
	s.failOnce.Do(func() {
		s.reason.Store(reason)
		s.conn.Close()
	})
}

func (s *session) why() string {
	if r, ok := s.reason.Load().(string); ok {
		return r
	}
	return ""
}

// serve runs one connection: handshake, then the reader (this goroutine)
// and the processor (another), until the connection ends.
func (c *Collector) serve(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	// A connection still in its handshake at shutdown is not a session
	// yet; close it with the context.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	remote := conn.RemoteAddr().String()
	r := sandesh.NewReader(conn, c.cfg.MaxFrame)
	conn.SetReadDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	ctrl, err := c.handshake(conn, r)
	if err != nil {
		c.m.invalidTotal.Add(1)
		c.m.closed.WithLabelValues("handshake").Inc()
		c.log.Warn("generator session refused", "remote", remote, "err", err)
		return
	}
	conn.SetReadDeadline(time.Time{})
	s := &session{
		conn: conn, remote: remote, since: time.Now(), ctrl: ctrl,
		origin: uve.Origin{Source: ctrl.Source, NodeType: ctrl.NodeType, Module: ctrl.ModuleName, InstanceID: ctrl.InstanceID},
		queue:  make(chan *sandesh.Message, c.cfg.SessionQueue),
	}
	if !c.register(s) {
		return
	}
	log := c.log.With("generator", s.origin.String(), "remote", remote)
	log.Info("generator connected", "successful_connections", ctrl.SuccessfulConnections)

	done := make(chan struct{})
	go func() {
		defer close(done)
		c.process(ctx, s)
	}()
	c.read(ctx, s, r)
	close(s.queue)
	<-done
	n := c.unregister(s)
	reason := s.why()
	level := slog.LevelInfo
	if s.invalid.Load() {
		level = slog.LevelWarn // bad input: worth a look
	}
	log.Log(ctx, level, "generator disconnected", "reason", reason, "uves_withdrawn", n,
		"received", s.received.Load(), "dropped", s.dropped.Load())
}

func (c *Collector) handshake(conn net.Conn, r *sandesh.Reader) (*sandesh.CtrlClientToServer, error) {
	m, err := r.ReadMessage()
	if err != nil {
		return nil, err
	}
	if m.Name != sandesh.CtrlClientToServerName {
		return nil, fmt.Errorf("first message is %s, not %s", m.Name, sandesh.CtrlClientToServerName)
	}
	fs, err := m.Fields()
	if err != nil {
		return nil, err
	}
	ctrl, err := sandesh.ParseCtrlClientToServer(fs)
	if err != nil {
		return nil, err
	}
	if ctrl.NodeType == "" {
		ctrl.NodeType = m.Header.NodeType
	}
	if ctrl.InstanceID == "" {
		ctrl.InstanceID = m.Header.InstanceID
	}
	origin := uve.Origin{Source: ctrl.Source, NodeType: ctrl.NodeType, Module: ctrl.ModuleName, InstanceID: ctrl.InstanceID}
	reply := sandesh.CtrlServerToClient{Success: true}
	for name, n := range c.cache.SeqTypes(origin) {
		reply.TypeInfo = append(reply.TypeInfo, sandesh.UVETypeInfo{TypeName: name, SeqNum: n})
	}
	h := sandesh.CtrlHeader("collector", "contrail-collector", "Analytics", "0", time.Now().UnixMicro())
	h.Type = sandesh.TypeResponse
	conn.SetWriteDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	if _, err := conn.Write(sandesh.AppendFrame(nil, &h, sandesh.CtrlServerToClientName, reply.Fields())); err != nil {
		return nil, fmt.Errorf("handshake reply: %w", err)
	}
	conn.SetWriteDeadline(time.Time{})
	return ctrl, nil
}

// register adds the session; a generator that reconnects while its old
// session still lingers takes over its UVEs (the old ones are withdrawn,
// since the generator resends all of them).
func (c *Collector) register(s *session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln == nil {
		return false
	}
	c.nextID++
	s.id = c.nextID
	if old, ok := c.owners[s.origin]; ok {
		c.withdraw(s.origin)
		if os := c.sessions[old]; os != nil {
			os.fail("replaced by a new session of the same generator")
		}
	}
	c.owners[s.origin] = s.id
	c.sessions[s.id] = s
	c.m.sessions.Inc()
	return true
}

// unregister removes the session and withdraws its generator's UVEs if
// it still owns them.
func (c *Collector) unregister(s *session) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sessions, s.id)
	c.m.sessions.Dec()
	if c.owners[s.origin] != s.id {
		return 0
	}
	delete(c.owners, s.origin)
	return c.withdraw(s.origin)
}

// withdraw removes a generator's UVEs from the cache and the sink.
func (c *Collector) withdraw(o uve.Origin) int {
	if c.cfg.UVESink != nil {
		c.cfg.UVESink.WithdrawOrigin(o)
	}
	return c.cache.WithdrawOrigin(o)
}

// read reads frames into the session queue until the connection ends.
func (c *Collector) read(ctx context.Context, s *session, r *sandesh.Reader) {
	for {
		before := r.Bytes()
		m, err := r.ReadMessage()
		if err != nil {
			switch {
			case s.why() != "":
			case ctx.Err() != nil:
				s.fail("collector shutting down")
			case errors.Is(err, io.EOF):
				s.fail("generator closed the connection")
				c.m.closed.WithLabelValues("eof").Inc()
			case errors.Is(err, sandesh.ErrFrameTooLarge):
				s.invalid.Store(true)
				s.fail(err.Error())
				c.m.invalidTotal.Add(1)
				c.m.closed.WithLabelValues("frame_too_large").Inc()
			case errors.Is(err, sandesh.ErrBadFrame), errors.Is(err, sandesh.ErrSyntax):
				s.invalid.Store(true)
				s.fail(err.Error())
				c.m.invalidTotal.Add(1)
				c.m.closed.WithLabelValues("invalid").Inc()
			default:
				s.fail("read: " + err.Error())
				c.m.closed.WithLabelValues("error").Inc()
			}
			return
		}
		s.received.Add(1)
		s.bytes.Add(r.Bytes() - before)
		c.m.receivedTotal.Add(1)
		if m.Header.Type == sandesh.TypeUVE {
			// UVEs are state: never dropped; the generator waits instead.
			select {
			case s.queue <- m:
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case s.queue <- m:
		default:
			s.dropped.Add(1)
			c.m.droppedTotal.Add(1)
			c.m.dropped.WithLabelValues("queue_level").Inc()
		}
	}
}

// process turns the session's messages into rows and UVE updates.
func (c *Collector) process(ctx context.Context, s *session) {
	rows := make([]store.Row, 0, 64)
	for m := range s.queue {
		var err error
		rows, err = c.handle(rows, s, m)
		if err != nil {
			c.m.invalidTotal.Add(1)
			c.m.closed.WithLabelValues("invalid").Inc()
			s.invalid.Store(true)
			s.fail(fmt.Sprintf("invalid %s message: %v", m.Name, err))
			// Drain what is queued without handling it.
			for range s.queue {
			}
			break
		}
		if len(rows) >= c.cfg.BatchSize || len(s.queue) == 0 {
			c.submit(rows)
			rows = make([]store.Row, 0, 64)
		}
	}
	c.submit(rows)
}

// handle adds the rows of one message to rows and applies its UVE.
func (c *Collector) handle(rows []store.Row, s *session, m *sandesh.Message) ([]store.Row, error) {
	h := &m.Header
	t := h.Timestamp
	if t <= 0 {
		t = time.Now().UnixMicro()
	}
	c.m.processed(h.Type).Inc()
	switch h.Type {
	case sandesh.TypeUVE, sandesh.TypeAlarm:
		fs, err := m.Fields()
		if err != nil {
			return rows, err
		}
		c.applyUVE(s, m, fs, t)
		rows = append(rows, messageRow(m, t, &s.boxes))
		for _, k := range objectKeys(fs) {
			rows = append(rows, objectRow(m, k, t))
		}
		for i := range fs {
			if fs[i].Type == sandesh.TStruct {
				rows = statRows(rows, fs[i].Struct, h.Source, t)
			}
		}
	case sandesh.TypeObject:
		fs, err := m.Fields()
		if err != nil {
			return rows, err
		}
		rows = append(rows, messageRow(m, t, &s.boxes))
		for _, k := range objectKeys(fs) {
			rows = append(rows, objectRow(m, k, t))
		}
		rows = statRows(rows, &sandesh.Struct{Name: m.Name, Fields: fs}, h.Source, t)
		for i := range fs {
			if fs[i].Type == sandesh.TStruct {
				rows = statRows(rows, fs[i].Struct, h.Source, t)
			}
		}
	case sandesh.TypeFlow:
		fs, err := m.Fields()
		if err != nil {
			return rows, err
		}
		for i := range fs {
			f := &fs[i]
			switch {
			case f.Type == sandesh.TStruct && f.Struct != nil:
				rows = flowRows(rows, f.Struct, h, t)
			case (f.Type == sandesh.TList || f.Type == sandesh.TSet) && f.List != nil:
				for _, it := range f.List.Items {
					if it.Struct != nil {
						rows = flowRows(rows, it.Struct, h, t)
					}
				}
			}
		}
		c.m.flows.Add(float64(len(rows)))
	case sandesh.TypeRequest, sandesh.TypeResponse, sandesh.TypeSession:
		// Introspect traffic and sessions are not stored.
	default:
		// System logs, syslog, traces: stored as they came. A log about an
		// object (a key annotation) also goes to that object's table.
		if err := sandesh.ValidateMessage(m.XML); err != nil {
			return rows, err
		}
		rows = append(rows, messageRow(m, t, &s.boxes))
		if strings.Contains(m.XML, ` key="`) {
			fs, err := m.Fields()
			if err != nil {
				return rows, err
			}
			for _, k := range objectKeys(fs) {
				rows = append(rows, objectRow(m, k, t))
			}
		}
	}
	return rows, nil
}

// applyUVE updates the cache from a UVE message: its struct field (the
// IDL's "data") holds the key field (key="<table>"), maybe deleted, and
// the attributes.
func (c *Collector) applyUVE(s *session, m *sandesh.Message, fs []sandesh.Field, t int64) {
	for i := range fs {
		if fs[i].Type != sandesh.TStruct || fs[i].Struct == nil {
			continue
		}
		st := fs[i].Struct
		table, key, deleted := "", "", false
		for j := range st.Fields {
			f := &st.Fields[j]
			if tab, ok := f.Attr(colKeyAnnotation); ok && table == "" {
				table, key = tab, f.Value.Text()
			}
			if f.Name == "deleted" && f.Type == sandesh.TBool && f.Bool() {
				deleted = true
			}
		}
		if table == "" || table == "none" {
			continue // not a UVE struct, or one without its table
		}
		// Under c.mu so that a session replaced by a newer one of the same
		// generator (register withdraws its UVEs) adds nothing afterwards.
		c.mu.Lock()
		if c.owners[s.origin] == s.id {
			if deleted {
				c.cache.Delete(s.origin, table, key, st.Name)
				if c.cfg.UVESink != nil {
					c.cfg.UVESink.Delete(s.origin, table, key, st.Name)
				}
			} else {
				c.cache.Update(s.origin, table, key, st.Name, st.Fields, t)
				if c.cfg.UVESink != nil {
					c.cfg.UVESink.Update(s.origin, table, key, st.Name, st.Fields, t)
				}
			}
		}
		c.mu.Unlock()
	}
}

func typeLabel(t sandesh.SandeshType) string {
	switch t {
	case sandesh.TypeSystem:
		return "system"
	case sandesh.TypeUVE:
		return "uve"
	case sandesh.TypeObject:
		return "object"
	case sandesh.TypeFlow:
		return "flow"
	case sandesh.TypeTrace, sandesh.TypeTraceObject, sandesh.TypeBuffer:
		return "trace"
	case sandesh.TypeSyslog:
		return "syslog"
	case sandesh.TypeAlarm:
		return "alarm"
	case sandesh.TypeRequest, sandesh.TypeResponse:
		return "request"
	case sandesh.TypeSession:
		return "session"
	}
	return "other"
}
