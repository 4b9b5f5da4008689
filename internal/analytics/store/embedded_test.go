// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

func flowRow(i int, ts time.Time) Row {
	return Row{Table: FlowSeriesTable, T: ts.UnixMicro(), Fields: map[string]any{
		"vrouter":       fmt.Sprintf("vr%d", i%3),
		"sourcevn":      fmt.Sprintf("default-domain:p:vn%d", i%5),
		"sourceip":      fmt.Sprintf("10.0.%d.%d", i%7, i%250),
		"destvn":        fmt.Sprintf("default-domain:p:vn%d", (i+1)%5),
		"dport":         int64(80 + i%4),
		"protocol":      int64(6),
		"direction_ing": int64(1),
		"bytes":         int64(100 + i),
		"packets":       int64(1 + i%10),
	}}
}

func openT(t *testing.T, dir string, opts Options) *Embedded {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow(t0.Add(time.Minute))
	}
	e, err := OpenEmbedded(dir, opts)
	if err != nil {
		t.Fatalf("OpenEmbedded: %v", err)
	}
	return e
}

func scanAll(t *testing.T, s Store, q Query) []Row {
	t.Helper()
	var out []Row
	if err := s.Scan(context.Background(), q, func(r Row) bool { out = append(out, r); return true }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func wholeDay(table string) Query {
	return Query{Table: table, StartTime: t0.Add(-24 * time.Hour).UnixMicro(), EndTime: t0.Add(24 * time.Hour).UnixMicro()}
}

func TestWriteScanReopen(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, dir, Options{BlockRows: 100, WALSegmentBytes: 4096})
	ctx := context.Background()
	var want []Row
	for batch := 0; batch < 20; batch++ {
		var rows []Row
		for i := 0; i < 37; i++ {
			n := batch*37 + i
			rows = append(rows, flowRow(n, t0.Add(time.Duration(n)*time.Second)))
		}
		if err := e.Write(ctx, rows); err != nil {
			t.Fatal(err)
		}
		want = append(want, rows...)
	}
	msg := Row{Table: MessageTable, T: t0.UnixMicro(), Fields: map[string]any{"Source": "h1", "Level": int64(6), "ok": true, "ratio": 0.5}}
	if err := e.Write(ctx, []Row{msg}); err != nil {
		t.Fatal(err)
	}
	check := func(s Store) {
		t.Helper()
		got := scanAll(t, s, wholeDay(FlowSeriesTable))
		if len(got) != len(want) {
			t.Fatalf("got %d rows, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].T != want[i].T || !reflect.DeepEqual(got[i].Fields, want[i].Fields) {
				t.Fatalf("row %d: got %+v want %+v", i, got[i], want[i])
			}
		}
		m := scanAll(t, s, wholeDay(MessageTable))
		if len(m) != 1 || !reflect.DeepEqual(m[0].Fields, msg.Fields) {
			t.Fatalf("message rows %+v", m)
		}
	}
	check(e)
	// Several log rotations must have produced column files.
	files, _ := filepath.Glob(filepath.Join(dir, "data", FlowSeriesTable, "*.col"))
	if len(files) == 0 {
		t.Fatal("no column files after rotations")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Write(ctx, want[:1]); err != ErrClosed {
		t.Fatalf("write after close: %v", err)
	}
	e2 := openT(t, dir, Options{BlockRows: 100, WALSegmentBytes: 4096})
	check(e2)
	// Write more, then "crash" (no Close): the log alone must bring them back.
	extra := flowRow(9999, t0.Add(2*time.Hour))
	if err := e2.Write(ctx, []Row{extra}); err != nil {
		t.Fatal(err)
	}
	want = append(want, extra)
	crash(e2)
	e3 := openT(t, dir, Options{BlockRows: 100, WALSegmentBytes: 4096})
	defer e3.Close()
	check(e3)
}

// crash stops the background goroutines without flushing, as a killed
// process would leave the directory.
func crash(e *Embedded) {
	e.closed.Store(true)
	close(e.quit)
	<-e.commitStopped
	close(e.flushQ)
	e.done.Wait()
	e.wal.close()
	e.lock.Close()
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, dir, Options{})
	defer e.Close()
	if _, err := OpenEmbedded(dir, Options{}); err == nil {
		t.Fatal("second open of the same directory succeeded")
	}
}

func TestTornLogTailIsCut(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, dir, Options{})
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := e.Write(ctx, []Row{flowRow(i, t0.Add(time.Duration(i)*time.Second))}); err != nil {
			t.Fatal(err)
		}
	}
	gen := e.wal.gen
	crash(e)
	path := walName(filepath.Join(dir, "wal"), gen)
	st, _ := os.Stat(path)
	// A torn last record: chop 5 bytes off the end.
	if err := os.Truncate(path, st.Size()-5); err != nil {
		t.Fatal(err)
	}
	e2 := openT(t, dir, Options{})
	if got := len(scanAll(t, e2, wholeDay(FlowSeriesTable))); got != 9 {
		t.Fatalf("after torn tail: %d rows, want 9", got)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "wal", "*.corrupt")); len(aside) != 1 {
		t.Fatalf("cut-off tail not kept aside: %v", aside)
	}
	if err := e2.Write(ctx, []Row{flowRow(50, t0)}); err != nil {
		t.Fatal(err)
	}
	gen = e2.wal.gen
	crash(e2)
	// Garbage appended after a good record (a corrupted, unacknowledged batch).
	path = walName(filepath.Join(dir, "wal"), gen)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{40, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9})
	f.Close()
	e3 := openT(t, dir, Options{})
	defer e3.Close()
	if got := len(scanAll(t, e3, wholeDay(FlowSeriesTable))); got != 10 {
		t.Fatalf("after corrupted tail: %d rows, want 10", got)
	}
}

func TestCorruptColumnFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, dir, Options{})
	ctx := context.Background()
	if err := e.Write(ctx, []Row{flowRow(1, t0)}); err != nil {
		t.Fatal(err)
	}
	if err := e.Write(ctx, []Row{{Table: MessageTable, T: t0.UnixMicro(), Fields: map[string]any{"Source": "a"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "data", FlowSeriesTable, "*.col"))
	if len(files) != 1 {
		t.Fatalf("column files %v", files)
	}
	b, _ := os.ReadFile(files[0])
	b[len(b)-3] ^= 0xff
	os.WriteFile(files[0], b, 0o644)
	e2 := openT(t, dir, Options{})
	defer e2.Close()
	if got := len(scanAll(t, e2, wholeDay(FlowSeriesTable))); got != 0 {
		t.Fatalf("corrupt file rows %d", got)
	}
	if got := len(scanAll(t, e2, wholeDay(MessageTable))); got != 1 {
		t.Fatalf("other table lost: %d", got)
	}
	if _, err := os.Stat(files[0] + ".corrupt"); err != nil {
		t.Fatalf("not set aside: %v", err)
	}
}

func TestRetentionDropsPartitions(t *testing.T) {
	dir := t.TempDir()
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := openT(t, dir, Options{Now: clock, RetentionInterval: time.Hour})
	ctx := context.Background()
	// flows at t0-30m and t0-5m; a stat and a message at t0-30m
	rows := []Row{
		flowRow(1, t0.Add(-30*time.Minute)),
		flowRow(2, t0.Add(-5*time.Minute)),
		{Table: "StatTable.NodeStatus.process_mem_cpu_usage", T: t0.Add(-30 * time.Minute).UnixMicro(), Fields: map[string]any{"Source": "h", "process_mem_cpu_usage.cpu_share": 1.5}},
		{Table: MessageTable, T: t0.Add(-30 * time.Minute).UnixMicro(), Fields: map[string]any{"Source": "h"}},
	}
	if err := e.Write(ctx, rows); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openT(t, dir, Options{Now: clock, RetentionInterval: time.Hour})
	defer e.Close()
	// 1 h 50 min later: the flow partition [t0-30m, t0-15m) is past the
	// 2 h flow TTL; [t0-15m, t0) is not yet; stats and messages stay.
	mu.Lock()
	now = t0.Add(110 * time.Minute)
	mu.Unlock()
	if n := e.DropExpired(); n != 1 {
		t.Fatalf("dropped %d partitions, want 1", n)
	}
	if got := scanAll(t, e, wholeDay(FlowSeriesTable)); len(got) != 1 || got[0].Fields["bytes"] != int64(102) {
		t.Fatalf("flows after retention: %+v", got)
	}
	if got := len(scanAll(t, e, wholeDay("StatTable.NodeStatus.process_mem_cpu_usage"))); got != 1 {
		t.Fatalf("stats dropped: %d", got)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "data", FlowSeriesTable, "*.col"))
	if len(files) != 1 {
		t.Fatalf("flow column files after retention: %v", files)
	}
	// 49 h later messages go too (48 h), stats stay (168 h).
	mu.Lock()
	now = t0.Add(49 * time.Hour)
	mu.Unlock()
	e.DropExpired()
	if got := len(scanAll(t, e, wholeDay(MessageTable))); got != 0 {
		t.Fatalf("messages kept: %d", got)
	}
	if got := len(scanAll(t, e, wholeDay("StatTable.NodeStatus.process_mem_cpu_usage"))); got != 1 {
		t.Fatalf("stats dropped: %d", got)
	}
	// Rows already past retention on arrival are not kept.
	if err := e.Write(ctx, []Row{flowRow(3, t0)}); err != nil {
		t.Fatal(err)
	}
	if got := len(scanAll(t, e, wholeDay(FlowSeriesTable))); got != 0 {
		t.Fatalf("expired row kept: %d", got)
	}
}

