// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/pkg/client"
)

// Networks whose routing instances the transformer leaves alone: the
// fabric and link-local networks are the underlay's, not a tenant's.
var specialNetworks = map[string]bool{
	"default-domain:default-project:ip-fabric":      true,
	"default-domain:default-project:__link_local__": true,
}

// vnPlan is what reconcileNetwork decided, under the graph lock, for one
// network; applyNetwork then writes the difference.
type vnPlan struct {
	vn    *model.Object
	ri    *model.Object
	asn   int64
	ownRT string // "" when one must be allocated

	rts     map[string]int // wanted route targets of the routing instance besides its own
	missing []string       // wanted route targets whose objects do not exist yet
	conns   []*model.Object
	routes  []staticRoute // route targets filled in with the own one at write time

	acl     *aclEntries // nil: the network has no policy and no ACL
	aclNode *model.Object

	curRTs    map[string]int
	curConns  map[string]bool
	curStatic json.RawMessage
	problems  []string
}

// primaryRI returns a network's default routing instance, which the API
// creates with it (fq-name <vn>:<vn-name>).
func primaryRI(v *view, vn *confgraph.Node) *confgraph.Node {
	var byName *confgraph.Node
	for _, ri := range v.children(vn, "routing-instance") {
		var def bool
		if ri.Obj.Prop("routing_instance_is_default", &def) && def {
			return ri
		}
		if ri.Obj.Name() == vn.Obj.Name() {
			byName = ri
		}
	}
	return byName
}

// refDirs maps the uuids of an object's route_target_refs to directions.
func refDirs(o *model.Object) map[string]int {
	out := map[string]int{}
	for _, r := range o.Refs["route_target_refs"] {
		out[r.UUID] = rtDir(r.Attr)
	}
	return out
}

// routerTarget reports whether a route target belongs to a logical router.
func routerTarget(v *view) func(*confgraph.Node) bool {
	return func(rt *confgraph.Node) bool { return len(v.backRefs(rt, "logical-router")) > 0 }
}

// ownNetworkRT returns the system route target a network's primary
// routing instance owns (and the other system ones it claims wrongly).
func (t *Transformer) ownNetworkRT(v *view, ri *confgraph.Node, asn int64) (string, []string) {
	return t.ownSystemRT(v, v.refs(ri, "route_target_refs"), refDirs(ri.Obj), asn, routerTarget(v))
}

// connectedRouters returns the logical routers a network is attached to:
// through a router interface (a port of the network the router refers
// to) or a ref of type InternalVirtualNetwork.
func connectedRouters(v *view, vn *confgraph.Node) []*confgraph.Node {
	seen := map[string]*confgraph.Node{}
	for _, lr := range v.backRefs(vn, "logical-router") {
		for _, r := range lr.Obj.Refs["virtual_network_refs"] {
			if r.UUID != vn.Obj.UUID {
				continue
			}
			var attr struct {
				Type string `json:"logical_router_virtual_network_type"`
			}
			if len(r.Attr) > 0 {
				_ = json.Unmarshal(r.Attr, &attr)
			}
			if attr.Type == "InternalVirtualNetwork" {
				seen[lr.Obj.UUID] = lr
			}
		}
	}
	for _, vmi := range v.backRefs(vn, "virtual-machine-interface") {
		for _, lr := range v.backRefs(vmi, "logical-router") {
			seen[lr.Obj.UUID] = lr
		}
	}
	out := make([]*confgraph.Node, 0, len(seen))
	for _, lr := range seen {
		out = append(out, lr)
	}
	slices.SortFunc(out, func(a, b *confgraph.Node) int { return strings.Compare(a.Obj.UUID, b.Obj.UUID) })
	return out
}

// userTargets reads a RouteTargetList property into want with direction
// dir; malformed names and names in the system range are problems.
func (t *Transformer) userTargets(o *model.Object, prop string, dir int, asn int64, want map[string]int, problems *[]string) {
	var l routeTargetList
	if !o.Prop(prop, &l) {
		return
	}
	for _, name := range l.RouteTarget {
		if !validRT(name) {
			*problems = append(*problems, fmt.Sprintf("%s: %q is not target:<asn|ip>:<number>", prop, name))
			continue
		}
		if t.isSystemRT(name, asn) {
			*problems = append(*problems, fmt.Sprintf("%s: %s is in the system-allocated range", prop, name))
			continue
		}
		want[name] |= dir
	}
}

