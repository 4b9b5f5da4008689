// Package dataplane programs the Linux kernel of a compute host so that it
// forwards the traffic of virtual networks the way the OpenContrail vRouter
// kernel module would, using only stock kernel features: VXLAN devices,
// routing tables, policy rules, proxy ARP and proxy NDP, and static
// neighbor/FDB entries. The overlay is dual stack (IPv4 and IPv6); the
// underlay (tunnel endpoints) is IPv4.
// It is the lowest layer of the vrouter agent: it knows nothing about XMPP
// and takes a plain desired State.
//
// # Kernel model
//
// Everything happens inside one network namespace (the host's), reached with
// a netlink handle opened at the namespace given to New. For every virtual
// network (one routing instance) with VNI v the dataplane keeps:
//
//   - a VXLAN device "vx<v>" (DeviceName): id v, UDP port 4789, local
//     address State.TunnelIP, bound to State.UnderlayDev, learning off, no
//     default remote, MAC address RouterMAC(TunnelIP) = 02:00:<tunnel IPv4>;
//   - a routing table TableForVNI(v) = 1000 + v%100000, used by both
//     families, holding "<port IP>/32 dev <port>" and "<port IP6>/128 dev
//     <port>" for each local port, "<prefix> via <prefix address> dev
//     vx<v> onlink" for each remote route (IPv4 or IPv6 prefix; IPv6
//     unicast routes carry metric 1024, the kernel's default), and
//     "unreachable default metric 0x7fffffff" in IPv4 and in IPv6, so a
//     miss never falls through to the main table (that is the tenant
//     isolation), and
//     "<subnet> via <subnet address> dev vx<v> onlink" for each subnet:
//     an address of the subnet with no route of its own is not forwarded
//     (that next hop never resolves on the VXLAN device), but proxy ARP
//     answers for it, so a VM that ARPs for
//     a peer before the peer's route is installed is not left waiting
//     for its ARP retry (a second). IPv4 subnets only: IPv6 has no proxy
//     for a whole prefix (see below);
//   - policy rules at priority 20000 (RulePriority), each in IPv4 ("ip
//     rule") and IPv6 ("ip -6 rule"): "iif <port> lookup <table>" for each
//     port and "iif vx<v> lookup <table>" for decapsulated traffic. Ports
//     without an IPv6 address have their IPv6 rule too, so their IPv6
//     traffic meets the unreachable default, not the main table.
//     Selecting the table by incoming interface is what lets two networks
//     use the same addresses without a VRF device (this kernel has none);
//   - on vx<v>: a permanent neighbor "<prefix address> lladdr <MAC>"
//     (IPv4 or IPv6, as the prefix) and a permanent FDB entry "<MAC> dst
//     <tunnel endpoint> self" per remote route. With no MAC given, MAC is
//     RouterMAC(tunnel endpoint): the inner frame is addressed to the
//     remote host's VXLAN device, which accepts it and routes it with its
//     own table (L3, vRouter style; no bridge). IPv4 and IPv6 routes to
//     one endpoint share the FDB entry.
//
// Each port (the host end of a VM's veth or tap, created by someone else)
// is set up; a port with an IPv4 address gets the gateway of its subnet as
// a /32 address (flagged IFA_F_NOPREFIXROUTE, so no route is added and the
// flag marks the address as ours) and has proxy_arp=1 with neigh
// proxy_delay=0 (the kernel would otherwise delay each proxied answer by up
// to 0.8 s), so the host answers ARP for the gateway and for every other
// address the network's table routes out of another device. VMs use a subnet-wide prefix and a default route via the
// gateway. net.ipv4.ip_forward is set to 1 as soon as a network exists.
//
// # IPv6
//
// A port with an IPv6 address (Port.IP6, alone or with Port.IP) gets the
// gateway of its IPv6 subnet as a /128 (IFA_F_NOPREFIXROUTE and
// IFA_F_NODAD), and the sysctls net.ipv6.conf.<port>.disable_ipv6=0,
// accept_dad=0 (its link-local address is usable at once; they are set
// before the port is brought up), accept_ra=0 (no router advertisement
// from a VM is taken), forwarding=1, proxy_ndp=1 and
// net.ipv6.neigh.<port>.proxy_delay=0. As soon as the state has IPv6 (a
// subnet, a port address or a route), net.ipv6.conf.all.forwarding=1 and
// net.ipv6.conf.all.proxy_ndp=1: the latter also makes the forwarding path
// hand unicast neighbor solicitations for a proxied address (a VM
// confirming a neighbor) to the local NDP instead of forwarding them to
// the remote VM, which would ignore them (hop limit below 255), so the
// VM's entry would fail.
//
// Linux proxies NDP per address only (there is no proxy for a prefix as
// proxy_arp does), so each port with an IPv6 address has one proxy entry
// "ip -6 neigh add proxy <addr> dev <port> protocol 222" (ProxyProtocol)
// per address of its IPv6 subnet that its table routes elsewhere: the IPv6
// addresses of the network's other local ports and every /128 route of the
// network (remote VMs, leaked local ports). The gateway is an address of
// the port and is answered without an entry. Entries follow the state:
// a withdrawn route or a port that goes takes its entries with it.
//
// The VMs' IPv6 address comes from elsewhere (static, SLAAC is not
// offered: no router advertisements are sent); a VM uses its subnet's
// prefix on-link and a default route via the gateway, as in IPv4.
//
// # L2 networks
//
// A Network with L2 set (forwarding_mode l2) is bridged instead: a bridge
// BridgeName(VNI) ("cbr<VNI>") holds its ports and its VXLAN device; there
// is no routing table, rule, gateway address or proxy ARP, and ports need
// no address. State.RemoteMACs become FDB entries "<MAC> dst <endpoint>"
// of the VXLAN device, and "00:00:00:00:00:00 dst <endpoint>" for each
// endpoint with a remote MAC replicates broadcasts (ARP) to it.
//
// # Ownership
//
// Reconcile reads the kernel back and changes only what it owns: VXLAN
// devices named DevicePrefix followed by digits, bridges named
// BridgePrefix followed by digits (and which bridge a port is in, for
// ports of the state), rules at RulePriority,
// routes in tables [TableBase, TableBase+TableSpan), permanent neighbors
// and FDB entries on owned devices, /32 IPv4 and /128 IPv6 addresses with
// IFA_F_NOPREFIXROUTE, and IPv6 proxy neighbor entries with protocol
// ProxyProtocol (on any device). Rules, routes and neighbors are owned in
// both families. Anything of these not in the desired state is a
// leftover (for example from a crashed run) and is deleted; anything else
// is never touched. A second Reconcile with the same state changes nothing
// and returns empty Changes.
//
// # Limits
//
//   - The underlay is IPv4 (tunnel IP and endpoints); the overlay is IPv4
//     and IPv6. On a kernel without IPv6 (ipv6.disable=1) only IPv4 objects
//     are made, and a state with IPv6 is refused.
//   - IPv6 proxy NDP answers only for the addresses listed above: a
//     remote IPv6 route shorter than /128 inside a VM's own subnet is
//     routed but not answered for (the VM sees the prefix on-link), and an
//     address with no route yet is not answered until the route comes
//     (the VM retries its solicitation). Proxy entries grow as ports times
//     addresses of their network.
//   - net.ipv6.conf.all.forwarding=1 makes the host a router on every
//     device: IPv6 router advertisements are then ignored on the host's
//     own devices (accept_ra=2 would be needed for an underlay using
//     SLAAC). Neither it nor all.proxy_ndp is ever turned off.
//   - No DHCPv6 or router advertisements for VMs (other layers).
//   - A port set down (admin) loses its IPv6 gateway address and proxy
//     entries (kernel behaviour); the next Reconcile puts them back.
//   - A RemoteRoute whose VNI is another network's (a route leaked by
//     policy or route targets) is routed in its network's table out of
//     vx<that VNI>; when no local network has that VNI a transit device
//     vx<VNI> is kept for it, with its own table holding only the
//     unreachable default and its iif rule, so nothing arriving on it
//     reaches the main table.
//   - A RemoteRoute MAC other than the peer host's RouterMAC only works
//     towards an L2 VTEP that accepts frames for that MAC.
//   - Remote routes of one network share next hops by prefix address; two
//     routes whose prefixes start at the same address must agree on the MAC.
//   - A Subnet's Service address (the DNS service address) is added to its
//     ports like the gateway, so that traffic to it is delivered to the
//     host (the agent's DNS proxy binds it on each port's device).
//   - The host does not answer traffic addressed to the gateway itself
//     (ping of the gateway): its replies are routed with the main table,
//     which knows no tenant addresses. ARP and NDP for the gateway work.
//   - Strict reverse-path filtering (rp_filter=1) is fine: the reverse
//     lookup sees the iif rules (tested).
//   - VM MTU must leave room for VXLAN: underlay MTU minus 50.
//   - Ports that leave the state keep proxy_arp, their IPv6 sysctls and
//     their up state (the port is not ours); their gateway addresses,
//     rules, routes and proxy entries go.
//     net.ipv4.ip_forward is never turned off.
//   - No ACLs, security groups, flows, ECMP, metadata or DHCP (other
//     layers); broadcast replication only in L2 networks.
package dataplane
