// SPDX-License-Identifier: Apache-2.0

package dhcpwire

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
)

// discover is a DHCPDISCOVER written out by hand from RFC 2131 and 2132:
// xid 0x3903f326, chaddr 00:05:3c:04:8d:59, options 53=1, 50=192.168.1.100,
// 55=[1 3 6 121], end.
func discover() []byte {
	b := make([]byte, 240)
	b[0], b[1], b[2] = 1, 1, 6
	copy(b[4:], []byte{0x39, 0x03, 0xf3, 0x26})
	b[10] = 0x80 // broadcast
	copy(b[28:], []byte{0x00, 0x05, 0x3c, 0x04, 0x8d, 0x59})
	copy(b[236:], []byte{99, 130, 83, 99})
	b = append(b, 53, 1, 1, 50, 4, 192, 168, 1, 100, 55, 4, 1, 3, 6, 121, 255)
	return b
}

func TestParseDiscover(t *testing.T) {
	m, err := Parse(discover())
	if err != nil {
		t.Fatal(err)
	}
	if m.Op != OpRequest || m.XID != 0x3903f326 || m.Flags != FlagBroadcast || m.Type() != Discover ||
		m.CHAddr.String() != "00:05:3c:04:8d:59" {
		t.Fatalf("decoded %+v", m)
	}
	if a, ok := m.Addr(OptRequestedIP); !ok || a != netip.MustParseAddr("192.168.1.100") {
		t.Errorf("requested IP %v %v", a, ok)
	}
	if prl, _ := m.Options.Get(OptParamList); !bytes.Equal(prl, []byte{1, 3, 6, 121}) {
		t.Errorf("parameter list %v", prl)
	}
	out := m.Marshal()
	if len(out) != MinLen || !bytes.Equal(out[:len(discover())], discover()) {
		t.Errorf("re-encoded differs:\n%v\n%v", out[:len(discover())], discover())
	}
}

func TestParseErrors(t *testing.T) {
	d := discover()
	cases := map[string][]byte{
		"short":          d[:239],
		"no cookie":      append(append([]byte(nil), d[:236]...), 1, 2, 3, 4, 255),
		"no end":         d[:len(d)-1],
		"option overrun": append(append([]byte(nil), d[:240]...), 53, 5, 1),
		"hlen 17":        func() []byte { b := slices.Clone(d); b[2] = 17; return b }(),
		"bad overload":   append(append([]byte(nil), d[:240]...), 52, 1, 9, 255),
	}
	for name, b := range cases {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestOverloadAndLongOptions(t *testing.T) {
	d := discover()
	d = append(d[:len(d)-1], 52, 1, 3, 255)
	copy(d[108:], []byte{OptHostname, 3, 'v', 'm', '1', OptEnd}) // file
	copy(d[44:], []byte{OptDomainName, 2, 'e', 'x'})             // sname, runs out
	m, err := Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := m.Options.Get(OptHostname)
	dom, _ := m.Options.Get(OptDomainName)
	if string(h) != "vm1" || string(dom) != "ex" || m.File != "" || m.SName != "" {
		t.Errorf("hostname %q domain %q file %q sname %q", h, dom, m.File, m.SName)
	}
	long := bytes.Repeat([]byte{7}, 600)
	m2 := &Message{Op: OpReply, HType: 1, HLen: 6, CHAddr: net.HardwareAddr{1, 2, 3, 4, 5, 6}}
	m2.Add(OptClasslessRoutes, long)
	back, err := Parse(m2.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := back.Options.Get(OptClasslessRoutes); !bytes.Equal(got, long) {
		t.Errorf("600-byte option came back as %d bytes", len(got))
	}
}

func TestClasslessRoutesRoundTrip(t *testing.T) {
	in := []Route{
		{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.0.0.1")},
		{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParseAddr("10.0.0.2")},
		{netip.MustParsePrefix("192.168.7.128/25"), netip.MustParseAddr("0.0.0.0")},
		{netip.MustParsePrefix("203.0.113.9/32"), netip.MustParseAddr("10.0.0.3")},
	}
	b := ClasslessRoutes(in)
	want := []byte{0, 10, 0, 0, 1, 8, 10, 10, 0, 0, 2, 25, 192, 168, 7, 128, 0, 0, 0, 0, 32, 203, 0, 113, 9, 10, 0, 0, 3}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded %v, want %v", b, want)
	}
	out, err := ParseClasslessRoutes(b)
	if err != nil || !slices.Equal(out, in) {
		t.Fatalf("decoded %v %v", out, err)
	}
	for _, bad := range [][]byte{{33, 1, 2, 3, 4, 5, 6, 7, 8}, {24, 10, 0, 0, 10, 0, 0}} {
		if _, err := ParseClasslessRoutes(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	f := Frame{DstMAC: BroadcastMAC, SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		Src: netip.MustParseAddrPort("10.1.1.1:67"), Dst: netip.MustParseAddrPort("255.255.255.255:68"),
		Payload: []byte("hello, odd length")}
	b := f.Marshal()
	g, err := ParseFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Src != f.Src || g.Dst != f.Dst || !bytes.Equal(g.Payload, f.Payload) || g.SrcMAC.String() != f.SrcMAC.String() {
		t.Fatalf("got %+v", g)
	}
	// The UDP checksum verifies over the pseudo-header (sum is 0xffff).
	udp := b[34:]
	var sum uint32
	for _, a := range [][]byte{b[26:30], b[30:34]} {
		sum += (uint32(a[0])<<8 | uint32(a[1])) + (uint32(a[2])<<8 | uint32(a[3]))
	}
	sum += 17 + uint32(len(udp))
	if checksum(udp, sum) != 0 {
		t.Error("UDP checksum does not verify")
	}
	frag := slices.Clone(b)
	frag[14+6] = 0x20 // more fragments
	frag[14+10], frag[14+11] = 0, 0
	cs := checksum(frag[14:34], 0)
	frag[14+10], frag[14+11] = byte(cs>>8), byte(cs)
	if _, err := ParseFrame(frag); err == nil {
		t.Error("fragment accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(discover())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		m.Options = slices.DeleteFunc(m.Options, func(o Option) bool { return o.Code == OptOverload })
		m2, err := Parse(m.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if m2.XID != m.XID || m2.Flags != m.Flags || !bytes.Equal(m2.CHAddr, m.CHAddr) || m2.YIAddr != m.YIAddr {
			t.Fatalf("header changed")
		}
		for _, o := range m.Options {
			a, _ := m.Options.Get(o.Code)
			if b, ok := m2.Options.Get(o.Code); !ok || !bytes.Equal(a, b) {
				t.Fatalf("option %d changed", o.Code)
			}
		}
		if v, ok := m.Options.Get(OptClasslessRoutes); ok {
			_, _ = ParseClasslessRoutes(v)
		}
	})
}

func FuzzParseFrame(f *testing.F) {
	f.Add(Frame{DstMAC: BroadcastMAC, SrcMAC: BroadcastMAC, Src: netip.MustParseAddrPort("0.0.0.0:68"),
		Dst: netip.MustParseAddrPort("255.255.255.255:67"), Payload: discover()}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		again, err := ParseFrame(fr.Marshal())
		if err != nil || again.Src != fr.Src || again.Dst != fr.Dst || !bytes.Equal(again.Payload, fr.Payload) {
			t.Fatalf("round trip: %v", err)
		}
		_, _ = ParseClasslessRoutes(fr.Payload)
	})
}
