// SPDX-License-Identifier: Apache-2.0

package bgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/contrail-go/contrail/internal/rib"
	bgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// MaxMessageLen is the largest BGP message we send or accept (RFC 4271;
// the extended message capability is not negotiated).
const MaxMessageLen = 4096

// PathChange is one route learned from or sent to a BGP peer.
type PathChange struct {
	// Family is rib.InetVPN, rib.Inet6VPN or rib.EVPN.
	Family rib.Family
	// Key is a VPN key (with RD): rib.VPNKey, rib.EVPNMACKey(...).WithRD
	// or rib.EVPNMulticastKey.
	Key rib.Key
	// Label is the MPLS label of VPN routes and of EVPN type 2 routes
	// without VXLAN encapsulation; the VNI of EVPN type 2 routes whose
	// Encap includes VXLAN. Type 3 routes carry none (no PMSI yet).
	Label uint32
	// Attrs are the path attributes; unset for withdrawals.
	Attrs rib.Attrs
	// Unknown holds optional transitive attributes we do not understand,
	// passed through unchanged (with the Partial bit set on send).
	Unknown []RawAttr
	// Withdraw is set for a withdrawal.
	Withdraw bool
	// FromPeer is the BGP identifier of the iBGP peer the path was
	// learned from (set by Session on received paths), zero for our own
	// paths. It drives the route reflection attributes on send.
	FromPeer netip.Addr
	// Source is the address of the neighbor the path was learned from
	// (set by the Speaker on received paths), zero for our own paths;
	// SourceIBGP tells an iBGP neighbor. The Speaker never sends a path
	// back to its source, nor an iBGP path to iBGP neighbors unless it is
	// a route reflector.
	Source     netip.Addr
	SourceIBGP bool
}

// RawAttr is a path attribute in wire form.
type RawAttr struct {
	Flags uint8
	Type  uint8
	Value []byte
}

// LocalInfo is what EncodeUpdates needs to know about the sending side.
type LocalInfo struct {
	// AS is our AS, PeerAS the receiver's; equal ASes mean iBGP.
	AS, PeerAS uint32
	// RouterID is our BGP identifier.
	RouterID netip.Addr
	// NextHop is used for next-hop-self (eBGP, or a change without one).
	NextHop netip.Addr
	// ClusterID, when non-zero, makes us a route reflector: a path
	// learned from an iBGP peer (PathChange.FromPeer set) is sent to iBGP
	// peers with ORIGINATOR_ID (kept, or FromPeer) and CLUSTER_LIST (our
	// cluster id prepended), RFC 4456 section 8.
	ClusterID uint32
	// DefaultLocalPref is sent on iBGP when a path has no LOCAL_PREF
	// (0 means 100).
	DefaultLocalPref uint32
	// ASOverride replaces PeerAS with AS in the AS_PATH sent to an eBGP
	// peer (so that sites sharing an AS accept each other's routes).
	ASOverride bool
}

// Extended community types handled specially.
const (
	extTypeEncap    = 0x03 // opaque, transitive
	extSubtypeEncap = 0x0c // tunnel encapsulation (RFC 5512)
)

// The original's security group extended community: experimental type
// 0x80, subtype 0x04, a 2-byte AS and the 4-byte security group id (type
// 0x82 carries a 4-byte AS and a 2-byte id).
const (
	extTypeSG    = 0x80
	extTypeSG4   = 0x82
	extSubtypeSG = 0x04
)

func securityGroupCommunity(as, id uint32) uint64 {
	if as > 0xffff {
		return uint64(extTypeSG4)<<56 | uint64(extSubtypeSG)<<48 | uint64(as)<<16 | uint64(id&0xffff)
	}
	return uint64(extTypeSG)<<56 | uint64(extSubtypeSG)<<48 | uint64(as)<<32 | uint64(id)
}

// Tunnel types of the encapsulation extended community and the rib.Encap
// they map to.
var tunnelEncaps = []struct {
	tt uint16
	e  rib.Encap
}{
	{uint16(bgp.TUNNEL_TYPE_GRE), rib.EncapGRE},
	{uint16(bgp.TUNNEL_TYPE_VXLAN), rib.EncapVXLAN},
	{uint16(bgp.TUNNEL_TYPE_MPLS_IN_UDP), rib.EncapUDP},
	{uint16(bgp.TUNNEL_TYPE_MPLS), rib.EncapMPLS},
}