// planNetwork computes what the network's derived objects must be.
func (t *Transformer) planNetwork(v *view, vn *confgraph.Node) (*vnPlan, error) {
	p := &vnPlan{vn: vn.Obj, rts: map[string]int{}, curRTs: map[string]int{}, curConns: map[string]bool{}}
	ri := primaryRI(v, vn)
	if ri == nil {
		return nil, fmt.Errorf("transformer: network %s has no primary routing instance yet", vn.Obj.FQNameString())
	}
	p.ri = ri.Obj
	asn, err := globalASN(v)
	if err != nil {
		return nil, err
	}
	p.asn = asn
	dirs := refDirs(ri.Obj)
	for _, rt := range v.refs(ri, "route_target_refs") {
		p.curRTs[rt.Obj.Name()] = dirs[rt.Obj.UUID]
	}
	for _, r := range ri.Obj.Refs["routing_instance_refs"] {
		p.curConns[r.UUID] = true
	}
	p.curStatic = ri.Obj.Props["static_route_entries"]
	p.ownRT, _ = t.ownNetworkRT(v, ri, asn)

	// Route targets the user configured on the network.
	t.userTargets(vn.Obj, "route_target_list", rtBoth, asn, p.rts, &p.problems)
	t.userTargets(vn.Obj, "import_route_target_list", rtImport, asn, p.rts, &p.problems)
	t.userTargets(vn.Obj, "export_route_target_list", rtExport, asn, p.rts, &p.problems)

	// Logical routers: their own route target and their configured ones.
	routers := connectedRouters(v, vn)
	var tables []*confgraph.Node
	for _, lr := range routers {
		own, _ := t.ownSystemRT(v, v.refs(lr, "route_target_refs"), refDirs(lr.Obj), asn, nil)
		if own != "" {
			p.rts[own] |= rtBoth
		}
		var ignored []string
		t.userTargets(lr.Obj, "configured_route_target_list", rtBoth, asn, p.rts, &ignored)
		tables = append(tables, v.refs(lr, "route_table_refs")...)
	}

	// Connections: both sides' policies must allow it.
	wanted := t.wantedPeers(v, vn)
	peers := make([]string, 0, len(wanted))
	for u := range wanted {
		peers = append(peers, u)
	}
	slices.Sort(peers)
	for _, u := range peers {
		peer := v.get(u)
		if peer == nil || specialNetworks[peer.Obj.FQNameString()] || !t.wantedPeers(v, peer)[vn.Obj.UUID] {
			continue
		}
		pri := primaryRI(v, peer)
		if pri == nil {
			continue
		}
		p.conns = append(p.conns, pri.Obj)
		if own, _ := t.ownNetworkRT(v, pri, asn); own != "" {
			p.rts[own] |= rtImport
		}
	}

	// Static routes of the route tables of the network and its routers.
	tables = append(v.refs(vn, "route_table_refs"), tables...)
	p.routes = staticRoutes(tables, &p.problems)

	for name := range p.rts {
		if _, ok := t.g.LookupFQString("route-target", name); !ok {
			p.missing = append(p.missing, name)
		}
	}
	slices.Sort(p.missing)

	// The ACL made of the network's policies.
	if policies := attachedPolicies(v, vn); len(policies) > 0 {
		p.acl = t.networkACL(v, vn, policies)
	}
	for _, acl := range v.children(vn, "access-control-list") {
		if acl.Obj.Name() == vn.Obj.Name() {
			p.aclNode = acl.Obj
		}
	}
	return p, nil
}

