// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the schema transformer, in the process registry.
type metrics struct {
	isLeader         prometheus.Gauge
	terms            prometheus.Counter
	reconciles       *prometheus.CounterVec
	reconcileSeconds *prometheus.HistogramVec
	apiWrites        *prometheus.CounterVec
	rtAllocated      prometheus.Counter
	gcDeleted        *prometheus.CounterVec
}

const (
	metricsNamespace = "contrail"
	metricsSubsystem = "schema"
)

func newMetrics(reg prometheus.Registerer, t *Transformer) (*metrics, error) {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	m := &metrics{
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts(opts("is_leader", "1 while this instance is the elected leader."))),
		terms:    prometheus.NewCounter(prometheus.CounterOpts(opts("leader_terms_total", "Times this instance became the leader."))),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts(opts("reconciles_total",
			"Reconciles by kind of key and result (ok, retry, terminal).")), []string{"kind", "result"}),
		reconcileSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "reconcile_seconds",
			Help:    "Duration of one reconcile, API writes included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"kind"}),
		apiWrites: prometheus.NewCounterVec(prometheus.CounterOpts(opts("api_writes_total",
			"Writes through the config API by operation, object type and result.")), []string{"op", "type", "result"}),
		rtAllocated: prometheus.NewCounter(prometheus.CounterOpts(opts("route_targets_allocated_total",
			"System route targets created."))),
		gcDeleted: prometheus.NewCounterVec(prometheus.CounterOpts(opts("gc_deleted_total",
			"Objects the garbage collector deleted, by type.")), []string{"type"}),
	}
	cs := []prometheus.Collector{m.isLeader, m.terms, m.reconciles, m.reconcileSeconds, m.apiWrites, m.rtAllocated, m.gcDeleted,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("queue_depth", "Keys waiting in the work queue.")), func() float64 {
			if tm := t.term(); tm != nil {
				return float64(tm.q.stats().Depth)
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("objects_in_error", "Objects with a bad-input or reconcile error.")), func() float64 {
			return float64(t.status.inError())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("graph_revision", "Store revision of the transformer's config graph.")), func() float64 {
			return float64(t.g.Revision())
		}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
