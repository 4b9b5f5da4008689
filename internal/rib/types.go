// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Family names a route table kind. A routing instance (VRF) has one table
// per VRF family (Inet, Inet6, EVPN); the master instance has the VPN
// tables (InetVPN, Inet6VPN, EVPN). EVPN is both, as in the original,
// where bgp.evpn.0 and <ri>.evpn.0 share the address family.
type Family uint8

// The families. The names are the original's table name parts
// (routing_instance.cc GetTableName): <ri>.inet.0, bgp.l3vpn.0 and so on.
const (
	Inet     Family = iota + 1 // IPv4 unicast, "inet"
	Inet6                      // IPv6 unicast, "inet6"
	EVPN                       // EVPN (type 2 MAC/IP, type 3 inclusive multicast), "evpn"
	InetVPN                    // IPv4 VPN keyed by RD (inet-vpn), "l3vpn"
	Inet6VPN                   // IPv6 VPN keyed by RD (inet6-vpn), "l3vpn-inet6"

	numFamilies
)

var familyNames = [numFamilies]string{"", "inet", "inet6", "evpn", "l3vpn", "l3vpn-inet6"}

// String returns the family's table name part, such as "l3vpn".
func (f Family) String() string {
	if f < numFamilies && f != 0 {
		return familyNames[f]
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// ParseFamily parses a family name. It accepts the table name parts that
// String returns and the bgp-router address-family names of the config
// schema (inet-vpn, inet6-vpn, e-vpn).
func ParseFamily(s string) (Family, error) {
	switch s {
	case "inet":
		return Inet, nil
	case "inet6":
		return Inet6, nil
	case "evpn", "e-vpn":
		return EVPN, nil
	case "l3vpn", "inet-vpn":
		return InetVPN, nil
	case "l3vpn-inet6", "inet6-vpn":
		return Inet6VPN, nil
	}
	return 0, fmt.Errorf("rib: unknown family %q", s)
}

// VPN returns the VPN family that routes of the VRF family f are exported
// to: Inet -> InetVPN, Inet6 -> Inet6VPN, EVPN -> EVPN. It returns 0 for
// other values.
func (f Family) VPN() Family {
	switch f {
	case Inet:
		return InetVPN
	case Inet6:
		return Inet6VPN
	case EVPN:
		return EVPN
	}
	return 0
}

// VRF returns the VRF family that routes of the VPN family f are imported
// into, the inverse of VPN. It returns 0 for other values.
func (f Family) VRF() Family {
	switch f {
	case InetVPN:
		return Inet
	case Inet6VPN:
		return Inet6
	case EVPN:
		return EVPN
	}
	return 0
}

func (f Family) isVRF() bool { return f == Inet || f == Inet6 || f == EVPN }
func (f Family) isVPN() bool { return f == InetVPN || f == Inet6VPN || f == EVPN }

// MasterInstance is the name of the instance that holds the VPN tables
// (the original's default routing instance). Drain reports VPN table
// changes under this name.
const MasterInstance = "default-domain:default-project:ip-fabric:__default__"

// TableName returns the original's name of a table: bgp.l3vpn.0,
// bgp.l3vpn-inet6.0 and bgp.evpn.0 for the VPN tables of MasterInstance,
// <instance>.<family>.0 otherwise.
func TableName(instance string, f Family) string {
	if instance == MasterInstance && f.isVPN() {
		return "bgp." + f.String() + ".0"
	}
	return instance + "." + f.String() + ".0"
}

// RD is a route distinguisher (RFC 4364 section 4.2) in its 8-byte wire
// form read as a big-endian integer: a 2-byte type, then a 6-byte value.
// The zero RD stands for "no RD".
type RD uint64

// RD types (RFC 4364 section 4.2).
const (
	rdTypeAS2  = 0 // 2-byte AS : 4-byte number
	rdTypeIPv4 = 1 // IPv4 address : 2-byte number
	rdTypeAS4  = 2 // 4-byte AS : 2-byte number
)

// RDFromAddr returns the type 1 RD <ip>:<n>. The control node gives every
// agent's VRF the RD <vrouter-ip>:<instance-id>. It returns 0 if ip is not
// IPv4.
func RDFromAddr(ip netip.Addr, n uint16) RD {
	if !ip.Is4() {
		return 0
	}
	b := ip.As4()
	return RD(rdTypeIPv4<<48 | uint64(binary.BigEndian.Uint32(b[:]))<<16 | uint64(n))
}

// RDFromAS returns the RD <as>:<n>: type 0 when as fits in 2 bytes, type 2
// otherwise. It returns 0 when n does not fit (more than 16 bits with a
// 4-byte AS).
func RDFromAS(as, n uint32) RD {
	if as <= 0xFFFF {
		return RD(rdTypeAS2<<48 | uint64(as)<<32 | uint64(n))
	}
	if n > 0xFFFF {
		return 0
	}
	return RD(rdTypeAS4<<48 | uint64(as)<<16 | uint64(n))
}

// RDFromBytes returns the RD of an 8-byte wire value.
func RDFromBytes(b [8]byte) RD { return RD(binary.BigEndian.Uint64(b[:])) }

// Bytes returns the 8-byte wire form.
func (rd RD) Bytes() [8]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(rd))
	return b
}

