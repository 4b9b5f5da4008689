// SPDX-License-Identifier: Apache-2.0

package generator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh"
)

// Config configures a Generator.
type Config struct {
	// Collectors are the collectors' Sandesh addresses (host:port, port
	// 8086 by default). The generator talks to one at a time and moves to
	// the next when a session fails. Empty: nothing is sent (UVEs are
	// still kept, logs are dropped and counted).
	Collectors []string
	// Source is the host name the messages carry (default os.Hostname).
	Source string
	// Module is the daemon's module name: "contrail-api",
	// "contrail-control", "contrail-vrouter-agent", "contrail-schema",
	// "contrail-collector", "contrail-control-nodemgr", ...
	Module string
	// NodeType is the node type name of the original's NodeTypeNames:
	// "Config", "Control", "Compute", "Analytics", "Database". Default:
	// derived from Module.
	NodeType string
	// InstanceID tells apart several instances of a module on a host
	// (default "0").
	InstanceID string
	// IPAddress is the optional IPAddress of the header.
	IPAddress string
	// HTTPPort is the daemon's introspect port, sent in the handshake.
	HTTPPort uint32
	// NodeStatusTable is the object table of the NodeStatus UVE (default
	// from NodeType: ObjectConfigNode, ObjectBgpRouter, ObjectVRouter,
	// ObjectCollectorInfo, ObjectDatabaseInfo).
	NodeStatusTable string
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
	// QueueSize bounds the messages (logs, stats, flows) waiting to be
	// sent; when it is full new messages are dropped and counted
	// (default 10000). UVEs are not queued: they are kept and sent
	// coalesced, so none is ever lost.
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts (defaults 500ms and 10s); the wait doubles per failure.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds a connection attempt and the handshake (5s).
	DialTimeout time.Duration
	// WriteTimeout bounds one write to the collector (30s).
	WriteTimeout time.Duration
	// StatsInterval is how often the generator reports its own counters
	// as the SandeshModuleClientTrace UVE (default 60s; < 0 never).
	StatsInterval time.Duration
}

// Stats are a generator's counters.
type Stats struct {
	Sent                  uint64 `json:"messages_sent"`
	BytesSent             uint64 `json:"bytes_sent"`
	DroppedQueueFull      uint64 `json:"messages_sent_dropped_queue_level"`
	DroppedEncoding       uint64 `json:"messages_sent_dropped_validation_failed"`
	UVEsSent              uint64 `json:"uves_sent"`
	QueueLen              int    `json:"queue_length"`
	MaxQueueLen           int    `json:"max_queue_length"`
	SuccessfulConnections uint32 `json:"successful_connections"`
	Collector             string `json:"collector"`
	Connected             bool   `json:"connected"`
	UVEs                  int    `json:"uves"`
}

// Generator sends one daemon's UVEs, logs, stats and flows to the
// collector. All methods are safe for concurrent use and never block on
// the network.
type Generator struct {
	cfg   Config
	log   *slog.Logger
	queue chan item
	kick  chan struct{} // UVEs became dirty

	sent, bytesSent, droppedFull, droppedEnc, uvesSent atomic.Uint64
	maxQueue                                           atomic.Int64
	seq                                                atomic.Int32

	mu        sync.Mutex
	uves      map[uveID]*uveEntry
	dirty     map[uveID]*uveEntry // to send: current entries, or deletions
	conns     map[connKey]ConnectionInfo
	collector string
	connected bool
	successes uint32
	started   bool
}

// item is one queued message.
type item struct {
	typ      sandesh.SandeshType
	level    int32
	category string
	name     string
	ts       int64
	fields   []sandesh.Field
}

type uveID struct{ table, key, structName string }

type uveEntry struct {
	id      uveID
	msgName string
	fields  []sandesh.Field // merged attributes, without name/deleted
	deleted bool
}

