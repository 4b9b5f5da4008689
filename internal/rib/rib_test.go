// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestImportExportVisibility(t *testing.T) {
	type inst struct {
		name             string
		imports, exports []string
	}
	for _, tc := range []struct {
		name  string
		insts []inst
		// each instance gets one route from its own agent: instance i
		// publishes 10.0.0.<i+1>/32 from 192.168.0.<i+1>.
		want map[string][]string // instance -> prefixes it sees
	}{
		{
			name: "two connected, one isolated",
			insts: []inst{
				{"red", []string{"64512:1"}, []string{"64512:1"}},
				{"blue", []string{"64512:1"}, []string{"64512:1"}},
				{"green", []string{"64512:3"}, []string{"64512:3"}},
			},
			want: map[string][]string{
				"red":   {"10.0.0.1/32", "10.0.0.2/32"},
				"blue":  {"10.0.0.1/32", "10.0.0.2/32"},
				"green": {"10.0.0.3/32"},
			},
		},
		{
			name: "overlap through a second import target",
			insts: []inst{
				{"red", []string{"64512:1", "64512:2"}, []string{"64512:1"}},
				{"blue", []string{"64512:2"}, []string{"64512:2"}},
				{"green", []string{"64512:3"}, []string{"64512:3"}},
			},
			want: map[string][]string{
				"red":   {"10.0.0.1/32", "10.0.0.2/32"},
				"blue":  {"10.0.0.2/32"},
				"green": {"10.0.0.3/32"},
			},
		},
		{
			name: "hub and spokes",
			insts: []inst{
				{"hub", []string{"64512:10"}, []string{"64512:20"}},
				{"spoke1", []string{"64512:20"}, []string{"64512:10"}},
				{"spoke2", []string{"64512:20"}, []string{"64512:10"}},
			},
			want: map[string][]string{
				"hub":    {"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"},
				"spoke1": {"10.0.0.1/32", "10.0.0.2/32"},
				"spoke2": {"10.0.0.1/32", "10.0.0.3/32"},
			},
		},
		{
			name: "no export targets: nothing leaves",
			insts: []inst{
				{"red", []string{"64512:1"}, nil},
				{"blue", []string{"64512:1"}, []string{"64512:1"}},
			},
			want: map[string][]string{
				"red":  {"10.0.0.1/32", "10.0.0.2/32"},
				"blue": {"10.0.0.2/32"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Create the instances before and after the routes: both
			// orders must give the same tables.
			for _, instancesFirst := range []bool{true, false} {
				e := newEnv(t)
				ips := make([]string, len(tc.insts))
				for i := range tc.insts {
					ips[i] = "192.168.0." + itoa(i+1)
					e.agent(ips[i])
				}
				mk := func() {
					for _, in := range tc.insts {
						e.instance(in.name, in.imports, in.exports)
					}
				}
				if instancesFirst {
					mk()
				} else {
					// Instances need to exist to publish into; create
					// them without targets, then set the targets.
					for _, in := range tc.insts {
						e.instance(in.name, nil, nil)
					}
				}
				for i, in := range tc.insts {
					e.publish(in.name, ips[i], "10.0.0."+itoa(i+1)+"/32", uint32(16+i))
				}
				if !instancesFirst {
					mk()
				}
				e.check()
				for name, want := range tc.want {
					if got := e.prefixes(name); !slices.Equal(got, want) {
						t.Errorf("instancesFirst=%v: %s sees %v, want %v", instancesFirst, name, got, want)
					}
				}
				e.drain()
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestImportTargetChangeLeaksAndUnleaks(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("green", []string{"64512:3"}, []string{"64512:3"})
	e.agent("192.168.0.1")
	e.agent("192.168.0.3")
	e.publish("red", "192.168.0.1", "10.0.0.1/32", 16)
	e.publish("green", "192.168.0.3", "10.0.0.3/32", 17)
	e.drain()

	// green starts importing red's target: red's route leaks into green.
	e.instance("green", []string{"64512:1", "64512:3"}, []string{"64512:3"})
	e.check()
	if got, want := e.drain(), []string{"green|inet|10.0.0.1/32=192.168.0.1/16"}; !slices.Equal(got, want) {
		t.Fatalf("leak: drained %v, want %v", got, want)
	}
	if got := e.prefixes("red"); !slices.Equal(got, []string{"10.0.0.1/32"}) {
		t.Errorf("red must not see green (no reverse import): %v", got)
	}
	ri, _ := e.r.Route("green", Inet, pfx("10.0.0.1/32"))
	if p := ri.Paths[0]; !p.IsReplicated() || p.SourceInstance() != "red" || p.SourceRD().String() != "192.168.0.1:1" {
		t.Errorf("leaked path source = %s %s", p.SourceInstance(), p.SourceRD())
	}

	// Routes red adds later leak too.
	e.publish("red", "192.168.0.1", "10.0.0.11/32", 18)
	if got := e.best("green", "10.0.0.11/32"); !slices.Equal(got, []string{"192.168.0.1/18"}) {
		t.Errorf("later route: %v", got)
	}
	e.drain()

	// Back to its own target only: the leaked routes are withdrawn.
	e.instance("green", []string{"64512:3"}, []string{"64512:3"})
	e.check()
	want := []string{"green|inet|10.0.0.1/32=", "green|inet|10.0.0.11/32="}
	if got := e.drain(); !slices.Equal(got, want) {
		t.Fatalf("unleak: drained %v, want %v", got, want)
	}
	if got := e.prefixes("green"); !slices.Equal(got, []string{"10.0.0.3/32"}) {
		t.Errorf("green after unleak: %v", got)
	}
}

func TestExportTargetChange(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	e.agent("192.168.0.2")
	e.publish("blue", "192.168.0.2", "10.0.0.2/32", 16)
	e.drain()
	if got := e.prefixes("red"); len(got) != 1 {
		t.Fatalf("red: %v", got)
	}
	e.instance("blue", []string{"64512:1"}, []string{"64512:2"})
	e.check()
	want := []string{
		"default-domain:default-project:ip-fabric:__default__|l3vpn|192.168.0.2:1:10.0.0.2/32=192.168.0.2/16",
		"red|inet|10.0.0.2/32=",
	}
	if got := e.drain(); !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
	ri, _ := e.r.Route(MasterInstance, InetVPN, VPNKey(RDFromAddr(netip.MustParseAddr("192.168.0.2"), 1), netip.MustParsePrefix("10.0.0.2/32")))
	if got := ri.Paths[0].Attrs().RouteTargets; !slices.Equal(got, rts("64512:2")) {
		t.Errorf("VPN path targets %v", got)
	}
	e.instance("blue", []string{"64512:1"}, nil)
	e.check()
	if _, ok := e.r.Route(MasterInstance, InetVPN, ri.Key); ok {
		t.Error("VPN route stays after the export targets are removed")
	}
}

func TestECMPFromTwoAgents(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	e.agent("192.168.0.1")
	e.agent("192.168.0.2")
	e.publish("red", "192.168.0.1", "10.9.9.9/32", 16)
	e.publish("red", "192.168.0.2", "10.9.9.9/32", 17)
	want := []string{"192.168.0.1/16", "192.168.0.2/17"}
	for _, inst := range []string{"red", "blue"} {
		if got := e.best(inst, "10.9.9.9/32"); !slices.Equal(got, want) {
			t.Errorf("%s best set %v, want %v", inst, got, want)
		}
	}
	got := e.drain()
	for _, w := range []string{"red|inet|10.9.9.9/32=192.168.0.1/16,192.168.0.2/17", "blue|inet|10.9.9.9/32=192.168.0.1/16,192.168.0.2/17"} {
		if !slices.Contains(got, w) {
			t.Errorf("drain %v lacks %s", got, w)
		}
	}
	// One agent goes: the set shrinks to the other.
	e.withdraw("red", "192.168.0.1", "10.9.9.9/32")
	if got := e.drain(); !slices.Contains(got, "blue|inet|10.9.9.9/32=192.168.0.2/17") {
		t.Errorf("after withdraw: %v", got)
	}
}

func TestNextHopsDeduplicates(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	agent := e.agent("192.168.0.1")
	cn2 := e.bgp("10.255.0.2", false)
	e.publish("red", "192.168.0.1", "10.1.1.1/32", 16)
	// The other control node reflects the same agent route (same RD) to us.
	vk := VPNKey(RDFromAddr(netip.MustParseAddr("192.168.0.1"), 1), netip.MustParsePrefix("10.1.1.1/32"))
	a := agentAttrs("192.168.0.1", 1)
	a.RouteTargets = rts("64512:1")
	if err := e.r.AddVPNPath(InetVPN, vk, cn2, 16, a); err != nil {
		t.Fatal(err)
	}
	e.check()
	ri, _ := e.r.Route("red", Inet, pfx("10.1.1.1/32"))
	if ri.ECMP != 2 || ri.Paths[0].Peer() != agent || ri.Paths[1].Peer() != cn2 {
		t.Fatalf("want the XMPP path first in a 2-way set, got %d paths ecmp %d", len(ri.Paths), ri.ECMP)
	}
	nh := NextHops(ri.Paths[:ri.ECMP])
	if len(nh) != 1 || nh[0].Addr.String() != "192.168.0.1" || nh[0].Label != 16 || nh[0].Encap != EncapGRE|EncapUDP {
		t.Errorf("NextHops = %+v", nh)
	}
}

func TestBestPathOrder(t *testing.T) {
	seq := func(asns ...uint32) []ASSegment { return []ASSegment{{Type: ASSequence, ASNs: asns}} }
	type side struct {
		peer  string // "xmpp:<ip>", "ibgp:<ip>", "ebgp:<ip>", "local:<name>"
		attrs Attrs
	}
	for _, tc := range []struct {
		name     string
		a, b     side
		aWins    bool
		wantECMP bool
	}{
		{"higher local-pref", side{"xmpp:192.168.0.2", Attrs{LocalPref: 200}}, side{"xmpp:192.168.0.1", Attrs{LocalPref: 100}}, true, false},
		{"equal local-pref is ECMP, lower router id first", side{"xmpp:192.168.0.1", Attrs{LocalPref: 100}}, side{"xmpp:192.168.0.2", Attrs{LocalPref: 100}}, true, true},
		{"sticky beats higher seqno", side{"xmpp:192.168.0.2", Attrs{Mobility: Mobility{Seq: 1, Sticky: true}}}, side{"xmpp:192.168.0.1", Attrs{Mobility: Mobility{Seq: 9}}}, true, false},
		{"higher mobility seqno", side{"xmpp:192.168.0.2", Attrs{Mobility: Mobility{Seq: 3}}}, side{"xmpp:192.168.0.1", Attrs{Mobility: Mobility{Seq: 2}}}, true, false},
		{"local-pref before seqno", side{"xmpp:192.168.0.2", Attrs{LocalPref: 200, Mobility: Mobility{Seq: 1}}}, side{"xmpp:192.168.0.1", Attrs{LocalPref: 100, Mobility: Mobility{Seq: 5}}}, true, false},
		{"LLGR_STALE loses", side{"ibgp:10.0.0.2", Attrs{}}, side{"ibgp:10.0.0.1", Attrs{Communities: []uint32{CommunityLLGRStale}}}, true, false},
		{"shorter AS path", side{"ebgp:10.0.0.2", Attrs{ASPath: seq(65001)}}, side{"ebgp:10.0.0.1", Attrs{ASPath: seq(65002, 65003)}}, true, false},
		{"AS_SET counts one", side{"ebgp:10.0.0.2", Attrs{ASPath: []ASSegment{{Type: ASSet, ASNs: []uint32{1, 2, 3}}}}}, side{"ebgp:10.0.0.1", Attrs{ASPath: seq(1, 2)}}, true, false},
		{"lower origin", side{"ibgp:10.0.0.2", Attrs{Origin: OriginIGP}}, side{"ibgp:10.0.0.1", Attrs{Origin: OriginIncomplete}}, true, false},
		{"lower MED, same neighbor AS", side{"ebgp:10.0.0.2", Attrs{ASPath: seq(65001), MED: 10}}, side{"ebgp:10.0.0.1", Attrs{ASPath: seq(65001), MED: 20}}, true, false},
		{"MED ignored across neighbor ASes", side{"ebgp:10.0.0.1", Attrs{ASPath: seq(65001), MED: 20}}, side{"ebgp:10.0.0.2", Attrs{ASPath: seq(65002), MED: 10}}, true, true},
		{"MED ignored for XMPP paths (no neighbor AS)", side{"xmpp:192.168.0.1", Attrs{MED: 200}}, side{"xmpp:192.168.0.2", Attrs{MED: 100}}, true, true},
		{"XMPP over BGP, still ECMP", side{"xmpp:192.168.0.9", Attrs{}}, side{"ibgp:10.0.0.1", Attrs{}}, true, true},
		{"local over XMPP", side{"local:static", Attrs{}}, side{"xmpp:192.168.0.1", Attrs{}}, true, true},
		{"eBGP over iBGP", side{"ebgp:10.0.0.9", Attrs{ASPath: seq(1)}}, side{"ibgp:10.0.0.1", Attrs{ASPath: seq(1)}}, true, true},
		{"originator id replaces router id", side{"ibgp:10.0.0.9", Attrs{OriginatorID: netip.MustParseAddr("1.1.1.1")}}, side{"ibgp:10.0.0.1", Attrs{}}, true, true},
		{"shorter cluster list", side{"ibgp:10.0.0.9", Attrs{OriginatorID: netip.MustParseAddr("1.1.1.1")}}, side{"ibgp:10.0.0.1", Attrs{OriginatorID: netip.MustParseAddr("1.1.1.1"), ClusterList: []uint32{1}}}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, aFirst := range []bool{true, false} {
				e := newEnv(t)
				e.instance("red", nil, nil)
				add := func(s side, label uint32) PeerID {
					kind, addr, _ := strings.Cut(s.peer, ":")
					var id PeerID
					switch kind {
					case "xmpp":
						id = e.agent(addr)
					case "ibgp", "ebgp":
						id = e.bgp(addr, kind == "ebgp")
					case "local":
						id = e.peer(PeerLocal, addr, PeerInfo{})
					}
					a := s.attrs
					a.NextHop = netip.AddrFrom4([4]byte{172, 16, 0, byte(label)})
					if err := e.r.AddPath("red", Inet, pfx("10.0.0.0/24"), id, label, &a); err != nil {
						t.Fatal(err)
					}
					return id
				}
				var ida, idb PeerID
				if aFirst {
					ida, idb = add(tc.a, 1), add(tc.b, 2)
				} else {
					idb, ida = add(tc.b, 2), add(tc.a, 1)
				}
				e.check()
				ri, _ := e.r.Route("red", Inet, pfx("10.0.0.0/24"))
				if first := ri.Paths[0].Peer(); (first == ida) != tc.aWins {
					t.Errorf("aFirst=%v: best is %v, a=%v b=%v", aFirst, first, ida, idb)
				}
				if (ri.ECMP == 2) != tc.wantECMP {
					t.Errorf("aFirst=%v: ECMP %d, want ECMP=%v", aFirst, ri.ECMP, tc.wantECMP)
				}
			}
		})
	}
}

func TestMEDOrderIsIndependentOfArrival(t *testing.T) {
	// Paths from two neighbor ASes: MED only orders paths within an AS,
	// which a pairwise sort cannot do consistently. Every arrival order
	// must give the same path order and best set.
	type gw struct {
		addr string
		as   uint32
		med  uint32
	}
	gws := []gw{{"10.0.0.1", 65001, 1}, {"10.0.0.2", 65002, 5}, {"10.0.0.3", 65001, 2}, {"10.0.0.4", 65002, 3}, {"10.0.0.5", 65003, 9}}
	var want []string
	for _, perm := range permutations(len(gws)) {
		e := newEnv(t)
		e.instance("red", []string{"64512:1"}, nil)
		for _, i := range perm {
			g := gws[i]
			id := e.bgp(g.addr, true)
			a := &Attrs{NextHop: netip.MustParseAddr(g.addr), MED: g.med, RouteTargets: rts("64512:1"),
				ASPath: []ASSegment{{Type: ASSequence, ASNs: []uint32{g.as}}}}
			if err := e.r.AddVPNPath(InetVPN, VPNKey(RDFromAS(g.as, 1), netip.MustParsePrefix("0.0.0.0/0")), id, 0, a); err != nil {
				t.Fatal(err)
			}
			e.check()
		}
		ri, _ := e.r.Route("red", Inet, pfx("0.0.0.0/0"))
		got := nhs(ri.Paths)
		got = append(got, "ecmp="+itoa(ri.ECMP))
		if want == nil {
			want = got
			// The lowest MED of each AS is ECMP (MED is not compared
			// across ASes), lower router id first; the MED-dominated
			// others follow by neighbor AS, then MED.
			if exp := []string{"10.0.0.1/0", "10.0.0.4/0", "10.0.0.5/0", "10.0.0.3/0", "10.0.0.2/0", "ecmp=3"}; !slices.Equal(got, exp) {
				t.Fatalf("order %v, want %v", got, exp)
			}
		} else if !slices.Equal(got, want) {
			t.Fatalf("arrival order %v gives %v, want %v", perm, got, want)
		}
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestAlwaysCompareMED(t *testing.T) {
	e := newEnv(t, WithAlwaysCompareMED(true))
	e.instance("red", nil, nil)
	for i, med := range []uint32{20, 10} {
		id := e.bgp("10.0.0."+itoa(i+1), true)
		a := &Attrs{ASPath: []ASSegment{{Type: ASSequence, ASNs: []uint32{uint32(65001 + i)}}}, MED: med}
		if err := e.r.AddPath("red", Inet, pfx("10.0.0.0/24"), id, uint32(i), a); err != nil {
			t.Fatal(err)
		}
	}
	ri, _ := e.r.Route("red", Inet, pfx("10.0.0.0/24"))
	if ri.ECMP != 1 || ri.Paths[0].Attrs().MED != 10 {
		t.Errorf("want the lower MED alone, got ECMP %d MED %d", ri.ECMP, ri.Paths[0].Attrs().MED)
	}
}

func TestLocalPrefPreference(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	e.agent("192.168.0.1")
	e.agent("192.168.0.2")
	active, standby := agentAttrs("192.168.0.1", 1), agentAttrs("192.168.0.2", 1)
	active.LocalPref, active.MED = 200, DefaultMED(200)
	e.publishAttrs("red", "192.168.0.2", "10.5.5.5/32", 20, standby)
	e.drain()
	// A better path arriving later replaces the best set.
	e.publishAttrs("red", "192.168.0.1", "10.5.5.5/32", 21, active)
	if got := e.drain(); !slices.Contains(got, "blue|inet|10.5.5.5/32=192.168.0.1/21") || len(got) != 3 {
		t.Errorf("better path drained %v", got)
	}
	for _, inst := range []string{"red", "blue"} {
		if got := e.best(inst, "10.5.5.5/32"); !slices.Equal(got, []string{"192.168.0.1/21"}) {
			t.Errorf("%s: %v", inst, got)
		}
	}
	e.drain()
	// The active one goes away: the standby takes over everywhere.
	e.withdraw("red", "192.168.0.1", "10.5.5.5/32")
	want := []string{
		"blue|inet|10.5.5.5/32=192.168.0.2/20",
		"default-domain:default-project:ip-fabric:__default__|l3vpn|192.168.0.1:1:10.5.5.5/32=",
		"red|inet|10.5.5.5/32=192.168.0.2/20",
	}
	if got := e.drain(); !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
	// The standby changing its local-pref up makes it ECMP with a new active.
	e.publishAttrs("red", "192.168.0.1", "10.5.5.5/32", 21, active)
	standby.LocalPref = 200
	e.publishAttrs("red", "192.168.0.2", "10.5.5.5/32", 20, standby)
	if got := e.best("blue", "10.5.5.5/32"); len(got) != 2 {
		t.Errorf("blue: %v", got)
	}
}

func TestPeerDown(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	a1, a2 := e.agent("192.168.0.1"), e.agent("192.168.0.2")
	gw := e.bgp("10.255.0.1", true)
	for i := range 5 {
		e.publish("red", "192.168.0.1", "10.1.0."+itoa(i)+"/32", uint32(16+i))
		e.publish("blue", "192.168.0.2", "10.2.0."+itoa(i)+"/32", uint32(16+i))
	}
	e.publish("red", "192.168.0.2", "10.1.0.1/32", 99) // ECMP with agent 1
	ga := &Attrs{NextHop: netip.MustParseAddr("10.255.0.1"), RouteTargets: rts("64512:1"), ASPath: []ASSegment{{Type: ASSequence, ASNs: []uint32{65000}}}}
	if err := e.r.AddVPNPath(InetVPN, VPNKey(RDFromAS(65000, 1), netip.MustParsePrefix("0.0.0.0/0")), gw, 5, ga); err != nil {
		t.Fatal(err)
	}
	e.drain()
	before := e.r.Stats()

	n, err := e.r.DeletePeerPaths(a1)
	if err != nil || n != 5 {
		t.Fatalf("DeletePeerPaths = %d, %v", n, err)
	}
	e.check()
	got := e.drain()
	for _, g := range got {
		if strings.Contains(g, "192.168.0.2") && strings.HasSuffix(g, "=") {
			t.Errorf("agent 2's route withdrawn: %s", g)
		}
	}
	// 4 red routes withdrawn from red, blue and the VPN table; 10.1.0.1
	// changed in red and blue (agent 2 remains) and its agent 1 VPN
	// route withdrawn.
	if len(got) != 4*3+3 {
		t.Errorf("drained %d: %v", len(got), got)
	}
	if got := e.best("blue", "10.1.0.1/32"); !slices.Equal(got, []string{"192.168.0.2/99"}) {
		t.Errorf("10.1.0.1 in blue: %v", got)
	}
	if e.r.PeerPathCount(a1) != 0 || e.r.PeerPathCount(a2) != 6 || e.r.PeerPathCount(gw) != 1 {
		t.Errorf("peer counts %d %d %d", e.r.PeerPathCount(a1), e.r.PeerPathCount(a2), e.r.PeerPathCount(gw))
	}
	after := e.r.Stats()
	if before.Paths-after.Paths != 5*3 {
		t.Errorf("paths %d -> %d", before.Paths, after.Paths)
	}

	// The gateway session drops: its default route leaves both VRFs.
	if n, _ := e.r.RemovePeer(gw); n != 1 {
		t.Errorf("RemovePeer = %d", n)
	}
	e.check()
	if _, ok := e.r.Route("red", Inet, pfx("0.0.0.0/0")); ok {
		t.Error("default route survives its peer")
	}
	if _, ok := e.r.Peer(gw); ok {
		t.Error("removed peer still registered")
	}
	if err := e.r.AddVPNPath(InetVPN, VPNKey(RDFromAS(65000, 1), netip.MustParsePrefix("0.0.0.0/0")), gw, 5, ga); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("AddVPNPath with removed peer: %v", err)
	}
	gw2 := e.bgp("10.255.0.1", true)
	if gw2 == gw {
		t.Error("peer id reused")
	}
	e.drain()
}

func TestStaleSweep(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	a1 := e.agent("192.168.0.1")
	e.agent("192.168.0.2")
	for i := range 4 {
		e.publish("red", "192.168.0.1", "10.1.0."+itoa(i)+"/32", uint32(16+i))
	}
	e.publish("red", "192.168.0.2", "10.2.0.1/32", 16)
	e.drain()

	// The agent's session drops with graceful restart.
	if n, _ := e.r.MarkStale(a1); n != 4 {
		t.Fatalf("MarkStale = %d", n)
	}
	if e.r.Pending() != 0 {
		t.Errorf("marking stale queued %d routes", e.r.Pending())
	}
	ri, _ := e.r.Route("blue", Inet, pfx("10.1.0.1/32"))
	if !ri.Paths[0].Stale() {
		t.Error("imported copy does not show stale")
	}
	// It comes back and re-publishes two routes unchanged and one changed.
	e.publish("red", "192.168.0.1", "10.1.0.0/32", 16)
	e.publish("red", "192.168.0.1", "10.1.0.1/32", 17)
	e.publish("red", "192.168.0.1", "10.1.0.2/32", 50)
	if got := e.drain(); len(got) != 3 || !strings.Contains(got[0], "/50") {
		t.Errorf("re-publish drained %v, want only 10.1.0.2 in 3 tables", got)
	}
	// End-of-RIB: the route it did not re-publish goes.
	if n, _ := e.r.SweepStale(a1); n != 1 {
		t.Errorf("SweepStale = %d", n)
	}
	e.check()
	want := []string{
		"blue|inet|10.1.0.3/32=",
		"default-domain:default-project:ip-fabric:__default__|l3vpn|192.168.0.1:1:10.1.0.3/32=",
		"red|inet|10.1.0.3/32=",
	}
	if got := e.drain(); !slices.Equal(got, want) {
		t.Errorf("sweep drained %v, want %v", got, want)
	}
	if e.r.PeerPathCount(a1) != 3 {
		t.Errorf("agent keeps %d paths", e.r.PeerPathCount(a1))
	}
	if ri, _ := e.r.Route("red", Inet, pfx("10.1.0.0/32")); ri.Paths[0].Stale() {
		t.Error("re-published path still stale")
	}
}

func TestRDKeepsVrouterRoutesDistinct(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.agent("192.168.0.1")
	e.agent("192.168.0.2")
	e.publishAttrs("red", "192.168.0.1", "10.1.1.1/32", 16, agentAttrs("192.168.0.1", 3))
	e.publishAttrs("red", "192.168.0.2", "10.1.1.1/32", 17, agentAttrs("192.168.0.2", 7))
	var keys []string
	for ri := range e.r.Routes(MasterInstance, InetVPN) {
		keys = append(keys, ri.Key.String())
		if len(ri.Paths) != 1 {
			t.Errorf("%s has %d paths", ri.Key, len(ri.Paths))
		}
	}
	slices.Sort(keys)
	if want := []string{"192.168.0.1:3:10.1.1.1/32", "192.168.0.2:7:10.1.1.1/32"}; !slices.Equal(keys, want) {
		t.Errorf("VPN keys %v, want %v", keys, want)
	}
	if got := e.best("red", "10.1.1.1/32"); len(got) != 2 {
		t.Errorf("VRF best %v", got)
	}
	// Without a source RD the instance RD is used; without either nothing
	// is exported.
	if err := e.r.SetInstance(InstanceConfig{Name: "red", RD: RDFromAS(64512, 5),
		ImportTargets: rts("64512:1"), ExportTargets: rts("64512:1")}); err != nil {
		t.Fatal(err)
	}
	local := e.peer(PeerLocal, "static", PeerInfo{})
	if err := e.r.AddPath("red", Inet, pfx("10.7.0.0/16"), local, 0, &Attrs{NextHop: netip.MustParseAddr("192.168.0.1")}); err != nil {
		t.Fatal(err)
	}
	e.check()
	if _, ok := e.r.Route(MasterInstance, InetVPN, VPNKey(RDFromAS(64512, 5), netip.MustParsePrefix("10.7.0.0/16"))); !ok {
		t.Error("static route not exported with the instance RD")
	}
	e.drain()
}

func TestDrainCoalescing(t *testing.T) {
	e := newEnv(t)
	e.instance("red", nil, nil)
	e.agent("192.168.0.1")
	e.agent("192.168.0.2")

	// Several changes of one prefix: one call with the final state.
	for label := range uint32(5) {
		e.publish("red", "192.168.0.1", "10.0.0.1/32", 16+label)
	}
	e.publish("red", "192.168.0.2", "10.0.0.1/32", 30)
	if got, want := e.drain(), []string{"red|inet|10.0.0.1/32=192.168.0.1/20,192.168.0.2/30"}; !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
	// Appearing and disappearing between drains: no call.
	e.publish("red", "192.168.0.1", "10.0.0.2/32", 16)
	e.withdraw("red", "192.168.0.1", "10.0.0.2/32")
	if got := e.drain(); len(got) != 0 {
		t.Errorf("transient route drained %v", got)
	}
	// Withdraw then re-add of a reported route: one call, current state.
	e.withdraw("red", "192.168.0.2", "10.0.0.1/32")
	e.withdraw("red", "192.168.0.1", "10.0.0.1/32")
	e.publish("red", "192.168.0.1", "10.0.0.1/32", 40)
	if got, want := e.drain(), []string{"red|inet|10.0.0.1/32=192.168.0.1/40"}; !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
	// A path that does not enter the best set queues nothing.
	worse := agentAttrs("192.168.0.2", 1)
	worse.LocalPref = 50
	e.publishAttrs("red", "192.168.0.2", "10.0.0.1/32", 41, worse)
	if e.r.Pending() != 0 {
		t.Errorf("backup path queued %d", e.r.Pending())
	}
	// Batches: limit bounds the calls per Drain, in order of first change.
	for i := range 10 {
		e.publish("red", "192.168.0.1", "10.1.0."+itoa(i)+"/32", uint32(i))
	}
	var order []string
	for e.r.Pending() > 0 {
		n := e.r.Drain(3, func(inst string, fam Family, key Key, best []*Path) {
			order = append(order, key.String())
			e.shadow[inst+"|"+fam.String()+"|"+key.String()] = slices.Clone(best)
		})
		if n > 3 {
			t.Fatalf("Drain(3) made %d calls", n)
		}
	}
	if len(order) != 10 || order[0] != "10.1.0.0/32" || order[9] != "10.1.0.9/32" {
		t.Errorf("batched order %v", order)
	}
	e.checkShadow()

	// Mutating from the callback panics.
	e.publish("red", "192.168.0.1", "10.2.0.0/32", 1)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("no panic on mutation during Drain")
			}
		}()
		e.r.Drain(0, func(string, Family, Key, []*Path) {
			e.r.DeletePath("red", Inet, pfx("10.2.0.0/32"), e.peers["192.168.0.1"])
		})
	}()
	if e.r.draining {
		t.Error("still draining after the panic")
	}
}

func TestBGPVPNRoutes(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:2"}, []string{"64512:2"})
	gw := e.bgp("10.255.0.1", true)
	k := VPNKey(RDFromAS(65000, 1), netip.MustParsePrefix("0.0.0.0/0"))
	a := &Attrs{NextHop: netip.MustParseAddr("10.255.0.1"), RouteTargets: rts("64512:2", "64512:1"),
		ASPath: []ASSegment{{Type: ASSequence, ASNs: []uint32{65000}}}}
	if err := e.r.AddVPNPath(InetVPN, k, gw, 100, a); err != nil {
		t.Fatal(err)
	}
	e.check()
	for _, inst := range []string{"red", "blue"} {
		ri, ok := e.r.Route(inst, Inet, pfx("0.0.0.0/0"))
		if !ok || ri.Paths[0].SourceRD() != RDFromAS(65000, 1) || ri.Paths[0].SourceInstance() != MasterInstance {
			t.Errorf("%s: default route not imported (%v)", inst, ok)
		}
	}
	// The peer changes the targets: blue loses it.
	a.RouteTargets = rts("64512:1")
	if err := e.r.AddVPNPath(InetVPN, k, gw, 100, a); err != nil {
		t.Fatal(err)
	}
	e.check()
	if _, ok := e.r.Route("blue", Inet, pfx("0.0.0.0/0")); ok {
		t.Error("blue keeps the default route")
	}
	if err := e.r.DeleteVPNPath(InetVPN, k, gw); err != nil {
		t.Fatal(err)
	}
	e.check()
	if err := e.r.DeleteVPNPath(InetVPN, k, gw); !errors.Is(err, ErrNoPath) {
		t.Errorf("second delete: %v", err)
	}
	e.drain()
}

func TestInet6AndEVPN(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	a1, a2 := e.agent("192.168.0.1"), e.agent("192.168.0.2")

	k6 := PrefixKey(netip.MustParsePrefix("2001:db8::5/128"))
	if err := e.r.AddPath("red", Inet6, k6, a1, 16, agentAttrs("192.168.0.1", 1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.r.Route(MasterInstance, Inet6VPN, k6.WithRD(RDFromAddr(netip.MustParseAddr("192.168.0.1"), 1))); !ok {
		t.Error("inet6 route not in bgp.l3vpn-inet6.0")
	}
	if _, ok := e.r.Route("blue", Inet6, k6); !ok {
		t.Error("inet6 route not imported")
	}

	mac, _ := ParseMAC("02:00:00:00:00:05")
	mk := EVPNMACKey(0, mac, netip.MustParseAddr("10.1.1.5"))
	evpn := func(peer PeerID, ip string, seq uint32) {
		t.Helper()
		a := agentAttrs(ip, 1)
		a.Encap = EncapVXLAN
		a.Mobility = Mobility{Seq: seq}
		if err := e.r.AddPath("red", EVPN, mk, peer, 5001, a); err != nil {
			t.Fatal(err)
		}
		e.check()
	}
	evpn(a1, "192.168.0.1", 0)
	// The VM moves to the second vrouter, which publishes a higher
	// sequence number before the first withdraws.
	evpn(a2, "192.168.0.2", 1)
	for _, inst := range []string{"red", "blue"} {
		ri, _ := e.r.Route(inst, EVPN, mk)
		if ri.ECMP != 1 || ri.Paths[0].Peer() != a2 {
			t.Errorf("%s: mobility did not move the MAC", inst)
		}
	}
	var vkeys []string
	for ri := range e.r.Routes(MasterInstance, EVPN) {
		vkeys = append(vkeys, ri.Key.String())
	}
	slices.Sort(vkeys)
	if want := []string{"2-192.168.0.1:1-0-02:00:00:00:00:05,10.1.1.5", "2-192.168.0.2:1-0-02:00:00:00:00:05,10.1.1.5"}; !slices.Equal(vkeys, want) {
		t.Errorf("bgp.evpn.0 keys %v, want %v", vkeys, want)
	}

	// Inclusive multicast routes keep their RD in the VRF.
	im := EVPNMulticastKey(0, 5001, netip.MustParseAddr("192.168.0.1"))
	if err := e.r.AddPath("red", EVPN, im, a1, 5001, agentAttrs("192.168.0.1", 1)); err != nil {
		t.Fatal(err)
	}
	e.check()
	want := EVPNMulticastKey(RDFromAddr(netip.MustParseAddr("192.168.0.1"), 1), 5001, netip.MustParseAddr("192.168.0.1"))
	if _, ok := e.r.Route("blue", EVPN, want); !ok {
		t.Errorf("type 3 route %s not imported into blue", want)
	}
	e.drain()

	// Wrong keys for a family are refused.
	for _, tc := range []struct {
		fam Family
		key Key
	}{{Inet, k6}, {Inet6, pfx("10.0.0.0/8")}, {EVPN, pfx("10.0.0.0/8")}, {Inet, mk}, {Inet, Key{}}, {InetVPN, pfx("10.0.0.0/8")}} {
		if err := e.r.AddPath("red", tc.fam, tc.key, a1, 0, nil); !errors.Is(err, ErrBadKey) && !errors.Is(err, ErrBadFamily) {
			t.Errorf("AddPath(%s, %s) = %v", tc.fam, tc.key, err)
		}
	}
	if err := e.r.AddVPNPath(InetVPN, pfx("10.0.0.0/8"), a1, 0, nil); !errors.Is(err, ErrBadKey) {
		t.Errorf("VPN key without RD: %v", err)
	}
	if err := e.r.AddPath("nosuch", Inet, pfx("10.0.0.0/8"), a1, 0, nil); !errors.Is(err, ErrNoInstance) {
		t.Errorf("unknown instance: %v", err)
	}
}

func TestDeleteInstance(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	a1 := e.agent("192.168.0.1")
	e.agent("192.168.0.2")
	e.publish("red", "192.168.0.1", "10.0.0.1/32", 16)
	e.publish("blue", "192.168.0.2", "10.0.0.2/32", 17)
	e.drain()
	if err := e.r.DeleteInstance("red"); err != nil {
		t.Fatal(err)
	}
	e.check()
	want := []string{
		"blue|inet|10.0.0.1/32=",
		"default-domain:default-project:ip-fabric:__default__|l3vpn|192.168.0.1:1:10.0.0.1/32=",
		"red|inet|10.0.0.1/32=",
		"red|inet|10.0.0.2/32=",
	}
	if got := e.drain(); !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
	if e.r.PeerPathCount(a1) != 0 {
		t.Error("peer index keeps the deleted instance's path")
	}
	// Re-created, it imports blue's route again.
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.check()
	if got := e.prefixes("red"); !slices.Equal(got, []string{"10.0.0.2/32"}) {
		t.Errorf("re-created red sees %v", got)
	}
	if err := e.r.DeleteInstance("nosuch"); !errors.Is(err, ErrNoInstance) {
		t.Errorf("DeleteInstance(nosuch) = %v", err)
	}
	if err := e.r.SetInstance(InstanceConfig{Name: MasterInstance}); !errors.Is(err, ErrBadInstance) {
		t.Errorf("SetInstance(master) = %v", err)
	}
	e.drain()
	infos := e.r.Instances()
	if len(infos) != 3 || infos[0].Name != MasterInstance || infos[1].Name != "blue" || infos[2].Name != "red" {
		t.Errorf("Instances() = %+v", infos)
	}
}

func TestAttrsInterning(t *testing.T) {
	e := newEnv(t)
	e.instance("red", []string{"64512:1"}, []string{"64512:1"})
	e.instance("blue", []string{"64512:1"}, []string{"64512:1"})
	e.agent("192.168.0.1")
	a := agentAttrs("192.168.0.1", 1)
	a.SecurityGroups = []uint32{3, 1, 2, 1}
	for i := range 50 {
		e.publishAttrs("red", "192.168.0.1", "10.0.0."+itoa(i)+"/32", uint32(16+i), a)
	}
	// One set for the VRF paths, one for the VPN (and imported) paths.
	if n := e.r.Stats().Attrs; n != 2 {
		t.Errorf("%d attribute sets for 50 routes", n)
	}
	ri, _ := e.r.Route("red", Inet, pfx("10.0.0.1/32"))
	if got := ri.Paths[0].Attrs().SecurityGroups; !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("security groups not canonical: %v", got)
	}
	if !slices.Equal(a.SecurityGroups, []uint32{3, 1, 2, 1}) {
		t.Error("caller's attrs modified")
	}
	// Re-adding with the interned value itself is a no-op.
	if err := e.r.AddPath("red", Inet, pfx("10.0.0.1/32"), e.peers["192.168.0.1"], 17, ri.Paths[0].Attrs()); err != nil || e.r.Pending() != 50*3 {
		t.Errorf("re-add: %v, pending %d", err, e.r.Pending())
	}
	e.r.DeletePeerPaths(e.peers["192.168.0.1"])
	e.check()
	if s := e.r.Stats(); s.Attrs != 0 || s.Paths != 0 || s.Routes != 0 {
		t.Errorf("after peer down: %+v", s)
	}
	e.drain()
	if s := e.r.Stats(); s.Pending != 0 {
		t.Errorf("after drain: %+v", s)
	}
	for _, in := range e.r.instances {
		for _, tb := range in.tables {
			if tb != nil && tb.size() != 0 {
				t.Errorf("%s keeps %d empty routes after Drain", TableName(in.name, tb.fam), tb.size())
			}
		}
	}
}

func TestAddPeerIdempotent(t *testing.T) {
	r := New()
	id, err := r.AddPeer(PeerInfo{Kind: PeerXMPP, Name: "compute-1", Addr: netip.MustParseAddr("192.168.0.1")})
	if err != nil || id.Kind() != PeerXMPP {
		t.Fatalf("AddPeer = %v, %v", id, err)
	}
	id2, _ := r.AddPeer(PeerInfo{Kind: PeerXMPP, Name: "compute-1"})
	if id2 != id {
		t.Error("re-registration gave a new id")
	}
	if got, ok := r.LookupPeer(PeerXMPP, "compute-1"); !ok || got != id {
		t.Error("LookupPeer")
	}
	if _, err := r.AddPeer(PeerInfo{Name: "x"}); !errors.Is(err, ErrBadPeer) {
		t.Errorf("kind 0: %v", err)
	}
	if _, err := r.DeletePeerPaths(0); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("peer 0: %v", err)
	}
}
