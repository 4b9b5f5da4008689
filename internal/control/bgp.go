// SPDX-License-Identifier: Apache-2.0

package control

import (
	"encoding/json"
	"net/netip"
	"sort"
	"time"

	"github.com/contrail-go/contrail/internal/bgp"
	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/rib"
)

// bgpRouter is a bgp-router object's parameters.
type bgpRouter struct {
	Name     string
	Address  netip.Addr
	Port     uint16
	AS       uint32
	ID       netip.Addr
	HoldTime time.Duration
	MD5      string
	Type     string // router_type: control-node, router, external-control-node, ...
}

// bgpConfig is what the config says about this control node's BGP.
type bgpConfig struct {
	self  *bgpRouter
	peers []bgpRouter
}

// bgpFromGraph finds this control node's bgp-router (by host name, as the
// original does) and the routers it peers with: those its object refers
// to and those that refer to it. Callers hold the graph's read lock.
func bgpFromGraph(g *confgraph.Graph, hostname string) bgpConfig {
	var cfg bgpConfig
	globalAS := uint32(64512)
	if u, ok := g.LookupFQ("global-system-config", []string{"default-global-system-config"}); ok {
		var as uint32
		if g.Get(u).Obj.Prop("autonomous_system", &as) && as != 0 {
			globalAS = as
		}
	}
	var self *confgraph.Node
	for _, u := range g.UUIDs("bgp-router") {
		n := g.Get(u)
		if n.Obj.Name() != hostname {
			continue
		}
		r, ok := parseBGPRouter(n.Obj, globalAS)
		if !ok {
			continue
		}
		self, cfg.self = n, &r
		break
	}
	if self == nil {
		return cfg
	}
	seen := map[string]bool{self.Obj.UUID: true}
	add := func(n *confgraph.Node) {
		if n == nil || seen[n.Obj.UUID] {
			return
		}
		seen[n.Obj.UUID] = true
		if r, ok := parseBGPRouter(n.Obj, globalAS); ok {
			cfg.peers = append(cfg.peers, r)
		}
	}
	for _, p := range g.RefNodes(self, "bgp_router_refs") {
		add(p)
	}
	for _, p := range g.BackRefNodes(self, "bgp-router") {
		add(p)
	}
	sort.Slice(cfg.peers, func(i, j int) bool { return cfg.peers[i].Name < cfg.peers[j].Name })
	return cfg
}

func parseBGPRouter(o *model.Object, globalAS uint32) (bgpRouter, bool) {
	var p struct {
		Address          string `json:"address"`
		Identifier       string `json:"identifier"`
		Port             int    `json:"port"`
		AutonomousSystem uint32 `json:"autonomous_system"`
		HoldTime         int    `json:"hold_time"`
		RouterType       string `json:"router_type"`
		AuthData         *struct {
			KeyType  string `json:"key_type"`
			KeyItems []struct {
				Key string `json:"key"`
			} `json:"key_items"`
		} `json:"auth_data"`
	}
	raw, ok := o.Props["bgp_router_parameters"]
	if !ok || json.Unmarshal(raw, &p) != nil {
		return bgpRouter{}, false
	}
	r := bgpRouter{Name: o.Name(), Port: 179, AS: globalAS, HoldTime: 90 * time.Second, Type: p.RouterType}
	var err error
	if r.Address, err = netip.ParseAddr(p.Address); err != nil {
		return bgpRouter{}, false
	}
	r.ID = r.Address
	if id, err := netip.ParseAddr(p.Identifier); err == nil {
		r.ID = id
	}
	if p.Port > 0 && p.Port < 65536 {
		r.Port = uint16(p.Port)
	}
	if p.AutonomousSystem != 0 {
		r.AS = p.AutonomousSystem
	}
	if p.HoldTime > 0 {
		r.HoldTime = time.Duration(p.HoldTime) * time.Second
	}
	if p.AuthData != nil && p.AuthData.KeyType == "md5" && len(p.AuthData.KeyItems) > 0 {
		r.MD5 = p.AuthData.KeyItems[0].Key
	}
	return r, true
}

// bgpSide is the control node's BGP speaker and what it has advertised.
// Owned by the loop.
type bgpSide struct {
	speaker    *bgp.Speaker
	self       bgpRouter
	neighbors  map[netip.Addr]bool
	peers      map[netip.Addr]rib.PeerID
	advertised map[vpnKey]bool
	out        chan []bgp.PathChange
}

type vpnKey struct {
	fam rib.Family
	key rib.Key
}

var vpnFamilies = []rib.Family{rib.InetVPN, rib.Inet6VPN, rib.EVPN}

