// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/contrail-go/contrail/internal/agent/controller"
	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// Config configures an agent.
type Config struct {
	// Hostname is the agent's name: its XMPP JID and its virtual-router's
	// name (fq-name default-global-system-config:<Hostname>).
	Hostname string
	// TunnelIP is the underlay address: source of the VXLAN tunnels and
	// next hop of every published route.
	TunnelIP netip.Addr
	// UnderlayDev is the device holding TunnelIP; "" finds it.
	UnderlayDev string
	// ControlNodes are up to two control nodes, "ip:port".
	ControlNodes []string
	// Collectors are the analytics collectors of the configuration (the
	// generator that talks to them is Reporter).
	Collectors []string
	// Reporter, when set, gets what the agent reports to analytics
	// (report.go): the VrouterAgent and UveVirtualNetworkAgent UVEs, the
	// control-node connections of its NodeStatus and the flow records.
	// Nil: nothing is reported.
	Reporter *generator.Generator
	// Report is what the VrouterAgent UVE says of the configuration, and
	// how often the UVEs are recomputed.
	Report ReportConfig
	// PortAPI is the port API's listen address; "" means portapi.DefaultAddr,
	// "none" disables it. PortListener, when set, is used instead.
	PortAPI      string
	PortListener net.Listener
	// DataDir holds the port files (DataDir/ports) and the last programmed
	// dataplane state (DataDir/dataplane.json).
	DataDir string
	// NetNS is the namespace the dataplane programs; the zero value means
	// the namespace of the calling thread at New.
	NetNS netns.NsHandle
	// HoldTime of the XMPP sessions (default 90 s).
	HoldTime time.Duration
	// ReconnectMin and ReconnectMax bound the back-off between attempts to
	// reach a control node (defaults 250 ms and 5 s).
	ReconnectMin, ReconnectMax time.Duration
	// PortConfigWait is how long POST /port waits for the config of a VMI
	// it does not know yet (default 3 s).
	PortConfigWait time.Duration
	// PortProgramWait bounds how long POST /port waits for the port to be
	// programmed before answering (default 100 ms; the answer is 200
	// either way, the port is stored and programmed as soon as it can).
	PortProgramWait time.Duration
	// ConfigSettle is the config inactivity after which the config is
	// taken as complete; ConfigFallback bounds the wait when the control
	// node sends nothing at all (defaults 300 ms and 3 s).
	ConfigSettle, ConfigFallback time.Duration
	// RestoreTimeout bounds how long, once a control node is connected,
	// the dataplane keeps the state saved by the previous run while
	// waiting for its End-of-RIB (default 30 s).
	RestoreTimeout time.Duration
	// StaleTimeout is how long routes of a lost control node are kept after
	// a control node is back without having sent End-of-RIB (default 60 s).
	StaleTimeout time.Duration
	// Debounce gathers changes before a dataplane reconcile (default 2 ms).
	Debounce time.Duration
	// MetadataUpstream is the metadata server (nova: http://<host>:8775)
	// the metadata proxy for 169.254.169.254 forwards to; "" disables
	// the proxy. MetadataSecret signs X-Instance-ID; MetadataListen is
	// where the proxy listens (default 0.0.0.0:8097: on each port's own
	// gateway address).
	MetadataUpstream string
	MetadataSecret   string
	MetadataListen   netip.AddrPort
	// DNSListen is where the DNS proxy for the VMs' DNS service address
	// listens. The zero value (the default) is the direct mode: each port
	// gets its subnet's DNS service address (like the gateway) and the
	// proxy's sockets bind it, port 53, so no NAT or extra nftables
	// chain touches other traffic. An address (0.0.0.0:PORT: each port's
	// own gateway address) has VMs' queries to port 53 redirected there
	// by nftables instead. DNSUpstream lists the resolvers it forwards to
	// ("ip:port"; default: /etc/resolv.conf).
	DNSListen   netip.AddrPort
	DNSUpstream []string
	// NoDHCP, NoDNS and NoFirewall leave out the DHCP server, the DNS
	// proxy and the firewall (security groups, ACLs, floating-IP NAT).
	NoDHCP, NoDNS, NoFirewall bool
	// NoFastPath leaves out the eBPF fast path: without it every packet
	// of an established flow is routed and goes through nftables and
	// conntrack. The fast path needs the firewall (conntrack admits the
	// flows it carries).
	NoFastPath bool
	Logger     *slog.Logger
	Registry   *prometheus.Registry
}

