// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/agent/services/dhcpclient"
	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/control"
	"github.com/contrail-go/contrail/internal/rib"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/testutil/apitest"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/contrail-go/contrail/internal/transformer"
	"github.com/contrail-go/contrail/pkg/client"
)

// cluster is a config API and a control node on one etcd, as the
// orchestrator and the agents see them.
type cluster struct {
	t     testing.TB
	st    *store.Store
	api   *client.Client
	ctl   *control.Server
	addr  string
	first *ctlNode
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	st := etcdtest.Start(t)
	_, apiURL := apitest.Start(t, st, apiserver.Config{})
	c := &cluster{t: t, st: st, api: client.New(apiURL)}
	c.first = c.startControl("127.0.0.1:0")
	return c
}

// ctlNode is a control node of the cluster.
type ctlNode struct {
	srv  *control.Server
	addr string
	stop func()
}

// startControl runs a control node on addr until stop (or the test's end);
// the first one started is c.ctl.
func (c *cluster) startControl(addr string) *ctlNode {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctl := control.New(c.st, control.Config{XMPPListen: addr, HoldTime: 3 * time.Second, EndOfRibDelay: 50 * time.Millisecond, StartupEndOfRibDelay: time.Second, BGPListen: "none",
		GracefulRestart: 30 * time.Second})
	done := make(chan error, 1)
	go func() { done <- ctl.Start(ctx) }()
	select {
	case <-ctl.Ready():
	case err := <-done:
		c.t.Fatalf("control node: %v", err)
	}
	stopped := false
	n := &ctlNode{srv: ctl, addr: ctl.Addr().String()}
	n.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	c.t.Cleanup(n.stop)
	if c.ctl == nil {
		c.ctl, c.addr = ctl, n.addr
	}
	return n
}

func (c *cluster) create(typ string, obj client.Object) client.Object {
	c.t.Helper()
	o, err := c.api.Create(context.Background(), typ, obj)
	if err != nil {
		c.t.Fatalf("create %s: %v", typ, err)
	}
	o, err = c.api.Read(context.Background(), typ, o.UUID())
	if err != nil {
		c.t.Fatalf("read %s: %v", typ, err)
	}
	return o
}

func (c *cluster) network(name, cidr string) client.Object {
	p := netip.MustParsePrefix(cidr)
	return c.create("virtual-network", client.Object{
		"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to": []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
				"subnet": map[string]any{"ip_prefix": p.Addr().String(), "ip_prefix_len": p.Bits()}}}},
		}},
	})
}

// vmPort is a VM with one interface as the orchestrator creates it.
type vmPort struct {
	vm, vmi, vn string
	ip, mac     string
	tap         string
	box         *nstest.NS
}

func (c *cluster) vmPort(host, name string, vn client.Object) *vmPort {
	c.t.Helper()
	p, vmi := c.vmObjects(name, vn)
	p.ip = c.instanceIP(name+"-ip", "", vn, vmi)
	c.routerRef(host, p.vm)
	return p
}

// vmObjects creates a VM and its interface in vn; the port has no
// address yet.
func (c *cluster) vmObjects(name string, vn client.Object) (*vmPort, client.Object) {
	c.t.Helper()
	vm := c.create("virtual-machine", client.Object{"fq_name": []string{name}})
	vmi := c.create("virtual-machine-interface", client.Object{
		"fq_name": []string{"default-domain", "default-project", name + "-eth0"}, "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": vn.UUID()}},
		"virtual_machine_refs": []any{map[string]any{"uuid": vm.UUID()}},
	})
	p := &vmPort{vm: vm.UUID(), vmi: vmi.UUID(), vn: vn.UUID(), tap: "tap" + name}
	macs, _ := vmi.Get("virtual_machine_interface_mac_addresses", "mac_address").([]any)
	if len(macs) > 0 {
		p.mac, _ = macs[0].(string)
	}
	return p, vmi
}

