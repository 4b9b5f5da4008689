// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// countWriter counts rows and keeps nothing: the collector's own cost.
type countWriter struct{ rows, msgs, flows atomic.Int64 }

func (w *countWriter) Write(_ context.Context, rows []store.Row) error {
	var m, f int64
	for i := range rows {
		switch rows[i].Table {
		case TableMessage:
			m++
		case TableFlowRecord:
			f++
		}
	}
	w.rows.Add(int64(len(rows)))
	w.msgs.Add(m)
	w.flows.Add(f)
	return nil
}

// benchLog is a system log of the size daemons send (~600 bytes framed).
func benchLog(source string, seq int) []byte {
	h := sandesh.Header{Timestamp: time.Now().UnixMicro(), Module: "contrail-control", Source: source,
		SequenceNum: int32(seq), Type: sandesh.TypeSystem, Level: sandesh.LevelInfo, Category: "BGP",
		NodeType: "Control", InstanceID: "0", IPAddress: "10.1.2.3", Pid: 4242}
	return sandesh.AppendFrame(nil, &h, "BgpPeerMessageLog", []sandesh.Field{
		sandesh.F("file", -32768, sandesh.String("bgp/bgp_peer.cc")),
		sandesh.F("line", -32767, sandesh.I32(1234)),
		sandesh.F("peer_type", 1, sandesh.String("BGP")),
		sandesh.F("peer_name", 2, sandesh.String("10.1.2.4")),
		sandesh.F("direction", 3, sandesh.String("RECV")),
		sandesh.F("message", 4, sandesh.String("Received UPDATE for prefix 192.168.10.0/24 with nexthop 10.1.2.4 & label 16")),
		sandesh.F("instance", 5, sandesh.String("default-domain:admin:vn1:vn1")),
	})
}

// benchFlows is one FlowLogDataObject message with n flow records.
func benchFlows(source string, seq, n int) []byte {
	items := make([]sandesh.Value, n)
	for i := range items {
		items[i] = sandesh.StructValue("FlowLogData",
			sandesh.F("flowuuid", 1, sandesh.String(fmt.Sprintf("6f1c2a3b-0000-4000-8000-%012d", seq*n+i))),
			sandesh.F("direction_ing", 2, sandesh.Value{Type: sandesh.TByte, Int: 1}),
			sandesh.F("sourcevn", 3, sandesh.String("default-domain:admin:vn1")),
			sandesh.F("sourceip", 4, sandesh.String("10.0.0.3")),
			sandesh.F("destvn", 5, sandesh.String("default-domain:admin:vn2")),
			sandesh.F("destip", 6, sandesh.String("10.0.1.7")),
			sandesh.F("protocol", 7, sandesh.Value{Type: sandesh.TByte, Int: 6}),
			sandesh.F("sport", 8, sandesh.U16(uint16(30000+i))),
			sandesh.F("dport", 9, sandesh.U16(443)),
			sandesh.F("setup_time", 17, sandesh.I64(1700000000000000)),
			sandesh.F("bytes", 23, sandesh.I64(123456)),
			sandesh.F("packets", 24, sandesh.I64(100)),
			sandesh.F("diff_bytes", 27, sandesh.I64(1200)),
			sandesh.F("diff_packets", 28, sandesh.I64(10)),
			sandesh.F("action", 31, sandesh.String("pass")),
			sandesh.F("vrouter_ip", 34, sandesh.String("10.1.2.3")),
		)
	}
	h := sandesh.Header{Timestamp: time.Now().UnixMicro(), Module: "contrail-vrouter-agent", Source: source,
		SequenceNum: int32(seq), Type: sandesh.TypeFlow, Level: sandesh.LevelInfo, NodeType: "Compute", InstanceID: "0"}
	return sandesh.AppendFrame(nil, &h, "FlowLogDataObject", []sandesh.Field{
		sandesh.F("flowdata", 1, sandesh.ListValue(sandesh.TStruct, items...)),
	})
}

