// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/config"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
	"github.com/contrail-go/contrail/internal/store"
)

func init() {
	register("api", "config API server (VNC REST API on port 8082)", runAPI)
	register("all-in-one", "every daemon in one process, on an embedded etcd", runAllInOne)
}

// StoreConfig selects the config store; shared by every daemon that reads config.
type StoreConfig struct {
	DataDir       string        `flag:"data-dir" default:"./contrail-data" usage:"directory of the embedded etcd (used when --etcd-endpoints is empty)"`
	EtcdEndpoints []string      `flag:"etcd-endpoints" usage:"comma-separated client URLs of an external etcd cluster; empty runs an embedded etcd"`
	EtcdListen    string        `flag:"etcd-listen" default:"http://127.0.0.1:2379" usage:"client URL the embedded etcd serves, for daemons in other processes ('none' for a private unix socket)"`
	EtcdPeer      string        `flag:"etcd-peer-listen" default:"http://127.0.0.1:2380" usage:"peer URL of the embedded etcd"`
	EtcdPrefix    string        `flag:"etcd-prefix" default:"/contrail/" usage:"key prefix of all config in etcd"`
	EtcdTimeout   time.Duration `flag:"etcd-dial-timeout" default:"5s" usage:"how long to wait for an external etcd cluster"`
}

func (c *StoreConfig) open(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	return store.Open(ctx, store.Options{
		Endpoints:    c.EtcdEndpoints,
		DataDir:      c.DataDir,
		ClientListen: c.EtcdListen,
		PeerListen:   c.EtcdPeer,
		Prefix:       c.EtcdPrefix,
		DialTimeout:  c.EtcdTimeout,
		Logger:       log.With("component", "store"),
	})
}

// LogConfig is the logging section of every daemon.
type LogConfig struct {
	LogLevel  string `flag:"log-level" default:"info" usage:"debug, info, warn, error (or the original's SYS_* names)"`
	LogFormat string `flag:"log-format" default:"text" usage:"text or json"`
}

func (c *LogConfig) logger(w io.Writer) (*slog.Logger, error) {
	lv := new(slog.LevelVar)
	if err := obs.SetLevel(lv, c.LogLevel); err != nil {
		return nil, usageError{fmt.Errorf("log-level: %w", err)}
	}
	if err := obs.CheckFormat(c.LogFormat); err != nil {
		return nil, usageError{fmt.Errorf("log-format: %w", err)}
	}
	return obs.NewLogger(w, c.LogFormat, lv), nil
}

// APIConfig configures `contrail api`.
type APIConfig struct {
	StoreConfig
	LogConfig
	ReportConfig
	Listen           string        `flag:"listen" default:"0.0.0.0:8082" usage:"REST API listen address"`
	Introspect       string        `flag:"introspect" default:"0.0.0.0:8084" usage:"introspect listen address (index, JSON state, /metrics, /healthz); empty disables it"`
	MaxRequestSize   int64         `flag:"max-request-size" default:"1024000" usage:"largest accepted request body in bytes (413 above)"`
	WriteTimeout     time.Duration `flag:"write-timeout" default:"30s" usage:"time limit of one API request against the store"`
	AutonomousSystem int64         `flag:"autonomous-system" default:"64512" usage:"AS number of default-global-system-config when it is first created"`
	Pprof            bool          `flag:"pprof" usage:"serve /debug/pprof on the introspect port"`
}

// Validate implements config.Validator.
func (c *APIConfig) Validate() error {
	if c.MaxRequestSize <= 0 {
		return errors.New("max-request-size must be positive")
	}
	if c.AutonomousSystem <= 0 || c.AutonomousSystem > 1<<32-1 {
		return fmt.Errorf("autonomous-system %d is out of range 1..4294967295", c.AutonomousSystem)
	}
	return nil
}

// server builds the API server these options describe.
func (c *APIConfig) server(st *store.Store, log *slog.Logger, reg *prometheus.Registry) *apiserver.Server {
	return apiserver.New(st, apiserver.Config{
		Listen:           c.Listen,
		MaxRequestBytes:  c.MaxRequestSize,
		WriteTimeout:     c.WriteTimeout,
		AutonomousSystem: c.AutonomousSystem,
		Logger:           log,
		Registry:         reg,
	})
}

