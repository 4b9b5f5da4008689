// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

var ibgpLocal = LocalInfo{AS: testAS, PeerAS: testAS, RouterID: netip.MustParseAddr("10.0.0.1"), NextHop: netip.MustParseAddr("10.0.0.1")}

func decodeAll(t *testing.T, msgs [][]byte) []PathChange {
	t.Helper()
	var out []PathChange
	for _, m := range msgs {
		if len(m) > MaxMessageLen {
			t.Fatalf("message of %d bytes", len(m))
		}
		ch, err := DecodeUpdateMessage(m)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, ch...)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	mac, _ := rib.ParseMAC("02:00:00:00:00:02")
	imet := PathChange{Family: rib.EVPN, Key: rib.EVPNMulticastKey(rib.RDFromAddr(netip.MustParseAddr("10.1.1.3"), 1), 0, netip.MustParseAddr("10.1.1.3")),
		Attrs: rib.Attrs{NextHop: netip.MustParseAddr("10.1.1.3"), Encap: rib.EncapVXLAN}}
	mplsEVPN := PathChange{Family: rib.EVPN, Key: rib.EVPNMACKey(7, mac, netip.Addr{}).WithRD(rib.RDFromAS(64512, 9)), Label: 33,
		Attrs: rib.Attrs{NextHop: netip.MustParseAddr("10.1.1.4"), Encap: rib.EncapGRE}}
	v6 := PathChange{Family: rib.Inet6VPN, Key: rib.VPNKey(rib.RDFromAS(64512, 2), netip.MustParsePrefix("2001:db8::/64")), Label: 99,
		Attrs: rib.Attrs{NextHop: netip.MustParseAddr("10.1.1.5"), ExtCommunities: []uint64{0x807100fd00000005},
			SecurityGroups: []uint32{7, 8000002}}}
	in := []PathChange{testVPNChange(), testEVPNChange(), imet, mplsEVPN, v6}
	got := decodeAll(t, EncodeUpdates(in, ibgpLocal))
	if len(got) != len(in) {
		t.Fatalf("got %d changes, want %d: %+v", len(got), len(in), got)
	}
	for _, w := range in {
		g, ok := findChange(got, w.Key)
		if !ok {
			t.Fatalf("missing %v", w.Key)
		}
		if g.Label != w.Label || g.Family != w.Family || g.Attrs.NextHop != w.Attrs.NextHop || g.Attrs.Encap != w.Attrs.Encap ||
			!slices.Equal(g.Attrs.RouteTargets, w.Attrs.RouteTargets) || !slices.Equal(g.Attrs.ExtCommunities, w.Attrs.ExtCommunities) ||
			!slices.Equal(g.Attrs.SecurityGroups, w.Attrs.SecurityGroups) {
			t.Errorf("%v: got %+v want %+v", w.Key, g, w)
		}
		if g.Attrs.LocalPref == 0 {
			t.Errorf("%v: no LOCAL_PREF on iBGP", w.Key)
		}
	}
}

func TestEncodeBatches(t *testing.T) {
	base := testVPNChange()
	var in []PathChange
	for i := range 1000 {
		c := base
		c.Key = rib.VPNKey(base.Key.RD(), netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)))
		c.Label = uint32(16 + i)
		in = append(in, c)
	}
	msgs := EncodeUpdates(in, ibgpLocal)
	if len(msgs) < 2 || len(msgs) > 10 {
		t.Fatalf("%d messages for 1000 routes", len(msgs))
	}
	got := decodeAll(t, msgs)
	if len(got) != len(in) {
		t.Fatalf("got %d changes", len(got))
	}
	// Withdrawals batch too.
	for i := range in {
		in[i] = PathChange{Family: in[i].Family, Key: in[i].Key, Withdraw: true}
	}
	got = decodeAll(t, EncodeUpdates(in, ibgpLocal))
	if len(got) != len(in) || !got[0].Withdraw {
		t.Fatalf("withdraw: got %d", len(got))
	}
	// Different attributes give different UPDATEs.
	a, b := testVPNChange(), testVPNChange()
	b.Key = rib.VPNKey(b.Key.RD(), netip.MustParsePrefix("172.16.0.0/16"))
	b.Attrs.MED = 77
	if n := len(EncodeUpdates([]PathChange{a, b}, ibgpLocal)); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

func TestEBGPRules(t *testing.T) {
	c := testVPNChange()
	c.Attrs.ASPath = []rib.ASSegment{{Type: rib.ASSequence, ASNs: []uint32{65001}}}
	local := LocalInfo{AS: testAS, PeerAS: 65100, RouterID: netip.MustParseAddr("10.0.0.1"), NextHop: netip.MustParseAddr("10.0.0.1")}
	got := decodeAll(t, EncodeUpdates([]PathChange{c}, local))
	if len(got) != 1 {
		t.Fatal(got)
	}
	a := got[0].Attrs
	if a.LocalPref != 0 {
		t.Errorf("LOCAL_PREF %d sent on eBGP", a.LocalPref)
	}
	if a.NextHop != local.NextHop {
		t.Errorf("next hop %v", a.NextHop)
	}
	if len(a.ASPath) != 2 || a.ASPath[0].ASNs[0] != testAS || a.ASPath[1].ASNs[0] != 65001 {
		t.Errorf("AS_PATH %+v", a.ASPath)
	}
}

