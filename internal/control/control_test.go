// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/controller"
	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/testutil/apitest"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/internal/transformer"
	"github.com/contrail-go/contrail/pkg/client"
)

// env is a real API server and a real control node on one real etcd.
type env struct {
	t       *testing.T
	api     *client.Client
	ctl     *Server
	addr    string
	st      *store.Store
	apiAddr string
	ctx     context.Context
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	st := etcdtest.Start(t)
	api, apiURL := apitest.Start(t, st, apiserver.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.XMPPListen == "" {
		cfg.XMPPListen = "127.0.0.1:0"
	}
	if cfg.HoldTime == 0 {
		cfg.HoldTime = 3 * time.Second
	}
	cfg.EndOfRibDelay = 50 * time.Millisecond
	ctl := New(st, cfg)
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- ctl.Start(ctx) }()
	select {
	case <-ctl.Ready():
	case err := <-ctlDone:
		t.Fatalf("control node: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-ctlDone; err != nil {
			t.Errorf("control node stopped with %v", err)
		}
	})
	return &env{t: t, api: client.New(apiURL), ctl: ctl, addr: ctl.Addr().String(),
		st: st, apiAddr: api.Addr().String(), ctx: ctx}
}

func (e *env) create(typ string, obj client.Object) string {
	e.t.Helper()
	o, err := e.api.Create(context.Background(), typ, obj)
	if err != nil {
		e.t.Fatalf("create %s: %v", typ, err)
	}
	return o.UUID()
}

// network creates a virtual network and returns its primary routing instance name.
func (e *env) network(name string) string {
	e.create("virtual-network", client.Object{
		"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project",
	})
	return "default-domain:default-project:" + name + ":" + name
}

// agent is a simulated vrouter agent that records what it receives.
type agent struct {
	t      *testing.T
	c      *controller.Client
	mu     sync.Mutex
	routes map[string]map[string]xmpp.Entry // items node -> item id -> entry
	eor    bool
	config map[string]*xmpp.ConfigNode // "type/name" -> node
	links  map[string]bool
	notify chan struct{}
}

func (e *env) agent(name string) *agent {
	e.t.Helper()
	a := &agent{t: e.t, routes: map[string]map[string]xmpp.Entry{}, config: map[string]*xmpp.ConfigNode{},
		links: map[string]bool{}, notify: make(chan struct{}, 1)}
	c, err := controller.Dial(context.Background(), controller.Config{Server: e.addr, Name: name, HoldTime: 3 * time.Second}, a)
	if err != nil {
		e.t.Fatalf("agent %s: %v", name, err)
	}
	a.c = c
	e.t.Cleanup(func() { c.Close() })
	return a
}

func (a *agent) Update(u *xmpp.Update) {
	a.mu.Lock()
	if u.IsEndOfRib() {
		a.eor = true
	}
	m := a.routes[u.Node]
	if m == nil {
		m = map[string]xmpp.Entry{}
		a.routes[u.Node] = m
	}
	for _, it := range u.Items {
		m[it.ID] = it.Entry
	}
	for _, id := range u.Retracts {
		delete(m, id)
	}
	a.mu.Unlock()
	a.poke()
}

func (a *agent) Config(c *xmpp.Config) {
	a.mu.Lock()
	for _, b := range c.Blocks {
		for _, o := range b.Objects {
			if o.Node != nil {
				k := o.Node.Type + "/" + o.Node.Name
				if b.Delete {
					delete(a.config, k)
				} else {
					a.config[k] = o.Node
				}
			}
			if o.Link != nil {
				k := o.Link.Left.Type + "/" + o.Link.Left.Name + "|" + o.Link.Right.Type + "/" + o.Link.Right.Name
				if b.Delete {
					delete(a.links, k)
				} else {
					a.links[k] = true
				}
			}
		}
	}
	a.mu.Unlock()
	a.poke()
}

