// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/analytics/api"
	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/obs"
)

func init() {
	register("analytics-api", "analytics REST API: UVEs, tables, queries, alarms (8081), introspect 8090", runAnalyticsAPI)
}

// AnalyticsAPIConfig configures `contrail analytics-api`.
type AnalyticsAPIConfig struct {
	LogConfig
	AnalyticsStoreConfig
	Listen       string        `flag:"listen" default:"0.0.0.0:8081" usage:"analytics REST API listen address"`
	Introspect   string        `flag:"introspect" default:"0.0.0.0:8090" usage:"introspect listen address; empty disables it"`
	QueryEngine  string        `flag:"query-engine" usage:"URL of a contrail query-engine (http://host:8091); empty runs the query engine in this process over the analytics store options"`
	CollectorURL string        `flag:"collector-url" usage:"HTTP base URL of the collector whose UVEs are served; empty serves no UVEs"`
	AlarmsFile   string        `flag:"alarms-file" usage:"JSON file holding a list of alarm objects (as the config API returns them); read on each alarm request"`
	QueryTTL     time.Duration `flag:"query-ttl" default:"300s" usage:"how long the results of an asynchronous query are kept"`
	Pprof        bool          `flag:"pprof" usage:"serve /debug/pprof on the introspect port"`
}

// alarmsFromFile reads alarm objects from a JSON file: a list, or
// {"alarms": [...]} as the config API lists them with detail.
func alarmsFromFile(path string) func(context.Context) ([]api.Alarm, error) {
	return func(context.Context) ([]api.Alarm, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var list []api.Alarm
		if err := json.Unmarshal(b, &list); err == nil {
			return list, nil
		}
		var wrapped struct {
			Alarms []struct {
				Alarm api.Alarm `json:"alarm"`
			} `json:"alarms"`
		}
		if err := json.Unmarshal(b, &wrapped); err != nil {
			return nil, fmt.Errorf("%s: not a list of alarm objects: %w", path, err)
		}
		for _, a := range wrapped.Alarms {
			list = append(list, a.Alarm)
		}
		return list, nil
	}
}

func runAnalyticsAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg AnalyticsAPIConfig
	if err := loadConfig("analytics-api", args, &cfg, stderr, "/etc/contrail/contrail-analytics-api.conf"); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	reg := obs.NewRegistry()
	acfg := api.Config{QueryTTL: cfg.QueryTTL, Logger: log.With("component", "analytics-api")}
	// Alarm acknowledgements survive a restart, next to the analytics data.
	if err := os.MkdirAll(cfg.AnalyticsDataDir, 0o755); err != nil {
		return fmt.Errorf("analytics data dir: %w", err)
	}
	acfg.AckFile = filepath.Join(cfg.AnalyticsDataDir, "alarm-acks.json")
	var more []func(*obs.Introspect)
	if cfg.QueryEngine != "" {
		acfg.Queries = query.NewRemote(cfg.QueryEngine, nil)
	} else {
		var st store.Store
		st, err = cfg.openAnalyticsStore(log)
		if err != nil {
			return err
		}
		defer st.Close()
		acfg.Queries = query.NewEngine(st)
		more = append(more, storeIntrospect(st))
	}
	if cfg.CollectorURL != "" {
		acfg.UVEs = uve.NewRemote(cfg.CollectorURL)
	}
	if cfg.AlarmsFile != "" {
		acfg.Alarms = alarmsFromFile(cfg.AlarmsFile)
	}
	srv := api.NewServer(acfg)
	more = append(more, func(in *obs.Introspect) {
		in.Handle("/Snh_AnalyticsApiQueries", "asynchronous queries kept", func(*http.Request) (any, error) {
			return map[string]int{"queries": srv.Queries()}, nil
		})
	})
	g, ctx := errgroup.WithContext(ctx)
	h := obs.HTTPMetrics(reg, "contrail", "analytics_api")(srv)
	g.Go(func() error {
		return api.ListenAndServe(ctx, cfg.Listen, h, func(a net.Addr) {
			log.Info("analytics API serving", "addr", a.String(), "query-engine", cfg.QueryEngine, "collector", cfg.CollectorURL)
		})
	})
	if err := startIntrospect(ctx, g, "contrail-analytics-api", cfg.Introspect, cfg.Pprof, reg, log, &cfg, nil, more...); err != nil {
		return err
	}
	return g.Wait()
}
