// SPDX-License-Identifier: Apache-2.0

// Package rib is the control node's routing information base: routing
// instances (VRFs) with inet, inet6 and evpn tables, the master VPN tables
// (bgp.l3vpn.0, bgp.l3vpn-inet6.0, bgp.evpn.0), route target based
// export and import between them, best-path and ECMP selection, and a
// queue of changed routes that the owner drains to build XMPP and BGP
// updates.
//
// The package is pure: no sockets, goroutines, timers or logging. A RIB
// is not safe for concurrent use; the control node's event loop owns it,
// as gobgp's server loop owns its table manager.
//
// # Model (as the original control node, notes A3-A5 and B)
//
//   - A peer (an XMPP agent, a BGP neighbor, or a local source such as
//     static routes) is registered with AddPeer and gets a PeerID.
//   - An agent publishing a route is AddPath(instance, family, key, peer,
//     label, attrs). The path is exported to the VPN table of the family
//     with RD attrs.SourceRD, which the caller sets to
//     <vrouter-ip>:<instance-id> (RDFromAddr), so that each vrouter's
//     route stays distinct there, and with the instance's export route
//     targets.
//   - A route from a BGP peer is AddVPNPath(family, key-with-RD, ...).
//   - Every VPN path, exported or learned, is imported as a secondary
//     path into every instance whose import targets intersect its route
//     targets, except the instance it was exported from. Changing an
//     instance's targets, creating or deleting it re-runs export and
//     import for the routes concerned.
//   - Each route keeps its paths in best-path order (see the order on
//     (*RIB).compare in path.go, summarised below) and its ECMP best set.
//   - Mutations queue the routes whose best set changed; Drain reports
//     each once with its final best set (empty: withdraw).
//   - DeletePeerPaths, MarkStale and SweepStale act on one peer's paths
//     in time proportional to their number (peer down, graceful restart).
//
// Best-path order (the original's BgpPath::PathCompare): higher
// local-preference; sticky MAC; higher mobility sequence number; no
// LLGR_STALE; shorter AS path; lower origin; lower MED within one neighbor
// AS (evaluated as with deterministic MED, so that the order does not
// depend on arrival) — paths equal so far are ECMP — then local over XMPP
// over BGP, eBGP over iBGP, lower router id (or originator id), shorter
// cluster list, lower peer address.
//
// Attributes are interned (see Attrs): paths that share attributes share
// one copy, and the MPLS label, which differs per interface, lives in the
// Path.
//
// # Usage
//
//	r := rib.New()
//	r.SetInstance(rib.InstanceConfig{Name: "default-domain:admin:vn1:vn1",
//		ImportTargets: []rib.RouteTarget{rt1}, ExportTargets: []rib.RouteTarget{rt1}})
//	agent, _ := r.AddPeer(rib.PeerInfo{Kind: rib.PeerXMPP, Name: "compute-1", Addr: vhost})
//	r.AddPath("default-domain:admin:vn1:vn1", rib.Inet, rib.PrefixKey(vmPrefix), agent, 16,
//		&rib.Attrs{NextHop: vhost, Encap: rib.EncapGRE | rib.EncapUDP, SourceRD: rib.RDFromAddr(vhost, 1)})
//	r.Drain(0, func(inst string, fam rib.Family, key rib.Key, best []*rib.Path) {
//		// send key.ItemID() with rib.NextHops(best) to the agents subscribed to inst,
//		// or a retract when best is empty
//	})
//
// # Differences from the original
//
//   - The original replicates only the ECMP-eligible paths of a route
//     from a VRF to the VPN table and from there to other VRFs; this RIB
//     exports every primary VRF path and imports every VPN path. Best sets
//     come out the same; VPN tables (and so BGP peers) and introspect also
//     see backup paths.
//   - MED is compared as with deterministic MED (see above); the original
//     compares pairwise, so its order can depend on arrival.
//   - Attributes the RIB does not model take no part in selection:
//     feasibility flags (AS path loops, unresolved next hops, policy
//     rejects), E-Tree leaf, aliasing, origin-vn-path of service chains.
package rib
