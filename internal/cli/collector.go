// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/analytics/collector"
	"github.com/contrail-go/contrail/internal/analytics/uve/redisuve"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

func init() {
	register("collector", "analytics collector: Sandesh from every daemon on 8086, introspect 8089", runCollector)
}

// CollectorConfig configures `contrail collector`.
type CollectorConfig struct {
	LogConfig
	AnalyticsStoreConfig
	Listen         string   `flag:"listen" default:"0.0.0.0:8086" usage:"Sandesh TCP address the generators connect to"`
	Introspect     string   `flag:"introspect" default:"0.0.0.0:8089" usage:"introspect address (sessions, UVE cache as JSON under /uve-source/, /metrics); empty disables it"`
	MaxFrame       int      `flag:"max-frame-size" default:"4194304" usage:"largest Sandesh frame accepted, in bytes; a larger one closes the session"`
	SessionQueue   int      `flag:"session-queue" default:"4096" usage:"messages of one generator waiting to be processed; above it its logs and flows are dropped and counted"`
	BatchSize      int      `flag:"batch-size" default:"1000" usage:"rows per store write"`
	MaxConnections int      `flag:"max-connections" default:"4096" usage:"generator connections served at once; more are refused"`
	Hostname       string   `flag:"hostname" usage:"name this collector reports as (default: the machine's host name)"`
	Collectors     []string `flag:"collectors" usage:"collectors this collector sends its own UVEs to (default: itself)"`
	RedisServer    string   `flag:"redis-server" usage:"host:port of a Redis that gets a copy of the UVEs in the original's layout (db 1); empty: none"`
	RedisPassword  string   `flag:"redis-password" secret:"true" usage:"password of --redis-server"`
	Pprof          bool     `flag:"pprof" usage:"serve /debug/pprof on the introspect port"`
}

// Validate implements config.Validator.
func (c *CollectorConfig) Validate() error {
	if c.MaxFrame < 1024 {
		return errors.New("max-frame-size must be at least 1024")
	}
	if c.SessionQueue <= 0 || c.BatchSize <= 0 {
		return errors.New("session-queue and batch-size must be positive")
	}
	return nil
}

func runCollector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg CollectorConfig
	if err := loadConfig("collector", args, &cfg, stderr, "/etc/contrail/contrail-collector.conf"); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	st, err := cfg.openAnalyticsStore(log)
	if err != nil {
		return fmt.Errorf("analytics store %s: %w", cfg.AnalyticsDataDir, err)
	}
	defer st.Close()
	reg := obs.NewRegistry()
	ccfg := collector.Config{
		Listen: cfg.Listen, Writer: st, Logger: log, Registry: reg,
		MaxFrame: cfg.MaxFrame, SessionQueue: cfg.SessionQueue, BatchSize: cfg.BatchSize,
		MaxConnections: cfg.MaxConnections,
	}
	var redisW *redisuve.Writer
	if cfg.RedisServer != "" {
		rdb := redisuve.NewClient(cfg.RedisServer, cfg.RedisPassword)
		defer rdb.Close()
		redisW = redisuve.NewWriter(rdb, 0, log)
		ccfg.UVESink = redisW
	}
	col, err := collector.New(ccfg)
	if err != nil {
		return err
	}
	if err := col.Listen(); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	// The Redis mirror stops after the collector, so that the withdrawals
	// of the sessions it closes on the way out reach Redis.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer rcancel()
	g.Go(func() error { defer rcancel(); return col.Start(ctx) })
	if redisW != nil {
		g.Go(func() error { return redisW.Start(rctx) })
	}

	// The collector reports its own NodeStatus like every daemon, to
	// itself unless told otherwise.
	targets := cfg.Collectors
	if len(targets) == 0 {
		targets = []string{selfAddr(col.Addr())}
	}
	gen := generator.New(generator.Config{
		Collectors: targets, Source: cfg.Hostname, Module: "contrail-collector", NodeType: "Analytics",
		HTTPPort: portOf(cfg.Introspect), Logger: log,
	})
	gen.SetConnection(generator.ConnectionInfo{Type: "Database", Name: "analytics-store", ServerAddrs: []string{cfg.AnalyticsDataDir}, Status: generator.StatusUp})
	if cfg.RedisServer != "" {
		gen.SetConnection(generator.ConnectionInfo{Type: "Redis-UVE", Name: cfg.RedisServer, ServerAddrs: []string{cfg.RedisServer}, Status: generator.StatusUp})
	}
	g.Go(func() error { return gen.Start(ctx) })

	if cfg.Introspect != "" {
		in := newIntrospect("contrail-collector", reg, log, cfg.Pprof, &cfg)
		col.RegisterIntrospect(in)
		gen.RegisterIntrospect(in)
		if err := in.Start(ctx, cfg.Introspect); err != nil {
			return fmt.Errorf("introspect %s: %w", cfg.Introspect, err)
		}
		log.Info("introspect serving", "addr", in.Addr().String())
		g.Go(in.Wait)
	}
	return g.Wait()
}

// selfAddr turns a listener address into one a local client can dial.
func selfAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// portOf returns the port of host:port, 0 if there is none.
func portOf(addr string) uint32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(p, 10, 16)
	return uint32(n)
}
