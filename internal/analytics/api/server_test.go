// SPDX-License-Identifier: Apache-2.0

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
)

// fakeSource is an in-memory uve.Source: type -> key -> origin "source:module" -> struct -> attrs.
type fakeSource struct {
	mu    sync.Mutex
	uves  map[string]map[string]map[string]map[string]map[string]any
	calls []uve.Filter
}

func newFake() *fakeSource {
	return &fakeSource{uves: map[string]map[string]map[string]map[string]map[string]any{}}
}

func (f *fakeSource) put(typ, key, origin, strct string, attrs map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uves[typ] == nil {
		f.uves[typ] = map[string]map[string]map[string]map[string]any{}
	}
	if f.uves[typ][key] == nil {
		f.uves[typ][key] = map[string]map[string]map[string]any{}
	}
	if f.uves[typ][key][origin] == nil {
		f.uves[typ][key][origin] = map[string]map[string]any{}
	}
	f.uves[typ][key][origin][strct] = attrs
}

func (f *fakeSource) Types(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for t := range f.uves {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

func kmatch(kfilt []string, key string) bool {
	if len(kfilt) == 0 {
		return true
	}
	for _, p := range kfilt {
		if ok, _ := path.Match(p, key); ok || p == key {
			return true
		}
	}
	return false
}

func (f *fakeSource) view(typ, key string, flt uve.Filter) map[string]any {
	out := map[string]any{}
	for origin, structs := range f.uves[typ][key] {
		src, mod, _ := strings.Cut(origin, ":")
		if flt.SFilt != "" && flt.SFilt != src || flt.MFilt != "" && flt.MFilt != mod {
			continue
		}
		for s, attrs := range structs {
			m, _ := out[s].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			for a, v := range attrs {
				keep := len(flt.CFilt) == 0
				for _, c := range flt.CFilt {
					cs, ca, hasA := strings.Cut(c, ":")
					keep = keep || cs == s && (!hasA || ca == a)
				}
				if keep {
					m[a] = v
				}
			}
			if len(m) > 0 {
				out[s] = m
			}
		}
	}
	return out
}

func (f *fakeSource) Keys(ctx context.Context, typ string, flt uve.Filter) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, flt)
	var out []string
	for k := range f.uves[typ] {
		if kmatch(flt.KFilt, k) && len(f.view(typ, k, flt)) > 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeSource) Get(ctx context.Context, typ, key string, flt uve.Filter) (map[string]any, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, flt)
	v := f.view(typ, key, flt)
	return v, len(v) > 0, nil
}

