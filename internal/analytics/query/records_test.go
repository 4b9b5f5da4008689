// SPDX-License-Identifier: Apache-2.0

package query

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
)

func us(d time.Duration) int64 { return t0.Add(d).UnixMicro() }

// export is a FlowRecordTable row as the collector writes it for one
// FlowLogData.
func export(uuid string, at time.Duration, f map[string]any) store.Row {
	fields := map[string]any{"UuidKey": uuid, "vrouter": "vr1", "sourcevn": "vnA", "destvn": "vnB",
		"sourceip": "10.0.0.1", "destip": "10.0.0.2", "protocol": int64(6), "sport": int64(1000), "dport": int64(80),
		"direction_ing": int64(1)}
	for k, v := range f {
		fields[k] = v
	}
	return store.Row{Table: store.FlowRecordTable, T: us(at), Fields: fields}
}

// lifecycleRows: flow "a" is set up, updated twice and torn down; "b"
// has one export; "c" is set up and updated, still open; "d" is torn
// down after one update.
func lifecycleRows() []store.Row {
	return []store.Row{
		export("a", 1*time.Second, map[string]any{"setup_time": us(0), "agg-bytes": int64(100), "agg-packets": int64(1), "action": "pass"}),
		export("b", 2*time.Second, map[string]any{"setup_time": us(2 * time.Second), "agg-bytes": int64(5), "agg-packets": int64(1), "action": "pass"}),
		export("c", 30*time.Second, map[string]any{"setup_time": us(29 * time.Second), "agg-bytes": int64(10), "agg-packets": int64(1)}),
		export("a", 61*time.Second, map[string]any{"setup_time": us(0), "agg-bytes": int64(300), "agg-packets": int64(3), "action": "pass"}),
		export("d", 62*time.Second, map[string]any{"setup_time": us(62 * time.Second), "agg-bytes": int64(1), "agg-packets": int64(1)}),
		export("c", 90*time.Second, map[string]any{"setup_time": us(29 * time.Second), "agg-bytes": int64(20), "agg-packets": int64(2), "sg_rule_uuid": "r1"}),
		export("a", 121*time.Second, map[string]any{"setup_time": us(0), "agg-bytes": int64(600), "agg-packets": int64(6), "action": "drop"}),
		export("d", 125*time.Second, map[string]any{"setup_time": us(62 * time.Second), "agg-bytes": int64(2), "agg-packets": int64(2)}),
		export("d", 130*time.Second, map[string]any{"setup_time": us(62 * time.Second), "teardown_time": us(129 * time.Second), "agg-bytes": int64(4), "agg-packets": int64(3)}),
		export("a", 181*time.Second, map[string]any{"setup_time": us(0), "teardown_time": us(180 * time.Second), "agg-bytes": int64(700), "agg-packets": int64(7), "action": "drop"}),
		// Another direction: left out by the default dir (ingress).
		export("e", 5*time.Second, map[string]any{"setup_time": us(5 * time.Second), "agg-bytes": int64(9), "direction_ing": int64(0)}),
	}
}

// withBudgets runs fn with the default merge budget and with none, so
// that both the single-scan merge and the two-scan path are tested.
func withBudgets(t *testing.T, fn func(t *testing.T)) {
	saved := mergeBudget
	defer func() { mergeBudget = saved }()
	for _, b := range []int64{saved, 0} {
		mergeBudget = b
		t.Run(fmt.Sprintf("budget%d", b), fn)
	}
}

func recordQuery(t *testing.T, e *Engine, body string) []map[string]any {
	t.Helper()
	res, err := e.Query(context.Background(), []byte(body))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return res.Rows
}