func TestCustomTTL(t *testing.T) {
	e := openT(t, t.TempDir(), Options{TTL: map[Kind]time.Duration{KindGlobal: time.Hour}, Now: fixedNow(t0.Add(3 * time.Hour))})
	defer e.Close()
	e.Write(context.Background(), []Row{{Table: MessageTable, T: t0.UnixMicro(), Fields: map[string]any{"a": "b"}}})
	if got := len(scanAll(t, e, wholeDay(MessageTable))); got != 0 {
		t.Fatalf("rows %d beyond a 1 h TTL", got)
	}
}

func randomRows(r *rand.Rand, n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		f := map[string]any{}
		if r.Intn(10) > 0 {
			f["sourcevn"] = fmt.Sprintf("vn%d", r.Intn(4))
		}
		if r.Intn(10) > 0 {
			f["dport"] = int64(r.Intn(6))
		}
		if r.Intn(2) == 0 {
			f["bytes"] = int64(r.Intn(1000))
		} else if r.Intn(5) == 0 {
			f["bytes"] = "weird" // a column that changes type
		}
		if r.Intn(3) == 0 {
			f["ratio"] = r.Float64()
		}
		if r.Intn(4) == 0 {
			f["ok"] = r.Intn(2) == 0
		}
		rows[i] = Row{Table: FlowSeriesTable, T: t0.Add(time.Duration(r.Intn(7200)) * time.Second).UnixMicro(), Fields: f}
	}
	return rows
}

func randomWhere(r *rand.Rand) [][]Match {
	names := []string{"sourcevn", "dport", "bytes", "ratio", "ok", "missing"}
	vals := []any{"vn1", "vn2", "3", 2.0, "500", "0.5", "true", "v", ""}
	var terms [][]Match
	for i := r.Intn(3); i >= 0; i-- {
		var and []Match
		for j := r.Intn(3); j >= 0; j-- {
			op := 1 + r.Intn(7)
			m := Match{Name: names[r.Intn(len(names))], Op: op, Value: vals[r.Intn(len(vals))]}
			if op == OpInRange || op == OpNotInRange {
				m.Value2 = vals[r.Intn(len(vals))]
			}
			and = append(and, m)
		}
		terms = append(terms, and)
	}
	return terms
}

