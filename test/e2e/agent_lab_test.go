// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"testing"
	"time"
)

// TestAgentLab checks the lab itself, without agents: the underlay joins
// the hosts and the control plane, provisioning through the API works
// from the test process, and everything is gone after Close.
func TestAgentLab(t *testing.T) {
	requireNetns(t)
	lab, err := NewLab("aelab-", t.TempDir(), binary, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := NewCluster(ctx, lab, ClusterConfig{Hosts: 2, NoAgents: true, TwoControlNodes: true, LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Hosts[0].Ping(c.Hosts[1].IP, 5*time.Second); err != nil || !ok {
		t.Fatalf("h1 cannot ping h2 over the underlay: %v", err)
	}
	if ok, err := c.Hosts[1].Ping(CtrlIP, 5*time.Second); err != nil || !ok {
		t.Fatalf("h2 cannot ping ctrl over the underlay: %v", err)
	}
	proj, err := c.Cloud.Project(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	net, err := c.Cloud.Network(ctx, "lab", "net", "10.5.0.0/24", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Cloud.Port(ctx, proj, net, c.Hosts[0].Name, c.Hosts[0].VR, "x1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("port %+v, network %+v", p, net)
	vm, err := lab.NewVM("x1", c.Hosts[0].NS, p.Tap, p.MAC, VMMTU)
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.ConfigureStatic(p.IP, p.Plen, p.Gateway); err != nil {
		t.Fatal(err)
	}
	t.Logf("vm addrs %v gw %s", vm.Addrs(), vm.DefaultGateway())
}