// Type returns the RD type field.
func (rd RD) Type() uint16 { return uint16(rd >> 48) }

// String formats rd as the original does: "<as>:<n>" or "<ipv4>:<n>".
func (rd RD) String() string {
	return formatAdminValue(rd.Type(), uint64(rd)&(1<<48-1))
}

// formatAdminValue formats the 6-byte administrator:assigned value shared
// by RDs and route targets.
func formatAdminValue(typ uint16, v uint64) string {
	switch typ {
	case rdTypeAS2:
		return strconv.FormatUint(v>>32, 10) + ":" + strconv.FormatUint(v&0xFFFFFFFF, 10)
	case rdTypeIPv4:
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v>>16))
		return netip.AddrFrom4(b).String() + ":" + strconv.FormatUint(v&0xFFFF, 10)
	case rdTypeAS4:
		return strconv.FormatUint(v>>16, 10) + ":" + strconv.FormatUint(v&0xFFFF, 10)
	}
	return fmt.Sprintf("%d:0x%012x", typ, v)
}

// parseAdminValue parses "<as>:<n>" or "<ipv4>:<n>" into a type and a
// 6-byte value.
func parseAdminValue(s string) (uint16, uint64, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return 0, 0, errors.New("want <admin>:<number>")
	}
	admin, num := s[:i], s[i+1:]
	if ip, err := netip.ParseAddr(admin); err == nil {
		if !ip.Is4() {
			return 0, 0, errors.New("administrator address must be IPv4")
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return 0, 0, err
		}
		b := ip.As4()
		return rdTypeIPv4, uint64(binary.BigEndian.Uint32(b[:]))<<16 | n, nil
	}
	as, err := strconv.ParseUint(admin, 10, 32)
	if err != nil {
		return 0, 0, err
	}
	if as <= 0xFFFF {
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return 0, 0, err
		}
		return rdTypeAS2, as<<32 | n, nil
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	return rdTypeAS4, as<<16 | n, nil
}

// ParseRD parses "<as>:<n>" or "<ipv4>:<n>".
func ParseRD(s string) (RD, error) {
	typ, v, err := parseAdminValue(s)
	if err != nil {
		return 0, fmt.Errorf("rib: parse route distinguisher %q: %w", s, err)
	}
	return RD(uint64(typ)<<48 | v), nil
}

// RouteTarget is a route target extended community (RFC 4360 section 4)
// in its 8-byte wire form read as a big-endian integer.
type RouteTarget uint64

const rtSubtype = 0x02 // route target subtype of the AS/IPv4 specific types

