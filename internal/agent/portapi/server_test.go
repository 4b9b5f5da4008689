// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// dataplane records hook calls and can be told to fail.
type dataplane struct {
	mu        sync.Mutex
	calls     []string // "validate <id>", "apply <id> <tap>", "remove <id>"
	programed map[string]Port
	failOn    map[string]error // by call kind ("validate", "apply", "remove")
}

func newDataplane() *dataplane {
	return &dataplane{programed: map[string]Port{}, failOn: map[string]error{}}
}

func (d *dataplane) hook(kind string, f func(Port)) func(Port) error {
	return func(p Port) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.calls = append(d.calls, kind+" "+p.ID)
		if err := d.failOn[kind]; err != nil {
			return err
		}
		if f != nil {
			f(p)
		}
		return nil
	}
}

func (d *dataplane) install(s *Server) {
	s.Validate = d.hook("validate", nil)
	s.Apply = d.hook("apply", func(p Port) { d.programed[p.ID] = p })
	s.Remove = d.hook("remove", func(p Port) { delete(d.programed, p.ID) })
}

func (d *dataplane) fail(kind string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failOn[kind] = err
}

func (d *dataplane) snapshot() ([]string, map[string]Port) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]Port, len(d.programed))
	for k, v := range d.programed {
		m[k] = v
	}
	return slices.Clone(d.calls), m
}

type fixture struct {
	t   *testing.T
	dir string
	srv *Server
	dp  *dataplane
	url string
}

