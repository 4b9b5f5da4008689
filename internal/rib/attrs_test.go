// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"net/netip"
	"testing"
)

func TestAttrTableCollisions(t *testing.T) {
	tb := newAttrTable()
	var as []*Attrs
	for i := range 4 {
		as = append(as, tb.intern(&Attrs{LocalPref: uint32(i)}))
	}
	// Force all four into one hash chain, as a collision would: 3 -> 2 -> 1 -> 0.
	const h = 42
	clear(tb.m)
	for i, a := range as {
		a.hash = h
		a.next = nil
		if i > 0 {
			a.next = as[i-1]
		}
	}
	tb.m[h] = as[3]
	lookup := func(lp uint32) *Attrs {
		for e := tb.m[h]; e != nil; e = e.next {
			if e.LocalPref == lp {
				return e
			}
		}
		return nil
	}
	tb.release(as[1]) // middle
	tb.release(as[3]) // head
	tb.release(as[0]) // tail
	if lookup(1) != nil || lookup(3) != nil || lookup(0) != nil || lookup(2) != as[2] || tb.n != 1 {
		t.Fatalf("chain after releases is wrong (n=%d)", tb.n)
	}
	tb.release(as[2])
	if len(tb.m) != 0 || tb.n != 0 {
		t.Errorf("table not empty: %d entries", len(tb.m))
	}
}

func TestAttrsEqualAndClone(t *testing.T) {
	a := &Attrs{
		NextHop: netip.MustParseAddr("192.168.0.1"), RouterMAC: MAC{2}, Encap: EncapVXLAN, VirtualNetwork: "vn",
		SecurityGroups: []uint32{1}, Communities: []uint32{2}, Tags: []uint32{3}, LocalPref: 4, MED: 5,
		LoadBalance: LoadBalance{Fields: LBSourceAddr, Decision: LBDecisionFieldHash}, SubProtocol: SubProtocolBGPaaS,
		Mobility: Mobility{Seq: 6, Sticky: true}, L3Label: 7, RouteTargets: rts("1:1"), SourceRD: 8,
		ASPath: []ASSegment{{Type: ASSequence, ASNs: []uint32{9}}}, Origin: OriginEGP,
		OriginatorID: netip.MustParseAddr("1.1.1.1"), ClusterList: []uint32{10}, ExtCommunities: []uint64{11},
	}
	c := a.Clone()
	if !a.Equal(c) || &a.ASPath[0].ASNs[0] == &c.ASPath[0].ASNs[0] {
		t.Fatal("Clone is not an equal deep copy")
	}
	tb := newAttrTable()
	if tb.hash(a) != tb.hash(c) {
		t.Error("equal attrs hash differently")
	}
	// Changing any one field makes them differ.
	for name, mut := range map[string]func(*Attrs){
		"NextHop": func(x *Attrs) { x.NextHop = netip.MustParseAddr("192.168.0.2") },
		"MAC":     func(x *Attrs) { x.RouterMAC[5] = 1 },
		"Encap":   func(x *Attrs) { x.Encap = EncapGRE },
		"VN":      func(x *Attrs) { x.VirtualNetwork = "other" },
		"SG":      func(x *Attrs) { x.SecurityGroups = nil },
		"Comm":    func(x *Attrs) { x.Communities = []uint32{3} },
		"Tags":    func(x *Attrs) { x.Tags = nil },
		"LP":      func(x *Attrs) { x.LocalPref++ },
		"MED":     func(x *Attrs) { x.MED++ },
		"LB":      func(x *Attrs) { x.LoadBalance.Decision = LBDecisionSourceBias },
		"Sub":     func(x *Attrs) { x.SubProtocol = SubProtocolInterface },
		"Mob":     func(x *Attrs) { x.Mobility.Sticky = false },
		"L3":      func(x *Attrs) { x.L3Label++ },
		"RT":      func(x *Attrs) { x.RouteTargets = rts("1:2") },
		"RD":      func(x *Attrs) { x.SourceRD++ },
		"ASPath":  func(x *Attrs) { x.ASPath[0].Type = ASSet },
		"Origin":  func(x *Attrs) { x.Origin = OriginIGP },
		"Orig":    func(x *Attrs) { x.OriginatorID = netip.Addr{} },
		"Cluster": func(x *Attrs) { x.ClusterList = append(x.ClusterList, 1) },
		"Ext":     func(x *Attrs) { x.ExtCommunities = nil },
	} {
		d := a.Clone()
		mut(d)
		if a.Equal(d) {
			t.Errorf("%s: change not seen by Equal", name)
		}
		if tb.hash(a) == tb.hash(d) {
			t.Errorf("%s: change not seen by the hash", name)
		}
	}
}