func (a *agent) poke() {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// waitFor polls cond (under the agent's lock) until it holds.
func (a *agent) waitFor(what string, cond func() bool) {
	a.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		a.mu.Lock()
		ok := cond()
		a.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-a.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			a.mu.Lock()
			defer a.mu.Unlock()
			a.t.Fatalf("%s: not reached; routes %v", what, a.routes)
		}
	}
}

func (a *agent) route(inst, prefix string) *xmpp.UnicastEntry {
	e, _ := a.routes["1/1/"+inst][prefix].(*xmpp.UnicastEntry)
	return e
}

// nodeXML is the received properties of a config node as XML.
func nodeXML(n *xmpp.ConfigNode) string {
	var b strings.Builder
	for _, p := range n.Props {
		b.Write(p.Marshal())
	}
	return b.String()
}

func vmRoute(prefix, nexthop string, label uint32, vn string) *xmpp.UnicastEntry {
	return &xmpp.UnicastEntry{
		NLRI:            xmpp.NLRI{AF: 1, SAFI: 1, Address: prefix},
		NextHops:        []xmpp.NextHop{{AF: 1, Address: nexthop, Label: label, TunnelEncapsulation: []string{"vxlan"}}},
		Version:         1,
		VirtualNetwork:  vn,
		LocalPreference: 100,
	}
}

func TestAgentsExchangeRoutesAndWithdrawOnDisconnect(t *testing.T) {
	e := newEnv(t, Config{})
	ri := e.network("vn1")
	a1, a2 := e.agent("compute-1"), e.agent("compute-2")
	for i, a := range []*agent{a1, a2} {
		if err := a.c.Subscribe(ri, i+1); err != nil {
			t.Fatal(err)
		}
	}
	a1.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "default-domain:default-project:vn1"), false)
	a2.c.Publish(ri, vmRoute("10.1.1.4/32", "192.0.2.2", 18, "default-domain:default-project:vn1"), false)
	a1.waitFor("compute-1 sees compute-2's route", func() bool { return a1.route(ri, "10.1.1.4/32") != nil })
	a2.waitFor("compute-2 sees compute-1's route", func() bool { return a2.route(ri, "10.1.1.3/32") != nil })
	a1.mu.Lock()
	r := a1.route(ri, "10.1.1.4/32")
	if nh := r.NextHops[0]; nh.Address != "192.0.2.2" || nh.Label != 18 || nh.TunnelEncapsulation[0] != "vxlan" ||
		r.VirtualNetwork != "default-domain:default-project:vn1" {
		t.Errorf("route as received: %+v", r)
	}
	a1.mu.Unlock()
	a1.waitFor("End-of-RIB", func() bool { return a1.eor })

	// ECMP: the same prefix from both agents gives two next hops.
	a1.c.Publish(ri, vmRoute("10.1.1.100/32", "192.0.2.1", 20, "default-domain:default-project:vn1"), false)
	a2.c.Publish(ri, vmRoute("10.1.1.100/32", "192.0.2.2", 21, "default-domain:default-project:vn1"), false)
	a1.waitFor("ECMP route", func() bool {
		r := a1.route(ri, "10.1.1.100/32")
		return r != nil && len(r.NextHops) == 2
	})

	// Route withdrawn explicitly, then every route of a crashed agent.
	a2.c.Publish(ri, vmRoute("10.1.1.4/32", "192.0.2.2", 18, "default-domain:default-project:vn1"), true)
	a1.waitFor("withdraw", func() bool { return a1.route(ri, "10.1.1.4/32") == nil })
	a2.c.Abort()
	a1.waitFor("routes of the lost agent withdrawn", func() bool {
		r := a1.route(ri, "10.1.1.100/32")
		return r != nil && len(r.NextHops) == 1 && r.NextHops[0].Address == "192.0.2.1"
	})
}

