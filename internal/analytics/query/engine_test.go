// SPDX-License-Identifier: Apache-2.0

package query

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// sliceStore is a Store over a slice, without BatchScanner: it exercises
// the engine's row path.
type sliceStore struct{ rows []store.Row }

func (s *sliceStore) Write(ctx context.Context, rows []store.Row) error {
	s.rows = append(s.rows, rows...)
	return nil
}
func (s *sliceStore) Close() error { return nil }
func (s *sliceStore) Tables() []store.Table {
	seen := map[string]map[string]string{}
	for _, r := range s.rows {
		if seen[r.Table] == nil {
			seen[r.Table] = map[string]string{}
		}
		for k, v := range r.Fields {
			seen[r.Table][k] = store.FieldType(v)
		}
	}
	var out []store.Table
	for n, f := range seen {
		out = append(out, store.BuildSchema(n, f))
	}
	return append(out, store.StaticTables()...)
}
func (s *sliceStore) Scan(ctx context.Context, q store.Query, fn func(store.Row) bool) error {
	terms, err := store.CompileTerms(q.Where)
	if err != nil {
		return err
	}
	var sel []store.Row
	for _, r := range s.rows {
		if r.Table == q.Table && r.T >= q.StartTime && r.T <= q.EndTime && store.MatchRow(terms, r.Fields) {
			sel = append(sel, r)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].T < sel[j].T })
	for _, r := range sel {
		if !fn(r) {
			break
		}
	}
	return nil
}

const statTable = "StatTable.TestStat.st"

func randomStatRows(r *rand.Rand, n int) []store.Row {
	rows := make([]store.Row, n)
	for i := range rows {
		f := map[string]any{"Source": fmt.Sprintf("host%d", r.Intn(3))}
		if r.Intn(8) > 0 {
			f["name"] = fmt.Sprintf("obj%d", r.Intn(5))
		}
		if r.Intn(6) > 0 {
			f["st.i1"] = int64(r.Intn(100) - 20)
		}
		if r.Intn(3) > 0 {
			f["st.d1"] = float64(r.Intn(40)) * 0.5
		}
		if r.Intn(2) > 0 {
			f["st.s1"] = []string{"a", "b", "c"}[r.Intn(3)]
		}
		rows[i] = store.Row{Table: statTable, T: t0.Add(time.Duration(r.Intn(3600*1e3)) * time.Millisecond).UnixMicro(), Fields: f}
	}
	return rows
}

// reference computes a query's rows by brute force (unsorted, no limit).
func reference(rows []store.Row, q store.Query) []map[string]any {
	where, _ := store.CompileTerms(q.Where)
	filter, _ := store.CompileTerms(q.Filter)
	var in []store.Row
	for _, r := range rows {
		if r.Table == q.Table && r.T >= q.StartTime && r.T <= q.EndTime && store.MatchRow(where, r.Fields) {
			in = append(in, r)
		}
	}
	var bin int64
	hasAgg := false
	for _, f := range q.SelectFields {
		if strings.HasPrefix(f, "T=") {
			fmt.Sscanf(f, "T=%d", &bin)
			bin *= 1e6
		}
		if strings.Contains(f, "(") {
			hasAgg = true
		}
	}
	value := func(r store.Row, f string) any {
		switch {
		case f == "T":
			return r.T
		case strings.HasPrefix(f, "T="):
			return r.T - ((r.T%bin)+bin)%bin
		}
		return r.Fields[f]
	}
	var out []map[string]any
	if !hasAgg && bin == 0 {
		for _, r := range in {
			row := map[string]any{}
			for _, f := range q.SelectFields {
				if v := value(r, f); v != nil {
					row[f] = v
				}
			}
			out = append(out, row)
		}
	} else {
		groups := map[string][]store.Row{}
		for _, r := range in {
			key := ""
			for _, f := range q.SelectFields {
				if !strings.Contains(f, "(") {
					key += fmt.Sprintf("%T:%v|", value(r, f), value(r, f))
				}
			}
			groups[key] = append(groups[key], r)
		}
		for _, g := range groups {
			row := map[string]any{}
			for _, f := range q.SelectFields {
				name := f
				if strings.HasPrefix(f, "T=") {
					name = "T="
				}
				if !strings.Contains(f, "(") {
					if v := value(g[0], f); v != nil {
						row[name] = v
					}
					continue
				}
				fn := strings.ToUpper(f[:strings.Index(f, "(")])
				arg := f[strings.Index(f, "(")+1 : len(f)-1]
				if fn == "COUNT" {
					row[f] = int64(len(g))
					continue
				}
				var ints []int64
				var flts []float64
				for _, r := range g {
					switch x := r.Fields[arg].(type) {
					case int64:
						ints = append(ints, x)
					case float64:
						flts = append(flts, x)
					}
				}
				var v any
				switch fn {
				case "SUM":
					var is int64
					var fs float64
					for _, x := range ints {
						is += x
					}
					for _, x := range flts {
						fs += x
					}
					if len(flts) == 0 {
						v = is
					} else {
						v = float64(is) + fs
					}
				case "MAX", "MIN":
					var all []float64
					for _, x := range ints {
						all = append(all, float64(x))
					}
					all = append(all, flts...)
					if len(all) == 0 {
						break
					}
					sort.Float64s(all)
					pick := all[len(all)-1]
					if fn == "MIN" {
						pick = all[0]
					}
					if len(flts) == 0 {
						v = int64(pick)
					} else {
						v = pick
					}
				}
				if v != nil {
					row[f] = v
				}
			}
			out = append(out, row)
		}
	}
	var kept []map[string]any
	for _, row := range out {
		if store.MatchRow(filter, row) {
			kept = append(kept, row)
		}
	}
	return kept
}

