// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"hash/maphash"
	"net/netip"
	"slices"
)

// Attrs are the attributes of a path. The first group is what an agent
// publishes over XMPP (notes A3), the second what a VPN path adds, the third
// what a BGP speaker needs.
//
// The RIB interns attributes: AddPath and AddVPNPath look the given value
// up by hash among the attributes already in use and share one copy, so
// that the routes of one agent in one VRF (which differ only in the label,
// kept in the Path) cost one Attrs. Attrs returned by the RIB (Path.Attrs)
// are shared and must not be modified; use Clone to derive new ones.
//
// Set-valued slices (SecurityGroups, Communities, Tags, RouteTargets,
// ExtCommunities) are sorted and de-duplicated when interned; ASPath and
// ClusterList keep their order.
type Attrs struct {
	// NextHop is the tunnel endpoint: the vrouter's address for agent
	// routes, the BGP NEXT_HOP otherwise.
	NextHop netip.Addr
	// RouterMAC is the next hop's MAC (XMPP next-hop mac).
	RouterMAC MAC
	// Encap is the tunnel-encapsulation-list.
	Encap Encap
	// VirtualNetwork is the fq-name of the route's virtual network (XMPP
	// virtual-network, the origin VN).
	VirtualNetwork string
	// SecurityGroups are the security group ids; BGP carries them as
	// security-group extended communities.
	SecurityGroups []uint32
	// Communities are RFC 1997 communities (XMPP community-tag-list).
	Communities []uint32
	// Tags are the next hop's firewall tags (XMPP tag-list).
	Tags []uint32
	// LocalPref is LOCAL_PREF, higher wins. The RIB applies no default.
	LocalPref uint32
	// MED is MULTI_EXIT_DISC, lower wins among paths from one neighbor AS.
	MED uint32
	// LoadBalance is the load-balance attribute.
	LoadBalance LoadBalance
	// SubProtocol is the XMPP sub-protocol.
	SubProtocol SubProtocol
	// Mobility is the MAC mobility sequence number and sticky bit.
	Mobility Mobility
	// L3Label is the EVPN l3-label (VNI of the L3 VRF); usually shared by
	// all routes of a VRF, hence here and not in the Path.
	L3Label uint32

	// RouteTargets of a VPN path. On export the RIB sets them to the
	// instance's export targets; on import it matches them against import
	// targets.
	RouteTargets []RouteTarget
	// SourceRD is the RD the path is exported with: <vrouter-ip>:<instance-id>
	// for agent routes. When zero the instance RD is used.
	SourceRD RD

	// ASPath is AS_PATH (AS4 numbers).
	ASPath []ASSegment
	// Origin is ORIGIN.
	Origin Origin
	// OriginatorID is ORIGINATOR_ID (RFC 4456), zero Addr if absent. It
	// replaces the peer's router id in the best-path tie-break.
	OriginatorID netip.Addr
	// ClusterList is CLUSTER_LIST (RFC 4456).
	ClusterList []uint32
	// ExtCommunities are extended communities other than route targets,
	// in wire form.
	ExtCommunities []uint64

	// Interning state; zero in a caller's value.
	table      *attrTable
	next       *Attrs // hash chain
	hash       uint64
	refs       int32
	asPathLen  int32
	neighborAS uint32
	llgrStale  bool
}

// Clone returns a deep copy of a's attributes that the caller owns.
func (a *Attrs) Clone() *Attrs {
	c := &Attrs{
		NextHop:        a.NextHop,
		RouterMAC:      a.RouterMAC,
		Encap:          a.Encap,
		VirtualNetwork: a.VirtualNetwork,
		SecurityGroups: slices.Clone(a.SecurityGroups),
		Communities:    slices.Clone(a.Communities),
		Tags:           slices.Clone(a.Tags),
		LocalPref:      a.LocalPref,
		MED:            a.MED,
		LoadBalance:    a.LoadBalance,
		SubProtocol:    a.SubProtocol,
		Mobility:       a.Mobility,
		L3Label:        a.L3Label,
		RouteTargets:   slices.Clone(a.RouteTargets),
		SourceRD:       a.SourceRD,
		Origin:         a.Origin,
		OriginatorID:   a.OriginatorID,
		ClusterList:    slices.Clone(a.ClusterList),
		ExtCommunities: slices.Clone(a.ExtCommunities),
	}
	if a.ASPath != nil {
		c.ASPath = make([]ASSegment, len(a.ASPath))
		for i, s := range a.ASPath {
			c.ASPath[i] = ASSegment{Type: s.Type, ASNs: slices.Clone(s.ASNs)}
		}
	}
	return c
}