// newIntrospect builds a daemon's introspect server with its effective
// configuration page.
func newIntrospect(name string, reg *prometheus.Registry, log *slog.Logger, pprof bool, cfg any) *obs.Introspect {
	in := obs.NewIntrospect(name, reg, log, obs.WithPprof(pprof))
	in.Handle("/config", "effective configuration", func(*http.Request) (any, error) { return config.Dump(cfg), nil })
	return in
}

// daemon is what every daemon subcommand sets up before its components:
// its context and error group, logger, config store and metrics registry.
// The caller closes st when it returns.
type daemon struct {
	ctx context.Context
	g   *errgroup.Group
	log *slog.Logger
	st  *store.Store
	reg *prometheus.Registry
}

// daemonOptions are the options every daemon has (StoreConfig and LogConfig).
type daemonOptions interface {
	logger(io.Writer) (*slog.Logger, error)
	open(context.Context, *slog.Logger) (*store.Store, error)
}

// startDaemon loads a daemon's options and opens what all daemons share.
func startDaemon(ctx context.Context, name string, args []string, cfg daemonOptions, stderr io.Writer, defaultFile string) (*daemon, error) {
	if err := loadConfig(name, args, cfg, stderr, defaultFile); err != nil {
		return nil, err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return nil, err
	}
	g, ctx := errgroup.WithContext(ctx)
	st, err := cfg.open(ctx, log)
	if err != nil {
		return nil, err
	}
	return &daemon{ctx: ctx, g: g, log: log, st: st, reg: obs.NewRegistry()}, nil
}

func loadConfig(name string, args []string, cfg any, stderr io.Writer, defaultFile string) error {
	fs := flag.NewFlagSet("contrail "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := []config.Option{config.WithUsageHeader("Usage: contrail " + name + " [options]")}
	if defaultFile != "" {
		opts = append(opts, config.WithDefaultFile(defaultFile))
	}
	err := config.Load(fs, args, cfg, opts...)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err}
	}
	return err
}

func runAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg APIConfig
	d, err := startDaemon(ctx, "api", args, &cfg, stderr, "/etc/contrail/contrail-api.conf")
	if err != nil {
		return err
	}
	defer d.st.Close()
	ctx, g, log, st, reg := d.ctx, d.g, d.log, d.st, d.reg
	gen := newReporter(cfg.Collectors, "contrail-api", cfg.Introspect, log)
	log = teeLogs(log, gen)
	g.Go(func() error { return gen.Start(ctx) })
	srv := cfg.server(st, log, reg)
	g.Go(func() error { return srv.Start(ctx) })
	watchConnection(ctx, g, gen, "Database", "etcd", st.ClientURLs(), 10*time.Second, srv.CheckStore)
	if err := startIntrospect(ctx, g, "contrail-api", cfg.Introspect, cfg.Pprof, reg, log, &cfg, srv); err != nil {
		return err
	}
	return g.Wait()
}

// startIntrospect serves the daemon's introspect pages.
// Each of more adds pages of another component of the process.
func startIntrospect(ctx context.Context, g *errgroup.Group, name, addr string, pprof bool, reg *prometheus.Registry, log *slog.Logger, cfg any, srv *apiserver.Server, more ...func(*obs.Introspect)) error {
	if addr == "" {
		return nil
	}
	in := newIntrospect(name, reg, log, pprof, cfg)
	for _, add := range more {
		add(in)
	}
	if srv != nil {
		in.Handle("/Snh_ApiServerState", "config API server state", func(r *http.Request) (any, error) { return srv.State(), nil })
		in.AddCheck("store", srv.CheckStore)
		in.AddReadyCheck("api", func(ctx context.Context) error {
			select {
			case <-srv.Ready():
				return nil
			default:
				return errors.New("not serving yet")
			}
		})
	}
	if err := in.Start(ctx, addr); err != nil {
		return fmt.Errorf("introspect %s: %w", addr, err)
	}
	log.Info("introspect serving", "addr", in.Addr().String())
	g.Go(in.Wait)
	return nil
}

