// SPDX-License-Identifier: Apache-2.0

// Package bgp is the control node's BGP speaker: sessions with routers
// and other control nodes for the inet-vpn (l3vpn-ipv4-unicast),
// inet6-vpn (l3vpn-ipv6-unicast) and e-vpn (l2vpn-evpn) families, plus
// the route-target constraint capability.
//
// The wire format is github.com/osrg/gobgp/v4/pkg/packet/bgp (the packet
// package only). This package adds:
//
//   - translation between UPDATE messages and PathChange values keyed as
//     the RIB's VPN tables are (DecodeUpdate, DecodeUpdateMessage,
//     EncodeUpdates), with iBGP, eBGP and route reflection attribute rules
//     (ORIGINATOR_ID/CLUSTER_LIST for paths whose FromPeer is set, and loop
//     detection on receive);
//   - Session, the RFC 4271 FSM from OpenSent to Established over one
//     net.Conn: OPEN and capabilities, hold time negotiation, keepalives,
//     the hold timer, NOTIFICATIONs for decode errors (the code and subcode
//     of gobgp's MessageError), RFC 7606 treat-as-withdraw and the
//     per-family prefix limit;
//   - Speaker, which owns the sessions of configured neighbors: it listens,
//     dials (unless passive) with exponential backoff and jitter, resolves
//     connection collisions (RFC 4271 6.8: an Established session wins,
//     otherwise the connection opened by the higher BGP identifier), keeps
//     each neighbor's adj-RIB-out for replay when a session comes up or the
//     peer sends ROUTE-REFRESH, and reports Events. Neighbors are added,
//     changed (SetNeighbor: a reset only when the change needs one) and
//     removed (Cease/Peer De-configured) at run time;
//   - what goes to which neighbor: a path is never sent back to the
//     neighbor it came from, an iBGP-learned path goes to iBGP neighbors
//     only with a cluster id (route reflection, ORIGINATOR_ID and
//     CLUSTER_LIST on send, loop detection on receive), eBGP loop
//     detection with a loop count and AS override;
//   - route-target constraint (RFC 4684): SetRouteTargets originates
//     membership routes for our instances' import targets (the default
//     route until it is called); towards a neighbor that negotiated the
//     family only the VPN routes whose targets it asked for are sent, the
//     difference follows its membership changes, and the VPN End-of-RIB
//     waits for its route-target End-of-RIB;
//   - graceful restart: the capability (with the peer's restart time and
//     End-of-RIB markers both ways); as a helper the speaker reports, in
//     EventDown, the restart time during which the caller keeps the
//     peer's routes as stale, and EventEndOfRIB, after which it sweeps
//     them; as a restarting speaker (Config.Restarting) it sets the
//     Restart State bit and forwarding-state flags and holds its VPN
//     End-of-RIB back until EndRestart.
//
// # Goroutines
//
// Speaker.Start runs in the caller's goroutine and starts:
//
//   - one accept goroutine, which hands each accepted connection to the
//     neighbor with the remote address (or closes it);
//   - one goroutine per neighbor, which dials (Connect) and waits
//     (Active) with backoff, and starts a goroutine running Session.Run
//     for each dialled or accepted connection (two may run while a
//     collision is resolved); it reports EventDown when one that was
//     Established ends;
//   - short-lived goroutines that queue the adj-RIB-out on a session that
//     just came up, was asked for a refresh, or changed its route-target
//     membership (Session.Send may block and only Run drains its queue).
//
// Session.Run owns the connection's write side and all session state; it
// starts one reader goroutine, the only reader of the connection.
// Received paths and session state changes reach Speaker.Events from the
// session goroutine, so a consumer that stops reading Events stalls
// the sessions (backpressure), never loses events.
//
// # Shutdown order
//
// Cancelling the context given to Start:
//
//  1. marks the speaker stopping (AddNeighbor fails from then on);
//  2. closes the listener, and waits for the accept goroutine;
//  3. each session sees the cancellation, sends NOTIFICATION
//     Cease/Administrative Shutdown (6/2), closes the connection and waits
//     for its reader goroutine; dialling and backoff waits return at once;
//     blocked Sends fail with ErrSessionClosed; the neighbor goroutine
//     waits for its sessions;
//  4. Start waits for all neighbor and replay goroutines;
//  5. Start closes the Events channel and returns.
//
// Not yet implemented: long-lived graceful restart, RFC 8538 (the N bit
// is advertised, but a NOTIFICATION still ends the helper's wait), re-advertising peers' route-target
// membership routes (a route reflector only originates its own), partial
// membership prefixes (treated as the default route), the EVPN PMSI
// tunnel attribute of type 3 routes, ADD-PATH, extended messages and the
// inet/inet6 unicast families.
package bgp
