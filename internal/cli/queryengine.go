// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/analytics/api"
	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/obs"
)

func init() {
	register("query-engine", "analytics query engine: POST /query on 8091 (with its introspect pages)", runQueryEngine)
}

// AnalyticsStoreConfig selects and tunes the analytics store; shared by
// the daemons that open it.
type AnalyticsStoreConfig struct {
	AnalyticsStore   string        `flag:"analytics-store" default:"embedded" usage:"analytics store: embedded (in --analytics-data-dir, one process only) or victorialogs (--victorialogs-url)"`
	AnalyticsDataDir string        `flag:"analytics-data-dir" default:"./contrail-analytics-data" usage:"directory of the embedded analytics store"`
	VictoriaLogsURL  string        `flag:"victorialogs-url" default:"http://127.0.0.1:9428" usage:"VictoriaLogs server (single node or cluster front) of the victorialogs store"`
	FlowTTL          time.Duration `flag:"flow-ttl" default:"2h" usage:"retention of flow records and flow series (embedded store)"`
	StatsTTL         time.Duration `flag:"statistics-ttl" default:"168h" usage:"retention of StatTable.* rows (embedded store)"`
	ConfigAuditTTL   time.Duration `flag:"config-audit-ttl" default:"2160h" usage:"retention of the config audit log (embedded store)"`
	DataTTL          time.Duration `flag:"data-ttl" default:"48h" usage:"retention of messages, object logs and the rest (embedded store)"`
}

// openAnalyticsStore opens the store these options name.
func (c *AnalyticsStoreConfig) openAnalyticsStore(log *slog.Logger) (store.Store, error) {
	switch c.AnalyticsStore {
	case "embedded", "":
		return store.OpenEmbedded(c.AnalyticsDataDir, store.Options{
			TTL: map[store.Kind]time.Duration{
				store.KindFlow: c.FlowTTL, store.KindStats: c.StatsTTL,
				store.KindConfigAudit: c.ConfigAuditTTL, store.KindGlobal: c.DataTTL,
			},
			Logger: log.With("component", "analytics-store"),
		})
	case "victorialogs":
		return store.NewVictoriaLogs(c.VictoriaLogsURL, store.VictoriaLogsOptions{}), nil
	}
	return nil, usageError{fmt.Errorf("analytics-store %q: want embedded or victorialogs", c.AnalyticsStore)}
}

// QueryEngineConfig configures `contrail query-engine`.
type QueryEngineConfig struct {
	LogConfig
	AnalyticsStoreConfig
	Listen  string `flag:"listen" default:"0.0.0.0:8091" usage:"query REST API (POST /query, POST /validate, GET /tables) and introspect pages (/, /healthz, /metrics, ...)"`
	MaxRows int    `flag:"max-result-rows" default:"1000000" usage:"most rows a query without aggregate or limit may return"`
	Pprof   bool   `flag:"pprof" usage:"serve /debug/pprof"`
}

// storeIntrospect adds the analytics store's pages.
func storeIntrospect(st store.Store) func(*obs.Introspect) {
	return func(in *obs.Introspect) {
		in.Handle("/Snh_AnalyticsTables", "analytics tables and their columns", func(*http.Request) (any, error) { return st.Tables(), nil })
		if e, ok := st.(*store.Embedded); ok {
			in.Handle("/Snh_AnalyticsStoreStats", "embedded analytics store: tables, partitions, blocks, rows", func(*http.Request) (any, error) { return e.Stats(), nil })
		}
	}
}

func runQueryEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg QueryEngineConfig
	if err := loadConfig("query-engine", args, &cfg, stderr, "/etc/contrail/contrail-query-engine.conf"); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	if cfg.MaxRows <= 0 {
		return usageError{fmt.Errorf("max-result-rows must be positive")}
	}
	st, err := cfg.openAnalyticsStore(log)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := obs.NewRegistry()
	eng := query.NewEngine(st, query.WithMaxRows(cfg.MaxRows))
	in := newIntrospect("contrail-query-engine", reg, log, cfg.Pprof, &cfg)
	storeIntrospect(st)(in)
	qh := obs.HTTPMetrics(reg, "contrail", "query_engine")(query.Handler(eng))
	mux := http.NewServeMux()
	mux.Handle("/query", qh)
	mux.Handle("/validate", qh)
	mux.Handle("/tables", qh)
	mux.Handle("/", in.Handler())
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return api.ListenAndServe(ctx, cfg.Listen, mux, func(a net.Addr) {
			log.Info("query engine serving", "addr", a.String(), "store", cfg.AnalyticsStore)
		})
	})
	return g.Wait()
}