func familyOf(afi uint16, safi uint8) (rib.Family, bool) {
	switch bgp.NewFamily(afi, safi) {
	case bgp.RF_IPv4_VPN:
		return rib.InetVPN, true
	case bgp.RF_IPv6_VPN:
		return rib.Inet6VPN, true
	case bgp.RF_EVPN:
		return rib.EVPN, true
	}
	return 0, false
}

func bgpFamily(f rib.Family) (bgp.Family, bool) {
	switch f {
	case rib.InetVPN:
		return bgp.RF_IPv4_VPN, true
	case rib.Inet6VPN:
		return bgp.RF_IPv6_VPN, true
	case rib.EVPN:
		return bgp.RF_EVPN, true
	case FamilyRouteTarget:
		return bgp.RF_RTC_UC, true
	}
	return 0, false
}

// endOfRIB recognises the End-of-RIB marker (RFC 4724 section 2): an
// empty UPDATE for IPv4 unicast (reported as 0), an UPDATE with nothing but
// an empty MP_UNREACH_NLRI for the other families.
func endOfRIB(u *bgp.BGPUpdate) (rib.Family, bool) {
	if len(u.WithdrawnRoutes) > 0 || len(u.NLRI) > 0 {
		return 0, false
	}
	switch len(u.PathAttributes) {
	case 0:
		return 0, true
	case 1:
		un, ok := u.PathAttributes[0].(*bgp.PathAttributeMpUnreachNLRI)
		if !ok || len(un.Value) > 0 {
			return 0, false
		}
		if bgp.NewFamily(un.AFI, un.SAFI) == bgp.RF_RTC_UC {
			return FamilyRouteTarget, true
		}
		f, ok := familyOf(un.AFI, un.SAFI)
		return f, ok
	}
	return 0, false
}

// EndOfRIB returns the End-of-RIB marker of family f.
func EndOfRIB(f rib.Family) []byte {
	bf, ok := bgpFamily(f)
	if !ok {
		return nil
	}
	b := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0, 29, bgp.BGP_MSG_UPDATE, 0, 0, 0, 6,
		uint8(bgp.BGP_ATTR_FLAG_OPTIONAL), uint8(bgp.BGP_ATTR_TYPE_MP_UNREACH_NLRI), 3, 0, 0, bf.Safi(),
	}
	binary.BigEndian.PutUint16(b[26:28], bf.Afi())
	return b
}

// decodeRTC returns the route-target membership routes of an UPDATE.
func decodeRTC(u *bgp.BGPUpdate) []RTCChange {
	var out []RTCChange
	add := func(nlri []bgp.PathNLRI, withdraw bool) {
		for _, pn := range nlri {
			n, ok := pn.NLRI.(*bgp.RouteTargetMembershipNLRI)
			if !ok {
				continue
			}
			c := RTCChange{OriginAS: n.AS, Withdraw: withdraw, Default: n.Length < 96 || n.RouteTarget == nil}
			if !c.Default {
				b, err := n.RouteTarget.Serialize()
				if err != nil || len(b) != 8 {
					continue
				}
				c.Target = rib.RouteTarget(binary.BigEndian.Uint64(b))
			}
			out = append(out, c)
		}
	}
	for _, pa := range u.PathAttributes {
		switch a := pa.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			if bgp.NewFamily(a.AFI, a.SAFI) == bgp.RF_RTC_UC {
				add(a.Value, false)
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			if bgp.NewFamily(a.AFI, a.SAFI) == bgp.RF_RTC_UC {
				add(a.Value, true)
			}
		}
	}
	return out
}