// instanceIP gives vmi an address of vn in family ("v4", "v6"; "" for
// the default) and returns it.
func (c *cluster) instanceIP(name, family string, vn, vmi client.Object) string {
	c.t.Helper()
	o := client.Object{"fq_name": []string{name},
		"virtual_network_refs":           []any{map[string]any{"uuid": vn.UUID()}},
		"virtual_machine_interface_refs": []any{map[string]any{"uuid": vmi.UUID()}}}
	if family != "" {
		o["instance_ip_family"] = family
	}
	return c.create("instance-ip", o).GetString("instance_ip_address")
}

// routerRef makes the virtual-router of host refer to the VM vm, as for
// the VMs of its host.
func (c *cluster) routerRef(host, vm string) {
	c.t.Helper()
	vr, err := c.api.ReadByFQName(context.Background(), "virtual-router", []string{"default-global-system-config", host})
	if err != nil {
		c.t.Fatalf("virtual-router %s: %v", host, err)
	}
	if err := c.api.RefUpdate(context.Background(), "virtual-router", vr.UUID(), "virtual-machine", vm, client.RefAdd, nil); err != nil {
		c.t.Fatalf("virtual-router ref: %v", err)
	}
}

// host is a compute host namespace with a running agent.
type host struct {
	name    string
	box     *nstest.NS
	ip      string
	agent   *Agent
	portURL string
	meta    string // metadata upstream, "" for none
	cancel  func()
	done    chan error
}

func (c *cluster) host(name, ip string, underlay *nstest.NS, dataDir string) *host {
	c.t.Helper()
	c.create("virtual-router", client.Object{
		"fq_name": []string{"default-global-system-config", name}, "parent_type": "global-system-config",
		"virtual_router_ip_address": ip,
	})
	return &host{name: name, box: underlay, ip: ip}
}

// twoHosts makes the hosts host1 (192.0.2.1) and host2 (192.0.2.2),
// their namespaces joined by the underlay veth u1 -- u2.
func (c *cluster) twoHosts() (h1, h2 *host) {
	c.t.Helper()
	h1b, h2b := nstest.New(c.t, "host1"), nstest.New(c.t, "host2")
	h1b.Veth(c.t, "u1", "192.0.2.1/24", h2b, "u2", "192.0.2.2/24")
	return c.host("host1", "192.0.2.1", h1b, ""), c.host("host2", "192.0.2.2", h2b, "")
}

// oneHost makes the host name with the tunnel address ip on an underlay
// veth to a namespace of its own.
func (c *cluster) oneHost(name, ip string) *host {
	c.t.Helper()
	hb, peer := nstest.New(c.t, name), nstest.New(c.t, name+"-underlay")
	hb.Pair(c.t, "u1", peer, "u2", 0)
	hb.Up(c.t, "u1", ip+"/24")
	return c.host(name, ip, hb, "")
}