// New returns a generator; call Start to connect.
func New(cfg Config) *Generator {
	if cfg.Source == "" {
		cfg.Source, _ = os.Hostname()
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "0"
	}
	if cfg.NodeType == "" {
		cfg.NodeType = NodeTypeOfModule(cfg.Module)
	}
	if cfg.NodeStatusTable == "" {
		cfg.NodeStatusTable = NodeStatusTableOf(cfg.NodeType)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Generator{
		cfg:   cfg,
		log:   log.With("component", "sandesh-generator"),
		queue: make(chan item, cfg.QueueSize),
		kick:  make(chan struct{}, 1),
		uves:  map[uveID]*uveEntry{},
		dirty: map[uveID]*uveEntry{},
		conns: map[connKey]ConnectionInfo{},
	}
}

// Name returns the generator's identity as the collector names it:
// source:node_type:module:instance_id.
func (g *Generator) Name() string {
	return g.cfg.Source + ":" + g.cfg.NodeType + ":" + g.cfg.Module + ":" + g.cfg.InstanceID
}

// Config returns the generator's configuration with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Stats returns the generator's counters.
func (g *Generator) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{
		Sent: g.sent.Load(), BytesSent: g.bytesSent.Load(),
		DroppedQueueFull: g.droppedFull.Load(), DroppedEncoding: g.droppedEnc.Load(),
		UVEsSent: g.uvesSent.Load(), QueueLen: len(g.queue), MaxQueueLen: int(g.maxQueue.Load()),
		SuccessfulConnections: g.successes, Collector: g.collector, Connected: g.connected,
		UVEs: len(g.uves),
	}
}

// Connected reports the collector of the current session, if any.
func (g *Generator) Connected() (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.collector, g.connected
}

// UVE sets (or with deleted, removes) the UVE of table/key reported in the
// struct structName. table is an object table ("ObjectVNTable") or a UVE
// type ("virtual-network"). fields are the struct's attributes other than
// name and deleted: []sandesh.Field, map[string]any or a Go struct (see
// sandesh.ToFields); they are merged into what was set before for the
// same UVE, attribute by attribute, as the collector merges them. The UVE
// is kept and sent again after every (re)connection.
func (g *Generator) UVE(table, key, structName string, fields any, deleted bool) error {
	table = uve.TableOf(table)
	id := uveID{table, key, structName}
	var fs []sandesh.Field
	if !deleted {
		var err error
		if fs, err = sandesh.ToFields(fields); err != nil {
			g.droppedEnc.Add(1)
			return fmt.Errorf("generator: UVE %s %s: %w", structName, key, err)
		}
		if _, ok := fields.(map[string]any); ok {
			// Map fields have no ids of their own: number them after
			// name (1) and deleted (2) when sent.
			for i := range fs {
				fs[i].ID = 0
			}
		}
	}
	g.mu.Lock()
	if deleted {
		e := g.uves[id]
		delete(g.uves, id)
		if e == nil {
			e = &uveEntry{id: id, msgName: uveMessageName(structName)}
		}
		e.deleted, e.fields = true, nil
		g.dirty[id] = e
	} else {
		e := g.uves[id]
		if e == nil {
			e = &uveEntry{id: id, msgName: uveMessageName(structName)}
			g.uves[id] = e
		}
		e.fields = merge(e.fields, fs)
		g.dirty[id] = e
	}
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
	return nil
}

