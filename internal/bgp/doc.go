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
//     dials (unless passive) with exponential backoff, keeps each
//     neighbor's adj-RIB-out for replay when a session comes up or the
//     peer sends ROUTE-REFRESH, and reports Events.
//
// # Goroutines
//
// Speaker.Start runs in the caller's goroutine and starts:
//
//   - one accept goroutine, which hands each accepted connection to the
//     neighbor with the remote address (or closes it);
//   - one goroutine per neighbor, which loops Idle -> Connect/Active
//     (dial or wait for an accepted connection) -> Session.Run -> backoff;
//   - short-lived replay goroutines that queue the adj-RIB-out on a
//     session that just came up (Session.Send may block and only Run drains
//     its queue).
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
//  3. in each neighbor goroutine, Session.Run sees the cancellation, sends
//     NOTIFICATION Cease/Administrative Shutdown (6/2), closes the
//     connection and waits for its reader goroutine; dialling and backoff
//     waits return at once; blocked Sends fail with ErrSessionClosed;
//  4. Start waits for all neighbor and replay goroutines;
//  5. Start closes the Events channel and returns.
//
// Not yet implemented: connection collision resolution (an Established
// session wins, other connections are closed), graceful restart helper
// behaviour (the capability is only advertised), route-target constraint
// routes (the family is negotiated, its routes ignored), the EVPN PMSI
// tunnel attribute of type 3 routes, ADD-PATH, extended messages, and
// the bgp-router configuration that creates neighbors. Which paths go to
// which neighbor (split horizon, iBGP-to-iBGP without reflection, RT
// filtering) is the caller's decision: Advertise sends what it is given.
package bgp