func TestFlowRecordOneRowPerFlow(t *testing.T) {
	rows := lifecycleRows()
	span := fmt.Sprintf(`"start_time":%d,"end_time":%d`, us(0), us(time.Hour))
	withBudgets(t, func(t *testing.T) {
		for name, e := range engines(t, rows) {
			got := recordQuery(t, e, `{"table":"FlowRecordTable",`+span+`,
				"select_fields":["T","UuidKey","setup_time","teardown_time","agg-bytes","agg-packets","action","sg_rule_uuid"],
				"sort":1,"sort_fields":["UuidKey"]}`)
			want := []map[string]any{
				{"T": us(0), "UuidKey": "a", "setup_time": us(0), "teardown_time": us(180 * time.Second),
					"agg-bytes": int64(700), "agg-packets": int64(7), "action": "drop"},
				{"T": us(2 * time.Second), "UuidKey": "b", "setup_time": us(2 * time.Second), "agg-bytes": int64(5), "agg-packets": int64(1), "action": "pass"},
				{"T": us(29 * time.Second), "UuidKey": "c", "setup_time": us(29 * time.Second), "agg-bytes": int64(20), "agg-packets": int64(2), "sg_rule_uuid": "r1"},
				{"T": us(62 * time.Second), "UuidKey": "d", "setup_time": us(62 * time.Second), "teardown_time": us(129 * time.Second),
					"agg-bytes": int64(4), "agg-packets": int64(3)},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n got %v\nwant %v", name, got, want)
			}

			// Aggregates count flows and sum their final counters.
			got = recordQuery(t, e, `{"table":"FlowRecordTable",`+span+`,"select_fields":["flow_count","sum(agg-bytes)","COUNT(UuidKey)","MAX(agg-packets)"]}`)
			want = []map[string]any{{"flow_count": int64(4), "sum(agg-bytes)": int64(729), "COUNT(UuidKey)": int64(4), "MAX(agg-packets)": int64(7)}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: aggregates %v, want %v", name, got, want)
			}

			// Time bins hold each flow once, at its setup time.
			got = recordQuery(t, e, `{"table":"FlowRecordTable",`+span+`,"select_fields":["T=60","flow_count","SUM(agg-bytes)"]}`)
			want = []map[string]any{
				{"T=": us(0), "flow_count": int64(3), "SUM(agg-bytes)": int64(725)},
				{"T=": us(time.Minute), "flow_count": int64(1), "SUM(agg-bytes)": int64(4)},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: bins %v, want %v", name, got, want)
			}

			// A where on teardown_time sees the merged value: the closed
			// flows, whatever export matched the key columns.
			got = recordQuery(t, e, `{"table":"FlowRecordTable",`+span+`,"select_fields":["UuidKey","agg-bytes"],
				"where":[[{"name":"teardown_time","value":1,"op":"GEQ"},{"name":"sourcevn","value":"vnA","op":1}]],
				"sort":1,"sort_fields":["UuidKey"]}`)
			want = []map[string]any{{"UuidKey": "a", "agg-bytes": int64(700)}, {"UuidKey": "d", "agg-bytes": int64(4)}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: where teardown_time %v, want %v", name, got, want)
			}

			// A where on the latest counters, OR a key column.
			got = recordQuery(t, e, `{"table":"FlowRecordTable",`+span+`,"select_fields":["UuidKey"],
				"where":[[{"name":"agg-bytes","value":15,"value2":650,"op":3}],[{"name":"UuidKey","value":"b","op":1}]],
				"sort":1,"sort_fields":["UuidKey"]}`)
			want = []map[string]any{{"UuidKey": "b"}, {"UuidKey": "c"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: where agg-bytes %v, want %v", name, got, want)
			}

			// Filter and limit apply to records.
			got = recordQuery(t, e, `{"table":"FlowRecordTable",`+span+`,"select_fields":["UuidKey","agg-bytes"],
				"filter":[{"name":"agg-bytes","value":5,"op":"GEQ"}],"sort":2,"sort_fields":["agg-bytes"],"limit":2}`)
			want = []map[string]any{{"UuidKey": "a", "agg-bytes": int64(700)}, {"UuidKey": "c", "agg-bytes": int64(20)}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: filter/limit %v, want %v", name, got, want)
			}

			// Egress: the other flow.
			got = recordQuery(t, e, `{"table":"FlowRecordTable",`+span+`,"dir":0,"select_fields":["UuidKey","flow_count"]}`)
			want = []map[string]any{{"UuidKey": "e", "flow_count": int64(1)}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: egress %v, want %v", name, got, want)
			}
		}
	})
}

// A query range cuts flows: a record stands as it was at end_time, and a
// flow set up before start_time is left out.
func TestFlowRecordTimeRange(t *testing.T) {
	rows := lifecycleRows()
	withBudgets(t, func(t *testing.T) {
		for name, e := range engines(t, rows) {
			got := recordQuery(t, e, fmt.Sprintf(`{"table":"FlowRecordTable","start_time":%d,"end_time":%d,
				"select_fields":["UuidKey","teardown_time","agg-bytes"],"sort":1,"sort_fields":["UuidKey"]}`, us(0), us(100*time.Second)))
			want := []map[string]any{
				{"UuidKey": "a", "agg-bytes": int64(300)},
				{"UuidKey": "b", "agg-bytes": int64(5)},
				{"UuidKey": "c", "agg-bytes": int64(20)},
				{"UuidKey": "d", "agg-bytes": int64(1)},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: until 100s %v, want %v", name, got, want)
			}
			got = recordQuery(t, e, fmt.Sprintf(`{"table":"FlowRecordTable","start_time":%d,"end_time":%d,
				"select_fields":["UuidKey","T","teardown_time","agg-bytes"]}`, us(60*time.Second), us(time.Hour)))
			want = []map[string]any{{"UuidKey": "d", "T": us(62 * time.Second), "teardown_time": us(129 * time.Second), "agg-bytes": int64(4)}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: from 60s %v, want %v", name, got, want)
			}
		}
	})
}

// FlowSeriesTable stays a time series: one row per export.
func TestFlowSeriesNotMerged(t *testing.T) {
	var rows []store.Row
	for _, r := range lifecycleRows() {
		r.Table = store.FlowSeriesTable
		r.Fields["bytes"] = int64(1)
		rows = append(rows, r)
	}
	for name, e := range engines(t, rows) {
		got := recordQuery(t, e, fmt.Sprintf(`{"table":"FlowSeriesTable","start_time":%d,"end_time":%d,"select_fields":["flow_count","SUM(bytes)"]}`, us(0), us(time.Hour)))
		if want := []map[string]any{{"flow_count": int64(10), "SUM(bytes)": int64(10)}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
	}
}

// randomRecordRows: flows of 1-4 exports with increasing counters, some
// torn down, the key columns fixed per flow, some rows without UuidKey.
func randomRecordRows(r *rand.Rand, flows int) []store.Row {
	var rows []store.Row
	for f := 0; f < flows; f++ {
		uuid := fmt.Sprintf("flow-%d", f)
		setup := time.Duration(r.Intn(3600)) * time.Second
		key := map[string]any{"sourcevn": fmt.Sprintf("vn%d", r.Intn(3)), "dport": int64(80 + r.Intn(3)),
			"direction_ing": int64(r.Intn(4) / 3), "vrouter": fmt.Sprintf("vr%d", r.Intn(2))}
		n := 1
		if r.Intn(3) == 0 {
			n += 1 + r.Intn(3)
		}
		at := setup + time.Duration(r.Intn(5))*time.Second
		var bytes int64
		for k := 0; k < n; k++ {
			bytes += int64(1 + r.Intn(1000))
			fl := map[string]any{"agg-bytes": bytes, "agg-packets": bytes / 10}
			for kk, v := range key {
				fl[kk] = v
			}
			if r.Intn(10) > 0 {
				fl["UuidKey"] = uuid
			}
			if r.Intn(8) > 0 {
				fl["setup_time"] = t0.Add(setup).UnixMicro()
			}
			if r.Intn(2) == 0 {
				fl["action"] = []string{"pass", "drop", "deny"}[r.Intn(3)]
			}
			if k == n-1 && r.Intn(2) == 0 {
				fl["teardown_time"] = t0.Add(at).UnixMicro()
			}
			rows = append(rows, store.Row{Table: store.FlowRecordTable, T: t0.Add(at).UnixMicro(), Fields: fl})
			at += time.Duration(1+r.Intn(600)) * time.Second
		}
	}
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// mergeReference merges the rows of q's time range by UuidKey, the way
// the original's upserts would have: the records, T at setup time.
func mergeReference(rows []store.Row, q store.Query) []store.Row {
	type acc struct {
		first  int64
		fields map[string]any
		at     map[string]int64
	}
	byUUID := map[string]*acc{}
	var out []store.Row
	var order []string
	for _, r := range rows {
		if r.Table != q.Table || r.T < q.StartTime || r.T > q.EndTime {
			continue
		}
		u, ok := r.Fields["UuidKey"].(string)
		if !ok {
			out = append(out, r)
			continue
		}
		a := byUUID[u]
		if a == nil {
			a = &acc{first: r.T, fields: map[string]any{}, at: map[string]int64{}}
			byUUID[u] = a
			order = append(order, u)
		}
		a.first = min(a.first, r.T)
		for k, v := range r.Fields {
			cur, has := a.fields[k]
			switch {
			case !has:
			case k == "setup_time":
				if v.(int64) >= cur.(int64) {
					continue
				}
			case k == "teardown_time" || k == "agg-bytes" || k == "agg-packets":
				if v.(int64) <= cur.(int64) {
					continue
				}
			case r.T < a.at[k]:
				continue
			}
			a.fields[k], a.at[k] = v, r.T
		}
	}
	for _, u := range order {
		a := byUUID[u]
		out = append(out, store.Row{Table: q.Table, T: a.first, Fields: a.fields})
	}
	var kept []store.Row
	for _, r := range out {
		if st, ok := r.Fields["setup_time"].(int64); ok {
			r.T = st
		}
		if r.T >= q.StartTime && r.T <= q.EndTime {
			kept = append(kept, r)
		}
	}
	return kept
}

func randomRecordQuery(r *rand.Rand) store.Query {
	q := store.Query{Table: store.FlowRecordTable}
	q.StartTime = t0.Add(time.Duration(r.Intn(1800)) * time.Second).UnixMicro()
	q.EndTime = q.StartTime + int64(600+r.Intn(3600))*1e6
	if r.Intn(2) == 0 {
		plain := []string{"UuidKey", "sourcevn", "dport", "setup_time", "teardown_time", "agg-bytes", "action", "T"}
		r.Shuffle(len(plain), func(i, j int) { plain[i], plain[j] = plain[j], plain[i] })
		q.SelectFields = plain[:1+r.Intn(4)]
	} else {
		q.SelectFields = []string{[]string{"sourcevn", "action", "T=60", "T=600"}[r.Intn(4)], "SUM(agg-bytes)", "COUNT(UuidKey)", "MAX(agg-packets)", "MIN(teardown_time)"}
	}
	var where [][]store.Match
	if r.Intn(3) > 0 {
		and := []store.Match{{Name: "sourcevn", Op: store.OpEqual, Value: fmt.Sprintf("vn%d", r.Intn(3))}}
		switch r.Intn(4) {
		case 0:
			and = append(and, store.Match{Name: "teardown_time", Op: store.OpGEQ, Value: int64(1)})
		case 1:
			and = append(and, store.Match{Name: "agg-bytes", Op: store.OpGEQ, Value: int64(r.Intn(1500))})
		case 2:
			and = append(and, store.Match{Name: "action", Op: store.OpEqual, Value: "drop"})
		}
		where = append(where, and)
		if r.Intn(2) == 0 {
			where = append(where, []store.Match{{Name: "dport", Op: store.OpEqual, Value: int64(81)}})
		}
		if r.Intn(3) == 0 {
			where = append(where, []store.Match{{Name: "teardown_time", Op: store.OpLEQ, Value: q.EndTime - 3e8}})
		}
	}
	q.Where = where
	return q
}

// Random flows and queries against a brute-force merge, over both scan
// paths and both merge strategies.
func TestFlowRecordMatchesMergedBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	rows := randomRecordRows(r, 1500)
	withBudgets(t, func(t *testing.T) {
		for name, e := range engines(t, rows) {
			for i := 0; i < 60; i++ {
				q := randomRecordQuery(r)
				res, err := e.Run(context.Background(), q)
				if err != nil {
					t.Fatalf("%s: %+v: %v", name, q, err)
				}
				// The engine adds direction_ing = 1 (the default dir).
				rq := q
				rq.Where = nil
				for _, and := range q.Where {
					rq.Where = append(rq.Where, append(append([]store.Match(nil), and...), store.Match{Name: "direction_ing", Op: store.OpEqual, Value: int64(1)}))
				}
				if len(rq.Where) == 0 {
					rq.Where = [][]store.Match{{{Name: "direction_ing", Op: store.OpEqual, Value: int64(1)}}}
				}
				want := reference(mergeReference(rows, rq), rq)
				if g, w := canon(res.Rows), canon(want); !reflect.DeepEqual(g, w) {
					t.Fatalf("%s: query %+v\n got %d rows %v\nwant %d rows %v", name, q, len(g), head(g), len(w), head(w))
				}
			}
		}
	})
}

func TestHashSetGrowsAndFlagsDuplicates(t *testing.T) {
	var s hset
	for i := uint32(1); i <= 100_000; i++ {
		s.add(i<<1, 0)
		if i%7 == 0 {
			s.add(i<<1, 0)
		}
	}
	for i := uint32(1); i <= 100_000; i++ {
		if got := s.dup(i << 1); got != (i%7 == 0) {
			t.Fatalf("key %d: dup %v", i, got)
		}
	}
	if s.dup(300_000 << 1) {
		t.Fatal("absent key reported as duplicate")
	}
	var o hset
	o.add(4<<1, 0)
	o.add(200_001<<1, dupBit)
	for _, v := range o.slots {
		if v != 0 {
			s.add(v&^dupBit, v&dupBit)
		}
	}
	if !s.dup(4<<1) || !s.dup(200_001<<1) || s.dup(5<<1) {
		t.Fatal("merged sets")
	}
}

// Two UuidKeys with one hash are kept apart.
func TestRecordMapHashCollision(t *testing.T) {
	p := &plan{need: []string{"setup_time"}, rules: []int{ruleMin}}
	m := newRecMap()
	a, b := p.newRec("a", 42, 1), p.newRec("b", 42, 2)
	m.put(a)
	m.put(b)
	if m.get("a", 42) != a || m.get("b", 42) != b || m.get("c", 42) != nil || m.get("a", 43) != nil {
		t.Fatal("lookup by hash and uuid")
	}
	n := 0
	m.each(func(*mrec) error { n++; return nil })
	if n != 2 {
		t.Fatalf("%d records", n)
	}
}
