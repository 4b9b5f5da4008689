// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpclient"
	"github.com/contrail-go/contrail/pkg/client"
)

// agentNSPrefix names every namespace of this test; a crashed run's
// leftovers with it are removed at start.
const agentNSPrefix = "ae2e-"

// requireNetns skips unless the test can create network namespaces and
// run `ip`.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: no `ip` command (iproute2)")
	}
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		t.Skipf("skipping: cannot create %s: %v", netnsDir, err)
	}
}

// requireAgent skips when the binary has no vrouter-agent command.
func requireAgent(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(binary, "vrouter-agent", "-h").CombinedOutput()
	if !bytes.Contains(out, []byte("-control-nodes")) {
		t.Skipf("skipping: `contrail vrouter-agent` is not in this build (its -h says: %.200s)", out)
	}
}

// agentEnv is the running system of TestAgentEndToEnd and the VMs the
// subtests made so far.
type agentEnv struct {
	t      *testing.T
	ctx    context.Context
	c      *Cluster
	vms    map[string]*VM
	pts    map[string]Port
	leases map[string]dhcpclient.Lease
}

func newAgentEnv(t *testing.T, cfg ClusterConfig) *agentEnv {
	t.Helper()
	requireNetns(t)
	requireAgent(t)
	// CONTRAIL_E2E_LOGDIR keeps the daemons' logs and data dirs.
	dir := os.Getenv("CONTRAIL_E2E_LOGDIR")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, time.Now().UTC().Format("20060102-150405"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("logs and data in %s", dir)
	}
	lab, err := NewLab(agentNSPrefix, dir, binary, t.Logf)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(lab.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	c, err := NewCluster(ctx, lab, cfg)
	e := &agentEnv{t: t, ctx: ctx, c: c, vms: map[string]*VM{}, pts: map[string]Port{}, leases: map[string]dhcpclient.Lease{}}
	if err != nil {
		e.diagnose()
		t.Fatalf("cluster: %v", err)
	}
	return e
}

// diagnose logs the kernel state of the hosts and the daemons' logs.
func (e *agentEnv) diagnose() {
	var b strings.Builder
	e.c.Diagnose(e.ctx, &b)
	e.t.Log("diagnostics:\n" + b.String())
}

// vm creates a VM on host i (1-based), gets its address (DHCP) and starts
// its identity echo server.
func (e *agentEnv) vm(t *testing.T, host int, project string, net Network, name, fixedIP string, sgs []string) *VM {
	t.Helper()
	vm, p, err := e.c.AddVM(e.ctx, e.c.Hosts[host-1], project, net, name, fixedIP, sgs)
	if err != nil {
		e.diagnose()
		t.Fatalf("vm %s: %v", name, err)
	}
	e.vms[name], e.pts[name] = vm, p
	lease, err := bootVM(e.ctx, vm, p)
	e.leases[name] = lease
	if err != nil {
		e.diagnose()
		t.Fatalf("vm %s: %v", name, err)
	}
	stop, err := vm.ServeEcho(name)
	if err != nil {
		t.Fatal(err)
	}
	e.c.Lab.onClose(stop)
	return vm
}

// reach fails unless src gets an ICMP echo reply from dst within wait.
func (e *agentEnv) reach(t *testing.T, src, dst string, wait time.Duration) {
	t.Helper()
	ip := e.addr(dst)
	ok, err := e.vms[src].Ping(ip, wait)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		e.diagnose()
		t.Fatalf("%s (%s) cannot ping %s (%s) within %v", src, e.pts[src].IP, dst, ip, wait)
	}
}

// addr is a VM's address, or the argument itself when it is an address.
func (e *agentEnv) addr(s string) string {
	if p, ok := e.pts[s]; ok {
		return p.IP
	}
	return s
}

