// Package dataplane programs the Linux kernel of a compute host so that it
// forwards the traffic of virtual networks the way the OpenContrail vRouter
// kernel module would, using only stock kernel features: VXLAN devices,
// routing tables, policy rules, proxy ARP and static neighbor/FDB entries.
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
//   - a routing table TableForVNI(v) = 1000 + v%100000, holding
//     "<port IP>/32 dev <port>" for each local port, "<prefix> via
//     <prefix address> dev vx<v> onlink" for each remote route, and
//     "unreachable default metric 0x7fffffff", so a miss never falls
//     through to the main table (that is the tenant isolation), and
//     "<subnet> via <subnet address> dev vx<v> onlink" for each subnet:
//     an address of the subnet with no route of its own is not forwarded
//     (that next hop never resolves on the VXLAN device), but proxy ARP
//     answers for it, so a VM that ARPs for
//     a peer before the peer's route is installed is not left waiting
//     for its ARP retry (a second);
//   - policy rules at priority 20000 (RulePriority): "iif <port> lookup
//     <table>" for each port and "iif vx<v> lookup <table>" for decapsulated
//     traffic. Selecting the table by incoming interface is what lets two
//     networks use the same addresses without a VRF device (this kernel has
//     none);
//   - on vx<v>: a permanent neighbor "<prefix address> lladdr <MAC>" and a
//     permanent FDB entry "<MAC> dst <tunnel endpoint> self" per remote
//     route. With no MAC given, MAC is RouterMAC(tunnel endpoint): the inner
//     frame is addressed to the remote host's VXLAN device, which accepts it
//     and routes it with its own table (L3, vRouter style; no bridge).
//
// Each port (the host end of a VM's veth or tap, created by someone else)
// is set up, gets the gateway of its subnet as a /32 address (flagged
// IFA_F_NOPREFIXROUTE, so no route is added and the flag marks the address
// as ours) and has proxy_arp=1 with neigh proxy_delay=0 (the kernel would
// otherwise delay each proxied answer by up to 0.8 s), so the host answers ARP for the gateway and
// for every other address the network's table routes out of another
// device. VMs use a subnet-wide prefix and a default route via the
// gateway. net.ipv4.ip_forward is set to 1 as soon as a network exists.
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
// and FDB entries on owned devices, and /32 IPv4 addresses with
// IFA_F_NOPREFIXROUTE. Anything of these not in the desired state is a
// leftover (for example from a crashed run) and is deleted; anything else
// is never touched. A second Reconcile with the same state changes nothing
// and returns empty Changes.
//
// # Limits
//
//   - IPv4 only, overlay and underlay.
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
//   - The host does not answer traffic addressed to the gateway itself
//     (ping of the gateway): its replies are routed with the main table,
//     which knows no tenant addresses. ARP for the gateway works.
//   - Strict reverse-path filtering (rp_filter=1) is fine: the reverse
//     lookup sees the iif rules (tested).
//   - VM MTU must leave room for VXLAN: underlay MTU minus 50.
//   - Ports that leave the state keep proxy_arp and their up state (the
//     port is not ours); their gateway address, rules and routes go.
//     net.ipv4.ip_forward is never turned off.
//   - No ACLs, security groups, flows, ECMP, metadata or DHCP (other
//     layers); broadcast replication only in L2 networks.
package dataplane
