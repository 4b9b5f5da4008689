// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a fresh Prometheus registry for one process (or one
// daemon inside all-in-one), with the Go runtime and process collectors
// already registered. Daemons register their metrics here and never in
// prometheus.DefaultRegisterer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// register registers c in reg and returns it, or returns the collector that
// is already registered under the same descriptors. Any other failure is a
// programming error (a name reused with other labels or help), so it panics
// like prometheus.MustRegister.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("obs: register metric: " + err.Error())
	}
	return c
}
