// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/store"
)

// Defaults of Config.
const (
	DefaultWorkers        = 4
	DefaultLeaseTTL       = 5 * time.Second
	DefaultGCGrace        = 10 * time.Second
	DefaultGCInterval     = 30 * time.Second
	DefaultMaxBackoff     = 30 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	// DefaultIntrospectAddr is the original contrail-schema's introspect port.
	DefaultIntrospectAddr = "0.0.0.0:8087"
	// ElectionName is the election below the store prefix, as the original's
	// ZooKeeper election "<cluster_id>/schema-transformer".
	ElectionName = "election/schema-transformer"
)

// Config configures one schema transformer instance.
type Config struct {
	// APIURL is the config API every derived object is written through,
	// such as "http://127.0.0.1:8082".
	APIURL string
	// WaitAPI, when APIURL is empty, is called once by Run to learn the API
	// address (all-in-one waits for its in-process server this way).
	WaitAPI func(ctx context.Context) (string, error)
	// Store is the config store the transformer follows and elects its
	// leader in. Its owner opens and closes it.
	Store *store.Store

	// Workers is the number of reconciles that run at once (leader only).
	Workers int
	// LeaseTTL is the TTL of the election session: a leader that dies is
	// replaced after at most about this long.
	LeaseTTL time.Duration
	// GCGrace is how long a route target must stay unreferenced (or an ACL
	// without parent) before the garbage collector deletes it; it covers the
	// moment between creating a route target and referring to it.
	GCGrace time.Duration
	// GCInterval is how often the garbage collector runs without a cause.
	GCInterval time.Duration
	// MaxBackoff bounds the wait between retries of a failing reconcile.
	MaxBackoff time.Duration
	// RequestTimeout bounds one API request.
	RequestTimeout time.Duration
	// RouteTargetRangeSize, when non-zero, shrinks the system route-target
	// range (tests of exhaustion use it); zero is the original's 2^24 for a
	// 2-byte AS number and 2^15 for a 4-byte one.
	RouteTargetRangeSize uint32

	// IntrospectAddr is the introspect listen address; empty disables the
	// server (all-in-one mounts the pages on its own server instead).
	IntrospectAddr string
	// Pprof serves /debug/pprof on the introspect server.
	Pprof bool
	// Name identifies this instance in the election; host name and pid by default.
	Name string

	Logger     *slog.Logger
	Registry   *prometheus.Registry
	HTTPClient *http.Client
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.GCGrace <= 0 {
		c.GCGrace = DefaultGCGrace
	}
	if c.GCInterval <= 0 {
		c.GCInterval = DefaultGCInterval
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Logger == nil {
		c.Logger = obs.DiscardLogger()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 4 * c.Workers
		c.HTTPClient = &http.Client{Transport: tr}
	}
}

// Validate reports a configuration that cannot run.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errors.New("transformer: no store")
	}
	if c.APIURL == "" && c.WaitAPI == nil {
		return errors.New("transformer: no API URL")
	}
	if c.LeaseTTL > 0 && c.LeaseTTL < 2*time.Second {
		return fmt.Errorf("transformer: lease TTL %v is below 2s", c.LeaseTTL)
	}
	return nil
}
