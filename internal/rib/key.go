// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"cmp"
	"net/netip"
	"strconv"
	"strings"
)

// KeyType tells what a Key identifies.
type KeyType uint8

// Key types.
const (
	KeyInvalid       KeyType = iota
	KeyPrefix                // an IPv4 or IPv6 prefix (inet, inet6, l3vpn, l3vpn-inet6)
	KeyEVPNMAC               // EVPN type 2: ethernet tag, MAC, optional IP
	KeyEVPNMulticast         // EVPN type 3: ethernet tag, originator IP
)

// keyKind is KeyType refined by address family, so that Key needs no
// netip.Addr (whose zone handle makes map hashing slower).
type keyKind uint8

const (
	kindNone keyKind = iota
	kindInet4
	kindInet6
	kindMAC // type 2 without an IP
	kindMAC4
	kindMAC6
	kindIMET4
	kindIMET6
)

// Key identifies a route in a table. It is a comparable value of 40 bytes
// and can be used as a map key; the zero Key is invalid. Build keys with
// PrefixKey, VPNKey, EVPNMACKey and EVPNMulticastKey.
//
// Keys of VRF tables carry no RD, except EVPN type 3 keys (the original
// keeps the RD of a broadcast route in the VRF so that every vrouter's
// route is distinct); keys of VPN tables always carry one.
type Key struct {
	rd   RD
	addr [16]byte // IPv4 in the first 4 bytes
	tag  uint32
	mac  MAC
	bits uint8
	kind keyKind
}

// PrefixKey returns the key of an inet or inet6 prefix; host bits are
// cleared. An invalid prefix gives the zero Key.
func PrefixKey(p netip.Prefix) Key {
	if !p.IsValid() {
		return Key{}
	}
	p = p.Masked()
	var k Key
	k.bits = uint8(p.Bits())
	k.kind = k.putAddr(p.Addr(), kindInet4, kindInet6)
	return k
}

// VPNKey returns the key of an l3vpn or l3vpn-inet6 route: PrefixKey(p)
// with route distinguisher rd.
func VPNKey(rd RD, p netip.Prefix) Key { return PrefixKey(p).WithRD(rd) }

// EVPNMACKey returns the key of an EVPN MAC/IP advertisement (type 2)
// route in a VRF table. ip may be the zero Addr for a MAC-only route.
func EVPNMACKey(tag uint32, mac MAC, ip netip.Addr) Key {
	k := Key{tag: tag, mac: mac, kind: kindMAC}
	if ip.IsValid() {
		k.kind = k.putAddr(ip, kindMAC4, kindMAC6)
		k.bits = uint8(ip.BitLen())
	}
	return k
}

// EVPNMulticastKey returns the key of an EVPN inclusive multicast Ethernet
// tag (type 3) route originated by originator. rd may be zero in a VRF
// table, in which case the path's source RD is used on export.
func EVPNMulticastKey(rd RD, tag uint32, originator netip.Addr) Key {
	if !originator.IsValid() {
		return Key{}
	}
	k := Key{rd: rd, tag: tag}
	k.kind = k.putAddr(originator, kindIMET4, kindIMET6)
	k.bits = uint8(originator.BitLen())
	return k
}

func (k *Key) putAddr(a netip.Addr, k4, k6 keyKind) keyKind {
	if a.Is4() {
		b := a.As4()
		copy(k.addr[:], b[:])
		return k4
	}
	k.addr = a.As16()
	return k6
}

// IsValid reports whether k was built by one of the constructors.
func (k Key) IsValid() bool { return k.kind != kindNone }

// Type returns what k identifies.
func (k Key) Type() KeyType {
	switch k.kind {
	case kindInet4, kindInet6:
		return KeyPrefix
	case kindMAC, kindMAC4, kindMAC6:
		return KeyEVPNMAC
	case kindIMET4, kindIMET6:
		return KeyEVPNMulticast
	}
	return KeyInvalid
}

// RD returns the route distinguisher, zero if none.
func (k Key) RD() RD { return k.rd }

// WithRD returns k with route distinguisher rd (zero removes it).
func (k Key) WithRD(rd RD) Key {
	if k.kind != kindNone {
		k.rd = rd
	}
	return k
}

// IP returns the address part: the prefix address, the type 2 IP (zero
// Addr if none) or the type 3 originator.
func (k Key) IP() netip.Addr {
	switch k.kind {
	case kindInet4, kindMAC4, kindIMET4:
		return netip.AddrFrom4([4]byte(k.addr[:4]))
	case kindInet6, kindMAC6, kindIMET6:
		return netip.AddrFrom16(k.addr)
	}
	return netip.Addr{}
}

// Prefix returns the prefix of a KeyPrefix key, and the host prefix of the
// IP of EVPN keys (invalid if there is none).
func (k Key) Prefix() netip.Prefix {
	ip := k.IP()
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(ip, int(k.bits))
}

// MAC returns the MAC of a type 2 key.
func (k Key) MAC() MAC { return k.mac }

// Tag returns the Ethernet tag of an EVPN key.
func (k Key) Tag() uint32 { return k.tag }

