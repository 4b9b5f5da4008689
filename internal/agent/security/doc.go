// Package security enforces the security groups and network-policy ACLs of
// the vrouter agent's ports in the Linux kernel, statefully, with nftables
// and conntrack, and programs floating-IP NAT. It plays the part of the
// original vRouter's flow table and ACL evaluation; it takes a plain
// desired State, as the dataplane package does, and knows nothing of XMPP.
//
// # API
//
//	type Action int                       // Pass, Deny
//	type PortRange struct{ Min, Max int } // inclusive; the zero value {0,0} means any port (same as {0,65535})
//	type Endpoint struct {
//		Any      bool            // matches every address of the rule's ethertype
//		Prefixes []netip.Prefix  // subnet / subnet_list
//		SGID     int             // security_group_id; resolved through State.SGMembers
//		VN       string          // virtual network fq-name; resolved through State.VNPrefixes
//	}                             // an Endpoint with nothing set matches any address
//	type Rule struct {
//		UUID      string    // rule_uuid (may be empty; then the rule is known by its position)
//		Ethertype string    // "IPv4" (default when empty) or "IPv6"
//		Protocol  int       // IP protocol number; -1 = any
//		Src, Dst  Endpoint
//		SrcPorts, DstPorts PortRange
//		Action    Action
//		Direction string    // ">" or "<>" as in the ACL (informational: the schema
//		                    // transformer already expands "<>" into two entries)
//		Ingress   bool      // security-group rules only: true for an entry of the
//		                    // group's ingress-access-control-list, false for egress
//	}
//	func RulesFromACL(obj *model.Object) ([]Rule, error)
//		// decodes access_control_list_entries of an access-control-list object.
//		// Ingress is set when the object's name is "ingress-access-control-list".
//		// Entries that cannot be enforced (service chains, network_policy
//		// addresses left unresolved) are skipped and named in the error, which
//		// is then non-nil while the returned rules are still usable.
//
//	type FloatingIP struct {
//		Floating, Fixed netip.Addr // IPv4 only for now
//		FloatingTable   int        // routing table of the floating IP's network (dataplane.TableForVNI)
//		PortTable       int        // routing table of the port's network
//		FloatingDev     string     // device where traffic of the floating network arrives
//		                           // (its VXLAN device); informational: traffic to the
//		                           // floating address is translated whatever device it comes from
//	}
//	type Port struct {
//		Name          string       // host-side interface name of the port
//		VN            string       // fq-name of the port's virtual network
//		IPs           []netip.Addr // the port's fixed addresses
//		PolicyEnabled bool         // port_security_enabled; false: security groups are not applied
//		HasSGs        bool         // at least one security group is attached (implied by a non-empty
//		                           // SGRules; needed to say "groups attached but none has a rule")
//		SGRules       []Rule       // rules of all attached groups' ingress and egress ACLs
//		VNRules       []Rule       // the port's network ACL (first match); empty = no network ACL
//		FloatingIPs   []FloatingIP
//	}
//	type State struct {
//		Ports      []Port
//		SGMembers  map[int][]netip.Prefix    // security_group_id -> addresses of its members (/32, /128)
//		VNPrefixes map[string][]netip.Prefix // network fq-name -> its subnets
//	}
//
//	func New(log *slog.Logger, opts ...Option) (*Firewall, error)
//	func WithNetNS(ns netns.NsHandle) Option // default: the calling thread's namespace at New
//	func WithDenyLog(group uint16) Option    // deny rules also "log group G prefix \"<port> <kind> <uuid|->\""
//	                                         // (for flows.Config.DenyLogGroup); default off
//	func (f *Firewall) Reconcile(ctx context.Context, s State) error
//	func (f *Firewall) Counters() ([]RuleCounter, error)
//	func (f *Firewall) Resolve(mark uint32) (port, vn, ruleUUID string, ok bool) // for flows.Config.Resolve
//	func (f *Firewall) Close() error                     // closes the sockets; the kernel state stays, so ports stay
//	                                                     // protected while the agent restarts
//	func (f *Firewall) Delete(ctx context.Context) error // removes the table and the fwmark rules
//
//	const TableName = "contrail"; const RulePriority = 19000
//
//	type RuleCounter struct {
//		Port     string
//		Kind     string // "sg-ingress", "sg-egress", "vn-ingress", "vn-egress",
//		                // "deny-ingress", "deny-egress" (packets no rule allowed)
//		RuleUUID string // "" for the deny counters (one per port and direction: packets
//		                // no security-group rule allowed plus those no network-ACL entry matched)
//		Action   Action
//		Packets, Bytes uint64
//	}
//
// # Use
//
//	fw, err := security.New(log)                 // in the host namespace
//	port := security.Port{Name: "tapXXXX", VN: "d:p:vn", PolicyEnabled: true, HasSGs: len(sgs) > 0}
//	for _, sg := range sgs {                     // the VMI's security groups
//		for _, acl := range aclChildren(sg) {    // ingress-/egress-access-control-list
//			rules, err := security.RulesFromACL(acl) // err: skipped entries, log it
//			port.SGRules = append(port.SGRules, rules...)
//		}
//	}
//	port.VNRules, _ = security.RulesFromACL(vnACL) // the VN's child ACL named like the VN, if any
//	err = fw.Reconcile(ctx, security.State{Ports: ports,
//		SGMembers:  ...,                        // security_group_id -> /32s of VMs in the group: local VMIs'
//		                                        // instance IPs, and remote ones from the routes' security-group lists
//		VNPrefixes: ...})                       // every network named by a rule -> its subnets
//
// A port (interface) not in the State is not filtered at all: add it to
// the State before the dataplane brings it up (the interface need not
// exist yet; matching is by name).
//
// # Semantics (as the original)
//
// Directions are the VM's: ingress is traffic the host sends into the port
// device (to the VM), egress is traffic arriving from it.
//
//   - Connections are stateful: once the first packet of a connection was
//     allowed, the rest of it and its replies (conntrack established and
//     related) pass without evaluation.
//   - Network ACL (VNRules, the network policy ACL of the port's network) is
//     evaluated first, first match, pass or deny, on new connections in both
//     directions at the port; a connection between a VM of network A and one
//     of network B must be allowed by A's ACL at A's port and by B's ACL at
//     B's port. The schema transformer puts an implicit "own network -> own
//     network: pass" and "any -> any: deny" at the end of every network ACL;
//     a connection no entry matches is denied. A port with no VNRules has no
//     network ACL stage.
//   - Security groups are allow lists, applied after the network ACL when
//     PolicyEnabled and (HasSGs or SGRules not empty): an ingress
//     connection must match an ingress rule by its source (address,
//     protocol, source and destination port),
//     an egress connection must match an egress rule by its destination.
//     Remote addresses of a rule are its Prefixes, the members of SGID
//     (State.SGMembers) or the subnets of VN (State.VNPrefixes).
//     A port with PolicyEnabled but no security group (HasSGs false) is not
//     filtered by security groups, as the original agent; the API attaches
//     the rule-less "__no_rule__" group to such ports when drop-all is meant,
//     and a group without rules denies everything. PolicyEnabled false
//     (port security off) skips security groups; the network ACL still
//     applies, as in the original.
//   - Only forwarded traffic is filtered (hook forward): traffic between the
//     VM and the host itself (DHCP, DNS, metadata served by the agent) is not.
//   - Reconcile checks the whole State first: a bad port (interface name
//     of 16 bytes or more, duplicate name, IPv6 or out-of-range floating IP
//     tables) fails the call and nothing changes.
//   - Rule updates are in place: Reconcile changes only the set elements and
//     chains that differ, and never flushes conntrack. As the original
//     re-evaluates flows, connections are deleted from conntrack (found by
//     their connection mark) when the rule that allowed them is removed,
//     when their port is removed, and, for security-group rules whose
//     addresses or ranges changed (a remote group lost a member), when the
//     rule as it is now no longer matches them; a later packet of such a
//     connection is evaluated as new. Connections of other rules are
//     untouched.
//
// # Kernel layout
//
// One table "inet contrail" (TableName), owned entirely by this package:
//
//	chain forward     { type filter hook forward priority filter; policy accept
//	                    ct state established,related accept
//	                    iifname vmap @egress_ports    # jump eg-<port>
//	                    oifname vmap @ingress_ports } # jump in-<port>
//	chain eg-<port>   # network ACL, linear, first match, counters:
//	                  #   <match> counter ct mark set <mark> goto sgeg-<port>   (pass)
//	                  #   <match> counter drop                                  (deny)
//	                  #   counter drop                                          (no match)
//	                  # or just "goto sgeg-<port>" without a network ACL
//	chain sgeg-<port> # security groups:
//	                  #   meta nfproto ipv4 ct mark set ip daddr . meta l4proto . th sport . th dport map @eg4-<port>-<n> return
//	                  #     (no element matches: the lookup ends the rule, evaluation goes on)
//	                  #   ... the same per layer n and for ipv6 (ip6 daddr, @eg6-...) ...
//	                  #   counter drop                                     (deny-egress)
//	                  # empty (so: allow) when !PolicyEnabled or no group (!HasSGs, no SGRules)
//	chain in-<port>, sgin-<port>: the same for ingress, keyed by the source address.
//	map eg4-<port>-<n> { type ipv4_addr . inet_proto . inet_service . inet_service : mark;
//	                     flags interval; counter }   # one element per (rule, remote prefix)
//
// A security-group rule becomes interval elements (remote prefix, protocol
// range, source port range, destination port range) whose value is the
// connection mark of the rule; lookups are O(1) in the number of rules
// (pipapo). Overlapping elements cannot share a map, so rules are spread
// over "layers" (maps) in which no two elements overlap; usual groups need
// one layer. Element comments carry the rule uuid; element counters are the
// rule counters.
//
// With WithDenyLog(G) every drop above is preceded by "log prefix
// \"<port> <kind> <rule uuid or ->\" group G snaplen 128".
//
// "nft list ruleset" (nft 1.0.6) shows the whole table, with two quirks of
// display only: mark values of the maps appear byte-swapped and the keys of
// egress_ports/ingress_ports appear as "" (the sets carry no nft type
// metadata); element comments name the rule and the target chain.
//
// Connection marks (ct mark) say which port and rule allowed a connection:
// bits 31..20 the port's slot (1..4095), bit 19 set for a security-group
// rule, bits 18..0 the rule's index within the port; index 0 is the port
// alone, set by eg-<port>/in-<port> of a port without a network ACL, so
// that every connection of a port is marked even when no rule is. Each allowing stage
// writes it, so the last one wins (for a connection between two local
// ports: the receiving port's ingress stage). Resolve decodes it; marks
// stay stable across Reconciles and restarts. The flows package reads it
// from conntrack events.
//
// Every rule carries a comment "<kind> <rule key> m=<mark> h=<hash>" and
// every security-group element a comment "<kind> <rule key>"; the rule key
// is "<kind>/<rule uuid>" (or "<kind>/#<position>" without a uuid). They are
// how Reconcile compares the kernel with the desired state (a chain is
// rewritten only when its list of comments differs; elements are diffed
// one by one, so counters of unchanged rules survive), how Counters groups
// counters per rule, and how a new Firewall (agent restart) recovers the
// port slots and rule indexes of existing connection marks. The first
// Reconcile of a Firewall reads the whole table back and removes anything
// it would not have written (chains and maps of ports that are gone,
// rules added by hand); later ones diff against what they wrote last,
// after a cheap check (the table's use count) that the table and all its
// chains and maps are still there; if not, they read it back too. Rules or
// elements changed by hand in a table that is otherwise intact are
// repaired only by a new Firewall.
//
// Floating IPs (IPv4), in the same table; the three chains exist only
// while some port has a floating IP (the maps always):
//
//	chain fip_mark { type filter hook prerouting priority mangle
//	                 ct direction reply ct status dnat meta mark set ip saddr map @fip_reply_mark
//	                 meta mark set ip daddr map @fip_in_mark }
//	chain fip_dnat { type nat hook prerouting priority dstnat
//	                 dnat ip to ip daddr map @fip_dnat }
//	chain fip_unmark { type filter hook postrouting priority mangle
//	                 meta mark 0x0cf00000/12 oifname "vx*" meta mark set 0 }
//	map fip_in_mark    { floating address -> 0x0cf00000|PortTable }
//	map fip_reply_mark { fixed address    -> 0x0cf00000|FloatingTable }
//	map fip_dnat       { floating address -> fixed address }
//
// with policy rules "fwmark 0x0cf00000|T lookup T" at priority
// RulePriority (19000) for every table T used; the package owns
// priorities 19000-19999 (IPv4) and removes any other rule it finds there.
// Traffic to a floating address, from whatever device, is marked for the
// port's table before DNAT, so it is routed to the port, where the port's
// ingress rules apply to it (with the fixed address as destination);
// replies of DNATed connections from the fixed address are marked for the
// floating network's table.
//
// # Cost per packet
//
// Every packet the host forwards, in either direction and whatever its
// state, pays conntrack and one run of every chain hooked where it passes;
// a nat chain also makes the kernel run its NAT hooks on every packet. So
// the table hooks only forward unless floating IPs need more, and the first
// rule of forward accepts established traffic: rules, maps and counters of
// the ports are met by the first packets of a connection only. Counters
// therefore count the packets that set up connections (mostly one per
// connection and direction), not their traffic; the traffic of a
// connection is in conntrack's accounting (flow records). A flowtable
// (software fast path for established connections) would also skip
// routing and conntrack's per-packet work, but the kernel this was measured
// on (6.18, built without CONFIG_NF_FLOW_TABLE) cannot have one.
//
// # Limits
//
//   - Floating IPs: IPv4 only; one floating network per fixed address for
//     the replies (fip_reply_mark is keyed by the fixed address); no SNAT
//     of VM-initiated connections to the floating address. Connections
//     through a floating IP skip the port network's ACL ("ct status dnat
//     goto sgin-<port>" first in in-<port>) and meet only the port's
//     security groups; the original applies the floating network's
//     policy, which is not done here.
//   - State.VNPrefixes must hold every network the rules name, the port's
//     own included: a network without prefixes matches nothing (so the
//     implicit "own network: pass" entry of a network ACL would not pass).
//   - Port.IPs is not used: no anti-spoofing of source addresses.
//   - Re-evaluation covers the rule recorded in the connection mark only
//     (the last stage, see below): a changed network-ACL entry (same uuid)
//     or a changed egress rule of the sending port of a local-to-local
//     connection does not cut connections already allowed.
//   - The connection mark names one stage: when both a network ACL rule and
//     a security-group rule allowed a connection, the security-group rule.
//   - A port name must be a valid interface name (below 16 bytes); at most
//     4095 ports and 2^19-1 rules per port.
//   - Traffic the host itself sends to or receives from a port is not
//     filtered (DHCP, DNS and metadata are served by the agent).
//   - One conntrack zone: two networks that use the same addresses on one
//     host share conntrack state for identical 5-tuples (zones per network
//     would need the network of every device, and floating IPs crossing
//     zones; not done).
//   - Resolve and Counters wait while a Reconcile runs (one mutex).
package security
