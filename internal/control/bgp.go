// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/contrail-go/contrail/internal/bgp"
	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/rib"
)

// bgpRouter is a bgp-router object's parameters.
type bgpRouter struct {
	Name      string
	Address   netip.Addr
	Port      uint16
	AS        uint32
	ID        netip.Addr
	HoldTime  time.Duration
	MD5       string
	Type      string // router_type: control-node, router, external-control-node, ...
	ClusterID uint32
	AdminDown bool
	Families  []rib.Family
}

// bgpPeer is a neighbor: the peer's bgp-router and the bgp-peering
// link's session attributes that apply to this node.
type bgpPeer struct {
	bgpRouter
	Passive     bool
	ASOverride  bool
	LoopCount   int
	PrefixLimit map[rib.Family]int
	PrefixIdle  time.Duration
}

// bgpConfig is what the config says about this control node's BGP.
type bgpConfig struct {
	self  *bgpRouter
	peers []bgpPeer
	// Graceful restart from global-system-config's
	// graceful_restart_parameters: enable advertises the capability,
	// helper keeps a restarting peer's routes.
	grEnable, grHelper bool
	grTime             time.Duration
	// grEoRTimeout is how long a (re)started speaker holds back its
	// End-of-RIB markers, while agents publish their routes again.
	grEoRTimeout time.Duration
	// vnIDs maps a virtual network's fq-name to its network id, for the
	// origin-VN extended community.
	vnIDs map[string]uint32
}

