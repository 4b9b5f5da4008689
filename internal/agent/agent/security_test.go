// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/contrail-go/contrail/pkg/client"
)

// sgRule is a security-group rule as a user writes it: ingress (traffic
// from remote to the group) on one UDP port, or egress to anywhere.
// securityGroup creates the security group name with rules and puts
// ports in it.
func (c *cluster) securityGroup(name string, rules []any, ports ...*vmPort) client.Object {
	c.t.Helper()
	sg := c.create("security-group", client.Object{
		"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project",
		"security_group_entries": map[string]any{"policy_rule": rules},
	})
	for _, p := range ports {
		if err := c.api.RefUpdate(context.Background(), "virtual-machine-interface", p.vmi, "security-group", sg.UUID(), client.RefAdd, nil); err != nil {
			c.t.Fatal(err)
		}
	}
	return sg
}

func sgRule(ingress bool, proto string, port int) map[string]any {
	any4 := []any{map[string]any{"subnet": map[string]any{"ip_prefix": "0.0.0.0", "ip_prefix_len": 0}}}
	local := []any{map[string]any{"security_group": "local"}}
	r := map[string]any{"direction": ">", "protocol": proto, "ethertype": "IPv4",
		"src_ports": []any{map[string]any{"start_port": 0, "end_port": 65535}},
		"dst_ports": []any{map[string]any{"start_port": 0, "end_port": 65535}}}
	if ingress {
		r["src_addresses"], r["dst_addresses"] = any4, local
		r["dst_ports"] = []any{map[string]any{"start_port": port, "end_port": port}}
	} else {
		r["src_addresses"], r["dst_addresses"] = local, any4
	}
	return r
}