func (c *Config) setDefaults() {
	if c.HoldTime <= 0 {
		c.HoldTime = 90 * time.Second
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = 250 * time.Millisecond
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = 5 * time.Second
	}
	if c.PortConfigWait <= 0 {
		c.PortConfigWait = 3 * time.Second
	}
	if c.PortProgramWait <= 0 {
		c.PortProgramWait = 100 * time.Millisecond
	}
	if c.ConfigSettle <= 0 {
		c.ConfigSettle = 300 * time.Millisecond
	}
	if c.ConfigFallback <= 0 {
		c.ConfigFallback = 3 * time.Second
	}
	if c.RestoreTimeout <= 0 {
		c.RestoreTimeout = 30 * time.Second
	}
	if c.StaleTimeout <= 0 {
		c.StaleTimeout = 60 * time.Second
	}
	if c.Debounce <= 0 {
		c.Debounce = 2 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if !c.MetadataListen.IsValid() {
		c.MetadataListen = netip.AddrPortFrom(netip.IPv4Unspecified(), 8097)
	}
}

// VRouterFQName is the fq-name of the agent's virtual-router.
func (c *Config) VRouterFQName() string { return "default-global-system-config:" + c.Hostname }

// Agent is the vrouter agent.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	ns    netns.NsHandle
	ownNS bool
	nl    *netlink.Handle
	dp    *dataplane.Dataplane
	store *portapi.Store
	api   *portapi.Server
	m     *metrics
	ext   extensions

	mu        sync.Mutex
	cond      *sync.Cond // broadcast on config change
	db        *configDB
	ports     map[string]*portEntry
	peers     []*peer
	cfgPeer   *peer
	cfgSince  time.Time // config subscription sent
	cfgLast   time.Time // last config message
	cfgMsgs   int
	sweepGen  uint64 // nodes older than this go once the new config peer's config settles
	stale     []map[string]map[string]xmpp.Entry
	staleAt   time.Time
	instIDs   map[string]int
	pendVMs   map[string]int // VMs of ports being validated
	started   time.Time
	restoring bool
	saved     *dataplane.State // state of the previous run, kept until synced
	views     map[string]*portView
	vcache    map[string]*cachedView
	dpStatus  dpStatus
	applied   *dataplane.State

	extPlan *dpPlan
	skipped map[string]bool // routes left out at the last plan (dp loop only)
	wantRIs int             // routing instances the ports need (last control sync)

	cpKick  chan struct{}
	dpKick  chan struct{}
	extKick chan struct{}

	// The port API's own: its netlink socket (portLinks), so that port
	// adds do not queue behind the dataplane's dumps of every link, and
	// the times of the latest port adds (burst), under addMu rather
	// than mu.
	portNL     *netlink.Handle
	portNLOnce sync.Once
	addMu      sync.Mutex
	recentAdds []time.Time
	validateMu sync.Mutex
}

// portEntry is a stored port and what became of it.
type portEntry struct {
	port       portapi.Port
	added      time.Time
	programmed time.Time // first time the dataplane had it
	state      string
}

type dpStatus struct {
	Reconciles   int       `json:"reconciles"`
	Failures     int       `json:"failures"`
	LastError    string    `json:"last_error,omitempty"`
	LastDuration string    `json:"last_duration"`
	LastAt       time.Time `json:"last_at"`
	LastChanges  int       `json:"last_changes"`
	// LastExtDuration is the time DHCP and firewall updates took after
	// the last reconcile.
	LastExtDuration string `json:"last_services_security_duration,omitempty"`
	Restoring       bool   `json:"restoring_previous_state"`
	LastFailure     string `json:"last_failure,omitempty"`
}

