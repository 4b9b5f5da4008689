// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/transformer"
	"github.com/contrail-go/contrail/pkg/client"
)

// TestPolicyConnectsNetworksAcrossHosts: two networks on two hosts are
// apart until a network policy connects them; then each host gets the
// other network's VM as a route of its own network carrying the other
// network's VNI, installed out of that VNI's VXLAN device, and the VMs
// reach each other (the policy's network ACLs, enforced by the firewall,
// allow it). Detaching the policy separates them again.
func TestPolicyConnectsNetworksAcrossHosts(t *testing.T) {
	needRoot(t)
	c := newCluster(t)
	tr, err := transformer.New(transformer.Config{APIURL: c.api.BaseURL(), Store: c.st, LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	trDone := make(chan error, 1)
	go func() { trDone <- tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-trDone })

	red := c.network("red", "10.1.1.0/24")
	blue := c.network("blue", "10.2.2.0/24")
	redVNI, _ := red.GetInt("virtual_network_network_id")
	blueVNI, _ := blue.GetInt("virtual_network_network_id")
	h1b, h2b := newBox(t, "host1"), newBox(t, "host2")
	h1b.link(t, "u1", h2b, "u2", 0)
	h1b.up(t, "u1", "192.0.2.1/24")
	h2b.up(t, "u2", "192.0.2.2/24")
	h1 := c.host("host1", "192.0.2.1", h1b, "")
	h2 := c.host("host2", "192.0.2.2", h2b, "")
	pr := c.vmPort("host1", "vmr", red)
	pb := c.vmPort("host2", "vmb", blue)
	vmBox(t, h1, pr, "vmr", "10.1.1.254")
	vmBox(t, h2, pb, "vmb", "10.2.2.254")
	h1.start(t, []string{c.addr}, t.TempDir())
	h2.start(t, []string{c.addr}, t.TempDir())
	for _, x := range []struct {
		h *host
		p *vmPort
	}{{h1, pr}, {h2, pb}} {
		waitFor(t, "agent synced", 10*time.Second, func() bool { return x.h.agent.Status().ConfigSynced })
		if code, body := x.h.addPort(t, portJSON(x.p)); code != 200 {
			t.Fatalf("add port: %d %s", code, body)
		}
	}
	probeRB := pr.box.prober(t, pb.ip)
	if got := probeRB.once(time.Second); got != "" {
		t.Fatalf("red reaches blue without a policy: %q", got)
	}

	rule := map[string]any{
		"direction": "<>", "protocol": "any", "ethertype": "IPv4",
		"action_list":   map[string]any{"simple_action": "pass"},
		"src_addresses": []any{map[string]any{"virtual_network": "default-domain:default-project:red"}},
		"dst_addresses": []any{map[string]any{"virtual_network": "default-domain:default-project:blue"}},
		"src_ports":     []any{map[string]any{"start_port": -1, "end_port": -1}},
		"dst_ports":     []any{map[string]any{"start_port": -1, "end_port": -1}},
	}
	pol := c.create("network-policy", client.Object{
		"fq_name": []string{"default-domain", "default-project", "red-blue"}, "parent_type": "project",
		"network_policy_entries": map[string]any{"policy_rule": []any{rule}},
	})
	attach := func(vn client.Object, on bool) {
		refs := []any{}
		if on {
			refs = append(refs, map[string]any{"uuid": pol.UUID(), "attr": map[string]any{"sequence": map[string]any{"major": 0, "minor": 0}}})
		}
		if err := c.api.Update(context.Background(), "virtual-network", vn.UUID(), client.Object{"network_policy_refs": refs}); err != nil {
			t.Fatal(err)
		}
	}
	attach(red, true)
	attach(blue, true)
	redTable := dataplane.TableForVNI(uint32(redVNI))
	waitFor(t, "blue's VM in red's table on host1, out of blue's VXLAN device", 20*time.Second, func() bool {
		return hasRoute(t, h1b, redTable, pb.ip+"/32", dataplane.DeviceName(uint32(blueVNI)))
	})
	if _, ok := probeRB.until("vmb", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("red -> blue with the policy: no answer\nhost1:\n%s", h1b.dump())
	}
	probeBR := pb.box.prober(t, pr.ip)
	if _, ok := probeBR.until("vmr", 5*time.Second, 100*time.Millisecond); !ok {
		t.Fatal("blue -> red with the policy: no answer")
	}

	attach(blue, false)
	attach(red, false)
	waitFor(t, "leaked route gone", 20*time.Second, func() bool {
		return !hasRoute(t, h1b, redTable, pb.ip+"/32", "")
	})
	if got := probeRB.once(time.Second); got != "" {
		t.Errorf("red reaches blue after the policy went: %q", got)
	}
}