// startTransformer runs the schema transformer until the test ends.
func (c *cluster) startTransformer() {
	c.t.Helper()
	tr, err := transformer.New(transformer.Config{APIURL: c.api.BaseURL(), Store: c.st, LeaseTTL: 2 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	c.t.Cleanup(func() { cancel(); <-done })
}

// waitSynced waits until the agent of h has the whole config.
func (h *host) waitSynced(t testing.TB) {
	t.Helper()
	waitFor(t, h.name+" synced", 10*time.Second, func() bool { return h.agent.Status().ConfigSynced })
}

// addPortOK adds port to h; it must be accepted.
func (h *host) addPortOK(t testing.TB, port portapi.Port) {
	t.Helper()
	if code, body := h.addPort(t, port); code != 200 {
		t.Fatalf("add port %s: %d %s", port.SystemName, code, body)
	}
}

func (h *host) start(t testing.TB, controlNodes []string, dataDir string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t, h.name}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(Config{NoFastPath: os.Getenv("AGENT_TEST_NOFP") != "", Hostname: h.name, TunnelIP: netip.MustParseAddr(h.ip), ControlNodes: controlNodes,
		PortListener: ln, DataDir: dataDir, NetNS: h.box.NS, HoldTime: 3 * time.Second,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, PortConfigWait: 2 * time.Second,
		RestoreTimeout: 10 * time.Second, Logger: log, NoDHCP: os.Getenv("AGENT_NO_DHCP") != "", NoFirewall: os.Getenv("AGENT_NO_FIREWALL") != "",
		MetadataUpstream: h.meta, MetadataSecret: "s3cret"})
	if err != nil {
		t.Fatalf("agent %s: %v", h.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	h.agent, h.portURL, h.cancel, h.done = a, "http://"+ln.Addr().String(), cancel, done
	t.Cleanup(h.stop)
}

func (h *host) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

type testWriter struct {
	t    testing.TB
	name string
}

func (w testWriter) Write(b []byte) (int, error) {
	if os.Getenv("AGENT_TEST_LOG") != "" {
		w.t.Logf("%s: %s", w.name, strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

// addPort posts a port and returns the status and body.
func (h *host) addPort(t testing.TB, body any) (int, string) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	resp, err := http.Post(h.portURL+"/port", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST /port: %v", err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

func portJSON(p *vmPort) portapi.Port {
	return portapi.Port{ID: p.vmi, InstanceID: p.vm, VNID: p.vn, DisplayName: p.tap, IPAddress: p.ip,
		Type: portapi.TypeNamespace, SystemName: p.tap, MACAddress: p.mac, RxVLANID: -1, TxVLANID: -1}
}

// portJSON6 is portJSON with the IPv6 address ip6.
func portJSON6(p *vmPort, ip6 string) portapi.Port {
	pj := portJSON(p)
	pj.IP6Address = ip6
	return pj
}

// vmLink creates the VM's namespace and its veth eth0 to the host, with
// the port's MAC.
func vmLink(t testing.TB, h *host, p *vmPort, name string) {
	t.Helper()
	p.box = nstest.New(t, name)
	p.box.Pair(t, "eth0", h.box, p.tap, 1400)
	p.box.SetMAC(t, "eth0", p.mac)
}

// vmUp sets eth0 of the VM up with p.ip/24 and a default route via gw
// (neither when p.ip is "", no route when gw is ""); the VM answers UDP
// on nstest.EchoPort with its name.
func vmUp(t testing.TB, p *vmPort, gw string) {
	t.Helper()
	if p.ip != "" {
		p.box.Addr(t, "eth0", p.ip+"/24")
	}
	p.box.LinkUp(t, "eth0")
	if p.ip != "" && gw != "" {
		p.box.DefaultVia(t, gw)
	}
	p.box.UDPEcho(t, p.box.Name)
}

// vmBox creates the VM's namespace, its veth to the host and its IPv4
// address and default route.
func vmBox(t testing.TB, h *host, p *vmPort, name, gw string) {
	t.Helper()
	vmLink(t, h, p, name)
	vmUp(t, p, gw)
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoHostsOverControlNodes runs two agents, each in its own host
// namespace, against two real control nodes and the API: ports added as
// the orchestrator does are published, the routes are installed, the VMs
// reach each other across hosts; bad port adds are refused. Then, with
// traffic checked all along: one control node goes and the agents carry
// on (a port added meanwhile works); an agent restarts, cleaning up what
// a crashed run leaked; the second control node goes (headless: kernel
// state kept); a control node comes back and the agents resync.
func TestTwoHostsOverControlNodes(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	cn1 := c.first
	cn2 := c.startControl("127.0.0.1:0")
	vn := c.network("vn1", "10.1.1.0/24")
	vni, _ := vn.GetInt("virtual_network_network_id")
	ri := "default-domain:default-project:vn1:vn1"
	tbl := dataplane.TableForVNI(uint32(vni))
	vx := dataplane.DeviceName(uint32(vni))

	h1, h2 := c.twoHosts()
	h1b, h2b := h1.box, h2.box
	p1 := c.vmPort("host1", "vm1", vn)
	p2 := c.vmPort("host2", "vm2", vn)
	p3 := c.vmPort("host1", "vm3", vn)
	gw := "10.1.1.254"
	vmBox(t, h1, p1, "vm1", gw)
	vmBox(t, h2, p2, "vm2", gw)
	vmBox(t, h1, p3, "vm3", gw)

	cns := []string{cn1.addr, cn2.addr}
	dir1 := t.TempDir()
	h1.start(t, cns, dir1)
	h2.start(t, cns, t.TempDir())
	waitFor(t, "both agents connected and synced", 10*time.Second, func() bool {
		return h1.agent.Status().ConfigSynced && h2.agent.Status().ConfigSynced
	})

	// Bad input: nothing stored, nothing programmed.
	bad := portJSON(p1)
	bad.SystemName = "tapnothere"
	if code, body := h1.addPort(t, bad); code != 400 || !strings.Contains(body, "does not exist") {
		t.Errorf("missing tap: %d %s", code, body)
	}
	bad = portJSON(p1)
	bad.MACAddress = "zz:00"
	if code, body := h1.addPort(t, bad); code != 400 || !strings.Contains(body, "mac-address") {
		t.Errorf("bad MAC: %d %s", code, body)
	}
	if code, body := h1.addPort(t, `{"id": "`); code != 400 {
		t.Errorf("bad JSON: %d %s", code, body)
	}
	bad = portJSON(p1)
	bad.ID = "11111111-2222-3333-4444-555555555555"
	if code, body := h1.addPort(t, bad); code != 400 || !strings.Contains(body, "not in the config") {
		t.Errorf("unknown VMI: %d %s", code, body)
	}
	bad = portJSON(p1)
	bad.VNID = p1.vm
	if code, body := h1.addPort(t, bad); code != 400 || !strings.Contains(body, "vn-id") {
		t.Errorf("wrong network: %d %s", code, body)
	}
	if n := len(h1.agent.store.List()); n != 0 {
		t.Fatalf("refused ports were stored: %d", n)
	}
	if len(h1.agent.Interfaces()) != 0 || hasRoute(t, h1b, tbl, p1.ip+"/32", "") {
		t.Fatal("a refused port was programmed")
	}

	start := time.Now()
	h1.addPortOK(t, portJSON(p1))
	h2.addPortOK(t, portJSON(p2))
	pr12 := p1.box.Prober(t, p2.ip)
	if _, ok := pr12.Until("vm2", 10*time.Second, 50*time.Millisecond); !ok {
		t.Fatalf("vm1 -> vm2 across hosts: no answer\nhost1:\n%s\nhost2:\n%s", h1b.Dump(), h2b.Dump())
	}
	t.Logf("two port adds -> vm1 reaches vm2: %v", time.Since(start))
	pr21 := p2.box.Prober(t, p1.ip)
	if _, ok := pr21.Until("vm1", 5*time.Second, 50*time.Millisecond); !ok {
		t.Fatal("vm2 -> vm1: no answer")
	}

	// The VM gets its address from the agent's DHCP server.
	if os.Getenv("AGENT_NO_DHCP") == "" {
		var lease dhcpclient.Lease
		err := p1.box.In(func() (err error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			lease, err = dhcpclient.Acquire(ctx, "eth0")
			return err
		})
		if err != nil || lease.Addr.String() != p1.ip+"/24" || lease.Gateway.String() != gw {
			t.Errorf("DHCP on vm1: %v %+v", err, lease)
		}
	}

	// Both control nodes have both routes with the tunnel endpoints, the
	// VNI as label and vxlan encapsulation.
	for _, cn := range []*ctlNode{cn1, cn2} {
		waitFor(t, "routes in control node "+cn.addr, 5*time.Second, func() bool {
			rs, _ := cn.srv.Routes(context.Background(), ri, rib.Inet)
			return len(rs) == 2
		})
		routes, err := cn.srv.Routes(context.Background(), ri, rib.Inet)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]control.PathView{}
		for _, r := range routes {
			if len(r.Paths) > 0 {
				got[r.Prefix] = r.Paths[0]
			}
		}
		for _, w := range []struct{ ip, nh string }{{p1.ip, "192.0.2.1"}, {p2.ip, "192.0.2.2"}} {
			pv, ok := got[w.ip+"/32"]
			if !ok || pv.NextHop != w.nh || int64(pv.Label) != vni || len(pv.Encap) == 0 || pv.Encap[0] != "vxlan" ||
				pv.VirtualNetwork != "default-domain:default-project:vn1" {
				t.Errorf("control node %s route %s: %+v", cn.addr, w.ip, pv)
			}
		}
	}
	if !hasRoute(t, h1b, tbl, p2.ip+"/32", vx) {
		t.Errorf("host1 table %d has no route to %s via %s\n%s", tbl, p2.ip, vx, h1b.Dump())
	}

	phase := func(name string) {
		if os.Getenv("AGENT_TEST_LOG") != "" {
			fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), name)
		}
	}
	if _, err := h1.agent.ext.flowRecords(context.Background()); err != nil {
		t.Errorf("flow records: %v", err)
	}
	// From here on, traffic between vm1 and vm2 is checked all along.
	lost := watchTraffic(pr21, "vm1")

	// One control node goes: the agents carry on with the other, and a
	// port added meanwhile is published and reachable.
	phase("cn1.stop()")
	cn1.stop()
	waitFor(t, "agents on one control node", 10*time.Second, func() bool {
		for _, h := range []*host{h1, h2} {
			up := 0
			for _, cs := range h.agent.Connections() {
				if cs.State == "Established" {
					up++
				}
			}
			if up != 1 || h.agent.Status().Headless {
				return false
			}
		}
		return true
	})
	start = time.Now()
	h1.addPortOK(t, portJSON(p3))
	pr32 := p3.box.Prober(t, p2.ip)
	if _, ok := pr32.Until("vm2", 10*time.Second, 10*time.Millisecond); !ok {
		t.Fatal("vm3 -> vm2: no answer")
	}
	t.Logf("port add -> vm3 reaches vm2 on the other host: %v", time.Since(start))
	pr31 := p3.box.Prober(t, p1.ip)
	if _, ok := pr31.Until("vm1", 5*time.Second, 50*time.Millisecond); !ok {
		t.Fatal("vm3 -> vm1 on the same host: no answer")
	}
	for _, it := range h1.agent.Interfaces() {
		if it.Active != "Active" {
			t.Errorf("interface %s: %s (%s)", it.Name, it.Active, it.State)
		} else {
			t.Logf("interface %s programmed %s after its add", it.Name, it.ProgrammedIn)
		}
	}

	// The agent of host1 stops (its kernel state stays, as after a crash),
	// something leaks meanwhile, and a new agent takes over from the same
	// data dir: the leak goes, the ports come back, traffic never stops.
	phase("h1.stop()")
	h1.stop()
	leak := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "vx999"}, VxlanId: 999, Port: 4789}
	if err := h1b.H.LinkAdd(leak); err != nil {
		t.Fatal(err)
	}
	phase("h1.start(t, cns, dir1)")
	h1.start(t, cns, dir1)
	waitFor(t, "restarted agent synced with its ports", 15*time.Second, func() bool {
		st := h1.agent.Status()
		return st.ConfigSynced && !st.Dataplane.Restoring && st.Active == 2
	})
	if _, err := h1b.H.LinkByName("vx999"); err == nil {
		t.Error("the leaked device vx999 survived the restart")
	}
	if _, ok := pr31.Until("vm1", 5*time.Second, 50*time.Millisecond); !ok {
		t.Fatal("vm3 -> vm1 after the agent restart: no answer")
	}

	// The second control node goes too: headless, forwarding goes on.
	phase("cn2.stop()")
	cn2.stop()
	waitFor(t, "agents headless", 10*time.Second, func() bool {
		return h1.agent.Status().Headless && h2.agent.Status().Headless
	})
	time.Sleep(time.Second)
	if !hasRoute(t, h1b, tbl, p2.ip+"/32", vx) || !hasRoute(t, h2b, tbl, p3.ip+"/32", vx) {
		t.Errorf("headless hosts lost routes\nhost1:\n%s", h1b.Dump())
	}
	if got := pr32.Once(time.Second); got != "vm2" {
		t.Errorf("headless vm3 -> vm2 answered %q", got)
	}

	// The agent of host1 restarts while headless: it keeps the saved
	// state (no config can come) and traffic goes on.
	phase("headless restart")
	h1.stop()
	h1.start(t, cns, dir1)
	time.Sleep(500 * time.Millisecond)
	if st := h1.agent.Status(); !st.Dataplane.Restoring || st.Ports != 2 {
		t.Errorf("headless restart: %+v", st)
	}
	if !hasRoute(t, h1b, tbl, p2.ip+"/32", vx) {
		t.Errorf("headless restart lost the route to vm2\n%s", h1b.Dump())
	}

	// A control node comes back at its address: the agents resubscribe,
	// republish, and drop the stale routes after its End-of-RIB.
	phase("cn1 = c.startControl(cn1.addr)")
	cn1 = c.startControl(cn1.addr)
	waitFor(t, "agents resynced", 15*time.Second, func() bool {
		for _, h := range []*host{h1, h2} {
			st := h.agent.Status()
			if st.Headless || st.StaleTables != 0 {
				return false
			}
			for _, cs := range h.agent.Connections() {
				if cs.ControllerIP == cn1.addr && (cs.State != "Established" || !cs.EndOfRib) {
					return false
				}
			}
		}
		return true
	})
	waitFor(t, "restarted agent out of restore mode", 10*time.Second, func() bool {
		st := h1.agent.Status()
		return !st.Dataplane.Restoring && st.Active == 2
	})
	waitFor(t, "routes back in the control node", 10*time.Second, func() bool {
		rs, _ := cn1.srv.Routes(context.Background(), ri, rib.Inet)
		return len(rs) == 3
	})
	time.Sleep(300 * time.Millisecond)
	if n, total := lost(); n > 0 {
		t.Errorf("%d of %d probes vm2 -> vm1 lost while control nodes and an agent came and went", n, total)
	} else {
		t.Logf("%d probes vm2 -> vm1, none lost", total)
	}
	if !hasRoute(t, h1b, tbl, p2.ip+"/32", vx) {
		t.Error("host1 lost the route to vm2 after the resync")
	}

	// Port delete withdraws its route everywhere.
	req, _ := http.NewRequest(http.MethodDelete, h2.portURL+"/port/"+p2.vmi, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete port: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, "route of the deleted port gone from host1", 10*time.Second, func() bool {
		return !hasRoute(t, h1b, tbl, p2.ip+"/32", "")
	})
}

// watchTraffic probes every 50 ms until the returned function is called,
// which stops it and returns how many probes went unanswered, of how many.
func watchTraffic(p *nstest.Prober, want string) func() (int, int) {
	stop := make(chan struct{})
	res := make(chan [2]int, 1)
	go func() {
		lost, total := 0, 0
		for {
			select {
			case <-stop:
				res <- [2]int{lost, total}
				return
			default:
			}
			total++
			// A generous wait: a loaded machine delays answers, and a
			// lost route loses every probe anyway.
			if got := p.Once(time.Second); got != want {
				lost++
				if os.Getenv("AGENT_TEST_LOG") != "" {
					fmt.Printf("%s probe lost (%q)\n", time.Now().Format("15:04:05.000"), got)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() (int, int) {
		close(stop)
		r := <-res
		return r[0], r[1]
	}
}

// hasRoute reports whether table has a route to dst (out of dev, if given).
func hasRoute(t testing.TB, b *nstest.NS, table int, dst, dev string) bool {
	t.Helper()
	fam := netlink.FAMILY_V4
	if strings.Contains(dst, ":") {
		fam = netlink.FAMILY_V6
	}
	routes, err := b.H.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() != dst {
			continue
		}
		if dev == "" {
			return true
		}
		if l, err := b.H.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().Name == dev {
			return true
		}
	}
	return false
}
