// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpwire"
)

func msg(t dhcpwire.MessageType, mutate func(m *dhcpwire.Message)) *dhcpwire.Message {
	m := &dhcpwire.Message{Op: dhcpwire.OpRequest, HType: 1, HLen: 6, XID: 0x1234, CHAddr: vmMAC,
		CIAddr: netip.IPv4Unspecified(), YIAddr: netip.IPv4Unspecified(), SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified()}
	m.Add(dhcpwire.OptMessageType, []byte{byte(t)})
	if mutate != nil {
		mutate(m)
	}
	return m
}

func addr(s string) []byte { return dhcpwire.AddrBytes(netip.MustParseAddr(s)) }

func TestHandleMessage(t *testing.T) {
	p, err := testPort("tap1", vmMAC).validate()
	if err != nil {
		t.Fatal(err)
	}
	bcast := dhcpwire.BroadcastIP.String()
	tests := []struct {
		name   string
		req    *dhcpwire.Message
		out    outcome
		typ    dhcpwire.MessageType // of the reply
		dstIP  string
		dstMAC string
	}{
		{"discover unicast", msg(dhcpwire.Discover, nil), outOffer, dhcpwire.Offer, "10.1.1.3", vmMAC.String()},
		{"discover broadcast flag", msg(dhcpwire.Discover, func(m *dhcpwire.Message) { m.Flags = dhcpwire.FlagBroadcast }),
			outOffer, dhcpwire.Offer, bcast, "ff:ff:ff:ff:ff:ff"},
		{"selecting ok", msg(dhcpwire.Request, func(m *dhcpwire.Message) {
			m.Add(dhcpwire.OptServerID, addr("10.1.1.1"))
			m.Add(dhcpwire.OptRequestedIP, addr("10.1.1.3"))
		}), outAck, dhcpwire.Ack, "10.1.1.3", vmMAC.String()},
		{"selecting wrong address", msg(dhcpwire.Request, func(m *dhcpwire.Message) {
			m.Add(dhcpwire.OptServerID, addr("10.1.1.1"))
			m.Add(dhcpwire.OptRequestedIP, addr("10.1.1.4"))
		}), outNak, dhcpwire.Nak, bcast, "ff:ff:ff:ff:ff:ff"},
		{"selecting other server", msg(dhcpwire.Request, func(m *dhcpwire.Message) {
			m.Add(dhcpwire.OptServerID, addr("10.1.1.9"))
			m.Add(dhcpwire.OptRequestedIP, addr("10.1.1.3"))
		}), outIgnored, 0, "", ""},
		{"init-reboot ok", msg(dhcpwire.Request, func(m *dhcpwire.Message) { m.Add(dhcpwire.OptRequestedIP, addr("10.1.1.3")) }),
			outAck, dhcpwire.Ack, "10.1.1.3", vmMAC.String()},
		{"init-reboot wrong", msg(dhcpwire.Request, func(m *dhcpwire.Message) { m.Add(dhcpwire.OptRequestedIP, addr("10.9.9.9")) }),
			outNak, dhcpwire.Nak, bcast, "ff:ff:ff:ff:ff:ff"},
		{"renewing", msg(dhcpwire.Request, func(m *dhcpwire.Message) { m.CIAddr = netip.MustParseAddr("10.1.1.3") }),
			outAck, dhcpwire.Ack, "10.1.1.3", vmMAC.String()},
		{"renewing broadcast flag still unicast to ciaddr", msg(dhcpwire.Request, func(m *dhcpwire.Message) {
			m.CIAddr = netip.MustParseAddr("10.1.1.3")
			m.Flags = dhcpwire.FlagBroadcast
		}), outAck, dhcpwire.Ack, "10.1.1.3", vmMAC.String()},
		{"renewing wrong address", msg(dhcpwire.Request, func(m *dhcpwire.Message) { m.CIAddr = netip.MustParseAddr("10.1.1.7") }),
			outNak, dhcpwire.Nak, bcast, "ff:ff:ff:ff:ff:ff"},
		{"request with nothing", msg(dhcpwire.Request, nil), outMalformed, 0, "", ""},
		{"inform", msg(dhcpwire.Inform, func(m *dhcpwire.Message) { m.CIAddr = netip.MustParseAddr("10.1.1.3") }),
			outInformAck, dhcpwire.Ack, "10.1.1.3", vmMAC.String()},
		{"release", msg(dhcpwire.Release, func(m *dhcpwire.Message) { m.Add(dhcpwire.OptServerID, addr("10.1.1.1")) }), outRelease, 0, "", ""},
		{"release other server", msg(dhcpwire.Release, func(m *dhcpwire.Message) { m.Add(dhcpwire.OptServerID, addr("10.1.1.2")) }), outIgnored, 0, "", ""},
		{"decline", msg(dhcpwire.Decline, nil), outDecline, 0, "", ""},
		{"relayed", msg(dhcpwire.Discover, func(m *dhcpwire.Message) { m.GIAddr = netip.MustParseAddr("10.0.0.1") }), outIgnored, 0, "", ""},
		{"reply op", msg(dhcpwire.Discover, func(m *dhcpwire.Message) { m.Op = dhcpwire.OpReply }), outMalformed, 0, "", ""},
		{"offer from a client", msg(dhcpwire.Offer, nil), outMalformed, 0, "", ""},
		{"no type", msg(0, func(m *dhcpwire.Message) { m.Options = nil }), outMalformed, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through the wire: encode, frame, decode, as the server does.
			frame := dhcpwire.Frame{DstMAC: dhcpwire.BroadcastMAC, SrcMAC: vmMAC,
				Src: netip.MustParseAddrPort("0.0.0.0:68"), Dst: netip.MustParseAddrPort("255.255.255.255:67"),
				Payload: tc.req.Marshal()}.Marshal()
			r, out, _ := handleFrame(&p, frame)
			if out != tc.out {
				t.Fatalf("outcome %d, want %d", out, tc.out)
			}
			if tc.typ == 0 {
				if r != nil {
					t.Fatalf("unexpected reply %v", r.msg.Type())
				}
				return
			}
			if r == nil {
				t.Fatal("no reply")
			}
			// Decode the reply frame as a client would.
			f, err := dhcpwire.ParseFrame(r.frame(vmMAC2, p.Gateway))
			if err != nil {
				t.Fatal(err)
			}
			m, err := dhcpwire.Parse(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if m.Type() != tc.typ || m.XID != 0x1234 || m.Op != dhcpwire.OpReply || !bytes.Equal(m.CHAddr, vmMAC) {
				t.Fatalf("reply %v xid %x op %d chaddr %v", m.Type(), m.XID, m.Op, m.CHAddr)
			}
			if f.Dst.Addr().String() != tc.dstIP || f.DstMAC.String() != tc.dstMAC {
				t.Errorf("sent to %v at %v, want %s at %s", f.Dst.Addr(), f.DstMAC, tc.dstIP, tc.dstMAC)
			}
			if f.Src != netip.MustParseAddrPort("10.1.1.1:67") || f.Dst.Port() != 68 || !bytes.Equal(f.SrcMAC, vmMAC2) {
				t.Errorf("from %v %v to port %d", f.SrcMAC, f.Src, f.Dst.Port())
			}
			if sid, _ := m.Addr(dhcpwire.OptServerID); sid != p.Gateway {
				t.Errorf("server id %v", sid)
			}
			_, hasLease := m.Options.Get(dhcpwire.OptLeaseTime)
			switch {
			case tc.typ == dhcpwire.Nak:
				if m.YIAddr != netip.IPv4Unspecified() || hasLease {
					t.Errorf("NAK with yiaddr %v / lease", m.YIAddr)
				}
			case tc.out == outInformAck:
				if m.YIAddr != netip.IPv4Unspecified() || hasLease || !m.Options.Has(dhcpwire.OptDNS) {
					t.Errorf("INFORM ACK yiaddr %v, lease %v", m.YIAddr, hasLease)
				}
			default:
				if m.YIAddr != p.Addr.Addr() || !hasLease {
					t.Errorf("yiaddr %v lease %v", m.YIAddr, hasLease)
				}
			}
		})
	}
}

