// SPDX-License-Identifier: Apache-2.0

// Command analyticsbench-ingest measures the collector's ingest rate:
// several generators send Sandesh messages over TCP on loopback to an
// in-process collector that writes to a store.Writer, and the command
// prints messages/s (and flow records/s) from the first byte sent to the
// last row written, with the process's CPU time per message.
//
//	go run ./bench/analyticsbench-ingest                       # logs, 4 generators, rows counted and dropped
//	go run ./bench/analyticsbench-ingest -kind flows           # FlowLogDataObject messages of -flows-per-msg records
//	go run ./bench/analyticsbench-ingest -via-generator        # through the generator library (its encoding cost included)
//	go run ./bench/analyticsbench-ingest -store embedded -dir /tmp/ab   # into the embedded analytics store
//
// Frames are encoded before the clock starts unless -via-generator is
// given, so the figure is the collector's: read, frame and XML decode,
// rows, batching and Write.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/collector"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/sandesh"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// counter is a store.Writer that counts rows and keeps none.
type counter struct{ msgs, flows, rows atomic.Int64 }

func (c *counter) Write(_ context.Context, rows []store.Row) error {
	c.count(rows)
	return nil
}

func (c *counter) count(rows []store.Row) {
	var m, f int64
	for i := range rows {
		switch rows[i].Table {
		case collector.TableMessage:
			m++
		case collector.TableFlowRecord:
			f++
		}
	}
	c.msgs.Add(m)
	c.flows.Add(f)
	c.rows.Add(int64(len(rows)))
}

// tee counts and passes rows on to a real store.
type tee struct {
	counter
	next store.Writer
}

func (t *tee) Write(ctx context.Context, rows []store.Row) error {
	if err := t.next.Write(ctx, rows); err != nil {
		return err
	}
	t.count(rows)
	return nil
}

func main() {
	gens := flag.Int("generators", 4, "concurrent generator sessions")
	total := flag.Int("messages", 1_000_000, "messages to send in all")
	kind := flag.String("kind", "logs", "logs or flows")
	perMsg := flag.Int("flows-per-msg", 10, "flow records per FlowLogDataObject message")
	viaGen := flag.Bool("via-generator", false, "send through the generator library instead of pre-encoded frames")
	storeKind := flag.String("store", "count", "count (rows counted, nothing kept) or embedded (internal/analytics/store)")
	dir := flag.String("dir", "", "data directory of -store embedded (default: a temporary one, removed after)")
	flag.Parse()

	var w interface {
		store.Writer
		counts() (msgs, flows, rows int64)
	}
	var closeStore func()
	switch *storeKind {
	case "count":
		w = &countOnly{}
	case "embedded":
		d := *dir
		if d == "" {
			var err error
			if d, err = os.MkdirTemp("", "analyticsbench-"); err != nil {
				fail(err)
			}
			defer os.RemoveAll(d)
		}
		st, err := store.OpenEmbedded(d, store.Options{})
		if err != nil {
			fail(err)
		}
		closeStore = func() { st.Close() }
		w = &teeW{tee{next: st}}
	default:
		fail(fmt.Errorf("unknown -store %q", *storeKind))
	}

	c, err := collector.New(collector.Config{Listen: "127.0.0.1:0", Writer: w, SessionQueue: 1 << 16})
	if err != nil {
		fail(err)
	}
	if err := c.Listen(); err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- c.Start(ctx) }()
	addr := c.Addr().String()

	want := int64(*total)
	done := func() int64 { m, _, _ := w.counts(); return m }
	if *kind == "flows" {
		want = int64(*total) * int64(*perMsg)
		done = func() int64 { _, f, _ := w.counts(); return f }
	}

	var start time.Time
	var cpu0 time.Duration
	if *viaGen {
		start, cpu0 = sendViaGenerators(ctx, addr, *gens, *total, *kind, *perMsg)
	} else {
		start, cpu0 = sendRaw(addr, *gens, *total, *kind, *perMsg)
	}
	// Done when every message is stored or was dropped by the collector
	// (its per-session queues overflow when the store is slower than the
	// senders; dropped flow messages take their records with them).
	per := int64(1)
	if *kind == "flows" {
		per = int64(*perMsg)
	}
	for done()+int64(c.Stats().Dropped)*per < want {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	dropped := c.Stats().Dropped
	cpu := cpuTime() - cpu0
	cancel()
	<-stopped
	if closeStore != nil {
		closeStore()
	}
	_, flows, rows := w.counts()
	fmt.Printf("kind=%s generators=%d messages=%d store=%s via-generator=%v\n", *kind, *gens, *total, *storeKind, *viaGen)
	stored, _, _ := w.counts()
	if *kind == "flows" {
		stored = int64(*total) - int64(dropped)
	}
	fmt.Printf("elapsed %v: %.0f messages/s stored, %d dropped by the collector", el.Round(time.Millisecond), float64(stored)/el.Seconds(), dropped)
	if *kind == "flows" {
		fmt.Printf(", %.0f flow records/s", float64(flows)/el.Seconds())
	}
	fmt.Printf(", %d rows (%.0f rows/s), CPU %.1f µs/message (whole process)\n", rows, float64(rows)/el.Seconds(),
		float64(cpu.Microseconds())/float64(*total))
}

