// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/pkg/client"
)

func TestQueueDedupAndRequeueWhileActive(t *testing.T) {
	q := newQueue()
	q.add("a")
	q.add("b")
	q.add("a")
	if s := q.stats(); s.Depth != 2 {
		t.Fatalf("depth %d, want 2", s.Depth)
	}
	k, _ := q.get()
	if k != "a" {
		t.Fatalf("got %q, want a", k)
	}
	q.add("a") // changed while a worker has it
	if s := q.stats(); s.Depth != 1 {
		t.Fatalf("depth %d while a is active, want 1", s.Depth)
	}
	q.done("a")
	if k, _ := q.get(); k != "b" {
		t.Fatalf("got %q, want b", k)
	}
	if k, _ := q.get(); k != "a" {
		t.Fatalf("a was not queued again after done")
	}
	q.done("a")
	q.done("b")
	q.addAfter("c", 20*time.Millisecond, true)
	if q.idle() {
		t.Fatal("a key waiting for its retry counts as idle")
	}
	start := time.Now()
	if k, _ := q.get(); k != "c" || time.Since(start) < 15*time.Millisecond {
		t.Fatalf("retry of c: %q after %v", k, time.Since(start))
	}
	q.done("c")
	q.addAfter("d", time.Hour, false)
	if !q.idle() {
		t.Fatal("a periodic check counts as work")
	}
	q.shutdown()
	if _, ok := q.get(); ok {
		t.Fatal("get after shutdown")
	}
}

func TestACLProtocol(t *testing.T) {
	tests := []struct {
		proto, ethertype, want string
		bad                    bool
	}{
		{"any", "IPv4", "any", false},
		{"", "IPv4", "any", false},
		{"TCP", "IPv4", "6", false},
		{"udp", "IPv6", "17", false},
		{"icmp", "IPv4", "1", false},
		{"icmp", "IPv6", "58", false},
		{"icmp6", "IPv6", "58", false},
		{"47", "IPv4", "47", false},
		{"256", "IPv4", "", true},
		{"foo", "IPv4", "", true},
	}
	for _, tc := range tests {
		got, err := aclProtocol(tc.proto, tc.ethertype)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("aclProtocol(%q, %q) = %q, %v; want %q, bad=%v", tc.proto, tc.ethertype, got, err, tc.want, tc.bad)
		}
	}
}

func TestValidRouteTarget(t *testing.T) {
	for name, want := range map[string]bool{
		"target:64512:1": true, "target:4294967295:1": true, "target:10.1.2.3:7": true,
		"target:4294967296:1": false, "target:foo:1": false, "target:::1:7": false, "target:64512:x": false,
		"64512:1": false, "target:64512": false,
	} {
		if got := validRT(name); got != want {
			t.Errorf("validRT(%q) = %v", name, got)
		}
	}
}

func TestSystemRouteTargetRange(t *testing.T) {
	tr := &Transformer{}
	tests := []struct {
		name string
		asn  int64
		want bool
	}{
		{"target:64512:8000000", 64512, true},
		{"target:64512:24777215", 64512, true},
		{"target:64512:24777216", 64512, false},
		{"target:64512:7999999", 64512, false},
		{"target:64513:8000000", 64512, false},
		{"target:4200000000:8000", 4200000000, true},
		{"target:4200000000:40767", 4200000000, true},
		{"target:4200000000:40768", 4200000000, false},
		{"target:10.0.0.1:8000000", 64512, false},
		{"bogus", 64512, false},
	}
	for _, tc := range tests {
		if got := tr.isSystemRT(tc.name, tc.asn); got != tc.want {
			t.Errorf("isSystemRT(%s, %d) = %v", tc.name, tc.asn, got)
		}
	}
}

// riTargets returns the route targets (by name) of a network's primary
// routing instance, from the test's graph.
func (e *env) riTargets(vnFQ string) map[string]int {
	e.t.Helper()
	e.catchUp()
	e.g.RLock()
	defer e.g.RUnlock()
	u, ok := e.g.LookupFQString("routing-instance", vnFQ+":"+vnFQ[strings.LastIndexByte(vnFQ, ':')+1:])
	if !ok {
		return nil
	}
	out := map[string]int{}
	for _, r := range e.g.Get(u).Obj.Refs["route_target_refs"] {
		out[model.FQNameString(r.To)] = rtDir(r.Attr)
	}
	return out
}

