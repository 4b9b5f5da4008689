// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/analytics/api"
	"github.com/contrail-go/contrail/internal/analytics/collector"
	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/obs"
)

// AnalyticsNodeConfig is the analytics node inside all-in-one: the
// collector, the query engine and the analytics API on one analytics
// store.
type AnalyticsNodeConfig struct {
	AnalyticsStoreConfig
	NoAnalytics         bool   `flag:"no-analytics" usage:"run without the analytics node (collector, query engine, analytics API)"`
	CollectorListen     string `flag:"collector-listen" default:"0.0.0.0:8086" usage:"Sandesh address of the collector"`
	CollectorIntrospect string `flag:"collector-introspect" default:"0.0.0.0:8089" usage:"collector introspect address (sessions, UVE cache); empty disables it"`
	AnalyticsListen     string `flag:"analytics-listen" default:"0.0.0.0:8081" usage:"analytics REST API address"`
	AnalyticsIntrospect string `flag:"analytics-introspect" default:"0.0.0.0:8090" usage:"analytics API introspect address; empty disables it"`
}

// analyticsNode is a running in-process analytics node.
type analyticsNode struct {
	col  *collector.Collector
	addr string // Sandesh address local generators dial
}

// start opens the analytics store and starts the collector, the query
// engine and the analytics API in g. The store is closed when ctx ends.
func (c *AnalyticsNodeConfig) start(ctx context.Context, g *errgroup.Group, all any, pprof bool, reg *prometheus.Registry, log *slog.Logger, alarms func(context.Context) ([]api.Alarm, error)) (*analyticsNode, error) {
	st, err := c.openAnalyticsStore(log)
	if err != nil {
		return nil, fmt.Errorf("analytics store: %w", err)
	}
	col, err := collector.New(collector.Config{
		Listen: c.CollectorListen, Writer: st, Registry: reg,
		Logger: log.With("component", "collector"),
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := col.Listen(); err != nil {
		st.Close()
		return nil, fmt.Errorf("collector %s: %w", c.CollectorListen, err)
	}
	g.Go(func() error {
		err := col.Start(ctx)
		st.Close()
		return err
	})
	if c.CollectorIntrospect != "" {
		in := newIntrospect("contrail-collector", reg, log, pprof, all)
		col.RegisterIntrospect(in)
		if err := in.Start(ctx, c.CollectorIntrospect); err != nil {
			return nil, fmt.Errorf("collector introspect %s: %w", c.CollectorIntrospect, err)
		}
		g.Go(in.Wait)
	}
	srv := api.NewServer(api.Config{
		Queries: query.NewEngine(st),
		UVEs:    col.UVEs(),
		Alarms:  alarms,
		AckFile: filepath.Join(c.AnalyticsDataDir, "alarm-acks.json"),
		Logger:  log.With("component", "analytics-api"),
	})
	h := obs.HTTPMetrics(reg, "contrail", "analytics_api")(srv)
	g.Go(func() error {
		return api.ListenAndServe(ctx, c.AnalyticsListen, h, func(a net.Addr) {
			log.Info("analytics API serving", "addr", a.String())
		})
	})
	if err := startIntrospect(ctx, g, "contrail-analytics-api", c.AnalyticsIntrospect, pprof, reg, log, all, nil, storeIntrospect(st)); err != nil {
		return nil, err
	}
	return &analyticsNode{col: col, addr: selfAddr(col.Addr())}, nil
}

// defaultAnalyticsDataDir is the default of --analytics-data-dir; in
// all-in-one it means "analytics" under --data-dir.
const defaultAnalyticsDataDir = "./contrail-analytics-data"

// alarmsFromGraph reads the alarm objects of the config (the original's
// alarm type, global or under a project) from the config graph that
// *graph points to once the control node has it.
func alarmsFromGraph(graph *atomic.Pointer[confgraph.Graph]) func(context.Context) ([]api.Alarm, error) {
	return func(context.Context) ([]api.Alarm, error) {
		gr := graph.Load()
		if gr == nil {
			return nil, nil
		}
		gr.RLock()
		var objs []*model.Object
		for _, id := range gr.UUIDs("alarm") {
			if n := gr.Get(id); n != nil {
				objs = append(objs, n.Obj)
			}
		}
		gr.RUnlock()
		out := make([]api.Alarm, 0, len(objs))
		for _, o := range objs {
			doc := make(map[string]json.RawMessage, len(o.Props)+2)
			for k, v := range o.Props {
				doc[k] = v
			}
			doc["fq_name"], _ = json.Marshal(o.FQName)
			doc["uuid"], _ = json.Marshal(o.UUID)
			b, err := json.Marshal(doc)
			if err != nil {
				return nil, err
			}
			var a api.Alarm
			if err := json.Unmarshal(b, &a); err != nil {
				return nil, fmt.Errorf("alarm %s: %w", o.FQNameString(), err)
			}
			out = append(out, a)
		}
		return out, nil
	}
}