type countOnly struct{ counter }

func (c *countOnly) counts() (int64, int64, int64) {
	return c.msgs.Load(), c.flows.Load(), c.rows.Load()
}

type teeW struct{ tee }

func (t *teeW) counts() (int64, int64, int64) { return t.msgs.Load(), t.flows.Load(), t.rows.Load() }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "analyticsbench-ingest:", err)
	os.Exit(1)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func logFields() []sandesh.Field {
	return []sandesh.Field{
		sandesh.F("file", -32768, sandesh.String("bgp/bgp_peer.cc")),
		sandesh.F("line", -32767, sandesh.I32(1234)),
		sandesh.F("peer_type", 1, sandesh.String("BGP")),
		sandesh.F("peer_name", 2, sandesh.String("10.1.2.4")),
		sandesh.F("direction", 3, sandesh.String("RECV")),
		sandesh.F("message", 4, sandesh.String("Received UPDATE for prefix 192.168.10.0/24 with nexthop 10.1.2.4 & label 16")),
		sandesh.F("instance", 5, sandesh.String("default-domain:admin:vn1:vn1")),
	}
}

func flowRecord(src string, seq, i int) generator.FlowLogData {
	return generator.FlowLogData{
		FlowUUID: fmt.Sprintf("6f1c2a3b-0000-4000-8000-%012d", seq*1000+i), DirectionIng: 1,
		SourceVN: "default-domain:admin:vn1", SourceIP: "10.0.0.3", DestVN: "default-domain:admin:vn2", DestIP: "10.0.1.7",
		Protocol: 6, SPort: uint16(30000 + i), DPort: 443, SetupTime: 1700000000000000, Bytes: 123456, Packets: 100,
		DiffBytes: 1200, DiffPackets: 10, Action: "pass", VRouterIP: "10.1.2.3", VRouter: src,
	}
}

// frame encodes message seq of generator src.
func frame(src string, seq int, kind string, perMsg int) []byte {
	h := sandesh.Header{Timestamp: time.Now().UnixMicro(), Source: src, SequenceNum: int32(seq), InstanceID: "0", Pid: 4242}
	if kind == "flows" {
		h.Module, h.NodeType, h.Type, h.Level = "contrail-vrouter-agent", "Compute", sandesh.TypeFlow, sandesh.LevelInfo
		msg := generatorFlowFields(src, seq, perMsg)
		return sandesh.AppendFrame(nil, &h, "FlowLogDataObject", msg)
	}
	h.Module, h.NodeType, h.Type, h.Level, h.Category = "contrail-control", "Control", sandesh.TypeSystem, sandesh.LevelInfo, "BGP"
	return sandesh.AppendFrame(nil, &h, "BgpPeerMessageLog", logFields())
}

