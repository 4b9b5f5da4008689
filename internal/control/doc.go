// SPDX-License-Identifier: Apache-2.0

// Package control is the control node (the original's contrail-control)
// towards the compute nodes: an XMPP server for vrouter agents that takes
// their routes into per-instance tables, leaks them between instances by
// route target, sends every agent the routes of the instances it
// subscribed to, and pushes each agent the part of the config graph that
// its virtual-router reaches.
//
// Towards routers and other control nodes it runs the BGP speaker of
// package bgp (bgp.go): its own bgp-router object gives the listen
// address, AS and identifier, the bgp-router links (bgp-peering with
// session attributes) give the neighbors, and both are re-read while it
// runs, so a peering added, changed or removed through the API takes
// effect without a restart. Instance routes go out as inet-vpn and e-vpn
// with the instances' route targets and come back into every instance
// that imports one of them; route-target membership (RTC) limits what a
// peer is sent.
//
// Ownership: one event loop goroutine owns the RIB, the sessions' routing
// subscriptions and the instance configuration; sessions and the config
// follower talk to it by posting closures (Server.post). Each session has
// a reader goroutine (decodes stanzas, posts them) and a writer goroutine
// (drains an unbounded but capped output queue, sends keepalives), so a
// slow agent never blocks the loop or another agent.
//
// Shutdown order (Start returns after all of it): stop accepting, close
// every session (their goroutines end), stop the config follower, stop the
// loop, stop the introspect server.
package control
