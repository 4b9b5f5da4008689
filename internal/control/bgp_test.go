// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/controller"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

// TestTwoControlNodesPeerOverBGP runs two control nodes on one config
// store, peered iBGP through their bgp-router objects; an agent on each
// sees the other's routes of the same network.
func TestTwoControlNodesPeerOverBGP(t *testing.T) {
	e := newEnv(t, Config{Hostname: "cn1"})
	cn2 := New(e.st, Config{XMPPListen: "127.0.0.1:0", Hostname: "cn2", HoldTime: 3 * time.Second, EndOfRibDelay: 50 * time.Millisecond})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(e.ctx)
	go func() { done <- cn2.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-cn2.Ready()

	// The bgp-routers of the two control nodes under ip-fabric's __default__
	// instance, on loopback addresses and free ports, peered with each other.
	fams := map[string]any{"address_families": map[string]any{"family": []string{"inet-vpn", "e-vpn"}}}
	r1 := e.bgpRouter("cn1", "127.0.0.1", etcdtest.FreePort(t), "control-node", fams)
	r2 := e.bgpRouter("cn2", "127.0.0.2", etcdtest.FreePort(t), "control-node", fams)
	e.setRefs(r1, r2)

	// A network whose instance exports and imports one route target.
	ri := e.networkWithTarget("vn1", "target:64512:8000001")

	a1 := e.agent("compute-1")
	a2 := &agent{t: t, routes: map[string]map[string]xmpp.Entry{}, config: map[string]*xmpp.ConfigNode{},
		links: map[string]bool{}, notify: make(chan struct{}, 1)}
	c2, err := controller.Dial(context.Background(), controller.Config{Server: cn2.Addr().String(), Name: "compute-2"}, a2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	a2.c = c2
	a1.c.Subscribe(ri, 1)
	a2.c.Subscribe(ri, 1)
	a1.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "default-domain:default-project:vn1"), false)
	a2.c.Publish(ri, vmRoute("10.1.1.4/32", "192.0.2.2", 18, "vn1"), false)
	a1.waitFor("compute-2's route through BGP", func() bool {
		r := a1.route(ri, "10.1.1.4/32")
		return r != nil && r.NextHops[0].Address == "192.0.2.2" && r.NextHops[0].Label == 18
	})
	a2.waitFor("compute-1's route through BGP", func() bool {
		r := a2.route(ri, "10.1.1.3/32")
		return r != nil && r.NextHops[0].Address == "192.0.2.1" && r.NextHops[0].Label == 17
	})
	// The network's name crossed as the origin-VN community.
	a2.mu.Lock()
	if vn := a2.route(ri, "10.1.1.3/32").VirtualNetwork; vn != "default-domain:default-project:vn1" {
		t.Errorf("virtual network at compute-2: %q", vn)
	}
	a2.mu.Unlock()
	// A withdraw crosses too.
	a1.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "default-domain:default-project:vn1"), true)
	a2.waitFor("withdraw through BGP", func() bool { return a2.route(ri, "10.1.1.3/32") == nil })
}
