// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metricValue returns the value of the counter or the sample count of the
// histogram named name whose labels include all of want.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestHTTPMetricsCountsAndTimes(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw := HTTPMetrics(reg, "contrail", "api")
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/hints":
			w.WriteHeader(http.StatusEarlyHints) // informational, not final
			w.WriteHeader(http.StatusCreated)
		case "/silent":
			// No write at all: net/http sends 200.
		default:
			_, _ = w.Write([]byte("hi"))
		}
	})
	h := mw(inner)
	do := func(method, path string) {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, path, nil))
	}
	do("GET", "/")
	do("GET", "/")
	do("GET", "/missing")
	do("POST", "/hints")
	do("GET", "/silent")
	do("BREW", "/")

	const req = "contrail_api_requests_total"
	for _, tt := range []struct {
		method, code string
		want         float64
	}{
		{"GET", "200", 3},
		{"GET", "404", 1},
		{"POST", "201", 1},
		{"POST", "103", 0},
		{"other", "200", 1},
	} {
		if got := metricValue(t, reg, req, map[string]string{"method": tt.method, "code": tt.code}); got != tt.want {
			t.Errorf("%s{method=%s,code=%s} = %v, want %v", req, tt.method, tt.code, got, tt.want)
		}
	}
	if got := metricValue(t, reg, "contrail_api_request_duration_seconds", map[string]string{"method": "GET"}); got != 4 {
		t.Errorf("GET duration samples = %v, want 4", got)
	}

	// A second middleware with the same names shares the metrics.
	HTTPMetrics(reg, "contrail", "api")(inner).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/", nil))
	if got := metricValue(t, reg, req, map[string]string{"method": "DELETE"}); got != 1 {
		t.Errorf("DELETE count = %v, want 1", got)
	}
}

func TestHTTPMetricsKeepsFlusher(t *testing.T) {
	reg := prometheus.NewRegistry()
	var isFlusher bool
	h := HTTPMetrics(reg, "t", "s")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f http.Flusher
		f, isFlusher = w.(http.Flusher)
		_, _ = w.Write([]byte("chunk"))
		if isFlusher {
			f.Flush()
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !isFlusher || !rec.Flushed {
		t.Errorf("flusher lost: isFlusher=%v flushed=%v", isFlusher, rec.Flushed)
	}
}

// hijackRecorder is a ResponseRecorder that can be hijacked.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	hijacked bool
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	c1, c2 := net.Pipe()
	_ = c2.Close()
	return c1, bufio.NewReadWriter(bufio.NewReader(c1), bufio.NewWriter(c1)), nil
}

func TestHTTPMetricsHijack(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := HTTPMetrics(reg, "t", "s")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Fatal("wrapped writer is not a Hijacker")
		}
		c, _, err := hj.Hijack()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}))
	rec := &hijackRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ws", nil))
	if !rec.hijacked {
		t.Error("underlying Hijack not called")
	}
	if got := metricValue(t, reg, "t_s_requests_total", map[string]string{"code": "101"}); got != 1 {
		t.Errorf("hijacked request counted %v times as 101", got)
	}
}

func TestHTTPMetricsReadFrom(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := HTTPMetrics(reg, "t", "s")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "x.txt", fixedTime, strings.NewReader("file body"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x.txt", nil))
	if rec.Body.String() != "file body" {
		t.Errorf("body %q", rec.Body.String())
	}
}

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func TestHTTPMetricsNoAllocations(t *testing.T) {
	reg := prometheus.NewRegistry()
	body := []byte("ok")
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(body)
	})
	h := HTTPMetrics(reg, "t", "s")(inner)
	w := &nopWriter{h: http.Header{}}
	r := httptest.NewRequest("PUT", "/", nil)
	h.ServeHTTP(w, r) // create the label children
	if n := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, r) }); n > 0 {
		t.Errorf("middleware allocates %v times per request, want 0", n)
	}
}

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func BenchmarkHTTPMetrics(b *testing.B) {
	reg := prometheus.NewRegistry()
	h := HTTPMetrics(reg, "t", "s")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	w := &nopWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}
