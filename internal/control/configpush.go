// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/rib"
	"github.com/contrail-go/contrail/internal/schema"
)

// configPusher follows the config graph: it derives the routing instances
// for the loop and keeps every config-subscribed agent's copy of its
// subgraph up to date by sending differences.
type configPusher struct {
	s       *Server
	trigger chan struct{}

	mu     sync.Mutex
	agents map[*session]*agentConfig

	// Encoded <node> properties per object version, shared by all agents.
	encMu sync.Mutex
	enc   map[*model.Object][]byte
	// Synthetic link-attribute nodes per referring object version.
	attrNodes map[*model.Object][]*model.Object
}

// agentConfig is what one agent asked for and what it was sent.
type agentConfig struct {
	vrouter  string          // fq-name of its virtual-router, "" until subscribed
	vms      map[string]bool // virtual-machine uuids it subscribed to
	sent     *subgraph
	messages int
	objects  int
}

func newConfigPusher(s *Server) *configPusher {
	return &configPusher{
		s:         s,
		trigger:   make(chan struct{}, 1),
		agents:    map[*session]*agentConfig{},
		enc:       map[*model.Object][]byte{},
		attrNodes: map[*model.Object][]*model.Object{},
	}
}

func (p *configPusher) kick() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// changed is the graph subscriber.
func (p *configPusher) changed(confgraph.Batch) { p.kick() }

// subscribe records a config subscription ("virtual-router:<fq>" or
// "virtual-machine:<uuid>") from a session's reader.
func (p *configPusher) subscribe(sess *session, node string, add bool) {
	p.mu.Lock()
	ac := p.agents[sess]
	if ac == nil {
		ac = &agentConfig{vms: map[string]bool{}, sent: &subgraph{nodes: map[string]*model.Object{}, links: map[linkKey]struct{}{}}}
		p.agents[sess] = ac
	}
	switch {
	case strings.HasPrefix(node, "virtual-router:"):
		if add {
			ac.vrouter = strings.TrimPrefix(node, "virtual-router:")
		} else {
			ac.vrouter = ""
		}
	case strings.HasPrefix(node, "virtual-machine:"):
		u := strings.ToLower(strings.TrimPrefix(node, "virtual-machine:"))
		if add {
			ac.vms[u] = true
		} else {
			delete(ac.vms, u)
		}
	}
	p.mu.Unlock()
	p.kick()
}

func (p *configPusher) forget(sess *session) {
	p.mu.Lock()
	delete(p.agents, sess)
	p.mu.Unlock()
}

// run recomputes at most every 20 ms while changes keep coming.
func (p *configPusher) run(ctx context.Context) {
	const settle = 20 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.trigger:
		}
		p.recompute()
		select {
		case <-ctx.Done():
			return
		case <-time.After(settle):
		}
	}
}

func (p *configPusher) recompute() {
	g := p.s.graph
	g.RLock()
	want := instancesFromGraph(g)
	bgpCfg := bgpFromGraph(g, p.s.cfg.Hostname)
	p.s.setHoldTime(holdTimeFromGraph(g, p.s.cfg.HoldTime))
	p.mu.Lock()
	agents := make(map[*session]*agentConfig, len(p.agents))
	// What each agent asked for, copied under the lock: subscribe
	// changes it from the sessions' readers.
	type request struct {
		vrouter string
		vms     []string
	}
	asked := make(map[*session]request, len(p.agents))
	for sess, ac := range p.agents {
		agents[sess] = ac
		rq := request{vrouter: ac.vrouter, vms: make([]string, 0, len(ac.vms))}
		for u := range ac.vms {
			rq.vms = append(rq.vms, u)
		}
		asked[sess] = rq
	}
	p.mu.Unlock()
	type out struct {
		sess *session
		msgs [][]byte
	}
	var sends []out
	usedAttr := map[*model.Object][]*model.Object{}
	for sess, ac := range agents {
		var vr *confgraph.Node
		rq := asked[sess]
		if rq.vrouter != "" {
			if u, ok := g.LookupFQString("virtual-router", rq.vrouter); ok {
				vr = g.Get(u)
			}
		}
		var vms []*confgraph.Node
		for _, u := range rq.vms {
			if n := g.Get(u); n != nil && n.Obj.Type == "virtual-machine" {
				vms = append(vms, n)
			}
		}
		sg := walkFrom(g, vr, vms)
		p.addAttrNodes(g, sg, usedAttr)
		msgs := p.encodeDiff(sess, sg, ac.sent)
		ac.sent = sg
		if len(msgs) > 0 {
			ac.messages += len(msgs)
			sends = append(sends, out{sess, msgs})
		}
	}
	g.RUnlock()
	p.encMu.Lock()
	p.attrNodes = usedAttr
	p.encMu.Unlock()
	p.s.post(func() { p.s.setInstances(want); p.s.applyBGP(bgpCfg) })
	for _, o := range sends {
		for _, m := range o.msgs {
			o.sess.send(m)
		}
	}
}

