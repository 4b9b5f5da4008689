// SPDX-License-Identifier: Apache-2.0

package e2e

// A whole system in namespaces: the config and control plane in "ctrl"
// (10.99.0.1), optionally a second control node in "ctrl2" (10.99.0.2),
// and compute hosts "h1".."hN" (10.99.0.11..) each running a vrouter
// agent, all on one underlay bridge.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/contrail-go/contrail/pkg/client"
)

// Addresses of the lab's control plane on the underlay.
const (
	CtrlIP  = UnderlayPrefix + "1"
	Ctrl2IP = UnderlayPrefix + "2"
	APIPort = 8082
	XMPP    = 5269
	// CollectorPort and AnalyticsPort are the analytics node's collector
	// (Sandesh) and REST API, on CtrlIP.
	CollectorPort = 8086
	AnalyticsPort = 8081
	// PortAPIAddr is where each agent serves the port API, inside its host.
	PortAPIAddr = "127.0.0.1:9091"
	// AgentIntrospect is where each agent serves its introspect, inside
	// its host.
	AgentIntrospect = "127.0.0.1:8085"
	// VMMTU leaves room for VXLAN on a 1500-byte underlay.
	VMMTU = 1450
)

// HostIP is the underlay (tunnel) address of compute host i (1-based).
func HostIP(i int) string { return UnderlayPrefix + strconv.Itoa(10+i) }

// ClusterConfig says what NewCluster builds.
type ClusterConfig struct {
	Hosts int
	// TwoControlNodes runs api, schema and control cn1 as separate
	// daemons in ctrl and control cn2 in ctrl2, so that either control
	// node can be killed; otherwise ctrl runs one all-in-one.
	TwoControlNodes bool
	LogLevel        string // of every daemon; default info
	// AgentArgs, if set, gives extra arguments for host i's agent.
	AgentArgs func(i int) []string
	// NoAgents leaves the hosts without agents (the benchmark's
	// hand-built baseline).
	NoAgents bool
	// AgentHosts, when above 0, runs agents on the first AgentHosts hosts
	// only.
	AgentHosts int
	// Analytics, in the two-control-node mode, also runs an analytics node
	// in ctrl (an all-in-one of its own, on its own embedded etcd, whose
	// collector and analytics API are the lab's). The one all-in-one of
	// the other mode always has one. Agents report to it (--collectors).
	Analytics bool
}

// Host is one compute host.
type Host struct {
	*NS
	Index   int
	Name    string // virtual-router name, agent --hostname
	IP      string
	VR      string // virtual-router uuid
	DataDir string
	Agent   *Daemon
}

// Cluster is a running system.
type Cluster struct {
	Lab   *Lab
	Cfg   ClusterConfig
	Ctrl  *NS
	Ctrl2 *NS
	// Control-plane daemons; AllInOne is set in the one-control-node mode,
	// API/Schema/CN1/CN2 in the other.
	AllInOne, API, Schema, CN1, CN2 *Daemon
	// AnalyticsNode is the analytics all-in-one of the two-control-node
	// mode with Analytics.
	AnalyticsNode *Daemon
	Hosts         []*Host
	Cloud         *Cloud
}