func canon(rows []map[string]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		b, _ := json.Marshal(r)
		out[i] = string(b)
	}
	sort.Strings(out)
	return out
}

func randomQuery(r *rand.Rand) store.Query {
	q := store.Query{Table: statTable}
	q.StartTime = t0.Add(time.Duration(r.Intn(1800)) * time.Second).UnixMicro()
	q.EndTime = q.StartTime + int64(r.Intn(3600))*1e6
	plain := []string{"Source", "name", "st.s1", "st.i1", "st.d1", "T"}
	r.Shuffle(len(plain), func(i, j int) { plain[i], plain[j] = plain[j], plain[i] })
	q.SelectFields = append(q.SelectFields, plain[:r.Intn(3)]...)
	if r.Intn(2) == 0 {
		q.SelectFields = append(q.SelectFields, fmt.Sprintf("T=%d", []int{1, 60, 600}[r.Intn(3)]))
	}
	if r.Intn(3) > 0 {
		aggs := []string{"COUNT(st)", "SUM(st.i1)", "SUM(st.d1)", "MAX(st.i1)", "MIN(st.d1)", "max(st.d1)"}
		r.Shuffle(len(aggs), func(i, j int) { aggs[i], aggs[j] = aggs[j], aggs[i] })
		q.SelectFields = append(q.SelectFields, aggs[:1+r.Intn(3)]...)
	}
	if len(q.SelectFields) == 0 {
		q.SelectFields = []string{"name"}
	}
	if r.Intn(2) == 0 {
		and := []store.Match{{Name: "Source", Op: store.OpEqual, Value: fmt.Sprintf("host%d", r.Intn(3))}}
		if r.Intn(2) == 0 {
			and = append(and, store.Match{Name: "st.i1", Op: store.OpGEQ, Value: int64(r.Intn(50))})
		}
		q.Where = append(q.Where, and)
		if r.Intn(2) == 0 {
			q.Where = append(q.Where, []store.Match{{Name: "name", Op: store.OpPrefix, Value: "obj1"}})
		}
	}
	return q
}