// EncodeRTC builds UPDATEs announcing (or withdrawing) route-target
// membership routes for targets, with origin AS local.AS and next hop
// local.NextHop.
//
// A nil targets slice stands for the default route-target membership route
// (prefix length 0): "send me every VPN route".
func EncodeRTC(targets []rib.RouteTarget, withdraw bool, local LocalInfo) [][]byte {
	var out [][]byte
	if targets == nil {
		targets = []rib.RouteTarget{0}
	}
	for start := 0; start < len(targets); start += 200 {
		var nlri []bgp.PathNLRI
		for _, rt := range targets[start:min(start+200, len(targets))] {
			if rt == 0 {
				nlri = append(nlri, bgp.PathNLRI{NLRI: bgp.NewRouteTargetMembershipNLRI(0, nil)})
			} else if ec := extOf(uint64(rt)); ec != nil {
				nlri = append(nlri, bgp.PathNLRI{NLRI: bgp.NewRouteTargetMembershipNLRI(local.AS, ec)})
			}
		}
		if len(nlri) == 0 {
			continue
		}
		var pas []bgp.PathAttributeInterface
		if withdraw {
			un, err := bgp.NewPathAttributeMpUnreachNLRI(bgp.RF_RTC_UC, nlri)
			if err != nil {
				continue
			}
			pas = []bgp.PathAttributeInterface{un}
		} else {
			r, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_RTC_UC, nlri, local.NextHop)
			if err != nil {
				continue
			}
			pas = []bgp.PathAttributeInterface{r, bgp.NewPathAttributeOrigin(0),
				bgp.NewPathAttributeAsPath(asPathFor(nil, local))}
			if local.AS == local.PeerAS {
				pas = append(pas, bgp.NewPathAttributeLocalPref(100))
			}
		}
		b, err := bgp.NewBGPUpdateMessage(nil, pas, nil).Serialize()
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}

func rdOf(rd bgp.RouteDistinguisherInterface) rib.RD {
	if rd == nil {
		return 0
	}
	b, err := rd.Serialize()
	if err != nil || len(b) != 8 {
		return 0
	}
	return rib.RDFromBytes([8]byte(b))
}

func rdTo(rd rib.RD) bgp.RouteDistinguisherInterface {
	b := rd.Bytes()
	return bgp.GetRouteDistinguisher(b[:])
}

// DecodeUpdate translates a parsed UPDATE into path changes. Routes of
// families other than VPNv4, VPNv6 and EVPN (type 2 and 3) are skipped;
// plain IPv4 NLRI and withdrawn routes are ignored. When withdraw is true
// (treat-as-withdraw, RFC 7606) every announced route is returned as a
// withdrawal.
func DecodeUpdate(u *bgp.BGPUpdate, withdraw bool) []PathChange {
	var out []PathChange
	var attrs rib.Attrs
	var unknown []RawAttr
	var reach *bgp.PathAttributeMpReachNLRI
	var unreach []*bgp.PathAttributeMpUnreachNLRI
	for _, pa := range u.PathAttributes {
		switch a := pa.(type) {
		case *bgp.PathAttributeOrigin:
			attrs.Origin = rib.Origin(a.Value)
		case *bgp.PathAttributeAsPath:
			for _, p := range a.Value {
				seg := rib.ASSegment{Type: rib.ASSegmentType(p.GetType())}
				seg.ASNs = slices.Clone(p.GetAS())
				attrs.ASPath = append(attrs.ASPath, seg)
			}
		case *bgp.PathAttributeNextHop:
			if !attrs.NextHop.IsValid() {
				attrs.NextHop = a.Value
			}
		case *bgp.PathAttributeMultiExitDisc:
			attrs.MED = a.Value
		case *bgp.PathAttributeLocalPref:
			attrs.LocalPref = a.Value
		case *bgp.PathAttributeCommunities:
			attrs.Communities = append(attrs.Communities, a.Value...)
		case *bgp.PathAttributeOriginatorId:
			attrs.OriginatorID = a.Value
		case *bgp.PathAttributeClusterList:
			for _, c := range a.Value {
				if c.Is4() {
					b := c.As4()
					attrs.ClusterList = append(attrs.ClusterList, binary.BigEndian.Uint32(b[:]))
				}
			}
		case *bgp.PathAttributeExtendedCommunities:
			for _, ec := range a.Value {
				b, err := ec.Serialize()
				if err != nil || len(b) != 8 {
					continue
				}
				addExtCommunity(&attrs, binary.BigEndian.Uint64(b))
			}
		case *bgp.PathAttributeMpReachNLRI:
			reach = a
		case *bgp.PathAttributeMpUnreachNLRI:
			unreach = append(unreach, a)
		case *bgp.PathAttributeUnknown:
			f := uint8(a.Flags)
			if f&uint8(bgp.BGP_ATTR_FLAG_OPTIONAL) != 0 && f&uint8(bgp.BGP_ATTR_FLAG_TRANSITIVE) != 0 {
				unknown = append(unknown, RawAttr{Flags: f, Type: uint8(a.Type), Value: slices.Clone(a.Value)})
			}
		}
	}
	for _, ur := range unreach {
		fam, ok := familyOf(ur.AFI, ur.SAFI)
		if !ok {
			continue
		}
		for _, n := range ur.Value {
			if pc, ok := nlriChange(fam, n.NLRI, attrs.Encap); ok {
				pc.Withdraw = true
				out = append(out, pc)
			}
		}
	}
	if reach != nil {
		fam, ok := familyOf(reach.AFI, reach.SAFI)
		if ok {
			if reach.Nexthop.IsValid() {
				attrs.NextHop = reach.Nexthop.Unmap()
			}
			// The announcements of one UPDATE share one copy of the
			// attributes (the RIB interns them; nobody modifies them).
			shared := attrs.Clone()
			out = slices.Grow(out, len(reach.Value))
			for _, n := range reach.Value {
				pc, ok := nlriChange(fam, n.NLRI, attrs.Encap)
				if !ok {
					continue
				}
				if withdraw {
					pc.Withdraw = true
				} else {
					pc.Attrs = *shared
					pc.Unknown = unknown
				}
				out = append(out, pc)
			}
		}
	}
	return out
}