// NewCluster builds the namespaces and starts the control plane, provisions
// the virtual-routers (and bgp-routers) through the API and starts one
// agent per host. On error the caller still closes the lab.
func NewCluster(ctx context.Context, lab *Lab, cfg ClusterConfig) (*Cluster, error) {
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	c := &Cluster{Lab: lab, Cfg: cfg}
	var err error
	if c.Ctrl, err = lab.NewNS("ctrl"); err != nil {
		return c, err
	}
	if err := lab.AttachUnderlay(c.Ctrl, CtrlIP); err != nil {
		return c, err
	}
	if cfg.TwoControlNodes {
		if c.Ctrl2, err = lab.NewNS("ctrl2"); err != nil {
			return c, err
		}
		if err := lab.AttachUnderlay(c.Ctrl2, Ctrl2IP); err != nil {
			return c, err
		}
	}
	for i := 1; i <= cfg.Hosts; i++ {
		ns, err := lab.NewNS("h" + strconv.Itoa(i))
		if err != nil {
			return c, err
		}
		h := &Host{NS: ns, Index: i, Name: "host" + strconv.Itoa(i), IP: HostIP(i), DataDir: filepath.Join(lab.Dir, "agent"+strconv.Itoa(i))}
		if err := lab.AttachUnderlay(ns, h.IP); err != nil {
			return c, err
		}
		c.Hosts = append(c.Hosts, h)
	}
	if err := c.startControlPlane(ctx); err != nil {
		return c, err
	}
	c.Cloud = NewCloud(c.Ctrl, c.APIURL())
	if cfg.TwoControlNodes {
		for i, ip := range []string{CtrlIP, Ctrl2IP} {
			if _, err := c.Cloud.BGPRouter(ctx, "cn"+strconv.Itoa(i+1), ip); err != nil {
				return c, err
			}
		}
	}
	for _, h := range c.Hosts {
		if h.VR, err = c.Cloud.VirtualRouter(ctx, h.Name, h.IP); err != nil {
			return c, err
		}
	}
	for _, h := range c.Hosts {
		if cfg.NoAgents || (cfg.AgentHosts > 0 && h.Index > cfg.AgentHosts) {
			break
		}
		if err := c.StartAgent(ctx, h); err != nil {
			return c, err
		}
	}
	return c, nil
}

// APIURL is the config API as seen from inside ctrl.
func (c *Cluster) APIURL() string { return "http://" + CtrlIP + ":" + strconv.Itoa(APIPort) }

// HasAnalytics reports whether the lab has an analytics node (collector
// on CtrlIP:8086, analytics API on CtrlIP:8081) the agents report to.
func (c *Cluster) HasAnalytics() bool { return !c.Cfg.TwoControlNodes || c.Cfg.Analytics }

// AnalyticsURL is the analytics API as seen from inside ctrl.
func (c *Cluster) AnalyticsURL() string {
	return "http://" + CtrlIP + ":" + strconv.Itoa(AnalyticsPort)
}

// Collector is the collector's Sandesh address, the agents' --collectors.
func (c *Cluster) Collector() string { return CtrlIP + ":" + strconv.Itoa(CollectorPort) }

