// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/contrail-go/contrail/pkg/client"
)

// BenchmarkPortAdd1000 adds 1,000 ports to one agent through the port API,
// 8 clients at a time, as an orchestrator would after creating their
// config, and reports the time until every port is programmed in the
// kernel. Run with -benchtime=1x; it needs root.
//
//	go test ./internal/agent/agent -run XXX -bench PortAdd1000 -benchtime=1x
func BenchmarkPortAdd1000(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	const n = 1000
	for i := 0; i < b.N; i++ {
		benchPorts(b, n)
	}
}

func benchPorts(b *testing.B, n int) {
	b.StopTimer()
	c := newCluster(b)
	vn := c.create("virtual-network", client.Object{
		"fq_name": []string{"default-domain", "default-project", "bench"}, "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to": []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
				"subnet": map[string]any{"ip_prefix": "10.8.0.0", "ip_prefix_len": 16}}}},
		}},
	})
	hb := nstest.New(b, "bench1")
	underlay := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "u1"}, PeerName: "u1peer"}
	if err := hb.H.LinkAdd(underlay); err != nil {
		b.Fatal(err)
	}
	hb.Up(b, "u1", "192.0.2.1/24")
	ports := make([]*vmPort, n)
	setup := time.Now()
	inParallel(n, func(i int) {
		name := fmt.Sprintf("b%d", i)
		vm, err := c.api.Create(context.Background(), "virtual-machine", client.Object{"fq_name": []string{name}})
		if err != nil {
			b.Error(err)
			return
		}
		vmi, err := c.api.Create(context.Background(), "virtual-machine-interface", client.Object{
			"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project",
			"virtual_network_refs": []any{map[string]any{"uuid": vn.UUID()}},
			"virtual_machine_refs": []any{map[string]any{"uuid": vm.UUID()}},
		})
		if err != nil {
			b.Error(err)
			return
		}
		iip, err := c.api.Create(context.Background(), "instance-ip", client.Object{"fq_name": []string{name + "-ip"},
			"virtual_network_refs":           []any{map[string]any{"uuid": vn.UUID()}},
			"virtual_machine_interface_refs": []any{map[string]any{"uuid": vmi.UUID()}}})
		if err != nil {
			b.Error(err)
			return
		}
		iip, _ = c.api.Read(context.Background(), "instance-ip", iip.UUID())
		ports[i] = &vmPort{vm: vm.UUID(), vmi: vmi.UUID(), vn: vn.UUID(), ip: iip.GetString("instance_ip_address"), tap: fmt.Sprintf("tb%d", i)}
	})
	if b.Failed() {
		return
	}
	// The virtual-router refers to every VM of the host (one write).
	var vmRefs []any
	for _, p := range ports {
		vmRefs = append(vmRefs, map[string]any{"uuid": p.vm})
	}
	c.create("virtual-router", client.Object{
		"fq_name": []string{"default-global-system-config", "bench1"}, "parent_type": "global-system-config",
		"virtual_router_ip_address": "192.0.2.1", "virtual_machine_refs": vmRefs,
	})
	for i := 0; i < n; i++ {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ports[i].tap}, PeerName: fmt.Sprintf("vb%d", i)}
		if err := hb.H.LinkAdd(v); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("setup of %d VMs in the API and %d veths: %v", n, n, time.Since(setup))
	h := &host{name: "bench1", box: hb, ip: "192.0.2.1"}
	h.start(b, []string{c.addr}, b.TempDir())
	end := time.Now().Add(60 * time.Second)
	for {
		st := h.agent.Status()
		if st.Config["virtual-machine-interface"] >= n && st.ConfigSynced {
			break
		}
		if time.Now().After(end) {
			b.Fatalf("config not received: %v", st.Config)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StartTimer()
	start := time.Now()
	inParallel(n, func(i int) {
		if code, body := h.addPort(b, portJSON(ports[i])); code != 200 {
			b.Errorf("port %d: %d %s", i, code, body)
		}
	})
	posted := time.Since(start)
	for h.agent.Status().Active < n {
		if time.Since(start) > 60*time.Second {
			states := map[string]int{}
			for _, it := range h.agent.Interfaces() {
				if it.Active != "Active" {
					states[it.State]++
				}
			}
			b.Fatalf("only %d of %d ports active; states %v; dataplane %+v", h.agent.Status().Active, n, states, h.agent.Status().Dataplane)
		}
		time.Sleep(5 * time.Millisecond)
	}
	all := time.Since(start)
	b.StopTimer()
	st := h.agent.Status()
	b.ReportMetric(all.Seconds(), "s/1000ports")
	b.ReportMetric(posted.Seconds(), "s-posted")
	b.Logf("%d ports: all POSTs answered after %v, all programmed after %v; reconciles %d, last took %s",
		n, posted, all, st.Dataplane.Reconciles, st.Dataplane.LastDuration)
	b.Logf("dataplane status: %+v", st.Dataplane)
	// Routes published: the control node has them all.
	rs, err := c.ctl.Routes(context.Background(), "default-domain:default-project:bench:bench", 1)
	if err == nil {
		b.Logf("control node routes in the instance: %d", len(rs))
	}
}

// inParallel runs fn(0) to fn(n-1), 16 at a time, and waits for them.
func inParallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}