// New prepares an agent: it opens the port store and the dataplane.
// Run starts it.
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if cfg.Hostname == "" {
		return nil, errors.New("agent: hostname is required")
	}
	if !cfg.TunnelIP.Is4() {
		return nil, fmt.Errorf("agent: tunnel IP %v must be an IPv4 address", cfg.TunnelIP)
	}
	if len(cfg.ControlNodes) > 2 {
		return nil, fmt.Errorf("agent: at most two control nodes, got %d", len(cfg.ControlNodes))
	}
	if cfg.DataDir == "" {
		return nil, errors.New("agent: data dir is required")
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, db: newConfigDB(), ports: map[string]*portEntry{},
		instIDs: map[string]int{}, pendVMs: map[string]int{}, views: map[string]*portView{},
		vcache: map[string]*cachedView{}, extKick: make(chan struct{}, 1), cpKick: make(chan struct{}, 1), dpKick: make(chan struct{}, 1), started: time.Now()}
	a.cond = sync.NewCond(&a.mu)
	a.ns = cfg.NetNS
	if a.ns <= 0 { // the zero value (and netns.None()) mean "here"
		ns, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("agent: current network namespace: %w", err)
		}
		a.ns, a.ownNS = ns, true
	}
	var err error
	if a.nl, err = netlink.NewHandleAt(a.ns); err != nil {
		a.close()
		return nil, fmt.Errorf("agent: netlink: %w", err)
	}
	if a.cfg.UnderlayDev == "" {
		if a.cfg.UnderlayDev, err = a.findUnderlay(); err != nil {
			a.close()
			return nil, err
		}
	}
	if a.dp, err = dataplane.New(a.ns, cfg.Logger.With("component", "dataplane")); err != nil {
		a.close()
		return nil, err
	}
	if a.store, err = portapi.OpenStore(filepath.Join(cfg.DataDir, "ports"), cfg.Logger.With("component", "ports")); err != nil {
		a.close()
		return nil, err
	}
	now := time.Now()
	for _, p := range a.store.AllPorts() { // POST /port and POST /vm ports
		a.ports[p.ID] = &portEntry{port: p, added: now, state: "restored"}
		if p.Disabled {
			a.setPortLink(p) // a disabled port stays down across restarts
		}
	}
	if s, err := a.loadState(); err != nil {
		a.log.Warn("previous dataplane state not usable", "err", err)
	} else if s != nil {
		a.saved = s
	}
	a.restoring = true
	for i, addr := range cfg.ControlNodes {
		a.peers = append(a.peers, &peer{addr: addr, idx: i, a: a})
	}
	a.m = newMetrics(cfg.Registry, a)
	a.api = &portapi.Server{Store: a.store, Addr: cfg.PortAPI, Log: cfg.Logger.With("component", "portapi"),
		Validate: a.validatePort, Apply: a.applyPort, Remove: a.removePort, Added: a.portAdded,
		Describe: a.describePort, VMConfig: a.vmConfig}
	if err := a.ext.open(a); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) close() {
	a.ext.close()
	if a.dp != nil {
		a.dp.Close()
	}
	if a.nl != nil {
		a.nl.Close()
	}
	if a.portNL != nil {
		a.portNL.Close()
	}
	if a.ownNS {
		a.ns.Close()
	}
}

// findUnderlay returns the device holding the tunnel IP.
func (a *Agent) findUnderlay() (string, error) {
	addrs, err := a.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("agent: list addresses: %w", err)
	}
	for _, ad := range addrs {
		ip, _ := netip.AddrFromSlice(ad.IP.To4())
		if ip == a.cfg.TunnelIP {
			l, err := a.nl.LinkByIndex(ad.LinkIndex)
			if err != nil {
				return "", fmt.Errorf("agent: underlay device: %w", err)
			}
			return l.Attrs().Name, nil
		}
	}
	return "", fmt.Errorf("agent: no device has the tunnel IP %v", a.cfg.TunnelIP)
}

// PortServer returns the port API server (its handler serves tests).
func (a *Agent) PortServer() *portapi.Server { return a.api }

