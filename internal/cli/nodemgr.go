// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/analytics/nodemgr"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

func init() {
	register("nodemgr", "node manager: reports the node's contrail processes, disks, CPU and memory (NodeStatus) to the collector", runNodemgr)
}

// NodemgrConfig configures `contrail nodemgr`.
type NodemgrConfig struct {
	LogConfig
	NodeType   string        `flag:"node-type" usage:"the node's role: config, control, vrouter, analytics or database (required)"`
	Collectors []string      `flag:"collectors" default:"127.0.0.1:8086" usage:"collectors' Sandesh addresses"`
	Hostname   string        `flag:"hostname" usage:"node name (default: the machine's host name)"`
	CoreDir    string        `flag:"core-dir" default:"/var/crashes" usage:"directory of core files"`
	Interval   time.Duration `flag:"interval" default:"60s" usage:"time between two scans"`
	Introspect string        `flag:"introspect" usage:"introspect address (default by node type: 0.0.0.0:8100 config, 8101 control, 8102 vrouter, 8103 database, 8104 analytics; 'none' disables it)"`
	Pprof      bool          `flag:"pprof" usage:"serve /debug/pprof on the introspect port"`
}

// Validate implements config.Validator.
func (c *NodemgrConfig) Validate() error {
	if _, ok := nodemgr.Kinds[c.NodeType]; !ok {
		kinds := make([]string, 0, len(nodemgr.Kinds))
		for k := range nodemgr.Kinds {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		return fmt.Errorf("node-type %q: want one of %s", c.NodeType, strings.Join(kinds, ", "))
	}
	if c.Interval < time.Second {
		return fmt.Errorf("interval %v is below 1s", c.Interval)
	}
	return nil
}

func runNodemgr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg NodemgrConfig
	if err := loadConfig("nodemgr", args, &cfg, stderr, ""); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	kind := nodemgr.Kinds[cfg.NodeType]
	intro := cfg.Introspect
	if intro == "" {
		intro = kind.Introspect
	}
	if intro == "none" {
		intro = ""
	}
	gen := generator.New(generator.Config{
		Collectors: cfg.Collectors, Source: cfg.Hostname, Module: kind.Module, NodeType: kind.NodeType,
		NodeStatusTable: kind.Table, HTTPPort: portOf(intro), Logger: log,
	})
	m := nodemgr.New(nodemgr.Config{Kind: kind, Hostname: gen.Config().Source, CoreDir: cfg.CoreDir,
		Interval: cfg.Interval, Generator: gen, Logger: log})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gen.Start(ctx) })
	g.Go(func() error { return m.Run(ctx) })
	if intro != "" {
		in := newIntrospect(kind.Module, obs.NewRegistry(), log, cfg.Pprof, &cfg)
		in.Handle("/Snh_NodeStatus", "last NodeStatus of this node", func(*http.Request) (any, error) { return m.Last(), nil })
		gen.RegisterIntrospect(in)
		if err := in.Start(ctx, intro); err != nil {
			return fmt.Errorf("introspect %s: %w", intro, err)
		}
		g.Go(in.Wait)
	}
	log.Info("nodemgr running", "node_type", cfg.NodeType, "collectors", strings.Join(cfg.Collectors, ","))
	return g.Wait()
}
