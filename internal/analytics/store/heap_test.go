// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchFlowRow is a flow series record shaped as bench/analyticsbench
// writes them: 16 vrouters, 50 networks, 65,536 source addresses, 20
// ports, spread over the 100 minutes before t0.
func benchFlowRow(r *rand.Rand, i, n int) Row {
	return Row{Table: FlowSeriesTable, T: t0.Add(-100 * time.Minute).Add(time.Duration(float64(i) / float64(n) * float64(100*time.Minute))).UnixMicro(),
		Fields: map[string]any{
			"vrouter":       fmt.Sprintf("vrouter-%d", r.Intn(16)),
			"sourcevn":      fmt.Sprintf("default-domain:tenant:vn%d", r.Intn(50)),
			"destvn":        fmt.Sprintf("default-domain:tenant:vn%d", r.Intn(50)),
			"sourceip":      fmt.Sprintf("10.%d.%d.%d", r.Intn(4), r.Intn(64), r.Intn(256)),
			"destip":        fmt.Sprintf("10.9.%d.%d", r.Intn(16), r.Intn(256)),
			"protocol":      int64(6 + 11*r.Intn(2)),
			"sport":         int64(1024 + r.Intn(60000)),
			"dport":         int64(80 + r.Intn(20)),
			"direction_ing": int64(1),
			"packets":       int64(1 + r.Intn(100)),
			"bytes":         int64(64 + r.Intn(100000)),
		}}
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestReopenServesSealedRowsFromFiles writes flow rows through several log
// rotations, reopens the store and checks that every row is served from
// the mapped column files: no block is on the heap and the heap grew by
// a small fraction of the rows' size. ANALYTICS_HEAP_ROWS sets the row
// count (default 300,000), for measuring:
//
//	ANALYTICS_HEAP_ROWS=2000000 go test -run ReopenServes -v ./internal/analytics/store/
func TestReopenServesSealedRowsFromFiles(t *testing.T) {
	n := 300_000
	if s := os.Getenv("ANALYTICS_HEAP_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	}
	dir := t.TempDir()
	opts := Options{WALSegmentBytes: 16 << 20, TTL: map[Kind]time.Duration{KindFlow: 24 * time.Hour}}
	ctx := context.Background()
	base := heapInuse()
	e := openT(t, dir, opts)
	r := rand.New(rand.NewSource(1))
	rows := make([]Row, 0, 10000)
	var bytesSum int64
	for i := 0; i < n; {
		rows = rows[:0]
		for ; i < n && len(rows) < cap(rows); i++ {
			row := benchFlowRow(r, i, n)
			bytesSum += row.Fields["bytes"].(int64)
			rows = append(rows, row)
		}
		if err := e.Write(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	rows = nil
	loaded := heapInuse()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	closed := heapInuse()

	var colBytes int64
	filepath.Walk(filepath.Join(dir, "data"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			colBytes += fi.Size()
		}
		return nil
	})
	openStart := time.Now()
	e = openT(t, dir, opts)
	openTook := time.Since(openStart)
	defer e.Close()
	opened := heapInuse()
	heapBlocks := 0
	for _, tb := range e.tables {
		tb.mu.RLock()
		for _, p := range tb.parts {
			for _, b := range p.blocks {
				if b.file == nil {
					heapBlocks++
				}
			}
		}
		tb.mu.RUnlock()
	}
	if s := e.Stats(); s.HeapRows != 0 || s.MappedFiles == 0 {
		t.Errorf("after reopening: %+v", s)
	}
	if heapBlocks != 0 {
		t.Errorf("%d blocks on the heap after reopening", heapBlocks)
	}
	// Every row is there: count and sum through the batch path.
	var got, sum atomic.Int64
	q := Query{Table: FlowSeriesTable, StartTime: t0.Add(-2 * time.Hour).UnixMicro(), EndTime: t0.UnixMicro()}
	err := e.ScanBatches(ctx, q, 2, func(_ int, b *Batch) error {
		got.Add(int64(len(b.Sel)))
		c := b.Column("bytes")
		var s int64
		for _, i := range b.Sel {
			s += c.Ints[i]
		}
		sum.Add(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Load() != int64(n) || sum.Load() != bytesSum {
		t.Fatalf("scan after reopen: %d rows (want %d), sum %d (want %d)", got.Load(), n, sum.Load(), bytesSum)
	}
	scanned := heapInuse()
	st := e.Stats()
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	delta := int64(opened) - int64(closed)
	t.Logf("column files %.1f MiB; reopen took %v", float64(colBytes)/(1<<20), openTook.Round(time.Millisecond))
	t.Logf("%d flow rows, %d blocks: HeapInuse %.1f MiB before, %.1f MiB loaded (before Close), %.1f MiB after Close, %.1f MiB after reopen (%+.1f MiB, %.1f bytes/row), %.1f MiB after a full scan",
		n, st.Blocks, mib(base), mib(loaded), mib(closed), mib(opened), float64(delta)/(1<<20), float64(delta)/float64(n), mib(scanned))
	if limit := max(int64(8<<20), int64(n)*2); delta > limit {
		t.Errorf("reopening grew the heap by %d bytes for %d rows (limit %d)", delta, n, limit)
	}
}