// applyBGP starts the speaker once this node's bgp-router exists and adds
// the neighbors the config names. Removing a neighbor at run time needs a
// restart for now.
func (s *Server) applyBGP(cfg bgpConfig) {
	if cfg.self == nil || s.cfg.BGPListen == "none" {
		return
	}
	if s.bgp == nil {
		listen := s.cfg.BGPListen
		if listen == "" {
			listen = netip.AddrPortFrom(cfg.self.Address, cfg.self.Port).String()
		}
		sp, err := bgp.NewSpeaker(bgp.Config{RouterID: cfg.self.ID, LocalAS: cfg.self.AS, ListenAddr: listen,
			ConnectRetry: 500 * time.Millisecond, Logger: s.log.With("component", "bgp")})
		if err != nil {
			s.log.Warn("BGP speaker not started", "err", err)
			return
		}
		b := &bgpSide{speaker: sp, self: *cfg.self, neighbors: map[netip.Addr]bool{}, peers: map[netip.Addr]rib.PeerID{},
			advertised: map[vpnKey]bool{}, out: make(chan []bgp.PathChange, 1024)}
		s.bgp = b
		s.wg.Add(3)
		go func() {
			defer s.wg.Done()
			if err := sp.Start(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Warn("BGP speaker stopped", "err", err)
			}
		}()
		go func() {
			defer s.wg.Done()
			for ev := range sp.Events() {
				s.post(func() { s.bgpEvent(ev) })
			}
		}()
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-s.ctx.Done():
					return
				case ch := <-b.out:
					if err := sp.AdvertiseAll(ch); err != nil && s.ctx.Err() == nil {
						s.log.Debug("BGP advertise", "err", err)
					}
				}
			}
		}()
		s.log.Info("BGP speaker started", "router", cfg.self.Name, "as", cfg.self.AS, "listen", listen)
		// Routes that exist already.
		var changes []bgp.PathChange
		for _, fam := range vpnFamilies {
			for ri := range s.rib.Routes(rib.MasterInstance, fam) {
				if ch, ok := s.exportChange(fam, ri.Key, ri.Paths[:max(ri.ECMP, 1)]); ok {
					changes = append(changes, ch)
				}
			}
		}
		s.queueBGP(changes)
	}
	for _, p := range cfg.peers {
		if s.bgp.neighbors[p.Address] {
			continue
		}
		// Two of our control nodes would both dial and collide, and the
		// speaker does not resolve collisions yet: between control nodes
		// only the one with the lower identifier dials.
		passive := p.Type == "control-node" && s.bgp.self.ID.Compare(p.ID) > 0
		err := s.bgp.speaker.AddNeighbor(bgp.Neighbor{Address: p.Address, Port: p.Port, PeerAS: p.AS,
			HoldTime: min(p.HoldTime, s.bgp.self.HoldTime), MD5Password: p.MD5, Passive: passive})
		if err != nil {
			s.log.Warn("BGP neighbor not added", "neighbor", p.Name, "err", err)
			continue
		}
		s.bgp.neighbors[p.Address] = true
	}
}

func (s *Server) queueBGP(changes []bgp.PathChange) {
	if len(changes) == 0 || s.bgp == nil {
		return
	}
	select {
	case s.bgp.out <- changes:
	case <-s.ctx.Done():
	}
}

// exportChange is what a VPN route change means for BGP neighbors: the
// routes of this node's agents are advertised (next hop: the vrouter);
// routes learned from BGP are not sent on (no route reflection yet).
func (s *Server) exportChange(fam rib.Family, key rib.Key, best []*rib.Path) (bgp.PathChange, bool) {
	k := vpnKey{fam, key}
	for _, p := range best {
		info, ok := s.rib.Peer(p.Primary().Peer())
		if !ok || info.Kind != rib.PeerXMPP {
			continue
		}
		s.bgp.advertised[k] = true
		return bgp.PathChange{Family: fam, Key: key, Label: p.Label(), Attrs: *p.Attrs()}, true
	}
	if s.bgp.advertised[k] {
		delete(s.bgp.advertised, k)
		return bgp.PathChange{Family: fam, Key: key, Withdraw: true}, true
	}
	return bgp.PathChange{}, false
}

// bgpEvent applies what a BGP neighbor sent.
func (s *Server) bgpEvent(ev bgp.Event) {
	b := s.bgp
	if b == nil {
		return
	}
	addr := ev.Neighbor.Unmap()
	switch ev.Type {
	case bgp.EventUp:
		id, err := s.rib.AddPeer(rib.PeerInfo{Kind: rib.PeerBGP, Name: addr.String(), Addr: addr})
		if err != nil {
			s.log.Warn("BGP peer not registered", "neighbor", addr.String(), "err", err)
			return
		}
		b.peers[addr] = id
		s.log.Info("BGP session up", "neighbor", addr.String())
	case bgp.EventDown:
		if id, ok := b.peers[addr]; ok {
			n, _ := s.rib.DeletePeerPaths(id)
			delete(b.peers, addr)
			s.log.Info("BGP session down, routes withdrawn", "neighbor", addr.String(), "routes", n, "err", ev.Err)
		}
	case bgp.EventChanges:
		id, ok := b.peers[addr]
		if !ok {
			return
		}
		for i := range ev.Changes {
			ch := &ev.Changes[i]
			if ch.Withdraw {
				s.rib.DeleteVPNPath(ch.Family, ch.Key, id)
				continue
			}
			if err := s.rib.AddVPNPath(ch.Family, ch.Key, id, ch.Label, &ch.Attrs); err != nil {
				s.log.Debug("BGP path not added", "route", ch.Key.String(), "err", err)
			}
		}
	}
}
