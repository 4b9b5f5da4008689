// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
)

// dumpPrefix limits the dump to the test's own project (and bgp-routers):
// the objects the API creates at start-up get derived objects too.
const dumpPrefix = "default-domain:test:"

// derivedDump renders what the transformer derived, from a graph, in a
// form that does not depend on allocation order: system route targets are
// named after their owner ("@vn:<network>", "@lr:<router>"), security
// group ids after their group ("@sg:<group>").
func derivedDump(g *confgraph.Graph) map[string]any {
	g.RLock()
	defer g.RUnlock()
	var asn int64
	if u, ok := g.LookupFQString("global-system-config", gscFQ); ok {
		g.Get(u).Obj.Prop("autonomous_system", &asn)
	}
	system := func(name string) bool {
		admin, n, ok := parseRT(name)
		return ok && admin == strconv.FormatInt(asn, 10) && (n >= rtBase2Byte || asn > 0xFFFF && n >= rtBase4Byte)
	}
	sorted := func(typ string) []*confgraph.Node {
		var out []*confgraph.Node
		for _, u := range g.UUIDs(typ) {
			out = append(out, g.Get(u))
		}
		slices.SortFunc(out, func(a, b *confgraph.Node) int { return strings.Compare(a.Obj.FQNameString(), b.Obj.FQNameString()) })
		return out
	}
	alias := map[string]string{}
	for _, lr := range sorted("logical-router") {
		for _, r := range lr.Obj.Refs["route_target_refs"] {
			if name := model.FQNameString(r.To); system(name) {
				alias[name] = "@lr:" + lr.Obj.FQNameString()
			}
		}
	}
	primary := func(vn *confgraph.Node) *confgraph.Node {
		for _, ri := range g.ChildNodes(vn, "routing-instance") {
			var def bool
			if ri.Obj.Prop("routing_instance_is_default", &def) && def {
				return ri
			}
		}
		return nil
	}
	for _, vn := range sorted("virtual-network") {
		ri := primary(vn)
		if ri == nil {
			continue
		}
		for _, r := range ri.Obj.Refs["route_target_refs"] {
			name := model.FQNameString(r.To)
			if _, ok := alias[name]; !ok && system(name) && rtDir(r.Attr) == rtBoth {
				alias[name] = "@vn:" + vn.Obj.FQNameString()
			}
		}
	}
	rt := func(name string) string {
		if a, ok := alias[name]; ok {
			return a
		}
		if system(name) {
			return "@unowned-system-target"
		}
		return name
	}
	sgAlias := map[string]string{}
	for _, sg := range sorted("security-group") {
		var id json.Number
		if sg.Obj.Prop("security_group_id", &id) {
			sgAlias[id.String()] = "@sg:" + sg.Obj.FQNameString()
		}
	}
	ours := func(n *confgraph.Node) bool { return strings.HasPrefix(n.Obj.FQNameString(), dumpPrefix) }
	withError := func(m map[string]any, o *model.Object) {
		if e, ok := annotation(o, ErrorAnnotation); ok {
			m["error"] = e
		}
	}
	aclOf := func(parent *confgraph.Node, name string) any {
		for _, c := range g.ChildNodes(parent, "access-control-list") {
			if c.Obj.Name() != name {
				continue
			}
			var e aclEntries
			c.Obj.Prop("access_control_list_entries", &e)
			rules := []string{}
			for _, r := range e.ACLRule {
				rules = append(rules, ruleText(r, sgAlias))
			}
			return rules
		}
		return nil
	}

	out := map[string]any{}
	vns := map[string]any{}
	for _, vn := range sorted("virtual-network") {
		if !ours(vn) {
			continue
		}
		m := map[string]any{}
		if ri := primary(vn); ri != nil {
			targets := map[string]string{}
			for _, r := range ri.Obj.Refs["route_target_refs"] {
				targets[rt(model.FQNameString(r.To))] = dirName(rtDir(r.Attr))
			}
			m["route_targets"] = targets
			var conns []string
			for _, r := range ri.Obj.Refs["routing_instance_refs"] {
				conns = append(conns, model.FQNameString(r.To))
			}
			sort.Strings(conns)
			if len(conns) > 0 {
				m["connections"] = conns
			}
			var sr staticRouteEntries
			if ri.Obj.Prop("static_route_entries", &sr) {
				var routes []string
				for _, r := range sr.Route {
					var targets []string
					for _, t := range r.RouteTarget {
						targets = append(targets, rt(t))
					}
					routes = append(routes, fmt.Sprintf("%s via %s targets %v community %v", r.Prefix, r.NextHop, targets, r.Community))
				}
				m["static_routes"] = routes
			}
		}
		if acl := aclOf(vn, vn.Obj.Name()); acl != nil {
			m["acl"] = acl
		}
		withError(m, vn.Obj)
		vns[vn.Obj.FQNameString()] = m
	}
	out["virtual-networks"] = vns
	sgs := map[string]any{}
	for _, sg := range sorted("security-group") {
		if !ours(sg) {
			continue
		}
		m := map[string]any{}
		if a := aclOf(sg, ingressACLName); a != nil {
			m["ingress"] = a
		}
		if a := aclOf(sg, egressACLName); a != nil {
			m["egress"] = a
		}
		withError(m, sg.Obj)
		sgs[sg.Obj.FQNameString()] = m
	}
	out["security-groups"] = sgs
	nps := map[string]any{}
	for _, np := range sorted("network-policy") {
		if !ours(np) {
			continue
		}
		m := map[string]any{}
		withError(m, np.Obj)
		nps[np.Obj.FQNameString()] = m
	}
	out["network-policies"] = nps
	lrs := map[string]any{}
	for _, lr := range sorted("logical-router") {
		var targets []string
		for _, r := range lr.Obj.Refs["route_target_refs"] {
			targets = append(targets, rt(model.FQNameString(r.To)))
		}
		m := map[string]any{"route_targets": targets}
		withError(m, lr.Obj)
		lrs[lr.Obj.FQNameString()] = m
	}
	out["logical-routers"] = lrs
	bgp := map[string]any{}
	for _, b := range sorted("bgp-router") {
		peers := []string{}
		for _, r := range b.Obj.Refs["bgp_router_refs"] {
			peers = append(peers, model.FQNameString(r.To)[strings.LastIndexByte(model.FQNameString(r.To), ':')+1:])
		}
		sort.Strings(peers)
		bgp[b.Obj.Name()] = peers
	}
	out["bgp-routers"] = bgp
	var rts []string
	for _, n := range sorted("route-target") {
		a := rt(n.Obj.Name())
		if strings.HasPrefix(a, "@vn:") && !strings.HasPrefix(a, "@vn:"+dumpPrefix) {
			continue // a start-up network's
		}
		rts = append(rts, a)
	}
	sort.Strings(rts)
	out["route-targets"] = rts
	return out
}