// addAttrNodes turns each ref with an attribute inside the subgraph into a
// node of its own, between the two ends, as IF-MAP models link attributes:
// type = the link's name (e.g. "virtual-network-network-ipam"), name =
// "attr(<from fq-name>,<to fq-name>)", one property "value" holding the
// attribute.
func (p *configPusher) addAttrNodes(g *confgraph.Graph, sg *subgraph, used map[*model.Object][]*model.Object) {
	for _, o := range sortedObjects(sg.nodes) {
		res := schema.Lookup(o.Type)
		if res == nil {
			continue
		}
		var list []*model.Object
		p.encMu.Lock()
		cached, ok := p.attrNodes[o]
		p.encMu.Unlock()
		if ok {
			list = cached
		} else {
			for field, refs := range o.Refs {
				l := res.RefField(field)
				if l == nil || l.Attr == nil {
					continue
				}
				for _, r := range refs {
					if len(r.Attr) == 0 {
						continue
					}
					list = append(list, &model.Object{
						Type:       l.Name,
						UUID:       "attr:" + o.UUID + ":" + r.UUID,
						FQName:     []string{"attr(" + o.FQNameString() + "," + model.FQNameString(r.To) + ")"},
						Props:      map[string]json.RawMessage{"value": r.Attr},
						Refs:       map[string][]model.Ref{"to": {{UUID: r.UUID, To: r.To}}},
						ParentUUID: o.UUID,
					})
				}
			}
		}
		used[o] = list
		for _, a := range list {
			to := a.Refs["to"][0].UUID
			if _, in := sg.nodes[to]; !in {
				continue // the other end is not sent to this agent
			}
			sg.nodes[a.UUID] = a
			sg.links[linkKey{from: o.UUID, to: a.UUID, meta: o.Type + "-" + a.Type}] = struct{}{}
			sg.links[linkKey{from: a.UUID, to: to, meta: a.Type + "-" + g.Get(to).Obj.Type}] = struct{}{}
		}
	}
}

func sortedObjects(m map[string]*model.Object) []*model.Object {
	out := make([]*model.Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	slicesSortByUUID(out)
	return out
}

// encodeDiff builds the config messages that move an agent from old to sg.
// Nodes go before the links that use them; link deletes before node deletes.
func (p *configPusher) encodeDiff(sess *session, sg, old *subgraph) [][]byte {
	update, del, addLinks, delLinks := sg.diff(old)
	if len(update)+len(del)+len(addLinks)+len(delLinks) == 0 {
		return nil
	}
	var changes []xmpp.ConfigChange
	for _, o := range update {
		changes = append(changes, xmpp.ConfigChange{ConfigObject: xmpp.ConfigObject{Node: p.node(o)}})
	}
	for _, l := range addLinks {
		changes = append(changes, xmpp.ConfigChange{ConfigObject: xmpp.ConfigObject{Link: linkOf(l, sg, old)}})
	}
	for _, l := range delLinks {
		changes = append(changes, xmpp.ConfigChange{Delete: true, ConfigObject: xmpp.ConfigObject{Link: linkOf(l, old, sg)}})
	}
	for _, o := range del {
		changes = append(changes, xmpp.ConfigChange{Delete: true, ConfigObject: xmpp.ConfigObject{Node: &xmpp.ConfigNode{Type: o.Type, Name: o.FQNameString()}}})
	}
	cb := xmpp.ConfigBuilder{To: xmpp.JID(sess.name, xmpp.ResourceConfig)}
	msgs := cb.Build(changes)
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.Marshal())
	}
	p.mu.Lock()
	if ac := p.agents[sess]; ac != nil {
		ac.objects += len(changes)
	}
	p.mu.Unlock()
	return out
}

func linkOf(l linkKey, in, other *subgraph) *xmpp.ConfigLink {
	end := func(u string) xmpp.NodeRef {
		o := in.nodes[u]
		if o == nil {
			o = other.nodes[u]
		}
		if o == nil {
			return xmpp.NodeRef{}
		}
		return xmpp.NodeRef{Type: o.Type, Name: o.FQNameString()}
	}
	return &xmpp.ConfigLink{Left: end(l.from), Right: end(l.to), Metadata: l.meta}
}

