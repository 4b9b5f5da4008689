// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	objectOps    *prometheus.CounterVec
	txns         prometheus.Counter
	txnConflicts prometheus.Counter
	retries      prometheus.Counter
	txnSeconds   prometheus.Histogram
	waitSeconds  prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "contrail", Subsystem: "api", Name: "requests_total",
			Help: "REST requests by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "contrail", Subsystem: "api", Name: "request_duration_seconds",
			Help:    "REST request latency by method.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"method"}),
		objectOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "contrail", Subsystem: "api", Name: "object_operations_total",
			Help: "Committed object writes by type and operation.",
		}, []string{"type", "op"}),
		txns: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "contrail", Subsystem: "api", Name: "etcd_transactions_total",
			Help: "Write transactions sent to etcd.",
		}),
		txnConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "contrail", Subsystem: "api", Name: "etcd_transaction_conflicts_total",
			Help: "Write transactions whose guards failed.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "contrail", Subsystem: "api", Name: "write_retries_total",
			Help: "Writes prepared again after losing a race.",
		}),
		txnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "contrail", Subsystem: "api", Name: "etcd_transaction_seconds",
			Help:    "Latency of write transactions in etcd.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		waitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "contrail", Subsystem: "api", Name: "cache_wait_seconds",
			Help:    "Time reads waited for the cache to show this server's committed writes.",
			Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.objectOps, m.txns, m.txnConflicts, m.retries, m.txnSeconds, m.waitSeconds,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "contrail", Subsystem: "api", Name: "cache_objects",
				Help: "Objects in the API server's config cache.",
			}, func() float64 {
				s.cache.RLock()
				defer s.cache.RUnlock()
				return float64(s.cache.Len())
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "contrail", Subsystem: "api", Name: "cache_revision",
				Help: "Last etcd revision applied to the config cache.",
			}, func() float64 { return float64(s.cache.Revision()) }),
		)
	}
	return m
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (m *metrics) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.requests.WithLabelValues(r.Method, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
	})
}