func (f *fakeSource) lastFilter() uve.Filter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type fixture struct {
	srv  *httptest.Server
	src  *fakeSource
	st   *store.Embedded
	eng  *query.Engine
	rule []Alarm
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{src: newFake()}
	f.src.put("virtual-network", "default-domain:admin:vn1", "h1:contrail-vrouter-agent", "UveVirtualNetworkAgent",
		map[string]any{"interface_list": []any{"tap1"}, "in_bytes": int64(10)})
	f.src.put("virtual-network", "default-domain:admin:vn1", "c1:contrail-schema", "UveVirtualNetworkConfig",
		map[string]any{"routing_instance_list": []any{"ri1"}})
	f.src.put("virtual-network", "default-domain:admin:vn2", "h2:contrail-vrouter-agent", "UveVirtualNetworkAgent",
		map[string]any{"interface_list": []any{}, "in_bytes": int64(3)})
	f.src.put("virtual-network", "default-domain:demo:web", "h2:contrail-vrouter-agent", "UveVirtualNetworkAgent",
		map[string]any{"interface_list": []any{"tap9"}})
	f.src.put("vrouter", "host1", "host1:contrail-nodemgr", "NodeStatus", map[string]any{
		"process_info": []any{
			map[string]any{"process_name": "contrail-vrouter-agent", "process_state": "PROCESS_STATE_RUNNING"},
			map[string]any{"process_name": "contrail-vrouter-nodemgr", "process_state": "PROCESS_STATE_EXITED"},
		},
		"disk_usage_info": map[string]any{"/": map[string]any{"percentage_partition_space_used": int64(95)}},
	})
	f.src.put("vrouter", "host2", "host2:contrail-nodemgr", "NodeStatus", map[string]any{
		"process_info": []any{map[string]any{"process_name": "contrail-vrouter-agent", "process_state": "PROCESS_STATE_RUNNING"}},
	})
	var err error
	f.st, err = store.OpenEmbedded(t.TempDir(), store.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	var rows []store.Row
	for i := 0; i < 300; i++ {
		rows = append(rows, store.Row{Table: store.FlowSeriesTable, T: t0.Add(-time.Duration(i) * time.Second).UnixMicro(), Fields: map[string]any{
			"sourcevn": fmt.Sprintf("vn%d", i%3), "dport": int64(80), "bytes": int64(i), "direction_ing": int64(1)}})
	}
	rows = append(rows, store.Row{Table: store.MessageTable, T: t0.UnixMicro(), Fields: map[string]any{"Source": "h1", "ModuleId": "contrail-api"}})
	if err := f.st.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	f.eng = query.NewEngine(f.st, query.WithClock(func() time.Time { return t0 }))
	f.rule = []Alarm{{
		FQName:   []string{"default-global-system-config", "process-down"},
		UVEKeys:  AlarmUVEKeys{UVEKey: []string{"vrouter"}},
		Severity: 1,
		IDPerms:  &AlarmIDPerms{Description: "a process is not running"},
		Rules: AlarmOrList{OrList: []AlarmAndList{{AndList: []AlarmExpression{{
			Operand1: "NodeStatus.process_info.process_state", Operation: "!=",
			Operand2:  AlarmOperand2{JSONValue: `"PROCESS_STATE_RUNNING"`},
			Variables: []string{"NodeStatus.process_info.process_name"},
		}}}}},
	}, {
		FQName:   []string{"default-global-system-config", "disk-full"},
		UVEKeys:  AlarmUVEKeys{UVEKey: []string{"vrouter:host2", "vrouter:host1"}},
		Severity: 0,
		Rules: AlarmOrList{OrList: []AlarmAndList{{AndList: []AlarmExpression{{
			Operand1: "NodeStatus.disk_usage_info./.percentage_partition_space_used", Operation: ">=",
			Operand2: AlarmOperand2{JSONValue: "90"},
		}}}}},
	}}
	api := NewServer(Config{Queries: f.eng, UVEs: f.src, Now: func() time.Time { return t0 },
		Alarms: func(context.Context) ([]Alarm, error) { return f.rule, nil }})
	// Served like the daemon does, through Listener.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(api)
	f.srv.Listener = Listener(l)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, p string, body string, hdr map[string]string) (int, any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+p, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, p, data)
	}
	return resp.StatusCode, v
}

func (f *fixture) get(t *testing.T, p string) (int, any) { return f.do(t, "GET", p, "", nil) }

func names(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(map[string]any)["name"].(string))
	}
	return out
}

