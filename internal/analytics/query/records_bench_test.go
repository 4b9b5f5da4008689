// SPDX-License-Identifier: Apache-2.0

package query

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
)

// BenchmarkFlowRecordQuery: FlowRecordTable queries over QBENCH_ROWS
// (default 200,000) exports, one flow in 20 exported three times, merged
// into records and (".../unmerged") as plain rows, the engine's cost
// before it merged them.
func BenchmarkFlowRecordQuery(b *testing.B) {
	n := 200_000
	if s := os.Getenv("QBENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	st, err := store.OpenEmbedded(dir, store.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	span := 100 * time.Minute
	tOf := func(i int) int64 { return t0.Add(time.Duration(float64(i) / float64(n) * float64(span))).UnixMicro() }
	lag := n / 100
	var rows []store.Row
	for i := 0; i < n; i++ {
		flow, exp := i, 0
		switch {
		case i%20 == 1 && i-1-lag >= 0:
			flow, exp = i-1-lag, 1
		case i%20 == 2 && i-2-2*lag >= 0:
			flow, exp = i-2-2*lag, 2
		}
		f := map[string]any{"UuidKey": fmt.Sprintf("%08x-0000-4000-8000-%012x", flow, flow*7919),
			"sourcevn": fmt.Sprintf("vn%d", flow%50), "dport": int64(80 + (flow/50)%20), "direction_ing": int64(1),
			"setup_time": tOf(flow), "agg-bytes": int64(100 * (exp + 1))}
		if exp == 2 {
			f["teardown_time"] = tOf(i)
		}
		rows = append(rows, store.Row{Table: store.FlowRecordTable, T: tOf(i), Fields: f})
		if len(rows) == 10000 {
			if err := st.Write(context.Background(), rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	st.Write(context.Background(), rows)
	// Reopened, the blocks are served from column files, as a store's
	// older rows are.
	st.Close()
	if st, err = store.OpenEmbedded(dir, store.Options{Now: func() time.Time { return t0 }, DictCacheBytes: dictCache()}); err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := NewEngine(st)
	times := fmt.Sprintf(`"start_time":%d,"end_time":%d`, t0.UnixMicro(), t0.Add(span).UnixMicro())
	for _, c := range []struct{ name, sel, where string }{
		{"vn+port", `"T=60","SUM(agg-bytes)","flow_count"`, `[[{"name":"sourcevn","value":"vn7","op":1},{"name":"dport","value":"80","op":1}]]`},
		{"vn", `"T=60","SUM(agg-bytes)"`, `[[{"name":"sourcevn","value":"vn7","op":1}]]`},
		{"all", `"T=60","SUM(agg-bytes)"`, `[]`},
	} {
		body := `{"table":"FlowRecordTable",` + times + `,"select_fields":[` + c.sel + `],"where":` + c.where + `}`
		for _, merged := range []bool{true, false} {
			name := c.name
			if !merged {
				name += "/unmerged"
			}
			b.Run(name, func(b *testing.B) {
				defer func(m bool) { mergeFlowRecords = m }(mergeFlowRecords)
				mergeFlowRecords = merged
				for i := 0; i < b.N; i++ {
					if _, err := e.Query(context.Background(), []byte(body)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// dictCache is QBENCH_DICT_CACHE (bytes), else the store's default.
func dictCache() int64 {
	n, _ := strconv.ParseInt(os.Getenv("QBENCH_DICT_CACHE"), 10, 64)
	return n
}