func runAllInOne(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg AllInOneConfig
	d, err := startDaemon(ctx, "all-in-one", args, &cfg, stderr, "")
	if err != nil {
		return err
	}
	defer d.st.Close()
	ctx, g, log, st, reg := d.ctx, d.g, d.log, d.st, d.reg
	if len(cfg.EtcdEndpoints) > 0 {
		log.Info("all-in-one on an external etcd", "endpoints", strings.Join(cfg.EtcdEndpoints, ","))
	}

	// The analytics node first, so that every other daemon of the process
	// reports to it from its start.
	collectors := cfg.Collectors
	var graph atomic.Pointer[confgraph.Graph] // the control node's, for alarms
	if !cfg.NoAnalytics {
		if cfg.AnalyticsDataDir == defaultAnalyticsDataDir {
			// Beside the config store unless named otherwise.
			cfg.AnalyticsDataDir = filepath.Join(cfg.DataDir, "analytics")
		}
		an, err := cfg.AnalyticsNodeConfig.start(ctx, g, &cfg, cfg.Pprof, reg, log, alarmsFromGraph(&graph))
		if err != nil {
			return err
		}
		if len(collectors) == 0 {
			collectors = []string{an.addr}
		}
		for module, intro := range map[string]string{
			"contrail-collector": cfg.CollectorIntrospect, "contrail-analytics-api": cfg.AnalyticsIntrospect,
			"contrail-query-engine": cfg.AnalyticsIntrospect,
		} {
			gen := newReporter(collectors, module, intro, log)
			gen.SetConnection(generator.ConnectionInfo{Type: "Database", Name: "analytics-store",
				ServerAddrs: []string{cfg.AnalyticsDataDir}, Status: generator.StatusUp})
			g.Go(func() error { return gen.Start(ctx) })
		}
	}
	apiGen := newReporter(collectors, "contrail-api", cfg.Introspect, log)
	schemaGen := newReporter(collectors, "contrail-schema", cfg.Introspect, log)
	controlGen := newReporter(collectors, "contrail-control", cfg.ControlIntro, log)
	for _, gen := range []*generator.Generator{apiGen, schemaGen, controlGen} {
		g.Go(func() error { return gen.Start(ctx) })
	}
	log = teeLogs(log, apiGen)

	srv := cfg.APIConfig.server(st, log, reg)
	g.Go(func() error { return srv.Start(ctx) })
	watchConnection(ctx, g, apiGen, "Database", "etcd", st.ClientURLs(), 10*time.Second, srv.CheckStore)
	schema, err := newAllInOneSchema(st, srv, reg, log)
	if err != nil {
		return err
	}
	g.Go(func() error { return schema.run(ctx) })
	watchConnection(ctx, g, schemaGen, "ApiServer", "api", []string{cfg.Listen}, 10*time.Second, func(context.Context) error {
		select {
		case <-srv.Ready():
			return nil
		default:
			return errors.New("API server not serving yet")
		}
	})
	ctl, err := cfg.ControlConfig.server(st, log, reg)
	if err != nil {
		return err
	}
	graph.Store(ctl.Graph())
	g.Go(func() error { return ctl.Start(ctx) })
	watchConnection(ctx, g, controlGen, "Database", "etcd", st.ClientURLs(), 10*time.Second, st.RequestProgress)
	reportControl(ctx, g, controlGen, ctl, cfg.Hostname, 10*time.Second)
	if err := startControlIntrospect(ctx, g, &cfg.ControlConfig, &cfg, cfg.Pprof, ctl, reg, log); err != nil {
		return err
	}
	if err := startIntrospect(ctx, g, "contrail-all-in-one", cfg.Introspect, cfg.Pprof, reg, log, &cfg, srv, schema.register); err != nil {
		return err
	}
	log.Info("all-in-one running", "api", cfg.Listen, "etcd", strings.Join(st.ClientURLs(), ","), "collectors", strings.Join(collectors, ","))
	return g.Wait()
}
