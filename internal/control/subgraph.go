// SPDX-License-Identifier: Apache-2.0

package control

import (
	"slices"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
)

// edge says how the config walk for an agent goes on from an object.
type edge struct {
	refs     []string // ref fields followed
	backRefs []string // types whose refs to this object are followed
	children []string // child types followed
	parent   bool     // the parent is followed
}

// walkRules is the type whitelist of the config sent to a vrouter agent:
// from its virtual-router through its VMs and their interfaces to the
// networks, instances, addresses, security groups and ACLs they use (the
// original's IF-MAP graph walker whitelist).
var walkRules = map[string]edge{
	"virtual-router":       {refs: []string{"virtual_machine_refs", "network_ipam_refs"}, parent: true},
	"global-system-config": {children: []string{"global-vrouter-config", "global-qos-config", "qos-config"}},
	"virtual-machine":      {backRefs: []string{"virtual-machine-interface"}},
	"virtual-machine-interface": {
		refs: []string{"virtual_network_refs", "security_group_refs", "routing_instance_refs",
			"interface_route_table_refs", "qos_config_refs", "port_tuple_refs", "service_health_check_refs",
			"tag_refs", "virtual_machine_interface_refs", "bgp_as_a_service_refs"},
		backRefs: []string{"instance-ip", "floating-ip", "alias-ip", "bgp-as-a-service"},
	},
	"virtual-network": {
		refs:     []string{"network_ipam_refs", "qos_config_refs", "route_table_refs", "tag_refs", "security_logging_object_refs"},
		children: []string{"routing-instance", "access-control-list"},
	},
	"routing-instance": {refs: []string{"route_target_refs"}},
	"security-group":   {children: []string{"access-control-list"}, refs: []string{"tag_refs"}},
	"instance-ip":      {refs: []string{"virtual_network_refs"}},
	"floating-ip":      {parent: true},
	"alias-ip":         {parent: true},
	"floating-ip-pool": {parent: true},
	"alias-ip-pool":    {parent: true},
	"network-ipam":     {refs: []string{"virtual_DNS_refs"}},
	"port-tuple":       {parent: true},
	"service-instance": {refs: []string{"service_template_refs"}},
}

// subgraph is the set of objects and links an agent receives.
type subgraph struct {
	nodes map[string]*model.Object // uuid -> object
	links map[linkKey]struct{}
}

// linkKey is one link between two objects in the subgraph, named as the
// original's IF-MAP metadata (e.g. "virtual-machine-interface-virtual-network").
type linkKey struct {
	from, to string // uuids
	meta     string
}

// walkFrom computes the subgraph reachable from a virtual-router and the
// virtual machines the agent subscribed to. Callers hold the graph's read lock.
func walkFrom(g *confgraph.Graph, vrouter *confgraph.Node, vms []*confgraph.Node) *subgraph {
	sg := &subgraph{nodes: map[string]*model.Object{}, links: map[linkKey]struct{}{}}
	var queue []*confgraph.Node
	visit := func(n *confgraph.Node) {
		if n == nil {
			return
		}
		if _, seen := sg.nodes[n.Obj.UUID]; seen {
			return
		}
		sg.nodes[n.Obj.UUID] = n.Obj
		queue = append(queue, n)
	}
	link := func(a, b *confgraph.Node) {
		if a == nil || b == nil {
			return
		}
		sg.links[linkKey{from: a.Obj.UUID, to: b.Obj.UUID, meta: a.Obj.Type + "-" + b.Obj.Type}] = struct{}{}
	}
	if vrouter != nil {
		visit(vrouter)
	}
	for _, vm := range vms {
		visit(vm)
		link(vrouter, vm)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		rule, ok := walkRules[n.Obj.Type]
		if !ok {
			continue
		}
		for _, f := range rule.refs {
			for _, t := range g.RefNodes(n, f) {
				visit(t)
				link(n, t)
			}
		}
		for _, typ := range rule.backRefs {
			for _, f := range g.BackRefNodes(n, typ) {
				visit(f)
				link(f, n)
			}
		}
		for _, typ := range rule.children {
			for _, c := range g.ChildNodes(n, typ) {
				visit(c)
				link(n, c)
			}
		}
		if rule.parent {
			if p := g.Parent(n); p != nil {
				visit(p)
				link(p, n)
			}
		}
	}
	return sg
}

// diff returns what must be sent to move an agent from old to new: objects
// to update (new or changed), objects to delete, links to add and remove.
func (sg *subgraph) diff(old *subgraph) (update, del []*model.Object, addLinks, delLinks []linkKey) {
	for u, o := range sg.nodes {
		if prev, ok := old.nodes[u]; !ok || prev != o {
			update = append(update, o)
		}
	}
	for u, o := range old.nodes {
		if _, ok := sg.nodes[u]; !ok {
			del = append(del, o)
		}
	}
	for l := range sg.links {
		if _, ok := old.links[l]; !ok {
			addLinks = append(addLinks, l)
		}
	}
	for l := range old.links {
		if _, ok := sg.links[l]; !ok {
			delLinks = append(delLinks, l)
		}
	}
	byUUID := func(a, b *model.Object) int { return compareStr(a.UUID, b.UUID) }
	slices.SortFunc(update, byUUID)
	slices.SortFunc(del, byUUID)
	byLink := func(a, b linkKey) int {
		if c := compareStr(a.from, b.from); c != 0 {
			return c
		}
		if c := compareStr(a.to, b.to); c != 0 {
			return c
		}
		return compareStr(a.meta, b.meta)
	}
	slices.SortFunc(addLinks, byLink)
	slices.SortFunc(delLinks, byLink)
	return
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