// bgpFromGraph finds this control node's bgp-router (by host name, as the
// original does) and the routers it peers with: those its object refers
// to and those that refer to it, with the bgp-peering attributes of the
// link. Callers hold the graph's read lock.
func bgpFromGraph(g *confgraph.Graph, hostname string) bgpConfig {
	var cfg bgpConfig
	globalAS := uint32(64512)
	if u, ok := g.LookupFQ("global-system-config", []string{"default-global-system-config"}); ok {
		o := g.Get(u).Obj
		var as uint32
		if o.Prop("autonomous_system", &as) && as != 0 {
			globalAS = as
		}
		gr := struct {
			Enable      bool `json:"enable"`
			RestartTime int  `json:"restart_time"`
			EoRTimeout  int  `json:"end_of_rib_timeout"`
			BGPHelper   bool `json:"bgp_helper_enable"`
		}{RestartTime: 300, EoRTimeout: 300}
		if o.Prop("graceful_restart_parameters", &gr) {
			cfg.grEnable, cfg.grHelper = gr.Enable, gr.Enable && gr.BGPHelper
			cfg.grTime = time.Duration(gr.RestartTime) * time.Second
			cfg.grEoRTimeout = time.Duration(gr.EoRTimeout) * time.Second
		}
	}
	cfg.vnIDs = map[string]uint32{}
	for _, u := range g.UUIDs("virtual-network") {
		o := g.Get(u).Obj
		var id uint32
		if o.Prop("virtual_network_network_id", &id) && id != 0 {
			cfg.vnIDs[o.FQNameString()] = id
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
	add := func(n *confgraph.Node, attr json.RawMessage) {
		if n == nil || seen[n.Obj.UUID] {
			return
		}
		seen[n.Obj.UUID] = true
		r, ok := parseBGPRouter(n.Obj, globalAS)
		if !ok {
			return
		}
		cfg.peers = append(cfg.peers, peeringOf(r, *cfg.self, attr))
	}
	for _, ref := range self.Obj.Refs["bgp_router_refs"] {
		add(g.Get(ref.UUID), ref.Attr)
	}
	for _, p := range g.BackRefNodes(self, "bgp-router") {
		var attr json.RawMessage
		for _, ref := range p.Obj.Refs["bgp_router_refs"] {
			if ref.UUID == self.Obj.UUID {
				attr = ref.Attr
			}
		}
		add(p, attr)
	}
	sort.Slice(cfg.peers, func(i, j int) bool { return cfg.peers[i].Name < cfg.peers[j].Name })
	return cfg
}

type authData struct {
	KeyType  string `json:"key_type"`
	KeyItems []struct {
		Key string `json:"key"`
	} `json:"key_items"`
}

func (a *authData) md5() string {
	if a != nil && a.KeyType == "md5" && len(a.KeyItems) > 0 {
		return a.KeyItems[0].Key
	}
	return ""
}

type addressFamilies struct {
	Family []string `json:"family"`
}

// families maps the original's family names to the RIB's VPN families;
// route-target is always on, inet/inet6/erm-vpn/mvpn are not served.
func (a *addressFamilies) families() []rib.Family {
	if a == nil {
		return nil
	}
	var out []rib.Family
	for _, f := range a.Family {
		switch f {
		case "inet-vpn":
			out = append(out, rib.InetVPN)
		case "inet6-vpn":
			out = append(out, rib.Inet6VPN)
		case "e-vpn", "evpn":
			out = append(out, rib.EVPN)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func parseBGPRouter(o *model.Object, globalAS uint32) (bgpRouter, bool) {
	var p struct {
		Address          string           `json:"address"`
		Identifier       string           `json:"identifier"`
		Port             int              `json:"port"`
		AutonomousSystem uint32           `json:"autonomous_system"`
		HoldTime         int              `json:"hold_time"`
		RouterType       string           `json:"router_type"`
		AuthData         *authData        `json:"auth_data"`
		ClusterID        json.Number      `json:"cluster_id"`
		AdminDown        bool             `json:"admin_down"`
		AddressFamilies  *addressFamilies `json:"address_families"`
	}
	raw, ok := o.Props["bgp_router_parameters"]
	if !ok || json.Unmarshal(raw, &p) != nil {
		return bgpRouter{}, false
	}
	r := bgpRouter{Name: o.Name(), Port: 179, AS: globalAS, HoldTime: 90 * time.Second, Type: p.RouterType,
		AdminDown: p.AdminDown, MD5: p.AuthData.md5(), Families: p.AddressFamilies.families()}
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
	r.ClusterID = parseClusterID(string(p.ClusterID))
	return r, true
}

// parseClusterID reads a cluster id given as a number or a dotted quad.
func parseClusterID(s string) uint32 {
	if s == "" {
		return 0
	}
	var n json.Number = json.Number(s)
	if v, err := n.Int64(); err == nil && v > 0 && v <= 0xffffffff {
		return uint32(v)
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	return 0
}

// peeringOf applies a bgp-peering link's attributes to a peer: those
// that name this node (bgp_router) win over those that name no router;
// attributes naming the peer are the peer's side and ignored here.
func peeringOf(peer, self bgpRouter, attr json.RawMessage) bgpPeer {
	p := bgpPeer{bgpRouter: peer}
	p.HoldTime = min(peer.HoldTime, self.HoldTime)
	if p.MD5 == "" {
		p.MD5 = self.MD5
	}
	if p.Families == nil {
		p.Families = self.Families
	}
	var link struct {
		Session []struct {
			Attributes []struct {
				BGPRouter        string           `json:"bgp_router"`
				AdminDown        bool             `json:"admin_down"`
				Passive          bool             `json:"passive"`
				ASOverride       bool             `json:"as_override"`
				HoldTime         int              `json:"hold_time"`
				LoopCount        int              `json:"loop_count"`
				AddressFamilies  *addressFamilies `json:"address_families"`
				AuthData         *authData        `json:"auth_data"`
				FamilyAttributes []struct {
					AddressFamily string `json:"address_family"`
					LoopCount     int    `json:"loop_count"`
					PrefixLimit   *struct {
						Maximum     int `json:"maximum"`
						IdleTimeout int `json:"idle_timeout"`
					} `json:"prefix_limit"`
				} `json:"family_attributes"`
			} `json:"attributes"`
		} `json:"session"`
	}
	if len(attr) == 0 || json.Unmarshal(attr, &link) != nil {
		return p
	}
	for pass := 0; pass < 2; pass++ {
		for _, s := range link.Session {
			for _, a := range s.Attributes {
				// First the common attributes, then ours over them.
				if pass == 0 && a.BGPRouter != "" || pass == 1 && a.BGPRouter != self.Name {
					continue
				}
				p.AdminDown = p.AdminDown || a.AdminDown
				p.Passive = p.Passive || a.Passive
				p.ASOverride = p.ASOverride || a.ASOverride
				if a.HoldTime > 0 {
					p.HoldTime = time.Duration(a.HoldTime) * time.Second
				}
				if a.LoopCount > 0 {
					p.LoopCount = a.LoopCount
				}
				if fams := a.AddressFamilies.families(); len(fams) > 0 {
					p.Families = fams
				}
				if k := a.AuthData.md5(); k != "" {
					p.MD5 = k
				}
				for _, fa := range a.FamilyAttributes {
					fams := (&addressFamilies{Family: []string{fa.AddressFamily}}).families()
					if fa.LoopCount > p.LoopCount {
						p.LoopCount = fa.LoopCount
					}
					if fa.PrefixLimit == nil || fa.PrefixLimit.Maximum <= 0 {
						continue
					}
					if p.PrefixLimit == nil {
						p.PrefixLimit = map[rib.Family]int{}
					}
					for _, f := range fams {
						p.PrefixLimit[f] = fa.PrefixLimit.Maximum
					}
					if fa.PrefixLimit.IdleTimeout > 0 {
						p.PrefixIdle = time.Duration(fa.PrefixLimit.IdleTimeout) * time.Second
					}
				}
			}
		}
	}
	return p
}

// bgpSide is the control node's BGP speaker and what it has advertised.
// Owned by the loop.
type bgpSide struct {
	speaker    *bgp.Speaker
	cancel     context.CancelFunc
	self       bgpRouter
	listen     string
	neighbors  map[netip.Addr]bgpPeer
	peers      map[netip.Addr]*bgpPeerState
	advertised map[vpnKey]bool
	out        chan bgpOut
	// reflect tells whether a path learned from a BGP neighbor can go to
	// any other neighbor (see reflects).
	anyEBGP bool
	// Origin VN: network ids by fq-name and back.
	vnIDs   map[string]uint32
	vnNames map[uint32]string
}

// The original's origin-VN extended community: experimental type 0x80,
// subtype 0x71, a 2-byte AS and the virtual network's id.
const (
	extOriginVN     = 0x8071
	extOriginVNMask = 0xffff << 48
)

func originVNCommunity(as uint32, id uint32) uint64 {
	return uint64(extOriginVN)<<48 | uint64(as&0xffff)<<32 | uint64(id)
}

// withOriginVN adds the origin-VN community of a path's virtual network
// (agents' routes carry its fq-name) when the network has an id and our
// AS fits the community.
func (b *bgpSide) withOriginVN(ch *bgp.PathChange) {
	id, ok := b.vnIDs[ch.Attrs.VirtualNetwork]
	if !ok || b.self.AS > 0xffff {
		return
	}
	for _, v := range ch.Attrs.ExtCommunities {
		if v&extOriginVNMask == uint64(extOriginVN)<<48 {
			return
		}
	}
	ch.Attrs.ExtCommunities = append(slices.Clone(ch.Attrs.ExtCommunities), originVNCommunity(b.self.AS, id))
}

// originVN names the virtual network of a received path from its
// origin-VN community, when the community's AS is ours.
func (b *bgpSide) originVN(a *rib.Attrs) {
	if a.VirtualNetwork != "" {
		return
	}
	for _, v := range a.ExtCommunities {
		if v&extOriginVNMask == uint64(extOriginVN)<<48 && uint32(v>>32&0xffff) == b.self.AS&0xffff {
			if name, ok := b.vnNames[uint32(v)]; ok {
				a.VirtualNetwork = name
				return
			}
		}
	}
}

// bgpPeerState is an established (or restarting) BGP neighbor.
type bgpPeerState struct {
	id      rib.PeerID
	session uint64 // the current session; 0 while down (graceful restart)
	// stale is set while the peer's paths are marked stale (graceful
	// restart helper): until End-of-RIB of every family in eor arrives, or
	// the timer (restart time while down, then End-of-RIB timeout) fires.
	stale     bool
	eor       map[rib.Family]bool
	timerGen  int
	timer     *time.Timer
	families  []rib.Family
	restartAt time.Time
}

// bgpOut is what the advertiser goroutine sends: changes to every
// neighbor, or (to set) the whole table to one new neighbor. One queue
// keeps them in order.
type bgpOut struct {
	to      netip.Addr
	changes []bgp.PathChange
}

type vpnKey struct {
	fam rib.Family
	key rib.Key
}

var vpnFamilies = []rib.Family{rib.InetVPN, rib.Inet6VPN, rib.EVPN}

// eorTimeout bounds the wait for a restarted peer's End-of-RIB.
const eorTimeout = 300 * time.Second

// applyBGP starts the speaker once this node's bgp-router exists,
// restarts it when this node's identity (address, port, AS, identifier,
// cluster id) changes, and brings the neighbors in line with the config:
// new ones are added, removed ones deleted (Cease/Peer De-configured),
// changed ones updated (a session reset only where needed, see
// bgp.Speaker.SetNeighbor).
func (s *Server) applyBGP(cfg bgpConfig) {
	if s.cfg.BGPListen == "none" {
		return
	}
	if cfg.self == nil {
		if s.bgp != nil {
			s.stopBGP("this node's bgp-router is gone")
		}
		return
	}
	listen := s.cfg.BGPListen
	if listen == "" {
		listen = netip.AddrPortFrom(cfg.self.Address, cfg.self.Port).String()
	}
	if b := s.bgp; b != nil && (b.self.ID != cfg.self.ID || b.self.AS != cfg.self.AS || b.listen != listen ||
		b.self.ClusterID != cfg.self.ClusterID || b.self.AdminDown != cfg.self.AdminDown) {
		s.stopBGP("this node's bgp-router changed")
	}
	if cfg.self.AdminDown {
		return
	}
	started := false
	if s.bgp == nil {
		if !s.startBGP(cfg, listen) {
			// The address may still be held (a previous speaker, another
			// process): try again unless a newer config started BGP.
			time.AfterFunc(2*time.Second, func() {
				s.post(func() {
					if s.bgp != nil || s.ctx.Err() != nil {
						return
					}
					s.graph.RLock()
					now := bgpFromGraph(s.graph, s.cfg.Hostname)
					s.graph.RUnlock()
					s.applyBGP(now)
				})
			})
			return
		}
		started = true
	}
	b := s.bgp
	b.self = *cfg.self
	b.vnIDs = cfg.vnIDs
	b.vnNames = make(map[uint32]string, len(cfg.vnIDs))
	for name, id := range cfg.vnIDs {
		b.vnNames[id] = name
	}
	reflectBefore := [2]any{len(b.neighbors), b.anyEBGP}
	// Route-target constraint: ask peers for our instances' import targets.
	var targets []rib.RouteTarget
	for _, in := range s.instances {
		targets = append(targets, in.ImportTargets...)
	}
	b.speaker.SetRouteTargets(targets)

	want := map[netip.Addr]bgpPeer{}
	for _, p := range cfg.peers {
		if p.Address == cfg.self.Address {
			continue
		}
		want[p.Address] = p
	}
	for addr := range b.neighbors {
		if _, ok := want[addr]; !ok {
			if err := b.speaker.RemoveNeighbor(addr); err != nil {
				s.log.Warn("BGP neighbor not removed", "neighbor", addr.String(), "err", err)
			}
			delete(b.neighbors, addr)
			s.log.Info("BGP neighbor removed", "neighbor", addr.String())
		}
	}
	b.anyEBGP = false
	for addr, p := range want {
		n := bgp.Neighbor{Address: p.Address, Port: p.Port, PeerAS: p.AS, HoldTime: p.HoldTime, MD5Password: p.MD5,
			Passive: p.Passive, AdminDown: p.AdminDown || p.bgpRouter.AdminDown, Families: p.Families,
			PrefixLimit: p.PrefixLimit, PrefixLimitIdle: p.PrefixIdle, ASOverride: p.ASOverride, LoopCount: p.LoopCount,
			GracefulRestart: cfg.grEnable, RestartTime: cfg.grTime, GRHelper: cfg.grHelper}
		reset, err := b.speaker.SetNeighbor(n)
		if err != nil {
			s.log.Warn("BGP neighbor not configured", "neighbor", p.Name, "err", err)
			continue
		}
		if _, had := b.neighbors[addr]; !had {
			s.log.Info("BGP neighbor added", "neighbor", p.Name, "address", addr.String(), "as", p.AS)
			if !started {
				defer s.seedNeighbor(addr)
			}
		} else if reset {
			s.log.Info("BGP neighbor changed, session reset", "neighbor", p.Name)
		}
		b.neighbors[addr] = p
		if p.AS != b.self.AS {
			b.anyEBGP = true
		}
	}
	// Routes that exist already (a new speaker), or a change of what may
	// be reflected: the export decisions are made again. Neighbors added
	// to a running speaker get the table after that (deferred above).
	if started || reflectBefore != [2]any{len(b.neighbors), b.anyEBGP} {
		s.reexport()
	}
}

// startBGP creates and starts the speaker; it reports whether it did.
// With graceful restart enabled the speaker starts as a restarting
// speaker: helpers keep our previous routes, and our End-of-RIB waits
// end_of_rib_timeout for the agents to publish theirs again.
func (s *Server) startBGP(cfg bgpConfig, listen string) bool {
	self := *cfg.self
	sp, err := bgp.NewSpeaker(bgp.Config{RouterID: self.ID, LocalAS: self.AS, ListenAddr: listen, ClusterID: self.ClusterID,
		Restarting:   cfg.grEnable && cfg.grEoRTimeout > 0,
		ConnectRetry: 500 * time.Millisecond, MaxBackoff: 10 * time.Second, Logger: s.log.With("component", "bgp")})
	if err != nil {
		s.log.Warn("BGP speaker not started", "err", err)
		return false
	}
	if sp.Restarting() {
		time.AfterFunc(cfg.grEoRTimeout, sp.EndRestart)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	b := &bgpSide{speaker: sp, cancel: cancel, self: self, listen: listen, neighbors: map[netip.Addr]bgpPeer{},
		peers: map[netip.Addr]*bgpPeerState{}, advertised: map[vpnKey]bool{}, out: make(chan bgpOut, 1024)}
	s.bgp = b
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		if err := sp.Start(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("BGP speaker stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		for ev := range sp.Events() {
			s.post(func() { s.bgpEvent(b, ev) })
		}
	}()
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case o := <-b.out:
				var err error
				if o.to.IsValid() {
					err = sp.Advertise(o.to, o.changes)
				} else {
					err = sp.AdvertiseAll(o.changes)
				}
				if err != nil && ctx.Err() == nil {
					s.log.Debug("BGP advertise", "err", err)
				}
			}
		}
	}()
	s.log.Info("BGP speaker started", "router", self.Name, "as", self.AS, "listen", listen, "cluster_id", self.ClusterID)
	return true
}

// reexport runs the export decision again for every VPN route (what may
// be reflected changed) and queues the differences for every neighbor.
func (s *Server) reexport() {
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

// seedNeighbor queues everything advertised for a neighbor just added.
func (s *Server) seedNeighbor(addr netip.Addr) {
	b := s.bgp
	var changes []bgp.PathChange
	for _, fam := range vpnFamilies {
		for ri := range s.rib.Routes(rib.MasterInstance, fam) {
			if b.advertised[vpnKey{fam, ri.Key}] {
				if ch, ok := s.exportPath(fam, ri.Key, ri.Paths[:max(ri.ECMP, 1)]); ok {
					changes = append(changes, ch)
				}
			}
		}
	}
	if len(changes) == 0 {
		return
	}
	select {
	case b.out <- bgpOut{to: addr, changes: changes}:
	case <-s.ctx.Done():
	}
}

// stopBGP stops the speaker and withdraws what its neighbors sent.
func (s *Server) stopBGP(why string) {
	b := s.bgp
	s.bgp = nil
	b.speaker.CloseListener() // a new speaker may take the address now
	b.cancel()
	for addr, ps := range b.peers {
		if ps.timer != nil {
			ps.timer.Stop()
		}
		n, _ := s.rib.DeletePeerPaths(ps.id)
		s.log.Info("BGP routes withdrawn", "neighbor", addr.String(), "routes", n)
	}
	s.log.Info("BGP speaker stopped", "reason", why)
}

func (s *Server) queueBGP(changes []bgp.PathChange) {
	if len(changes) == 0 || s.bgp == nil {
		return
	}
	select {
	case s.bgp.out <- bgpOut{changes: changes}:
	case <-s.ctx.Done():
	}
}

// reflects reports whether a path learned from neighbor src may go to some
// other neighbor: an eBGP path to any other neighbor; an iBGP path to eBGP
// neighbors, and to iBGP ones when this node is a route reflector
// (cluster id set).
func (b *bgpSide) reflects(src rib.PeerInfo) bool {
	others := len(b.neighbors)
	if _, ok := b.neighbors[src.Addr]; ok {
		others--
	}
	if others <= 0 {
		return false
	}
	return src.External || b.anyEBGP || b.self.ClusterID != 0
}

// exportChange is what a VPN route change means for BGP neighbors: the
// best path is advertised if it came from one of this node's agents (next
// hop: the vrouter) or from a BGP neighbor that may be reflected (the
// speaker keeps it from its source and, without a cluster id, from iBGP
// neighbors); otherwise what was advertised is withdrawn.
func (s *Server) exportChange(fam rib.Family, key rib.Key, best []*rib.Path) (bgp.PathChange, bool) {
	k := vpnKey{fam, key}
	if ch, ok := s.exportPath(fam, key, best); ok {
		s.bgp.advertised[k] = true
		return ch, true
	}
	if s.bgp.advertised[k] {
		delete(s.bgp.advertised, k)
		return bgp.PathChange{Family: fam, Key: key, Withdraw: true}, true
	}
	return bgp.PathChange{}, false
}

// exportPath is the path of a VPN route that BGP neighbors get, if any.
func (s *Server) exportPath(fam rib.Family, key rib.Key, best []*rib.Path) (bgp.PathChange, bool) {
	for _, p := range best {
		info, ok := s.rib.Peer(p.Primary().Peer())
		if !ok {
			continue
		}
		ch := bgp.PathChange{Family: fam, Key: key, Label: p.Label(), Attrs: *p.Attrs()}
		switch info.Kind {
		case rib.PeerXMPP:
			s.bgp.withOriginVN(&ch)
		case rib.PeerBGP:
			if !s.bgp.reflects(info) {
				continue
			}
			ch.Source, ch.SourceIBGP = info.Addr, !info.External
			if !info.External {
				ch.FromPeer = info.RouterID
			}
		default:
			continue
		}
		return ch, true
	}
	return bgp.PathChange{}, false
}

// bgpEvent applies what a BGP neighbor sent.
func (s *Server) bgpEvent(b *bgpSide, ev bgp.Event) {
	if b != s.bgp {
		return // a stopped speaker; stopBGP withdrew its routes
	}
	addr := ev.Neighbor.Unmap()
	ps := b.peers[addr]
	switch ev.Type {
	case bgp.EventUp:
		id, err := s.rib.AddPeer(rib.PeerInfo{Kind: rib.PeerBGP, Name: addr.String(), Addr: addr, RouterID: ev.PeerID, External: ev.External})
		if err != nil {
			s.log.Warn("BGP peer not registered", "neighbor", addr.String(), "err", err)
			return
		}
		if ps != nil && ps.session != 0 && !ps.stale {
			// The end of the previous session was not reported yet (the
			// neighbor was re-configured): its paths wait, stale, for
			// this session's End-of-RIB.
			s.rib.MarkStale(ps.id)
			ps.stale = true
		}
		if ps == nil {
			ps = &bgpPeerState{}
			b.peers[addr] = ps
		}
		ps.id, ps.session, ps.families = id, ev.Session, ev.Families
		if ps.stale {
			ps.eor = map[rib.Family]bool{}
			s.armStaleTimer(b, addr, ps, eorTimeout)
			if len(ps.families) == 0 {
				s.sweep(addr, ps)
			}
		}
		s.log.Info("BGP session up", "neighbor", addr.String(), "peer_id", ev.PeerID.String(), "restarting", ps.stale)
	case bgp.EventDown:
		if ps == nil || ps.session != ev.Session {
			return
		}
		ps.session = 0
		if ev.RestartTime > 0 {
			n, _ := s.rib.MarkStale(ps.id)
			ps.stale = true
			ps.restartAt = time.Now()
			s.armStaleTimer(b, addr, ps, ev.RestartTime)
			s.log.Info("BGP session down, routes kept stale (graceful restart helper)", "neighbor", addr.String(),
				"routes", n, "restart_time", ev.RestartTime, "err", ev.Err)
			return
		}
		n, _ := s.rib.DeletePeerPaths(ps.id)
		if ps.timer != nil {
			ps.timer.Stop()
		}
		delete(b.peers, addr)
		s.log.Info("BGP session down, routes withdrawn", "neighbor", addr.String(), "routes", n, "err", ev.Err)
	case bgp.EventEndOfRIB:
		if ps == nil || ps.session != ev.Session || !ps.stale {
			return
		}
		ps.eor[ev.Family] = true
		for _, f := range ps.families {
			if !ps.eor[f] {
				return
			}
		}
		s.sweep(addr, ps)
	case bgp.EventChanges:
		if ps == nil || ps.session != ev.Session {
			return
		}
		for i := range ev.Changes {
			ch := &ev.Changes[i]
			if ch.Withdraw {
				s.rib.DeleteVPNPath(ch.Family, ch.Key, ps.id)
				continue
			}
			b.originVN(&ch.Attrs)
			if err := s.rib.AddVPNPath(ch.Family, ch.Key, ps.id, ch.Label, &ch.Attrs); err != nil {
				s.log.Debug("BGP path not added", "route", ch.Key.String(), "err", err)
			}
		}
	}
}

// sweep ends a graceful restart: the paths the peer did not send again are
// withdrawn.
func (s *Server) sweep(addr netip.Addr, ps *bgpPeerState) {
	n, _ := s.rib.SweepStale(ps.id)
	ps.stale = false
	ps.timerGen++
	if ps.timer != nil {
		ps.timer.Stop()
		ps.timer = nil
	}
	s.log.Info("BGP graceful restart done, stale routes swept", "neighbor", addr.String(), "routes", n)
}

// armStaleTimer withdraws the peer's stale paths after d unless the
// restart completes first.
func (s *Server) armStaleTimer(b *bgpSide, addr netip.Addr, ps *bgpPeerState, d time.Duration) {
	ps.timerGen++
	gen := ps.timerGen
	if ps.timer != nil {
		ps.timer.Stop()
	}
	ps.timer = time.AfterFunc(d, func() {
		s.post(func() {
			if s.bgp != b || b.peers[addr] != ps || ps.timerGen != gen || !ps.stale {
				return
			}
			if ps.session == 0 {
				n, _ := s.rib.DeletePeerPaths(ps.id)
				delete(b.peers, addr)
				s.log.Info("BGP restart time over, routes withdrawn", "neighbor", addr.String(), "routes", n)
				return
			}
			s.sweep(addr, ps)
		})
	})
}

// bgpNeighbors lists the BGP neighbors for the introspect.
func (s *Server) bgpNeighbors() []NeighborInfo {
	b := s.bgp
	if b == nil {
		return nil
	}
	var out []NeighborInfo
	for _, st := range b.speaker.Status() {
		addr, _ := netip.ParseAddr(st.Address)
		p := b.neighbors[addr]
		n := NeighborInfo{Peer: p.Name, PeerAddress: st.Address, Encoding: "BGP", State: st.State,
			BGP: &BGPNeighborInfo{NeighborStatus: st, RouterType: p.Type}}
		n.Established = st.UpSince
		n.BGP.PeerType = "internal"
		if p.AS != b.self.AS {
			n.BGP.PeerType = "external"
		}
		if ps := b.peers[addr]; ps != nil {
			n.Paths = s.rib.PeerPathCount(ps.id)
			n.BGP.PrefixesReceived = n.Paths
			n.BGP.Stale = ps.stale
		}
		out = append(out, n)
	}
	return out
}

// BGPNeighborInfo is the BGP part of a neighbor on the introspect.
type BGPNeighborInfo struct {
	bgp.NeighborStatus
	RouterType       string `json:"router_type,omitempty"`
	PeerType         string `json:"peer_type"`
	PrefixesReceived int    `json:"prefixes_received"`
	Stale            bool   `json:"graceful_restart_stale,omitempty"`
}