// runRaw sends total frames from gens concurrent raw sessions (frames
// pre-encoded, so the generators cost little) and waits until the writer
// has done(w) == want. It measures the collector alone: TCP read, frame
// and XML decode, rows, batching and the Write calls.
func runRaw(b *testing.B, w store.Writer, gens int, frame func(src string, seq int) []byte, want int64, done func() int64) {
	c, err := New(Config{Listen: "127.0.0.1:0", Writer: w, SessionQueue: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- c.Start(ctx) }()
	defer func() { cancel(); <-stopped }()

	per := b.N / gens
	rest := b.N - per*gens
	// Pre-encode: 256 distinct frames per generator, repeated.
	// ends[g][k] is where the first k frames of bufs[g] end.
	bufs := make([][]byte, gens)
	ends := make([][]int, gens)
	for g := range bufs {
		ends[g] = []int{0}
		for i := 0; i < 256; i++ {
			bufs[g] = append(bufs[g], frame(fmt.Sprintf("gen%d", g), i)...)
			ends[g] = append(ends[g], len(bufs[g]))
		}
	}
	b.SetBytes(int64(len(bufs[0]) / 256))
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for g := 0; g < gens; g++ {
		n := per
		if g == 0 {
			n += rest
		}
		wg.Add(1)
		go func(g, n int) {
			defer wg.Done()
			conn, err := dialRaw(c.Addr().String(), fmt.Sprintf("gen%d", g))
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			for n > 0 {
				k := min(n, 256)
				if _, err := conn.Write(bufs[g][:ends[g][k]]); err != nil {
					b.Error(err)
					return
				}
				n -= k
			}
		}(g, n)
	}
	wg.Wait()
	for done() < want {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d stored", done(), want)
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if st := c.Stats(); st.Dropped > 0 {
		b.Fatalf("collector dropped %d messages", st.Dropped)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	// On a shared machine the wall-clock rate depends on the neighbours;
	// the CPU time per message (whole process: collector, the raw senders
	// and the writer) does not.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dialRaw opens a session as generator source: handshake done, the
// collector's answer read.
func dialRaw(addr, source string) (net.Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := sandesh.CtrlHeader(source, "contrail-test", "Config", "0", time.Now().UnixMicro())
	ctrl := sandesh.CtrlClientToServer{Source: source, ModuleName: "contrail-test", NodeType: "Config", InstanceID: "0"}
	if _, err := conn.Write(sandesh.AppendFrame(nil, &h, sandesh.CtrlClientToServerName, ctrl.Fields())); err != nil {
		conn.Close()
		return nil, err
	}
	m, err := sandesh.NewReader(conn, 0).ReadMessage()
	if err != nil || m.Name != sandesh.CtrlServerToClientName {
		conn.Close()
		return nil, fmt.Errorf("handshake answer %v: %w", m, err)
	}
	return conn, nil
}

// BenchmarkIngestLogs: system logs from 1, 4 and 16 concurrent generators.
func BenchmarkIngestLogs(b *testing.B) {
	for _, gens := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("generators=%d", gens), func(b *testing.B) {
			w := &countWriter{}
			runRaw(b, w, gens, benchLog, int64(b.N), w.msgs.Load)
		})
	}
}

// BenchmarkIngestFlows: FlowLogDataObject messages of 10 records from 4
// concurrent vrouter agents; reports flow records/s.
func BenchmarkIngestFlows(b *testing.B) {
	const perMsg = 10
	w := &countWriter{}
	start := time.Now()
	runRaw(b, w, 4, func(src string, seq int) []byte { return benchFlows(src, seq, perMsg) }, int64(b.N*perMsg), w.flows.Load)
	b.ReportMetric(float64(b.N*perMsg)/time.Since(start).Seconds(), "flows/s")
}

// BenchmarkIngestGenerators: the whole path from generator.Log calls in 4
// generator libraries through TCP to the writer (both ends on this
// machine, so the figure includes the generators' encoding cost).
func BenchmarkIngestGenerators(b *testing.B) {
	w := &countWriter{}
	c, err := New(Config{Listen: "127.0.0.1:0", Writer: w, SessionQueue: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	c.Listen()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- c.Start(ctx) }()
	defer func() { cancel(); <-stopped }()
	const gens = 4
	gs := make([]*generator.Generator, gens)
	for i := range gs {
		gs[i] = generator.New(generator.Config{Collectors: []string{c.Addr().String()}, Source: fmt.Sprint("g", i),
			Module: "contrail-control", QueueSize: 1 << 20, StatsInterval: -1})
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
	base := w.msgs.Load()
	fields := []sandesh.Field{
		sandesh.F("peer_name", 2, sandesh.String("10.1.2.4")),
		sandesh.F("message", 4, sandesh.String("Received UPDATE for prefix 192.168.10.0/24 with nexthop 10.1.2.4")),
	}
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for i, g := range gs {
		n := b.N / gens
		if i == 0 {
			n += b.N % gens
		}
		wg.Add(1)
		go func(g *generator.Generator, n int) {
			defer wg.Done()
			for j := 0; j < n; j++ {
				g.Log(sandesh.LevelInfo, "BGP", "BgpPeerMessageLog", fields)
			}
		}(g, n)
	}
	wg.Wait()
	var dropped uint64
	for {
		dropped = 0
		for _, g := range gs {
			dropped += g.Stats().DroppedQueueFull
		}
		if w.msgs.Load()-base+int64(dropped) >= int64(b.N) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(w.msgs.Load()-base)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(dropped), "dropped")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// BenchmarkHandle is the collector's per-message work without TCP: frame
// read from memory, header parse, body check or decode, rows.
func BenchmarkHandle(b *testing.B) {
	c, err := New(Config{Writer: &countWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	s := &session{origin: uveOrigin("bench"), id: 1}
	c.owners[s.origin] = 1
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"log", benchLog("gen0", 100)},
		{"flows10", benchFlows("gen0", 100, 10)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			stream := bytes.Repeat(tc.frame, 1000)
			b.SetBytes(int64(len(tc.frame)))
			b.ReportAllocs()
			rows := make([]store.Row, 0, 64)
			var r *sandesh.Reader
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
			for i := 0; i < b.N; i++ {
				if i%1000 == 0 {
					r = sandesh.NewReader(bytes.NewReader(stream), 0)
				}
				m, err := r.ReadMessage()
				if err != nil {
					b.Fatal(err)
				}
				if rows, err = c.handle(rows[:0], s, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func uveOrigin(src string) uve.Origin {
	return uve.Origin{Source: src, NodeType: "Config", Module: "contrail-test", InstanceID: "0"}
}
