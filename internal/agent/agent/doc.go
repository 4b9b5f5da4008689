// SPDX-License-Identifier: Apache-2.0

// Package agent is the vrouter agent daemon (`contrail vrouter-agent`): it
// talks XMPP to up to two control nodes, serves the port API, and programs
// the host's kernel through the dataplane package, with DHCP (services)
// and security groups, network ACLs and floating-IP NAT (security) on top.
//
// # From config to kernel
//
// Config. The agent subscribes to the config of its virtual-router
// (default-global-system-config:<hostname>) on one control node at a time,
// the config peer, and to the virtual machine of every port. The control
// node sends the subgraph (VMs, VMIs, networks, instances, IPAMs,
// instance-ips, floating-ips, security groups, ACLs...) as nodes and links;
// the agent keeps them in a config DB that rebuilds model.Object values:
// properties in the API's JSON shape (decoded with a schema-driven
// xmpp.Shape), refs with their attributes (from the link-attribute nodes
// "attr(<from>,<to>)"), parent from the parent-child links, uuid from
// id_perms. When the config peer changes, what the new peer does not send
// again is swept once its config settles.
//
// Ports. A port (POST /port) is resolved against the config: its VMI (by
// the port's id), the VMI's network (VNI: virtual_network_network_id, or
// vxlan_network_identifier when global-vrouter-config says "configured"),
// the network's default routing instance <network fq-name>:<name>, its
// subnets and gateways (network_ipam_refs attributes), the VMI's
// instance-ips, MAC (virtual_machine_interface_mac_addresses), security
// groups (security_group_id) and floating IPs (floating-ip -> pool ->
// network). A port whose config is incomplete waits ("waiting for config")
// and is programmed when it arrives.
//
// Port add decisions: the tap (system-name) must exist (else 400); the VMI
// must be known: the agent subscribes to the port's VM and waits up to
// Config.PortConfigWait for the VMI to arrive; if it does not and the
// config peer's config is complete, the add is refused (400, "not in the
// config of virtual-router"); with no control node, or before the config
// is complete, the port is accepted and waits for its config (as the
// original agent does). A vn-id that is not the VMI's network is refused.
// Bad JSON, MACs, addresses or uuids are refused by the port API itself.
// A refused port is neither stored nor programmed. The device is set up
// during validation, so the kernel's link activation overlaps the rest.
//
// Routes. Every control node session subscribes to the routing instance
// of each local port's network and of each floating IP's network, and
// publishes, per port: inet <ip>/32 (inet6 <ip6>/128 where configured),
// EVPN <mac>,<ip>/32, and <floating ip>/32 in the floating network's
// instance; next hop = the tunnel IP, label = the network's VNI,
// encapsulation vxlan, virtual-network and security-group ids, local
// preference 100, sub-protocol interface. Changes are diffed per session,
// so only what changed is sent; after the config is complete the agent
// sends its End-of-RIB.
//
// Install (l3 and l2_l3 networks). Received inet routes of those instances become dataplane
// remote routes: tunnel endpoint = next-hop address, VNI = label (a route
// leaked from another network carries that network's VNI and leaves by
// its VXLAN device). The agent's own routes (its tunnel IP with the
// network's VNI) are skipped, local ports are routed to their device.
// Routes with a bad prefix, a next hop that is not IPv4, not vxlan or
// without a VNI label are logged and skipped; updates for an instance the
// session did not subscribe to are logged and skipped (and counted on
// Snh_AgentXmppConnectionStatusReq). Routes of both control nodes are
// merged (first come first served per prefix).
//
// Dataplane. One loop computes the desired dataplane.State from ports,
// config and routes and reconciles it when it differs from the last one
// applied; changes arriving meanwhile are gathered (debounced), so a burst
// of port adds costs a few reconciles. Anything the dataplane would refuse
// (a missing device, an address outside the subnets, VNI table clashes)
// is left out with a reason shown per port on Snh_ItfReq, so one bad port
// never blocks the others. DHCP and the firewall follow in their own loop.
//
// # Control nodes and headless mode
//
// With one control node gone the agent carries on with the other; its
// routes are dropped when the other has already sent End-of-RIB, else
// kept as stale. With both gone, every route stays (headless) and the
// kernel keeps forwarding. When one comes back the agent resubscribes,
// republishes, sends End-of-RIB, and drops the stale routes on the control
// node's End-of-RIB (or after StaleTimeout).
//
// # Restart
//
// After each successful reconcile the applied state is saved in
// DataDir/dataplane.json; ports are in DataDir/ports. At start the saved
// state is reconciled at once (which removes what a crashed run leaked and
// keeps forwarding what it had) and kept until the config is complete and
// a control node has sent End-of-RIB (or RestoreTimeout); then the state
// follows the control plane again.
//
// # Limits
//
//   - L2-mode networks (forwarding_mode l2) are bridged (dataplane L2):
//     ports and the VXLAN device in a bridge, remote MACs from the EVPN
//     routes of the instance, broadcasts replicated to the hosts that
//     advertise MACs of the network (there are no EVPN inclusive-multicast
//     routes). l2_l3 networks are routed (L3) only; their EVPN routes are
//     published but not used.
//   - IPv6: inet6 routes are published and installed (dual-stack and
//     IPv6-only ports, see the dataplane package); every address of a port
//     in a subnet with a gateway is routed to it (the first of each family
//     gets the gateway and DHCP, the others are Port.Extra). No
//     DHCPv6 or router advertisements: VMs get their IPv6 address elsewhere.
//   - ECMP: one next hop per received route (the lowest address).
//   - Services: DHCP (options from the subnet, the IPAM and the network),
//     the metadata proxy (with --metadata-proxy-upstream) and the DNS proxy
//     run per port. The DNS proxy knows the names of this host's VMs only
//     (there is no contrail-dns to ask for the others).
//   - Flows: the flow table (Snh_FetchAllFlowRecords) and the flow records
//     sent to the collector cover every connection through a port (the
//     firewall marks each, with its rule or the port alone) and the denied
//     ones (nflog).
//   - Fast path: established IPv4 TCP and answered UDP flows without NAT
//     are forwarded by an eBPF program (package fastpath) once conntrack
//     has them; the flow table offers them and adds the program's counters
//     to the records. Every dataplane or rule change flushes it
//     (Hold before the reconcile, SetDevices and Flush after, at most every
//     500 ms). --no-fastpath leaves every packet to the stack.
package agent