func TestRouteReflection(t *testing.T) {
	c := testVPNChange()
	local := ibgpLocal
	local.ClusterID = 0x0a000001
	// Own paths carry no reflection attributes.
	a := decodeAll(t, EncodeUpdates([]PathChange{c}, local))[0].Attrs
	if a.OriginatorID.IsValid() || len(a.ClusterList) != 0 {
		t.Errorf("own path: originator %v cluster list %v", a.OriginatorID, a.ClusterList)
	}
	// A path from an iBGP peer gets the peer as ORIGINATOR_ID.
	c.FromPeer = netip.MustParseAddr("10.0.0.7")
	a = decodeAll(t, EncodeUpdates([]PathChange{c}, local))[0].Attrs
	if a.OriginatorID != c.FromPeer || !slices.Equal(a.ClusterList, []uint32{0x0a000001}) {
		t.Errorf("originator %v cluster list %v", a.OriginatorID, a.ClusterList)
	}
	// An already reflected path keeps its ORIGINATOR_ID and gets our
	// cluster id prepended.
	c.Attrs.OriginatorID = netip.MustParseAddr("10.9.9.9")
	c.Attrs.ClusterList = []uint32{7}
	a = decodeAll(t, EncodeUpdates([]PathChange{c}, local))[0].Attrs
	if a.OriginatorID != c.Attrs.OriginatorID || !slices.Equal(a.ClusterList, []uint32{0x0a000001, 7}) {
		t.Errorf("originator %v cluster list %v", a.OriginatorID, a.ClusterList)
	}
	// Without a cluster id nothing is added.
	a = decodeAll(t, EncodeUpdates([]PathChange{c}, ibgpLocal))[0].Attrs
	if a.OriginatorID.IsValid() || len(a.ClusterList) != 0 {
		t.Errorf("no cluster id: originator %v cluster list %v", a.OriginatorID, a.ClusterList)
	}
}

func TestReflectionLoopDetection(t *testing.T) {
	s := NewSession(nil, SessionConfig{LocalAS: testAS, PeerAS: testAS, RouterID: netip.MustParseAddr("10.0.0.1"), ClusterID: 99})
	s.peerID = netip.MustParseAddr("10.0.0.2")
	own, looped, ok := testVPNChange(), testVPNChange(), testVPNChange()
	own.Attrs.OriginatorID = netip.MustParseAddr("10.0.0.1")
	looped.Attrs.ClusterList = []uint32{5, 99}
	ch := []PathChange{own, looped, ok}
	s.checkLoops(ch)
	if !ch[0].Withdraw || !ch[1].Withdraw || ch[2].Withdraw || ch[2].FromPeer != s.peerID {
		t.Fatalf("%+v", ch)
	}
}

func TestUnknownTransitiveAttrPassedThrough(t *testing.T) {
	m := vpnv4Update(t, "10.9.1.0/24")
	u := m.Body.(*bgp.BGPUpdate)
	u.PathAttributes = append(u.PathAttributes, bgp.NewPathAttributeUnknown(
		bgp.BGP_ATTR_FLAG_OPTIONAL|bgp.BGP_ATTR_FLAG_TRANSITIVE, 240, []byte{1, 2, 3}))
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeUpdateMessage(b)
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %+v", err, got)
	}
	if len(got[0].Unknown) != 1 || got[0].Unknown[0].Type != 240 {
		t.Fatalf("unknown %+v", got[0].Unknown)
	}
	out := EncodeUpdates(got, ibgpLocal)
	again := decodeAll(t, out)
	if len(again) != 1 || len(again[0].Unknown) != 1 || string(again[0].Unknown[0].Value) != "\x01\x02\x03" ||
		again[0].Unknown[0].Flags&uint8(bgp.BGP_ATTR_FLAG_PARTIAL) == 0 {
		t.Fatalf("re-encoded unknown %+v", again)
	}
}

func TestTreatAsWithdraw(t *testing.T) {
	m := vpnv4Update(t, "10.9.1.0/24")
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the ORIGIN value (attribute after MP_REACH): find the
	// ORIGIN attribute (flags 0x40, type 1, len 1) and set value 9.
	i := slices.Index(b, 0x40)
	for ; i >= 0 && i+3 < len(b); i++ {
		if b[i] == 0x40 && b[i+1] == 1 && b[i+2] == 1 {
			b[i+3] = 9
			break
		}
	}
	got, err := DecodeUpdateMessage(b)
	if err == nil {
		t.Fatal("no error for bad ORIGIN")
	}
	if _, _, reset := IsSessionReset(err); reset {
		t.Fatalf("bad ORIGIN should be treat-as-withdraw: %v", err)
	}
	if len(got) != 1 || !got[0].Withdraw {
		t.Fatalf("changes %+v", got)
	}
}

func FuzzDecodeUpdate(f *testing.F) {
	for _, msgs := range [][][]byte{
		EncodeUpdates([]PathChange{testVPNChange(), testEVPNChange()}, ibgpLocal),
		EncodeUpdates([]PathChange{{Family: rib.InetVPN, Key: testVPNChange().Key, Withdraw: true}}, ibgpLocal),
	} {
		for _, m := range msgs {
			f.Add(m)
		}
	}
	f.Add(EndOfRIB(rib.EVPN))
	for _, m := range EncodeRTC([]rib.RouteTarget{rib.MustParseRouteTarget("target:64512:1")}, false, ibgpLocal) {
		f.Add(m)
	}
	for _, m := range EncodeRTC(nil, true, ibgpLocal) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		changes, err := DecodeUpdateMessage(b)
		IsSessionReset(err)
		// What decodes must encode again without panicking.
		EncodeUpdates(changes, ibgpLocal)
		// The session's other readers of an UPDATE: End-of-RIB and
		// route-target membership routes.
		if m, _ := bgp.ParseBGPMessage(b); m != nil {
			if u, ok := m.Body.(*bgp.BGPUpdate); ok {
				endOfRIB(u)
				for _, c := range decodeRTC(u) {
					if !c.Default {
						EncodeRTC([]rib.RouteTarget{c.Target}, c.Withdraw, ibgpLocal)
					}
				}
			}
		}
	})
}
