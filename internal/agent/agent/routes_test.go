// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

func testAgent() *Agent {
	a := &Agent{cfg: Config{TunnelIP: netip.MustParseAddr("192.0.2.1")}, db: newConfigDB(), ports: map[string]*portEntry{},
		vcache: map[string]*cachedView{}, cpKick: make(chan struct{}, 1), dpKick: make(chan struct{}, 1)}
	a.cond = sync.NewCond(&a.mu)
	a.log = slog.New(slog.DiscardHandler)
	a.m = newMetrics(nil, a)
	return a
}

func entry(prefix, nh string, label uint32, encaps ...string) *xmpp.UnicastEntry {
	return &xmpp.UnicastEntry{NLRI: xmpp.NLRI{AF: 1, SAFI: 1, Address: prefix},
		NextHops: []xmpp.NextHop{{AF: 1, Address: nh, Label: label, TunnelEncapsulation: encaps}}}
}

// TestReceivedRoutes checks how received routes become dataplane routes,
// and that bad ones are skipped with a reason.
func TestReceivedRoutes(t *testing.T) {
	a := testAgent()
	vn := &vnView{name: "d:p:A", ri: "d:p:A:A", vni: 5}
	for _, tc := range []struct {
		name  string
		e     xmpp.Entry
		why   string
		ep    string
		vni   uint32
		route string
	}{
		{"remote", entry("10.1.1.4/32", "192.0.2.2", 5, "vxlan"), "", "192.0.2.2", 5, "10.1.1.4/32"},
		{"leaked from another network", entry("10.2.0.3/32", "192.0.2.3", 7, "gre", "vxlan"), "", "192.0.2.3", 7, "10.2.0.3/32"},
		{"own route", entry("10.1.1.3/32", "192.0.2.1", 5, "vxlan"), "local", "", 0, ""},
		{"leaked local port of another network", entry("10.2.0.9/32", "192.0.2.1", 7, "vxlan"), "", "192.0.2.1", 7, "10.2.0.9/32"},
		{"no vxlan", entry("10.1.1.5/32", "192.0.2.2", 5, "gre"), "no vxlan", "", 0, ""},
		{"bad next hop", entry("10.1.1.6/32", "not-an-ip", 5, "vxlan"), "bad next hop", "", 0, ""},
		{"IPv6 next hop", entry("10.1.1.6/32", "2001:db8::1", 5, "vxlan"), "bad next hop", "", 0, ""},
		{"no label", entry("10.1.1.7/32", "192.0.2.2", 0, "vxlan"), "not a VNI", "", 0, ""},
		{"bad prefix", entry("10.1.1.300/32", "192.0.2.2", 5, "vxlan"), "bad prefix", "", 0, ""},
		{"no next hop", &xmpp.UnicastEntry{NLRI: xmpp.NLRI{AF: 1, SAFI: 1, Address: "10.1.1.8/32"}}, "no next hop", "", 0, ""},
	} {
		rr, why := a.remoteRoute(vn, tc.e, nil)
		if tc.why != "" {
			if !strings.Contains(why, tc.why) {
				t.Errorf("%s: reason %q, want %q", tc.name, why, tc.why)
			}
			continue
		}
		if why != "" || rr.TunnelEndpoint.String() != tc.ep || rr.VNI != tc.vni || rr.Prefix.String() != tc.route || rr.Network != vn.name {
			t.Errorf("%s: %+v %q", tc.name, rr, why)
		}
	}

	// Updates for an instance the session did not subscribe to are
	// skipped and counted; subscribed ones are kept, retracts remove.
	p := &peer{a: a, addr: "cn1", up: true, routes: map[string]map[string]xmpp.Entry{}, subs: map[string]int{vn.ri: 1}}
	a.peers = []*peer{p}
	a.onUpdate(p, &xmpp.Update{Node: "1/1/d:p:Other:Other", Items: []xmpp.Item{{ID: "10.9.9.9/32", Entry: entry("10.9.9.9/32", "192.0.2.2", 9, "vxlan")}}})
	a.onUpdate(p, &xmpp.Update{Node: "garbage", Items: nil})
	if p.badRoutes != 2 || len(p.routes) != 0 {
		t.Errorf("unknown instance: bad %d, routes %v", p.badRoutes, p.routes)
	}
	a.onUpdate(p, &xmpp.Update{Node: "1/1/" + vn.ri, Items: []xmpp.Item{{ID: "10.1.1.4/32", Entry: entry("10.1.1.4/32", "192.0.2.2", 5, "vxlan")}}})
	if len(p.routes["1/1/"+vn.ri]) != 1 {
		t.Fatalf("route not kept: %v", p.routes)
	}
	// Headless: the session goes, its routes stay as stale until an
	// End-of-RIB of a new session.
	p.client = nil
	a.peerDown(p, nil)
	if len(a.stale) != 1 || a.Status().StaleTables != 1 || !a.Status().Headless {
		t.Fatalf("stale tables %d", len(a.stale))
	}
	if rs := a.Routes(vn.ri, xmpp.FamilyInet)[vn.ri]; len(rs) != 1 || rs[0].Source != "stale" {
		t.Errorf("stale route on the introspect: %+v", rs)
	}
	p.up, p.routes, p.subs = true, map[string]map[string]xmpp.Entry{}, map[string]int{}
	a.onUpdate(p, xmpp.NewEndOfRib("host1"))
	if len(a.stale) != 0 {
		t.Errorf("stale routes kept after End-of-RIB")
	}
}