func addExtCommunity(a *rib.Attrs, v uint64) {
	typ, sub := uint8(v>>56), uint8(v>>48)
	switch {
	case sub == 0x02 && (typ == 0x00 || typ == 0x01 || typ == 0x02):
		a.RouteTargets = append(a.RouteTargets, rib.RouteTarget(v))
		return
	case (typ == extTypeSG || typ == extTypeSG4) && sub == extSubtypeSG:
		if typ == extTypeSG {
			a.SecurityGroups = append(a.SecurityGroups, uint32(v))
		} else {
			a.SecurityGroups = append(a.SecurityGroups, uint32(v&0xffff))
		}
		return
	case typ == extTypeEncap && sub == extSubtypeEncap:
		tt := uint16(v)
		for _, te := range tunnelEncaps {
			if te.tt == tt {
				a.Encap |= te.e
				return
			}
		}
	}
	a.ExtCommunities = append(a.ExtCommunities, v)
}

// nlriChange builds the key and label of one NLRI. encap tells how to read
// an EVPN label.
func nlriChange(fam rib.Family, n bgp.NLRI, encap rib.Encap) (PathChange, bool) {
	pc := PathChange{Family: fam}
	switch v := n.(type) {
	case *bgp.LabeledVPNIPAddrPrefix:
		if fam != rib.InetVPN && fam != rib.Inet6VPN {
			return pc, false
		}
		p := v.Prefix.Masked()
		if !p.IsValid() || (fam == rib.InetVPN) != p.Addr().Is4() {
			return pc, false
		}
		pc.Key = rib.VPNKey(rdOf(v.RD), p)
		if len(v.Labels.Labels) > 0 {
			pc.Label = v.Labels.Labels[0]
		}
	case *bgp.EVPNNLRI:
		switch r := v.RouteTypeData.(type) {
		case *bgp.EVPNMacIPAdvertisementRoute:
			if len(r.MacAddress) != 6 {
				return pc, false
			}
			ip := r.IPAddress
			if r.IPAddressLength == 0 {
				ip = netip.Addr{}
			}
			pc.Key = rib.EVPNMACKey(r.ETag, rib.MAC(r.MacAddress), ip).WithRD(rdOf(r.RD))
			if len(r.Labels) > 0 {
				pc.Label = r.Labels[0]
				if encap&rib.EncapVXLAN == 0 {
					pc.Label >>= 4
				}
			}
		case *bgp.EVPNMulticastEthernetTagRoute:
			pc.Key = rib.EVPNMulticastKey(rdOf(r.RD), r.ETag, r.IPAddress)
		default:
			return pc, false
		}
	default:
		return pc, false
	}
	// Keys of the VPN tables always carry an RD.
	return pc, pc.Key.IsValid() && pc.Key.RD() != 0
}