// Run runs the agent until ctx ends. Kernel state stays as it is when it
// returns: a restarted agent takes it over.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	if a.cfg.PortAPI != "none" || a.cfg.PortListener != nil {
		ln := a.cfg.PortListener
		if ln == nil {
			addr := a.cfg.PortAPI
			if addr == "" {
				addr = portapi.DefaultAddr
			}
			var lc net.ListenConfig
			var err error
			if ln, err = lc.Listen(ctx, "tcp", addr); err != nil {
				return fmt.Errorf("port API: %w", err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.api.Serve(ctx, ln); err != nil {
				select {
				case errc <- err:
				default:
				}
				cancel()
			}
		}()
	}
	a.ext.start(ctx, a)
	defer a.ext.wait()
	if a.cfg.Reporter != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.reportLoop(ctx) }()
	}
	// Take over the kernel state of a previous run at once (removes what
	// a crashed run leaked, keeps forwarding what it had).
	a.kickDP()
	for _, p := range a.peers {
		wg.Add(1)
		go func() { defer wg.Done(); a.runPeer(ctx, p) }()
	}
	if a.ext.fp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.ext.fpLoop(ctx, a) }()
	}
	wg.Add(4)
	go func() { defer wg.Done(); a.extLoop(ctx) }()
	go func() { defer wg.Done(); a.cpLoop(ctx) }()
	go func() { defer wg.Done(); a.dpLoop(ctx) }()
	go func() { defer wg.Done(); a.timerLoop(ctx) }()
	<-ctx.Done()
	a.mu.Lock()
	a.cond.Broadcast()
	a.mu.Unlock()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return nil
}

func (a *Agent) kickCP() {
	select {
	case a.cpKick <- struct{}{}:
	default:
	}
}

func (a *Agent) kickDP() {
	select {
	case a.dpKick <- struct{}{}:
	default:
	}
}

func (a *Agent) kick() { a.kickCP(); a.kickDP() }

// timerLoop drives the time-based transitions: config settled, stale
// routes expired, restore mode ended.
func (a *Agent) timerLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		changed := false
		if a.sweepGen > 0 && a.configSyncedLocked() {
			if n := a.db.sweep(a.sweepGen); n > 0 {
				a.log.Info("config not resent by the new config peer removed", "objects", n)
			}
			a.sweepGen = 0
			changed = true
		}
		if len(a.stale) > 0 && !a.staleAt.IsZero() && time.Since(a.staleAt) > a.cfg.StaleTimeout && a.anyPeerUpLocked() {
			a.log.Info("stale routes of lost control nodes removed (no End-of-RIB in time)")
			a.stale, a.staleAt = nil, time.Time{}
			changed = true
		}
		if a.restoring && a.syncedLocked() {
			changed = true
		}
		if changed {
			a.cond.Broadcast()
		}
		a.mu.Unlock()
		if changed {
			a.kick()
		}
	}
}

// configSyncedLocked reports whether the config peer's config is complete
// as far as the agent can tell.
func (a *Agent) configSyncedLocked() bool {
	if a.cfgPeer == nil || a.cfgSince.IsZero() {
		return false
	}
	if a.cfgMsgs > 0 && time.Since(a.cfgLast) >= a.cfg.ConfigSettle {
		return true
	}
	return time.Since(a.cfgSince) >= a.cfg.ConfigFallback
}

// syncedLocked reports whether config and routes are complete enough to
// replace the state saved by the previous run: the config peer's config
// is complete and a control node has sent End-of-RIB, or has been up for
// RestoreTimeout without sending it. With no control node it never is: a
// headless agent restarted keeps forwarding what it had.
func (a *Agent) syncedLocked() bool {
	if !a.configSyncedLocked() {
		return false
	}
	for _, p := range a.peers {
		// A session with no instance to subscribe to has nothing to
		// wait for (the control node sends End-of-RIB only after
		// subscriptions).
		if p.up && (p.eor || a.wantRIs == 0 || time.Since(p.since) > a.cfg.RestoreTimeout) {
			return true
		}
	}
	return false
}

func (a *Agent) anyPeerUpLocked() bool {
	for _, p := range a.peers {
		if p.up {
			return true
		}
	}
	return false
}

// --- port API hooks ---