// generatorFlowFields builds the fields the generator library would send
// for perMsg records, through the library's own encoding: one
// FlowLogDataObject captured from a generator-shaped message.
func generatorFlowFields(src string, seq, perMsg int) []sandesh.Field {
	items := make([]sandesh.Value, perMsg)
	for i := range items {
		items[i] = generator.FlowValue(flowRecord(src, seq, i))
	}
	return []sandesh.Field{sandesh.F("flowdata", 1, sandesh.ListValue(sandesh.TStruct, items...))}
}

func dial(addr, src string) (net.Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := sandesh.CtrlHeader(src, "contrail-bench", "Config", "0", time.Now().UnixMicro())
	ctrl := sandesh.CtrlClientToServer{Source: src, ModuleName: "contrail-bench", NodeType: "Config", InstanceID: "0"}
	if _, err := conn.Write(sandesh.AppendFrame(nil, &h, sandesh.CtrlClientToServerName, ctrl.Fields())); err != nil {
		return nil, err
	}
	if _, err := sandesh.NewReader(conn, 0).ReadMessage(); err != nil {
		return nil, err
	}
	return conn, nil
}

func sendRaw(addr string, gens, total int, kind string, perMsg int) (time.Time, time.Duration) {
	const distinct = 256
	bufs := make([][]byte, gens)
	ends := make([][]int, gens)
	conns := make([]net.Conn, gens)
	for g := range bufs {
		src := fmt.Sprintf("gen%d", g)
		ends[g] = []int{0}
		for i := 0; i < distinct; i++ {
			bufs[g] = append(bufs[g], frame(src, i, kind, perMsg)...)
			ends[g] = append(ends[g], len(bufs[g]))
		}
		var err error
		if conns[g], err = dial(addr, src); err != nil {
			fail(err)
		}
	}
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for g := 0; g < gens; g++ {
		n := total / gens
		if g == 0 {
			n += total % gens
		}
		wg.Add(1)
		go func(g, n int) {
			defer wg.Done()
			for n > 0 {
				k := min(n, distinct)
				if _, err := conns[g].Write(bufs[g][:ends[g][k]]); err != nil {
					fail(err)
				}
				n -= k
			}
		}(g, n)
	}
	wg.Wait()
	return start, cpu0
}

func sendViaGenerators(ctx context.Context, addr string, gens, total int, kind string, perMsg int) (time.Time, time.Duration) {
	gs := make([]*generator.Generator, gens)
	for i := range gs {
		gs[i] = generator.New(generator.Config{Collectors: []string{addr}, Source: fmt.Sprint("gen", i),
			Module: "contrail-bench", QueueSize: 1 << 20, StatsInterval: -1})
		go gs[i].Start(ctx)
	}
	for _, g := range gs {
		for {
			if _, ok := g.Connected(); ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	fields := logFields()
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for i, g := range gs {
		n := total / gens
		if i == 0 {
			n += total % gens
		}
		wg.Add(1)
		go func(i int, g *generator.Generator, n int) {
			defer wg.Done()
			for j := 0; j < n; j++ {
				if kind == "flows" {
					fl := make([]generator.FlowLogData, perMsg)
					for k := range fl {
						fl[k] = flowRecord(fmt.Sprint("gen", i), j, k)
					}
					g.Flow(fl...)
				} else {
					g.Log(sandesh.LevelInfo, "BGP", "BgpPeerMessageLog", fields)
				}
			}
		}(i, g, n)
	}
	wg.Wait()
	var dropped uint64
	for _, g := range gs {
		dropped += g.Stats().DroppedQueueFull
	}
	if dropped > 0 {
		fmt.Fprintf(os.Stderr, "generators dropped %d messages (queue full)\n", dropped)
	}
	return start, cpu0
}
