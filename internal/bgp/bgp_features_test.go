// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// Both speakers dial each other (neither is passive): the collision is
// resolved (RFC 4271 6.8) and one session stays up on each side, stable.
func TestConnectionCollisionBothDial(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	b, bAddr := startSpeaker(t, "127.0.0.2", nil)
	if err := a.AddNeighbor(Neighbor{Address: bAddr.Addr(), Port: bAddr.Port(), PeerAS: testAS, HoldTime: 9 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNeighbor(Neighbor{Address: aAddr.Addr(), Port: aAddr.Port(), PeerAS: testAS, HoldTime: 9 * time.Second}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, 10*time.Second, isType(EventUp))
	waitEvent(t, b, 10*time.Second, isType(EventUp))
	if err := a.Advertise(bAddr.Addr(), []PathChange{testVPNChange()}); err != nil {
		t.Fatal(err)
	}
	ch := waitEvent(t, b, 10*time.Second, isType(EventChanges)).Changes
	if len(ch) != 1 || ch[0].Key != testVPNChange().Key {
		t.Fatalf("got %+v", ch)
	}
	// Stable: no session goes down in the next seconds. One side may
	// have taken its connection to Established while the other, still
	// in OpenConfirm there, resolved the collision by identifier the
	// other way (RFC 4271 6.8 allows both): that side then closes it with
	// Cease/Connection Collision Resolution and the kept connection comes
	// up. That may happen once; any other loss of the session fails.
	collisions := 0
	deadline := time.After(2 * time.Second)
	for {
		var ev Event
		var side string
		select {
		case ev = <-a.Events():
			side = "a"
		case ev = <-b.Events():
			side = "b"
		case <-deadline:
		}
		if side == "" {
			break
		}
		if ev.Type != EventDown {
			continue
		}
		if !strings.Contains(fmt.Sprint(ev.Err), "notification 6/7") || collisions > 0 {
			t.Fatalf("%s: session went down: %v", side, ev.Err)
		}
		collisions++
		t.Logf("%s: collision resolved the other way on the peer (%v); waiting for the kept connection", side, ev.Err)
		for end := time.Now().Add(10 * time.Second); a.State(bAddr.Addr()) != Established || b.State(aAddr.Addr()) != Established; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("no session after the collision: states %v %v", a.State(bAddr.Addr()), b.State(aAddr.Addr()))
			}
		}
		deadline = time.After(2 * time.Second)
	}
	if a.State(bAddr.Addr()) != Established || b.State(aAddr.Addr()) != Established {
		t.Fatalf("states %v %v", a.State(bAddr.Addr()), b.State(aAddr.Addr()))
	}
	// Both sides kept the same connection: one dialled it, the other
	// accepted it (which one depends on timing: an Established session
	// wins over a later one; otherwise the higher identifier's).
	sa, sb := sessionOf(a, bAddr.Addr()), sessionOf(b, aAddr.Addr())
	if sa.Outbound() == sb.Outbound() {
		t.Errorf("outbound: a %v b %v; want one connection seen from both ends", sa.Outbound(), sb.Outbound())
	}
}

