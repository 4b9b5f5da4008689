// SPDX-License-Identifier: Apache-2.0

// Package transformer is the schema transformer (`contrail schema`, also
// inside `contrail all-in-one`), the original's contrail-schema: it turns
// what users configure into what the control nodes and vrouters need, and
// writes it through the config API as the original does.
//
// # What it derives
//
//   - Virtual network: its primary routing instance (<vn-fq>:<vn>, created
//     by the API with the network) gets a route target from the system
//     range, target:<global ASN>:<n> with n from 8000000 (2-byte ASN) or
//     8000 (4-byte), referred import and export (route_target_refs with an
//     InstanceTargetType attr; no import_export field means both). The
//     network's route_target_list, import_route_target_list and
//     export_route_target_list are added with their direction and removed
//     when removed from the lists; their route-target objects are created
//     when missing. Names that are malformed or in the system range are
//     bad input.
//   - Network policies attached to networks (network_policy_refs, applied
//     in the order of the ref's sequence): one access-control-list child of
//     the network, named after it, with every rule resolved (network names
//     to fq-names, "local" to the network, network_policy addresses to the
//     networks that policy is attached to, security groups to their
//     security_group_id, subnets kept, protocol names to numbers), one ACL
//     rule per address and port pair, a reversed one for "<>", then the
//     implicit rules: allow inside the network (rule uuid
//     00000000-0000-0000-0000-100000000001) and deny the rest
//     (...-100000000002). A network without policies has no ACL.
//   - Connectivity: a pass rule without services that lets network A reach
//     B makes A want B; when B's own policies also want A, the primary
//     routing instances of A and B refer to each other (routing_instance_refs,
//     ConnectionType) and each imports the other's route target, so the
//     control node leaks routes between them. Connections are pairwise and
//     never transitive, so cyclic policies (A-B, B-C, C-A) are just three
//     connections.
//   - Security group: children ingress-access-control-list and
//     egress-access-control-list; a rule whose destination is "local" is an
//     ingress rule matching its source, one whose source is "local" an
//     egress rule; other groups named in a rule become their ids, and the
//     ACLs follow when such a group appears, changes or goes.
//   - Logical router: its own system route target (route_target_refs of the
//     router), added with its configured_route_target_list to the primary
//     routing instance of every network attached to it (through a router
//     interface, or a virtual_network_refs entry of type
//     InternalVirtualNetwork).
//   - Route tables referred to by a network (or by a router attached to
//     it): their ip-address routes become static_route_entries of the
//     network's primary routing instance, tagged with its route target.
//   - BGP mesh: with ibgp_auto_mesh on the global system config (absent
//     means true, the schema default), every pair of control-node
//     bgp-routers in the global AS is peered: one ref (relaxed for delete),
//     held by the router whose fq-name sorts first.
//
// Service chains are left for the service monitor issue. Room for them: a
// service-instance reconciler is one more entry of kinds, and the targets
// and connections of a network's routing instances are all computed in
// planNetwork, which is where the chain's service routing instances and
// their service_chain_information will join.
//
// # How it reconciles
//
// Level-triggered, as controller-runtime's reconcilers: a key
// ("<type>:<uuid>") carries no event payload, and its reconcile reads the
// current state from an in-memory config graph (confgraph, fed by
// store.Follow), computes what the derived objects must be, and writes only
// the difference. Every read goes through a view that records what it read
// (objects, fq-names, whole types); those become the key's dependencies,
// so a change to anything a reconcile looked at queues it again. A
// restart, a missed event or a second run therefore changes nothing that
// is already right; a new leader queues every key once and makes no write
// when everything is in place.
//
// The work queue holds each key once; a key that changes while a worker
// has it runs again afterwards, never in two workers at once. Failures are
// retried with exponential backoff (50 ms up to MaxBackoff); an error the
// API answers with 400 or 403 is terminal: it is logged and shown, and the
// key runs again only when something it depends on changes. After a
// reconcile that wrote, the key waits until the graph shows the store's
// revision of that moment before it runs again, so it never acts on a view
// older than its own writes.
//
// # Bad input: where the error state lives
//
// Policies naming missing networks or groups, unknown protocols, malformed
// route targets or targets in the system range, an exhausted route-target
// range: the object concerned gets the annotation (annotations
// key_value_pair) with key "schema-transformer-error" and a readable
// message, set and removed with /prop-collection-update so that the user's
// own annotations are untouched; a warning is logged when the problems of
// an object change; and /schema/objects on the introspect server lists them
// (?errors=1). Nothing else stops: the rule or target in question is left
// out and the rest is derived. Terminal reconcile errors go to the same
// annotation, prefixed "internal:".
//
// # Route targets: allocation and garbage collection
//
// There is no private allocator state. A number is taken when the
// route-target object target:<asn>:<n> exists: the allocator picks a
// number that is neither in the graph nor being created by this process,
// creates the object through the API (409 means someone has it: try the
// next) and refers to it at once. Which target belongs to a routing
// instance is recorded by that ref alone: on restart a routing instance
// that refers, in both directions, to a system-range target that no
// logical router owns keeps it (the lowest if there were several).
// Objects the transformer creates carry the annotation
// "schema-transformer-owned" naming what they were made for.
//
// The garbage collector (queue key "gc", run on route-target and
// routing-instance changes and every GCInterval) deletes route targets
// that nothing refers to and that are in the system range or owned by the
// transformer, and access-control-lists whose parent is gone. A candidate
// must stay one for GCGrace first, which covers a leader that crashed
// between creating a target and referring to it; the API refuses to
// delete a target that is referred to, so a late reference wins safely.
// Deleting a network frees its number this way; the API deletes the
// network's routing instance and ACL with it.
//
// # Election and fencing
//
// Any number of instances run; each keeps its config graph warm. One leads
// at a time, elected with go.etcd.io/etcd/client/v3/concurrency under
// <prefix>election/schema-transformer on a session with a TTL of LeaseTTL
// (5 s), so a passive instance takes over within about that long after
// the leader dies. The election key and its create revision are the
// fence: every API write of the term carries the header
// X-Contrail-Fence: <key>@<rev>, and the API commits it only if the key
// still exists with that revision, in the same etcd transaction. A
// deposed leader's writes therefore fail (412) and change nothing, so in
// no interleaving do two leaders write at once. When the session is lost
// or a write is fenced the term ends: all workers stop before the
// instance campaigns again.
//
// The API treats a fenced write as a system write, so the transformer may
// set system-only properties (access_control_list_entries,
// static_route_entries, ...).
//
// # Shutdown order
//
// Run's context ends: the term's workers stop (in-flight API calls are
// cancelled), the election key is resigned and the lease revoked so that
// a passive instance takes over at once, the config watch stops, and last
// the introspect server.
//
// # Introspect
//
// On IntrospectAddr (8087 by default for `contrail schema`; all-in-one
// mounts the same pages on its own server): /schema/leader (election
// state and who leads), /schema/queue (depth, in flight, retrying),
// /schema/objects (last reconcile per object, its result, writes and bad
// input), /metrics (contrail_schema_*), /healthz and /readyz.
package transformer
