// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"net/netip"
	"testing"
)

func TestRouteDistinguisher(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    RD
		typ     uint16
		wantErr bool
	}{
		{in: "192.168.0.1:4", want: RDFromAddr(netip.MustParseAddr("192.168.0.1"), 4), typ: 1},
		{in: "64512:8000001", want: RDFromAS(64512, 8000001), typ: 0},
		{in: "4200000000:7", want: RDFromAS(4200000000, 7), typ: 2},
		{in: "192.168.0.1:70000", wantErr: true},
		{in: "4200000000:70000", wantErr: true},
		{in: "::1:5", wantErr: true},
		{in: "64512", wantErr: true},
		{in: "x:1", wantErr: true},
	} {
		rd, err := ParseRD(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseRD(%q) error %v", tc.in, err)
			continue
		}
		if tc.wantErr {
			continue
		}
		if rd != tc.want || rd.Type() != tc.typ || rd.String() != tc.in {
			t.Errorf("ParseRD(%q) = %v (type %d), want %v type %d", tc.in, rd, rd.Type(), tc.want, tc.typ)
		}
		if RDFromBytes(rd.Bytes()) != rd {
			t.Errorf("%s: bytes round trip", tc.in)
		}
	}
	if b := RDFromAddr(netip.MustParseAddr("10.0.0.1"), 258).Bytes(); b != [8]byte{0, 1, 10, 0, 0, 1, 1, 2} {
		t.Errorf("type 1 wire form %v", b)
	}
	if RDFromAddr(netip.MustParseAddr("::1"), 1) != 0 || RDFromAS(70000, 70000) != 0 {
		t.Error("unrepresentable RDs must be zero")
	}
}

func TestRouteTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RouteTarget
	}{
		{"target:64512:8000001", RouteTargetFromAS(64512, 8000001)},
		{"target:10.0.0.1:5", RouteTargetFromAddr(netip.MustParseAddr("10.0.0.1"), 5)},
		{"target:4200000000:9", RouteTargetFromAS(4200000000, 9)},
	} {
		rt, err := ParseRouteTarget(tc.in)
		if err != nil || rt != tc.want || rt.String() != tc.in {
			t.Errorf("ParseRouteTarget(%q) = %v, %v; want %v", tc.in, rt, err, tc.want)
		}
	}
	// RFC 4360: 2-octet AS specific type 0x00, route target subtype 0x02.
	if got := uint64(RouteTargetFromAS(64512, 1)); got != 0x0002_FC00_0000_0001 {
		t.Errorf("wire form %#x", got)
	}
	for _, bad := range []string{"64512:1", "target:64512", "target:x:1", "target:4200000000:70000"} {
		if _, err := ParseRouteTarget(bad); err == nil {
			t.Errorf("ParseRouteTarget(%q) accepted", bad)
		}
	}
}

