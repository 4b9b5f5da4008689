// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/collector"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

// rowWriter keeps the rows a collector writes.
type rowWriter struct {
	mu   sync.Mutex
	rows []store.Row
}

func (w *rowWriter) Write(_ context.Context, rows []store.Row) error {
	w.mu.Lock()
	w.rows = append(w.rows, rows...)
	w.mu.Unlock()
	return nil
}

func (w *rowWriter) find(table string, match func(map[string]any) bool) []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, r := range w.rows {
		if r.Table == table && match(r.Fields) {
			out = append(out, r.Fields)
		}
	}
	return out
}

// startReportCollector runs a collector on a free port of 127.0.0.1.
func startReportCollector(t *testing.T) (*collector.Collector, *rowWriter) {
	t.Helper()
	w := &rowWriter{}
	c, err := collector.New(collector.Config{Listen: "127.0.0.1:0", Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, w
}

// uveJSON returns the aggregated UVE of typ/key as generic JSON, or nil.
func uveJSON(c *collector.Collector, typ, key string) map[string]any {
	v, ok, _ := c.UVEs().Get(context.Background(), typ, key, uve.Filter{Flat: true})
	if !ok {
		return nil
	}
	b, _ := json.Marshal(v)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// TestReportToCollector runs an agent with a generator towards a real
// collector: its VrouterAgent and UveVirtualNetworkAgent UVEs arrive and
// follow the ports (the network's UVE is deleted with its last port),
// NodeStatus carries the control-node connection, and the flow records of
// traffic between two local VMs land in FlowRecordTable, with the
// counters of the teardown.
func TestReportToCollector(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	col, rows := startReportCollector(t)
	// The schema transformer gives the network its ACL: flows of ports
	// with an ACL or security group are recorded.
	c.startTransformer()

	vn := c.network("rvn", "10.3.3.0/24")
	h := c.oneHost("rhost", "192.0.2.31")
	hb := h.box
	p1 := c.vmPort("rhost", "rvm1", vn)
	p2 := c.vmPort("rhost", "rvm2", vn)
	// A security group on the ports (flows are recorded for ports with a
	// security group or network ACL): UDP 7777 in, anything out.
	c.securityGroup("rweb", []any{sgRule(true, "udp", 7777), sgRule(false, "any", 0)}, p1, p2)
	gw := "10.3.3.254"
	vmBox(t, h, p1, "rvm1", gw)
	vmBox(t, h, p2, "rvm2", gw)

	gen := generator.New(generator.Config{Collectors: []string{col.Addr().String()}, Module: "contrail-vrouter-agent",
		Source: "rhost", MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, StatsInterval: -1})
	gctx, gcancel := context.WithCancel(context.Background())
	gdone := make(chan struct{})
	go func() { defer close(gdone); gen.Start(gctx) }()
	t.Cleanup(func() { gcancel(); <-gdone })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t, "rhost"}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(Config{Hostname: "rhost", TunnelIP: netip.MustParseAddr(h.ip), ControlNodes: []string{c.addr},
		Collectors: []string{col.Addr().String()}, PortListener: ln, DataDir: t.TempDir(), NetNS: hb.NS,
		HoldTime: 3 * time.Second, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		PortConfigWait: 2 * time.Second, RestoreTimeout: 10 * time.Second, Logger: log, NoDHCP: true,
		Reporter: gen, Report: ReportConfig{Interval: 100 * time.Millisecond, HTTPPort: 8085, ConfigFile: "/etc/x.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() { adone <- a.Run(actx) }()
	t.Cleanup(func() { acancel(); <-adone })
	h.agent, h.portURL = a, "http://"+ln.Addr().String()
	waitFor(t, "agent synced", 10*time.Second, func() bool { return a.Status().ConfigSynced })

	// The vrouter's UVE and NodeStatus, with no port yet.
	var vr map[string]any
	waitFor(t, "VrouterAgent UVE with the control node up", 10*time.Second, func() bool {
		vr = uveJSON(col, "vrouter", "rhost")
		s := fmt.Sprint(vr)
		return vr != nil && strings.Contains(s, "VrouterAgent") && strings.Contains(s, "control-node:127.0.0.1") &&
			strings.Contains(fmt.Sprint(vr["VrouterAgent"]), "status:true")
	})
	agentUVE := vr["VrouterAgent"].(map[string]any)
	if agentUVE["control_ip"] != "192.0.2.31" || agentUVE["config_file"] != "/etc/x.conf" ||
		fmt.Sprint(agentUVE["sandesh_http_port"]) != "8085" || fmt.Sprint(agentUVE["vn_count"]) != "0" {
		t.Errorf("VrouterAgent: %v", agentUVE)
	}
	if ns := fmt.Sprint(vr["NodeStatus"]); !strings.Contains(ns, "XMPP") || !strings.Contains(ns, "Collector") {
		t.Errorf("NodeStatus: %s", ns)
	}

	h.addPortOK(t, portJSON(p1))
	h.addPortOK(t, portJSON(p2))
	vnName := "default-domain:default-project:rvn"
	vmi1, vmi2 := "default-domain:default-project:rvm1-eth0", "default-domain:default-project:rvm2-eth0"
	waitFor(t, "VrouterAgent UVE with the two ports", 10*time.Second, func() bool {
		u, _ := uveJSON(col, "vrouter", "rhost")["VrouterAgent"].(map[string]any)
		return fmt.Sprint(strList(u["interface_list"])) == fmt.Sprint([]string{vmi1, vmi2}) &&
			fmt.Sprint(u["vn_count"]) == "1" && len(strList(u["virtual_machine_list"])) == 2 &&
			len(strList(u["error_intf_list"])) == 0
	})
	waitFor(t, "UveVirtualNetworkAgent with the two ports", 10*time.Second, func() bool {
		u, _ := uveJSON(col, "virtual-network", vnName)["UveVirtualNetworkAgent"].(map[string]any)
		return fmt.Sprint(strList(u["interface_list"])) == fmt.Sprint([]string{vmi1, vmi2}) &&
			len(strList(u["virtualmachine_list"])) == 2
	})

	waitFor(t, "the group's ACLs at the agent", 15*time.Second, func() bool {
		n := 0
		for _, acl := range a.ACLs() {
			if acl.Parent == "security-group" && acl.Rules > 0 {
				n++
			}
		}
		return n >= 2
	})
	time.Sleep(500 * time.Millisecond) // the firewall follows the dataplane

	// Traffic between the two VMs: a flow record per direction.
	pr := p1.box.Prober(t, p2.ip)
	if _, ok := pr.Until("rvm2", 10*time.Second, 100*time.Millisecond); !ok {
		t.Fatal("rvm1 -> rvm2: no answer")
	}
	for i := 0; i < 4; i++ {
		pr.Once(200 * time.Millisecond)
	}
	fwdOf := func(f map[string]any) bool {
		return f["sourceip"] == p1.ip && f["destip"] == p2.ip && fmt.Sprint(f["dport"]) == "7777"
	}
	var fwd map[string]any
	defer func() {
		if t.Failed() {
			fr, _ := a.ext.flowRecords(context.Background())
			t.Logf("flow table: %+v", fr)
			t.Logf("flow rows: %v", rows.find(collector.TableFlowRecord, func(map[string]any) bool { return true }))
		}
	}()
	waitFor(t, "flow record rvm1 -> rvm2", 20*time.Second, func() bool {
		recs := rows.find(collector.TableFlowRecord, fwdOf)
		if len(recs) > 0 {
			fwd = recs[len(recs)-1]
		}
		return fwd != nil
	})
	if fwd["sourcevn"] != vnName || fwd["destvn"] != vnName || fmt.Sprint(fwd["direction_ing"]) != "1" ||
		fwd["vrouter"] != "rhost" || fwd["vrouter_ip"] != "192.0.2.31" || fwd["action"] != "pass" ||
		fwd["vmi"] == nil || fwd["reverse_uuid"] == nil || fmt.Sprint(fwd["protocol"]) != "17" || fwd["vmi"] != vmi1 {
		t.Errorf("forward flow record: %v", fwd)
	}
	rev := rows.find(collector.TableFlowRecord, func(f map[string]any) bool { return f["UuidKey"] == fwd["reverse_uuid"] })
	if len(rev) == 0 || rev[0]["sourceip"] != p2.ip || fmt.Sprint(rev[0]["direction_ing"]) != "0" || rev[0]["vmi"] != vmi2 {
		t.Errorf("reverse flow record: %v", rev)
	}

	// The flow ends (its conntrack entry times out): the teardown record
	// carries the counters of the whole flow.
	if err := hb.In(func() error {
		for _, k := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
			if err := os.WriteFile("/proc/sys/net/netfilter/"+k, []byte("1"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pr.Once(200 * time.Millisecond) // restarts the timer with the short timeout
	waitFor(t, "teardown record", 30*time.Second, func() bool {
		return len(rows.find(collector.TableFlowRecord, func(f map[string]any) bool {
			return fwdOf(f) && f["teardown_time"] != nil && fmt.Sprint(f["agg-packets"]) != "0"
		})) > 0
	})
	var inStats string
	waitFor(t, "in_stats of the network", 10*time.Second, func() bool {
		u, _ := uveJSON(col, "virtual-network", vnName)["UveVirtualNetworkAgent"].(map[string]any)
		inStats = fmt.Sprint(u["in_stats"])
		return strings.Contains(inStats, vnName)
	})
	t.Logf("VrouterAgent: %v", uveJSON(col, "vrouter", "rhost")["VrouterAgent"])
	t.Logf("UveVirtualNetworkAgent: %v", uveJSON(col, "virtual-network", vnName)["UveVirtualNetworkAgent"])
	series := rows.find(collector.TableFlowSeries, func(f map[string]any) bool { return f["UuidKey"] == fwd["UuidKey"] })
	var pkts int64
	for _, s := range series {
		if n, ok := s["packets"].(int64); ok {
			pkts += n
		}
	}
	if pkts < 5 {
		t.Errorf("flow series of the forward flow add up to %d packets, want >= 5: %v", pkts, series)
	}

	// The ports go: the network's UVE is deleted with the last one.
	for i, p := range []*vmPort{p1, p2} {
		req, _ := http.NewRequest(http.MethodDelete, h.portURL+"/port/"+p.vmi, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if i == 0 {
			waitFor(t, "one port left in the network UVE", 10*time.Second, func() bool {
				u, _ := uveJSON(col, "virtual-network", vnName)["UveVirtualNetworkAgent"].(map[string]any)
				return fmt.Sprint(strList(u["interface_list"])) == fmt.Sprint([]string{vmi2})
			})
		}
	}
	waitFor(t, "network UVE deleted", 10*time.Second, func() bool {
		return uveJSON(col, "virtual-network", vnName) == nil
	})
	waitFor(t, "VrouterAgent UVE without ports", 10*time.Second, func() bool {
		u, _ := uveJSON(col, "vrouter", "rhost")["VrouterAgent"].(map[string]any)
		return u != nil && len(strList(u["interface_list"])) == 0 && fmt.Sprint(u["vn_count"]) == "0"
	})
}
