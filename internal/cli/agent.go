// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/agent/agent"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

func init() {
	register("vrouter-agent", "vrouter agent: XMPP to control nodes, port API (9091), kernel dataplane, introspect 8085", runAgent)
}

// AgentConfig configures `contrail vrouter-agent`. Keys of the original's
// contrail-vrouter-agent.conf are read where they exist: [DEFAULT]
// hostname and collectors, [CONTROL-NODE] servers, [VIRTUAL-HOST-INTERFACE]
// ip and physical_interface.
type AgentConfig struct {
	LogConfig
	Hostname     string        `flag:"hostname" ini:"DEFAULT.hostname" usage:"name of this compute host: its virtual-router and XMPP name"`
	TunnelIP     string        `flag:"tunnel-ip" ini:"VIRTUAL-HOST-INTERFACE.ip" usage:"underlay IPv4 address (tunnel endpoint; a /len suffix is ignored); its device is the underlay"`
	UnderlayDev  string        `flag:"underlay-dev" ini:"VIRTUAL-HOST-INTERFACE.physical_interface" usage:"underlay device (default: the device holding --tunnel-ip)"`
	ControlNodes []string      `flag:"control-nodes" ini:"CONTROL-NODE.servers" usage:"up to two control nodes, ip:port (port 5269 when left out)"`
	Collectors   []string      `flag:"collectors" ini:"DEFAULT.collectors" usage:"analytics collectors (ip:port, port 8086 when left out) the agent sends its NodeStatus, UVEs, logs and flow records to, one at a time with failover; empty: none"`
	PortAPI      string        `flag:"port-api" default:"127.0.0.1:9091" usage:"port API listen address ('none' disables it)"`
	DataDir      string        `flag:"data-dir" default:"/var/lib/contrail" usage:"directory of the port files (<dir>/ports) and the saved dataplane state"`
	Introspect   string        `flag:"introspect" default:"0.0.0.0:8085" usage:"introspect listen address; empty disables it"`
	HoldTime     time.Duration `flag:"xmpp-hold-time" default:"90s" usage:"XMPP hold time towards the control nodes"`
	PortWait     time.Duration `flag:"port-config-wait" default:"3s" usage:"how long a port add waits for the config of an unknown VMI before answering"`
	StaleTimeout time.Duration `flag:"stale-route-timeout" default:"60s" usage:"routes of lost control nodes are kept this long after a reconnect without End-of-RIB"`
	MetaUpstream string        `flag:"metadata-proxy-upstream" ini:"METADATA.metadata_proxy_upstream" usage:"metadata server for VMs' 169.254.169.254 (nova: http://host:8775); empty disables the proxy"`
	MetaSecret   string        `flag:"metadata-proxy-secret" ini:"METADATA.metadata_proxy_secret" secret:"true" usage:"shared secret signing X-Instance-ID (nova's metadata_proxy_shared_secret)"`
	MetaListen   string        `flag:"metadata-proxy-listen" default:"0.0.0.0:8097" usage:"where the metadata proxy listens (0.0.0.0: on each port's gateway address)"`
	DNSListen    string        `flag:"dns-proxy-listen" usage:"empty (the default): the DNS proxy listens on each port's DNS service address, port 53; ip:port (0.0.0.0: each port's gateway address): VMs' port-53 queries are redirected there by nftables"`
	DNSUpstream  []string      `flag:"dns-upstream" ini:"DNS.servers" usage:"resolvers the DNS proxy forwards to, ip:port (port 53 when left out); empty: the nameservers of /etc/resolv.conf"`
	NoDNS        bool          `flag:"no-dns-proxy" usage:"do not run the DNS proxy (VMs' DNS service address goes unanswered)"`
	NoFastPath   bool          `flag:"no-fastpath" usage:"forward every packet through routing, nftables and conntrack (no eBPF fast path for established flows)"`
	Pprof        bool          `flag:"pprof" usage:"serve /debug/pprof on the introspect port"`
}

// Validate implements config.Validator.
func (c *AgentConfig) Validate() error {
	if c.TunnelIP == "" {
		return errors.New("tunnel-ip is required")
	}
	if _, err := c.tunnelIP(); err != nil {
		return err
	}
	if _, err := c.dnsListen(); err != nil {
		return err
	}
	for _, u := range c.dnsUpstream() {
		if _, err := netip.ParseAddrPort(u); err != nil {
			return fmt.Errorf("dns-upstream %q: not ip:port", u)
		}
	}
	if _, err := netip.ParseAddrPort(c.MetaListen); err != nil {
		return fmt.Errorf("metadata-proxy-listen %q: %v", c.MetaListen, err)
	}
	if len(c.ControlNodes) == 0 {
		return errors.New("control-nodes is empty: the agent needs one or two control nodes")
	}
	if len(c.ControlNodes) > 2 {
		return fmt.Errorf("control-nodes lists %d servers; the agent talks to at most two", len(c.ControlNodes))
	}
	return nil
}

func (c *AgentConfig) tunnelIP() (netip.Addr, error) {
	s, _, _ := strings.Cut(c.TunnelIP, "/")
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("tunnel-ip %q is not an IPv4 address", c.TunnelIP)
	}
	return a, nil
}