func TestUVERoutes(t *testing.T) {
	f := newFixture(t)
	code, v := f.get(t, "/analytics")
	if code != 200 || !reflect.DeepEqual(names(v)[:3], []string{"uves", "uve-types", "tables"}) {
		t.Fatalf("/analytics %d %v", code, v)
	}
	_, v = f.get(t, "/analytics/uves")
	if n := names(v); !contains(n, "virtual-networks") || !contains(n, "vrouters") {
		t.Fatalf("/analytics/uves %v", n)
	}
	_, v = f.get(t, "/analytics/uve-types")
	if v.(map[string]any)["vrouter"].(map[string]any)["global_system_object"] != true ||
		v.(map[string]any)["virtual-network"].(map[string]any)["global_system_object"] != false {
		t.Fatalf("uve-types %v", v)
	}
	code, v = f.get(t, "/analytics/uves/virtual-networks")
	if code != 200 || !reflect.DeepEqual(names(v), []string{"default-domain:admin:vn1", "default-domain:admin:vn2", "default-domain:demo:web"}) {
		t.Fatalf("list %d %v", code, v)
	}
	if href := v.([]any)[0].(map[string]any)["href"].(string); !strings.HasSuffix(href, "/analytics/uves/virtual-network/default-domain:admin:vn1?flat") {
		t.Fatalf("href %s", href)
	}
	_, v = f.get(t, "/analytics/uves/virtual-networks?kfilt=default-domain:admin:*&cfilt=UveVirtualNetworkConfig")
	if !reflect.DeepEqual(names(v), []string{"default-domain:admin:vn1"}) {
		t.Fatalf("filtered list %v", v)
	}
	code, v = f.get(t, "/analytics/uves/virtual-network/default-domain:admin:vn1?flat")
	m := v.(map[string]any)
	if code != 200 || m["UveVirtualNetworkAgent"] == nil || m["UveVirtualNetworkConfig"] == nil || !f.src.lastFilter().Flat {
		t.Fatalf("get %d %v", code, v)
	}
	_, v = f.get(t, "/analytics/uves/virtual-network/default-domain:admin:vn1?cfilt=UveVirtualNetworkAgent:in_bytes&sfilt=h1&mfilt=contrail-vrouter-agent")
	if want := map[string]any{"UveVirtualNetworkAgent": map[string]any{"in_bytes": json.Number("10")}}; !reflect.DeepEqual(v, want) {
		t.Fatalf("cfilt get %v", v)
	}
	if lf := f.src.lastFilter(); lf.SFilt != "h1" || lf.MFilt != "contrail-vrouter-agent" || !lf.Flat {
		t.Fatalf("filter passed %+v", lf)
	}
	f.get(t, "/analytics/uves/virtual-network/default-domain:admin:vn1")
	if f.src.lastFilter().Flat {
		t.Fatal("no flat and no filter must not be flat")
	}
	_, v = f.get(t, "/analytics/uves/virtual-network/nope")
	if !reflect.DeepEqual(v, map[string]any{}) {
		t.Fatalf("missing UVE %v", v)
	}
	_, v = f.get(t, "/analytics/uves/virtual-network/default-domain:admin:*?cfilt=UveVirtualNetworkAgent")
	vals := v.(map[string]any)["value"]
	if !reflect.DeepEqual(names(vals), []string{"default-domain:admin:vn1", "default-domain:admin:vn2"}) {
		t.Fatalf("wildcard %v", v)
	}
	_, v = f.get(t, "/analytics/uves/virtual-network/*?kfilt=*web")
	if !reflect.DeepEqual(names(v.(map[string]any)["value"]), []string{"default-domain:demo:web"}) {
		t.Fatalf("* with kfilt %v", v)
	}
	code, v = f.do(t, "POST", "/analytics/uves/virtual-network", `{"kfilt":["default-domain:admin:vn2","default-domain:demo:*"],"cfilt":["UveVirtualNetworkAgent:interface_list"]}`, nil)
	vals = v.(map[string]any)["value"]
	if code != 200 || !reflect.DeepEqual(names(vals), []string{"default-domain:admin:vn2", "default-domain:demo:web"}) {
		t.Fatalf("POST %d %v", code, v)
	}
	if a := vals.([]any)[1].(map[string]any)["value"].(map[string]any)["UveVirtualNetworkAgent"]; !reflect.DeepEqual(a, map[string]any{"interface_list": []any{"tap9"}}) {
		t.Fatalf("POST value %v", a)
	}
	if code, _ = f.do(t, "POST", "/analytics/uves/virtual-networks", `{"kfilt":`, nil); code != 400 {
		t.Fatalf("bad POST body %d", code)
	}
	for _, p := range []string{"/analytics/uves/bogus-types", "/analytics/uves/bogus/x", "/analytics/nothing"} {
		if code, v = f.get(t, p); code != 404 || v.(map[string]any)["error"] == nil {
			t.Fatalf("%s: %d %v", p, code, v)
		}
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func TestTablesRoutes(t *testing.T) {
	f := newFixture(t)
	code, v := f.get(t, "/analytics/tables")
	if n := names(v); code != 200 || !contains(n, "FlowSeriesTable") || !contains(n, "MessageTable") || !contains(n, "ObjectVNTable") {
		t.Fatalf("tables %d %v", code, v)
	}
	_, v = f.get(t, "/analytics/table/FlowSeriesTable")
	if !reflect.DeepEqual(names(v), []string{"schema", "column-values"}) {
		t.Fatalf("table links %v", v)
	}
	_, v = f.get(t, "/analytics/table/FlowSeriesTable/schema")
	sm := v.(map[string]any)
	if sm["type"] != "FLOW" || !contains(names(sm["columns"]), "sourcevn") {
		t.Fatalf("schema %v", v)
	}
	code, v = f.get(t, "/analytics/table/Nope/schema")
	if code != 404 {
		t.Fatalf("unknown table schema %d %v", code, v)
	}
	code, v = f.get(t, "/analytics/table/FlowSeriesTable/column-values/sourcevn")
	if code != 200 || !reflect.DeepEqual(v, []any{"vn0", "vn1", "vn2"}) {
		t.Fatalf("column values %d %v", code, v)
	}
}

func TestQuerySyncAsync(t *testing.T) {
	f := newFixture(t)
	q := `{"table":"FlowSeriesTable","start_time":"now-10m","end_time":"now","select_fields":["sourcevn","SUM(bytes)","COUNT(bytes)"],
		"where":[[{"name":"dport","value":"80","op":1}]],"sort":2,"sort_fields":["SUM(bytes)"],"limit":2}`
	code, v := f.do(t, "POST", "/analytics/query", q, nil)
	if code != 200 {
		t.Fatalf("sync %d %v", code, v)
	}
	rows := v.(map[string]any)["value"].([]any)
	// bytes = i for i in 0..299; vn2: i%3==2 -> sum 15050; vn1: 14950
	if len(rows) != 2 || rows[0].(map[string]any)["sourcevn"] != "vn2" || rows[0].(map[string]any)["SUM(bytes)"] != json.Number("15050") ||
		rows[1].(map[string]any)["SUM(bytes)"] != json.Number("14950") || rows[1].(map[string]any)["COUNT(bytes)"] != json.Number("100") {
		t.Fatalf("sync rows %v", rows)
	}
	code, v = f.do(t, "POST", "/analytics/query", q, map[string]string{"Expect": "202-accepted"})
	if code != 202 {
		t.Fatalf("async %d %v", code, v)
	}
	href := v.(map[string]any)["href"].(string)
	if !strings.HasPrefix(href, "/analytics/query/") {
		t.Fatalf("href %s", href)
	}
	var st map[string]any
	for i := 0; i < 200; i++ {
		_, sv := f.get(t, href)
		st = sv.(map[string]any)
		if st["progress"] == json.Number("100") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	chunks := st["chunks"].([]any)
	if st["progress"] != json.Number("100") || len(chunks) != 1 {
		t.Fatalf("status %v", st)
	}
	chunk := chunks[0].(map[string]any)["href"].(string)
	if chunk != href+"/chunk-final/0" {
		t.Fatalf("chunk href %s", chunk)
	}
	code, cv := f.get(t, chunk)
	if code != 200 || !reflect.DeepEqual(cv.(map[string]any)["value"], rows) {
		t.Fatalf("chunk %d %v", code, cv)
	}
	_, lv := f.get(t, "/analytics/queries")
	if len(lv.(map[string]any)["queries"].([]any)) != 1 {
		t.Fatalf("queries %v", lv)
	}
	if code, _ := f.get(t, href+"/chunk-final/1"); code != 404 {
		t.Fatalf("chunk 1: %d", code)
	}
	if code, _ := f.get(t, "/analytics/query/not-a-query"); code != 404 {
		t.Fatalf("unknown qid %d", code)
	}
	// Errors: unknown table 404, unknown field 400 with its name, sync or async.
	for _, hdr := range []map[string]string{nil, {"Expect": "202-accepted"}} {
		code, v = f.do(t, "POST", "/analytics/query", `{"table":"NoTable","start_time":"now-1h","end_time":"now","select_fields":["T"]}`, hdr)
		if code != 404 || v.(map[string]any)["error"].(map[string]any)["code"] != json.Number("404") {
			t.Fatalf("unknown table %d %v", code, v)
		}
		code, v = f.do(t, "POST", "/analytics/query", `{"table":"FlowSeriesTable","start_time":"now-1h","end_time":"now","select_fields":["sourcevnn"]}`, hdr)
		if code != 400 || v.(map[string]any)["error"].(map[string]any)["field"] != "sourcevnn" {
			t.Fatalf("unknown field %d %v", code, v)
		}
		code, v = f.do(t, "POST", "/analytics/query", `{"table":`, hdr)
		if code != 400 {
			t.Fatalf("bad JSON %d %v", code, v)
		}
	}
}

func TestQueryThroughRemoteEngine(t *testing.T) {
	f := newFixture(t)
	qe := httptest.NewServer(query.Handler(f.eng))
	defer qe.Close()
	api := httptest.NewServer(NewServer(Config{Queries: query.NewRemote(qe.URL, nil), UVEs: f.src}))
	defer api.Close()
	body := `{"table":"FlowSeriesTable","start_time":"now-10m","end_time":"now","select_fields":["sourcevn","SUM(bytes)"],"sort":1,"sort_fields":["sourcevn"]}`
	resp, err := http.Post(api.URL+"/analytics/query", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Value []map[string]any }
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(res.Value) != 3 || res.Value[0]["sourcevn"] != "vn0" {
		t.Fatalf("remote query %d %v", resp.StatusCode, res)
	}
	resp, _ = http.Post(api.URL+"/analytics/query", "application/json", strings.NewReader(`{"table":"X","start_time":1,"end_time":2,"select_fields":["T"]}`))
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("remote unknown table %d", resp.StatusCode)
	}
	resp, _ = http.Get(api.URL + "/analytics/table/FlowSeriesTable/schema")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("remote schema %d", resp.StatusCode)
	}
}

func TestAlarms(t *testing.T) {
	f := newFixture(t)
	code, v := f.get(t, "/analytics/alarms")
	if code != 200 {
		t.Fatalf("alarms %d %v", code, v)
	}
	vr := v.(map[string]any)["vrouter"].([]any)
	if len(vr) != 1 || vr[0].(map[string]any)["name"] != "host1" {
		t.Fatalf("alarmed vrouters %v", vr)
	}
	alarms := vr[0].(map[string]any)["value"].(map[string]any)["UVEAlarms"].(map[string]any)["alarms"].([]any)
	if len(alarms) != 2 {
		t.Fatalf("alarms on host1 %v", alarms)
	}
	disk, proc := alarms[0].(map[string]any), alarms[1].(map[string]any)
	if disk["type"] != "default-global-system-config:disk-full" || proc["type"] != "default-global-system-config:process-down" ||
		proc["severity"] != json.Number("1") || proc["description"] != "a process is not running" {
		t.Fatalf("alarm infos %v", alarms)
	}
	match := proc["alarm_rules"].(map[string]any)["or_list"].([]any)[0].(map[string]any)["and_list"].([]any)[0].(map[string]any)["match"].([]any)
	if len(match) != 1 || match[0].(map[string]any)["json_operand1_value"] != `"PROCESS_STATE_EXITED"` ||
		match[0].(map[string]any)["json_variables"].(map[string]any)["NodeStatus.process_info.process_name"] != `"contrail-vrouter-nodemgr"` {
		t.Fatalf("match %v", match)
	}
	// The process comes back: no alarm.
	f.src.put("vrouter", "host1", "host1:contrail-nodemgr", "NodeStatus", map[string]any{
		"process_info": []any{map[string]any{"process_name": "contrail-vrouter-nodemgr", "process_state": "PROCESS_STATE_RUNNING"}}})
	_, v = f.get(t, "/analytics/alarms")
	if len(v.(map[string]any)) != 0 {
		t.Fatalf("alarms after recovery %v", v)
	}
	_, v = f.get(t, "/analytics/alarm-types")
	if v.(map[string]any)["default-global-system-config:process-down"].(map[string]any)["severity"] != json.Number("1") {
		t.Fatalf("alarm types %v", v)
	}
}

func TestCompareOperations(t *testing.T) {
	u := map[string]any{"S": map[string]any{"n": int64(5), "l": []any{"a", "b"}, "s": "x", "f": 2.5}}
	cases := []struct {
		op1, op, v2 string
		want        bool
	}{
		{"S.n", "==", "5", true}, {"S.n", "!=", "5", false}, {"S.n", "<", "6", true}, {"S.n", ">=", "5", true},
		{"S.f", ">", "2", true}, {"S.s", "<", "9", false}, {"S.s", "in", `["x","y"]`, true},
		{"S.s", "not in", `["x","y"]`, false}, {"S.n", "range", "[1, 5]", true}, {"S.n", "range", "[6, 9]", false},
		{"S.l", "size==", "2", true}, {"S.l", "size!=", "2", false}, {"S.l", "==", `["a","b"]`, true},
		{"S.missing", "==", "null", true}, {"S.missing", "!=", `"x"`, false}, {"S.s", "==", "x", true},
	}
	for _, c := range cases {
		got := len(evalExpr(u, AlarmExpression{Operand1: c.op1, Operation: c.op, Operand2: AlarmOperand2{JSONValue: c.v2}})) > 0
		if got != c.want {
			t.Fatalf("%s %s %s: %v", c.op1, c.op, c.v2, got)
		}
	}
	if got := evalExpr(u, AlarmExpression{Operand1: "S.n", Operation: "<", Operand2: AlarmOperand2{UVEAttribute: "S.f"}}); len(got) != 0 {
		t.Fatalf("5 < 2.5: %v", got)
	}
}

func TestRenameExpect(t *testing.T) {
	b := []byte("POST /analytics/query HTTP/1.1\r\nHost: x\r\nexpect:  202-Accepted\r\nExpect: 100-continue\r\n\r\n")
	renameExpect(b)
	if !bytes.Contains(b, []byte("\r\nX-Expt:  202-Accepted")) || !bytes.Contains(b, []byte("\r\nExpect: 100-continue")) {
		t.Fatalf("%q", b)
	}
}
