// SPDX-License-Identifier: Apache-2.0

// Command analyticsbench measures the analytics storage and query half:
// durable ingest of flow records into the embedded store, query latency
// over N flow records (where on sourcevn and dport, T=60 bins, SUM(bytes)),
// and UVE GET latency through the analytics API's HTTP server.
//
//	go run ./bench/analyticsbench                 # 10M flows, 10k UVEs
//	go run ./bench/analyticsbench -n 1000000      # quicker
//	go run ./bench/analyticsbench -records        # FlowRecordTable: flows exported up to 3 times, merged per UuidKey
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/api"
	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
)

var (
	nRows    = flag.Int("n", 10_000_000, "flow records loaded for the query benchmark")
	nIngest  = flag.Int("ingest", 1_000_000, "flow records written in the ingest benchmark")
	batch    = flag.Int("batch", 1000, "rows per Write call")
	writers  = flag.Int("writers", 4, "concurrent writers in the ingest benchmark")
	nUVEs    = flag.Int("uves", 10_000, "UVEs behind the API in the UVE GET benchmark")
	nGets    = flag.Int("gets", 20_000, "UVE GETs measured")
	runs     = flag.Int("runs", 5, "runs of each query")
	dirFlag  = flag.String("dir", "", "directory for the stores (default: a temporary one, removed at the end)")
	skipLoad = flag.Bool("skip-query", false, "skip the N-row query benchmark")
	reopen   = flag.Bool("reopen", false, "also close and reopen the loaded store, report the heap and run the queries again")
	records  = flag.Bool("records", false, "load FlowRecordTable rows instead (1 flow in 20 exported 3 times: setup, update, teardown) and query that table")
)

var base = time.Now().Add(-100 * time.Minute).Truncate(time.Minute)