func TestRouteTargetsLeakRoutesBetweenInstances(t *testing.T) {
	e := newEnv(t, Config{})
	ri1, ri2 := e.network("red"), e.network("blue")
	a1, a2 := e.agent("compute-1"), e.agent("compute-2")
	a1.c.Subscribe(ri1, 1)
	a2.c.Subscribe(ri2, 1)
	a1.c.Publish(ri1, vmRoute("10.1.0.3/32", "192.0.2.1", 17, "red"), false)
	a2.c.Publish(ri2, vmRoute("10.2.0.3/32", "192.0.2.2", 18, "blue"), false)
	a1.waitFor("own route", func() bool { return a1.route(ri1, "10.1.0.3/32") != nil })
	time.Sleep(200 * time.Millisecond)
	a1.mu.Lock()
	if a1.route(ri1, "10.2.0.3/32") != nil {
		t.Fatal("unconnected instances see each other's routes")
	}
	a1.mu.Unlock()

	// Connect them as the schema transformer does: a route target per
	// instance, and each imports the other's.
	rt1 := e.create("route-target", client.Object{"fq_name": []string{"target:64512:8000001"}})
	rt2 := e.create("route-target", client.Object{"fq_name": []string{"target:64512:8000002"}})
	setRTs := func(ri, own, other string) {
		u, err := e.api.FQNameToID(context.Background(), "routing-instance", strings.Split(ri, ":"))
		if err != nil {
			t.Fatal(err)
		}
		refs := []any{map[string]any{"uuid": own, "attr": map[string]any{"import_export": nil}}}
		if other != "" {
			refs = append(refs, map[string]any{"uuid": other, "attr": map[string]any{"import_export": "import"}})
		}
		if err := e.api.Update(context.Background(), "routing-instance", u, client.Object{"route_target_refs": refs}); err != nil {
			t.Fatal(err)
		}
	}
	setRTs(ri1, rt1, rt2)
	setRTs(ri2, rt2, rt1)
	a1.waitFor("leaked route in red", func() bool { return a1.route(ri1, "10.2.0.3/32") != nil })
	a2.waitFor("leaked route in blue", func() bool { return a2.route(ri2, "10.1.0.3/32") != nil })

	// Disconnect them again.
	setRTs(ri1, rt1, "")
	setRTs(ri2, rt2, "")
	a1.waitFor("leak removed from red", func() bool { return a1.route(ri1, "10.2.0.3/32") == nil })
	a2.waitFor("leak removed from blue", func() bool { return a2.route(ri2, "10.1.0.3/32") == nil })
}

