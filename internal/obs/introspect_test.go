// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// get performs one request against h and returns status, content type and
// body.
func get(t *testing.T, h http.Handler, target string, header ...string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for n := 0; n+1 < len(header); n += 2 {
		req.Header.Set(header[n], header[n+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
}

func TestIndexListsPages(t *testing.T) {
	is := NewIntrospect("contrail-test", NewRegistry(), nil)
	is.Handle("/peers", "BGP peers", func(*http.Request) (any, error) { return []string{"a"}, nil })

	code, ctype, body := get(t, is.Handler(), "/")
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("GET / = %d %q", code, ctype)
	}
	var idx struct {
		Name  string     `json:"name"`
		Pages []PageInfo `json:"pages"`
	}
	if err := json.Unmarshal([]byte(body), &idx); err != nil {
		t.Fatalf("index is not JSON: %v\n%s", err, body)
	}
	if idx.Name != "contrail-test" {
		t.Errorf("name = %q", idx.Name)
	}
	want := []string{"/", "/healthz", "/metrics", "/peers", "/readyz"}
	var got []string
	for _, p := range idx.Pages {
		got = append(got, p.Path)
		if p.Title == "" {
			t.Errorf("page %s has no title", p.Path)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("index pages = %v, want %v", got, want)
	}
}

func TestIndexHTML(t *testing.T) {
	is := NewIntrospect("<daemon>", nil, nil)
	is.Handle("/state", "State & more", func(*http.Request) (any, error) { return nil, nil })
	browser := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	code, ctype, body := get(t, is.Handler(), "/index.html", "Accept", browser)
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/html") {
		t.Fatalf("GET /index.html = %d %q", code, ctype)
	}
	for _, s := range []string{`<a href="/state">State &amp; more</a>`, "&lt;daemon&gt;"} {
		if !strings.Contains(body, s) {
			t.Errorf("HTML index lacks %q:\n%s", s, body)
		}
	}
	if strings.Contains(body, "/metrics") {
		t.Error("index lists /metrics without a registry")
	}
}

func TestPrefersHTML(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"text/html", true},
		{"text/html;q=0.5, application/json", false},
		{"application/json;q=0.5, text/*", true},
		{"text/html;q=0, */*", false},
		{"text/html;q=bogus", false},
		{"TEXT/HTML", true},
	}
	for _, tt := range tests {
		var hdr []string
		if tt.accept != "" {
			hdr = []string{tt.accept}
		}
		if got := prefersHTML(hdr); got != tt.want {
			t.Errorf("prefersHTML(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestPageJSON(t *testing.T) {
	is := NewIntrospect("t", nil, nil)
	type peer struct {
		Address string `json:"address"`
		State   string `json:"state"`
	}
	is.Handle("/peers/{addr}", "One peer", func(r *http.Request) (any, error) {
		switch r.PathValue("addr") {
		case "10.0.0.1":
			return peer{Address: "10.0.0.1", State: "Established"}, nil
		case "bad":
			return nil, fmt.Errorf("parse address: %w", ErrBadRequest)
		case "boom":
			return nil, errors.New("backend down")
		}
		return nil, fmt.Errorf("peer %s: %w", r.PathValue("addr"), ErrNotFound)
	})
	is.Handle("/unencodable", "", func(*http.Request) (any, error) { return func() {}, nil })

	code, ctype, body := get(t, is.Handler(), "/peers/10.0.0.1")
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("page = %d %q", code, ctype)
	}
	if want := "{\n  \"address\": \"10.0.0.1\",\n  \"state\": \"Established\"\n}\n"; body != want {
		t.Errorf("page body %q, want indented %q", body, want)
	}

	for target, want := range map[string]int{
		"/peers/bad":    http.StatusBadRequest,
		"/peers/none":   http.StatusNotFound,
		"/peers/boom":   http.StatusInternalServerError,
		"/unencodable":  http.StatusInternalServerError,
		"/no-such-page": http.StatusNotFound,
	} {
		code, ctype, body := get(t, is.Handler(), target)
		if code != want {
			t.Errorf("GET %s = %d, want %d", target, code, want)
		}
		if target == "/no-such-page" {
			continue
		}
		var e struct{ Error string }
		if ctype != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("GET %s: error body %q (%s) is not {\"error\": ...}", target, body, ctype)
		}
	}
	for _, p := range is.Pages() {
		if p.Path == "/unencodable" {
			t.Error("page with empty title is in the index")
		}
	}
}

func TestHandleBadPathPanics(t *testing.T) {
	is := NewIntrospect("t", nil, nil)
	for _, path := range []string{"peers", "/healthz"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", path)
				}
			}()
			is.Handle(path, "x", func(*http.Request) (any, error) { return nil, nil })
		}()
	}
}

