// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/pkg/client"
)

// TestGracefulRestartHelperWithGoBGP: with graceful restart and the BGP
// helper enabled in global-system-config, gobgpd (graceful restart on)
// is killed without a NOTIFICATION. Its routes stay at the agent, marked
// stale in the control node, while it is away; when it is back it sends
// one of its two routes again and End-of-RIB, and only the other one is
// withdrawn, long before the restart time.
func TestGracefulRestartHelperWithGoBGP(t *testing.T) {
	gobgpBin(t)
	ourPort, gPort := etcdtest.FreePort(t), etcdtest.FreePort(t)
	conf := strings.Replace(gobgpNeighborConf(gPort, ourPort), "  [[neighbors.afi-safis]]\n", `  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 60
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
`, 1)
	g := startGoBGP(t, conf)
	e := newEnv(t, Config{Hostname: "cn1"})
	gsc, err := e.api.FQNameToID(context.Background(), "global-system-config", []string{"default-global-system-config"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.api.Update(context.Background(), "global-system-config", gsc, client.Object{
		"graceful_restart_parameters": map[string]any{"enable": true, "restart_time": 60, "bgp_helper_enable": true}}); err != nil {
		t.Fatal(err)
	}
	r1 := e.bgpRouter("cn1", "127.0.0.1", ourPort, "control-node", nil)
	r2 := e.bgpRouter("gobgp1", "127.0.0.4", gPort, "router", nil)
	e.setRefs(r1, r2)
	ri := e.networkWithTarget("vn1", "target:64512:8000001")
	a := e.agent("compute-1")
	a.c.Subscribe(ri, 1)
	add := func(prefix string, label int) {
		t.Helper()
		if _, err := g.run("global", "rib", "-a", "vpnv4", "add", prefix, "label", fmt.Sprint(label),
			"rd", "64512:77", "rt", "64512:8000001", "nexthop", "127.0.0.4"); err != nil {
			t.Fatal(err)
		}
	}
	add("10.60.1.0/24", 101)
	add("10.60.2.0/24", 102)
	a.waitFor("both routes", func() bool { return a.route(ri, "10.60.1.0/24") != nil && a.route(ri, "10.60.2.0/24") != nil })
	// Our graceful restart capability carries global-system-config's
	// restart time.
	if nj, _ := g.run("neighbor", "127.0.0.1", "-j"); !strings.Contains(nj, `"peer_restart_time":60`) {
		t.Errorf("gobgpd's view of our restart time: %s", nj)
	}

	g.kill()
	waitUntil(t, 10*time.Second, "routes marked stale", func() bool {
		rs, _ := e.ctl.Routes(context.Background(), ri, rib.Inet)
		n := 0
		for _, r := range rs {
			if strings.HasPrefix(r.Prefix, "10.60.") && len(r.Paths) == 1 && r.Paths[0].Stale {
				n++
			}
		}
		return n == 2
	})
	time.Sleep(time.Second)
	a.mu.Lock()
	kept := a.route(ri, "10.60.1.0/24") != nil && a.route(ri, "10.60.2.0/24") != nil
	a.mu.Unlock()
	if !kept {
		t.Fatal("routes of the restarting peer were withdrawn")
	}
	if n := bgpNeighbor(t, e.ctl, "127.0.0.4"); n == nil || n.State == "Established" || !n.BGP.Stale {
		t.Fatalf("neighbor while restarting: %+v", n)
	}

	// Back, with one route only (added before its session comes up, so it
	// is in its first UPDATEs, before End-of-RIB).
	start := time.Now()
	g.start()
	add("10.60.1.0/24", 101)
	a.waitFor("the route not sent again is swept", func() bool { return a.route(ri, "10.60.2.0/24") == nil })
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("swept after %v: by the timer, not End-of-RIB", d)
	}
	a.waitFor("the route sent again stays", func() bool { return a.route(ri, "10.60.1.0/24") != nil })
	rs, _ := e.ctl.Routes(context.Background(), ri, rib.Inet)
	for _, r := range rs {
		if r.Prefix == "10.60.1.0/24" && r.Paths[0].Stale {
			t.Error("route still stale after End-of-RIB")
		}
	}
}

// TestGracefulRestartSpeakerWithGoBGP: our control node restarts (its
// BGP sessions die without a NOTIFICATION, as in a crash) and gobgpd, a
// graceful restart helper, keeps our routes as stale. The new control
// node comes up as a restarting speaker (Restart State bit, forwarding
// state preserved), its agent publishes one of the two routes again, and
// only after end_of_rib_timeout (10 s here) it sends End-of-RIB: until
// then gobgpd keeps the other route (stale), then drops it.
func TestGracefulRestartSpeakerWithGoBGP(t *testing.T) {
	gobgpBin(t)
	ourPort, gPort := etcdtest.FreePort(t), etcdtest.FreePort(t)
	conf := strings.Replace(gobgpNeighborConf(gPort, ourPort), "  [[neighbors.afi-safis]]\n", `  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 60
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
`, 1)
	g := startGoBGP(t, conf)
	e := newEnv(t, Config{Hostname: "not-a-bgp-router", BGPListen: "none"})
	gsc, err := e.api.FQNameToID(context.Background(), "global-system-config", []string{"default-global-system-config"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.api.Update(context.Background(), "global-system-config", gsc, client.Object{
		"graceful_restart_parameters": map[string]any{"enable": true, "restart_time": 60, "end_of_rib_timeout": 10,
			"bgp_helper_enable": true}}); err != nil {
		t.Fatal(err)
	}
	r1 := e.bgpRouter("cn1", "127.0.0.1", ourPort, "control-node", nil)
	r2 := e.bgpRouter("gobgp1", "127.0.0.4", gPort, "router", nil)
	e.setRefs(r1, r2)
	ri := e.networkWithTarget("vn1", "target:64512:8000001")

	start := func() (*Server, context.CancelFunc) {
		cn := New(e.st, Config{XMPPListen: "127.0.0.1:0", Hostname: "cn1", HoldTime: 3 * time.Second, EndOfRibDelay: 50 * time.Millisecond})
		done := make(chan error, 1)
		ctx, cancel := context.WithCancel(e.ctx)
		go func() { done <- cn.Start(ctx) }()
		var once sync.Once
		stop := func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		<-cn.Ready()
		return cn, stop
	}
	// state reads gobgpd's paths of our two routes: present, stale.
	state := func() (r1, r1Stale, r2, r2Stale bool) {
		out, err := g.run("global", "rib", "-a", "vpnv4", "-j")
		if err != nil {
			return
		}
		r1, r2 = strings.Contains(out, `"192.0.2.1:1:10.1.1.3/32"`), strings.Contains(out, `"192.0.2.1:1:10.1.1.4/32"`)
		m := map[string][]struct {
			Stale bool `json:"stale"`
		}{}
		json.Unmarshal([]byte(out), &m)
		if p := m["192.0.2.1:1:10.1.1.3/32"]; len(p) > 0 {
			r1Stale = p[0].Stale
		}
		if p := m["192.0.2.1:1:10.1.1.4/32"]; len(p) > 0 {
			r2Stale = p[0].Stale
		}
		return
	}
	cn1, stop1 := start()
	a := e.agentOn(cn1, "compute-1")
	a.c.Subscribe(ri, 1)
	a.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "vn1"), false)
	a.c.Publish(ri, vmRoute("10.1.1.4/32", "192.0.2.1", 18, "vn1"), false)
	waitUntil(t, 20*time.Second, "both routes in gobgpd", func() bool { r1, _, r2, _ := state(); return r1 && r2 })

	// Crash: the BGP sessions end without a NOTIFICATION.
	var sp interface{ Abort() }
	cn1.call(context.Background(), func() { sp = cn1.bgp.speaker })
	sp.Abort()
	a.c.Close()
	stop1()
	waitUntil(t, 20*time.Second, "our routes stale in gobgpd", func() bool {
		r1, s1, r2, s2 := state()
		return r1 && s1 && r2 && s2
	})

	// The new control node: its agent publishes one route again.
	cn1b, _ := start()
	a2 := e.agentOn(cn1b, "compute-1")
	a2.c.Subscribe(ri, 1)
	a2.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "vn1"), false)
	t.Cleanup(func() {
		if t.Failed() {
			r1, s1, r2, s2 := state()
			nb, _ := g.run("neighbor")
			t.Logf("state: r1 %v stale %v, r2 %v stale %v\n%s", r1, s1, r2, s2, nb)
		}
	})
	waitUntil(t, 20*time.Second, "the published route refreshed while the other is kept", func() bool {
		r1, s1, r2, s2 := state()
		return r1 && !s1 && r2 && s2
	})
	waitUntil(t, 15*time.Second, "the other route dropped after our End-of-RIB", func() bool {
		r1, s1, r2, _ := state()
		return r1 && !s1 && !r2
	})
}