// TestSecurityGroupsEnforced runs the schema transformer too (and checks
// the metadata proxy on the way): a security
// group on a port becomes ACLs, which the agent hands to the firewall;
// traffic the group does not allow is dropped, and allowing it later
// lets it through.
func TestSecurityGroupsEnforced(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	c.startTransformer()

	vn := c.network("vn1", "10.1.1.0/24")
	h := c.oneHost("host1", "192.0.2.1")
	hb := h.box
	p1 := c.vmPort("host1", "vm1", vn)
	p2 := c.vmPort("host1", "vm2", vn)
	sg := c.securityGroup("web", []any{sgRule(true, "tcp", 22), sgRule(false, "any", 0)}, p2)
	gw := "10.1.1.254"
	vmBox(t, h, p1, "vm1", gw)
	vmBox(t, h, p2, "vm2", gw)
	// A metadata server on the host (nova's place), answering with the
	// headers the proxy added.
	var mdLn net.Listener
	if err := hb.In(func() (err error) { mdLn, err = net.Listen("tcp", "127.0.0.1:8775"); return err }); err != nil {
		t.Fatal(err)
	}
	mdSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "instance=%s vmi=%s for=%s path=%s", r.Header.Get("X-Instance-ID"), r.Header.Get("X-VMI-ID"),
			r.Header.Get("X-Forwarded-For"), r.URL.Path)
	})}
	go mdSrv.Serve(mdLn)
	t.Cleanup(func() { mdSrv.Close() })
	h.meta = "http://127.0.0.1:8775"
	h.start(t, []string{c.addr}, t.TempDir())
	waitFor(t, "agent synced", 10*time.Second, func() bool { return h.agent.Status().ConfigSynced })
	h.addPortOK(t, portJSON(p1))
	h.addPortOK(t, portJSON(p2))
	waitFor(t, "the group's ACLs at the agent", 15*time.Second, func() bool {
		n := 0
		for _, acl := range h.agent.ACLs() {
			if acl.Parent == "security-group" && acl.Rules > 0 && len(acl.Name) > 0 {
				n++
			}
		}
		return n >= 2
	})
	// The metadata proxy: vm1 asks 169.254.169.254 and the metadata
	// server sees who is asking.
	var answer string
	waitFor(t, "metadata answer", 10*time.Second, func() bool {
		err := p1.box.In(func() error {
			conn, err := net.DialTimeout("tcp", "169.254.169.254:80", time.Second)
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprintf(conn, "GET /latest/meta-data HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n")
			b, err := io.ReadAll(conn)
			answer = string(b)
			return err
		})
		return err == nil && strings.Contains(answer, "instance="+p1.vm)
	})
	if !strings.Contains(answer, "vmi="+p1.vmi) || !strings.Contains(answer, "for="+p1.ip) {
		t.Errorf("metadata answer: %s", answer)
	}

	pr := p1.box.Prober(t, p2.ip)
	pr21 := p2.box.Prober(t, p1.ip)
	// vm2 has no security group: it reaches vm1; vm2's group allows
	// only TCP 22 in, so vm1's UDP to vm2 is dropped.
	if _, ok := pr21.Until("vm1", 5*time.Second, 50*time.Millisecond); !ok {
		t.Fatal("vm2 -> vm1 (no group on vm1): no answer")
	}
	time.Sleep(500 * time.Millisecond) // the firewall follows the dataplane
	for i := 0; i < 3; i++ {
		if got := pr.Once(500 * time.Millisecond); got != "" {
			t.Fatalf("vm1 -> vm2 UDP 7777 passed a group that allows only TCP 22: %q", got)
		}
	}
	// The refused connection is a deny flow record (the firewall's deny
	// log read by the flow table).
	waitFor(t, "a deny flow record of the refused UDP", 5*time.Second, func() bool {
		if h.agent.ext.flowTab == nil {
			return false
		}
		for _, r := range h.agent.ext.flowTab.Snapshot() {
			if r.Action == "deny" && r.Dst.Port() == 7777 {
				return true
			}
		}
		return false
	})
	// Allow UDP 7777 in: it passes.
	if err := c.api.Update(context.Background(), "security-group", sg.UUID(), client.Object{
		"security_group_entries": map[string]any{"policy_rule": []any{sgRule(true, "tcp", 22), sgRule(true, "udp", 7777), sgRule(false, "any", 0)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := pr.Until("vm2", 15*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("vm1 -> vm2 UDP 7777 still dropped after the group allows it; ACLs %+v", h.agent.ACLs())
	}

	// The flow, answered, goes to the eBPF fast path, which then carries
	// its packets past nftables and conntrack.
	fp := h.agent.ext.fp
	if fp == nil {
		t.Log("no eBPF fast path here: the rest checks the stack alone")
	} else {
		// Answered probes counted by the fast path: it carries the flow.
		var last uint64
		waitFor(t, "the UDP flow carried by the fast path", 10*time.Second, func() bool {
			if got := pr.Once(time.Second); got != "vm2" {
				return false
			}
			for _, r := range h.agent.ext.flowTab.Snapshot() {
				if r.Action == "pass" && r.Dst.Port() == 7777 && r.Active() {
					if o, rp, ok := fp.Counters(r.ID); ok && o.Packets > last && rp.Packets > 0 {
						if last > 0 {
							return true
						}
						last = o.Packets
					}
				}
			}
			return false
		})
	}
	// The rule goes: the flow it allowed stops, fast path or not.
	if err := c.api.Update(context.Background(), "security-group", sg.UUID(), client.Object{
		"security_group_entries": map[string]any{"policy_rule": []any{sgRule(true, "tcp", 22), sgRule(false, "any", 0)}},
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the established UDP flow stopped after its rule went", 15*time.Second, func() bool {
		return pr.Once(300*time.Millisecond) == ""
	})
	for i := 0; i < 3; i++ {
		if got := pr.Once(500 * time.Millisecond); got != "" {
			t.Fatalf("vm1 -> vm2 UDP 7777 answered %q after its rule was removed", got)
		}
	}
}