func TestConfigSubgraphAndIncrementalUpdates(t *testing.T) {
	e := newEnv(t, Config{})
	e.create("virtual-network", client.Object{
		"fq_name": []string{"default-domain", "default-project", "vn1"}, "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to":   []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{"subnet": map[string]any{"ip_prefix": "10.1.1.0", "ip_prefix_len": 24}}}},
		}},
	})
	vm := e.create("virtual-machine", client.Object{"fq_name": []string{"vm1"}})
	vmi := e.create("virtual-machine-interface", client.Object{
		"fq_name": []string{"default-domain", "default-project", "vmi1"}, "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"to": []string{"default-domain", "default-project", "vn1"}}},
		"virtual_machine_refs": []any{map[string]any{"uuid": vm}},
	})
	e.create("instance-ip", client.Object{"fq_name": []string{"iip1"},
		"virtual_network_refs":           []any{map[string]any{"to": []string{"default-domain", "default-project", "vn1"}}},
		"virtual_machine_interface_refs": []any{map[string]any{"uuid": vmi}}})
	e.create("virtual-router", client.Object{
		"fq_name": []string{"default-global-system-config", "compute-1"}, "parent_type": "global-system-config",
		"virtual_router_ip_address": "192.0.2.1",
		"virtual_machine_refs":      []any{map[string]any{"uuid": vm}},
	})
	// An unrelated network must not be sent.
	e.network("other")

	a := e.agent("compute-1")
	if err := a.c.SubscribeConfig("default-global-system-config:compute-1"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"virtual-router/default-global-system-config:compute-1",
		"virtual-machine/vm1",
		"virtual-machine-interface/default-domain:default-project:vmi1",
		"virtual-network/default-domain:default-project:vn1",
		"routing-instance/default-domain:default-project:vn1:vn1",
		"instance-ip/iip1",
		"network-ipam/default-domain:default-project:default-network-ipam",
		"global-system-config/default-global-system-config",
		"global-vrouter-config/default-global-system-config:default-global-vrouter-config",
		"virtual-network-network-ipam/attr(default-domain:default-project:vn1,default-domain:default-project:default-network-ipam)",
	}
	vmiLink := "virtual-machine-interface/default-domain:default-project:vmi1|virtual-network/default-domain:default-project:vn1"
	a.waitFor("config subgraph", func() bool {
		for _, k := range want {
			if a.config[k] == nil {
				return false
			}
		}
		// Links follow the nodes, possibly in later messages.
		return a.links[vmiLink]
	})
	a.mu.Lock()
	if a.config["virtual-network/default-domain:default-project:other"] != nil {
		t.Error("an unrelated network was sent")
	}
	subnet := nodeXML(a.config[want[9]])
	if !strings.Contains(subnet, "<ip-prefix>10.1.1.0</ip-prefix>") || !strings.Contains(subnet, "<default-gateway>10.1.1.254</default-gateway>") {
		t.Errorf("subnet attribute node: %s", subnet)
	}
	a.mu.Unlock()

	// An update of a sent object is pushed; a deleted one is deleted.
	vn, _ := e.api.FQNameToID(context.Background(), "virtual-network", []string{"default-domain", "default-project", "vn1"})
	e.api.Update(context.Background(), "virtual-network", vn, client.Object{"display_name": "renamed"})
	a.waitFor("incremental update", func() bool {
		n := a.config["virtual-network/default-domain:default-project:vn1"]
		return n != nil && strings.Contains(nodeXML(n), "<display-name>renamed</display-name>")
	})
}

func TestBadInputClosesOnlyThatSession(t *testing.T) {
	e := newEnv(t, Config{})
	ri := e.network("vn1")
	good := e.agent("good")
	good.c.Subscribe(ri, 1)
	good.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "vn1"), false)
	good.waitFor("route", func() bool { return good.route(ri, "10.1.1.3/32") != nil })

	for name, payload := range map[string]string{
		"malformed":    "<iq type='set'><pubsub><publish></iq>",
		"unsubscribed": string((&xmpp.RoutePublish{From: "x", Seq: 1, VRF: "default-domain:default-project:nope:nope", Entry: vmRoute("10.9.9.9/32", "192.0.2.9", 1, "x")}).Marshal()),
		"oversized":    "<iq type='set'>" + strings.Repeat("x", 5<<20) + "</iq>",
	} {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		hdr := &xmpp.StreamHeader{From: "bad-" + name, To: xmpp.ControlNodeJID}
		conn.Write(hdr.Encode())
		conn.Write([]byte(payload))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64<<10)
		var err2 error
		for err2 == nil {
			_, err2 = conn.Read(buf)
		}
		if ne, ok := err2.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: session was not closed", name)
		}
		conn.Close()
	}
	// The good agent is untouched and still gets updates.
	other := e.agent("other")
	other.c.Subscribe(ri, 2)
	other.c.Publish(ri, vmRoute("10.1.1.4/32", "192.0.2.2", 18, "vn1"), false)
	good.waitFor("update after the bad sessions", func() bool { return good.route(ri, "10.1.1.4/32") != nil })
	if err := good.c.Err(); err != nil {
		t.Fatalf("good session ended: %v", err)
	}
	_ = fmt.Sprint
}