// staticRoutes turns the ip-address routes of route tables into routing
// instance static routes; service-instance next hops belong to service
// chains.
func staticRoutes(tables []*confgraph.Node, problems *[]string) []staticRoute {
	var out []staticRoute
	seen := map[string]bool{}
	for _, rt := range tables {
		var routes routeTableRoutes
		rt.Obj.Prop("routes", &routes)
		for _, r := range routes.Route {
			if r.NextHopType == "service-instance" {
				continue
			}
			if _, err := netip.ParsePrefix(r.Prefix); err != nil {
				*problems = append(*problems, fmt.Sprintf("route table %s: prefix %q is not a prefix", rt.Obj.FQNameString(), r.Prefix))
				continue
			}
			if _, err := netip.ParseAddr(r.NextHop); err != nil {
				*problems = append(*problems, fmt.Sprintf("route table %s: next hop %q of %s is not an address", rt.Obj.FQNameString(), r.NextHop, r.Prefix))
				continue
			}
			k := r.Prefix + " " + r.NextHop
			if seen[k] {
				continue
			}
			seen[k] = true
			sr := staticRoute{Prefix: r.Prefix, NextHop: r.NextHop}
			if r.CommunityAttributes != nil {
				sr.Community = slices.Clone(r.CommunityAttributes.CommunityAttribute)
			}
			out = append(out, sr)
		}
	}
	slices.SortFunc(out, func(a, b staticRoute) int {
		if c := strings.Compare(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		return strings.Compare(a.NextHop, b.NextHop)
	})
	return out
}

// reconcileNetwork derives a network's routing-instance route targets,
// connections and static routes, and its ACL.
func (tm *term) reconcileNetwork(ctx context.Context, r *rec, uuid string) (result, error) {
	t := tm.t
	t.g.RLock()
	v := newView(t.g)
	vn := v.get(uuid)
	if vn == nil {
		t.g.RUnlock()
		// The API deleted its routing instance and ACL with it; route
		// targets nothing refers to any more go to the garbage collector.
		tm.q.addSoon(gcKey, gcDelay)
		return result{gone: true}, nil
	}
	if specialNetworks[vn.Obj.FQNameString()] {
		t.deps.set(r.key, v)
		t.g.RUnlock()
		return result{}, nil
	}
	p, err := t.planNetwork(v, vn)
	t.deps.set(r.key, v)
	t.g.RUnlock()
	if err != nil {
		return result{}, err
	}
	return result{}, tm.applyNetwork(ctx, r, p)
}

func (tm *term) applyNetwork(ctx context.Context, r *rec, p *vnPlan) error {
	t := tm.t
	own := p.ownRT
	if own == "" {
		name, err := tm.ownRT(ctx, r, p.asn, "virtual-network "+p.vn.FQNameString())
		switch {
		case errors.Is(err, ErrExhausted):
			// Try again when a route target goes away.
			t.deps.addType(r.key, "route-target")
			p.problems = append(p.problems, "no route target: "+err.Error())
		case err != nil:
			return err
		default:
			own = name
		}
	}
	for _, name := range p.missing {
		if err := t.ensureRT(ctx, r, name, "virtual-network "+p.vn.FQNameString()); err != nil {
			return err
		}
	}
	want := make(map[string]int, len(p.rts)+1)
	for k, d := range p.rts {
		want[k] = d
	}
	if own != "" {
		want[own] |= rtBoth
	}
	body := client.Object{}
	if !sameDirs(want, p.curRTs) {
		body["route_target_refs"] = rtRefs(want)
	}
	wantConns := map[string]bool{}
	conns := make([]any, 0, len(p.conns))
	for _, c := range p.conns {
		wantConns[c.UUID] = true
		conns = append(conns, map[string]any{"to": c.FQName, "uuid": c.UUID, "attr": map[string]any{}})
	}
	if !sameSet(wantConns, p.curConns) {
		body["routing_instance_refs"] = conns
	}
	routes := p.routes
	if own != "" {
		for i := range routes {
			routes[i].RouteTarget = []string{own}
		}
	}
	if !sameStatic(routes, p.curStatic) {
		if len(routes) == 0 {
			body["static_route_entries"] = nil
		} else {
			body["static_route_entries"] = staticRouteEntries{Route: routes}
		}
	}
	if len(body) > 0 {
		if err := r.update(ctx, "routing-instance", p.ri.UUID, body); err != nil {
			return err
		}
	}
	tm.referred(r.key)
	if err := r.syncACL(ctx, p.vn, "virtual-network", p.vn.Name(), p.aclNode, p.acl); err != nil {
		return err
	}
	tm.noteProblems(r, p.vn, p.problems)
	return r.syncError(ctx, p.vn, errorText(p.problems))
}

// rtRefs renders wanted route targets as route_target_refs, by fq-name,
// sorted.
func rtRefs(want map[string]int) []any {
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]any{"to": []string{n}, "attr": rtAttr(want[n])})
	}
	return out
}

func sameDirs(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, d := range a {
		if bd, ok := b[k]; !ok || bd != d {
			return false
		}
	}
	return true
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sameStatic(want []staticRoute, cur json.RawMessage) bool {
	var c staticRouteEntries
	if len(cur) > 0 && string(cur) != "null" {
		if json.Unmarshal(cur, &c) != nil {
			return false
		}
	} else if len(want) == 0 {
		return true
	}
	if len(want) == 0 {
		return false
	}
	a, _ := json.Marshal(staticRouteEntries{Route: want})
	b, _ := json.Marshal(c)
	return bytes.Equal(a, b)
}

// syncACL makes the access-control-list child name of parent hold want
// (nil deletes it). The hash property tells whether a write is needed.
func (r *rec) syncACL(ctx context.Context, parent *model.Object, parentType, name string, cur *model.Object, want *aclEntries) error {
	if want == nil {
		if cur == nil {
			return nil
		}
		return r.del(ctx, "access-control-list", cur.UUID)
	}
	h := want.hash()
	if cur == nil {
		fq := append(slices.Clone(parent.FQName), name)
		_, err := r.create(ctx, "access-control-list", client.Object{
			"fq_name":                     fq,
			"parent_type":                 parentType,
			"access_control_list_entries": want,
			"access_control_list_hash":    h,
		})
		if errors.Is(err, errExists) {
			return fmt.Errorf("transformer: access-control-list %s exists but is not in the graph yet", fqString(fq))
		}
		return err
	}
	var curHash uint64
	if cur.Prop("access_control_list_hash", &curHash) && curHash == h {
		return nil
	}
	return r.update(ctx, "access-control-list", cur.UUID, client.Object{
		"access_control_list_entries": want,
		"access_control_list_hash":    h,
	})
}
