// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/contrail-go/contrail/internal/agent/fastpath"
)

type metrics struct {
	portAdds           prometheus.Counter
	peerUps            prometheus.Counter
	configObjects      prometheus.Counter
	routeUpdates       prometheus.Counter
	routesPublished    prometheus.Counter
	routesWithdrawn    prometheus.Counter
	reconcileSeconds   prometheus.Histogram
	portProgramSeconds prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry, a *Agent) *metrics {
	ns := "contrail_vrouter_agent"
	m := &metrics{
		portAdds:        prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "port_adds_total", Help: "ports added or replaced through the port API"}),
		peerUps:         prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "xmpp_sessions_established_total", Help: "XMPP sessions established with control nodes"}),
		configObjects:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "config_changes_total", Help: "config nodes and links received"}),
		routeUpdates:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "route_update_messages_total", Help: "route update messages received"}),
		routesPublished: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "routes_published_total", Help: "route adds and changes sent to control nodes"}),
		routesWithdrawn: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "routes_withdrawn_total", Help: "route withdrawals sent to control nodes"}),
		reconcileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "dataplane_reconcile_seconds",
			Help: "time of one dataplane reconcile", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		portProgramSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "port_programmed_seconds",
			Help: "time from port add to the port being in the kernel", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}
	if reg != nil {
		reg.MustRegister(m.portAdds, m.peerUps, m.configObjects, m.routeUpdates, m.routesPublished, m.routesWithdrawn,
			m.reconcileSeconds, m.portProgramSeconds)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "ports", Help: "ports stored"},
			func() float64 {
				a.mu.Lock()
				defer a.mu.Unlock()
				return float64(len(a.ports))
			}))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "xmpp_sessions_up", Help: "control nodes connected"},
			func() float64 {
				a.mu.Lock()
				defer a.mu.Unlock()
				n := 0
				for _, p := range a.peers {
					if p.up {
						n++
					}
				}
				return float64(n)
			}))
		fpStat := func(f func(s fastpath.Stats) float64) func() float64 {
			return func() float64 {
				if fp := a.ext.fp; fp != nil {
					return f(fp.Stats())
				}
				return 0
			}
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "fastpath_flows",
			Help: "flows the eBPF fast path carries"}, fpStat(func(s fastpath.Stats) float64 { return float64(s.Flows) })))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "fastpath_devices",
			Help: "devices the eBPF fast path runs on"}, fpStat(func(s fastpath.Stats) float64 { return float64(s.Devices) })))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "fastpath_offloaded_total",
			Help: "flows handed to the eBPF fast path"}, fpStat(func(s fastpath.Stats) float64 { return float64(s.Offloaded) })))
	}
	return m
}