// ruleText renders an ACL rule on one line.
func ruleText(r aclRule, sgAlias map[string]string) string {
	addr := func(a address) string {
		switch {
		case a.VirtualNetwork != "":
			return "vn=" + a.VirtualNetwork
		case a.SecurityGroup != "":
			if s, ok := sgAlias[a.SecurityGroup]; ok {
				return "sg=" + s
			}
			return "sg=" + a.SecurityGroup
		case a.Subnet != nil:
			return fmt.Sprintf("subnet=%s/%d", a.Subnet.IPPrefix, a.Subnet.IPPrefixLen)
		case len(a.SubnetList) > 0:
			var s []string
			for _, sn := range a.SubnetList {
				s = append(s, fmt.Sprintf("%s/%d", sn.IPPrefix, sn.IPPrefixLen))
			}
			return "subnets=" + strings.Join(s, ",")
		}
		return "any"
	}
	m := r.MatchCondition
	action, _ := r.ActionList["simple_action"].(string)
	var extra []string
	for k, v := range r.ActionList {
		if k != "simple_action" {
			b, _ := json.Marshal(v)
			extra = append(extra, k+"="+string(b))
		}
	}
	sort.Strings(extra)
	s := fmt.Sprintf("%s proto=%s %s:%d-%d -> %s:%d-%d %s", action, m.Protocol,
		addr(m.SrcAddress), m.SrcPort.StartPort, m.SrcPort.EndPort, addr(m.DstAddress), m.DstPort.StartPort, m.DstPort.EndPort, m.Ethertype)
	if r.Direction != "" {
		s += " dir=" + r.Direction
	}
	if r.RuleUUID != "" {
		s += " uuid=" + r.RuleUUID
	}
	if len(extra) > 0 {
		s += " " + strings.Join(extra, " ")
	}
	return s
}

// dirName names a direction as the dump shows it.
func dirName(dir int) string {
	switch dir {
	case rtImport:
		return "import"
	case rtExport:
		return "export"
	}
	return "import_export"
}