// RouteTargetFromAS returns target:<as>:<n>: the 2-byte AS specific type
// when as fits in 2 bytes, the 4-byte AS specific type (RFC 5668)
// otherwise. It returns 0 when n does not fit.
func RouteTargetFromAS(as, n uint32) RouteTarget {
	rd := RDFromAS(as, n)
	if rd == 0 && (as != 0 || n != 0) {
		return 0
	}
	return routeTargetOf(rd.Type(), uint64(rd)&(1<<48-1))
}

// RouteTargetFromAddr returns target:<ip>:<n>. It returns 0 if ip is not
// IPv4.
func RouteTargetFromAddr(ip netip.Addr, n uint16) RouteTarget {
	rd := RDFromAddr(ip, n)
	if rd == 0 {
		return 0
	}
	return routeTargetOf(rdTypeIPv4, uint64(rd)&(1<<48-1))
}

func routeTargetOf(typ uint16, v uint64) RouteTarget {
	return RouteTarget(uint64(typ)<<56 | rtSubtype<<48 | v)
}

// ParseRouteTarget parses the config schema's form "target:<as>:<n>" or
// "target:<ipv4>:<n>".
func ParseRouteTarget(s string) (RouteTarget, error) {
	rest, ok := strings.CutPrefix(s, "target:")
	if !ok {
		return 0, fmt.Errorf("rib: parse route target %q: want target:<admin>:<number>", s)
	}
	typ, v, err := parseAdminValue(rest)
	if err != nil {
		return 0, fmt.Errorf("rib: parse route target %q: %w", s, err)
	}
	return routeTargetOf(typ, v), nil
}

// MustParseRouteTarget is ParseRouteTarget for constants; it panics on a
// parse error.
func MustParseRouteTarget(s string) RouteTarget {
	rt, err := ParseRouteTarget(s)
	if err != nil {
		panic(err)
	}
	return rt
}

// String formats rt as "target:<as>:<n>".
func (rt RouteTarget) String() string {
	return "target:" + formatAdminValue(uint16(rt>>56), uint64(rt)&(1<<48-1))
}

// MAC is an Ethernet address.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff, which agents publish for the
// broadcast/unknown/multicast (BUM) route of an EVPN instance.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ParseMAC parses a 6-byte MAC address in any form net.ParseMAC accepts.
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return MAC{}, fmt.Errorf("rib: parse mac %q: not a 6-byte address", s)
	}
	return MAC(hw), nil
}

// String formats m as aa:bb:cc:dd:ee:ff (lower case, as the original).
func (m MAC) String() string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexd[c>>4], hexd[c&0xf])
	}
	return string(b)
}

// Encap is a set of tunnel encapsulations a next hop accepts (the XMPP
// tunnel-encapsulation-list).
type Encap uint8

// Encapsulations, in the agent's default preference order (oper/nexthop.cc
// TunnelType::ComputeType): GRE, UDP, VXLAN, then native.
const (
	EncapGRE Encap = 1 << iota
	EncapUDP
	EncapVXLAN
	EncapNative
	EncapMPLS // listed by the XSD; agents do not send it
)

var encapNames = []struct {
	e    Encap
	name string
}{{EncapGRE, "gre"}, {EncapUDP, "udp"}, {EncapVXLAN, "vxlan"}, {EncapNative, "native"}, {EncapMPLS, "mpls"}}

// ParseEncap returns the encapsulation named by an XMPP
// tunnel-encapsulation value (gre, udp, vxlan, native, mpls).
func ParseEncap(s string) (Encap, error) {
	for _, n := range encapNames {
		if n.name == s {
			return n.e, nil
		}
	}
	return 0, fmt.Errorf("rib: unknown tunnel encapsulation %q", s)
}