func TestFamiliesAndNames(t *testing.T) {
	for _, f := range []Family{Inet, Inet6, EVPN, InetVPN, Inet6VPN} {
		g, err := ParseFamily(f.String())
		if err != nil || g != f {
			t.Errorf("ParseFamily(%q) = %v, %v", f, g, err)
		}
	}
	for vrf, vpn := range map[Family]Family{Inet: InetVPN, Inet6: Inet6VPN, EVPN: EVPN} {
		if vrf.VPN() != vpn || vpn.VRF() != vrf {
			t.Errorf("%s <-> %s", vrf, vpn)
		}
	}
	if f, _ := ParseFamily("inet-vpn"); f != InetVPN {
		t.Error("schema name inet-vpn")
	}
	for _, tc := range []struct {
		inst string
		fam  Family
		want string
	}{
		{MasterInstance, InetVPN, "bgp.l3vpn.0"},
		{MasterInstance, Inet6VPN, "bgp.l3vpn-inet6.0"},
		{MasterInstance, EVPN, "bgp.evpn.0"},
		{"default-domain:admin:vn1:vn1", Inet, "default-domain:admin:vn1:vn1.inet.0"},
		{"default-domain:admin:vn1:vn1", EVPN, "default-domain:admin:vn1:vn1.evpn.0"},
	} {
		if got := TableName(tc.inst, tc.fam); got != tc.want {
			t.Errorf("TableName(%s, %s) = %s", tc.inst, tc.fam, got)
		}
	}
	if got := (EncapGRE | EncapVXLAN | EncapNative).String(); got != "gre,vxlan,native" {
		t.Errorf("encap names %q", got)
	}
	if e, err := ParseEncap("udp"); err != nil || e != EncapUDP {
		t.Errorf("ParseEncap(udp) = %v, %v", e, err)
	}
	if s, err := ParseSubProtocol("service-interface"); err != nil || s != SubProtocolServiceInterface || s.String() != "service-interface" {
		t.Errorf("ParseSubProtocol = %v, %v", s, err)
	}
	if m, err := ParseMAC("02:AB:cd:00:00:01"); err != nil || m.String() != "02:ab:cd:00:00:01" {
		t.Errorf("ParseMAC = %v, %v", m, err)
	}
	if _, err := ParseMAC("02:00:00:00:00:00:00:01"); err == nil {
		t.Error("8-byte MAC accepted")
	}
	for lp, med := range map[uint32]uint32{100: 200, 200: 100, 0: 0xFFFFFFFF, 300: 0xFFFFFFFF - 300} {
		if got := DefaultMED(lp); got != med {
			t.Errorf("DefaultMED(%d) = %d, want %d", lp, got, med)
		}
	}
}

func TestKeys(t *testing.T) {
	// Host bits are cleared, so equal prefixes give equal keys.
	if PrefixKey(netip.MustParsePrefix("10.1.1.77/24")) != pfx("10.1.1.0/24") {
		t.Error("prefix not masked")
	}
	m := map[Key]int{pfx("10.0.0.0/8"): 1, pfx("10.0.0.0/16"): 2, PrefixKey(netip.MustParsePrefix("::/0")): 3}
	if m[pfx("10.0.0.0/8")] != 1 || m[pfx("10.0.0.0/16")] != 2 || len(m) != 3 {
		t.Error("keys as map keys")
	}
	mac, _ := ParseMAC("02:00:00:00:00:01")
	k := EVPNMACKey(7, mac, netip.MustParseAddr("2001:db8::1"))
	if k.Type() != KeyEVPNMAC || k.Tag() != 7 || k.MAC() != mac || k.IP().String() != "2001:db8::1" ||
		k.Prefix().String() != "2001:db8::1/128" || k.String() != "7-02:00:00:00:00:01,2001:db8::1/128" {
		t.Errorf("type 2 key accessors: %s", k)
	}
	if k.WithRD(5).vrfKey() != k || k.vpnKey(5).RD() != 5 {
		t.Error("RD strip/add")
	}
	im := EVPNMulticastKey(0, 1, netip.MustParseAddr("10.0.0.1"))
	if im.ItemID() != "1-ff:ff:ff:ff:ff:ff,0.0.0.0/32" || im.vpnKey(9).RD() != 9 || im.WithRD(3).vpnKey(9).RD() != 3 {
		t.Errorf("type 3 key: %s %s", im, im.ItemID())
	}
	if (Key{}).IsValid() || PrefixKey(netip.Prefix{}).IsValid() || EVPNMulticastKey(1, 1, netip.Addr{}).IsValid() {
		t.Error("invalid keys")
	}
	keys := []Key{pfx("10.0.0.2/32"), pfx("10.0.0.1/32"), pfx("10.0.0.0/24"), k, im}
	for i, a := range keys {
		if a.Compare(a) != 0 {
			t.Errorf("%s != itself", a)
		}
		for _, b := range keys[i+1:] {
			if a.Compare(b) != -b.Compare(a) || a.Compare(b) == 0 {
				t.Errorf("Compare(%s, %s) not antisymmetric", a, b)
			}
		}
	}
}