// startAnalytics runs the analytics all-in-one of the two-control-node
// mode: everything but its collector and analytics API on loopback ports
// that the lab's daemons in ctrl do not use.
func (c *Cluster) startAnalytics(ctx context.Context) error {
	lab := c.Lab
	var err error
	c.AnalyticsNode, err = c.Ctrl.Start("analytics", lab.Bin, "all-in-one",
		"--data-dir", filepath.Join(lab.Dir, "analytics-node"),
		"--listen", "127.0.0.1:18082", "--introspect", "",
		"--etcd-listen", "none", "--etcd-peer-listen", "http://127.0.0.1:12380",
		"--xmpp-listen", "127.0.0.1:15269", "--control-introspect", "", "--bgp-listen", "none",
		"--hostname", "analytics",
		"--collector-listen", c.Collector(), "--collector-introspect", "127.0.0.1:8089",
		"--analytics-listen", CtrlIP+":"+strconv.Itoa(AnalyticsPort), "--analytics-introspect", "127.0.0.1:8090",
		"--log-level", "warn")
	if err != nil {
		return err
	}
	if err := c.Ctrl.WaitTCP(ctx, c.AnalyticsNode, c.Collector()); err != nil {
		return err
	}
	return c.Ctrl.WaitHTTP(ctx, c.AnalyticsNode, c.AnalyticsURL()+"/analytics")
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	lab, ll := c.Lab, c.Cfg.LogLevel
	etcdURL := "http://" + CtrlIP + ":2379"
	apiArgs := []string{
		"--data-dir", filepath.Join(lab.Dir, "etcd"),
		"--listen", CtrlIP + ":" + strconv.Itoa(APIPort),
		"--introspect", "127.0.0.1:8084",
		"--etcd-listen", etcdURL,
		"--etcd-peer-listen", "http://127.0.0.1:2380",
		"--log-level", ll,
	}
	var err error
	if !c.Cfg.TwoControlNodes {
		args := append([]string{"all-in-one"}, apiArgs...)
		args = append(args, "--xmpp-listen", CtrlIP+":"+strconv.Itoa(XMPP), "--control-introspect", "127.0.0.1:8083",
			"--hostname", "cn1", "--bgp-listen", "none")
		if c.AllInOne, err = c.Ctrl.Start("all-in-one", lab.Bin, args...); err != nil {
			return err
		}
		if err := c.Ctrl.WaitHTTP(ctx, c.AllInOne, c.APIURL()+"/"); err != nil {
			return err
		}
		return c.Ctrl.WaitTCP(ctx, c.AllInOne, CtrlIP+":"+strconv.Itoa(XMPP))
	}
	if c.API, err = c.Ctrl.Start("api", lab.Bin, append([]string{"api"}, apiArgs...)...); err != nil {
		return err
	}
	if err := c.Ctrl.WaitHTTP(ctx, c.API, c.APIURL()+"/"); err != nil {
		return err
	}
	if c.Schema, err = c.Ctrl.Start("schema", lab.Bin, "schema", "--etcd-endpoints", etcdURL,
		"--api-url", c.APIURL(), "--introspect", "127.0.0.1:8087", "--log-level", ll); err != nil {
		return err
	}
	if c.CN1, err = c.Ctrl.Start("control-cn1", lab.Bin, "control", "--etcd-endpoints", etcdURL, "--hostname", "cn1",
		"--xmpp-listen", CtrlIP+":"+strconv.Itoa(XMPP), "--control-introspect", "127.0.0.1:8083", "--log-level", ll); err != nil {
		return err
	}
	if c.CN2, err = c.Ctrl2.Start("control-cn2", lab.Bin, "control", "--etcd-endpoints", etcdURL, "--hostname", "cn2",
		"--xmpp-listen", Ctrl2IP+":"+strconv.Itoa(XMPP), "--control-introspect", "127.0.0.1:8083", "--log-level", ll); err != nil {
		return err
	}
	if err := c.Ctrl.WaitTCP(ctx, c.CN1, CtrlIP+":"+strconv.Itoa(XMPP)); err != nil {
		return err
	}
	if err := c.Ctrl2.WaitTCP(ctx, c.CN2, Ctrl2IP+":"+strconv.Itoa(XMPP)); err != nil {
		return err
	}
	if c.Cfg.Analytics {
		return c.startAnalytics(ctx)
	}
	return nil
}

// ControlNodes is the agents' --control-nodes value.
func (c *Cluster) ControlNodes() string {
	s := CtrlIP + ":" + strconv.Itoa(XMPP)
	if c.Cfg.TwoControlNodes {
		s += "," + Ctrl2IP + ":" + strconv.Itoa(XMPP)
	}
	return s
}

// AgentArgs are the arguments of host h's agent.
func (c *Cluster) AgentArgs(h *Host) []string {
	args := []string{"vrouter-agent",
		"--hostname", h.Name,
		"--tunnel-ip", h.IP,
		"--control-nodes", c.ControlNodes(),
		"--port-api", PortAPIAddr,
		"--data-dir", h.DataDir,
		"--introspect", AgentIntrospect,
		"--log-level", c.Cfg.LogLevel,
	}
	if c.HasAnalytics() {
		args = append(args, "--collectors", c.Collector())
	}
	if c.Cfg.AgentArgs != nil {
		args = append(args, c.Cfg.AgentArgs(h.Index)...)
	}
	return args
}

