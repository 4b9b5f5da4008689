// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"cmp"
	"net/netip"
)

// Path is one way to reach a route's key: a primary path added by a peer,
// or a copy of one (a VRF path exported to a VPN table, a VPN path
// imported into a VRF), which remembers its source.
//
// The RIB never changes what a Path's accessors return, except Stale: an
// update replaces the Path with a new one. Paths handed out by Drain and
// the queries may therefore be kept, but they stop being current when a
// later notification replaces them.
type Path struct {
	route *route
	src   *Path // the path this one is a copy of; nil for a primary path
	attrs *Attrs
	links *pathLinks // nil for a VRF path imported from a VPN table
	peer  PeerID
	label uint32
	flags pathFlags
}

// pathLinks are the links of paths that have dependents or sit on a
// peer's list. Imported VRF paths, the most numerous when instances are
// meshed, have none and stay at 48 bytes.
type pathLinks struct {
	prevPeer, nextPeer *Path   // primary paths: the peer's list
	exported           *Path   // VRF primary path: its VPN copy
	imports            []*Path // VPN path: its VRF copies
}

type pathFlags uint8

const (
	flagStale        pathFlags = 1 << iota // primary path marked by MarkStale
	flagMEDDominated                       // loses on MED within its neighbor AS (see medGroups)
)

// Peer returns the peer that added the path or, for a copy, its source.
func (p *Path) Peer() PeerID { return p.peer }

// Label returns the MPLS label or VNI. It lives in the Path rather than in
// Attrs because agents allocate one per interface while everything else is
// shared by the interfaces of a VRF, as in the original (BgpPath::label).
func (p *Path) Label() uint32 { return p.label }

// Attrs returns the path's attributes; they are shared and must not be
// modified.
func (p *Path) Attrs() *Attrs { return p.attrs }

// NextHop returns Attrs().NextHop.
func (p *Path) NextHop() netip.Addr { return p.attrs.NextHop }

// Stale reports whether the path, or the primary path it was copied from,
// is marked stale by MarkStale.
func (p *Path) Stale() bool { return p.Primary().flags&flagStale != 0 }

// IsReplicated reports whether p is a copy of another path (exported or
// imported) rather than a path a peer added.
func (p *Path) IsReplicated() bool { return p.src != nil }

// Source returns the path p was copied from: the VRF path for an exported
// VPN path, the VPN path for an imported VRF path; nil for primary paths.
func (p *Path) Source() *Path { return p.src }

// Primary returns the path a peer added that p derives from (p itself for
// a primary path).
func (p *Path) Primary() *Path {
	for p.src != nil {
		p = p.src
	}
	return p
}

// Key returns the key of the route the path belongs to.
func (p *Path) Key() Key { return p.route.key }

// Family returns the family of the path's table.
func (p *Path) Family() Family { return p.route.tbl.fam }

// Instance returns the name of the path's instance (MasterInstance for
// VPN tables).
func (p *Path) Instance() string { return p.route.tbl.inst.name }

// SourceInstance returns the instance of the primary path p derives from:
// the VRF an agent published it in, or MasterInstance for a path learned
// from a BGP peer in a VPN table.
func (p *Path) SourceInstance() string { return p.Primary().Instance() }

// SourceRD returns the RD the path was exported with: Attrs().SourceRD or,
// for a path imported from a BGP-learned VPN route, that route's RD.
func (p *Path) SourceRD() RD {
	if rd := p.attrs.SourceRD; rd != 0 {
		return rd
	}
	for q := p; q != nil; q = q.src {
		if rd := q.route.key.rd; rd != 0 && q.route.tbl.inst.master {
			return rd
		}
	}
	return 0
}