func newFixture(t *testing.T, dir string) *fixture {
	t.Helper()
	st := mustOpen(t, dir, nil)
	srv := &Server{Store: st}
	dp := newDataplane()
	dp.install(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &fixture{t: t, dir: dir, srv: srv, dp: dp, url: ts.URL}
}

// do sends a request and decodes a JSON answer into out, if not nil.
func (f *fixture) do(method, path, body string, out any) int {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			f.t.Fatalf("%s %s: answer %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// jsonBody is v as a request body.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServerAddGetDelete(t *testing.T) {
	f := newFixture(t, t.TempDir())
	var got Port
	if code := f.do("POST", "/port", validJSON, &got); code != 200 {
		t.Fatalf("POST /port = %d", code)
	}
	if got.ID != testVMI || got.MACAddress != "02:aa:bb:cc:dd:ee" {
		t.Errorf("POST answer %+v", got)
	}
	var get Port
	if code := f.do("GET", "/port/"+strings.ToUpper(testVMI), "", &get); code != 200 || get != got {
		t.Errorf("GET = %d %+v; want 200 %+v", code, get, got)
	}
	var list []Port
	if code := f.do("GET", "/ports", "", &list); code != 200 || len(list) != 1 || list[0] != got {
		t.Errorf("GET /ports = %d %+v", code, list)
	}
	if _, err := os.Stat(filepath.Join(f.dir, testVMI)); err != nil {
		t.Errorf("port file: %v", err)
	}
	if code := f.do("DELETE", "/port/"+testVMI, "", nil); code != 200 {
		t.Errorf("DELETE = %d", code)
	}
	var eb errorBody
	if code := f.do("GET", "/port/"+testVMI, "", &eb); code != 404 || eb.Error.Code != CodeNotFound {
		t.Errorf("GET after DELETE = %d %+v", code, eb)
	}
	if code := f.do("DELETE", "/port/"+testVMI, "", &eb); code != 404 || eb.Error.Code != CodeNotFound {
		t.Errorf("second DELETE = %d %+v", code, eb)
	}
	if code := f.do("GET", "/port/nope", "", &eb); code != 400 || eb.Error.Field != FieldID {
		t.Errorf("GET bad uuid = %d %+v", code, eb)
	}
	if _, err := os.Stat(filepath.Join(f.dir, testVMI)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("port file after DELETE: %v", err)
	}
	calls, prog := f.dp.snapshot()
	want := []string{"validate " + testVMI, "apply " + testVMI, "remove " + testVMI}
	if !slices.Equal(calls, want) {
		t.Errorf("hook calls %q, want %q", calls, want)
	}
	if len(prog) != 0 {
		t.Errorf("still programmed: %v", prog)
	}
}

func TestServerReplace(t *testing.T) {
	f := newFixture(t, t.TempDir())
	p := testPort(testVMI, "tap0")
	if code := f.do("POST", "/port", jsonBody(t, p), nil); code != 200 {
		t.Fatalf("first POST = %d", code)
	}
	p.SystemName = "tap1"
	p.IPAddress = "10.0.0.9"
	if code := f.do("POST", "/port", jsonBody(t, p), nil); code != 200 {
		t.Fatalf("second POST = %d", code)
	}
	var list []Port
	f.do("GET", "/ports", "", &list)
	if len(list) != 1 || list[0].SystemName != "tap1" || list[0].IPAddress != "10.0.0.9" {
		t.Errorf("after replace: %+v", list)
	}
	_, prog := f.dp.snapshot()
	if prog[testVMI].SystemName != "tap1" {
		t.Errorf("dataplane has %+v", prog[testVMI])
	}
	reloaded := mustOpen(t, f.dir, nil)
	if q, _ := reloaded.Get(testVMI); q.SystemName != "tap1" {
		t.Errorf("file holds %+v", q)
	}
}

func TestServerValidationErrors(t *testing.T) {
	f := newFixture(t, t.TempDir())
	tests := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{name: "bad mac", body: strings.Replace(validJSON, "02:AA:BB:CC:DD:EE", "zz", 1), status: 400, code: CodeInvalid, field: FieldMACAddress},
		{name: "bad uuid", body: strings.Replace(validJSON, `"id": "11111111`, `"id": "x1111111`, 1), status: 400, code: CodeInvalid, field: FieldID},
		{name: "unknown field", body: strings.Replace(validJSON, `"type"`, `"typo"`, 1), status: 400, code: CodeUnknownField, field: "typo"},
		{name: "missing tap", body: strings.Replace(validJSON, `"system-name": "tap11111111-22",`, "", 1), status: 400, code: CodeRequired, field: FieldSystemName},
		{name: "not json", body: "{", status: 400, code: CodeMalformed},
		{name: "too large", body: strings.Repeat(" ", MaxBodySize+1), status: 413, code: CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.url+"/port", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d sends; ignored
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb errorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || eb.Error.Code != tt.code || eb.Error.Field != tt.field || eb.Error.Message == "" {
				t.Errorf("got %d %+v; want %d code %q field %q", resp.StatusCode, eb.Error, tt.status, tt.code, tt.field)
			}
		})
	}
	calls, _ := f.dp.snapshot()
	if len(calls) != 0 {
		t.Errorf("hooks called for invalid ports: %q", calls)
	}
	if n := len(entries(t, f.dir)); n != 0 {
		t.Errorf("%d files stored", n)
	}
}

