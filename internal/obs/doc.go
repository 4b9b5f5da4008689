// SPDX-License-Identifier: Apache-2.0

// Package obs holds the observability plumbing that every contrail daemon
// shares: the slog logger, a per-process Prometheus registry, the HTTP
// metrics middleware and the introspect HTTP server.
//
// The introspect server replaces the original's Sandesh HTTP introspect
// (ports 8083-8092 and 8100-8114). It serves, on one listener:
//
//	/              index of every page, JSON by default, HTML for browsers
//	<page>         JSON state pages registered with Introspect.Handle
//	/healthz       liveness checks registered with Introspect.AddCheck
//	/readyz        readiness checks registered with Introspect.AddReadyCheck
//	/metrics       the process registry in the Prometheus text format
//	/debug/pprof/  Go profiling, only with WithPprof(true)
//
// A daemon wires it like this:
//
//	lvl := new(slog.LevelVar)
//	if err := obs.SetLevel(lvl, cfg.LogLevel); err != nil { ... } // "info", "SYS_NOTICE", ...
//	log := obs.NewLogger(os.Stderr, cfg.LogFormat, lvl).With(obs.KeyComponent, "control")
//	reg := obs.NewRegistry()
//	is := obs.NewIntrospect("contrail-control", reg, log, obs.WithPprof(cfg.Pprof))
//	is.Handle("/bgp-peers", "BGP peers", func(r *http.Request) (any, error) { return ctl.Peers(), nil })
//	is.AddCheck("xmpp-listener", ctl.CheckListener)
//	if err := is.Start(ctx, cfg.IntrospectAddr); err != nil { return err }
//	defer is.Wait()
//
// Each daemon uses its own registry from NewRegistry and never the global
// prometheus.DefaultRegisterer, so tests that start several daemons in one
// process do not collide.
//
// Importing net/http/pprof (done here for the handler functions) also adds
// its handlers to http.DefaultServeMux as a side effect of that package's
// init. No contrail code serves http.DefaultServeMux; the introspect mux
// only gets the pprof handlers when WithPprof(true) is given.
package obs