func (a *Agent) validatePort(p portapi.Port) error {
	if p.Type != portapi.TypeRemote {
		l, err := a.portLinks().LinkByName(p.SystemName)
		if err != nil {
			return fmt.Errorf("%w: system-name: device %q does not exist on this host", portapi.ErrBadRequest, p.SystemName)
		}
		// Bring the device up now: the kernel may take up to a second to
		// start passing traffic on a link that just came up, and that
		// runs in parallel with the rest of the programming. A port
		// added disabled is set down by applyPort.
		if l.Attrs().Flags&net.FlagUp == 0 && !p.Disabled {
			_ = a.portLinks().LinkSetUp(l)
		}
	}
	check := func(vmi *model.Object) error {
		if vmi.Type != "virtual-machine-interface" {
			return fmt.Errorf("%w: id: %s is a %s, not a virtual-machine-interface", portapi.ErrBadRequest, p.ID, vmi.Type)
		}
		if p.VNID != "" {
			for _, r := range vmi.Refs["virtual_network_refs"] {
				if r.UUID != "" && r.UUID != p.VNID {
					return fmt.Errorf("%w: vn-id: %s is not the network of virtual-machine-interface %s (%s)",
						portapi.ErrBadRequest, p.VNID, p.ID, r.UUID)
				}
			}
		}
		return nil
	}
	// One validation at a time takes the agent's lock: concurrent port
	// adds would otherwise pile up on it with the dataplane and control
	// loops (a lock convoy on a busy host). Only the wait for a VMI's
	// config, below, runs without this order.
	a.validateMu.Lock()
	a.mu.Lock()
	if !a.anyPeerUpLocked() {
		a.mu.Unlock()
		a.validateMu.Unlock()
		// Headless: no config can come; accept the port, as the
		// original does, and program it when its config arrives.
		a.log.Info("port accepted while no control node is connected", "port", p.ID)
		return nil
	}
	// The usual case, the VMI's config is here: no need to subscribe to
	// the VM's config ahead of the port, nor to wait.
	if vmi := a.db.getUUID(p.ID); vmi != nil {
		err := check(vmi)
		a.mu.Unlock()
		a.validateMu.Unlock()
		return err
	}
	a.validateMu.Unlock()
	defer a.mu.Unlock()
	a.pendVMs[p.InstanceID]++
	defer func() {
		if a.pendVMs[p.InstanceID]--; a.pendVMs[p.InstanceID] <= 0 {
			delete(a.pendVMs, p.InstanceID)
		}
	}()
	a.kickCP()
	deadline := time.Now().Add(a.cfg.PortConfigWait)
	stop := time.AfterFunc(a.cfg.PortConfigWait, func() { a.mu.Lock(); a.cond.Broadcast(); a.mu.Unlock() })
	defer stop.Stop()
	for {
		if vmi := a.db.getUUID(p.ID); vmi != nil {
			return check(vmi)
		}
		if time.Now().After(deadline) {
			if a.cfgPeer != nil && a.configSyncedLocked() {
				return fmt.Errorf("%w: id: virtual-machine-interface %s is not in the config of virtual-router %s",
					portapi.ErrBadRequest, p.ID, a.cfg.Hostname)
			}
			// No control node, or its config is not complete: accept the
			// port as the original does; it is programmed when its config
			// arrives.
			a.log.Info("port accepted before its config", "port", p.ID)
			return nil
		}
		a.cond.Wait()
	}
}

func (a *Agent) applyPort(p portapi.Port) error {
	a.mu.Lock()
	e := a.ports[p.ID]
	wasDisabled := e != nil && e.port.Disabled
	if e == nil || !reflect.DeepEqual(e.port, p) {
		a.ports[p.ID] = &portEntry{port: p, added: time.Now(), state: "added"}
	}
	a.mu.Unlock()
	a.addMu.Lock()
	a.recentAdds = append(a.recentAdds, time.Now())
	a.addMu.Unlock()
	if p.Disabled || wasDisabled {
		a.setPortLink(p) // PUT /disable-port, /enable-port, or a port added disabled
	}
	a.m.portAdds.Inc()
	a.kick()
	return nil
}