// node encodes an object once per version; every agent shares the bytes.
func (p *configPusher) node(o *model.Object) *xmpp.ConfigNode {
	p.encMu.Lock()
	raw, ok := p.enc[o]
	p.encMu.Unlock()
	if !ok {
		props := make(map[string]any, len(o.Props)+1)
		for k, v := range o.Props {
			var x any
			dec := json.NewDecoder(strings.NewReader(string(v)))
			dec.UseNumber()
			if dec.Decode(&x) == nil {
				props[k] = x
			}
		}
		n, err := xmpp.NewConfigNodeJSON(o.Type, o.FQNameString(), props)
		if err != nil {
			p.s.log.Warn("config object not encodable, sent without properties", "type", o.Type, "name", o.FQNameString(), "err", err)
			n = &xmpp.ConfigNode{Type: o.Type, Name: o.FQNameString()}
		}
		raw = n.RawProps
		p.encMu.Lock()
		if len(p.enc) > 200000 {
			p.enc = map[*model.Object][]byte{}
		}
		p.enc[o] = raw
		p.encMu.Unlock()
	}
	return &xmpp.ConfigNode{Type: o.Type, Name: o.FQNameString(), RawProps: raw}
}

// instancesFromGraph derives the routing instances: every routing-instance
// object, with the route targets it refers to (attr import_export "import",
// "export" or both) and, for each instance it is connected to, that
// instance's export targets as imports. Callers hold the graph's read lock.
func instancesFromGraph(g *confgraph.Graph) map[string]rib.InstanceConfig {
	out := map[string]rib.InstanceConfig{}
	exports := map[string][]rib.RouteTarget{}
	imports := map[string][]rib.RouteTarget{}
	for _, u := range g.UUIDs("routing-instance") {
		n := g.Get(u)
		name := n.Obj.FQNameString()
		for _, r := range n.Obj.Refs["route_target_refs"] {
			rt, err := rib.ParseRouteTarget(r.To[len(r.To)-1])
			if err != nil {
				continue
			}
			var attr struct {
				ImportExport *string `json:"import_export"`
			}
			if len(r.Attr) > 0 {
				json.Unmarshal(r.Attr, &attr)
			}
			dir := ""
			if attr.ImportExport != nil {
				dir = *attr.ImportExport
			}
			if dir != "export" {
				imports[name] = append(imports[name], rt)
			}
			if dir != "import" {
				exports[name] = append(exports[name], rt)
			}
		}
	}
	for _, u := range g.UUIDs("routing-instance") {
		n := g.Get(u)
		name := n.Obj.FQNameString()
		if name == rib.MasterInstance {
			continue
		}
		cfg := rib.InstanceConfig{Name: name, ImportTargets: imports[name], ExportTargets: exports[name]}
		for _, r := range n.Obj.Refs["routing_instance_refs"] {
			cfg.ImportTargets = append(cfg.ImportTargets, exports[model.FQNameString(r.To)]...)
		}
		cfg.ImportTargets = uniqTargets(cfg.ImportTargets)
		cfg.ExportTargets = uniqTargets(cfg.ExportTargets)
		out[name] = cfg
	}
	return out
}

func uniqTargets(in []rib.RouteTarget) []rib.RouteTarget {
	if len(in) == 0 {
		return nil
	}
	slicesSortRT(in)
	out := in[:1]
	for _, t := range in[1:] {
		if t != out[len(out)-1] {
			out = append(out, t)
		}
	}
	return out
}

// holdTimeFromGraph is the XMPP hold time the config asks for: the
// global-system-config's fast_convergence_parameters.xmpp_hold_time
// (1..90 s) when its enable knob is on, else def. Callers hold the graph's
// read lock.
func holdTimeFromGraph(g *confgraph.Graph, def time.Duration) time.Duration {
	u, ok := g.LookupFQ("global-system-config", []string{"default-global-system-config"})
	if !ok {
		return def
	}
	var fc struct {
		Enable       bool `json:"enable"`
		XMPPHoldTime *int `json:"xmpp_hold_time"`
	}
	if !g.Get(u).Obj.Prop("fast_convergence_parameters", &fc) || !fc.Enable || fc.XMPPHoldTime == nil {
		return def
	}
	if h := *fc.XMPPHoldTime; h >= 1 && h <= 90 {
		return time.Duration(h) * time.Second
	}
	return def
}