// Names returns the XMPP names of the encapsulations in e.
func (e Encap) Names() []string {
	var out []string
	for _, n := range encapNames {
		if e&n.e != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String joins Names with commas.
func (e Encap) String() string { return strings.Join(e.Names(), ",") }

// LBField is a set of load-balance hash fields.
type LBField uint8

// Load-balance fields (XMPP load-balance-field-list values).
const (
	LBSourceAddr LBField = 1 << iota // l3-source-address
	LBDestAddr                       // l3-destination-address
	LBProtocol                       // l4-protocol
	LBSourcePort                     // l4-source-port
	LBDestPort                       // l4-destination-port
)

// LBFieldNames are the XMPP names of the LBField bits, lowest bit first.
var LBFieldNames = []string{"l3-source-address", "l3-destination-address", "l4-protocol", "l4-source-port", "l4-destination-port"}

// LBDecision is the XMPP load-balance-decision.
type LBDecision uint8

// Load-balance decisions.
const (
	LBDecisionNone       LBDecision = iota
	LBDecisionFieldHash             // field-hash
	LBDecisionSourceBias            // source-bias
)

// LoadBalance is the load-balance attribute of a route.
type LoadBalance struct {
	Fields   LBField
	Decision LBDecision
}

// SubProtocol is the XMPP sub-protocol of an agent route.
type SubProtocol uint8

// Sub-protocols.
const (
	SubProtocolNone             SubProtocol = iota
	SubProtocolInterface                    // interface
	SubProtocolInterfaceStatic              // interface-static
	SubProtocolServiceInterface             // service-interface
	SubProtocolBGPaaS                       // bgpaas
)

var subProtocolNames = []string{"", "interface", "interface-static", "service-interface", "bgpaas"}

// ParseSubProtocol parses an XMPP sub-protocol value; "" is SubProtocolNone.
func ParseSubProtocol(s string) (SubProtocol, error) {
	for i, n := range subProtocolNames {
		if n == s {
			return SubProtocol(i), nil
		}
	}
	return 0, fmt.Errorf("rib: unknown sub-protocol %q", s)
}

// String returns the XMPP name.
func (s SubProtocol) String() string {
	if int(s) < len(subProtocolNames) {
		return subProtocolNames[s]
	}
	return "sub-protocol(" + strconv.Itoa(int(s)) + ")"
}

// Mobility is the MAC mobility state of a route (RFC 7432 section 7.7,
// XMPP <mobility seqno=.. sticky=..>): a higher sequence number wins, and a
// sticky (static) MAC wins over any sequence number.
type Mobility struct {
	Seq    uint32
	Sticky bool
}

// Origin is the BGP ORIGIN attribute (RFC 4271 section 5.1.1).
type Origin uint8

// Origins, lower is preferred.
const (
	OriginIGP        Origin = 0
	OriginEGP        Origin = 1
	OriginIncomplete Origin = 2
)

// ASSegmentType is the type of an AS_PATH segment.
type ASSegmentType uint8

// AS_PATH segment types (RFC 4271 section 4.3, RFC 5065 section 3).
const (
	ASSet            ASSegmentType = 1
	ASSequence       ASSegmentType = 2
	ASConfedSequence ASSegmentType = 3
	ASConfedSet      ASSegmentType = 4
)

// ASSegment is one AS_PATH segment.
type ASSegment struct {
	Type ASSegmentType
	ASNs []uint32
}

// CommunityLLGRStale is the LLGR_STALE well-known community (RFC 9494).
// A path carrying it loses to any path without it.
const CommunityLLGRStale uint32 = 0xFFFF0006

// DefaultMED returns the MED the original control node derives from an
// XMPP route's local-preference when the agent sends none
// (bgp_xmpp_channel.cc): 100 -> 200, 200 -> 100, otherwise 2^32-1-lp, so
// that a higher local-preference gives a lower MED towards BGP peers.
func DefaultMED(localPref uint32) uint32 {
	switch localPref {
	case 100:
		return 200
	case 200:
		return 100
	}
	return 0xFFFFFFFF - localPref
}
