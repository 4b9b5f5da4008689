// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/transformer"
)

func init() {
	register("schema", "schema transformer: derives routing instances, route targets and ACLs (introspect 8087)", runSchema)
}

// SchemaConfig configures `contrail schema`.
type SchemaConfig struct {
	LogConfig
	ReportConfig
	EtcdEndpoints []string      `flag:"etcd-endpoints" default:"http://127.0.0.1:2379" usage:"comma-separated client URLs of the etcd cluster the API servers use"`
	EtcdPrefix    string        `flag:"etcd-prefix" default:"/contrail/" usage:"key prefix of all config in etcd"`
	EtcdTimeout   time.Duration `flag:"etcd-dial-timeout" default:"5s" usage:"how long to wait for the etcd cluster"`
	APIURL        string        `flag:"api-url" default:"http://127.0.0.1:8082" usage:"config API the derived objects are written through"`
	Introspect    string        `flag:"introspect" default:"0.0.0.0:8087" usage:"introspect listen address (leader state, queue, objects, /metrics, /healthz); empty disables it"`
	Workers       int           `flag:"workers" default:"4" usage:"reconciles that run at once while leader"`
	LeaseTTL      time.Duration `flag:"lease-ttl" default:"5s" usage:"TTL of the leader election lease: a dead leader is replaced after about this long"`
	GCGrace       time.Duration `flag:"gc-grace" default:"10s" usage:"how long an unreferenced route target is kept before it is deleted"`
	Name          string        `flag:"name" usage:"name of this instance in the election (default host:pid)"`
	Pprof         bool          `flag:"pprof" usage:"serve /debug/pprof on the introspect port"`
}

// Validate implements config.Validator.
func (c *SchemaConfig) Validate() error {
	if len(c.EtcdEndpoints) == 0 {
		return errors.New("etcd-endpoints is empty")
	}
	if c.APIURL == "" {
		return errors.New("api-url is empty")
	}
	if c.Workers <= 0 {
		return fmt.Errorf("workers %d must be positive", c.Workers)
	}
	if c.LeaseTTL < 2*time.Second {
		return fmt.Errorf("lease-ttl %v is below 2s", c.LeaseTTL)
	}
	return nil
}

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg SchemaConfig
	if err := loadConfig("schema", args, &cfg, stderr, "/etc/contrail/contrail-schema.conf"); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{
		Endpoints:   cfg.EtcdEndpoints,
		Prefix:      cfg.EtcdPrefix,
		DialTimeout: cfg.EtcdTimeout,
		Logger:      log.With("component", "store"),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	reg := obs.NewRegistry()
	g, ctx := errgroup.WithContext(ctx)
	gen := newReporter(cfg.Collectors, "contrail-schema", cfg.Introspect, log)
	log = teeLogs(log, gen)
	g.Go(func() error { return gen.Start(ctx) })
	watchConnection(ctx, g, gen, "Database", "etcd", cfg.EtcdEndpoints, 10*time.Second, st.RequestProgress)
	tr, err := transformer.New(transformer.Config{
		APIURL:   cfg.APIURL,
		Store:    st,
		Workers:  cfg.Workers,
		LeaseTTL: cfg.LeaseTTL,
		GCGrace:  cfg.GCGrace,
		Name:     cfg.Name,
		Logger:   log,
		Registry: reg,
	})
	if err != nil {
		return err
	}
	g.Go(func() error { return tr.Run(ctx) })
	if cfg.Introspect != "" {
		in := newIntrospect("contrail-schema", reg, log, cfg.Pprof, &cfg)
		tr.RegisterIntrospect(in)
		if err := in.Start(ctx, cfg.Introspect); err != nil {
			return fmt.Errorf("introspect %s: %w", cfg.Introspect, err)
		}
		g.Go(in.Wait)
	}
	log.Info("schema transformer running", "api", cfg.APIURL, "etcd", cfg.EtcdEndpoints)
	return g.Wait()
}

// allInOneSchema is the schema transformer of all-in-one: on the same
// store, writing through the in-process API server once it serves; its
// pages go on the all-in-one introspect server (see register).
type allInOneSchema struct{ tr *transformer.Transformer }

func newAllInOneSchema(st *store.Store, srv *apiserver.Server, reg *prometheus.Registry, log *slog.Logger) (*allInOneSchema, error) {
	tr, err := transformer.New(transformer.Config{
		Store: st,
		WaitAPI: func(ctx context.Context) (string, error) {
			select {
			case <-srv.Ready():
			case <-ctx.Done():
				return "", ctx.Err()
			}
			return localURL(srv.Addr()), nil
		},
		Logger:   log,
		Registry: reg,
	})
	if err != nil {
		return nil, err
	}
	return &allInOneSchema{tr: tr}, nil
}

func (s *allInOneSchema) run(ctx context.Context) error { return s.tr.Run(ctx) }

func (s *allInOneSchema) register(in *obs.Introspect) { s.tr.RegisterIntrospect(in) }

// localURL is the URL of a listener from this host: a wildcard address
// becomes the loopback address.
func localURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	p, _ := strconv.Atoi(port)
	return "http://" + net.JoinHostPort(host, strconv.Itoa(p))
}