// TestPolicyConnectsNetworks runs the real schema transformer: a policy
// attached to two networks makes them exchange routes; detaching it stops it.
func TestPolicyConnectsNetworks(t *testing.T) {
	e := newEnv(t, Config{})
	tr, err := transformer.New(transformer.Config{APIURL: "http://" + e.apiAddr, Store: e.st, LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	trDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(e.ctx)
	go func() { trDone <- tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-trDone })

	ri1, ri2 := e.network("red"), e.network("blue")
	a1, a2 := e.agent("compute-1"), e.agent("compute-2")
	a1.c.Subscribe(ri1, 1)
	a2.c.Subscribe(ri2, 1)
	a1.c.Publish(ri1, vmRoute("10.1.0.3/32", "192.0.2.1", 17, "red"), false)
	a2.c.Publish(ri2, vmRoute("10.2.0.3/32", "192.0.2.2", 18, "blue"), false)
	a1.waitFor("own route", func() bool { return a1.route(ri1, "10.1.0.3/32") != nil })

	rule := func(src, dst string) map[string]any {
		return map[string]any{
			"direction": "<>", "protocol": "any",
			"action_list":   map[string]any{"simple_action": "pass"},
			"src_addresses": []any{map[string]any{"virtual_network": "default-domain:default-project:" + src}},
			"dst_addresses": []any{map[string]any{"virtual_network": "default-domain:default-project:" + dst}},
			"src_ports":     []any{map[string]any{"start_port": -1, "end_port": -1}},
			"dst_ports":     []any{map[string]any{"start_port": -1, "end_port": -1}},
		}
	}
	pol := e.create("network-policy", client.Object{
		"fq_name": []string{"default-domain", "default-project", "red-blue"}, "parent_type": "project",
		"network_policy_entries": map[string]any{"policy_rule": []any{rule("red", "blue")}},
	})
	attach := func(vn string, on bool) {
		u, err := e.api.FQNameToID(context.Background(), "virtual-network", []string{"default-domain", "default-project", vn})
		if err != nil {
			t.Fatal(err)
		}
		refs := []any{}
		if on {
			refs = append(refs, map[string]any{"uuid": pol, "attr": map[string]any{"sequence": map[string]any{"major": 0, "minor": 0}}})
		}
		if err := e.api.Update(context.Background(), "virtual-network", u, client.Object{"network_policy_refs": refs}); err != nil {
			t.Fatal(err)
		}
	}
	attach("red", true)
	attach("blue", true)
	a1.waitFor("blue's route leaked into red by the policy", func() bool { return a1.route(ri1, "10.2.0.3/32") != nil })
	a2.waitFor("red's route leaked into blue by the policy", func() bool { return a2.route(ri2, "10.1.0.3/32") != nil })

	attach("blue", false)
	a1.waitFor("leak gone after the policy is detached", func() bool { return a1.route(ri1, "10.2.0.3/32") == nil })
	a2.waitFor("leak gone in blue", func() bool { return a2.route(ri2, "10.1.0.3/32") == nil })
}

// TestStartupEndOfRibDelay: after the node starts, no agent gets its
// End-of-RIB before the startup hold has passed, however early it
// subscribed; routes flow meanwhile.
func TestStartupEndOfRibDelay(t *testing.T) {
	const hold = 1500 * time.Millisecond
	e := newEnv(t, Config{StartupEndOfRibDelay: hold})
	opened := time.Unix(0, e.ctl.listening.Load())
	ri := e.network("vn1")
	a1, a2 := e.agent("compute-1"), e.agent("compute-2")
	for i, a := range []*agent{a1, a2} {
		if err := a.c.Subscribe(ri, i+1); err != nil {
			t.Fatal(err)
		}
	}
	a2.c.Publish(ri, vmRoute("10.1.1.4/32", "192.0.2.2", 18, "default-domain:default-project:vn1"), false)
	a1.waitFor("compute-1 sees compute-2's route", func() bool { return a1.route(ri, "10.1.1.4/32") != nil })
	a1.mu.Lock()
	early := a1.eor
	a1.mu.Unlock()
	if early && time.Since(opened) < hold {
		t.Fatalf("End-of-RIB %v after the listener opened, before the %v hold", time.Since(opened), hold)
	}
	a1.waitFor("End-of-RIB", func() bool { return a1.eor })
	if d := time.Since(opened); d < hold {
		t.Errorf("End-of-RIB %v after the listener opened, before the %v hold", d, hold)
	}
}