// Equal reports whether a and b hold the same attributes (nil and empty
// slices are equal).
func (a *Attrs) Equal(b *Attrs) bool {
	if a == b {
		return true
	}
	return a.NextHop == b.NextHop &&
		a.RouterMAC == b.RouterMAC &&
		a.Encap == b.Encap &&
		a.VirtualNetwork == b.VirtualNetwork &&
		slices.Equal(a.SecurityGroups, b.SecurityGroups) &&
		slices.Equal(a.Communities, b.Communities) &&
		slices.Equal(a.Tags, b.Tags) &&
		a.LocalPref == b.LocalPref &&
		a.MED == b.MED &&
		a.LoadBalance == b.LoadBalance &&
		a.SubProtocol == b.SubProtocol &&
		a.Mobility == b.Mobility &&
		a.L3Label == b.L3Label &&
		slices.Equal(a.RouteTargets, b.RouteTargets) &&
		a.SourceRD == b.SourceRD &&
		a.Origin == b.Origin &&
		a.OriginatorID == b.OriginatorID &&
		slices.Equal(a.ClusterList, b.ClusterList) &&
		slices.Equal(a.ExtCommunities, b.ExtCommunities) &&
		slices.EqualFunc(a.ASPath, b.ASPath, func(x, y ASSegment) bool {
			return x.Type == y.Type && slices.Equal(x.ASNs, y.ASNs)
		})
}

// ASPathLen returns the AS_PATH length used by best-path selection
// (RFC 4271 section 9.1.2.2 a): an AS_SET counts as one, confederation
// segments count zero (RFC 5065 section 5.3).
func (a *Attrs) ASPathLen() int {
	n := 0
	for _, s := range a.ASPath {
		switch s.Type {
		case ASSequence:
			n += len(s.ASNs)
		case ASSet:
			n++
		}
	}
	return n
}

// NeighborAS returns the leftmost AS of AS_PATH when the path starts with
// an AS_SEQUENCE, 0 otherwise (locally originated and iBGP-only paths).
func (a *Attrs) NeighborAS() uint32 {
	if len(a.ASPath) > 0 && a.ASPath[0].Type == ASSequence && len(a.ASPath[0].ASNs) > 0 {
		return a.ASPath[0].ASNs[0]
	}
	return 0
}

// canonical reports whether every set-valued slice is sorted without
// duplicates, so that a can be hashed without being copied.
func (a *Attrs) canonical() bool {
	return isSet(a.SecurityGroups) && isSet(a.Communities) && isSet(a.Tags) &&
		isSet(a.RouteTargets) && isSet(a.ExtCommunities)
}

func (a *Attrs) canonicalize() {
	a.SecurityGroups = toSet(a.SecurityGroups)
	a.Communities = toSet(a.Communities)
	a.Tags = toSet(a.Tags)
	a.RouteTargets = toSet(a.RouteTargets)
	a.ExtCommunities = toSet(a.ExtCommunities)
}

func isSet[T uint32 | uint64 | RouteTarget](s []T) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

