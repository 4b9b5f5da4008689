// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/controller"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/rib"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/pkg/client"
)

// startControl runs another control node on e's config store.
func (e *env) startControl(hostname string) *Server {
	e.t.Helper()
	cn := New(e.st, Config{XMPPListen: "127.0.0.1:0", Hostname: hostname, HoldTime: 3 * time.Second, EndOfRibDelay: 50 * time.Millisecond})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(e.ctx)
	go func() { done <- cn.Start(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	<-cn.Ready()
	return cn
}

// agentOn connects a simulated agent to control node cn.
func (e *env) agentOn(cn *Server, name string) *agent {
	e.t.Helper()
	a := &agent{t: e.t, routes: map[string]map[string]xmpp.Entry{}, config: map[string]*xmpp.ConfigNode{},
		links: map[string]bool{}, notify: make(chan struct{}, 1)}
	c, err := controller.Dial(context.Background(), controller.Config{Server: cn.Addr().String(), Name: name, HoldTime: 3 * time.Second}, a)
	if err != nil {
		e.t.Fatalf("agent %s: %v", name, err)
	}
	a.c = c
	e.t.Cleanup(func() { c.Close() })
	return a
}

// bgpRouter creates a bgp-router under ip-fabric's __default__ instance.
func (e *env) bgpRouter(name, addr string, port int, typ string, extra map[string]any) string {
	e.t.Helper()
	params := map[string]any{"address": addr, "identifier": addr, "port": port,
		"autonomous_system": 64512, "router_type": typ, "hold_time": 9}
	for k, v := range extra {
		params[k] = v
	}
	return e.create("bgp-router", client.Object{
		"fq_name":     []string{"default-domain", "default-project", "ip-fabric", "__default__", name},
		"parent_type": "routing-instance", "bgp_router_parameters": params,
	})
}

// networkWithTarget creates a network whose instance imports and exports
// target.
func (e *env) networkWithTarget(name, target string) string {
	e.t.Helper()
	ri := e.network(name)
	rt := e.create("route-target", client.Object{"fq_name": []string{target}})
	riID, _ := e.api.FQNameToID(context.Background(), "routing-instance", strings.Split(ri, ":"))
	if err := e.api.Update(context.Background(), "routing-instance", riID, client.Object{
		"route_target_refs": []any{map[string]any{"uuid": rt, "attr": map[string]any{"import_export": nil}}}}); err != nil {
		e.t.Fatal(err)
	}
	return ri
}

func (e *env) setRefs(uuid string, refs ...string) {
	e.t.Helper()
	var l []any
	for _, r := range refs {
		l = append(l, map[string]any{"uuid": r, "attr": map[string]any{"session": []any{}}})
	}
	if err := e.api.Update(context.Background(), "bgp-router", uuid, client.Object{"bgp_router_refs": l}); err != nil {
		e.t.Fatal(err)
	}
}

// TestRouteReflection: cn1 has a cluster id and peers with cn2 and cn3,
// which do not peer with each other. An agent's route on cn2 reaches the
// agent on cn3 through cn1 (reflected, with ORIGINATOR_ID and
// CLUSTER_LIST); without the cluster id (changed through the API, at run
// time) cn1 no longer reflects and the route is withdrawn at cn3.
func TestRouteReflection(t *testing.T) {
	e := newEnv(t, Config{Hostname: "cn1", BGPListen: "none"})
	cn1, cn2, cn3 := e.startControl("rr1"), e.startControl("cn2"), e.startControl("cn3")
	p1 := etcdtest.FreePort(t)
	r1 := e.bgpRouter("rr1", "127.0.0.1", p1, "control-node", map[string]any{"cluster_id": 42})
	r2 := e.bgpRouter("cn2", "127.0.0.2", etcdtest.FreePort(t), "control-node", nil)
	r3 := e.bgpRouter("cn3", "127.0.0.5", etcdtest.FreePort(t), "control-node", nil)
	e.setRefs(r1, r2, r3)
	ri := e.networkWithTarget("vn1", "target:64512:8000001")

	a2, a3 := e.agentOn(cn2, "compute-2"), e.agentOn(cn3, "compute-3")
	a2.c.Subscribe(ri, 1)
	a3.c.Subscribe(ri, 1)
	a2.c.Publish(ri, vmRoute("10.1.1.2/32", "192.0.2.2", 22, "vn1"), false)
	a3.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.3", 33, "vn1"), false)
	a3.waitFor("cn2's route reflected to cn3", func() bool {
		r := a3.route(ri, "10.1.1.2/32")
		return r != nil && r.NextHops[0].Address == "192.0.2.2" && r.NextHops[0].Label == 22
	})
	a2.waitFor("cn3's route reflected to cn2", func() bool {
		r := a2.route(ri, "10.1.1.3/32")
		return r != nil && r.NextHops[0].Address == "192.0.2.3" && r.NextHops[0].Label == 33
	})
	// At cn3 the reflected path carries cn2 as ORIGINATOR_ID and cn1's
	// cluster id in CLUSTER_LIST.
	rs, _ := cn3.Routes(context.Background(), rib.MasterInstance, rib.InetVPN)
	var reflected bool
	for _, r := range rs {
		if r.Prefix == "192.0.2.2:1:10.1.1.2/32" && len(r.Paths) == 1 && r.Paths[0].OriginatorID == "127.0.0.2" &&
			slices.Equal(r.Paths[0].ClusterList, []uint32{42}) && r.Paths[0].Peer == "127.0.0.1" {
			reflected = true
		}
	}
	if !reflected {
		t.Errorf("cn3's VPN table: %+v", rs)
	}
	// cn1 reports both neighbors up, with what each sent.
	ns, _ := cn1.Neighbors(context.Background())
	up := 0
	for _, n := range ns {
		if n.Encoding == "BGP" && n.State == "Established" && n.BGP.PrefixesReceived == 1 && n.BGP.PrefixesSent == 1 {
			up++
		}
	}
	if up != 2 {
		t.Errorf("rr1 neighbors: %+v", ns)
	}

	// No cluster id: cn1 is an ordinary iBGP speaker and reflects nothing.
	if err := e.api.Update(context.Background(), "bgp-router", r1, client.Object{"bgp_router_parameters": map[string]any{
		"address": "127.0.0.1", "identifier": "127.0.0.1", "port": p1,
		"autonomous_system": 64512, "router_type": "control-node", "hold_time": 9}}); err != nil {
		t.Fatal(err)
	}
	a3.waitFor("reflected route withdrawn without a cluster id", func() bool { return a3.route(ri, "10.1.1.2/32") == nil })
	// cn1's speaker was restarted with the new parameters and is back up
	// with both neighbors.
	for _, addr := range []string{"127.0.0.2", "127.0.0.5"} {
		waitUntil(t, 15*time.Second, "rr1 session with "+addr+" back up", func() bool {
			n := bgpNeighbor(t, cn1, addr)
			return n != nil && n.State == "Established"
		})
	}
	a3.mu.Lock()
	own := a3.route(ri, "10.1.1.3/32")
	a3.mu.Unlock()
	if own == nil {
		t.Error("cn3's own route is gone")
	}
}
