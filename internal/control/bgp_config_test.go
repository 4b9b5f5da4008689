// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/pkg/client"
)

func gobgpNeighborConf(gPort, ourPort int) string {
	return fmt.Sprintf(`
[global.config]
  as = 64512
  router-id = "127.0.0.4"
  port = %d
  local-address-list = ["127.0.0.4"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = 64512
  [neighbors.transport.config]
    remote-port = %d
    local-address = "127.0.0.4"
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
    idle-hold-time-after-reset = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l3vpn-ipv4-unicast"
`, gPort, ourPort)
}

// bgpNeighbor returns the control node's introspect entry of a BGP
// neighbor, nil if there is none.
func bgpNeighbor(t *testing.T, cn *Server, addr string) *NeighborInfo {
	t.Helper()
	ns, err := cn.Neighbors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range ns {
		if ns[i].Encoding == "BGP" && ns[i].PeerAddress == addr {
			return &ns[i]
		}
	}
	return nil
}

// TestBGPPeeringConfigAtRunTime changes the bgp-peering link between the
// control node and gobgpd through the API while both run: a prefix limit
// (the session is reset to apply it, then closed with Cease/Maximum
// Number of Prefixes Reached and kept idle), a higher limit (applied
// without a reset, the session comes back), admin down (Cease), and the
// removal of the link (the neighbor is deleted). Each step is checked on
// the control node's introspect and at the agent.
func TestBGPPeeringConfigAtRunTime(t *testing.T) {
	gobgpBin(t)
	ourPort, gPort := etcdtest.FreePort(t), etcdtest.FreePort(t)
	g := startGoBGP(t, gobgpNeighborConf(gPort, ourPort))
	e := newEnv(t, Config{Hostname: "cn1"})
	r1 := e.bgpRouter("cn1", "127.0.0.1", ourPort, "control-node", nil)
	r2 := e.bgpRouter("gobgp1", "127.0.0.4", gPort, "router", nil)
	link := func(attrs map[string]any) {
		t.Helper()
		var refs []any
		if attrs != nil {
			refs = []any{map[string]any{"uuid": r2, "attr": map[string]any{"session": []any{
				map[string]any{"attributes": []any{attrs}}}}}}
		}
		if err := e.api.Update(context.Background(), "bgp-router", r1, client.Object{"bgp_router_refs": refs}); err != nil {
			t.Fatal(err)
		}
	}
	link(map[string]any{"hold_time": 6, "address_families": map[string]any{"family": []string{"inet-vpn"}}})
	ri := e.networkWithTarget("vn1", "target:64512:8000001")
	a := e.agent("compute-1")
	a.c.Subscribe(ri, 1)
	a.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "vn1"), false)
	ours := func() bool { _, ok := g.vpnv4RIB(t)["192.0.2.1:1:10.1.1.3/32"]; return ok }
	for i := 1; i <= 3; i++ {
		if _, err := g.run("global", "rib", "-a", "vpnv4", "add", fmt.Sprintf("10.60.%d.0/24", i), "label", fmt.Sprint(100+i),
			"rd", "64512:77", "rt", "64512:8000001", "nexthop", "127.0.0.4"); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		for id := range a.routes["1/1/"+ri] {
			if strings.HasPrefix(id, "10.60.") {
				n++
			}
		}
		return n
	}
	a.waitFor("gobgpd's 3 routes", func() bool { return count() == 3 })
	n := bgpNeighbor(t, e.ctl, "127.0.0.4")
	if n == nil || n.State != "Established" || n.BGP.PeerAS != 64512 || n.BGP.HoldTime != 6 || n.BGP.PeerType != "internal" ||
		n.BGP.PrefixesReceived != 3 || strings.Join(n.BGP.Negotiated, ",") != "inet-vpn" || n.Peer != "gobgp1" {
		t.Fatalf("neighbor on the introspect: %+v %+v", n, n.BGP)
	}
	flaps := n.BGP.Flaps

	// A prefix limit of 2: the session resets to apply it, gobgpd sends
	// its 3 routes again and the session is closed with 6/1, then stays
	// idle (idle timeout 3600 s).
	link(map[string]any{"hold_time": 6, "address_families": map[string]any{"family": []string{"inet-vpn"}},
		"family_attributes": []any{map[string]any{"address_family": "inet-vpn",
			"prefix_limit": map[string]any{"maximum": 2, "idle_timeout": 3600}}}})
	waitUntil(t, 20*time.Second, "prefix limit closes the session", func() bool {
		n := bgpNeighbor(t, e.ctl, "127.0.0.4")
		return n != nil && n.State != "Established" && strings.Contains(n.BGP.LastError, "prefix limit 2 exceeded")
	})
	a.waitFor("routes withdrawn after the prefix limit", func() bool { return count() == 0 })
	time.Sleep(2 * time.Second)
	if n := bgpNeighbor(t, e.ctl, "127.0.0.4"); n.State == "Established" {
		t.Fatal("session back up during the idle timeout")
	}

	// A limit of 10 applies without a reset and ends the idle time.
	link(map[string]any{"hold_time": 6, "address_families": map[string]any{"family": []string{"inet-vpn"}},
		"family_attributes": []any{map[string]any{"address_family": "inet-vpn",
			"prefix_limit": map[string]any{"maximum": 10, "idle_timeout": 3600}}}})
	a.waitFor("routes back with a limit of 10", func() bool { return count() == 3 })
	n = bgpNeighbor(t, e.ctl, "127.0.0.4")
	if n.BGP.Flaps <= flaps {
		t.Errorf("flap count %d, was %d", n.BGP.Flaps, flaps)
	}

	// Admin down: the session ends and stays down.
	link(map[string]any{"admin_down": true})
	a.waitFor("routes withdrawn when admin down", func() bool { return count() == 0 })
	waitUntil(t, 10*time.Second, "admin down state", func() bool {
		n := bgpNeighbor(t, e.ctl, "127.0.0.4")
		return n != nil && n.State == "Idle" && n.BGP.AdminDown
	})
	out, _ := g.run("neighbor")
	if strings.Contains(out, "Establ") {
		t.Errorf("gobgpd still established:\n%s", out)
	}

	// Back up, then the link is removed: the neighbor is deleted.
	link(map[string]any{})
	a.waitFor("routes back after admin up", func() bool { return count() == 3 })
	waitUntil(t, 10*time.Second, "our route in gobgpd", ours)
	link(nil)
	a.waitFor("routes withdrawn when the peering is removed", func() bool { return count() == 0 })
	waitUntil(t, 10*time.Second, "neighbor removed", func() bool { return bgpNeighbor(t, e.ctl, "127.0.0.4") == nil })
	waitUntil(t, 10*time.Second, "our route gone from gobgpd", func() bool { return !ours() })

	// A neighbor added to the running speaker gets what is already there.
	link(map[string]any{})
	a.waitFor("routes back with the new peering", func() bool { return count() == 3 })
	waitUntil(t, 10*time.Second, "our route sent to the new neighbor", ours)
}