func (e *env) errorOf(typ, fqs string) string {
	e.t.Helper()
	e.catchUp()
	e.g.RLock()
	defer e.g.RUnlock()
	u, ok := e.g.LookupFQString(typ, fqs)
	if !ok {
		return "<gone>"
	}
	s, _ := annotation(e.g.Get(u).Obj, ErrorAnnotation)
	return s
}

func (e *env) count(typ string) int {
	e.g.RLock()
	defer e.g.RUnlock()
	return e.g.Count(typ)
}

// TestRouteTargetRangeExhausted: a network that finds no free number gets
// an error annotation, others carry on, and it gets one once a number is
// freed.
func TestRouteTargetRangeExhausted(t *testing.T) {
	e := newEnv(t)
	// The two start-up networks (default-virtual-network, dci-network)
	// take two of the four numbers.
	in := e.start("small", nil, func(c *Config) { c.RouteTargetRangeSize = 4 })
	e.project()
	e.mustCreate("virtual-network", vnBody("a", nil))
	e.mustCreate("virtual-network", vnBody("b", nil))
	e.settle(in)
	e.mustCreate("virtual-network", vnBody("c", nil))
	e.settle(in)
	if msg := e.errorOf("virtual-network", "default-domain:test:c"); !strings.Contains(msg, "exhausted") {
		t.Fatalf("network c: error %q, want range exhausted", msg)
	}
	if len(e.riTargets("default-domain:test:c")) != 0 {
		t.Fatalf("network c has targets %v", e.riTargets("default-domain:test:c"))
	}
	if msg := e.errorOf("virtual-network", "default-domain:test:b"); msg != "" {
		t.Fatalf("network b: error %q", msg)
	}
	if err := e.api.Delete(context.Background(), "virtual-network", e.uuidOf("virtual-network", "default-domain", "test", "a")); err != nil {
		t.Fatal(err)
	}
	e.settle(in)
	if msg := e.errorOf("virtual-network", "default-domain:test:c"); msg != "" {
		t.Fatalf("network c after a number was freed: error %q", msg)
	}
	if len(e.riTargets("default-domain:test:c")) != 1 {
		t.Fatalf("network c has targets %v, want its own", e.riTargets("default-domain:test:c"))
	}
}

