// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/sandesh"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// memWriter is an in-memory store.Writer.
type memWriter struct {
	mu    sync.Mutex
	rows  []store.Row
	delay time.Duration
}

func (w *memWriter) Write(ctx context.Context, rows []store.Row) error {
	if w.delay > 0 {
		time.Sleep(w.delay)
	}
	w.mu.Lock()
	w.rows = append(w.rows, rows...)
	w.mu.Unlock()
	return nil
}

// find returns the rows of table that satisfy match.
func (w *memWriter) find(table string, match func(map[string]any) bool) []store.Row {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []store.Row
	for _, r := range w.rows {
		if r.Table == table && (match == nil || match(r.Fields)) {
			out = append(out, r)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startCollector runs a collector on addr (127.0.0.1:0 for any port)
// until the returned stop is called or the test ends.
func startCollector(t *testing.T, addr string, w store.Writer, mod func(*Config)) (*Collector, func()) {
	t.Helper()
	cfg := Config{Listen: addr, Writer: w}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("collector: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

func startGenerator(t *testing.T, cfg generator.Config) (*generator.Generator, func()) {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = -1
	}
	g := generator.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Start(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return g, stop
}

type ifStats struct {
	InPkts  uint64 `sandesh:"in_pkts"`
	OutPkts uint64 `sandesh:"out_pkts"`
}

type vnConfig struct {
	Connected []string `sandesh:"connected_networks,id=2,aggtype=union"`
	Total     uint64   `sandesh:"total_acl_rules,id=3,aggtype=sum"`
	Owner     string   `sandesh:"owner,id=4"`
}

// TestSessionEndToEnd: handshake, system log, object log, UVE, stat and
// flow through a real TCP session; the UVE shows in the cache, over HTTP
// through uve.Remote, and is withdrawn when the generator goes away.
func TestSessionEndToEnd(t *testing.T) {
	w := &memWriter{}
	c, _ := startCollector(t, "127.0.0.1:0", w, nil)
	g, stopGen := startGenerator(t, generator.Config{
		Collectors: []string{c.Addr().String()}, Source: "host1", Module: "contrail-api", HTTPPort: 8084,
	})
	eventually(t, "session", func() bool { _, ok := g.Connected(); return ok })
	if s := c.Sessions(); len(s) != 1 || s[0].Generator != "host1:Config:contrail-api:0" || s[0].HTTPPort != 8084 {
		t.Fatalf("sessions: %+v", s)
	}

	if err := g.UVE("virtual-network", "default-domain:p:vn1", "UveVirtualNetworkConfig",
		vnConfig{Connected: []string{"vn2"}, Total: 3, Owner: "a"}, false); err != nil {
		t.Fatal(err)
	}
	g.Log(sandesh.LevelErr, "config", "ApiServerLog", map[string]any{"message": "hello <world>"})
	g.ObjectLog("ObjectVNTable", "default-domain:p:vn1", "VnObjectLog", map[string]any{"op": "create"})
	g.Stat("ObjectVRouter", "host1", "VrouterStatsAgent", "phy_if_stats",
		map[string]ifStats{"eth0": {InPkts: 5, OutPkts: 6}}, ".__key")
	g.Flow(generator.FlowLogData{FlowUUID: "f-1", DirectionIng: 1, SourceVN: "vn1", SourceIP: "10.0.0.1",
		DestVN: "vn2", DestIP: "10.0.0.2", Protocol: 6, SPort: 1000, DPort: 80, Bytes: 1500, Packets: 3,
		DiffBytes: 500, DiffPackets: 1, SetupTime: 42, Action: "pass"})

	eventually(t, "rows", func() bool {
		return len(w.find(TableFlowSeries, nil)) == 1 && len(w.find("StatTable.VrouterStatsAgent.phy_if_stats", nil)) == 1 &&
			len(w.find(TableMessage, func(f map[string]any) bool { return f[colMessageType] == "ApiServerLog" })) == 1 &&
			len(w.find("ObjectVNTable", func(f map[string]any) bool { return f[colMessageType] == "VnObjectLog" })) == 1
	})
	log := w.find(TableMessage, func(f map[string]any) bool { return f[colMessageType] == "ApiServerLog" })[0]
	if log.Fields[colSource] != "host1" || log.Fields[colModule] != "contrail-api" || log.Fields["Level"] != int64(3) ||
		log.Fields["Category"] != "config" || log.Fields["Type"] != int64(1) || log.Fields["NodeType"] != "Config" ||
		!strings.Contains(log.Fields[colXMLMessage].(string), `<message type="string" identifier="1">hello &lt;world&gt;</message>`) ||
		log.T <= 0 {
		t.Fatalf("message row: %+v", log)
	}
	obj := w.find("ObjectVNTable", func(f map[string]any) bool { return f[colMessageType] == "VnObjectLog" })[0]
	if obj.Fields[colObjectID] != "default-domain:p:vn1" || !strings.Contains(obj.Fields[colObjectLog].(string), "create") {
		t.Fatalf("object row: %+v", obj)
	}
	st := w.find("StatTable.VrouterStatsAgent.phy_if_stats", nil)[0].Fields
	if st["phy_if_stats.__key"] != "eth0" || st["phy_if_stats.in_pkts"] != int64(5) || st["name"] != "host1" || st[colSource] != "host1" {
		t.Fatalf("stat row: %+v", st)
	}
	rec := w.find(TableFlowRecord, nil)[0].Fields
	if rec["UuidKey"] != "f-1" || rec["agg-bytes"] != int64(1500) || rec["agg-packets"] != int64(3) || rec["vrouter"] != "host1" ||
		rec["sport"] != int64(1000) || rec["protocol"] != int64(6) || rec["action"] != "pass" || rec["setup_time"] != int64(42) {
		t.Fatalf("flow record: %+v", rec)
	}
	ser := w.find(TableFlowSeries, nil)[0].Fields
	if ser["bytes"] != int64(500) || ser["packets"] != int64(1) || ser["sourcevn"] != "vn1" || ser["direction_ing"] != int64(1) {
		t.Fatalf("flow series: %+v", ser)
	}

	// The UVE in the cache, directly and over HTTP.
	ctx := context.Background()
	eventually(t, "uve", func() bool {
		_, ok, _ := c.UVEs().Get(ctx, "virtual-network", "default-domain:p:vn1", uve.Filter{})
		return ok
	})
	in := obs.NewIntrospect("contrail-collector", nil, nil)
	c.RegisterIntrospect(in)
	srv := httptest.NewServer(in.Handler())
	defer srv.Close()
	remote := uve.NewRemote(srv.URL)
	types, err := remote.Types(ctx)
	if err != nil || !contains(types, "virtual-network") || !contains(types, "config-node") {
		t.Fatalf("types %v %v", types, err)
	}
	keys, err := remote.Keys(ctx, "virtual-network", uve.Filter{KFilt: []string{"default-domain:*"}})
	if err != nil || len(keys) != 1 || keys[0] != "default-domain:p:vn1" {
		t.Fatalf("keys %v %v", keys, err)
	}
	v, ok, err := remote.Get(ctx, "virtual-network", "default-domain:p:vn1", uve.Filter{Flat: true})
	if err != nil || !ok {
		t.Fatalf("get %v %v", ok, err)
	}
	cfg := v["UveVirtualNetworkConfig"].(map[string]any)
	if fmt.Sprint(cfg["connected_networks"]) != "[vn2]" || fmt.Sprint(cfg["total_acl_rules"]) != "3" || cfg["owner"] != "a" {
		t.Fatalf("uve: %v", v)
	}
	// NodeStatus with the generator's own collector connection.
	ns, ok, _ := c.UVEs().Get(ctx, "config-node", "host1", uve.Filter{Flat: true})
	if !ok || !strings.Contains(fmt.Sprint(ns["NodeStatus"]), "Collector") {
		t.Fatalf("NodeStatus: %v", ns)
	}

	// The change stream of the introspect (uve.PathWatch) tells of it.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	changes, err := remote.Watch(wctx, 0)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	// Deleting the UVE removes it.
	g.UVE("virtual-network", "default-domain:p:vn1", "UveVirtualNetworkConfig", nil, true)
	eventually(t, "uve deleted", func() bool {
		_, ok, _ := c.UVEs().Get(ctx, "virtual-network", "default-domain:p:vn1", uve.Filter{})
		return !ok
	})
	for gotDelete := false; !gotDelete; {
		select {
		case ch := <-changes:
			gotDelete = ch == uve.Change{Table: "ObjectVNTable", Key: "default-domain:p:vn1", Struct: "UveVirtualNetworkConfig", Removed: true}
		case <-time.After(5 * time.Second):
			t.Fatal("no change for the deleted UVE on the watch stream")
		}
	}
	// The generator's disconnect withdraws its other UVEs.
	g.UVE("virtual-network", "vn9", "UveVirtualNetworkConfig", map[string]any{"owner": "x"}, false)
	eventually(t, "uve vn9", func() bool {
		_, ok, _ := c.UVEs().Get(ctx, "virtual-network", "vn9", uve.Filter{})
		return ok
	})
	stopGen()
	eventually(t, "withdrawal", func() bool { return c.UVEs().Len() == 0 && len(c.Sessions()) == 0 })
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestAggregationAcrossGenerators: two generators report the same UVE;
// union, sum and default attributes combine as the original does.
func TestAggregationAcrossGenerators(t *testing.T) {
	w := &memWriter{}
	c, _ := startCollector(t, "127.0.0.1:0", w, nil)
	g1, _ := startGenerator(t, generator.Config{Collectors: []string{c.Addr().String()}, Source: "a1", Module: "contrail-vrouter-agent"})
	g2, _ := startGenerator(t, generator.Config{Collectors: []string{c.Addr().String()}, Source: "a2", Module: "contrail-vrouter-agent"})
	g1.UVE("ObjectVNTable", "vn1", "UveVirtualNetworkAgent", vnConfig{Connected: []string{"x", "y"}, Total: 2, Owner: "same"}, false)
	g2.UVE("ObjectVNTable", "vn1", "UveVirtualNetworkAgent", vnConfig{Connected: []string{"y", "z"}, Total: 5, Owner: "same"}, false)
	ctx := context.Background()
	var v map[string]any
	eventually(t, "both parts", func() bool {
		v, _, _ = c.UVEs().Get(ctx, "virtual-network", "vn1", uve.Filter{Flat: true})
		return v != nil && fmt.Sprint(v["UveVirtualNetworkAgent"].(map[string]any)["total_acl_rules"]) == "7"
	})
	a := v["UveVirtualNetworkAgent"].(map[string]any)
	if fmt.Sprint(a["connected_networks"]) != "[x y z]" || a["owner"] != "same" {
		t.Fatalf("aggregate: %v", a)
	}
	// sfilt keeps one generator's part.
	v, _, _ = c.UVEs().Get(ctx, "virtual-network", "vn1", uve.Filter{Flat: true, SFilt: "a2"})
	if fmt.Sprint(v["UveVirtualNetworkAgent"].(map[string]any)["total_acl_rules"]) != "5" {
		t.Fatalf("sfilt: %v", v)
	}
	// Not flat: the default aggregation lists the value with its origins.
	v, _, _ = c.UVEs().Get(ctx, "virtual-network", "vn1", uve.Filter{})
	b, _ := json.Marshal(v["UveVirtualNetworkAgent"].(map[string]any)["owner"])
	if string(b) != `[["same","a1:Compute:contrail-vrouter-agent:0","a2:Compute:contrail-vrouter-agent:0"]]` {
		t.Fatalf("default aggregation: %s", b)
	}
}

// handshake opens a raw session as a generator called source.
func handshake(t *testing.T, addr, source string) (net.Conn, *sandesh.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := sandesh.CtrlHeader(source, "contrail-test", "Config", "0", time.Now().UnixMicro())
	ctrl := sandesh.CtrlClientToServer{Source: source, ModuleName: "contrail-test", NodeType: "Config", InstanceID: "0"}
	if _, err := conn.Write(sandesh.AppendFrame(nil, &h, sandesh.CtrlClientToServerName, ctrl.Fields())); err != nil {
		t.Fatal(err)
	}
	r := sandesh.NewReader(conn, 0)
	m, err := r.ReadMessage()
	if err != nil || m.Name != sandesh.CtrlServerToClientName {
		t.Fatalf("handshake answer %v %v", m, err)
	}
	return conn, r
}

func logFrame(source string, seq int, text string) []byte {
	h := sandesh.Header{Timestamp: time.Now().UnixMicro(), Module: "contrail-test", Source: source,
		SequenceNum: int32(seq), Type: sandesh.TypeSystem, Level: sandesh.LevelInfo, NodeType: "Config", InstanceID: "0"}
	return sandesh.AppendFrame(nil, &h, "TestLog", []sandesh.Field{sandesh.F("text", 1, sandesh.String(text))})
}

// TestFlood: a generator that writes faster than the collector can store
// has its logs dropped and counted, while another generator's messages
// still arrive and the collector keeps serving.
func TestFlood(t *testing.T) {
	w := &memWriter{delay: 20 * time.Millisecond} // a slow store
	c, _ := startCollector(t, "127.0.0.1:0", w, func(cfg *Config) { cfg.SessionQueue = 64; cfg.BatchSize = 100 })
	flood, _ := handshake(t, c.Addr().String(), "flooder")
	stopFlood := make(chan struct{})
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		var batch []byte
		for i := 0; i < 200; i++ {
			batch = append(batch, logFrame("flooder", i, "spam")...)
		}
		for {
			select {
			case <-stopFlood:
				return
			default:
			}
			if _, err := flood.Write(batch); err != nil {
				return
			}
		}
	}()
	defer func() { close(stopFlood); flood.Close(); <-floodDone }()

	eventually(t, "flooder drops", func() bool {
		for _, s := range c.Sessions() {
			if s.Generator == "flooder:Config:contrail-test:0" && s.Dropped > 1000 {
				return true
			}
		}
		return false
	})
	quiet, _ := handshake(t, c.Addr().String(), "quiet")
	for i := 0; i < 5; i++ {
		if _, err := quiet.Write(logFrame("quiet", i, fmt.Sprint("msg", i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "quiet generator's logs", func() bool {
		return len(w.find(TableMessage, func(f map[string]any) bool { return f[colSource] == "quiet" })) == 5
	})
	var fl, qu SessionInfo
	for _, s := range c.Sessions() {
		switch s.Generator {
		case "flooder:Config:contrail-test:0":
			fl = s
		case "quiet:Config:contrail-test:0":
			qu = s
		}
	}
	if fl.Dropped == 0 || qu.Dropped != 0 || qu.Received != 5 {
		t.Fatalf("flooder %+v quiet %+v", fl, qu)
	}
	if c.Stats().Dropped < fl.Dropped {
		t.Fatalf("stats %+v", c.Stats())
	}
}

// TestBadInput: truncated, oversized, non-Sandesh and invalid-XML input
// close that session only; the collector goes on serving.
func TestBadInput(t *testing.T) {
	w := &memWriter{}
	c, _ := startCollector(t, "127.0.0.1:0", w, func(cfg *Config) { cfg.MaxFrame = 4096; cfg.HandshakeTimeout = time.Second })
	addr := c.Addr().String()
	big := logFrame("x", 1, strings.Repeat("y", 5000))
	good := logFrame("x", 1, "ok")
	badXML := []byte(strings.Replace(string(good), "</text>", "</txet>", 1))
	cases := []struct {
		name      string
		handshake bool
		data      []byte
	}{
		{"garbage before handshake", false, []byte("GET / HTTP/1.0\r\n\r\n" + strings.Repeat("x", 40))},
		{"log instead of handshake", false, good},
		{"garbage after handshake", true, []byte(strings.Repeat("not sandesh at all ", 4))},
		{"oversized frame", true, big},
		{"invalid xml", true, badXML},
		{"bad length digits", true, append([]byte(`<sandesh length="00000abcde">`), good[29:]...)},
		{"length larger than the frame, then eof", true, append([]byte(`<sandesh length="0000002000">`), good[29:]...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.Stats().ClosedInvalid
			var conn net.Conn
			if tc.handshake {
				conn, _ = handshake(t, addr, "bad")
			} else {
				var err error
				if conn, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
			}
			conn.Write(tc.data)
			if strings.HasSuffix(tc.name, "eof") {
				conn.(*net.TCPConn).CloseWrite()
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(conn); err != nil {
				t.Fatalf("collector did not close the session: %v", err)
			}
			if !strings.HasSuffix(tc.name, "eof") {
				eventually(t, "invalid count", func() bool { return c.Stats().ClosedInvalid > before })
			}
		})
	}
	// Still serving.
	conn, _ := handshake(t, addr, "good")
	conn.Write(good)
	eventually(t, "good log", func() bool { return len(w.find(TableMessage, nil)) == 1 })
}

// TestReconnectResync: the collector restarts on the same port; the
// generator reconnects and sends its UVEs again.
func TestReconnectResync(t *testing.T) {
	w := &memWriter{}
	c1, stop1 := startCollector(t, "127.0.0.1:0", w, nil)
	addr := c1.Addr().String()
	g, _ := startGenerator(t, generator.Config{Collectors: []string{addr}, Source: "cn1", Module: "contrail-control"})
	g.UVE("ObjectBgpRouter", "cn1", "BgpRouterState", map[string]any{"num_bgp_peer": uint32(2)}, false)
	ctx := context.Background()
	eventually(t, "uve at first collector", func() bool {
		_, ok, _ := c1.UVEs().Get(ctx, "control-node", "cn1", uve.Filter{CFilt: []string{"BgpRouterState"}})
		return ok
	})
	stop1()
	eventually(t, "generator notices", func() bool { _, ok := g.Connected(); return !ok })
	// An update while no collector is there is kept too.
	g.UVE("ObjectBgpRouter", "cn1", "BgpRouterState", map[string]any{"num_xmpp_peer": uint32(7)}, false)

	var c2 *Collector
	eventually(t, "port free again", func() bool {
		c, err := New(Config{Listen: addr, Writer: w})
		if err != nil || c.Listen() != nil {
			return false
		}
		c2 = c
		return true
	})
	ctx2, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c2.Start(ctx2) }()
	defer func() { cancel(); <-done }()
	eventually(t, "uve resent to the new collector", func() bool {
		v, ok, _ := c2.UVEs().Get(ctx, "control-node", "cn1", uve.Filter{Flat: true})
		if !ok {
			return false
		}
		s, _ := v["BgpRouterState"].(map[string]any)
		return fmt.Sprint(s["num_bgp_peer"], s["num_xmpp_peer"]) == "2 7"
	})
	if st := g.Stats(); st.SuccessfulConnections != 2 {
		t.Fatalf("successful connections %d", st.SuccessfulConnections)
	}
}

// TestFailover: with two collectors, the generator moves to the other one
// when its collector goes away, and its UVEs follow.
func TestFailover(t *testing.T) {
	wa, wb := &memWriter{}, &memWriter{}
	ca, stopA := startCollector(t, "127.0.0.1:0", wa, nil)
	cb, stopB := startCollector(t, "127.0.0.1:0", wb, nil)
	cs := map[string]*Collector{ca.Addr().String(): ca, cb.Addr().String(): cb}
	stops := map[string]func(){ca.Addr().String(): stopA, cb.Addr().String(): stopB}
	g, _ := startGenerator(t, generator.Config{Collectors: []string{ca.Addr().String(), cb.Addr().String()},
		Source: "agent1", Module: "contrail-vrouter-agent"})
	g.UVE("vrouter", "agent1", "VrouterAgent", map[string]any{"mode": "kernel"}, false)
	var first string
	eventually(t, "first session", func() bool { a, ok := g.Connected(); first = a; return ok })
	ctx := context.Background()
	eventually(t, "uve at first", func() bool { _, ok, _ := cs[first].UVEs().Get(ctx, "vrouter", "agent1", uve.Filter{}); return ok })
	stops[first]()
	var second string
	eventually(t, "failover", func() bool { a, ok := g.Connected(); second = a; return ok && a != first })
	eventually(t, "uve at second", func() bool { _, ok, _ := cs[second].UVEs().Get(ctx, "vrouter", "agent1", uve.Filter{}); return ok })
}

// TestMaxConnections: connections above the limit are closed at once;
// the ones within it are served.
func TestMaxConnections(t *testing.T) {
	w := &memWriter{}
	c, _ := startCollector(t, "127.0.0.1:0", w, func(cfg *Config) { cfg.MaxConnections = 2 })
	a, _ := handshake(t, c.Addr().String(), "a")
	handshake(t, c.Addr().String(), "b")
	extra, err := net.Dial("tcp", c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(extra); err != nil {
		t.Fatalf("third connection not closed: %v", err)
	}
	a.Write(logFrame("a", 1, "still served"))
	eventually(t, "log of a", func() bool { return len(w.find(TableMessage, nil)) == 1 })
}

// TestGeneratorReportsDrops: messages a generator dropped while it had no
// collector are reported in its ModuleClientState UVE once it connects.
func TestGeneratorReportsDrops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	g, _ := startGenerator(t, generator.Config{Collectors: []string{addr}, Source: "g1", Module: "contrail-schema", QueueSize: 10})
	for i := 0; i < 50; i++ {
		g.Log(sandesh.LevelInfo, "", "SchemaLog", map[string]any{"i": i})
	}
	w := &memWriter{}
	var c *Collector
	eventually(t, "port", func() bool {
		var err error
		c, err = New(Config{Listen: addr, Writer: w})
		return err == nil && c.Listen() == nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "ModuleClientState", func() bool {
		v, ok, _ := c.UVEs().Get(context.Background(), "generator", g.Name(), uve.Filter{Flat: true})
		if !ok {
			return false
		}
		m, _ := v["ModuleClientState"].(map[string]any)
		agg, _ := m["tx_msg_agg"].(map[string]any)
		return fmt.Sprint(agg["messages_sent_dropped_queue_level"]) == "40"
	})
	// The 10 queued logs were sent after all.
	eventually(t, "queued logs", func() bool {
		return len(w.find(TableMessage, func(f map[string]any) bool { return f[colMessageType] == "SchemaLog" })) == 10
	})
	if rows := w.find("StatTable.ModuleClientState.tx_msg_agg", nil); len(rows) == 0 {
		t.Fatal("no stat rows for tx_msg_agg")
	}
}

func uveFrame(source, key, value string) []byte {
	h := sandesh.Header{Timestamp: time.Now().UnixMicro(), Module: "contrail-test", Source: source,
		Type: sandesh.TypeUVE, Level: sandesh.LevelUVE, NodeType: "Config", InstanceID: "0"}
	return sandesh.AppendFrame(nil, &h, "TestUVETrace", []sandesh.Field{sandesh.F("data", 1, sandesh.StructValue("TestUVE",
		sandesh.F("name", 1, sandesh.String(key), sandesh.Attr{Name: "key", Value: "ObjectConfigNode"}),
		sandesh.F("v", 2, sandesh.String(value))))})
}

// TestSessionTakeover: a generator that reconnects while its old session
// is still open takes its UVEs over; the old session is closed and its
// end does not withdraw the new session's UVEs.
func TestSessionTakeover(t *testing.T) {
	c, _ := startCollector(t, "127.0.0.1:0", &memWriter{}, nil)
	ctx := context.Background()
	old, _ := handshake(t, c.Addr().String(), "x")
	old.Write(uveFrame("x", "k-old", "1"))
	eventually(t, "old uve", func() bool { _, ok, _ := c.UVEs().Get(ctx, "config-node", "k-old", uve.Filter{}); return ok })

	nw, _ := handshake(t, c.Addr().String(), "x")
	old.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(old); err != nil {
		t.Fatalf("old session not closed: %v", err)
	}
	if _, ok, _ := c.UVEs().Get(ctx, "config-node", "k-old", uve.Filter{}); ok {
		t.Fatal("old session's UVE kept after the takeover")
	}
	nw.Write(uveFrame("x", "k-new", "2"))
	eventually(t, "new uve", func() bool { _, ok, _ := c.UVEs().Get(ctx, "config-node", "k-new", uve.Filter{}); return ok })
	eventually(t, "one session", func() bool { return len(c.Sessions()) == 1 })
	time.Sleep(50 * time.Millisecond)
	if _, ok, _ := c.UVEs().Get(ctx, "config-node", "k-new", uve.Filter{}); !ok {
		t.Fatal("the old session's end withdrew the new session's UVE")
	}
}