func TestServerHookFailuresStoreNothing(t *testing.T) {
	tests := []struct {
		name   string
		kind   string
		err    error
		status int
		code   string
		field  string
	}{
		{name: "validate", kind: "validate", err: errors.New("agent: no such VMI"), status: 400, code: CodeRejected},
		{name: "validate not found", kind: "validate", err: fmt.Errorf("agent: tap: %w", ErrNotFound), status: 404, code: CodeNotFound},
		{name: "validate field", kind: "validate", err: &FieldError{Code: CodeInvalid, Field: FieldSystemName, Message: "no such device"}, status: 400, code: CodeInvalid, field: FieldSystemName},
		{name: "apply", kind: "apply", err: errors.New("ksync: no memory"), status: 500, code: CodeApplyFailed},
		{name: "apply unavailable", kind: "apply", err: fmt.Errorf("ksync: %w", ErrUnavailable), status: 503, code: CodeApplyFailed},
		{name: "apply conflict", kind: "apply", err: fmt.Errorf("ksync: %w", ErrConflict), status: 409, code: CodeApplyFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, t.TempDir())
			f.dp.fail(tt.kind, tt.err)
			var eb errorBody
			if code := f.do("POST", "/port", validJSON, &eb); code != tt.status {
				t.Errorf("status %d, want %d (%+v)", code, tt.status, eb)
			}
			wantMsg := tt.err.Error()
			var fe *FieldError
			if errors.As(tt.err, &fe) {
				wantMsg = fe.Message
			}
			if eb.Error.Code != tt.code || eb.Error.Field != tt.field || eb.Error.Message != wantMsg {
				t.Errorf("error %+v; want code %q field %q, reason %q", eb.Error, tt.code, tt.field, tt.err)
			}
			if f.srv.Store.Len() != 0 || len(entries(t, f.dir)) != 0 {
				t.Error("port stored after a hook failure")
			}
			if _, prog := f.dp.snapshot(); len(prog) != 0 {
				t.Error("port programmed after a hook failure")
			}
		})
	}
}

func TestServerRemoveFailureKeepsPort(t *testing.T) {
	f := newFixture(t, t.TempDir())
	if code := f.do("POST", "/port", validJSON, nil); code != 200 {
		t.Fatal(code)
	}
	f.dp.fail("remove", errors.New("ksync: busy"))
	var eb errorBody
	if code := f.do("DELETE", "/port/"+testVMI, "", &eb); code != 500 || eb.Error.Code != CodeApplyFailed || eb.Error.Message != "ksync: busy" {
		t.Errorf("DELETE = %d %+v", code, eb)
	}
	if _, ok := f.srv.Store.Get(testVMI); !ok {
		t.Error("port forgotten although Remove failed")
	}
}

// TestServerStoreFailureUndoesApply checks the rollback when the file
// cannot be written after Apply succeeded.
func TestServerStoreFailureUndoesApply(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ports")
	f := newFixture(t, dir)
	old := testPort(testVMI, "tap0")
	if code := f.do("POST", "/port", jsonBody(t, old), nil); code != 200 {
		t.Fatal(code)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// A replace is undone by applying the old port again.
	repl := testPort(testVMI, "tap9")
	var eb errorBody
	if code := f.do("POST", "/port", jsonBody(t, repl), &eb); code != 500 || eb.Error.Code != CodeInternal {
		t.Errorf("replace = %d %+v", code, eb)
	}
	if _, prog := f.dp.snapshot(); prog[testVMI].SystemName != "tap0" {
		t.Errorf("dataplane holds %+v, want the old port", prog[testVMI])
	}
	if p, _ := f.srv.Store.Get(testVMI); p.SystemName != "tap0" {
		t.Errorf("store holds %+v, want the old port", p)
	}
	// A new port is undone with Remove.
	if code := f.do("POST", "/port", jsonBody(t, testPort(uuidN(7), "tap7")), &eb); code != 500 {
		t.Errorf("add = %d %+v", code, eb)
	}
	if _, prog := f.dp.snapshot(); len(prog) != 1 {
		t.Errorf("dataplane holds %v, want only the old port", prog)
	}
}

func TestServerDeleteStoreFailureReapplies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ports")
	f := newFixture(t, dir)
	if code := f.do("POST", "/port", validJSON, nil); code != 200 {
		t.Fatal(code)
	}
	// A directory in place of the file makes its removal fail.
	path := filepath.Join(dir, testVMI)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var eb errorBody
	if code := f.do("DELETE", "/port/"+testVMI, "", &eb); code != 500 || eb.Error.Code != CodeInternal {
		t.Errorf("DELETE = %d %+v", code, eb)
	}
	if _, ok := f.srv.Store.Get(testVMI); !ok {
		t.Error("port forgotten although its file could not be deleted")
	}
	if _, prog := f.dp.snapshot(); len(prog) != 1 {
		t.Errorf("port not programmed again: %v", prog)
	}
}

