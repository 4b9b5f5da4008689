// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/control"
	"github.com/contrail-go/contrail/internal/store"
)

func init() {
	register("control", "control node: XMPP server for vrouter agents (5269), introspect 8083", runControl)
}

// ControlConfig configures `contrail control` (and the control node inside all-in-one).
type ControlConfig struct {
	XMPPListen      string        `flag:"xmpp-listen" default:"0.0.0.0:5269" usage:"XMPP address for vrouter agents"`
	ControlIntro    string        `flag:"control-introspect" default:"0.0.0.0:8083" usage:"control node introspect address; empty disables it"`
	Hostname        string        `flag:"hostname" usage:"name of this control node (default: the machine's host name)"`
	HoldTime        time.Duration `flag:"xmpp-hold-time" default:"90s" usage:"XMPP hold time (1s..90s); keepalives every third of it"`
	Subcluster      string        `flag:"subcluster" usage:"subcluster name the agents' streams must carry"`
	BGPListen       string        `flag:"bgp-listen" usage:"BGP address; default: this node's bgp-router object's address and port (179); 'none' disables BGP"`
	GracefulRestart time.Duration `flag:"graceful-restart-time" default:"0s" usage:"keep a lost agent's routes as stale this long (0 withdraws at once)"`
	TLSCert         string        `flag:"xmpp-server-cert" usage:"PEM certificate for XMPP STARTTLS (enables TLS)"`
	TLSKey          string        `flag:"xmpp-server-key" usage:"PEM key for XMPP STARTTLS"`
	TLSCA           string        `flag:"xmpp-ca-cert" usage:"PEM CA that agents' certificates must chain to (optional)"`
}

func (c *ControlConfig) tls() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("xmpp TLS: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("xmpp CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("xmpp CA: no certificate in " + c.TLSCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func (c *ControlConfig) server(st *store.Store, log *slog.Logger, reg *prometheus.Registry) (*control.Server, error) {
	tc, err := c.tls()
	if err != nil {
		return nil, usageError{err}
	}
	if c.HoldTime < time.Second || c.HoldTime > 90*time.Second {
		return nil, usageError{fmt.Errorf("xmpp-hold-time %v is outside 1s..90s", c.HoldTime)}
	}
	return control.New(st, control.Config{
		XMPPListen: c.XMPPListen, Hostname: c.Hostname, HoldTime: c.HoldTime, Subcluster: c.Subcluster,
		TLS: tc, GracefulRestart: c.GracefulRestart, BGPListen: c.BGPListen, Logger: log, Registry: reg,
		StartupEndOfRibDelay: startupEndOfRibDelay,
	}), nil
}

// startupEndOfRibDelay holds the agents' End-of-RIB after a control node
// starts, long enough for agents reconnecting together (their first retry
// comes within a second or two) to have republished their routes.
const startupEndOfRibDelay = 3 * time.Second

// ControlDaemonConfig is ControlConfig with the store and logging options.
type ControlDaemonConfig struct {
	StoreConfig
	LogConfig
	ReportConfig
	ControlConfig
	Pprof bool `flag:"pprof" usage:"serve /debug/pprof on the introspect port"`
}

// Validate implements config.Validator: a control node on its own reads
// the config of a cluster, so it needs that cluster's etcd.
func (c *ControlDaemonConfig) Validate() error {
	if len(c.EtcdEndpoints) == 0 {
		return errors.New("etcd-endpoints is empty: a control node reads the config from the cluster's etcd (all-in-one runs one with an embedded etcd)")
	}
	return nil
}

func runControl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg ControlDaemonConfig
	d, err := startDaemon(ctx, "control", args, &cfg, stderr, "/etc/contrail/contrail-control.conf")
	if err != nil {
		return err
	}
	defer d.st.Close()
	ctx, g, log, reg := d.ctx, d.g, d.log, d.reg
	gen := newReporter(cfg.Collectors, "contrail-control", cfg.ControlIntro, log)
	log = teeLogs(log, gen)
	g.Go(func() error { return gen.Start(ctx) })
	srv, err := cfg.server(d.st, log, reg)
	if err != nil {
		return err
	}
	g.Go(func() error { return srv.Start(ctx) })
	watchConnection(ctx, g, gen, "Database", "etcd", d.st.ClientURLs(), 10*time.Second, d.st.RequestProgress)
	reportControl(ctx, g, gen, srv, cfg.Hostname, 10*time.Second)
	if err := startControlIntrospect(ctx, g, &cfg.ControlConfig, &cfg, cfg.Pprof, srv, reg, log); err != nil {
		return err
	}
	return g.Wait()
}

// startControlIntrospect serves the control node's introspect pages on
// their own port, as the original's contrail-control does.
func startControlIntrospect(ctx context.Context, g *errgroup.Group, c *ControlConfig, all any, pprof bool, srv *control.Server, reg *prometheus.Registry, log *slog.Logger) error {
	if c.ControlIntro == "" {
		return nil
	}
	in := newIntrospect("contrail-control", reg, log, pprof, all)
	srv.RegisterIntrospect(in)
	if err := in.Start(ctx, c.ControlIntro); err != nil {
		return fmt.Errorf("control introspect %s: %w", c.ControlIntro, err)
	}
	g.Go(in.Wait)
	return nil
}

// AllInOneConfig configures `contrail all-in-one`: the API server's options
// plus the control node's.
type AllInOneConfig struct {
	APIConfig
	ControlConfig
	AnalyticsNodeConfig
}
