// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

const testAS = 64512

func startSpeaker(t *testing.T, ip string, mod func(*Config)) (*Speaker, netip.AddrPort) {
	t.Helper()
	cfg := Config{
		RouterID:     netip.MustParseAddr(ip),
		LocalAS:      testAS,
		ListenAddr:   ip + ":0",
		ConnectRetry: 100 * time.Millisecond,
		MaxBackoff:   500 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSpeaker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Start(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("speaker did not stop")
		}
	})
	return s, netip.MustParseAddrPort(s.Addr().String())
}

func waitEvent(t *testing.T, s *Speaker, timeout time.Duration, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("timed out waiting for event")
		}
	}
}

func isType(typ EventType) func(Event) bool {
	return func(ev Event) bool { return ev.Type == typ }
}

// rawPeer is a BGP peer scripted by hand with gobgp's packet package.
type rawPeer struct {
	t *testing.T
	c net.Conn
	// keepEoR makes recv return End-of-RIB markers too.
	keepEoR bool
}

func dialRaw(t *testing.T, from string, to netip.AddrPort) *rawPeer {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	for range 50 { // the speaker may not have registered the neighbor yet
		c, err = d.Dial("tcp", to.String())
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, c: c}
}

func (p *rawPeer) send(m *bgp.BGPMessage) {
	p.t.Helper()
	b, err := m.Serialize()
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(b)
}

func (p *rawPeer) sendRaw(b []byte) {
	p.t.Helper()
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next message other than KEEPALIVE (unless wantKA).
func (p *rawPeer) recv(timeout time.Duration, wantKA bool) *bgp.BGPMessage {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		b, err := readMsg(p.c)
		if err != nil {
			p.t.Fatalf("raw peer read: %v", err)
		}
		m, err := bgp.ParseBGPMessage(b)
		if err != nil {
			p.t.Fatalf("raw peer parse: %v", err)
		}
		if _, ka := m.Body.(*bgp.BGPKeepAlive); ka && !wantKA {
			continue
		}
		if u, ok := m.Body.(*bgp.BGPUpdate); ok && !p.keepEoR {
			if _, eor := endOfRIB(u); eor {
				continue
			}
		}
		return m
	}
}

func (p *rawPeer) establish(id string, hold uint16) {
	p.t.Helper()
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_VPN),
		bgp.NewCapMultiProtocol(bgp.RF_EVPN),
		bgp.NewCapFourOctetASNumber(testAS),
	}
	open, err := bgp.NewBGPOpenMessage(testAS, hold, netip.MustParseAddr(id),
		[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(open)
	if _, ok := p.recv(5*time.Second, true).Body.(*bgp.BGPOpen); !ok {
		p.t.Fatal("want OPEN")
	}
	p.send(bgp.NewBGPKeepAliveMessage())
	if _, ok := p.recv(5*time.Second, true).Body.(*bgp.BGPKeepAlive); !ok {
		p.t.Fatal("want KEEPALIVE")
	}
}

// wantNotification reads until a NOTIFICATION and checks its codes, then
// checks that the speaker closed the connection.
func (p *rawPeer) wantNotification(timeout time.Duration, code, sub uint8) {
	p.t.Helper()
	m := p.recv(timeout, false)
	n, ok := m.Body.(*bgp.BGPNotification)
	if !ok {
		p.t.Fatalf("want NOTIFICATION, got type %d", m.Header.Type)
	}
	if n.ErrorCode != code || n.ErrorSubcode != sub {
		p.t.Fatalf("NOTIFICATION %d/%d, want %d/%d", n.ErrorCode, n.ErrorSubcode, code, sub)
	}
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := readMsg(p.c); err == nil {
		p.t.Fatalf("connection still open after NOTIFICATION (read %d bytes)", len(b))
	}
}

func vpnv4Update(t *testing.T, prefixes ...string) *bgp.BGPMessage {
	t.Helper()
	rd := bgp.NewRouteDistinguisherTwoOctetAS(64512, 1)
	var nlri []bgp.PathNLRI
	for _, p := range prefixes {
		n, err := bgp.NewLabeledVPNIPAddrPrefix(netip.MustParsePrefix(p), *bgp.NewMPLSLabelStack(100), rd)
		if err != nil {
			t.Fatal(err)
		}
		nlri = append(nlri, bgp.PathNLRI{NLRI: n})
	}
	reach, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv4_VPN, nlri, netip.MustParseAddr("10.0.0.9"))
	if err != nil {
		t.Fatal(err)
	}
	return bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		reach,
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath(nil),
		bgp.NewPathAttributeLocalPref(100),
	}, nil)
}

func testVPNChange() PathChange {
	return PathChange{
		Family: rib.InetVPN,
		Key:    rib.VPNKey(rib.RDFromAddr(netip.MustParseAddr("10.1.1.1"), 3), netip.MustParsePrefix("192.168.1.0/24")),
		Label:  17,
		Attrs: rib.Attrs{
			NextHop:      netip.MustParseAddr("10.1.1.1"),
			Encap:        rib.EncapGRE | rib.EncapUDP,
			LocalPref:    200,
			MED:          5,
			Communities:  []uint32{0xFDE80001},
			RouteTargets: []rib.RouteTarget{rib.MustParseRouteTarget("target:64512:100")},
		},
	}
}

func testEVPNChange() PathChange {
	mac, _ := rib.ParseMAC("02:00:00:00:00:01")
	return PathChange{
		Family: rib.EVPN,
		Key:    rib.EVPNMACKey(0, mac, netip.MustParseAddr("192.168.1.5")).WithRD(rib.RDFromAddr(netip.MustParseAddr("10.1.1.2"), 4)),
		Label:  5001, // VNI
		Attrs: rib.Attrs{
			NextHop:      netip.MustParseAddr("10.1.1.2"),
			Encap:        rib.EncapVXLAN,
			LocalPref:    100,
			RouteTargets: []rib.RouteTarget{rib.MustParseRouteTarget("target:64512:200")},
		},
	}
}
