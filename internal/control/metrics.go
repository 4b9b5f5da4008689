// SPDX-License-Identifier: Apache-2.0

package control

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sessions      prometheus.Gauge
	sessionsTotal prometheus.Counter
	rxMessages    prometheus.Counter
	txMessages    prometheus.Counter
	badStanzas    prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "contrail", Subsystem: "control",
			Name: "xmpp_sessions", Help: "Established XMPP sessions with vrouter agents."}),
		sessionsTotal: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contrail", Subsystem: "control",
			Name: "xmpp_connections_total", Help: "XMPP connections accepted."}),
		rxMessages: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contrail", Subsystem: "control",
			Name: "xmpp_received_messages_total", Help: "Stanzas received from agents."}),
		txMessages: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contrail", Subsystem: "control",
			Name: "xmpp_sent_messages_total", Help: "Messages sent to agents."}),
		badStanzas: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "contrail", Subsystem: "control",
			Name: "xmpp_bad_input_total", Help: "Sessions closed for bad input."}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.sessionsTotal, m.rxMessages, m.txMessages, m.badStanzas)
	}
	return m
}