// dnsListen is --dns-proxy-listen; the zero value for the direct mode.
func (c *AgentConfig) dnsListen() (netip.AddrPort, error) {
	if c.DNSListen == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(c.DNSListen)
	if err != nil {
		return ap, fmt.Errorf("dns-proxy-listen %q: %v", c.DNSListen, err)
	}
	return ap, nil
}

// dnsUpstream gives each resolver a port (53 when left out).
func (c *AgentConfig) dnsUpstream() []string {
	out := make([]string, 0, len(c.DNSUpstream))
	for _, s := range c.DNSUpstream {
		if a, err := netip.ParseAddr(s); err == nil {
			s = netip.AddrPortFrom(a, 53).String()
		}
		out = append(out, s)
	}
	return out
}

func (c *AgentConfig) controlNodes() []string {
	out := make([]string, 0, len(c.ControlNodes))
	for _, s := range c.ControlNodes {
		if _, err := netip.ParseAddrPort(s); err != nil && !strings.Contains(s, ":") {
			s += ":5269"
		}
		out = append(out, s)
	}
	return out
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg AgentConfig
	cfg.Hostname, _ = os.Hostname()
	if err := loadConfig("vrouter-agent", args, &cfg, stderr, "/etc/contrail/contrail-vrouter-agent.conf"); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	tip, _ := cfg.tunnelIP()
	reg := obs.NewRegistry()
	g, ctx := errgroup.WithContext(ctx)
	// With collectors, a generator (module contrail-vrouter-agent, named
	// after the agent's host name) carries the agent's logs, NodeStatus,
	// UVEs and flow records; without, nothing is reported.
	var gen *generator.Generator
	if targets := collectorTargets(cfg.Collectors); len(targets) > 0 {
		gen = generator.New(generator.Config{
			Collectors: targets, Module: "contrail-vrouter-agent", Source: cfg.Hostname,
			IPAddress: tip.String(), HTTPPort: portOf(cfg.Introspect),
			Logger: log.With("component", "sandesh", "module", "contrail-vrouter-agent"),
		})
		log = teeLogs(log, gen)
	}
	dnsListen, err := cfg.dnsListen()
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{
		Hostname: cfg.Hostname, TunnelIP: tip, UnderlayDev: cfg.UnderlayDev, ControlNodes: cfg.controlNodes(),
		Collectors: cfg.Collectors, PortAPI: cfg.PortAPI, DataDir: cfg.DataDir, HoldTime: cfg.HoldTime,
		PortConfigWait: cfg.PortWait, StaleTimeout: cfg.StaleTimeout, Logger: log, Registry: reg,
		MetadataUpstream: cfg.MetaUpstream, MetadataSecret: cfg.MetaSecret, MetadataListen: netip.MustParseAddrPort(cfg.MetaListen),
		DNSListen: dnsListen, DNSUpstream: cfg.dnsUpstream(), NoDNS: cfg.NoDNS,
		NoFastPath: cfg.NoFastPath, Reporter: gen,
		Report: agent.ReportConfig{ConfigFile: configFileOf(args, "/etc/contrail/contrail-vrouter-agent.conf"),
			HTTPPort: int32(portOf(cfg.Introspect)), LogLevel: cfg.LogLevel, BuildInfo: agent.BuildInfo(Version)},
	})
	if err != nil {
		return err
	}
	if gen != nil {
		g.Go(func() error { return gen.Start(ctx) })
	}
	g.Go(func() error { return a.Run(ctx) })
	if cfg.Introspect != "" {
		in := newIntrospect("contrail-vrouter-agent", reg, log, cfg.Pprof, &cfg)
		a.RegisterIntrospect(in)
		if gen != nil {
			gen.RegisterIntrospect(in) // Sandesh client state and the UVEs sent
		}
		if err := in.Start(ctx, cfg.Introspect); err != nil {
			return fmt.Errorf("introspect %s: %w", cfg.Introspect, err)
		}
		g.Go(in.Wait)
	}
	log.Info("vrouter agent started", "hostname", cfg.Hostname, "tunnel_ip", tip, "control_nodes", cfg.controlNodes())
	return g.Wait()
}

// collectorTargets normalizes a collectors list: blanks dropped, port
// 8086 when left out.
func collectorTargets(collectors []string) []string {
	out := make([]string, 0, len(collectors))
	for _, c := range collectors {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(c); err != nil {
			c = net.JoinHostPort(strings.Trim(c, "[]"), "8086")
		}
		out = append(out, c)
	}
	return out
}

// configFileOf names the config file a daemon read: -config (or
// --config) from args, else $CONTRAIL_CONFIG, else def when it exists;
// "" when none.
func configFileOf(args []string, def string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "config" || !strings.HasPrefix(a, "-") {
			continue
		}
		if !hasVal && i+1 < len(args) {
			val = args[i+1]
		}
		return val
	}
	if v := os.Getenv("CONTRAIL_CONFIG"); v != "" {
		return v
	}
	if _, err := os.Stat(def); err == nil {
		return def
	}
	return ""
}