// flowRow is the i-th synthetic flow series record: 16 vrouters, 50
// source and destination networks, 65,536 source addresses, 20 ports,
// spread evenly over 100 minutes.
func flowRow(r *rand.Rand, i, n int) store.Row {
	return store.Row{Table: store.FlowSeriesTable, T: base.Add(time.Duration(float64(i) / float64(n) * float64(100*time.Minute))).UnixMicro(),
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

// mix64 is splitmix64's finalizer: a flow's attributes derive from its id.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// recordRow is the i-th FlowRecordTable row: the export of a flow with
// the attributes of flowRow. Row i with i%20 == 1 is the periodic update
// of the flow set up at row i-1-recordLag, i%20 == 2 the teardown of the
// flow set up at row i-2-2*recordLag (a minute or so later); every other
// row is a flow's only export.
func recordRow(i, n int) store.Row {
	const recordLag = 100_000
	tOf := func(j int) int64 {
		return base.Add(time.Duration(float64(j) / float64(n) * float64(100*time.Minute))).UnixMicro()
	}
	flow, export := i, 0
	switch {
	case i%20 == 1 && i-1-recordLag >= 0:
		flow, export = i-1-recordLag, 1
	case i%20 == 2 && i-2-2*recordLag >= 0:
		flow, export = i-2-2*recordLag, 2
	}
	h := mix64(uint64(flow))
	pick := func(k int) int { h = mix64(h); return int(h % uint64(k)) }
	f := map[string]any{
		"UuidKey":       fmt.Sprintf("%08x-0000-4000-8000-%012x", flow, mix64(uint64(flow)^0xabcdef)&0xffffffffffff),
		"vrouter":       fmt.Sprintf("vrouter-%d", pick(16)),
		"sourcevn":      fmt.Sprintf("default-domain:tenant:vn%d", pick(50)),
		"destvn":        fmt.Sprintf("default-domain:tenant:vn%d", pick(50)),
		"sourceip":      fmt.Sprintf("10.%d.%d.%d", pick(4), pick(64), pick(256)),
		"destip":        fmt.Sprintf("10.9.%d.%d", pick(16), pick(256)),
		"protocol":      int64(6 + 11*pick(2)),
		"sport":         int64(1024 + pick(60000)),
		"dport":         int64(80 + pick(20)),
		"direction_ing": int64(1),
		"setup_time":    tOf(flow),
		"action":        "pass",
	}
	pkts, bytes := int64(1+pick(100)), int64(64+pick(100000))
	f["agg-packets"], f["agg-bytes"] = pkts*int64(export+1), bytes*int64(export+1)
	if export == 2 {
		f["teardown_time"] = tOf(i)
	}
	return store.Row{Table: store.FlowRecordTable, T: tOf(i), Fields: f}
}

func openStore(dir string) *store.Embedded {
	st, err := store.OpenEmbedded(dir, store.Options{TTL: map[store.Kind]time.Duration{store.KindFlow: 24 * time.Hour}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open store:", err)
		os.Exit(1)
	}
	return st
}

// load writes n rows with w concurrent writers in batches and returns the
// elapsed time.
func load(st store.Store, n, w, b int) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			rows := make([]store.Row, 0, b)
			for {
				first := int(next.Add(int64(b))) - b
				if first >= n {
					return
				}
				rows = rows[:0]
				for i := first; i < min(first+b, n); i++ {
					if *records {
						rows = append(rows, recordRow(i, n))
					} else {
						rows = append(rows, flowRow(r, i, n))
					}
				}
				if err := st.Write(context.Background(), rows); err != nil {
					fmt.Fprintln(os.Stderr, "write:", err)
					os.Exit(1)
				}
			}
		}(int64(k + 1))
	}
	wg.Wait()
	return time.Since(start)
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

func timeQuery(e *query.Engine, body string) (best, median time.Duration, rows int) {
	var ds []time.Duration
	for i := 0; i < *runs; i++ {
		start := time.Now()
		res, err := e.Query(context.Background(), []byte(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, "query:", err)
			os.Exit(1)
		}
		ds = append(ds, time.Since(start))
		rows = len(res.Rows)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[0], ds[len(ds)/2], rows
}

// memSource is an in-memory uve.Source of virtual-network UVEs.
type memSource struct{ uves map[string]map[string]any }

func (m *memSource) Types(context.Context) ([]string, error) { return []string{"virtual-network"}, nil }
func (m *memSource) Keys(_ context.Context, typ string, f uve.Filter) ([]string, error) {
	out := make([]string, 0, len(m.uves))
	for k := range m.uves {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}
func (m *memSource) Get(_ context.Context, typ, key string, f uve.Filter) (map[string]any, bool, error) {
	v, ok := m.uves[key]
	return v, ok, nil
}

func benchUVE() {
	src := &memSource{uves: map[string]map[string]any{}}
	keys := make([]string, *nUVEs)
	for i := range keys {
		keys[i] = fmt.Sprintf("default-domain:tenant%d:vn%d", i%100, i)
		src.uves[keys[i]] = map[string]any{
			"UveVirtualNetworkAgent": map[string]any{
				"interface_list": []any{fmt.Sprintf("tap%d-a", i), fmt.Sprintf("tap%d-b", i)},
				"in_bytes":       int64(i * 100), "out_bytes": int64(i * 90),
				"in_stats": []any{map[string]any{"other_vn": "default-domain:tenant:vn0", "bytes": int64(5), "tpkts": int64(1)}},
			},
			"UveVirtualNetworkConfig": map[string]any{"routing_instance_list": []any{keys[i]}, "total_acl_rules": int64(4)},
		}
	}
	srv := api.NewServer(api.Config{UVEs: src})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(api.Listener(l))
	defer hs.Close()
	url := "http://" + l.Addr().String() + "/analytics/uves/virtual-network/"
	for _, conc := range []int{1, 4} {
		lat := make([]time.Duration, 0, *nGets)
		var mu sync.Mutex
		var wg sync.WaitGroup
		per := *nGets / conc
		start := time.Now()
		for c := 0; c < conc; c++ {
			wg.Add(1)
			go func(seed int64) {
				defer wg.Done()
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
				r := rand.New(rand.NewSource(seed))
				mine := make([]time.Duration, 0, per)
				for i := 0; i < per; i++ {
					t := time.Now()
					resp, err := client.Get(url + keys[r.Intn(len(keys))] + "?flat")
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						fmt.Fprintln(os.Stderr, "status", resp.Status)
						os.Exit(1)
					}
					mine = append(mine, time.Since(t))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}(int64(c + 1))
		}
		wg.Wait()
		el := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
		fmt.Printf("UVE GET (%d UVEs, %d GETs, %d client(s)): p50 %v  p99 %v  max %v  (%.0f GET/s)\n",
			*nUVEs, len(lat), conc, pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond),
			lat[len(lat)-1].Round(time.Microsecond), float64(len(lat))/el.Seconds())
	}
}

func main() {
	flag.Parse()
	dir := *dirFlag
	if dir == "" {
		d, err := os.MkdirTemp("", "analyticsbench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Printf("analyticsbench: GOMAXPROCS %d, %s/%s\n", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)

	// 1. Durable ingest.
	for _, w := range []int{1, *writers} {
		st := openStore(fmt.Sprintf("%s/ingest-%d", dir, w))
		el := load(st, *nIngest, w, *batch)
		st.Close()
		fmt.Printf("ingest: %d flow records, %d writer(s), %d rows/Write (each Write fsynced before it returns): %v, %.0f rows/s\n",
			*nIngest, w, *batch, el.Round(time.Millisecond), float64(*nIngest)/el.Seconds())
	}

	// 2. Query latency over N rows.
	if !*skipLoad {
		st := openStore(dir + "/query")
		el := load(st, *nRows, *writers, 10000)
		fmt.Printf("loaded %d flow records in %v (%.0f rows/s); heap %.0f MiB\n", *nRows, el.Round(time.Millisecond),
			float64(*nRows)/el.Seconds(), heapMB())
		e := query.NewEngine(st)
		span := fmt.Sprintf(`"start_time":%d,"end_time":%d`, base.UnixMicro(), base.Add(100*time.Minute).UnixMicro())
		qs := []struct{ name, body string }{
			{"where sourcevn=vn7 AND dport=80, T=60, SUM(bytes)",
				`{"table":"FlowSeriesTable",` + span + `,"select_fields":["T=60","SUM(bytes)"],"where":[[{"name":"sourcevn","value":"default-domain:tenant:vn7","op":1},{"name":"dport","value":"80","op":1}]]}`},
			{"where sourcevn=vn7 (1 in 50), T=60, SUM(bytes), SUM(packets)",
				`{"table":"FlowSeriesTable",` + span + `,"select_fields":["T=60","SUM(bytes)","SUM(packets)"],"where":[[{"name":"sourcevn","value":"default-domain:tenant:vn7","op":1}]]}`},
			{"no where (all rows), T=60, SUM(bytes)",
				`{"table":"FlowSeriesTable",` + span + `,"select_fields":["T=60","SUM(bytes)"]}`},
			{"no where, group by sourcevn and destvn, SUM(bytes), top 10",
				`{"table":"FlowSeriesTable",` + span + `,"select_fields":["sourcevn","destvn","SUM(bytes)"],"sort":2,"sort_fields":["SUM(bytes)"],"limit":10}`},
			{"where dport=80, raw rows sourceip/bytes, limit 100",
				`{"table":"FlowSeriesTable",` + span + `,"select_fields":["T","sourceip","bytes"],"where":[[{"name":"dport","value":"80","op":1}]],"limit":100}`},
		}
		if *records {
			qs = []struct{ name, body string }{
				{"records: where sourcevn=vn7 AND dport=80, T=60, SUM(agg-bytes)",
					`{"table":"FlowRecordTable",` + span + `,"select_fields":["T=60","SUM(agg-bytes)","flow_count"],"where":[[{"name":"sourcevn","value":"default-domain:tenant:vn7","op":1},{"name":"dport","value":"80","op":1}]]}`},
				{"records: where sourcevn=vn7 (1 in 50), T=60, SUM(agg-bytes)",
					`{"table":"FlowRecordTable",` + span + `,"select_fields":["T=60","SUM(agg-bytes)","SUM(agg-packets)"],"where":[[{"name":"sourcevn","value":"default-domain:tenant:vn7","op":1}]]}`},
				{"records: no where (all rows), T=60, SUM(agg-bytes)",
					`{"table":"FlowRecordTable",` + span + `,"select_fields":["T=60","SUM(agg-bytes)"]}`},
				{"records: where dport=80, raw rows, limit 100",
					`{"table":"FlowRecordTable",` + span + `,"select_fields":["UuidKey","setup_time","teardown_time","agg-bytes"],"where":[[{"name":"dport","value":"80","op":1}]],"limit":100}`},
			}
		}
		runQueries := func(e *query.Engine) {
			for _, q := range qs {
				best, med, rows := timeQuery(e, q.body)
				fmt.Printf("query over %d rows: %-62s best %v  median %v  (%d result rows)\n", *nRows, q.name,
					best.Round(time.Microsecond), med.Round(time.Microsecond), rows)
			}
		}
		runQueries(e)
		st.Close()
		if *reopen {
			before := heapMB()
			start := time.Now()
			st = openStore(dir + "/query")
			fmt.Printf("reopened in %v; heap %.0f MiB (%.0f MiB before opening)\n", time.Since(start).Round(time.Millisecond), heapMB(), before)
			runQueries(query.NewEngine(st))
			fmt.Printf("heap after the queries %.0f MiB\n", heapMB())
			st.Close()
		}
	}

	// 3. UVE GET latency through the HTTP API.
	benchUVE()
}