// ErrBadMessage is wrapped by DecodeUpdateMessage errors that are not a
// gobgp MessageError.
var ErrBadMessage = errors.New("bgp: bad message")

// DecodeUpdateMessage parses a whole UPDATE message (header included) and
// translates it. A nil error or one whose ErrorHandling is treat-as-withdraw
// or attribute-discard returns usable changes; any other error means the
// session must be reset with the NOTIFICATION the *bgp.MessageError names.
func DecodeUpdateMessage(b []byte) ([]PathChange, error) {
	m, err := bgp.ParseBGPMessage(b)
	if m == nil {
		if err == nil {
			err = ErrBadMessage
		}
		return nil, err
	}
	u, ok := m.Body.(*bgp.BGPUpdate)
	if !ok {
		return nil, fmt.Errorf("%w: not an UPDATE", ErrBadMessage)
	}
	return decodeChecked(u, err)
}

// decodeChecked applies the error handling of a decode or validation
// error to a parsed UPDATE.
func decodeChecked(u *bgp.BGPUpdate, err error) ([]PathChange, error) {
	if err == nil {
		_, err = bgp.ValidateUpdateMsg(u, map[bgp.Family]bgp.BGPAddPathMode{
			bgp.RF_IPv4_VPN: bgp.BGP_ADD_PATH_NONE, bgp.RF_IPv6_VPN: bgp.BGP_ADD_PATH_NONE,
			bgp.RF_EVPN: bgp.BGP_ADD_PATH_NONE, bgp.RF_RTC_UC: bgp.BGP_ADD_PATH_NONE,
			bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_NONE,
		}, false, false, true)
	}
	if err == nil {
		return DecodeUpdate(u, false), nil
	}
	var me *bgp.MessageError
	if !errors.As(err, &me) {
		return nil, err
	}
	switch me.ErrorHandling {
	case bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
		return DecodeUpdate(u, true), err
	case bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
		return DecodeUpdate(u, false), err
	}
	return nil, err
}

// IsSessionReset reports whether err (from DecodeUpdateMessage) requires
// a NOTIFICATION and session reset, and returns its code and subcode.
func IsSessionReset(err error) (code, subcode uint8, reset bool) {
	if err == nil {
		return 0, 0, false
	}
	var me *bgp.MessageError
	if !errors.As(err, &me) {
		return bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_MALFORMED_ATTRIBUTE_LIST, true
	}
	switch me.ErrorHandling {
	case bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW, bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
		return me.TypeCode, me.SubTypeCode, false
	}
	return me.TypeCode, me.SubTypeCode, true
}