func TestHandleForeignAndMalformed(t *testing.T) {
	p, _ := testPort("tap1", vmMAC).validate()
	good := msg(dhcpwire.Discover, nil)
	frame := func(src []byte, m *dhcpwire.Message) []byte {
		return dhcpwire.Frame{DstMAC: dhcpwire.BroadcastMAC, SrcMAC: src,
			Src: netip.MustParseAddrPort("0.0.0.0:68"), Dst: netip.MustParseAddrPort("255.255.255.255:67"),
			Payload: m.Marshal()}.Marshal()
	}
	if _, out, _ := handleFrame(&p, frame(vmMAC2, good)); out != outForeignMAC {
		t.Errorf("other source MAC: outcome %d", out)
	}
	spoof := msg(dhcpwire.Discover, func(m *dhcpwire.Message) { m.CHAddr = vmMAC2 })
	if _, out, _ := handleFrame(&p, frame(vmMAC, spoof)); out != outForeignMAC {
		t.Errorf("other chaddr: outcome %d", out)
	}
	f := frame(vmMAC, good)
	for _, cut := range []int{0, 13, 30, 42, 100, 278} {
		if r, out, _ := handleFrame(&p, f[:cut]); out != outMalformed || r != nil {
			t.Errorf("cut at %d: outcome %d", cut, out)
		}
	}
	bad := append([]byte(nil), f...)
	bad[14+10] ^= 0xff // IP header checksum
	if _, out, _ := handleFrame(&p, bad); out != outMalformed {
		t.Errorf("bad checksum: outcome %d", out)
	}
}

