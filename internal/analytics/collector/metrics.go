// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contrail-go/contrail/internal/sandesh"
)

// metrics are the collector's Prometheus metrics (namespace contrail,
// subsystem collector) and the totals its introspect shows.
type metrics struct {
	sessions     prometheus.Gauge
	received     *prometheus.CounterVec // by message type
	dropped      *prometheus.CounterVec // by reason
	closed       *prometheus.CounterVec // sessions closed, by reason
	rowsWritten  prometheus.Counter
	rowsDropped  prometheus.Counter
	flows        prometheus.Counter
	writeSeconds prometheus.Histogram

	receivedTotal, droppedTotal, invalidTotal atomic.Uint64

	byType sync.Map // sandesh.SandeshType -> prometheus.Counter
}

// processed returns the counter of a message type, looked up once.
func (m *metrics) processed(t sandesh.SandeshType) prometheus.Counter {
	if c, ok := m.byType.Load(t); ok {
		return c.(prometheus.Counter)
	}
	c := m.received.WithLabelValues(typeLabel(t))
	m.byType.Store(t, c)
	return c
}

func newMetrics(reg prometheus.Registerer, c *Collector) *metrics {
	const ns, sub = "contrail", "collector"
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "sessions", Help: "Generator sessions established."}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_processed_total", Help: "Sandesh messages processed, by type."}, []string{"type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_dropped_total", Help: "Sandesh messages received and dropped, by reason."}, []string{"reason"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "sessions_closed_total", Help: "Generator sessions closed, by reason."}, []string{"reason"}),
		rowsWritten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rows_written_total", Help: "Rows written to the analytics store."}),
		rowsDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rows_dropped_total", Help: "Rows lost because the store refused the write."}),
		flows: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "flow_rows_total", Help: "FlowRecordTable and FlowSeriesTable rows made."}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "store_write_seconds", Help: "Duration of one batch write to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)}),
	}
	uves := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
		Name: "uves", Help: "UVE structs held, per generator."}, func() float64 { return float64(c.cache.Len()) })
	for _, col := range []prometheus.Collector{m.sessions, m.received, m.dropped, m.closed, m.rowsWritten,
		m.rowsDropped, m.flows, m.writeSeconds, uves} {
		_ = reg.Register(col) // a second collector in one registry keeps the first one's
	}
	return m
}