func toSet[T uint32 | uint64 | RouteTarget](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// attrTable interns Attrs. Each interned Attrs is reference counted by the
// paths that use it and leaves the table with its last path.
type attrTable struct {
	seed maphash.Seed
	m    map[uint64]*Attrs
	n    int
}

func newAttrTable() attrTable {
	return attrTable{seed: maphash.MakeSeed(), m: make(map[uint64]*Attrs)}
}

// intern returns the shared copy of a with one more reference. a itself is
// not retained unless it is already interned here.
func (t *attrTable) intern(a *Attrs) *Attrs {
	if a == nil {
		a = &Attrs{}
	}
	if a.table == t {
		a.refs++
		return a
	}
	return t.internValue(a)
}

// internValue is intern for a value that is never retained (it may be a
// temporary on the caller's stack).
func (t *attrTable) internValue(a *Attrs) *Attrs {
	var owned *Attrs
	if !a.canonical() {
		owned = a.Clone()
		owned.canonicalize()
		a = owned
	}
	h := t.hash(a)
	for e := t.m[h]; e != nil; e = e.next {
		if e.Equal(a) {
			e.refs++
			return e
		}
	}
	if owned == nil {
		owned = a.Clone()
	}
	owned.table = t
	owned.hash = h
	owned.refs = 1
	owned.asPathLen = int32(owned.ASPathLen())
	owned.neighborAS = owned.NeighborAS()
	_, owned.llgrStale = slices.BinarySearch(owned.Communities, CommunityLLGRStale)
	owned.next = t.m[h]
	t.m[h] = owned
	t.n++
	return owned
}

// ref adds a reference to an interned a.
func (t *attrTable) ref(a *Attrs) *Attrs {
	a.refs++
	return a
}

// release drops a reference and forgets a with its last one.
func (t *attrTable) release(a *Attrs) {
	a.refs--
	if a.refs > 0 {
		return
	}
	pp := t.m[a.hash]
	if pp == a {
		if a.next == nil {
			delete(t.m, a.hash)
		} else {
			t.m[a.hash] = a.next
		}
	} else {
		for e := pp; e != nil; e = e.next {
			if e.next == a {
				e.next = a.next
				break
			}
		}
	}
	a.next = nil
	a.table = nil
	t.n--
}

// hasher mixes 64-bit words; collisions are resolved by Equal, so it only
// has to spread values well.
type hasher uint64

func (h *hasher) add(v uint64) {
	x := (uint64(*h) ^ v) * 0x9E3779B97F4A7C15
	*h = hasher(x ^ x>>29)
}

func (h *hasher) addr(a netip.Addr) {
	b := a.As16()
	h.add(uint64(a.BitLen()))
	h.add(uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]))
	h.add(uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
		uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15]))
}

func addSlice[T uint32 | uint64 | RouteTarget](h *hasher, s []T) {
	h.add(uint64(len(s)))
	for _, v := range s {
		h.add(uint64(v))
	}
}

func (t *attrTable) hash(a *Attrs) uint64 {
	h := hasher(maphash.String(t.seed, a.VirtualNetwork))
	h.addr(a.NextHop)
	m := a.RouterMAC
	h.add(uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5]))
	h.add(uint64(a.Encap) | uint64(a.LoadBalance.Fields)<<8 | uint64(a.LoadBalance.Decision)<<16 |
		uint64(a.SubProtocol)<<24 | uint64(a.Origin)<<32 | boolBit(a.Mobility.Sticky)<<40)
	h.add(uint64(a.LocalPref)<<32 | uint64(a.MED))
	h.add(uint64(a.Mobility.Seq)<<32 | uint64(a.L3Label))
	h.add(uint64(a.SourceRD))
	addSlice(&h, a.SecurityGroups)
	addSlice(&h, a.Communities)
	addSlice(&h, a.Tags)
	addSlice(&h, a.RouteTargets)
	addSlice(&h, a.ClusterList)
	addSlice(&h, a.ExtCommunities)
	h.add(uint64(len(a.ASPath)))
	for _, s := range a.ASPath {
		h.add(uint64(s.Type))
		addSlice(&h, s.ASNs)
	}
	if a.OriginatorID.IsValid() {
		h.addr(a.OriginatorID)
	}
	return uint64(h)
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