// merge sets the attributes of upd in cur (replacing same-named ones).
func merge(cur, upd []sandesh.Field) []sandesh.Field {
	out := make([]sandesh.Field, 0, len(cur)+len(upd))
	out = append(out, cur...)
next:
	for _, f := range upd {
		if f.Name == "name" || f.Name == "deleted" {
			continue
		}
		for i := range out {
			if out[i].Name == f.Name {
				out[i] = f
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

// uveMessageName is the sandesh message that carries a UVE struct.
func uveMessageName(structName string) string {
	switch structName {
	case "NodeStatus":
		return "NodeStatusUVE"
	case "ModuleClientState":
		return "SandeshModuleClientTrace"
	}
	return structName + "Trace"
}

// Log sends a system log message msgType at level (sandesh.LevelErr ...
// sandesh.LevelDebug) in category. fields as for UVE.
func (g *Generator) Log(level int32, category, msgType string, fields any) error {
	fs, err := sandesh.ToFields(fields)
	if err != nil {
		g.droppedEnc.Add(1)
		return fmt.Errorf("generator: log %s: %w", msgType, err)
	}
	g.enqueue(item{typ: sandesh.TypeSystem, level: level, category: category, name: msgType, fields: fs})
	return nil
}

// ObjectLog sends an object log msgType about the object table/key (it
// lands in MessageTable and in the object table under ObjectId key).
func (g *Generator) ObjectLog(table, key, msgType string, fields any) error {
	fs, err := sandesh.ToFields(fields)
	if err != nil {
		g.droppedEnc.Add(1)
		return fmt.Errorf("generator: object log %s: %w", msgType, err)
	}
	if _, ok := fields.(map[string]any); ok {
		for i := range fs {
			fs[i].ID = i + 2 // after name
		}
	}
	data := append([]sandesh.Field{sandesh.F("name", 1, sandesh.String(key), sandesh.Attr{Name: "key", Value: uve.TableOf(table)})}, fs...)
	g.enqueue(item{typ: sandesh.TypeObject, level: sandesh.LevelInfo, name: msgType,
		fields: []sandesh.Field{sandesh.F("data", 1, sandesh.Value{Type: sandesh.TStruct, Struct: &sandesh.Struct{Name: msgType + "Data", Fields: data}})}})
	return nil
}

// Stat sends one statistics sample: attribute attr of structName for the
// object table/key, with the value v (a struct, a list of structs or a
// map of them; see sandesh.ToValue). The collector writes it to
// StatTable.<structName>.<attr>, one row per list element or map entry,
// columns "<attr>.<field>", "name" (key) and "Source". tags names the
// indexed fields as the IDL's tags= annotation does (may be empty).
func (g *Generator) Stat(table, key, structName, attr string, v any, tags string) error {
	val, err := sandesh.ToValue(v)
	if err != nil {
		g.droppedEnc.Add(1)
		return fmt.Errorf("generator: stat %s.%s: %w", structName, attr, err)
	}
	data := []sandesh.Field{
		sandesh.F("name", 1, sandesh.String(key), sandesh.Attr{Name: "key", Value: uve.TableOf(table)}),
		sandesh.F(attr, 2, val, sandesh.Attr{Name: "tags", Value: tags}),
	}
	g.enqueue(item{typ: sandesh.TypeObject, level: sandesh.LevelInfo, name: structName + "Stats",
		fields: []sandesh.Field{sandesh.F("data", 1, sandesh.Value{Type: sandesh.TStruct, Struct: &sandesh.Struct{Name: structName, Fields: data}})}})
	return nil
}

// Flow sends flow records (one FlowLogDataObject message per call).
func (g *Generator) Flow(flows ...FlowLogData) {
	if len(flows) == 0 {
		return
	}
	items := make([]sandesh.Value, len(flows))
	for i := range flows {
		items[i] = flows[i].value()
	}
	g.enqueue(item{typ: sandesh.TypeFlow, level: sandesh.LevelInfo, name: "FlowLogDataObject",
		fields: []sandesh.Field{sandesh.F("flowdata", 1, sandesh.ListValue(sandesh.TStruct, items...))}})
}

func (g *Generator) enqueue(it item) {
	it.ts = time.Now().UnixMicro()
	select {
	case g.queue <- it:
		if n := int64(len(g.queue)); n > g.maxQueue.Load() {
			g.maxQueue.Store(n)
		}
	default:
		g.droppedFull.Add(1)
	}
}

// Start connects to the collectors and sends until ctx ends; it returns
// nil then. It may be called once.
func (g *Generator) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.started {
		g.mu.Unlock()
		return errors.New("generator: already started")
	}
	g.started = true
	g.mu.Unlock()
	if len(g.cfg.Collectors) == 0 {
		g.log.Info("no collector configured; analytics messages are not sent")
		<-ctx.Done()
		return nil
	}
	g.SetConnection(ConnectionInfo{Type: "Collector", ServerAddrs: g.cfg.Collectors, Status: StatusInit})
	backoff := g.cfg.MinBackoff
	idx := rand.IntN(len(g.cfg.Collectors))
	for ctx.Err() == nil {
		addr := g.cfg.Collectors[idx]
		idx = (idx + 1) % len(g.cfg.Collectors)
		began := time.Now()
		err := g.session(ctx, addr)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > 10*time.Second {
			backoff = g.cfg.MinBackoff // a session that lived resets the backoff
		}
		g.log.Info("collector session ended", "collector", addr, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff + time.Duration(rand.Int64N(int64(backoff)/4+1)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, g.cfg.MaxBackoff)
	}
	return nil
}

func (g *Generator) setConnected(addr string, up bool) {
	g.mu.Lock()
	g.collector, g.connected = addr, up
	if up {
		g.successes++
	}
	g.mu.Unlock()
	st := StatusDown
	if up {
		st = StatusUp
	}
	g.SetConnection(ConnectionInfo{Type: "Collector", Name: "", ServerAddrs: []string{addr}, Status: st})
}

// session runs one connection to addr: handshake, UVE resync, then
// sending until an error or ctx ends.
func (g *Generator) session(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: g.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	r := sandesh.NewReader(conn, 0)
	if err := g.handshake(conn, r); err != nil {
		return err
	}
	g.setConnected(addr, true)
	defer g.setConnected(addr, false)
	g.log.Info("connected to collector", "collector", addr)

	// The collector may send requests; they are read and ignored, and the
	// read tells when the session ends.
	readDone := make(chan error, 1)
	go func() {
		for {
			if _, err := r.ReadFrame(); err != nil {
				readDone <- err
				return
			}
		}
	}()

	// Resync: every UVE goes out again on a new session.
	g.mu.Lock()
	for id, e := range g.uves {
		g.dirty[id] = e
	}
	g.mu.Unlock()
	g.sendStatsUVE()

	var statsC <-chan time.Time
	if g.cfg.StatsInterval > 0 {
		t := time.NewTicker(g.cfg.StatsInterval)
		defer t.Stop()
		statsC = t.C
	}
	w := bufio.NewWriterSize(conn, 64<<10)
	buf := make([]byte, 0, 4096)
	for {
		// Send everything ready, then flush and wait for more.
		if err := g.sendDirty(conn, w, &buf); err != nil {
			return err
		}
		for more := true; more; {
			select {
			case it := <-g.queue:
				if err := g.write(conn, w, &buf, &it); err != nil {
					return err
				}
			default:
				more = false
			}
			if w.Buffered() > 48<<10 {
				break
			}
		}
		if w.Buffered() > 0 {
			conn.SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
			if err := w.Flush(); err != nil {
				return err
			}
			if len(g.queue) > 0 || g.hasDirty() {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readDone:
			return fmt.Errorf("collector closed the session: %w", err)
		case it := <-g.queue:
			if err := g.write(conn, w, &buf, &it); err != nil {
				return err
			}
		case <-g.kick:
		case <-statsC:
			g.sendStatsUVE()
		}
	}
}

func (g *Generator) hasDirty() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.dirty) > 0
}

func (g *Generator) handshake(conn net.Conn, r *sandesh.Reader) error {
	conn.SetDeadline(time.Now().Add(g.cfg.DialTimeout))
	defer conn.SetDeadline(time.Time{})
	g.mu.Lock()
	types := map[string]bool{}
	for id := range g.uves {
		types[id.structName] = true
	}
	succ := g.successes
	g.mu.Unlock()
	tl := make([]string, 0, len(types))
	for t := range types {
		tl = append(tl, t)
	}
	sort.Strings(tl)
	c := sandesh.CtrlClientToServer{
		Source: g.cfg.Source, ModuleName: g.cfg.Module, SuccessfulConnections: succ,
		UVETypes: tl, Pid: uint32(os.Getpid()), HTTPPort: g.cfg.HTTPPort,
		NodeType: g.cfg.NodeType, InstanceID: g.cfg.InstanceID,
	}
	h := sandesh.CtrlHeader(g.cfg.Source, g.cfg.Module, g.cfg.NodeType, g.cfg.InstanceID, time.Now().UnixMicro())
	h.SequenceNum = g.seq.Add(1)
	if _, err := conn.Write(sandesh.AppendFrame(nil, &h, sandesh.CtrlClientToServerName, c.Fields())); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	m, err := r.ReadMessage()
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if m.Name != sandesh.CtrlServerToClientName {
		return fmt.Errorf("handshake: collector answered %s", m.Name)
	}
	fs, err := m.Fields()
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if !sandesh.ParseCtrlServerToClient(fs).Success {
		return errors.New("handshake: collector refused the session")
	}
	return nil
}

func (g *Generator) header(typ sandesh.SandeshType, level int32, category string, ts int64) sandesh.Header {
	return sandesh.Header{
		Timestamp: ts, Module: g.cfg.Module, Source: g.cfg.Source,
		SequenceNum: g.seq.Add(1), Type: typ, Level: level, Category: category,
		NodeType: g.cfg.NodeType, InstanceID: g.cfg.InstanceID, IPAddress: g.cfg.IPAddress,
		Pid: int32(os.Getpid()),
	}
}

func (g *Generator) write(conn net.Conn, w *bufio.Writer, buf *[]byte, it *item) error {
	h := g.header(it.typ, it.level, it.category, it.ts)
	*buf = sandesh.AppendFrame((*buf)[:0], &h, it.name, it.fields)
	return g.writeFrame(conn, w, *buf)
}

func (g *Generator) writeFrame(conn net.Conn, w *bufio.Writer, b []byte) error {
	if w.Available() < len(b) {
		conn.SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	g.sent.Add(1)
	g.bytesSent.Add(uint64(len(b)))
	return nil
}

// sendDirty sends every UVE changed since it was last sent.
func (g *Generator) sendDirty(conn net.Conn, w *bufio.Writer, buf *[]byte) error {
	g.mu.Lock()
	if len(g.dirty) == 0 {
		g.mu.Unlock()
		return nil
	}
	batch := make([]*uveEntry, 0, len(g.dirty))
	for id, e := range g.dirty {
		// Copy what is sent so that later updates do not race the write.
		batch = append(batch, &uveEntry{id: e.id, msgName: e.msgName, fields: e.fields, deleted: e.deleted})
		delete(g.dirty, id)
	}
	g.mu.Unlock()
	sort.Slice(batch, func(i, j int) bool {
		a, b := batch[i].id, batch[j].id
		if a.table != b.table {
			return a.table < b.table
		}
		if a.key != b.key {
			return a.key < b.key
		}
		return a.structName < b.structName
	})
	now := time.Now().UnixMicro()
	for i, e := range batch {
		data := make([]sandesh.Field, 0, len(e.fields)+2)
		data = append(data, sandesh.F("name", 1, sandesh.String(e.id.key), sandesh.Attr{Name: "key", Value: e.id.table}))
		if e.deleted {
			data = append(data, sandesh.F("deleted", 2, sandesh.Bool(true)))
		}
		for j, f := range e.fields {
			if f.ID == 0 {
				f.ID = j + 3
			}
			data = append(data, f)
		}
		h := g.header(sandesh.TypeUVE, sandesh.LevelUVE, "", now)
		*buf = sandesh.AppendFrame((*buf)[:0], &h, e.msgName, []sandesh.Field{
			sandesh.F("data", 1, sandesh.Value{Type: sandesh.TStruct, Struct: &sandesh.Struct{Name: e.id.structName, Fields: data}}),
		})
		if err := g.writeFrame(conn, w, *buf); err != nil {
			// Not sent: mark the rest dirty again unless updated since.
			g.mu.Lock()
			for _, r := range batch[i:] {
				if _, ok := g.dirty[r.id]; !ok {
					if cur := g.uves[r.id]; cur != nil {
						g.dirty[r.id] = cur
					} else if r.deleted {
						g.dirty[r.id] = r
					}
				}
			}
			g.mu.Unlock()
			return err
		}
		g.uvesSent.Add(1)
	}
	return nil
}

// sendStatsUVE reports the generator's own counters in the original's
// SandeshModuleClientTrace UVE (ModuleClientState, table
// ObjectGeneratorInfo).
func (g *Generator) sendStatsUVE() {
	s := g.Stats()
	status := "Idle"
	if s.Connected {
		status = "Established"
	}
	_ = g.UVE("ObjectGeneratorInfo", g.Name(), "ModuleClientState", []sandesh.Field{
		sandesh.F("client_info", 3, sandesh.StructValue("SandeshClientInfo",
			sandesh.F("status", 1, sandesh.String(status)),
			sandesh.F("successful_connections", 2, sandesh.U32(s.SuccessfulConnections)),
			sandesh.F("pid", 3, sandesh.U32(uint32(os.Getpid()))),
			sandesh.F("http_port", 4, sandesh.U32(g.cfg.HTTPPort)),
			sandesh.F("collector_name", 6, sandesh.String(s.Collector)),
			sandesh.F("collector_list", 12, sandesh.StringList(g.cfg.Collectors...)),
		)),
		sandesh.F("sm_queue_count", 5, sandesh.U64(uint64(s.QueueLen))),
		sandesh.F("tx_msg_agg", 20, sandesh.MapValue(sandesh.TString, sandesh.TU64,
			sandesh.MapEntry{Key: sandesh.String("messages_sent"), Value: sandesh.U64(s.Sent)},
			sandesh.MapEntry{Key: sandesh.String("bytes_sent"), Value: sandesh.U64(s.BytesSent)},
			sandesh.MapEntry{Key: sandesh.String("messages_sent_dropped_queue_level"), Value: sandesh.U64(s.DroppedQueueFull)},
			sandesh.MapEntry{Key: sandesh.String("messages_sent_dropped_validation_failed"), Value: sandesh.U64(s.DroppedEncoding)},
		), sandesh.Attr{Name: "metric", Value: "agg"}, sandesh.Attr{Name: "tags", Value: ".__key"}),
		sandesh.F("max_sm_queue_count", 14, sandesh.U64(uint64(s.MaxQueueLen))),
	}, false)
}