// StartAgent starts host h's agent and waits for its port API.
func (c *Cluster) StartAgent(ctx context.Context, h *Host) error {
	if err := os.MkdirAll(h.DataDir, 0o755); err != nil {
		return err
	}
	var err error
	if h.Agent, err = h.Start("agent-"+h.Name, c.Lab.Bin, c.AgentArgs(h)...); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return h.WaitTCP(wctx, h.Agent, PortAPIAddr)
}

// AddVM creates the API objects of a VM port on host h, the VM namespace
// and its veth, and posts the port to h's agent. name is short (it names
// the namespace and the tap "tap<name>").
func (c *Cluster) AddVM(ctx context.Context, h *Host, projectUUID string, net Network, name, fixedIP string, sgs []string) (*VM, Port, error) {
	p, err := c.Cloud.Port(ctx, projectUUID, net, h.Name, h.VR, name, fixedIP, sgs)
	if err != nil {
		return nil, p, err
	}
	vm, err := c.Lab.NewVM(name, h.NS, p.Tap, p.MAC, VMMTU)
	if err != nil {
		return nil, p, err
	}
	if err := PortAPIAdd(ctx, h.NS, PortAPIAddr, p); err != nil {
		return vm, p, err
	}
	return vm, p, nil
}

// Diagnose writes what helps to understand a failure: the kernel state of
// every host and the end of every daemon's log.
func (c *Cluster) Diagnose(ctx context.Context, w io.Writer) {
	for _, h := range c.Hosts {
		for _, cmd := range [][]string{{"ip", "-br", "link"}, {"ip", "-s", "link", "show", "type", "vxlan"}, {"ip", "-br", "addr"}, {"ip", "rule"}, {"ip", "route", "show", "table", "all"}, {"ip", "neigh", "show", "nud", "permanent"}, {"bridge", "fdb", "show", "nud", "permanent"}, {"nft", "list", "ruleset"}} {
			out, _ := h.Run(ctx, cmd[0], cmd[1:]...)
			s := string(out)
			if len(s) > 6000 {
				s = s[:6000] + "\n...(cut)"
			}
			fmt.Fprintf(w, "--- %s: %s\n%s\n", h.Name, strings.Join(cmd, " "), s)
		}
	}
	if c.Cloud != nil {
		acls, err := c.Cloud.API.ListAll(ctx, "access-control-list", client.ListQuery{Detail: true})
		if err != nil {
			fmt.Fprintf(w, "--- access-control-lists: %v\n", err)
		}
		for _, a := range acls {
			fq := strings.Join(a.FQName(), ":")
			if strings.HasPrefix(fq, "default-domain:default-project:") {
				continue
			}
			b, _ := json.Marshal(a["access_control_list_entries"])
			if len(b) > 1500 {
				b = append(b[:1500], "...(cut)"...)
			}
			fmt.Fprintf(w, "--- acl %s: %s\n", fq, b)
		}
	}
	for _, d := range []*Daemon{c.AllInOne, c.API, c.Schema, c.CN1, c.CN2} {
		if d != nil {
			fmt.Fprintf(w, "--- log %s (last 20 lines)\n%s\n", d.Name, d.Tail(20))
		}
	}
	for _, h := range c.Hosts {
		if h.Agent != nil {
			fmt.Fprintf(w, "--- %s /Snh_AgentStatus\n%s\n", h.Name, h.Introspect(ctx, "/Snh_AgentStatus"))
			acl := h.Introspect(ctx, "/Snh_AclReq")
			if len(acl) > 4000 {
				acl = acl[:4000] + "...(cut)"
			}
			fmt.Fprintf(w, "--- %s /Snh_AclReq\n%s\n", h.Name, acl)
			fmt.Fprintf(w, "--- log %s (last 40 lines)\n%s\n", h.Agent.Name, h.Agent.Tail(40))
		}
	}
}

// Introspect returns the body of an agent introspect page of host h
// (e.g. "/Snh_AgentStatus"), or the error as text.
func (h *Host) Introspect(ctx context.Context, path string) string {
	hc := h.HTTPClient(5 * time.Second)
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+AgentIntrospect+path, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return string(b)
}
