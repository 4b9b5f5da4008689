// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/contrail-go/contrail/pkg/client"
)

// TestPolicyConnectsNetworksAcrossHosts: two networks on two hosts are
// apart until a network policy connects them; then each host gets the
// other network's VM as a route of its own network carrying the other
// network's VNI, installed out of that VNI's VXLAN device, and the VMs
// reach each other (the policy's network ACLs, enforced by the firewall,
// allow it). Detaching the policy separates them again.
func TestPolicyConnectsNetworksAcrossHosts(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	c.startTransformer()

	red := c.network("red", "10.1.1.0/24")
	blue := c.network("blue", "10.2.2.0/24")
	redVNI, _ := red.GetInt("virtual_network_network_id")
	blueVNI, _ := blue.GetInt("virtual_network_network_id")
	h1, h2 := c.twoHosts()
	pr := c.vmPort("host1", "vmr", red)
	pb := c.vmPort("host2", "vmb", blue)
	vmBox(t, h1, pr, "vmr", "10.1.1.254")
	vmBox(t, h2, pb, "vmb", "10.2.2.254")
	h1.start(t, []string{c.addr}, t.TempDir())
	h2.start(t, []string{c.addr}, t.TempDir())
	h1.waitSynced(t)
	h1.addPortOK(t, portJSON(pr))
	h2.waitSynced(t)
	h2.addPortOK(t, portJSON(pb))
	probeRB := pr.box.Prober(t, pb.ip)
	if got := probeRB.Once(time.Second); got != "" {
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
		return hasRoute(t, h1.box, redTable, pb.ip+"/32", dataplane.DeviceName(uint32(blueVNI)))
	})
	if _, ok := probeRB.Until("vmb", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatalf("red -> blue with the policy: no answer\nhost1:\n%s", h1.box.Dump())
	}
	probeBR := pb.box.Prober(t, pr.ip)
	if _, ok := probeBR.Until("vmr", 5*time.Second, 100*time.Millisecond); !ok {
		t.Fatal("blue -> red with the policy: no answer")
	}

	attach(blue, false)
	attach(red, false)
	waitFor(t, "leaked route gone", 20*time.Second, func() bool {
		return !hasRoute(t, h1.box, redTable, pb.ip+"/32", "")
	})
	if got := probeRB.Once(time.Second); got != "" {
		t.Errorf("red reaches blue after the policy went: %q", got)
	}
}
