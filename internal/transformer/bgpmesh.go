// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"slices"
	"strings"

	"github.com/contrail-go/contrail/internal/confgraph"
)

// meshAttr is the BgpPeeringAttributes of a peering the transformer adds:
// one session whose attributes come from the two routers' parameters.
var meshAttr = map[string]any{"session": []any{map[string]any{"attributes": []any{map[string]any{}}}}}

type bgpParams struct {
	RouterType       string `json:"router_type"`
	AutonomousSystem int64  `json:"autonomous_system"`
}

// meshMember reports whether a bgp-router takes part in the iBGP mesh of
// the control nodes: router type control-node (or none) in the global AS.
func meshMember(n *confgraph.Node, asn int64) bool {
	var p bgpParams
	n.Obj.Prop("bgp_router_parameters", &p)
	if p.RouterType != "" && p.RouterType != "control-node" {
		return false
	}
	return p.AutonomousSystem == 0 || p.AutonomousSystem == asn
}

// refersTo reports whether a refers to b through bgp_router_refs.
func refersTo(a *confgraph.Node, b string) bool {
	for _, r := range a.Obj.Refs["bgp_router_refs"] {
		if r.UUID == b {
			return true
		}
	}
	return false
}

// reconcileBGPRouter keeps the iBGP full mesh between control nodes when
// the global system config has ibgp_auto_mesh (absent means true, the
// schema default). A peering is one ref; of two routers that have none
// between them, the one whose fq-name sorts first adds it. Peerings the user
// configured are kept, and nothing is removed when the mesh is turned off.
// The refs are relaxed for delete, so that removing a control node is not
// blocked by the peerings the transformer gave it.
func (tm *term) reconcileBGPRouter(ctx context.Context, r *rec, uuid string) (result, error) {
	t := tm.t
	t.g.RLock()
	v := newView(t.g)
	me := v.get(uuid)
	if me == nil {
		t.g.RUnlock()
		return result{gone: true}, nil
	}
	mesh := true
	var asn int64
	if gsc := v.lookup("global-system-config", gscFQ); gsc != nil {
		var on bool
		if gsc.Obj.Prop("ibgp_auto_mesh", &on) {
			mesh = on
		}
		gsc.Obj.Prop("autonomous_system", &asn)
	}
	var add []*confgraph.Node
	if mesh && meshMember(me, asn) {
		for _, u := range v.all("bgp-router") {
			peer := t.g.Get(u)
			if peer == nil || u == uuid || !meshMember(peer, asn) {
				continue
			}
			if refersTo(me, u) || refersTo(peer, uuid) || me.Obj.FQNameString() > peer.Obj.FQNameString() {
				continue
			}
			add = append(add, peer)
		}
	}
	obj := me.Obj
	t.deps.set(r.key, v)
	t.g.RUnlock()
	if len(add) == 0 {
		return result{}, nil
	}
	slices.SortFunc(add, func(a, b *confgraph.Node) int { return strings.Compare(a.Obj.FQNameString(), b.Obj.FQNameString()) })
	for _, p := range add {
		if err := r.refAddRelaxed(ctx, obj.Type, obj.UUID, p.Obj.Type, p.Obj.UUID, meshAttr); err != nil {
			return result{}, err
		}
	}
	return result{}, nil
}
