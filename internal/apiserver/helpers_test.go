// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

// testServer is a real API server on a real embedded etcd, on loopback.
type testServer struct {
	t    *testing.T
	srv  *Server
	base string
	st   *store.Store
}

func startServer(t *testing.T, st *store.Store, cfg Config) *testServer {
	t.Helper()
	srv := runServer(t, st, cfg)
	return &testServer{t: t, srv: srv, base: "http://" + srv.Addr().String(), st: st}
}

// runServer starts a server on st and stops it when the test ends.
func runServer(t testing.TB, st *store.Store, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	srv := New(st, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("api server: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("api server not ready")
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return srv
}

func newTestServer(t *testing.T) *testServer {
	return startServer(t, etcdtest.Start(t), Config{})
}

// do sends a request and decodes a JSON answer into a generic value.
func (ts *testServer) do(method, path string, body any) (int, map[string]any) {
	ts.t.Helper()
	code, raw := ts.raw(method, path, body)
	var out map[string]any
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil {
			ts.t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return code, out
}

func (ts *testServer) raw(method, path string, body any) (int, []byte) {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, ts.base+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// mustCreate creates an object and returns its uuid.
func (ts *testServer) mustCreate(typ string, obj map[string]any) string {
	ts.t.Helper()
	code, out := ts.do("POST", "/"+typ+"s", map[string]any{typ: obj})
	if code != 200 {
		ts.t.Fatalf("create %s: %d %v", typ, code, out)
	}
	return out[typ].(map[string]any)["uuid"].(string)
}

func (ts *testServer) mustGet(typ, id string) map[string]any {
	ts.t.Helper()
	code, out := ts.do("GET", "/"+typ+"/"+id, nil)
	if code != 200 {
		ts.t.Fatalf("get %s %s: %d %v", typ, id, code, out)
	}
	return out[typ].(map[string]any)
}

func errField(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// --- helpers shared by the behaviour, bad-input, list, action and race tests ---

const (
	defDomain  = "default-domain"
	defProject = "default-project"
	defIPAM    = "default-network-ipam"
)

// projFQ is the fq-name of an object directly under default-project.
func projFQ(name string) []string { return []string{defDomain, defProject, name} }

// startWith starts a server with cfg on its own embedded etcd.
func startWith(t *testing.T, cfg Config) *testServer {
	t.Helper()
	return startServer(t, etcdtest.Start(t), cfg)
}

// request sends a request with extra headers and returns the response
// (body already read and closed) and the body.
func (ts *testServer) request(method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// expectErr sends a request that must fail with code and, when field is
// not "-", with that error field. It checks the error body's shape.
func (ts *testServer) expectErr(method, path string, body any, code int, field string) map[string]any {
	ts.t.Helper()
	got, out := ts.do(method, path, body)
	if got != code {
		ts.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, code, out)
	}
	e, ok := out["error"].(map[string]any)
	if !ok {
		ts.t.Fatalf("%s %s: no error object in %v", method, path, out)
	}
	if c := num(ts.t, e["code"]); c != int64(code) {
		ts.t.Errorf("%s %s: error.code %d, want %d", method, path, c, code)
	}
	if msg, _ := e["message"].(string); msg == "" {
		ts.t.Errorf("%s %s: empty error message: %v", method, path, out)
	}
	if field != "-" {
		if f, _ := e["field"].(string); f != field {
			ts.t.Errorf("%s %s: error.field %q, want %q (%v)", method, path, f, field, e["message"])
		}
	}
	return e
}

// errMessage returns the message of an error body.
func errMessage(e map[string]any) string {
	m, _ := e["message"].(string)
	return m
}

// mustDo sends a request that must answer 200 and returns the body.
func (ts *testServer) mustDo(method, path string, body any) map[string]any {
	ts.t.Helper()
	code, out := ts.do(method, path, body)
	if code != 200 {
		ts.t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

// mustDelete deletes an object.
func (ts *testServer) mustDelete(typ, id string) {
	ts.t.Helper()
	ts.mustDo("DELETE", "/"+typ+"/"+id, nil)
}

// getQ reads an object with a query string (starting with '?').
func (ts *testServer) getQ(typ, id, q string) map[string]any {
	ts.t.Helper()
	out := ts.mustDo("GET", "/"+typ+"/"+id+q, nil)
	return out[typ].(map[string]any)
}

// count lists a type with count=true.
func (ts *testServer) count(typ string) int {
	ts.t.Helper()
	out := ts.mustDo("GET", "/"+typ+"s?count=true", nil)
	return int(num(ts.t, out[typ+"s"].(map[string]any)["count"]))
}

// list returns the entries of GET /<typ>s<q>.
func (ts *testServer) list(typ, q string) []any {
	ts.t.Helper()
	out := ts.mustDo("GET", "/"+typ+"s"+q, nil)
	l, ok := out[typ+"s"].([]any)
	if !ok && out[typ+"s"] != nil {
		ts.t.Fatalf("list %s%s: %v", typ, q, out)
	}
	return l
}

// uuidsOf collects the "uuid" of list entries (plain or detail form).
func uuidsOf(t *testing.T, typ string, entries []any) []string {
	t.Helper()
	var out []string
	for _, e := range entries {
		m := e.(map[string]any)
		if inner, ok := m[typ].(map[string]any); ok {
			m = inner
		}
		out = append(out, m["uuid"].(string))
	}
	return out
}

// num converts a decoded JSON number to int64.
func num(t testing.TB, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			t.Fatalf("%v is not an integer", v)
		}
		return i
	case float64:
		return int64(n)
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return 0
}

// dig walks decoded JSON by map keys (string) and list indexes (int).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// linkUUIDs returns the uuids of a refs, back-refs or children list.
func linkUUIDs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		if u, ok := dig(e, "uuid").(string); ok {
			out = append(out, u)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// subnetVN is a virtual-network body with one subnet on the default IPAM;
// extra fields of the subnet (addr_from_start, ...) may be given.
func subnetVN(name, prefix string, plen int, extra map[string]any) map[string]any {
	sn := map[string]any{"subnet": map[string]any{"ip_prefix": prefix, "ip_prefix_len": plen}}
	for k, v := range extra {
		sn[k] = v
	}
	return map[string]any{
		"fq_name":     projFQ(name),
		"parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to":   projFQ(defIPAM),
			"attr": map[string]any{"ipam_subnets": []any{sn}},
		}},
	}
}

// iipBody is an instance-ip on network vn (uuid); addr may be "".
func iipBody(name, vn, addr string) map[string]any {
	b := map[string]any{
		"fq_name":              []string{name},
		"virtual_network_refs": []any{map[string]any{"uuid": vn}},
	}
	if addr != "" {
		b["instance_ip_address"] = addr
	}
	return b
}

// storeRev is the current etcd revision: it moves on every write.
func (ts *testServer) storeRev() int64 {
	ts.t.Helper()
	resp, err := ts.st.Client.Get(context.Background(), ts.st.Keys.Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		ts.t.Fatalf("etcd: %v", err)
	}
	return resp.Header.Revision
}

// keyCount counts the etcd keys under the store prefix + sub.
func keyCount(t testing.TB, st *store.Store, sub string) int64 {
	t.Helper()
	resp, err := st.Client.Get(context.Background(), st.Keys.Prefix+sub, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	return resp.Count
}

// checkConsistency reads every key of the store and checks that the
// indexes and the objects agree: each object has its uuid and fq-name
// entries, its child entry and its back-ref entries; each index entry points
// at an existing object that matches it; each allocation is held by an
// existing object (or by /ip-alloc on an existing network), and each object
// that holds an ID or an address has its allocation key.
func checkConsistency(t testing.TB, st *store.Store) {
	t.Helper()
	resp, err := st.Client.Get(context.Background(), st.Keys.Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	k := st.Keys
	kv := map[string]string{}
	objs := map[string]*model.Object{} // uuid -> object
	for _, e := range resp.Kvs {
		kv[string(e.Key)] = string(e.Value)
		if typ, id, ok := k.SplitObject(string(e.Key)); ok {
			var o model.Object
			if err := json.Unmarshal(e.Value, &o); err != nil {
				t.Errorf("object %s: %v", e.Key, err)
				continue
			}
			if o.Type != typ || o.UUID != id {
				t.Errorf("object key %s holds %s %s", e.Key, o.Type, o.UUID)
			}
			objs[id] = &o
		}
	}
	want := map[string]string{} // index key -> expected value ("*" any)
	for id, o := range objs {
		want[k.UUID(id)] = o.Type
		want[k.FQName(o.Type, o.FQName)] = id
		if o.ParentUUID != "" {
			p := objs[o.ParentUUID]
			if p == nil {
				t.Errorf("%s %s: parent %s missing", o.Type, o.FQNameString(), o.ParentUUID)
			} else if p.Type != o.ParentType {
				t.Errorf("%s %s: parent is a %s, not %s", o.Type, o.FQNameString(), p.Type, o.ParentType)
			}
			want[k.Child(o.ParentUUID, o.Type, id)] = "*"
		}
		for field, refs := range o.Refs {
			for _, r := range refs {
				to := objs[r.UUID]
				if to == nil {
					t.Errorf("%s %s: %s to missing %s", o.Type, o.FQNameString(), field, r.UUID)
					continue
				}
				if r.Relaxed {
					want[k.RelaxedRef(r.UUID, o.Type, id)] = "*"
				} else {
					want[k.BackRef(r.UUID, o.Type, id)] = "*"
				}
			}
		}
		var n int64
		var addr string
		switch o.Type {
		case "virtual-network":
			if o.Prop("virtual_network_network_id", &n) {
				want[k.ID("virtual-network", strconv.FormatInt(n, 10))] = id
			}
			for _, sn := range vnOwnSubnets(o) {
				want[k.ID("subnet", sn.UUID)] = id
			}
		case "network-ipam":
			for _, sn := range ipamOwnSubnets(o) {
				want[k.ID("subnet", sn.UUID)] = id
			}
		case "security-group":
			var conf int64
			o.Prop("configured_security_group_id", &conf)
			if conf == 0 && o.Prop("security_group_id", &n) {
				want[k.ID("security-group", strconv.FormatInt(n, 10))] = id
			}
		case "instance-ip":
			var sub string
			if o.Prop("instance_ip_address", &addr) && o.Prop("subnet_uuid", &sub) {
				want[k.IP(sub, addr)] = id
			}
		}
	}
	for key, v := range want {
		got, ok := kv[key]
		if !ok {
			t.Errorf("missing index key %s", key)
		} else if v != "*" && got != v {
			t.Errorf("index key %s = %q, want %q", key, got, v)
		}
	}
	for key, v := range kv {
		rest := strings.TrimPrefix(key, k.Prefix)
		section, _, _ := strings.Cut(rest, "/")
		switch section {
		case "obj", "seq", "kv", "sync", "probe":
			continue
		case "uuid", "fq", "child", "ref", "relaxed":
			if _, ok := want[key]; !ok {
				t.Errorf("dangling index key %s = %q", key, v)
			}
		case "id":
			if want[key] != v {
				if objs[v] == nil {
					t.Errorf("id key %s held by missing object %q", key, v)
				}
			}
		case "ip":
			if _, ok := want[key]; ok {
				continue
			}
			if vn, ok := strings.CutPrefix(v, "ip-alloc:"); ok {
				if o := objs[vn]; o == nil || o.Type != "virtual-network" {
					t.Errorf("ip key %s held by /ip-alloc of missing network %s", key, vn)
				}
				continue
			}
			if objs[v] == nil {
				t.Errorf("ip key %s held by missing object %q", key, v)
			}
		default:
			t.Errorf("unexpected key %s", key)
		}
	}
}