func engines(t *testing.T, rows []store.Row) map[string]*Engine {
	emb, err := store.OpenEmbedded(t.TempDir(), store.Options{BlockRows: 97, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	if err := emb.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	return map[string]*Engine{
		"embedded": NewEngine(emb, WithParallelism(3)),
		"rows":     NewEngine(&sliceStore{rows: rows}),
	}
}

func TestAggregationMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	rows := randomStatRows(r, 2000)
	for name, e := range engines(t, rows) {
		for i := 0; i < 100; i++ {
			q := randomQuery(r)
			res, err := e.Run(context.Background(), q)
			if err != nil {
				t.Fatalf("%s: %+v: %v", name, q, err)
			}
			want := reference(rows, q)
			if g, w := canon(res.Rows), canon(want); !reflect.DeepEqual(g, w) {
				t.Fatalf("%s: query %+v\n got %d rows %v\nwant %d rows %v", name, q, len(g), head(g), len(w), head(w))
			}
		}
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

func TestSortLimitFilter(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	rows := randomStatRows(r, 1500)
	for name, e := range engines(t, rows) {
		for i := 0; i < 40; i++ {
			q := store.Query{Table: statTable, StartTime: t0.UnixMicro(), EndTime: t0.Add(time.Hour).UnixMicro(),
				SelectFields: []string{"name", "T=60", "SUM(st.i1)", "COUNT(st)"},
				Sort:         1 + r.Intn(2), SortFields: []string{[]string{"SUM(st.i1)", "COUNT(st)", "name", "T="}[r.Intn(4)]},
				Limit: 1 + r.Intn(30)}
			if r.Intn(2) == 0 {
				q.Filter = [][]store.Match{{{Name: "COUNT(st)", Op: store.OpGEQ, Value: int64(2)}}}
			}
			res, err := e.Run(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			want := reference(rows, q)
			key := q.SortFields[0]
			sort.SliceStable(want, func(i, j int) bool {
				c := CompareValues(want[i][key], want[j][key])
				if q.Sort == 2 {
					return c > 0
				}
				return c < 0
			})
			if len(want) > q.Limit {
				want = want[:q.Limit]
			}
			if len(res.Rows) != len(want) {
				t.Fatalf("%s: %d rows, want %d", name, len(res.Rows), len(want))
			}
			for i := range want {
				if CompareValues(res.Rows[i][key], want[i][key]) != 0 {
					t.Fatalf("%s: row %d %s=%v, want %v", name, i, key, res.Rows[i][key], want[i][key])
				}
				if c, ok := res.Rows[i]["COUNT(st)"].(int64); q.Filter != nil && (!ok || c < 2) {
					t.Fatalf("filter not applied: %v", res.Rows[i])
				}
			}
		}
	}
}

func flowRows(n int) []store.Row {
	rows := make([]store.Row, n)
	for i := range rows {
		rows[i] = store.Row{Table: store.FlowSeriesTable, T: t0.Add(time.Duration(i) * time.Second).UnixMicro(), Fields: map[string]any{
			"sourcevn": fmt.Sprintf("vn%d", i%3), "destvn": "vnX", "dport": int64(80 + i%2),
			"direction_ing": int64(i % 2), "bytes": int64(10), "packets": int64(1),
		}}
	}
	return rows
}

func TestFlowSeriesQuery(t *testing.T) {
	rows := flowRows(600)
	for name, e := range engines(t, rows) {
		body := fmt.Sprintf(`{"table":"FlowSeriesTable","start_time":%d,"end_time":%d,
			"select_fields":["T=60","sum(bytes)","SUM(packets)","flow_count"],
			"where":[[{"name":"sourcevn","value":"vn1","op":1},{"name":"dport","value":"80","op":1}]],
			"sort":1,"sort_fields":["T="]}`, t0.UnixMicro(), t0.Add(5*time.Minute-time.Microsecond).UnixMicro())
		res, err := e.Query(context.Background(), []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// dport 80 is even i, ingress (dir defaults to 1) is odd i: nothing.
		if len(res.Rows) != 0 {
			t.Fatalf("%s: ingress rows %v", name, res.Rows)
		}
		body = strings.Replace(body, `"sort":1`, `"dir":0,"sort":1`, 1)
		res, err = e.Query(context.Background(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 5 {
			t.Fatalf("%s: %d bins: %v", name, len(res.Rows), res.Rows)
		}
		for i, row := range res.Rows {
			// per minute: 60 rows, i%3==1 and i%2==0 -> i%6==4 -> 10 rows
			if row["T="] != t0.Add(time.Duration(i)*time.Minute).UnixMicro() || row["sum(bytes)"] != int64(100) ||
				row["SUM(packets)"] != int64(10) || row["flow_count"] != int64(10) {
				t.Fatalf("%s: bin %d: %v", name, i, row)
			}
		}
	}
}

func TestValidationErrors(t *testing.T) {
	e := NewEngine(&sliceStore{rows: flowRows(10)}, WithClock(func() time.Time { return t0 }))
	cases := []struct {
		body  string
		code  int
		field string
	}{
		{`{"table":"NoSuchTable","start_time":"now-1h","end_time":"now","select_fields":["T"]}`, 404, "table"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["sourcevnx"]}`, 400, "sourcevnx"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["SUM(bogus)"]}`, 400, "SUM(bogus)"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"where":[[{"name":"nope","value":"1","op":1}]]}`, 400, "nope"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"sort_fields":["bytes"]}`, 400, "bytes"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"filter":[{"name":"bytes","value":"1","op":1}]}`, 400, "bytes"},
		{`{"table":"FlowSeriesTable","start_time":"now","end_time":"now-1h","select_fields":["T"]}`, 400, "start_time"},
		{`{"table":"FlowSeriesTable","start_time":"now-1x","end_time":"now","select_fields":["T"]}`, 400, "start_time"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T=0"]}`, 400, "T=0"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"where":[[{"name":"dport","value":"(","op":8}]]}`, 400, "where"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"where":[[{"name":"dport","value":"1","op":9}]]}`, 400, "where"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"where":[{"name":"dport","value":"1","op":1}]}`, 400, "where"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":[]}`, 400, "select_fields"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"limit":-1}`, 400, "limit"},
		{`{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["T"],"sort":3}`, 400, "sort"},
		{`[1,2]`, 400, ""},
		{`{"table":5}`, 400, "table"},
	}
	for _, c := range cases {
		_, err := e.Query(context.Background(), []byte(c.body))
		if err == nil {
			t.Fatalf("%s: accepted", c.body)
		}
		qe, ok := err.(*Error)
		if !ok || qe.Code != c.code || qe.Field != c.field {
			t.Fatalf("%s: got %#v, want code %d field %q", c.body, err, c.code, c.field)
		}
	}
}

func TestParseTimes(t *testing.T) {
	now := t0
	cases := map[string]int64{
		`"now"`:              now.UnixMicro(),
		`"now-10m"`:          now.Add(-10 * time.Minute).UnixMicro(),
		`"now-1h"`:           now.Add(-time.Hour).UnixMicro(),
		`"now+2d"`:           now.Add(48 * time.Hour).UnixMicro(),
		`"now - 30s"`:        now.Add(-30 * time.Second).UnixMicro(),
		`1700000000000000`:   1700000000000000,
		`"1700000000000000"`: 1700000000000000,
		`1.7e15`:             1700000000000000,
	}
	for in, want := range cases {
		got, err := ParseTime(json.RawMessage(in), now)
		if err != nil || got != want {
			t.Fatalf("%s: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{`"now-"`, `"now-5"`, `"now*5m"`, `"yesterday"`, `-5`, `true`, `"now-99999999999999999d"`, `""`, `1.5`} {
		if _, err := ParseTime(json.RawMessage(bad), now); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
}

func TestParseForms(t *testing.T) {
	q, err := Parse([]byte(`{"table":"MessageTable","start_time":1,"end_time":2,"select_fields":["Source"],
		"where":[[{"name":"Source","value":"a","op":"EQUAL"},{"name":"Level","value":3,"op":"3","value2":"7"}]],
		"filter":[[{"name":"Source","value":"a","op":7}],[{"name":"Source","value":"b","op":1}]],
		"sort":"desc","sort_fields":["Source"],"limit":"10","dir":0}`), t0)
	if err != nil {
		t.Fatal(err)
	}
	if q.Where[0][0].Op != 1 || q.Where[0][1].Op != 3 || q.Where[0][1].Value != int64(3) || q.Where[0][1].Value2 != "7" ||
		len(q.Filter) != 2 || q.Sort != 2 || q.Limit != 10 || q.Dir == nil || *q.Dir != 0 {
		t.Fatalf("parsed %+v", q)
	}
}

func TestHandlerAndRemote(t *testing.T) {
	rows := flowRows(120)
	e := NewEngine(&sliceStore{rows: rows})
	srv := httptest.NewServer(Handler(e))
	defer srv.Close()
	rm := NewRemote(srv.URL, srv.Client())
	body := fmt.Sprintf(`{"table":"FlowSeriesTable","start_time":%d,"end_time":%d,"select_fields":["sourcevn","SUM(bytes)"],"dir":1}`,
		t0.UnixMicro(), t0.Add(time.Hour).UnixMicro())
	res, err := rm.Query(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	local, _ := e.Query(context.Background(), []byte(body))
	if !reflect.DeepEqual(res.Rows, local.Rows) {
		t.Fatalf("remote %v local %v", res.Rows, local.Rows)
	}
	_, err = rm.Query(context.Background(), []byte(`{"table":"Nope","start_time":1,"end_time":2,"select_fields":["T"]}`))
	if StatusOf(err) != 404 {
		t.Fatalf("remote unknown table: %v", err)
	}
	ts, err := rm.Tables(context.Background())
	if err != nil || len(ts) < 3 {
		t.Fatalf("tables %d %v", len(ts), err)
	}
	resp, err := http.Post(srv.URL+"/query", "application/json", strings.NewReader(`{"table":"FlowSeriesTable","start_time":1,"end_time":2,"select_fields":["zzz"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var eb ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != 400 || eb.Error.Field != "zzz" || eb.Error.Code != 400 {
		t.Fatalf("error answer %d %+v", resp.StatusCode, eb)
	}
}

// FuzzQuery feeds arbitrary bodies to the parser, the time expressions
// and the engine: nothing may panic, and whatever parses must run or be
// refused with a *Error.
func FuzzQuery(f *testing.F) {
	seeds := []string{
		`{"table":"FlowSeriesTable","start_time":"now-10m","end_time":"now","select_fields":["T=60","SUM(bytes)"],"where":[[{"name":"sourcevn","value":"vn1","op":1}]]}`,
		`{"table":"FlowSeriesTable","start_time":1,"end_time":"now+1d","select_fields":["sourcevn","T"],"filter":[{"name":"sourcevn","value":"^v","op":8}],"sort":2,"sort_fields":["T"],"limit":3}`,
		`{"table":"StatTable.TestStat.st","start_time":0,"end_time":"now","select_fields":["name","COUNT(st)","MAX(st.i1)"],"where":[[{"name":"st.i1","value":"1","value2":"9","op":3}]]}`,
		`{"table":"MessageTable","start_time":"now-1h","end_time":"now","select_fields":["Source"],"where":[[{"name":"Source","value":"a","op":"PREFIX"}]],"dir":1}`,
		`{}`, `[]`, `null`, `{"table":"x","start_time":"now-","end_time":-1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	rows := append(flowRows(50), randomStatRows(rand.New(rand.NewSource(1)), 50)...)
	e := NewEngine(&sliceStore{rows: rows}, WithClock(func() time.Time { return t0 }), WithMaxRows(1000))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := e.Query(context.Background(), body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
	})
}

// FuzzTime: time expressions parse or fail, never panic, and "now"
// offsets land where the arithmetic says.
func FuzzTime(f *testing.F) {
	for _, s := range []string{"now", "now-10m", "now+2d", "now-1h", "1700000000000000", "now-", "now+9999999999999d", "now - 5 s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTimeString(s, t0)
		if err == nil && v < 0 {
			t.Fatalf("%q gave negative time %d", s, v)
		}
		b, _ := json.Marshal(s)
		ParseTime(b, t0)
	})
}

// A table or field that appears after the engine cached the schemas is
// found at once.
func TestSchemaCacheRefresh(t *testing.T) {
	st := &sliceStore{}
	e := NewEngine(st)
	q := store.Query{Table: "StatTable.New.x", StartTime: 0, EndTime: t0.Add(time.Hour).UnixMicro(), SelectFields: []string{"x.a"}}
	if _, err := e.Run(context.Background(), q); StatusOf(err) != 404 {
		t.Fatalf("before the table exists: %v", err)
	}
	st.Write(context.Background(), []store.Row{{Table: "StatTable.New.x", T: t0.UnixMicro(), Fields: map[string]any{"x.a": int64(1)}}})
	res, err := e.Run(context.Background(), q)
	if err != nil || len(res.Rows) != 1 {
		t.Fatalf("after: %v %v", res, err)
	}
	q.SelectFields = []string{"x.b"}
	st.Write(context.Background(), []store.Row{{Table: "StatTable.New.x", T: t0.UnixMicro(), Fields: map[string]any{"x.b": "v"}}})
	if res, err = e.Run(context.Background(), q); err != nil || len(res.Rows) != 2 || res.Rows[1]["x.b"] != "v" {
		t.Fatalf("new field: %v %v", res, err)
	}
}
