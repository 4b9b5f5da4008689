// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	e := newAgentEnv(t, ClusterConfig{Hosts: 3, TwoControlNodes: true})
	ctx, api := e.ctx, e.c.Cloud
	projA, err := api.Project(ctx, "e2e-a")
	if err != nil {
		t.Fatal(err)
	}
	projB, err := api.Project(ctx, "e2e-b")
	if err != nil {
		t.Fatal(err)
	}
	netA, err := api.Network(ctx, "e2e-a", "net", "10.5.0.0/24", nil)
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
			t.Logf("%s: lease %s router %s dns %v mtu %d lease time %v", v.name, lease.Addr, lease.Gateway, lease.DNS, lease.MTU, lease.Duration)
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