// A speaker that negotiated the route-target family gets only the VPN
// routes whose targets it asked for, and the difference when it asks for
// more or less (RFC 4684).
func TestRouteTargetConstraint(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	b, bAddr := startSpeaker(t, "127.0.0.2", nil)
	rt100 := rib.MustParseRouteTarget("target:64512:100")
	rt200 := rib.MustParseRouteTarget("target:64512:200")
	b.SetRouteTargets([]rib.RouteTarget{rt100})
	if err := a.AddNeighbor(Neighbor{Address: bAddr.Addr(), Port: bAddr.Port(), PeerAS: testAS}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNeighbor(Neighbor{Address: aAddr.Addr(), PeerAS: testAS, Passive: true}); err != nil {
		t.Fatal(err)
	}
	vpn, evpn := testVPNChange(), testEVPNChange() // targets 100 and 200
	if err := a.Advertise(bAddr.Addr(), []PathChange{vpn, evpn}); err != nil {
		t.Fatal(err)
	}
	seen := map[rib.Key]bool{}
	eor := map[rib.Family]bool{}
	collect := func(until func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !until() {
			if time.Now().After(deadline) {
				t.Fatalf("not reached: seen %v eor %v", seen, eor)
			}
			select {
			case ev := <-b.Events():
				switch ev.Type {
				case EventChanges:
					for _, c := range ev.Changes {
						seen[c.Key] = !c.Withdraw
					}
				case EventEndOfRIB:
					eor[ev.Family] = true
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	collect(func() bool { return eor[rib.InetVPN] && eor[rib.EVPN] })
	if !seen[vpn.Key] || seen[evpn.Key] {
		t.Fatalf("with target 100 only: seen %v", seen)
	}
	b.SetRouteTargets([]rib.RouteTarget{rt100, rt200})
	collect(func() bool { return seen[evpn.Key] })
	b.SetRouteTargets([]rib.RouteTarget{rt200})
	collect(func() bool { return !seen[vpn.Key] })
	if !seen[evpn.Key] {
		t.Fatal("route of target 200 withdrawn")
	}
	st := a.Status()
	if len(st) != 1 || st[0].PrefixesSent != 1 || st[0].RTCTargets != 1 || st[0].State != "Established" {
		t.Errorf("status %+v", st)
	}
}

// Re-configuring a neighbor at run time: a passive change applies in
// place; a hold time change resets the session (Cease/Other
// Configuration Change) and what we advertise is sent again; removing it
// sends Cease/Peer De-configured.
func TestSetAndRemoveNeighbor(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	raw := netip.MustParseAddr("127.0.0.3")
	n := Neighbor{Address: raw, PeerAS: testAS, Passive: true, HoldTime: 30 * time.Second}
	if err := a.AddNeighbor(n); err != nil {
		t.Fatal(err)
	}
	if err := a.Advertise(raw, []PathChange{testVPNChange()}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 30)
	waitEvent(t, a, 5*time.Second, isType(EventUp))
	if _, ok := p.recv(3*time.Second, false).Body.(*bgp.BGPUpdate); !ok {
		t.Fatal("want the route")
	}
	n.PrefixLimit = nil
	n.GRHelper = true
	if reset, err := a.SetNeighbor(n); err != nil || reset {
		t.Fatalf("GR helper change: reset %v err %v", reset, err)
	}
	n.HoldTime = 20 * time.Second
	if reset, err := a.SetNeighbor(n); err != nil || !reset {
		t.Fatalf("hold time change: reset %v err %v", reset, err)
	}
	p.wantNotification(5*time.Second, bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_OTHER_CONFIGURATION_CHANGE)
	ev := waitEvent(t, a, 5*time.Second, isType(EventDown))
	var ne *NotificationError
	if !errors.As(ev.Err, &ne) || ne.Subcode != bgp.BGP_ERROR_SUB_OTHER_CONFIGURATION_CHANGE {
		t.Fatalf("down: %v", ev.Err)
	}
	p = dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 30)
	up := waitEvent(t, a, 5*time.Second, isType(EventUp))
	if up.Session == ev.Session {
		t.Errorf("same session number %d after reset", up.Session)
	}
	if h := sessionOf(a, raw).HoldTime(); h != 20*time.Second {
		t.Errorf("hold time after reset %v", h)
	}
	if _, ok := p.recv(3*time.Second, false).Body.(*bgp.BGPUpdate); !ok {
		t.Fatal("want the route again after the reset")
	}
	if err := a.RemoveNeighbor(raw); err != nil {
		t.Fatal(err)
	}
	p.wantNotification(5*time.Second, bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_PEER_DECONFIGURED)
	waitEvent(t, a, 5*time.Second, isType(EventDown))
	if len(a.Neighbors()) != 0 {
		t.Errorf("neighbors %v", a.Neighbors())
	}
}

// A peer that advertised graceful restart and loses its connection
// (no NOTIFICATION) is reported with its restart time when we are its
// helper; one that sends a NOTIFICATION is not.
func TestGracefulRestartHelperEvent(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	raw := netip.MustParseAddr("127.0.0.3")
	if err := a.AddNeighbor(Neighbor{Address: raw, PeerAS: testAS, Passive: true, GRHelper: true, GracefulRestart: true}); err != nil {
		t.Fatal(err)
	}
	openGR := func(p *rawPeer) {
		caps := []bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_VPN),
			bgp.NewCapFourOctetASNumber(testAS),
			bgp.NewCapGracefulRestart(false, false, 77, []*bgp.CapGracefulRestartTuple{bgp.NewCapGracefulRestartTuple(bgp.RF_IPv4_VPN, true)}),
		}
		open, _ := bgp.NewBGPOpenMessage(testAS, 30, raw, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
		p.send(open)
		p.recv(5*time.Second, true)
		p.send(bgp.NewBGPKeepAliveMessage())
		p.recv(5*time.Second, true)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	openGR(p)
	waitEvent(t, a, 5*time.Second, isType(EventUp))
	p.send(vpnv4Update(t, "10.9.0.0/24"))
	waitEvent(t, a, 5*time.Second, isType(EventChanges))
	// End-of-RIB is reported.
	p.sendRaw(EndOfRIB(rib.InetVPN))
	if ev := waitEvent(t, a, 5*time.Second, isType(EventEndOfRIB)); ev.Family != rib.InetVPN {
		t.Fatalf("EoR family %v", ev.Family)
	}
	p.c.Close()
	ev := waitEvent(t, a, 5*time.Second, isType(EventDown))
	if ev.RestartTime != 77*time.Second {
		t.Fatalf("restart time %v (err %v)", ev.RestartTime, ev.Err)
	}
	p = dialRaw(t, "127.0.0.3", aAddr)
	openGR(p)
	waitEvent(t, a, 5*time.Second, isType(EventUp))
	p.send(bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_RESET, nil))
	if ev := waitEvent(t, a, 5*time.Second, isType(EventDown)); ev.RestartTime != 0 {
		t.Fatalf("helper after a NOTIFICATION: %v", ev.RestartTime)
	}
}

// eBGP: a route whose AS_PATH holds our AS more often than the loop count
// is a loop (withdrawn); AS override rewrites the peer's AS on send.
func TestEBGPLoopCountAndASOverride(t *testing.T) {
	changes := func(path []uint32) []PathChange {
		c := testVPNChange()
		c.Attrs.ASPath = []rib.ASSegment{{Type: rib.ASSequence, ASNs: path}}
		return []PathChange{c}
	}
	s := NewSession(nil, SessionConfig{LocalAS: testAS, PeerAS: 65001, LoopCount: 1})
	ch := changes([]uint32{65001, testAS})
	s.checkLoops(ch)
	if ch[0].Withdraw {
		t.Fatal("one occurrence with loop count 1 is not a loop")
	}
	ch = changes([]uint32{65001, testAS, 65002, testAS})
	s.checkLoops(ch)
	if !ch[0].Withdraw {
		t.Fatal("two occurrences with loop count 1 is a loop")
	}
	local := LocalInfo{AS: testAS, PeerAS: 65001, NextHop: netip.MustParseAddr("10.0.0.1"), ASOverride: true}
	msgs := EncodeUpdates(changes([]uint32{65001, 65003}), local)
	m, err := bgp.ParseBGPMessage(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, pa := range m.Body.(*bgp.BGPUpdate).PathAttributes {
		if ap, ok := pa.(*bgp.PathAttributeAsPath); ok {
			var got []uint32
			for _, seg := range ap.Value {
				got = append(got, seg.GetAS()...)
			}
			if want := []uint32{testAS, testAS, 65003}; !equalU32(got, want) {
				t.Fatalf("AS_PATH %v, want %v", got, want)
			}
		}
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Over a live session: an UPDATE with a malformed ORIGIN withdraws its
// routes (RFC 7606 treat-as-withdraw) and the session stays up; one with
// an unknown optional transitive attribute is kept; a truncated attribute
// list ends it with UPDATE Message Error / Malformed Attribute List.
func TestTreatAsWithdrawOnSession(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	raw := netip.MustParseAddr("127.0.0.3")
	if err := a.AddNeighbor(Neighbor{Address: raw, PeerAS: testAS, Passive: true}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 90)
	waitEvent(t, a, 5*time.Second, isType(EventUp))
	p.send(vpnv4Update(t, "10.9.1.0/24"))
	if ch := waitEvent(t, a, 5*time.Second, isType(EventChanges)).Changes; len(ch) != 1 || ch[0].Withdraw {
		t.Fatalf("announce: %+v", ch)
	}
	b, _ := vpnv4Update(t, "10.9.1.0/24").Serialize()
	for i := 19; i+3 < len(b); i++ {
		if b[i] == 0x40 && b[i+1] == 1 && b[i+2] == 1 {
			b[i+3] = 9
			break
		}
	}
	p.sendRaw(b)
	ch := waitEvent(t, a, 5*time.Second, isType(EventChanges)).Changes
	if len(ch) != 1 || !ch[0].Withdraw {
		t.Fatalf("treat-as-withdraw: %+v", ch)
	}
	if st := a.State(raw); st != Established {
		t.Fatalf("session after treat-as-withdraw: %v", st)
	}
	// Unknown optional transitive attribute: accepted and kept.
	m := vpnv4Update(t, "10.9.2.0/24")
	u := m.Body.(*bgp.BGPUpdate)
	u.PathAttributes = append(u.PathAttributes, bgp.NewPathAttributeUnknown(bgp.BGP_ATTR_FLAG_OPTIONAL|bgp.BGP_ATTR_FLAG_TRANSITIVE, 99, []byte{1, 2, 3}))
	p.send(m)
	ch = waitEvent(t, a, 5*time.Second, isType(EventChanges)).Changes
	if len(ch) != 1 || ch[0].Withdraw || len(ch[0].Unknown) != 1 || ch[0].Unknown[0].Type != 99 {
		t.Fatalf("unknown attribute: %+v", ch)
	}
	// A truncated attribute list resets the session with 3/1.
	body := []byte{0x00, 0x00, 0x00, 0x05, 0x40, 0x01, 0x01}
	msg := append(append(bytes.Repeat([]byte{0xff}, 16), 0, byte(19+len(body)), bgp.BGP_MSG_UPDATE), body...)
	p.sendRaw(msg)
	p.wantNotification(5*time.Second, bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_MALFORMED_ATTRIBUTE_LIST)
	waitEvent(t, a, 5*time.Second, isType(EventDown))
}
