// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

func findChange(changes []PathChange, k rib.Key) (PathChange, bool) {
	for _, c := range changes {
		if c.Key == k {
			return c, true
		}
	}
	return PathChange{}, false
}

func TestSpeakersIBGP(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	b, bAddr := startSpeaker(t, "127.0.0.2", nil)
	if err := a.AddNeighbor(Neighbor{Address: bAddr.Addr(), Port: bAddr.Port(), PeerAS: testAS, HoldTime: 9 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNeighbor(Neighbor{Address: aAddr.Addr(), PeerAS: testAS, Passive: true, HoldTime: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, 10*time.Second, isType(EventUp))
	waitEvent(t, b, 10*time.Second, isType(EventUp))
	if st := a.State(bAddr.Addr()); st != Established {
		t.Fatalf("state %v", st)
	}

	vpn, evpn := testVPNChange(), testEVPNChange()
	if err := a.Advertise(bAddr.Addr(), []PathChange{vpn, evpn}); err != nil {
		t.Fatal(err)
	}
	var got []PathChange
	for len(got) < 2 {
		got = append(got, waitEvent(t, b, 10*time.Second, isType(EventChanges)).Changes...)
	}
	g, ok := findChange(got, vpn.Key)
	if !ok {
		t.Fatalf("vpnv4 route not received: %+v", got)
	}
	if g.Family != rib.InetVPN || g.Key.RD() != vpn.Key.RD() || g.Label != 17 || g.Withdraw {
		t.Errorf("vpnv4: %+v", g)
	}
	if g.Attrs.NextHop != vpn.Attrs.NextHop || g.Attrs.Encap != vpn.Attrs.Encap ||
		!slices.Equal(g.Attrs.RouteTargets, vpn.Attrs.RouteTargets) || g.Attrs.LocalPref != 200 ||
		g.Attrs.MED != 5 || !slices.Equal(g.Attrs.Communities, vpn.Attrs.Communities) || len(g.Attrs.ASPath) != 0 {
		t.Errorf("vpnv4 attrs: %+v", g.Attrs)
	}
	g, ok = findChange(got, evpn.Key)
	if !ok {
		t.Fatalf("evpn route not received: %+v", got)
	}
	if g.Family != rib.EVPN || g.Key.RD() != evpn.Key.RD() || g.Key.MAC() != evpn.Key.MAC() ||
		g.Key.IP() != evpn.Key.IP() || g.Label != 5001 {
		t.Errorf("evpn: %+v key %v", g, g.Key)
	}
	if g.Attrs.NextHop != evpn.Attrs.NextHop || g.Attrs.Encap != rib.EncapVXLAN ||
		!slices.Equal(g.Attrs.RouteTargets, evpn.Attrs.RouteTargets) {
		t.Errorf("evpn attrs: %+v", g.Attrs)
	}

	// Withdraw both.
	wv, we := PathChange{Family: rib.InetVPN, Key: vpn.Key, Withdraw: true}, PathChange{Family: rib.EVPN, Key: evpn.Key, Withdraw: true}
	if err := a.Advertise(bAddr.Addr(), []PathChange{wv, we}); err != nil {
		t.Fatal(err)
	}
	// Wait until the last change seen for each key is its withdrawal (a
	// session that flaps under load replays the adds first; that is fine).
	last := map[rib.Key]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for !(last[vpn.Key] && last[evpn.Key]) {
		if time.Now().After(deadline) {
			t.Fatalf("withdrawals not received: %v", last)
		}
		for _, c := range waitEvent(t, b, 20*time.Second, isType(EventChanges)).Changes {
			last[c.Key] = c.Withdraw
		}
	}
}

func TestHoldTimerExpiry(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	if err := a.AddNeighbor(Neighbor{Address: netip.MustParseAddr("127.0.0.3"), PeerAS: testAS, Passive: true, HoldTime: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 3)
	waitEvent(t, a, 5*time.Second, isType(EventUp))
	start := time.Now()
	// The raw peer sends nothing more.
	p.wantNotification(6*time.Second, bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0)
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("hold timer expired after %v", d)
	}
	ev := waitEvent(t, a, 5*time.Second, isType(EventDown))
	var ne *NotificationError
	if !errors.As(ev.Err, &ne) || ne.Code != bgp.BGP_ERROR_HOLD_TIMER_EXPIRED || ne.Received {
		t.Errorf("down error %v", ev.Err)
	}
}

func TestKeepalivesKeepSessionUp(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	if err := a.AddNeighbor(Neighbor{Address: netip.MustParseAddr("127.0.0.3"), PeerAS: testAS, Passive: true, HoldTime: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 30)
	// Negotiated hold time is 3s: we must see keepalives about every 1s.
	for range 3 {
		if _, ok := p.recv(3*time.Second, true).Body.(*bgp.BGPKeepAlive); !ok {
			t.Fatal("want KEEPALIVE")
		}
		p.send(bgp.NewBGPKeepAliveMessage())
	}
	if st := a.State(netip.MustParseAddr("127.0.0.3")); st != Established {
		t.Fatalf("state %v", st)
	}
}

func TestMalformedUpdateResetsOnlyThatSession(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	b, bAddr := startSpeaker(t, "127.0.0.2", nil)
	if err := a.AddNeighbor(Neighbor{Address: bAddr.Addr(), Port: bAddr.Port(), PeerAS: testAS}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNeighbor(Neighbor{Address: aAddr.Addr(), PeerAS: testAS, Passive: true}); err != nil {
		t.Fatal(err)
	}
	raw := netip.MustParseAddr("127.0.0.3")
	if err := a.AddNeighbor(Neighbor{Address: raw, PeerAS: testAS, Passive: true}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, b, 10*time.Second, isType(EventUp))
	waitEvent(t, a, 10*time.Second, func(ev Event) bool { return ev.Type == EventUp && ev.Neighbor == bAddr.Addr() })

	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 90)
	// UPDATE whose withdrawn routes length runs past the message.
	body := []byte{0x00, 0x40, 0x00, 0x00}
	msg := append(slices.Repeat([]byte{0xff}, 16), 0, byte(19+len(body)), bgp.BGP_MSG_UPDATE)
	p.sendRaw(append(msg, body...))
	p.wantNotification(5*time.Second, bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_MALFORMED_ATTRIBUTE_LIST)

	if st := a.State(bAddr.Addr()); st != Established {
		t.Fatalf("session with the other speaker: %v", st)
	}
	// And it still carries routes.
	if err := a.Advertise(bAddr.Addr(), []PathChange{testVPNChange()}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, b, 5*time.Second, isType(EventChanges))
}

func TestBadHeaderLength(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	if err := a.AddNeighbor(Neighbor{Address: netip.MustParseAddr("127.0.0.3"), PeerAS: testAS, Passive: true}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 90)
	msg := append(slices.Repeat([]byte{0xff}, 16), 0x20, 0x00, bgp.BGP_MSG_UPDATE) // length 8192
	p.sendRaw(msg)
	p.wantNotification(5*time.Second, bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_BAD_MESSAGE_LENGTH)
}

func TestPrefixLimit(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	raw := netip.MustParseAddr("127.0.0.3")
	if err := a.AddNeighbor(Neighbor{Address: raw, PeerAS: testAS, Passive: true,
		PrefixLimit: map[rib.Family]int{rib.InetVPN: 2}}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 90)
	waitEvent(t, a, 5*time.Second, isType(EventUp))
	p.send(vpnv4Update(t, "10.9.1.0/24", "10.9.2.0/24"))
	ev := waitEvent(t, a, 5*time.Second, isType(EventChanges))
	if len(ev.Changes) != 2 {
		t.Fatalf("changes %+v", ev.Changes)
	}
	p.send(vpnv4Update(t, "10.9.3.0/24"))
	p.wantNotification(5*time.Second, bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED)
	ev = waitEvent(t, a, 5*time.Second, isType(EventDown))
	var ne *NotificationError
	if !errors.As(ev.Err, &ne) || ne.Code != 6 || ne.Subcode != 1 {
		t.Errorf("down error %v", ev.Err)
	}
}
