// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/rib"
)

// NeighborInfo is one XMPP neighbor on the introspect.
type NeighborInfo struct {
	Peer          string    `json:"peer"`
	PeerAddress   string    `json:"peer_address"`
	Encoding      string    `json:"encoding"`
	State         string    `json:"state"`
	Established   time.Time `json:"established_at"`
	Subscriptions []string  `json:"routing_instances"`
	RxMessages    int64     `json:"rx_messages"`
	TxMessages    int64     `json:"tx_messages"`
	RxBytes       int64     `json:"rx_bytes"`
	TxBytes       int64     `json:"tx_bytes"`
	RxRoutes      int64     `json:"rx_route_updates"`
	Paths         int       `json:"paths"`
	// BGP is set for BGP neighbors (Encoding "BGP").
	BGP *BGPNeighborInfo `json:"bgp,omitempty"`
}

// Neighbors lists the XMPP sessions and the BGP neighbors (the
// original's Snh_BgpNeighborReq).
func (s *Server) Neighbors(ctx context.Context) ([]NeighborInfo, error) {
	var out []NeighborInfo
	err := s.call(ctx, func() {
		for _, sess := range s.sessions {
			n := NeighborInfo{
				Peer: sess.name, PeerAddress: sess.remote.String(), Encoding: "XMPP", State: "Established",
				Established: time.Unix(0, sess.established.Load()),
				RxMessages:  sess.rxMsgs.Load(), TxMessages: sess.txMsgs.Load(),
				RxBytes: sess.rxBytes.Load(), TxBytes: sess.txBytes.Load(), RxRoutes: sess.rxRoutes.Load(),
				Paths: s.rib.PeerPathCount(sess.peer),
			}
			for inst := range sess.subs {
				n.Subscriptions = append(n.Subscriptions, inst)
			}
			sort.Strings(n.Subscriptions)
			out = append(out, n)
		}
		out = append(out, s.bgpNeighbors()...)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out, err
}

// RouteView is a route on the introspect.
type RouteView struct {
	Prefix string     `json:"prefix"`
	Paths  []PathView `json:"paths"`
}

// PathView is one path of a route.
type PathView struct {
	Peer           string   `json:"peer"`
	NextHop        string   `json:"next_hop"`
	Label          uint32   `json:"label"`
	Encap          []string `json:"tunnel_encap,omitempty"`
	VirtualNetwork string   `json:"virtual_network,omitempty"`
	LocalPref      uint32   `json:"local_preference"`
	MED            uint32   `json:"med"`
	SecurityGroups []uint32 `json:"sg_list,omitempty"`
	SourceRD       string   `json:"source_rd,omitempty"`
	Replicated     bool     `json:"replicated"`
	SourceInstance string   `json:"source_instance,omitempty"`
	Best           bool     `json:"best"`
	Stale          bool     `json:"stale,omitempty"`
	OriginatorID   string   `json:"originator_id,omitempty"`
	ClusterList    []uint32 `json:"cluster_list,omitempty"`
}

// Routes lists the routes of an instance and family (Snh_ShowRouteReq).
func (s *Server) Routes(ctx context.Context, inst string, fam rib.Family) ([]RouteView, error) {
	var out []RouteView
	err := s.call(ctx, func() {
		for ri := range s.rib.Routes(inst, fam) {
			rv := RouteView{Prefix: ri.Key.String()}
			for i, p := range ri.Paths {
				a := p.Attrs()
				pv := PathView{NextHop: a.NextHop.String(), Label: p.Label(), Encap: encapNames(a.Encap),
					VirtualNetwork: a.VirtualNetwork, LocalPref: a.LocalPref, MED: a.MED, SecurityGroups: a.SecurityGroups,
					Replicated: p.IsReplicated(), SourceInstance: p.SourceInstance(), Best: i < max(ri.ECMP, 1), Stale: p.Stale()}
				if a.OriginatorID.IsValid() {
					pv.OriginatorID = a.OriginatorID.String()
				}
				pv.ClusterList = a.ClusterList
				if rd := p.SourceRD(); rd != 0 {
					pv.SourceRD = rd.String()
				}
				if info, ok := s.rib.Peer(p.Primary().Peer()); ok {
					pv.Peer = info.Name
				}
				rv.Paths = append(rv.Paths, pv)
			}
			out = append(out, rv)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out, err
}

// Instances lists the routing instances (Snh_ShowRoutingInstanceReq).
func (s *Server) Instances(ctx context.Context) ([]rib.InstanceInfo, error) {
	var out []rib.InstanceInfo
	err := s.call(ctx, func() { out = s.rib.Instances() })
	return out, err
}

// AgentConfigInfo is what config an agent asked for and was sent.
type AgentConfigInfo struct {
	Agent    string   `json:"agent"`
	VRouter  string   `json:"virtual_router"`
	VMs      []string `json:"virtual_machines"`
	Objects  int      `json:"objects_in_subgraph"`
	Sent     int      `json:"config_changes_sent"`
	Messages int      `json:"messages_sent"`
}

// AgentConfigs lists the config state per agent (Snh_ShowConfigClientReq).
func (s *Server) AgentConfigs() []AgentConfigInfo {
	p := s.cfgPush
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []AgentConfigInfo
	for sess, ac := range p.agents {
		info := AgentConfigInfo{Agent: sess.name, VRouter: ac.vrouter, Sent: ac.objects, Messages: ac.messages}
		if ac.sent != nil {
			info.Objects = len(ac.sent.nodes)
		}
		for vm := range ac.vms {
			info.VMs = append(info.VMs, vm)
		}
		sort.Strings(info.VMs)
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out
}

// RegisterIntrospect adds the control node's pages to an introspect server.
func (s *Server) RegisterIntrospect(in *obs.Introspect) {
	in.Handle("/Snh_BgpNeighborReq", "XMPP and BGP neighbors (state, AS, families, prefixes, flaps)", func(r *http.Request) (any, error) {
		return s.Neighbors(r.Context())
	})
	in.Handle("/Snh_ShowRoutingInstanceReq", "routing instances", func(r *http.Request) (any, error) {
		return s.Instances(r.Context())
	})
	in.Handle("/Snh_ShowRouteReq", "routes of an instance: ?x=<instance>&family=inet|inet6|evpn|l3vpn", func(r *http.Request) (any, error) {
		inst := r.URL.Query().Get("x")
		if inst == "" {
			inst = rib.MasterInstance
		}
		famName := r.URL.Query().Get("family")
		if famName == "" {
			famName = "inet"
		}
		fam, err := rib.ParseFamily(famName)
		if err != nil {
			return nil, fmt.Errorf("family %q: %w", famName, obs.ErrBadRequest)
		}
		return s.Routes(r.Context(), inst, fam)
	})
	in.Handle("/Snh_ShowConfigClientReq", "config sent to each agent", func(r *http.Request) (any, error) {
		return s.AgentConfigs(), nil
	})
	in.Handle("/Snh_ShowRibStats", "RIB counters", func(r *http.Request) (any, error) {
		var st rib.Stats
		err := s.call(r.Context(), func() { st = s.rib.Stats() })
		return st, err
	})
	in.AddReadyCheck("xmpp", func(ctx context.Context) error {
		select {
		case <-s.ready:
			return nil
		default:
			return errNotReady
		}
	})
}

type notReady struct{}

func (notReady) Error() string { return "XMPP listener not up yet" }

var errNotReady error = notReady{}