// compare orders two paths of one route for best-path selection; it
// returns a negative number when a is better. The steps follow the
// original's BgpPath::PathCompare (bgp_path.cc), minus the attributes this
// RIB does not model (feasibility flags, E-Tree leaf, aliasing,
// origin-vn-path of service chains):
//
//  1. higher LOCAL_PREF
//  2. sticky MAC (mobility sticky bit) over non-sticky
//  3. higher MAC mobility sequence number
//  4. without the LLGR_STALE community over with it
//  5. shorter AS_PATH (AS_SET counts 1, confederation segments 0)
//  6. lower ORIGIN (IGP < EGP < INCOMPLETE)
//  7. lower MED, if both paths have the same non-zero neighbor AS (or
//     always, with WithAlwaysCompareMED). To keep the order total this is
//     done as with deterministic MED: a path that loses on MED to a path
//     of its neighbor AS that is equal in steps 1-6 is marked
//     MED-dominated (see medGroups) and sorts after the unmarked ones;
//     marked paths sort by neighbor AS, then MED
//
// Paths equal up to here are ECMP: the best path and every path equal to
// it through step 7 form the route's best set, whose next hops an update
// carries. The remaining steps only pick the order inside that set (the
// first path's attributes are the route's attributes) and the order of
// the other paths:
//
//  8. locally generated (PeerLocal) over learned from a peer
//  9. learned over XMPP over learned over BGP
//  10. eBGP over iBGP
//  11. lower router id, using ORIGINATOR_ID instead when present
//  12. shorter CLUSTER_LIST
//  13. lower peer address
//  14. a primary path over a copy, then lower source RD (the same agent's
//     route imported from two of its VRFs), so the order is total
//
// With ecmp set, compare stops after step 7.
func (r *RIB) compare(a, b *Path, ecmp bool) int {
	aa, ba := a.attrs, b.attrs
	if aa != ba {
		if c := compareTier(aa, ba); c != 0 {
			return c
		}
		if r.alwaysCompareMED {
			if c := cmp.Compare(aa.MED, ba.MED); c != 0 {
				return c
			}
		}
	}
	da, db := a.flags&flagMEDDominated != 0, b.flags&flagMEDDominated != 0
	if c := preferTrue(!da, !db); c != 0 {
		return c
	}
	if da && db && aa != ba {
		if c := cmp.Compare(aa.neighborAS, ba.neighborAS); c != 0 {
			return c
		}
		if c := cmp.Compare(aa.MED, ba.MED); c != 0 {
			return c
		}
	}
	if ecmp {
		return 0
	}
	ka, kb := a.peer.Kind(), b.peer.Kind()
	if c := preferTrue(ka == PeerLocal, kb == PeerLocal); c != 0 {
		return c
	}
	if c := preferTrue(ka == PeerXMPP, kb == PeerXMPP); c != 0 {
		return c
	}
	pa, pb := &r.peers[a.peer.slot()], &r.peers[b.peer.slot()]
	if ka == PeerBGP && kb == PeerBGP {
		if c := preferTrue(pa.info.External, pb.info.External); c != 0 {
			return c
		}
	}
	ida, idb := pa.routerID, pb.routerID
	if aa.OriginatorID.Is4() {
		ida = addr4(aa.OriginatorID)
	}
	if ba.OriginatorID.Is4() {
		idb = addr4(ba.OriginatorID)
	}
	if c := cmp.Compare(ida, idb); c != 0 {
		return c
	}
	if c := cmp.Compare(len(aa.ClusterList), len(ba.ClusterList)); c != 0 {
		return c
	}
	if c := pa.info.Addr.Compare(pb.info.Addr); c != 0 {
		return c
	}
	if c := preferTrue(a.src == nil, b.src == nil); c != 0 {
		return c
	}
	return cmp.Compare(a.SourceRD(), b.SourceRD())
}

// compareTier compares steps 1-6 of the best-path order.
func compareTier(aa, ba *Attrs) int {
	if c := cmp.Compare(ba.LocalPref, aa.LocalPref); c != 0 {
		return c
	}
	if c := preferTrue(aa.Mobility.Sticky, ba.Mobility.Sticky); c != 0 {
		return c
	}
	if c := cmp.Compare(ba.Mobility.Seq, aa.Mobility.Seq); c != 0 {
		return c
	}
	if c := preferTrue(!aa.llgrStale, !ba.llgrStale); c != 0 {
		return c
	}
	if c := cmp.Compare(aa.asPathLen, ba.asPathLen); c != 0 {
		return c
	}
	return cmp.Compare(aa.Origin, ba.Origin)
}

// preferTrue orders true before false.
func preferTrue(a, b bool) int {
	if a == b {
		return 0
	}
	if a {
		return -1
	}
	return 1
}

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// NextHop is one next hop of an ECMP update.
type NextHop struct {
	Addr           netip.Addr
	Label          uint32
	Encap          Encap
	VirtualNetwork string
	MAC            MAC
	Tags           []uint32 // shared with the path's Attrs; do not modify
}

// NextHops returns the distinct next hops, by address and label, of a best
// set as Drain reports it, in best-path order: what the original puts in
// the <next-hops> list of an XMPP update. Paths that reach the same
// vrouter through two control nodes count once.
func NextHops(best []*Path) []NextHop {
	out := make([]NextHop, 0, len(best))
next:
	for _, p := range best {
		a := p.attrs
		for _, nh := range out {
			if nh.Addr == a.NextHop && nh.Label == p.label {
				continue next
			}
		}
		out = append(out, NextHop{Addr: a.NextHop, Label: p.label, Encap: a.Encap,
			VirtualNetwork: a.VirtualNetwork, MAC: a.RouterMAC, Tags: a.Tags})
	}
	return out
}
