// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

func sessionOf(s *Speaker, addr netip.Addr) *Session {
	s.mu.Lock()
	nb := s.neighbors[addr]
	s.mu.Unlock()
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.sess
}

func TestOpenCapabilities(t *testing.T) {
	s := NewSession(nil, SessionConfig{LocalAS: 4200000001, RouterID: netip.MustParseAddr("10.0.0.1"),
		HoldTime: 90 * time.Second, GracefulRestart: true})
	o := s.openMessage().Body.(*bgp.BGPOpen)
	if o.MyAS != bgp.AS_TRANS || o.HoldTime != 90 {
		t.Errorf("my AS %d hold %d", o.MyAS, o.HoldTime)
	}
	fams := map[bgp.Family]bool{}
	codes := map[bgp.BGPCapabilityCode]bool{}
	for _, p := range o.OptParams {
		for _, c := range p.(*bgp.OptionParameterCapability).Capability {
			codes[c.Code()] = true
			if mp, ok := c.(*bgp.CapMultiProtocol); ok {
				fams[mp.CapValue] = true
			}
			if as, ok := c.(*bgp.CapFourOctetASNumber); ok && as.CapValue != 4200000001 {
				t.Errorf("AS4 %d", as.CapValue)
			}
		}
	}
	for _, f := range []bgp.Family{bgp.RF_IPv4_VPN, bgp.RF_IPv6_VPN, bgp.RF_EVPN, bgp.RF_RTC_UC} {
		if !fams[f] {
			t.Errorf("family %v not advertised", f)
		}
	}
	for _, c := range []bgp.BGPCapabilityCode{bgp.BGP_CAP_ROUTE_REFRESH, bgp.BGP_CAP_FOUR_OCTET_AS_NUMBER, bgp.BGP_CAP_GRACEFUL_RESTART} {
		if !codes[c] {
			t.Errorf("capability %v not advertised", c)
		}
	}
}

// One speaker stops sending keepalives (test hook): the other's hold
// timer expires, it sends 4/0, and the sessions come back up.
func TestHoldTimerBetweenSpeakersAndReconnect(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	b, bAddr := startSpeaker(t, "127.0.0.2", nil)
	if err := a.AddNeighbor(Neighbor{Address: bAddr.Addr(), Port: bAddr.Port(), PeerAS: testAS, HoldTime: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNeighbor(Neighbor{Address: aAddr.Addr(), PeerAS: testAS, Passive: true, HoldTime: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// Routes advertised before the session is up are sent when it is.
	if err := a.Advertise(bAddr.Addr(), []PathChange{testVPNChange()}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, 10*time.Second, isType(EventUp))
	waitEvent(t, b, 10*time.Second, isType(EventChanges))
	sa := sessionOf(a, bAddr.Addr())
	if sa.HoldTime() != 3*time.Second {
		t.Fatalf("hold time %v", sa.HoldTime())
	}
	sa.testNoKeepalive.Store(true)
	ev := waitEvent(t, b, 6*time.Second, isType(EventDown))
	var ne *NotificationError
	if !errors.As(ev.Err, &ne) || ne.Code != bgp.BGP_ERROR_HOLD_TIMER_EXPIRED || ne.Received {
		t.Fatalf("b down: %v", ev.Err)
	}
	ev = waitEvent(t, a, 5*time.Second, isType(EventDown))
	if !errors.As(ev.Err, &ne) || ne.Code != bgp.BGP_ERROR_HOLD_TIMER_EXPIRED || !ne.Received {
		t.Fatalf("a down: %v", ev.Err)
	}
	// Reconnect, and the adj-RIB-out is replayed.
	waitEvent(t, b, 10*time.Second, isType(EventUp))
	ch := waitEvent(t, b, 10*time.Second, isType(EventChanges)).Changes
	if len(ch) != 1 || ch[0].Key != testVPNChange().Key {
		t.Fatalf("replayed %+v", ch)
	}
}

func TestZeroHoldTimeAndRouteRefresh(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	raw := netip.MustParseAddr("127.0.0.3")
	if err := a.AddNeighbor(Neighbor{Address: raw, PeerAS: testAS, Passive: true, HoldTime: -1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Advertise(raw, []PathChange{testVPNChange(), testEVPNChange()}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	p.establish("127.0.0.3", 0)
	waitEvent(t, a, 5*time.Second, isType(EventUp))
	if h := sessionOf(a, raw).HoldTime(); h != 0 {
		t.Fatalf("hold time %v", h)
	}
	count := func() map[rib.Family]int {
		n := map[rib.Family]int{}
		for n[rib.InetVPN]+n[rib.EVPN] < 2 {
			m := p.recv(3*time.Second, false)
			b, _ := m.Serialize()
			ch, err := DecodeUpdateMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range ch {
				n[c.Family]++
			}
		}
		return n
	}
	if n := count(); n[rib.InetVPN] != 1 || n[rib.EVPN] != 1 {
		t.Fatalf("initial %v", n)
	}
	p.send(bgp.NewBGPRouteRefreshMessage(bgp.AFI_IP, 0, bgp.SAFI_MPLS_VPN))
	m := p.recv(3*time.Second, false)
	b, _ := m.Serialize()
	ch, err := DecodeUpdateMessage(b)
	if err != nil || len(ch) != 1 || ch[0].Family != rib.InetVPN {
		t.Fatalf("refresh: %v %+v", err, ch)
	}
}

func TestBadPeerAS(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	if err := a.AddNeighbor(Neighbor{Address: netip.MustParseAddr("127.0.0.3"), PeerAS: 65999, Passive: true}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, "127.0.0.3", aAddr)
	open, err := bgp.NewBGPOpenMessage(testAS, 90, netip.MustParseAddr("127.0.0.3"),
		[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{bgp.NewCapFourOctetASNumber(testAS)})})
	if err != nil {
		t.Fatal(err)
	}
	p.send(open)
	if _, ok := p.recv(5*time.Second, true).Body.(*bgp.BGPOpen); !ok {
		t.Fatal("want OPEN")
	}
	p.wantNotification(5*time.Second, bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS)
}