// EncodeUpdates builds UPDATE messages (header included) for changes as
// seen by the peer described by local. Changes of one family that share
// attributes (and, for announcements, unknown attributes) go into one
// UPDATE as long as it fits in MaxMessageLen. Changes that cannot be
// encoded (bad family or key) are skipped.
func EncodeUpdates(changes []PathChange, local LocalInfo) [][]byte {
	type group struct {
		fam      rib.Family
		withdraw bool
		attrs    *rib.Attrs
		unknown  []RawAttr
		from     netip.Addr
		nlri     []bgp.PathNLRI
	}
	var groups []*group
	for i := range changes {
		c := &changes[i]
		fam, ok := bgpFamily(c.Family)
		if !ok {
			continue
		}
		n, ok := encodeNLRI(c, fam)
		if !ok {
			continue
		}
		var g *group
		for _, x := range groups {
			if x.fam == c.Family && x.withdraw == c.Withdraw &&
				(c.Withdraw || x.from == c.FromPeer && x.attrs.Equal(&c.Attrs) && unknownEqual(x.unknown, c.Unknown)) {
				g = x
				break
			}
		}
		if g == nil {
			g = &group{fam: c.Family, withdraw: c.Withdraw, attrs: &c.Attrs, unknown: c.Unknown, from: c.FromPeer}
			groups = append(groups, g)
		}
		g.nlri = append(g.nlri, bgp.PathNLRI{NLRI: n})
	}
	var out [][]byte
	for _, g := range groups {
		fam, _ := bgpFamily(g.fam)
		var base []bgp.PathAttributeInterface
		var nh netip.Addr
		if !g.withdraw {
			base, nh = outAttrs(g.attrs, g.unknown, g.from, local)
		}
		build := func(nlri []bgp.PathNLRI) ([]byte, error) {
			var pas []bgp.PathAttributeInterface
			if g.withdraw {
				un, err := bgp.NewPathAttributeMpUnreachNLRI(fam, nlri)
				if err != nil {
					return nil, err
				}
				pas = []bgp.PathAttributeInterface{un}
			} else {
				r, err := bgp.NewPathAttributeMpReachNLRI(fam, nlri, nh)
				if err != nil {
					return nil, err
				}
				pas = append([]bgp.PathAttributeInterface{r}, base...)
			}
			return bgp.NewBGPUpdateMessage(nil, pas, nil).Serialize()
		}
		// Fill messages greedily using NLRI lengths; the fixed part is
		// measured with one NLRI.
		for start := 0; start < len(g.nlri); {
			one, err := build(g.nlri[start : start+1])
			if err != nil {
				start++
				continue
			}
			size := len(one)
			end := start + 1
			for end < len(g.nlri) && size+g.nlri[end].NLRI.Len() <= MaxMessageLen {
				size += g.nlri[end].NLRI.Len()
				end++
			}
			msg := one
			if end > start+1 {
				msg, err = build(g.nlri[start:end])
				for err == nil && len(msg) > MaxMessageLen && end > start+1 {
					end--
					msg, err = build(g.nlri[start:end])
				}
				if err != nil {
					start = end
					continue
				}
			}
			if len(msg) <= MaxMessageLen {
				out = append(out, msg)
			}
			start = end
		}
	}
	return out
}

func unknownEqual(a, b []RawAttr) bool {
	return slices.EqualFunc(a, b, func(x, y RawAttr) bool {
		return x.Flags == y.Flags && x.Type == y.Type && string(x.Value) == string(y.Value)
	})
}

func encodeNLRI(c *PathChange, fam bgp.Family) (bgp.NLRI, bool) {
	k := c.Key
	if k.RD() == 0 {
		return nil, false
	}
	rd := rdTo(k.RD())
	switch c.Family {
	case rib.InetVPN, rib.Inet6VPN:
		if k.Type() != rib.KeyPrefix || (c.Family == rib.InetVPN) != k.IP().Is4() {
			return nil, false
		}
		n, err := bgp.NewLabeledVPNIPAddrPrefix(k.Prefix(), *bgp.NewMPLSLabelStack(c.Label & 0xFFFFF), rd)
		if err != nil {
			return nil, false
		}
		return n, true
	case rib.EVPN:
		switch k.Type() {
		case rib.KeyEVPNMAC:
			label := c.Label
			if c.Withdraw || c.Attrs.Encap&rib.EncapVXLAN == 0 {
				label = (label&0xFFFFF)<<4 | 1
			}
			mac := k.MAC()
			n, err := bgp.NewEVPNMacIPAdvertisementRoute(rd, bgp.EthernetSegmentIdentifier{}, k.Tag(),
				net.HardwareAddr(mac[:]).String(), k.IP(), []uint32{label & 0xFFFFFF})
			if err != nil {
				return nil, false
			}
			return n, true
		case rib.KeyEVPNMulticast:
			n, err := bgp.NewEVPNMulticastEthernetTagRoute(rd, k.Tag(), k.IP())
			if err != nil {
				return nil, false
			}
			return n, true
		}
	}
	return nil, false
}