// validFor reports whether k may be a key of a table of family f, in a VRF
// (vpn false) or in the master instance (vpn true).
func (k Key) validFor(f Family, vpn bool) bool {
	switch f {
	case Inet, InetVPN:
		return k.kind == kindInet4 && (k.rd != 0) == vpn && f.isVPN() == vpn
	case Inet6, Inet6VPN:
		return k.kind == kindInet6 && (k.rd != 0) == vpn && f.isVPN() == vpn
	case EVPN:
		switch k.Type() {
		case KeyEVPNMAC:
			return (k.rd != 0) == vpn
		case KeyEVPNMulticast:
			return !vpn || k.rd != 0
		}
	}
	return false
}

// vpnKey returns the VPN table key of the VRF key k exported with rd.
func (k Key) vpnKey(rd RD) Key {
	if k.Type() == KeyEVPNMulticast && k.rd != 0 {
		return k
	}
	k.rd = rd
	return k
}

// vrfKey returns the VRF table key of the VPN key k.
func (k Key) vrfKey() Key {
	if k.Type() != KeyEVPNMulticast {
		k.rd = 0
	}
	return k
}

// String returns the canonical form of k. For VRF keys of inet, inet6 and
// EVPN type 2 it is the item id of the original's XMPP updates (notes A4,
// EvpnPrefix::ToXmppIdString):
//
//	10.1.1.1/32
//	2001:db8::1/128
//	aa:bb:cc:dd:ee:ff,10.1.1.1/32       (ethernet tag 0)
//	100-aa:bb:cc:dd:ee:ff,10.1.1.1/32   (ethernet tag 100)
//	aa:bb:cc:dd:ee:ff,0.0.0.0/32        (no IP)
//
// Keys with an RD use the original's BGP table form: "<rd>:<prefix>" for
// l3vpn (10.0.0.1:1:10.1.1.1/32), "2-<rd>-<tag>-<mac>,<ip>" for type 2 and
// "3-<rd>-<tag>-<originator>" for type 3 (type 3 keys always use this
// form; see ItemID for their XMPP id).
func (k Key) String() string {
	var b strings.Builder
	switch k.Type() {
	case KeyPrefix:
		if k.rd != 0 {
			b.WriteString(k.rd.String())
			b.WriteByte(':')
		}
		b.WriteString(k.Prefix().String())
	case KeyEVPNMAC:
		if k.rd == 0 {
			return k.ItemID()
		}
		b.WriteString("2-")
		b.WriteString(k.rd.String())
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(k.tag), 10))
		b.WriteByte('-')
		b.WriteString(k.mac.String())
		b.WriteByte(',')
		b.WriteString(k.ipOrZero().String())
	case KeyEVPNMulticast:
		b.WriteString("3-")
		b.WriteString(k.rd.String())
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(k.tag), 10))
		b.WriteByte('-')
		b.WriteString(k.IP().String())
	default:
		return "invalid"
	}
	return b.String()
}

// ipOrZero is the IP of a type 2 key, 0.0.0.0 when it has none (as the
// original prints it).
func (k Key) ipOrZero() netip.Addr {
	if ip := k.IP(); ip.IsValid() {
		return ip
	}
	return netip.IPv4Unspecified()
}

// ItemID returns the XMPP item id the original uses for the route in
// control -> agent updates: the prefix for inet/inet6 and
// "[<tag>-]<mac>,<ip>/<len>" for EVPN. A type 3 route is sent to agents as
// the broadcast MAC route "[<tag>-]ff:ff:ff:ff:ff:ff,0.0.0.0/32". The RD is
// never part of the item id.
func (k Key) ItemID() string {
	switch k.Type() {
	case KeyPrefix:
		return k.Prefix().String()
	case KeyEVPNMAC, KeyEVPNMulticast:
		var b strings.Builder
		if k.tag != 0 {
			b.WriteString(strconv.FormatUint(uint64(k.tag), 10))
			b.WriteByte('-')
		}
		if k.Type() == KeyEVPNMulticast {
			b.WriteString(BroadcastMAC.String())
			b.WriteString(",0.0.0.0/32")
			return b.String()
		}
		b.WriteString(k.mac.String())
		b.WriteByte(',')
		ip := k.ipOrZero()
		b.WriteString(ip.String())
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(ip.BitLen()))
		return b.String()
	}
	return "invalid"
}

// Compare orders keys for display: by type, RD, address family, address,
// prefix length, tag and MAC. It returns -1, 0 or +1.
func (k Key) Compare(o Key) int {
	if c := cmp.Compare(k.Type(), o.Type()); c != 0 {
		return c
	}
	if c := cmp.Compare(k.rd, o.rd); c != 0 {
		return c
	}
	if k.Type() == KeyEVPNMAC {
		if c := cmp.Compare(k.tag, o.tag); c != 0 {
			return c
		}
		if c := strings.Compare(string(k.mac[:]), string(o.mac[:])); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(k.kind, o.kind); c != 0 {
		return c
	}
	if c := strings.Compare(string(k.addr[:]), string(o.addr[:])); c != 0 {
		return c
	}
	if c := cmp.Compare(k.bits, o.bits); c != 0 {
		return c
	}
	return cmp.Compare(k.tag, o.tag)
}