func TestHealthz(t *testing.T) {
	is := NewIntrospect("t", nil, nil, WithCheckTimeout(200*time.Millisecond))
	code, _, body := get(t, is.Handler(), "/healthz")
	if code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz without checks = %d %q", code, body)
	}

	var dbErr error
	is.AddCheck("etcd", func(context.Context) error { return dbErr })
	is.AddCheck("xmpp", func(context.Context) error { return nil })
	code, _, body = get(t, is.Handler(), "/healthz")
	if code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz all passing = %d %q", code, body)
	}
	code, _, body = get(t, is.Handler(), "/healthz?verbose")
	if want := "[+]etcd ok\n[+]xmpp ok\nhealthz check passed\n"; code != http.StatusOK || body != want {
		t.Fatalf("verbose healthz = %d %q, want %q", code, body, want)
	}

	dbErr = errors.New("no leader\nsecond line")
	code, _, body = get(t, is.Handler(), "/healthz")
	if want := "[-]etcd failed: no leader second line\nhealthz check failed\n"; code != http.StatusServiceUnavailable || body != want {
		t.Fatalf("failing healthz = %d %q, want 503 %q", code, body, want)
	}
	code, _, body = get(t, is.Handler(), "/healthz?verbose=1")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[+]xmpp ok\n") || !strings.Contains(body, "[-]etcd failed") {
		t.Fatalf("verbose failing healthz = %d %q", code, body)
	}

	// Readiness is separate from liveness.
	code, _, _ = get(t, is.Handler(), "/readyz")
	if code != http.StatusOK {
		t.Fatalf("readyz with no ready checks = %d", code)
	}
	is.AddReadyCheck("synced", func(context.Context) error { return errors.New("waiting for etcd") })
	code, _, body = get(t, is.Handler(), "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]synced failed: waiting for etcd") || strings.Contains(body, "etcd failed: no leader") {
		t.Fatalf("readyz = %d %q", code, body)
	}
}

func TestHealthzSlowAndPanickingChecks(t *testing.T) {
	is := NewIntrospect("t", nil, nil, WithCheckTimeout(50*time.Millisecond))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	is.AddCheck("stuck", func(context.Context) error { <-release; return nil }) // ignores ctx
	is.AddCheck("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	is.AddCheck("buggy", func(context.Context) error { panic("oops") })

	start := time.Now()
	code, _, body := get(t, is.Handler(), "/healthz")
	if time.Since(start) > 2*time.Second {
		t.Errorf("healthz took %v despite a 50ms check timeout", time.Since(start))
	}
	if code != http.StatusServiceUnavailable {
		t.Fatalf("healthz = %d", code)
	}
	for _, s := range []string{"[-]stuck failed: check did not finish", "[-]slow failed:", "[-]buggy failed: panic: oops"} {
		if !strings.Contains(body, s) {
			t.Errorf("healthz body lacks %q:\n%s", s, body)
		}
	}
}

func TestDuplicateCheckPanics(t *testing.T) {
	is := NewIntrospect("t", nil, nil)
	is.AddCheck("a", func(context.Context) error { return nil })
	is.AddReadyCheck("a", func(context.Context) error { return nil }) // other list: fine
	defer func() {
		if recover() == nil {
			t.Error("duplicate AddCheck did not panic")
		}
	}()
	is.AddCheck("a", func(context.Context) error { return nil })
}

func TestMetricsEndpoint(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "contrail", Subsystem: "test", Name: "widgets_total", Help: "Widgets.",
	})
	reg.MustRegister(c)
	c.Add(3)
	is := NewIntrospect("t", reg, nil)

	code, _, body := get(t, is.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, s := range []string{"contrail_test_widgets_total 3", "go_goroutines", "promhttp_metric_handler_requests_total"} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
	// The global registry is untouched.
	if strings.Contains(scrape(t, prometheus.DefaultGatherer), "contrail_test_widgets_total") {
		t.Error("metric leaked into the default registry")
	}
	// Two servers on one registry (all-in-one) do not collide.
	NewIntrospect("t2", reg, nil)
}

func scrape(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return strings.Join(names, "\n")
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	off := NewIntrospect("t", nil, nil)
	if code, _, _ := get(t, off.Handler(), "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof disabled: GET /debug/pprof/ = %d, want 404", code)
	}
	on := NewIntrospect("t", nil, nil, WithPprof(true))
	if code, _, body := get(t, on.Handler(), "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof enabled: GET /debug/pprof/ = %d", code)
	}
	if code, _, _ := get(t, on.Handler(), "/debug/pprof/heap?debug=1"); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/heap = %d", code)
	}
	if code, _, _ := get(t, on.Handler(), "/debug/pprof/cmdline"); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/cmdline = %d", code)
	}
}

func TestStartServesAndShutsDown(t *testing.T) {
	reg := NewRegistry()
	is := NewIntrospect("t", reg, nil, WithShutdownTimeout(time.Second))
	is.Handle("/hello", "Hello", func(*http.Request) (any, error) { return map[string]string{"hello": "world"}, nil })
	if is.Addr() != nil {
		t.Fatal("Addr before Start is not nil")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := is.Start(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := is.Start(ctx, "127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}
	addr := is.Addr()
	if addr == nil || strings.HasSuffix(addr.String(), ":0") {
		t.Fatalf("Addr = %v", addr)
	}

	tr := &http.Transport{}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, path := range []string{"/hello", "/healthz", "/metrics", "/"} {
		resp, err := client.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}
	// Keep an idle keep-alive connection open across the shutdown; graceful
	// shutdown must close it.
	cancel()
	select {
	case <-is.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop after cancel")
	}
	if err := is.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil after cancel", err)
	}
	tr.CloseIdleConnections()
	if _, err := client.Get("http://" + addr.String() + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
	if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
		t.Errorf("goroutines left after shutdown:\n%s", leaked)
	}
}

func TestStartListenError(t *testing.T) {
	is := NewIntrospect("t", nil, nil)
	err := is.Start(context.Background(), "127.0.0.1:notaport")
	if err == nil {
		t.Fatal("Start on a bad address succeeded")
	}
	if werr := is.Wait(); werr == nil {
		t.Error("Wait after a failed Start = nil")
	}
}