// unreachable waits until src's pings to dst have failed 5 times in a row
// (within wait) and fails the test if that never happens.
func (e *agentEnv) unreachable(t *testing.T, src, dst string, wait time.Duration) {
	t.Helper()
	ip := e.addr(dst)
	p, err := e.vms[src].NewPinger()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	misses := 0
	for end := time.Now().Add(wait); time.Now().Before(end); {
		if p.PingOnce(ip, 400*time.Millisecond) {
			misses = 0
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if misses++; misses == 5 {
			return
		}
	}
	e.diagnose()
	t.Fatalf("%s still pings %s (%s) after %v", src, dst, ip, wait)
}

// udpBlocked waits until src's UDP probes to dst have gone unanswered for
// 2 s in a row (within wait).
func (e *agentEnv) udpBlocked(t *testing.T, src, dst string, wait time.Duration) {
	t.Helper()
	for end := time.Now().Add(wait); time.Now().Before(end); {
		if _, err := e.vms[src].Probe(e.addr(dst), 2*time.Second); err != nil {
			return
		}
	}
	e.diagnose()
	t.Fatalf("%s still reaches %s by UDP after %v", src, dst, wait)
}

// agentsAlive fails if an agent process has exited (the changes must
// take effect in the running agents).
func (e *agentEnv) agentsAlive(t *testing.T) {
	t.Helper()
	for _, h := range e.c.Hosts {
		if gone, err := h.Agent.Exited(); gone {
			t.Fatalf("%s's agent (pid %d) exited: %v\n%s", h.Name, h.Agent.Pid(), err, h.Agent.Tail(20))
		}
	}
}

// xmppConn is one control-node session on an agent's introspect.
type xmppConn struct {
	ControllerIP string `json:"controller_ip"`
	State        string `json:"state"`
	ConfigPeer   bool   `json:"cfg_controller"`
}

// xmppConnections reads host h's agent's control-node sessions.
func xmppConnections(ctx context.Context, h *Host) ([]xmppConn, error) {
	body := h.Introspect(ctx, "/Snh_AgentXmppConnectionStatusReq")
	var conns []xmppConn
	if err := json.Unmarshal([]byte(body), &conns); err != nil {
		return nil, fmt.Errorf("agent introspect /Snh_AgentXmppConnectionStatusReq: %v: %.300s", err, body)
	}
	return conns, nil
}

// TestAgentEndToEnd runs the whole system in network namespaces: an
// underlay bridge, the API server, schema transformer and two control
// nodes, three compute hosts with one vrouter agent each, and VMs as
// namespaces attached through the agents' port API. All configuration
// goes through the REST API.
func TestAgentEndToEnd(t *testing.T) {
	e := newAgentEnv(t, ClusterConfig{Hosts: 3, TwoControlNodes: true, Analytics: true})
	ctx, api := e.ctx, e.c.Cloud
	projA, err := api.Project(ctx, "e2e-a")
	if err != nil {
		t.Fatal(err)
	}
	projB, err := api.Project(ctx, "e2e-b")
	if err != nil {
		t.Fatal(err)
	}
	// Network A's DHCP answers carry an MTU and a host route from the
	// config (the DHCP subtest checks them).
	netA, err := api.NetworkWithSubnet(ctx, "e2e-a", "net", "10.5.0.0/24",
		client.Object{"host_routes": map[string]any{"route": []any{map[string]any{"prefix": "10.250.0.0/16"}}}},
		client.Object{"virtual_network_properties": map[string]any{"forwarding_mode": "l2_l3", "mtu": VMMTU}})
	if err != nil {
		t.Fatal(err)
	}
	netB, err := api.Network(ctx, "e2e-b", "net", "10.5.0.0/24", nil)
	if err != nil {
		t.Fatal(err)
	}

	ok := t.Run("DHCP", func(t *testing.T) {
		for _, v := range []struct {
			host int
			name string
		}{{1, "a1"}, {2, "a2"}} {
			vm := e.vm(t, v.host, projA, netA, v.name, "", nil)
			p, lease := e.pts[v.name], e.leases[v.name]
			want := fmt.Sprintf("%s/%d", p.IP, p.Plen)
			if lease.Addr.String() != want || lease.Gateway.String() != netA.Gateway {
				t.Errorf("%s: lease %s router %s, the API allocated %s with gateway %s", v.name, lease.Addr, lease.Gateway, want, netA.Gateway)
			}
			if got := vm.Addrs(); len(got) != 1 || got[0] != want {
				t.Errorf("%s: eth0 has %v after DHCP, want %s", v.name, got, want)
			}
			if gw := vm.DefaultGateway(); gw != netA.Gateway {
				t.Errorf("%s: default gateway %q after DHCP, the subnet's is %s", v.name, gw, netA.Gateway)
			}
			if lease.MTU != VMMTU {
				t.Errorf("%s: lease MTU %d, the network's is %d", v.name, lease.MTU, VMMTU)
			}
			if len(lease.DNS) != 1 || lease.DNS[0].String() != netA.DNS {
				t.Errorf("%s: lease DNS %v, the subnet's DNS address is %s", v.name, lease.DNS, netA.DNS)
			}
			if !slices.ContainsFunc(lease.Routes, func(r dhcpclient.Route) bool {
				return r.Prefix.String() == "10.250.0.0/16" && r.NextHop.String() == netA.Gateway
			}) {
				t.Errorf("%s: lease routes %v lack the subnet's host route 10.250.0.0/16 via %s", v.name, lease.Routes, netA.Gateway)
			}
			t.Logf("%s: lease %s router %s dns %v mtu %d routes %v lease time %v", v.name, lease.Addr, lease.Gateway, lease.DNS, lease.MTU, lease.Routes, lease.Duration)
		}
	})
	if !ok || e.vms["a2"] == nil {
		t.Fatal("no VMs, nothing else can run")
	}

	t.Run("SameNetworkAcrossHosts", func(t *testing.T) {
		e.reach(t, "a1", "a2", 15*time.Second)
		e.reach(t, "a2", "a1", 5*time.Second)
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		// b1 and b2 have the addresses of a1 and a2 in a network of
		// another project with the same subnet; b3's address exists only
		// in that network.
		e.vm(t, 1, projB, netB, "b1", e.pts["a1"].IP, nil)
		e.vm(t, 2, projB, netB, "b2", e.pts["a2"].IP, nil)
		e.vm(t, 3, projB, netB, "b3", "", nil)
		for _, c := range []struct{ src, dst, want string }{
			{"b1", e.pts["b2"].IP, "b2"},
			{"b2", e.pts["b1"].IP, "b1"},
			{"b1", e.pts["b3"].IP, "b3"},
			{"a1", e.pts["a2"].IP, "a2"},
			{"a2", e.pts["a1"].IP, "a1"},
		} {
			got, err := e.vms[c.src].Probe(c.dst, 15*time.Second)
			if err != nil || got != c.want {
				e.diagnose()
				t.Fatalf("%s -> %s: answered by %q (%v), want %s", c.src, c.dst, got, err, c.want)
			}
		}
		// a1 must not reach b3's address, by UDP or ICMP.
		if got, err := e.vms["a1"].Probe(e.pts["b3"].IP, 2*time.Second); err == nil {
			t.Fatalf("a1 (project e2e-a) reached %s in project e2e-b: answered by %s", e.pts["b3"].IP, got)
		}
		e.unreachable(t, "a1", "b3", 5*time.Second)
	})

	t.Run("SecurityGroup", func(t *testing.T) {
		// s2's group lets everything out and nothing in.
		sg, err := api.SecurityGroup(ctx, "e2e-a", "no-ingress", []any{SGRule("local", "0.0.0.0/0", "any", 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		e.vm(t, 1, projA, netA, "s1", "", nil)
		e.vm(t, 2, projA, netA, "s2", "", []string{sg})
		// s2 is programmed: its own traffic goes out and the answers
		// come back.
		e.reach(t, "s2", "s1", 15*time.Second)
		e.unreachable(t, "s1", "s2", 5*time.Second)
		if got, err := e.vms["s1"].Probe(e.pts["s2"].IP, 2*time.Second); err == nil {
			t.Fatalf("s1 reached s2 by UDP through a group without ingress rules (answer %q)", got)
		}
		// Open ICMP in; nothing is restarted.
		rules := []any{SGRule("local", "0.0.0.0/0", "any", 0, 0), SGRule("0.0.0.0/0", "local", "icmp", 0, 0)}
		if err := api.API.Update(ctx, "security-group", sg, client.Object{"security_group_entries": map[string]any{"policy_rule": rules}}); err != nil {
			t.Fatal(err)
		}
		e.reach(t, "s1", "s2", 15*time.Second)
		e.agentsAlive(t)
		// The rule opened ICMP only: UDP stays blocked.
		if got, err := e.vms["s1"].Probe(e.pts["s2"].IP, 2*time.Second); err == nil {
			t.Fatalf("s1 reached s2 by UDP with only an ICMP ingress rule (answer %q)", got)
		}
		// Without any group the port lets everything in; with the group
		// back, UDP is blocked again.
		s2 := e.pts["s2"].VMI
		if err := api.API.RefUpdate(ctx, "virtual-machine-interface", s2, "security-group", sg, client.RefDelete, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := e.vms["s1"].Probe(e.pts["s2"].IP, 15*time.Second); err != nil || got != "s2" {
			e.diagnose()
			t.Fatalf("s1 -> s2 by UDP after the group was taken off s2's port: %q (%v)", got, err)
		}
		if err := api.API.RefUpdate(ctx, "virtual-machine-interface", s2, "security-group", sg, client.RefAdd, nil); err != nil {
			t.Fatal(err)
		}
		e.udpBlocked(t, "s1", "s2", 15*time.Second)
	})

	t.Run("NetworkPolicy", func(t *testing.T) {
		left, err := api.Network(ctx, "e2e-a", "left", "10.7.0.0/24", nil)
		if err != nil {
			t.Fatal(err)
		}
		right, err := api.Network(ctx, "e2e-a", "right", "10.8.0.0/24", nil)
		if err != nil {
			t.Fatal(err)
		}
		e.vm(t, 1, projA, left, "l1", "", nil)
		e.vm(t, 2, projA, right, "r1", "", nil)
		e.unreachable(t, "l1", "r1", 5*time.Second)
		pol, err := api.NetworkPolicy(ctx, "e2e-a", "left-right", left.FQString(), right.FQString())
		if err != nil {
			t.Fatal(err)
		}
		for _, vn := range []string{left.UUID, right.UUID} {
			if err := api.AttachPolicy(ctx, vn, pol, false); err != nil {
				t.Fatal(err)
			}
		}
		e.reach(t, "l1", "r1", 20*time.Second)
		e.reach(t, "r1", "l1", 5*time.Second)
		e.agentsAlive(t)
		for _, vn := range []string{left.UUID, right.UUID} {
			if err := api.AttachPolicy(ctx, vn, pol, true); err != nil {
				t.Fatal(err)
			}
		}
		e.unreachable(t, "l1", "r1", 20*time.Second)
		e.unreachable(t, "r1", "l1", 5*time.Second)
	})

	t.Run("FloatingIP", func(t *testing.T) {
		projPub, err := api.Project(ctx, "e2e-pub")
		if err != nil {
			t.Fatal(err)
		}
		pub, err := api.Network(ctx, "e2e-pub", "public", "192.168.50.0/24", client.Object{"router_external": true})
		if err != nil {
			t.Fatal(err)
		}
		pool, err := api.API.Create(ctx, "floating-ip-pool", client.Object{
			"fq_name": append(append([]string{}, pub.FQ...), "pool"), "parent_type": "virtual-network"})
		if err != nil {
			t.Fatal(err)
		}
		fip, err := api.API.Create(ctx, "floating-ip", client.Object{
			"fq_name":                        append(pool.FQName(), "fip-a1"),
			"parent_type":                    "floating-ip-pool",
			"project_refs":                   []any{map[string]any{"uuid": projA}},
			"virtual_machine_interface_refs": []any{map[string]any{"uuid": e.pts["a1"].VMI}},
		})
		if err != nil {
			t.Fatal(err)
		}
		fipObj, err := api.API.Read(ctx, "floating-ip", fip.UUID())
		if err != nil {
			t.Fatal(err)
		}
		fipAddr := fipObj.GetString("floating_ip_address")
		if fipAddr == "" {
			t.Fatalf("floating-ip without an address: %v", fipObj)
		}
		// p1 is a VM in the public network on another host than a1.
		e.vm(t, 3, projPub, pub, "p1", "", nil)
		e.reach(t, "p1", fipAddr, 20*time.Second)
		if got, err := e.vms["p1"].Probe(fipAddr, 5*time.Second); err != nil || got != "a1" {
			t.Fatalf("p1 -> floating ip %s: answered by %q (%v), want a1", fipAddr, got, err)
		}
		// The public network still does not reach a1's own address.
		e.unreachable(t, "p1", e.pts["a1"].IP, 5*time.Second)
	})

	t.Run("DNS", func(t *testing.T) {
		// A network whose IPAM uses a virtual DNS server: the VMs learn
		// the domain over DHCP, and the agent's DNS proxy answers their
		// DNS service address with the names of the VMs in that domain.
		if _, err := api.API.Create(ctx, "virtual-DNS", client.Object{
			"fq_name": []string{"default-domain", "e2e-vdns"}, "parent_type": "domain",
			"virtual_DNS_data": map[string]any{"domain_name": "e2e.test", "record_order": "random", "default_ttl_seconds": 60},
		}); err != nil {
			t.Fatal(err)
		}
		ipamFQ := []string{"default-domain", "e2e-a", "vdns-ipam"}
		if _, err := api.API.Create(ctx, "network-ipam", client.Object{
			"fq_name": ipamFQ, "parent_type": "project",
			"network_ipam_mgmt": map[string]any{"ipam_dns_method": "virtual-dns-server",
				"ipam_dns_server": map[string]any{"virtual_dns_server_name": "default-domain:e2e-vdns"}},
			"virtual_DNS_refs": []any{map[string]any{"to": []string{"default-domain", "e2e-vdns"}}},
		}); err != nil {
			t.Fatal(err)
		}
		dnet, err := api.NetworkInIPAM(ctx, "e2e-a", "dnsnet", "10.9.0.0/24", ipamFQ, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.vm(t, 1, projA, dnet, "d1", "", nil)
		e.vm(t, 1, projA, dnet, "d2", "", nil)
		if l := e.leases["d1"]; l.Domain != "e2e.test" || len(l.DNS) != 1 || l.DNS[0].String() != dnet.DNS {
			t.Errorf("d1 lease: domain %q dns %v, want e2e.test and %s", l.Domain, l.DNS, dnet.DNS)
		}
		ask := func(name string, qtype uint16) (*dns.Msg, error) {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			conn, err := e.vms["d1"].DialContext(cctx, "udp", net.JoinHostPort(dnet.DNS, "53"))
			if err != nil {
				return nil, err
			}
			defer conn.Close()
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(name), qtype)
			c := &dns.Client{Timeout: 2 * time.Second}
			r, _, err := c.ExchangeWithConn(q, &dns.Conn{Conn: conn})
			return r, err
		}
		var r *dns.Msg
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, err = ask("d2.e2e.test", dns.TypeA)
			if err == nil && len(r.Answer) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("d1 asks its DNS server %s for d2.e2e.test: %v", dnet.DNS, err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != e.pts["d2"].IP {
			t.Fatalf("d2.e2e.test: answer %v, want %s", r.Answer, e.pts["d2"].IP)
		}
		r, err = ask("nobody.e2e.test", dns.TypeA)
		if err != nil || r.Rcode != dns.RcodeNameError {
			t.Errorf("nobody.e2e.test: %v %v, want NXDOMAIN", r, err)
		}
		rev, _ := dns.ReverseAddr(e.pts["d2"].IP)
		r, err = ask(rev, dns.TypePTR)
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "d2.e2e.test." {
			t.Errorf("PTR of d2: %v %v", r, err)
		}
	})

	t.Run("Analytics", func(t *testing.T) {
		// Each agent reports to the lab's analytics node: its vrouter UVE
		// and NodeStatus, its part of the UVEs of its ports' networks,
		// and the flow records of the VMs' traffic.
		an := e.c.AnalyticsURL()
		h2 := e.c.Hosts[1]
		a2 := strings.Join(e.pts["a2"].VMIFQ, ":")
		var vr map[string]any
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if code, out, err := analyticsCall(e.ctx, e.c, "GET", an+"/analytics/uves/vrouter/"+h2.Name+"?flat", nil); err == nil && code == 200 {
				vr = out
				if agent, _ := out["VrouterAgent"].(map[string]any); agent != nil && containsAny(agent["interface_list"], a2) {
					break
				}
			}
		}
		agent, _ := vr["VrouterAgent"].(map[string]any)
		if agent == nil || !containsAny(agent["interface_list"], a2) || agent["control_ip"] != h2.IP {
			t.Fatalf("vrouter UVE of %s: %v", h2.Name, vr)
		}
		if peers, _ := agent["xmpp_peer_list"].([]any); len(peers) != 2 {
			t.Errorf("xmpp_peer_list of %s: %v", h2.Name, agent["xmpp_peer_list"])
		}
		ns, _ := json.Marshal(vr["NodeStatus"])
		if !strings.Contains(string(ns), "contrail-vrouter-agent") || strings.Count(string(ns), `"XMPP"`) != 2 || !strings.Contains(string(ns), `"Collector"`) {
			t.Errorf("NodeStatus of %s: %s", h2.Name, ns)
		}
		t.Logf("vrouter %s: interfaces %v, networks %v, vn_count %v", h2.Name, agent["interface_list"], agent["connected_networks"], agent["vn_count"])
		// Its logs are in MessageTable.
		code, out, err := analyticsCall(e.ctx, e.c, "POST", an+"/analytics/query", map[string]any{
			"table": "MessageTable", "start_time": "now-10m", "end_time": "now",
			"select_fields": []string{"MessageTS", "Source", "ModuleId", "Messagetype"},
			"where":         [][]map[string]any{{{"name": "ModuleId", "value": "contrail-vrouter-agent", "op": 1}, {"name": "Source", "value": h2.Name, "op": 1}}},
			"limit":         5,
		})
		if logs, _ := out["value"].([]any); err != nil || code != 200 || len(logs) == 0 {
			t.Errorf("logs of %s's agent in MessageTable: %d %v %v", h2.Name, code, out, err)
		}

		// The network of a1 (host1) and a2 (host2): both agents' ports.
		a1 := strings.Join(e.pts["a1"].VMIFQ, ":")
		vnKey := e.pts["a1"].NetworkFQ
		var vnAgent map[string]any
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if code, out, err := analyticsCall(e.ctx, e.c, "GET", an+"/analytics/uves/virtual-network/"+vnKey+"?flat", nil); err == nil && code == 200 {
				vnAgent, _ = out["UveVirtualNetworkAgent"].(map[string]any)
				if vnAgent != nil && containsAny(vnAgent["interface_list"], a1) && containsAny(vnAgent["interface_list"], a2) {
					break
				}
			}
		}
		if vnAgent == nil || !containsAny(vnAgent["interface_list"], a1) || !containsAny(vnAgent["interface_list"], a2) {
			t.Errorf("UveVirtualNetworkAgent of %s: %v", vnKey, vnAgent)
		}

		// Flow records: s2 pings s1 once more; its flows are in
		// FlowRecordTable.
		if e.vms["s2"] == nil || e.vms["s1"] == nil {
			t.Fatal("no s1/s2 VMs (SecurityGroup subtest): no flows to look for")
		}
		e.reach(t, "s2", "s1", 5*time.Second)
		s1, s2 := e.pts["s1"], e.pts["s2"]
		q := map[string]any{
			"table": "FlowRecordTable", "start_time": "now-10m", "end_time": "now",
			"select_fields": []string{"UuidKey", "vrouter", "sourcevn", "sourceip", "destvn", "destip", "protocol",
				"direction_ing", "setup_time", "teardown_time", "agg-bytes", "agg-packets", "action", "vmi", "other_vrouter_ip"},
			// Every connection of a port is a flow: the other tenant's
			// network has the same addresses (TenantIsolation), so the
			// networks and the protocol are part of the match.
			"where": [][]map[string]any{{{"name": "sourceip", "value": s2.IP, "op": 1}, {"name": "destip", "value": s1.IP, "op": 1},
				{"name": "sourcevn", "value": s2.NetworkFQ, "op": 1}, {"name": "destvn", "value": s1.NetworkFQ, "op": 1},
				{"name": "protocol", "value": "1", "op": 1}}},
			"limit": 20,
		}
		var rows []any
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && len(rows) == 0; time.Sleep(500 * time.Millisecond) {
			code, out, err := analyticsCall(e.ctx, e.c, "POST", an+"/analytics/query", q)
			if err != nil || code != 200 {
				t.Fatalf("flow query: %d %v %v", code, out, err)
			}
			rows, _ = out["value"].([]any)
		}
		if len(rows) == 0 {
			t.Fatalf("no flow record %s -> %s in FlowRecordTable", s2.IP, s1.IP)
		}
		r, _ := rows[0].(map[string]any)
		if r["vrouter"] != e.c.Hosts[1].Name || r["sourcevn"] != s2.NetworkFQ || r["destvn"] != s1.NetworkFQ ||
			fmt.Sprint(r["protocol"]) != "1" || r["other_vrouter_ip"] != e.c.Hosts[0].IP || r["vmi"] != strings.Join(s2.VMIFQ, ":") {
			t.Errorf("flow record %s -> %s: %v", s2.IP, s1.IP, r)
		}
		t.Logf("%d flow records %s -> %s; first: %v", len(rows), s2.IP, s1.IP, r)
	})

	t.Run("ControlNodeFailover", func(t *testing.T) {
		e.reach(t, "a1", "a2", 10*time.Second)
		type result struct {
			sent, recv int
			err        error
		}
		done := make(chan result, 1)
		const count, interval = 400, 20 * time.Millisecond
		go func() {
			s, r, err := e.vms["a1"].PingCount(e.pts["a2"].IP, count, interval, time.Second)
			done <- result{s, r, err}
		}()
		// Both agents of the ping talk to both control nodes; the one
		// host1 takes its config from is killed.
		victim, victimName := e.c.CN1, "cn1"
		for _, h := range e.c.Hosts[:2] {
			conns, err := xmppConnections(e.ctx, h)
			if err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
			up := 0
			for _, c := range conns {
				if c.State == "Established" {
					up++
				}
				if h.Index == 1 && c.ConfigPeer && strings.HasPrefix(c.ControllerIP, Ctrl2IP+":") {
					victim, victimName = e.c.CN2, "cn2"
				}
			}
			if up != 2 {
				t.Fatalf("%s has %d established control-node sessions, want 2: %+v", h.Name, up, conns)
			}
		}
		time.Sleep(2 * time.Second)
		t.Logf("killing control node %s (host1's config peer, pid %d) with SIGKILL", victimName, victim.Pid())
		victim.Kill()
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		lost := res.sent - res.recv
		t.Logf("ping a1 -> a2 every %v across the kill of %s: %d sent, %d received, %d lost", interval, victimName, res.sent, res.recv, lost)
		if lost != 0 {
			e.diagnose()
			t.Errorf("%d of %d pings lost when one control node of two died", lost, res.sent)
		}
		// The surviving control node still serves changes: a new VM
		// reaches an old one.
		e.vm(t, 3, projA, netA, "a3", "", nil)
		e.reach(t, "a3", "a1", 20*time.Second)
	})
}

// analyticsCall sends a request to the lab's analytics API from inside
// ctrl and decodes the JSON answer.
func analyticsCall(ctx context.Context, c *Cluster, method, url string, body any) (int, map[string]any, error) {
	hc := c.Ctrl.HTTPClient(5 * time.Second)
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %d %q", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// containsAny reports whether the JSON list l holds s.
func containsAny(l any, s string) bool {
	items, _ := l.([]any)
	for _, it := range items {
		if it == s {
			return true
		}
	}
	return false
}
