// SPDX-License-Identifier: Apache-2.0

// Package fastpath is the agent's eBPF fast path, the part of the
// original vrouter's flow table that makes forwarding cheap once a flow is
// known: a tc (tcx) ingress program on port and tunnel devices that looks
// a packet's 5-tuple and ingress device up in a hash map and, on a hit,
// rewrites the MACs, decrements the TTL and redirects the packet to the
// flow's output device, past routing, nftables and conntrack.
//
// Conntrack stays the authority. A flow enters the map only once
// conntrack has it ESTABLISHED (TCP) or answered (UDP), with a port's
// connection mark (so the port's rules accepted it) and no NAT; its two
// directions are resolved with the kernel's own route and neighbour
// lookups from the port's device. SYN, FIN and RST always go through the
// stack, so conntrack sees connections open and close, and the flow
// leaves the map when conntrack's state moves on or the entry is
// destroyed (a rule that no longer allows it deletes it). Any change of
// routes, ports or rules flushes the map; the flow table offers the flows
// still in conntrack again. The fast path keeps offloaded UDP flows alive
// in conntrack and counts packets and bytes per direction, which the flow
// records add to conntrack's.
//
// The program is built with cilium/ebpf's assembler (no C toolchain),
// and attached to a device when the first flow through it is offloaded:
// a tcx attach takes the RTNL lock through an RCU grace period, which a
// burst of port adds must not pay. Links are tied to the agent process, so
// a stopped agent leaves forwarding to the stack, which still has every
// flow in conntrack.
package fastpath