// outAttrs returns the path attributes (without MP_REACH) and next hop of
// an announcement to the peer described by local.
func outAttrs(a *rib.Attrs, unknown []RawAttr, from netip.Addr, local LocalInfo) ([]bgp.PathAttributeInterface, netip.Addr) {
	ibgp := local.AS == local.PeerAS
	pas := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(uint8(a.Origin))}
	pas = append(pas, bgp.NewPathAttributeAsPath(asPathFor(a.ASPath, local)))
	if a.MED != 0 {
		pas = append(pas, bgp.NewPathAttributeMultiExitDisc(a.MED))
	}
	nh := a.NextHop
	if ibgp {
		lp := a.LocalPref
		if lp == 0 {
			lp = local.DefaultLocalPref
			if lp == 0 {
				lp = 100
			}
		}
		pas = append(pas, bgp.NewPathAttributeLocalPref(lp))
	} else {
		nh = local.NextHop
	}
	if !nh.IsValid() {
		nh = local.NextHop
	}
	if len(a.Communities) > 0 {
		pas = append(pas, bgp.NewPathAttributeCommunities(slices.Clone(a.Communities)))
	}
	if ibgp && local.ClusterID != 0 && from.IsValid() {
		orig := a.OriginatorID
		if !orig.IsValid() {
			orig = from
		}
		if orig.Is4() {
			if o, err := bgp.NewPathAttributeOriginatorId(orig); err == nil {
				pas = append(pas, o)
			}
		}
		cl := []netip.Addr{clusterAddr(local.ClusterID)}
		for _, c := range a.ClusterList {
			cl = append(cl, clusterAddr(c))
		}
		if c, err := bgp.NewPathAttributeClusterList(cl); err == nil {
			pas = append(pas, c)
		}
	}
	var ecs []bgp.ExtendedCommunityInterface
	for _, rt := range a.RouteTargets {
		if ec := extOf(uint64(rt)); ec != nil {
			ecs = append(ecs, ec)
		}
	}
	for _, te := range tunnelEncaps {
		if a.Encap&te.e != 0 {
			ecs = append(ecs, bgp.NewEncapExtended(bgp.TunnelType(te.tt)))
		}
	}
	for _, sg := range a.SecurityGroups {
		if ec := extOf(securityGroupCommunity(local.AS, sg)); ec != nil {
			ecs = append(ecs, ec)
		}
	}
	for _, v := range a.ExtCommunities {
		if ec := extOf(v); ec != nil {
			ecs = append(ecs, ec)
		}
	}
	if len(ecs) > 0 {
		pas = append(pas, bgp.NewPathAttributeExtendedCommunities(ecs))
	}
	for _, u := range unknown {
		pas = append(pas, bgp.NewPathAttributeUnknown(bgp.BGPAttrFlag(u.Flags)|bgp.BGP_ATTR_FLAG_PARTIAL, bgp.BGPAttrType(u.Type), u.Value))
	}
	return pas, nh
}

// asPathFor is the AS_PATH sent to the peer of local: ours prepended on
// eBGP (confederation segments dropped, the peer's AS replaced with ours
// under AS override).
func asPathFor(path []rib.ASSegment, local LocalInfo) []bgp.AsPathParamInterface {
	ibgp := local.AS == local.PeerAS
	var segs []bgp.AsPathParamInterface
	if !ibgp {
		segs = append(segs, bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{local.AS}))
	}
	for _, s := range path {
		if !ibgp && (s.Type == rib.ASConfedSequence || s.Type == rib.ASConfedSet) {
			continue
		}
		if len(s.ASNs) == 0 {
			continue
		}
		asns := slices.Clone(s.ASNs)
		if !ibgp && local.ASOverride {
			for i, as := range asns {
				if as == local.PeerAS {
					asns[i] = local.AS
				}
			}
		}
		segs = append(segs, bgp.NewAs4PathParam(uint8(s.Type), asns))
	}
	return segs
}

func clusterAddr(c uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return netip.AddrFrom4(b)
}

func extOf(v uint64) bgp.ExtendedCommunityInterface {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	ec, err := bgp.ParseExtended(b[:])
	if err != nil {
		return nil
	}
	return ec
}