// TestDeleteRemovesEverythingDerived: deleting networks, groups, policies
// and routers leaves no derived object behind.
func TestDeleteRemovesEverythingDerived(t *testing.T) {
	e := newEnv(t)
	in := e.start("del", nil)
	ctx := context.Background()
	e.settle(in)
	baseRT, baseACL := e.count("route-target"), e.count("access-control-list")
	e.project()
	rule := func(src, dst string) map[string]any {
		return map[string]any{"direction": "<>", "protocol": "any", "ethertype": "IPv4",
			"src_addresses": []any{map[string]any{"virtual_network": src}}, "src_ports": []any{map[string]any{}},
			"dst_addresses": []any{map[string]any{"virtual_network": dst}}, "dst_ports": []any{map[string]any{}},
			"action_list": map[string]any{"simple_action": "pass"}}
	}
	pol := e.mustCreate("network-policy", client.Object{"fq_name": fq("default-domain", "test", "p"), "parent_type": "project",
		"network_policy_entries": map[string]any{"policy_rule": []any{rule("x", "y")}}})
	ref := []any{map[string]any{"uuid": pol, "attr": map[string]any{"sequence": map[string]any{"major": 0, "minor": 0}}}}
	x := e.mustCreate("virtual-network", vnBody("x", client.Object{"network_policy_refs": ref,
		"route_target_list": map[string]any{"route_target": []string{"target:64512:77"}}}))
	y := e.mustCreate("virtual-network", vnBody("y", client.Object{"network_policy_refs": ref}))
	sg := e.mustCreate("security-group", client.Object{"fq_name": fq("default-domain", "test", "sg"), "parent_type": "project",
		"security_group_entries": map[string]any{"policy_rule": []any{}}})
	vmi := e.mustCreate("virtual-machine-interface", client.Object{"fq_name": fq("default-domain", "test", "port"), "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": x}}})
	lr := e.mustCreate("logical-router", client.Object{"fq_name": fq("default-domain", "test", "lr"), "parent_type": "project",
		"virtual_machine_interface_refs": []any{map[string]any{"uuid": vmi}}})
	e.settle(in)
	// x: own, y's (import), the router's, target:64512:77.
	if got := e.riTargets("default-domain:test:x"); len(got) != 4 {
		t.Fatalf("x targets %v", got)
	}
	if n := e.count("access-control-list") - baseACL; n != 4 {
		t.Fatalf("%d ACLs derived, want 4 (2 networks, 2 for the group)", n)
	}
	for _, del := range []struct{ typ, uuid string }{
		{"logical-router", lr}, {"virtual-machine-interface", vmi}, {"virtual-network", x}, {"virtual-network", y},
		{"network-policy", pol}, {"security-group", sg},
	} {
		if err := e.api.Delete(ctx, del.typ, del.uuid); err != nil {
			t.Fatalf("delete %s: %v", del.typ, err)
		}
	}
	e.settle(in)
	if n := e.count("route-target"); n != baseRT {
		t.Fatalf("%d route targets left, want %d", n, baseRT)
	}
	if n := e.count("access-control-list"); n != baseACL {
		t.Fatalf("%d ACLs left, want %d", n, baseACL)
	}
	// The security group's id is free again: the API's id key is gone.
	resp, err := e.st.Client.Get(ctx, e.st.Keys.IDs("security-group"), clientv3WithPrefixCount(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 1 { // __no_rule__
		t.Fatalf("%d security group ids still allocated, want 1", resp.Count)
	}
}

// TestLeaderKilled: two instances with their own etcd clients; the
// leader's connection to etcd is cut (a proxy drops it), so to etcd it is
// as dead as a killed process, and none of its shutdown code runs: its
// lease just expires. The other takes over within 10 s, a write with the
// old leader's fence is refused, the old leader's own term ends, and the
// new leader derives what is created afterwards.
func TestLeaderKilled(t *testing.T) {
	e := newEnv(t)
	px := newProxy(t, strings.TrimPrefix(e.st.ClientURLs()[0], "http://"))
	stA, err := store.Open(context.Background(), store.Options{Endpoints: []string{px.url()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stA.Close() })
	a := e.start("a", stA, func(c *Config) { c.LeaseTTL = DefaultLeaseTTL })
	eventually(t, "a leads", 10*time.Second, func() error {
		if !a.tr.IsLeader() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	b := e.start("b", etcdtest.Connect(t, e.st), func(c *Config) { c.LeaseTTL = DefaultLeaseTTL })
	<-b.tr.Ready()
	e.project()
	e.mustCreate("virtual-network", vnBody("before", nil))
	e.settle(a)
	if len(e.riTargets("default-domain:test:before")) != 1 {
		t.Fatal("leader did not derive the network")
	}
	if b.tr.IsLeader() {
		t.Fatal("two leaders")
	}
	fence := a.tr.Fence()
	killed := time.Now()
	px.sever()
	eventually(t, "takeover", 15*time.Second, func() error {
		if !b.tr.IsLeader() {
			return fmt.Errorf("standby not leader after %v", time.Since(killed))
		}
		return nil
	})
	took := time.Since(killed)
	t.Logf("takeover %v after the leader was cut off (lease TTL %v)", took.Round(time.Millisecond), DefaultLeaseTTL)
	if took > 10*time.Second || took < DefaultLeaseTTL/2 {
		t.Fatalf("takeover took %v, want the lease to expire and < 10s", took)
	}
	// A write with the deposed leader's fence changes nothing.
	deposed := client.New(e.url, client.WithHeader(apiserver.FenceHeader, fence))
	_, err = deposed.Create(context.Background(), "virtual-network", vnBody("from-deposed", nil))
	var ae *client.Error
	if !errorsAs(err, &ae) || ae.StatusCode != http.StatusPreconditionFailed || ae.Field != apiserver.FenceHeader {
		t.Fatalf("write with the old fence: %v, want 412 on %s", err, apiserver.FenceHeader)
	}
	if _, err := e.api.FQNameToID(context.Background(), "virtual-network", fq("default-domain", "test", "from-deposed")); !client.IsNotFound(err) {
		t.Fatalf("the fenced write left an object: %v", err)
	}
	// The cut-off leader notices its session is gone and stops leading.
	eventually(t, "old leader steps down", 15*time.Second, func() error {
		if a.tr.IsLeader() {
			return fmt.Errorf("still leading")
		}
		return nil
	})
	e.mustCreate("virtual-network", vnBody("after", nil))
	e.settle(b)
	if len(e.riTargets("default-domain:test:after")) != 1 {
		t.Fatal("new leader did not derive the network")
	}
	if got := e.riTargets("default-domain:test:before"); len(got) != 1 {
		t.Fatalf("network derived before the takeover changed: %v", got)
	}
}

// TestIntrospectPages serves the transformer's pages from an introspect
// mux.
func TestIntrospectPages(t *testing.T) {
	e := newEnv(t)
	in := e.start("intro", nil)
	e.project()
	e.mustCreate("network-policy", client.Object{"fq_name": fq("default-domain", "test", "broken"), "parent_type": "project",
		"network_policy_entries": map[string]any{"policy_rule": []any{map[string]any{
			"direction": "<>", "protocol": "tcp", "ethertype": "IPv4",
			"src_addresses": []any{map[string]any{"virtual_network": "nowhere"}}, "src_ports": []any{map[string]any{}},
			"dst_addresses": []any{map[string]any{"virtual_network": "any"}}, "dst_ports": []any{map[string]any{}},
			"action_list": map[string]any{"simple_action": "pass"}}}}})
	e.settle(in)
	is := obs.NewIntrospect("contrail-schema", in.reg, nil)
	in.tr.RegisterIntrospect(is)
	srv := httptest.NewServer(is.Handler())
	defer srv.Close()
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
	}
	var leader LeaderState
	get("/schema/leader", &leader)
	if !leader.Leader || leader.CurrentLeader != "intro" || leader.Fence == "" {
		t.Fatalf("leader page: %+v", leader)
	}
	var q queueState
	get("/schema/queue", &q)
	if !q.Leader || q.Depth != 0 {
		t.Fatalf("queue page: %+v", q)
	}
	var errs []ObjectStatus
	get("/schema/objects?errors=1", &errs)
	if len(errs) != 1 || !strings.Contains(strings.Join(errs[0].Problems, ";"), "nowhere does not exist") {
		t.Fatalf("objects in error: %+v", errs)
	}
	get("/healthz", nil)
	get("/readyz", nil)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	for _, m := range []string{"contrail_schema_is_leader 1", "contrail_schema_queue_depth", "contrail_schema_objects_in_error 1", "contrail_schema_reconciles_total"} {
		if !strings.Contains(b.String(), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

// TestPassiveInstanceWritesNothing: a second instance follows the store
// but does not reconcile while the first leads.
func TestPassiveInstanceWritesNothing(t *testing.T) {
	e := newEnv(t)
	a := e.start("a", nil)
	eventually(t, "a leads", 10*time.Second, func() error {
		if !a.tr.IsLeader() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	b := e.start("b", etcdtest.Connect(t, e.st))
	<-b.tr.Ready()
	e.project()
	for i := range 5 {
		e.mustCreate("virtual-network", vnBody(fmt.Sprintf("n%d", i), nil))
	}
	e.settle(a)
	if b.tr.IsLeader() || b.writes() != 0 {
		t.Fatalf("passive instance: leader=%v writes=%v", b.tr.IsLeader(), b.writes())
	}
	if !slices.Contains([]string{"a"}, b.tr.State(context.Background()).CurrentLeader) {
		t.Fatalf("passive instance sees leader %q", b.tr.State(context.Background()).CurrentLeader)
	}
}