// TestRoutesOption checks option 121 bytes against RFC 3442's encoding.
func TestRoutesOption(t *testing.T) {
	p := PortInfo{Gateway: netip.MustParseAddr("10.1.1.1"), Routes: []HostRoute{
		{Prefix: netip.MustParsePrefix("10.20.0.0/16"), NextHop: netip.MustParseAddr("10.1.1.254")},
		{Prefix: netip.MustParsePrefix("192.168.5.0/25")}, // on-link
	}}
	got := p.classless()
	want := []byte{16, 10, 20, 10, 1, 1, 254, 25, 192, 168, 5, 0, 0, 0, 0, 0, 0, 10, 1, 1, 1}
	if !bytes.Equal(got, want) {
		t.Fatalf("option 121 = %v, want %v", got, want)
	}
	p.Routes = append(p.Routes, HostRoute{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("10.1.1.2")})
	rs, err := dhcpwire.ParseClasslessRoutes(p.classless())
	if err != nil || len(rs) != 3 || rs[2].NextHop != netip.MustParseAddr("10.1.1.2") {
		t.Fatalf("explicit default route: %v %v", rs, err)
	}
}

// FuzzHandleFrame feeds arbitrary frames (and DHCP payloads wrapped in a
// valid frame) to the server's handler: it must not panic, and any reply
// must decode, carry the request's transaction id and the port's MAC, and
// offer nothing but the port's address.
func FuzzHandleFrame(f *testing.F) {
	p, _ := testPort("tap1", vmMAC).validate()
	wrap := func(payload []byte) []byte {
		return dhcpwire.Frame{DstMAC: dhcpwire.BroadcastMAC, SrcMAC: vmMAC,
			Src: netip.MustParseAddrPort("0.0.0.0:68"), Dst: netip.MustParseAddrPort("255.255.255.255:67"),
			Payload: payload}.Marshal()
	}
	for _, m := range []*dhcpwire.Message{
		msg(dhcpwire.Discover, nil),
		msg(dhcpwire.Request, func(m *dhcpwire.Message) { m.Add(dhcpwire.OptRequestedIP, addr("10.1.1.3")) }),
		msg(dhcpwire.Request, func(m *dhcpwire.Message) { m.CIAddr = netip.MustParseAddr("10.1.1.3") }),
		msg(dhcpwire.Inform, func(m *dhcpwire.Message) { m.Add(dhcpwire.OptOverload, []byte{3}) }),
		msg(dhcpwire.Release, nil),
	} {
		f.Add(m.Marshal(), false)
		f.Add(wrap(m.Marshal()), true)
	}
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		frame := data
		if !raw {
			frame = wrap(data)
		}
		r, out, _ := handleFrame(&p, frame)
		if r == nil {
			return
		}
		fr, err := dhcpwire.ParseFrame(r.frame(vmMAC2, p.Gateway))
		if err != nil {
			t.Fatalf("reply frame does not decode: %v", err)
		}
		m, err := dhcpwire.Parse(fr.Payload)
		if err != nil {
			t.Fatalf("reply does not decode: %v", err)
		}
		if !bytes.Equal(m.CHAddr, vmMAC) || (m.YIAddr != p.Addr.Addr() && m.YIAddr != netip.IPv4Unspecified()) {
			t.Fatalf("reply chaddr %v yiaddr %v", m.CHAddr, m.YIAddr)
		}
		in, _ := dhcpwire.ParseFrame(frame)
		q, _ := dhcpwire.Parse(in.Payload)
		if q == nil || q.XID != m.XID {
			t.Fatalf("reply xid %x for request %v (outcome %d)", m.XID, q, out)
		}
	})
}