// Scan and ScanBatches must agree with a brute-force evaluation of the
// same where clause on the rows written.
func TestScanMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	e := openT(t, t.TempDir(), Options{BlockRows: 64})
	defer e.Close()
	rows := randomRows(r, 3000)
	for i := 0; i < len(rows); i += 100 {
		if err := e.Write(context.Background(), rows[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}
	for iter := 0; iter < 200; iter++ {
		q := Query{Table: FlowSeriesTable, StartTime: t0.Add(time.Duration(r.Intn(3600)) * time.Second).UnixMicro(), Where: randomWhere(r)}
		q.EndTime = q.StartTime + int64(r.Intn(4000))*1e6
		terms, err := CompileTerms(q.Where)
		if err != nil {
			t.Fatal(err)
		}
		var want []Row
		for _, row := range rows {
			if row.T >= q.StartTime && row.T <= q.EndTime && MatchRow(terms, row.Fields) {
				want = append(want, row)
			}
		}
		sort.SliceStable(want, func(i, j int) bool { return want[i].T < want[j].T })
		got := scanAll(t, e, q)
		if len(got) != len(want) {
			t.Fatalf("where %+v: got %d rows, want %d", q.Where, len(got), len(want))
		}
		for i := range got {
			if got[i].T != want[i].T {
				t.Fatalf("row %d out of order", i)
			}
		}
		var mu sync.Mutex
		count := 0
		sum := int64(0)
		err = e.ScanBatches(context.Background(), q, 2, func(w int, b *Batch) error {
			c := b.Column("dport")
			mu.Lock()
			defer mu.Unlock()
			count += len(b.Sel)
			for _, i := range b.Sel {
				if v, ok := c.Value(int(i)).(int64); ok {
					sum += v
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		wantSum := int64(0)
		for _, row := range want {
			if v, ok := row.Fields["dport"].(int64); ok {
				wantSum += v
			}
		}
		if count != len(want) || sum != wantSum {
			t.Fatalf("batches: %d rows sum %d, want %d rows sum %d", count, sum, len(want), wantSum)
		}
	}
}

func TestConcurrentWritesAndScans(t *testing.T) {
	e := openT(t, t.TempDir(), Options{BlockRows: 128, WALSegmentBytes: 32 << 10})
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const writers, per = 4, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				rows := make([]Row, 10)
				for j := range rows {
					rows[j] = flowRow(w*1000+i*10+j, t0.Add(time.Duration(i)*time.Second))
				}
				if err := e.Write(ctx, rows); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	for s := 0; s < 2; s++ {
		rg.Add(1)
		go func() {
			defer rg.Done()
			last := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := 0
				e.Scan(ctx, wholeDay(FlowSeriesTable), func(Row) bool { n++; return true })
				if n < last {
					t.Errorf("rows went from %d to %d", last, n)
				}
				last = n
				e.ScanBatches(ctx, wholeDay(FlowSeriesTable), 2, func(int, *Batch) error { return nil })
				_ = e.Tables()
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	if got := len(scanAll(t, e, wholeDay(FlowSeriesTable))); got != writers*per*10 {
		t.Fatalf("rows %d, want %d", got, writers*per*10)
	}
}

func TestTablesSchemas(t *testing.T) {
	e := openT(t, t.TempDir(), Options{})
	defer e.Close()
	err := e.Write(context.Background(), []Row{
		{Table: "StatTable.NodeStatus.process_mem_cpu_usage", T: t0.UnixMicro(), Fields: map[string]any{
			"Source": "h1", "name": "h1", "process_mem_cpu_usage.cpu_share": 0.5, "process_mem_cpu_usage.__key": "contrail-api"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(context.Background(), []Row{{Table: "bad/name", T: 1}}); err == nil {
		t.Fatal("bad table name accepted")
	}
	byName := map[string]Table{}
	for _, tb := range e.Tables() {
		byName[tb.Name] = tb
	}
	for _, n := range []string{MessageTable, FlowRecordTable, FlowSeriesTable, "ObjectVNTable", "StatTable.NodeStatus.process_mem_cpu_usage"} {
		if _, ok := byName[n]; !ok {
			t.Fatalf("table %s missing", n)
		}
	}
	cols := map[string]string{}
	for _, c := range byName["StatTable.NodeStatus.process_mem_cpu_usage"].Columns {
		cols[c.Name] = c.Datatype
	}
	for n, typ := range map[string]string{"Source": "string", "T=": "int", "COUNT(process_mem_cpu_usage)": "int",
		"process_mem_cpu_usage.cpu_share": "double", "SUM(process_mem_cpu_usage.cpu_share)": "double"} {
		if cols[n] != typ {
			t.Fatalf("column %s: %q, want %q (all %v)", n, cols[n], typ, cols)
		}
	}
}

// A crash after column files were written but before the MANIFEST named
// their generation: the files are dropped and the log replayed, so no row
// is lost or doubled.
func TestUnfinishedFlushIsReplayed(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, dir, Options{})
	rows := []Row{flowRow(1, t0), flowRow(2, t0.Add(time.Second))}
	if err := e.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	gen := e.wal.gen
	// Write the generation's column files as a flush would, then crash
	// before the MANIFEST.
	b := newBlock(gen, 2)
	b.appendRow(rows[0].T, rows[0].Fields)
	tdir := filepath.Join(dir, "data", FlowSeriesTable)
	os.MkdirAll(tdir, 0o755)
	start := floorDiv(rows[0].T, (15*time.Minute).Microseconds()) * (15 * time.Minute).Microseconds()
	partial := filepath.Join(tdir, fmt.Sprintf("p%d-g%d.col", start, gen))
	if err := os.WriteFile(partial, appendFrame([]byte(colMagic), b.encode()), 0o644); err != nil {
		t.Fatal(err)
	}
	crash(e)
	e2 := openT(t, dir, Options{})
	defer e2.Close()
	got := scanAll(t, e2, wholeDay(FlowSeriesTable))
	if len(got) != 2 {
		t.Fatalf("%d rows after an unfinished flush, want 2", len(got))
	}
}