func TestServerIntrospectPorts(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.do("POST", "/port", validJSON, nil)
	v, err := f.srv.IntrospectPorts(nil)
	if ports, ok := v.([]Port); err != nil || !ok || len(ports) != 1 || ports[0].ID != testVMI {
		t.Errorf("IntrospectPorts = %v, %v", v, err)
	}
}

func TestServerNoStore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Server{}).Serve(context.Background(), ln); err == nil {
		t.Error("Serve without a Store succeeded")
	}
	if err := (&Server{}).Start(context.Background()); err == nil {
		t.Error("Start without a Store succeeded")
	}
}

func TestServerRestartReplays(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir)
	for i := range 3 {
		if code := f.do("POST", "/port", jsonBody(t, testPort(uuidN(i), fmt.Sprintf("tap%d", i))), nil); code != 200 {
			t.Fatal(code)
		}
	}
	f.do("DELETE", "/port/"+uuidN(0), "", nil)

	// A new agent on the same directory: the dataplane starts empty.
	g := newFixture(t, dir)
	var res SyncResult
	if code := g.do("POST", "/syncports", "", &res); code != 200 || res.Applied != 2 || len(res.Failed) != 0 {
		t.Fatalf("syncports = %d %+v", code, res)
	}
	calls, prog := g.dp.snapshot()
	if !slices.Equal(calls, []string{"apply " + uuidN(1), "apply " + uuidN(2)}) {
		t.Errorf("calls %q", calls)
	}
	if len(prog) != 2 || prog[uuidN(2)].SystemName != "tap2" {
		t.Errorf("programmed %v", prog)
	}

	// A failing Apply during sync is reported and the port kept.
	g.dp.fail("apply", errors.New("ksync: down"))
	res = g.srv.Sync()
	if res.Applied != 0 || len(res.Failed) != 2 || res.Failed[0].ID != uuidN(1) || res.Failed[0].Error != "ksync: down" {
		t.Errorf("Sync = %+v", res)
	}
	if g.srv.Store.Len() != 2 {
		t.Error("Sync dropped ports")
	}
}

func TestServerConcurrentAdds(t *testing.T) {
	f := newFixture(t, t.TempDir())
	const n = 40
	var wg sync.WaitGroup
	errc := make(chan error, n)
	bodies := make([]string, n)
	for i := range n {
		bodies[i] = jsonBody(t, testPort(uuidN(i), fmt.Sprintf("tap%d", i)))
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.NewBufferString(bodies[i])
			resp, err := http.Post(f.url+"/port", "application/json", body)
			if err != nil {
				errc <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errc <- fmt.Errorf("port %d: status %d", i, resp.StatusCode)
			}
		}()
	}
	// Readers at the same time.
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				resp, err := http.Get(f.url + "/ports")
				if err != nil {
					errc <- err
					return
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := f.srv.Store.Len(); got != n {
		t.Errorf("%d ports stored, want %d", got, n)
	}
	if got := len(entries(t, f.dir)); got != n {
		t.Errorf("%d files, want %d", got, n)
	}
	if got := mustOpen(t, f.dir, nil).Len(); got != n {
		t.Errorf("reload found %d ports, want %d", got, n)
	}
	_, prog := f.dp.snapshot()
	if len(prog) != n {
		t.Errorf("%d programmed, want %d", len(prog), n)
	}
}

func TestServerServeShutsDown(t *testing.T) {
	// startServer stops Serve at cleanup and fails unless it returns nil.
	url := startServer(t, &Server{Store: mustOpen(t, t.TempDir(), nil)})
	resp, err := http.Get(url + "/ports")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /ports = %d", resp.StatusCode)
	}
}

func TestServerStartBadAddr(t *testing.T) {
	srv := &Server{Store: mustOpen(t, t.TempDir(), nil), Addr: "127.0.0.1:notaport"}
	if err := srv.Start(context.Background()); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}