// burst reports whether ports are being added in a burst: more than
// burstAdds in the last burstWindow. It forgets older adds.
func (a *Agent) burst(now time.Time) bool {
	a.addMu.Lock()
	defer a.addMu.Unlock()
	i := 0
	for i < len(a.recentAdds) && now.Sub(a.recentAdds[i]) > burstWindow {
		i++
	}
	a.recentAdds = a.recentAdds[i:]
	return len(a.recentAdds) > burstAdds
}

// A burst of port adds: more than burstAdds in burstWindow. Adds in a
// burst are answered without waiting for the dataplane (see portAdded).
const (
	burstAdds   = 4
	burstWindow = 250 * time.Millisecond
)

// portAdded holds the answer to a port add until the dataplane has
// processed the port (programmed it, or found why not), at most
// PortProgramWait: a VM that starts talking when its port add returns
// then finds its port ready (an unanswered first ARP costs it a second).
func (a *Agent) portAdded(ctx context.Context, p portapi.Port) {
	// In a burst of adds nobody waits: the answers would only be spaced
	// by reconciles, and the orchestrator's parallel adds with them (8
	// clients waiting for one reconcile each add at most 8 ports per
	// reconcile). A burst is told by the recent rate of adds, not by the
	// ports still pending, which a fast reconcile keeps low (and which
	// took a scan of every port per add).
	if a.burst(time.Now()) {
		return
	}
	deadline := time.Now().Add(a.cfg.PortProgramWait)
	stop := time.AfterFunc(a.cfg.PortProgramWait, func() { a.mu.Lock(); a.cond.Broadcast(); a.mu.Unlock() })
	defer stop.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		e := a.ports[p.ID]
		if e == nil || e.port != p {
			return
		}
		waiting := e.state == "added" || strings.HasPrefix(e.state, "restoring") || (e.state == "active" && e.programmed.IsZero())
		if !waiting {
			return // programmed, or waiting for something else (config)
		}
		a.cond.Wait()
	}
}

func (a *Agent) removePort(p portapi.Port) error {
	a.mu.Lock()
	delete(a.ports, p.ID)
	a.mu.Unlock()
	a.kick()
	return nil
}

// --- saved dataplane state ---

func (a *Agent) statePath() string { return filepath.Join(a.cfg.DataDir, "dataplane.json") }

func (a *Agent) loadState() (*dataplane.State, error) {
	b, err := os.ReadFile(a.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s dataplane.State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", a.statePath(), err)
	}
	return &s, nil
}

func (a *Agent) saveState(s *dataplane.State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := a.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, a.statePath())
}

// --- control node sessions ---

// peer is one control node.
type peer struct {
	a    *Agent
	addr string
	idx  int

	// Guarded by a.mu.
	client    *controller.Client
	up        bool
	eor       bool // End-of-RIB received in this session
	since     time.Time
	flaps     int
	lastErr   string
	routes    map[string]map[string]xmpp.Entry // items node -> item id -> entry
	subs      map[string]int                   // routing instances subscribed in this session
	published map[string]map[string]wantRoute  // instance -> publish node -> route
	vms       map[string]bool                  // VMs config-subscribed
	cfgSub    bool
	eorSent   bool
	rxUpdates int64
	badRoutes int64
}

type peerHandler struct{ p *peer }

func (h peerHandler) Update(u *xmpp.Update) { h.p.a.onUpdate(h.p, u) }
func (h peerHandler) Config(c *xmpp.Config) { h.p.a.onConfig(h.p, c) }

func (a *Agent) runPeer(ctx context.Context, p *peer) {
	backoff := a.cfg.ReconnectMin
	for ctx.Err() == nil {
		c, err := controller.Dial(ctx, controller.Config{Server: p.addr, Name: a.cfg.Hostname, HoldTime: a.cfg.HoldTime,
			DialTimeout: 5 * time.Second, Logger: a.log}, peerHandler{p})
		if err != nil {
			a.mu.Lock()
			p.lastErr = err.Error()
			a.mu.Unlock()
			a.log.Debug("control node unreachable", "control_node", p.addr, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, a.cfg.ReconnectMax)
			continue
		}
		backoff = a.cfg.ReconnectMin
		a.peerUp(p, c)
		select {
		case <-c.Done():
		case <-ctx.Done():
			c.Close()
		}
		a.peerDown(p, c)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.ReconnectMin):
		}
	}
}

