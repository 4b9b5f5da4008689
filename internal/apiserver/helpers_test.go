// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

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
	return &testServer{t: t, srv: srv, base: "http://" + srv.Addr().String(), st: st}
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
		if err := json.Unmarshal(raw, &out); err != nil {
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
