// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics returns a middleware that counts requests in
// <namespace>_<subsystem>_requests_total{method,code} and times them in the
// histogram <namespace>_<subsystem>_request_duration_seconds{method}.
//
// The metrics are registered in reg when HTTPMetrics is called. Calling it
// again with the same names reuses the registered metrics; a clash with a
// different metric of the same name panics, as prometheus.MustRegister does.
//
// Methods outside the standard set are counted as "other" so that a client
// cannot grow the label space. A request whose handler panics is not counted.
//
// The per-request cost is kept small: the label children are resolved once
// per (method, code) pair and then found in a copy-on-write map read without
// locks, and the status-recording ResponseWriter comes from a sync.Pool, so
// a request adds no heap allocations once its pair has been seen.
func HTTPMetrics(reg prometheus.Registerer, namespace, subsystem string) func(http.Handler) http.Handler {
	m := &httpMetrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Subsystem: subsystem,
			Name:      "requests_total",
			Help:      "HTTP requests served, by method and status code.",
		}, []string{"method", "code"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Subsystem: subsystem,
			Name:      "request_duration_seconds",
			Help:      "Time to serve an HTTP request, by method.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"method"})),
	}
	empty := map[uint32]*httpSeries{}
	m.cache.Store(&empty)
	return m.wrap
}

// methodNames lists the method label values; the last one covers every
// method not in the list.
var methodNames = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace, "other",
}

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodDelete:
		return 4
	case http.MethodPatch:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodConnect:
		return 7
	case http.MethodTrace:
		return 8
	}
	return len(methodNames) - 1
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu    sync.Mutex // serialises cache writers
	cache atomic.Pointer[map[uint32]*httpSeries]
}

// httpSeries holds the label children for one (method, code) pair.
type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func (m *httpMetrics) series(method, code int) *httpSeries {
	key := uint32(method)<<16 | uint32(code)&0xffff
	if s, ok := (*m.cache.Load())[key]; ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.cache.Load()
	if s, ok := old[key]; ok {
		return s
	}
	s := &httpSeries{
		requests: m.requests.WithLabelValues(methodNames[method], strconv.Itoa(code)),
		duration: m.duration.WithLabelValues(methodNames[method]),
	}
	next := make(map[uint32]*httpSeries, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = s
	m.cache.Store(&next)
	return s
}

var statusWriterPool = sync.Pool{New: func() any { return new(statusWriter) }}

func (m *httpMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusWriterPool.Get().(*statusWriter)
		sw.w = w
		next.ServeHTTP(sw, r)
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		// The ResponseWriter must not be used after ServeHTTP returns, so
		// the wrapper can go back to the pool now.
		*sw = statusWriter{}
		statusWriterPool.Put(sw)

		s := m.series(methodIndex(r.Method), code)
		s.requests.Inc()
		s.duration.Observe(time.Since(start).Seconds())
	})
}

// statusWriter records the final status code of a response. It implements
// http.Flusher and http.Hijacker by delegating through
// http.ResponseController, and Unwrap so that a ResponseController built on
// it reaches the underlying writer's deadlines and full-duplex support.
type statusWriter struct {
	w    http.ResponseWriter
	code int // 0 until the final status is known
}

func (s *statusWriter) Header() http.Header { return s.w.Header() }

func (s *statusWriter) WriteHeader(code int) {
	// 1xx responses other than 101 are informational (103 Early Hints);
	// the final status comes later.
	if s.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.code = code
	}
	s.w.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.w.Write(b)
}

// ReadFrom keeps the underlying writer's io.ReaderFrom (sendfile for
// http.ServeContent) in use.
func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	if rf, ok := s.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(s.w, r)
}

// Flush implements http.Flusher.
func (s *statusWriter) Flush() {
	_ = s.FlushError()
}

// FlushError is the method http.ResponseController prefers to Flush.
func (s *statusWriter) FlushError() error {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
		return nil
	}
	return http.NewResponseController(s.w).Flush()
}

// Hijack implements http.Hijacker. A hijacked connection is counted as 101.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(s.w).Hijack()
	if err == nil && s.code == 0 {
		s.code = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.w }