func (a *Agent) peerUp(p *peer, c *controller.Client) {
	a.mu.Lock()
	p.client, p.up, p.eor, p.since = c, true, false, time.Now()
	p.routes = map[string]map[string]xmpp.Entry{}
	p.subs = map[string]int{}
	p.published = map[string]map[string]wantRoute{}
	p.vms = map[string]bool{}
	p.cfgSub, p.eorSent = false, false
	if a.cfgPeer == nil {
		a.setConfigPeerLocked(p)
	}
	if len(a.stale) > 0 {
		a.staleAt = time.Now()
	}
	a.mu.Unlock()
	a.m.peerUps.Inc()
	a.log.Info("control node connected", "control_node", p.addr)
	a.kick()
}

func (a *Agent) setConfigPeerLocked(p *peer) {
	a.cfgPeer = p
	a.cfgSince, a.cfgLast, a.cfgMsgs = time.Time{}, time.Time{}, 0
	if len(a.db.nodes) > 0 {
		// The new peer resends the whole subgraph; what it does not
		// resend is gone once its config settles.
		a.sweepGen = a.db.gen + 1
	}
}

func (a *Agent) peerDown(p *peer, c *controller.Client) {
	a.mu.Lock()
	if p.client != c {
		a.mu.Unlock()
		return
	}
	var err error
	if c != nil {
		err = c.Err()
	}
	p.client, p.up = nil, false
	p.flaps++
	if err != nil {
		p.lastErr = err.Error()
	}
	// Routes of the lost session stay (stale) unless another control node
	// has already sent its whole table.
	otherSynced := false
	for _, o := range a.peers {
		if o != p && o.up && o.eor {
			otherSynced = true
		}
	}
	if !otherSynced && len(p.routes) > 0 {
		a.stale = append(a.stale, p.routes)
	}
	p.routes = nil
	if a.cfgPeer == p {
		a.cfgPeer = nil
		for _, o := range a.peers {
			if o.up {
				a.setConfigPeerLocked(o)
				break
			}
		}
	}
	a.mu.Unlock()
	a.log.Warn("control node connection lost", "control_node", p.addr, "err", err)
	a.kick()
}

func (a *Agent) onConfig(p *peer, c *xmpp.Config) {
	a.mu.Lock()
	if a.cfgPeer != p {
		a.mu.Unlock()
		return
	}
	n := a.db.apply(c)
	a.cfgMsgs++
	a.cfgLast = time.Now()
	a.cond.Broadcast()
	a.mu.Unlock()
	a.m.configObjects.Add(float64(n))
	a.kick()
}

func (a *Agent) onUpdate(p *peer, u *xmpp.Update) {
	a.mu.Lock()
	p.rxUpdates++
	if u.IsEndOfRib() {
		p.eor = true
		if len(a.stale) > 0 {
			a.log.Info("End-of-RIB from control node: stale routes removed", "control_node", p.addr)
		}
		a.stale, a.staleAt = nil, time.Time{}
		a.mu.Unlock()
		a.kick()
		return
	}
	_, inst, err := xmpp.ParseItemsNode(u.Node)
	if err != nil {
		p.badRoutes++
		a.mu.Unlock()
		a.log.Warn("route update with a bad node skipped", "control_node", p.addr, "node", u.Node, "err", err)
		return
	}
	if _, ok := p.subs[inst]; !ok || p.routes == nil {
		p.badRoutes++
		a.mu.Unlock()
		a.log.Warn("route update for an instance not subscribed skipped", "control_node", p.addr, "instance", inst)
		return
	}
	m := p.routes[u.Node]
	if m == nil {
		m = map[string]xmpp.Entry{}
		p.routes[u.Node] = m
	}
	for _, it := range u.Items {
		if it.Entry == nil {
			continue
		}
		m[it.ID] = it.Entry
	}
	for _, id := range u.Retracts {
		delete(m, id)
	}
	a.mu.Unlock()
	a.m.routeUpdates.Inc()
	a.kickDP()
}
