// SPDX-License-Identifier: Apache-2.0

package control

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/contrail-go/contrail/internal/bgp"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/rib"
)

// routeChange is one route of a publish, decoded for the RIB.
type routeChange struct {
	fam      rib.Family
	key      rib.Key
	label    uint32
	attrs    rib.Attrs // SourceRD is filled on the loop (it needs the instance id)
	withdraw bool
}

// decodeRouteChange turns a publish + collection into RIB changes. It runs
// on the session's reader; errors close the session.
func decodeRouteChange(rc *xmpp.RouteChange) ([]routeChange, error) {
	if len(rc.Items) == 0 {
		return nil, fmt.Errorf("publish %q has no item", rc.Node)
	}
	out := make([]routeChange, 0, len(rc.Items))
	for _, it := range rc.Items {
		var ch routeChange
		var err error
		switch e := it.Entry.(type) {
		case *xmpp.UnicastEntry:
			ch, err = fromUnicast(e)
		case *xmpp.EVPNEntry:
			ch, err = fromEVPN(e)
		case nil:
			return nil, fmt.Errorf("publish %q: item without entry", rc.Node)
		default:
			return nil, fmt.Errorf("publish %q: family %v is not supported", rc.Node, it.Entry.EntryFamily())
		}
		if err != nil {
			return nil, fmt.Errorf("publish %q: %w", rc.Node, err)
		}
		ch.withdraw = rc.Withdraw
		out = append(out, ch)
	}
	return out, nil
}

// parseNextHop fills the next-hop part of a path's attributes from an
// XMPP next hop.
func parseNextHop(a *rib.Attrs, addr, mac string, encaps []string) error {
	var err error
	if a.NextHop, err = netip.ParseAddr(addr); err != nil {
		return fmt.Errorf("next-hop address %q: %v", addr, err)
	}
	if mac != "" {
		if a.RouterMAC, err = rib.ParseMAC(mac); err != nil {
			return fmt.Errorf("next-hop mac %q: %v", mac, err)
		}
	}
	a.Encap, err = parseEncaps(encaps)
	return err
}

func parseEncaps(list []string) (rib.Encap, error) {
	var e rib.Encap
	for _, n := range list {
		x, err := rib.ParseEncap(n)
		if err != nil {
			return 0, err
		}
		e |= x
	}
	return e, nil
}

func fromUnicast(e *xmpp.UnicastEntry) (routeChange, error) {
	var ch routeChange
	switch {
	case e.NLRI.AF == 1 && (e.NLRI.SAFI == 1 || e.NLRI.SAFI == 4):
		ch.fam = rib.Inet
	case e.NLRI.AF == 2 && e.NLRI.SAFI == 1:
		ch.fam = rib.Inet6
	default:
		return ch, fmt.Errorf("unknown family %d/%d", e.NLRI.AF, e.NLRI.SAFI)
	}
	p, err := netip.ParsePrefix(e.NLRI.Address)
	if err != nil {
		return ch, fmt.Errorf("nlri address %q: %v", e.NLRI.Address, err)
	}
	if (ch.fam == rib.Inet) != p.Addr().Is4() {
		return ch, fmt.Errorf("nlri address %q does not match family %d/%d", e.NLRI.Address, e.NLRI.AF, e.NLRI.SAFI)
	}
	ch.key = rib.PrefixKey(p.Masked())
	if len(e.NextHops) == 0 {
		return ch, fmt.Errorf("route %s has no next hop", p)
	}
	nh := e.NextHops[0]
	a := &ch.attrs
	if err := parseNextHop(a, nh.Address, nh.MAC, nh.TunnelEncapsulation); err != nil {
		return ch, err
	}
	ch.label = nh.Label
	a.VirtualNetwork = e.VirtualNetwork
	if a.VirtualNetwork == "" {
		a.VirtualNetwork = nh.VirtualNetwork
	}
	a.Tags = nh.Tags
	a.SecurityGroups = e.SecurityGroups
	a.LocalPref = e.LocalPreference
	a.MED = e.MED
	if a.MED == 0 && a.LocalPref != 0 {
		a.MED = rib.DefaultMED(a.LocalPref)
	}
	a.Mobility = rib.Mobility{Seq: e.Mobility.Seqno, Sticky: e.Mobility.Sticky}
	if e.SubProtocol != "" {
		if a.SubProtocol, err = rib.ParseSubProtocol(e.SubProtocol); err != nil {
			return ch, err
		}
	}
	for _, f := range e.LoadBalance.Fields {
		for i, n := range rib.LBFieldNames {
			if n == f {
				a.LoadBalance.Fields |= 1 << i
			}
		}
	}
	switch e.LoadBalance.Decision {
	case "field-hash":
		a.LoadBalance.Decision = rib.LBDecisionFieldHash
	case "source-bias":
		a.LoadBalance.Decision = rib.LBDecisionSourceBias
	}
	for _, c := range e.CommunityTags {
		v, err := parseCommunity(c)
		if err != nil {
			return ch, err
		}
		a.Communities = append(a.Communities, v)
	}
	return ch, nil
}

// parseCommunity reads "<as>:<n>" or a plain number.
func parseCommunity(s string) (uint32, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%d:%d", &hi, &lo); err == nil && hi <= 0xffff && lo <= 0xffff {
		return hi<<16 | lo, nil
	}
	var v uint32
	if _, err := fmt.Sscanf(s, "%d", &v); err == nil {
		return v, nil
	}
	return 0, fmt.Errorf("community %q is not <as>:<n>", s)
}

func fromEVPN(e *xmpp.EVPNEntry) (routeChange, error) {
	ch := routeChange{fam: rib.EVPN}
	mac, err := rib.ParseMAC(e.NLRI.MAC)
	if err != nil {
		return ch, fmt.Errorf("nlri mac %q: %v", e.NLRI.MAC, err)
	}
	var ip netip.Addr
	if e.NLRI.Address != "" {
		p, err := netip.ParsePrefix(e.NLRI.Address)
		if err != nil {
			return ch, fmt.Errorf("nlri address %q: %v", e.NLRI.Address, err)
		}
		if !p.Addr().IsUnspecified() {
			ip = p.Addr()
		}
	}
	ch.key = rib.EVPNMACKey(e.NLRI.EthernetTag, mac, ip)
	if len(e.NextHops) == 0 {
		return ch, fmt.Errorf("route %s has no next hop", ch.key)
	}
	nh := e.NextHops[0]
	a := &ch.attrs
	if err := parseNextHop(a, nh.Address, nh.MAC, nh.TunnelEncapsulation); err != nil {
		return ch, err
	}
	ch.label = nh.Label
	a.L3Label = nh.L3Label
	a.Tags = nh.Tags
	a.VirtualNetwork = e.VirtualNetwork
	a.SecurityGroups = e.SecurityGroups
	a.LocalPref = e.LocalPreference
	a.MED = e.MED
	a.Mobility = rib.Mobility{Seq: e.Mobility.Seqno, Sticky: e.Mobility.Sticky}
	return ch, nil
}

// entryFor builds the XMPP entry that tells agents about the best paths
// of a route.
func entryFor(fam rib.Family, key rib.Key, best []*rib.Path) xmpp.Entry {
	a := best[0].Attrs()
	nhs := rib.NextHops(best)
	switch fam {
	case rib.EVPN:
		e := &xmpp.EVPNEntry{
			NLRI:           xmpp.EVPNNLRI{AF: 25, SAFI: 242, EthernetTag: key.Tag(), MAC: key.MAC().String()},
			VirtualNetwork: a.VirtualNetwork, Mobility: xmpp.Mobility{Seqno: a.Mobility.Seq, Sticky: a.Mobility.Sticky},
			SecurityGroups: a.SecurityGroups, LocalPreference: a.LocalPref, MED: a.MED,
		}
		if ip := key.IP(); ip.IsValid() {
			e.NLRI.Address = netip.PrefixFrom(ip, ip.BitLen()).String()
		} else {
			e.NLRI.Address = "0.0.0.0/32"
		}
		for _, nh := range nhs {
			e.NextHops = append(e.NextHops, xmpp.EVPNNextHop{
				AF: afOf(nh.Addr), Address: nh.Addr.String(), MAC: macString(nh.MAC), Label: nh.Label,
				L3Label: a.L3Label, TunnelEncapsulation: encapNames(nh.Encap), Tags: nh.Tags,
			})
		}
		return e
	default:
		af := uint16(1)
		if fam == rib.Inet6 {
			af = 2
		}
		e := &xmpp.UnicastEntry{
			NLRI:            xmpp.NLRI{AF: af, SAFI: 1, Address: key.Prefix().String()},
			Version:         1,
			VirtualNetwork:  a.VirtualNetwork,
			Mobility:        xmpp.Mobility{Seqno: a.Mobility.Seq, Sticky: a.Mobility.Sticky},
			SecurityGroups:  a.SecurityGroups,
			LocalPreference: a.LocalPref,
			MED:             a.MED,
			SubProtocol:     a.SubProtocol.String(),
		}
		for _, c := range a.Communities {
			e.CommunityTags = append(e.CommunityTags, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
		}
		for i, n := range rib.LBFieldNames {
			if a.LoadBalance.Fields&(1<<i) != 0 {
				e.LoadBalance.Fields = append(e.LoadBalance.Fields, n)
			}
		}
		switch a.LoadBalance.Decision {
		case rib.LBDecisionFieldHash:
			e.LoadBalance.Decision = "field-hash"
		case rib.LBDecisionSourceBias:
			e.LoadBalance.Decision = "source-bias"
		}
		for _, nh := range nhs {
			encaps := encapNames(nh.Encap)
			if len(encaps) == 0 && nh.Label != 0 {
				encaps = []string{"gre"} // as the original fills in
			}
			e.NextHops = append(e.NextHops, xmpp.NextHop{
				AF: afOf(nh.Addr), Address: nh.Addr.String(), MAC: macString(nh.MAC), Label: nh.Label,
				TunnelEncapsulation: encaps, VirtualNetwork: nh.VirtualNetwork, Tags: nh.Tags,
			})
		}
		return e
	}
}

func afOf(a netip.Addr) uint16 {
	if a.Is4() {
		return 1
	}
	return 2
}

func macString(m rib.MAC) string {
	if m == (rib.MAC{}) {
		return ""
	}
	return m.String()
}

func encapNames(e rib.Encap) []string {
	if e == 0 {
		return nil
	}
	return e.Names()
}

func xmppFamily(fam rib.Family) xmpp.Family {
	switch fam {
	case rib.Inet6:
		return xmpp.Family{AF: 2, SAFI: 1}
	case rib.EVPN:
		return xmpp.Family{AF: 25, SAFI: 242}
	}
	return xmpp.Family{AF: 1, SAFI: 1}
}

var vrfFamilies = []rib.Family{rib.Inet, rib.Inet6, rib.EVPN}

// --- loop side ---

// sessionUp registers an agent once its stream is open. A reconnecting
// agent replaces its previous session.
func (s *Server) sessionUp(sess *session) {
	if old := s.sessions[sess.name]; old != nil && old != sess {
		old.close("replaced by a new session from the same agent")
		s.sessionDown(old)
	}
	addr := sess.remote
	peer, err := s.rib.AddPeer(rib.PeerInfo{Kind: rib.PeerXMPP, Name: sess.name, Addr: addr})
	if err != nil {
		sess.close("register peer: " + err.Error())
		return
	}
	sess.peer, sess.up = peer, true
	s.sessions[sess.name] = sess
	s.m.sessions.Set(float64(len(s.sessions)))
	s.log.Info("XMPP session up", "agent", sess.name, "remote", addr.String())
}

// sessionDown forgets an agent: its subscriptions go, and its routes are
// withdrawn, or kept as stale for the graceful-restart time.
func (s *Server) sessionDown(sess *session) {
	if !sess.up {
		return
	}
	sess.up = false
	if s.sessions[sess.name] == sess {
		delete(s.sessions, sess.name)
	}
	for inst := range sess.subs {
		delete(s.instSubs[inst], sess)
	}
	if sess.eorTimer != nil {
		sess.eorTimer.Stop()
	}
	s.cfgPush.forget(sess)
	s.m.sessions.Set(float64(len(s.sessions)))
	if gr := s.cfg.GracefulRestart; gr > 0 {
		n, _ := s.rib.MarkStale(sess.peer)
		peer, name := sess.peer, sess.name
		time.AfterFunc(gr, func() {
			s.post(func() {
				if cur := s.sessions[name]; cur != nil && cur.peer == peer && cur.up {
					return // it came back; its End-of-RIB sweeps what it did not resend
				}
				s.rib.SweepStale(peer)
			})
		})
		s.log.Info("agent routes kept as stale", "agent", sess.name, "routes", n, "for", gr)
		return
	}
	n, _ := s.rib.DeletePeerPaths(sess.peer)
	s.log.Info("agent routes withdrawn", "agent", sess.name, "routes", n)
}

func (s *Server) subscribe(sess *session, inst string, sub *subscription) {
	if !sess.up {
		return
	}
	if _, dup := sess.subs[inst]; dup {
		sess.close(fmt.Sprintf("duplicate subscribe to %s", inst))
		return
	}
	sess.subs[inst] = sub
	m := s.instSubs[inst]
	if m == nil {
		m = map[*session]*subscription{}
		s.instSubs[inst] = m
	}
	m[sess] = sub
	if _, ok := s.instances[inst]; ok && !sub.noRibOut {
		s.sendTable(sess, inst)
	}
	s.armEndOfRib(sess)
}

// sendTable sends a newly subscribed agent every route of an instance.
func (s *Server) sendTable(sess *session, inst string) {
	ub := xmpp.UpdateBuilder{To: xmpp.JID(sess.name, xmpp.ResourceBGPPeer)}
	for _, fam := range vrfFamilies {
		var items []xmpp.Item
		for ri := range s.rib.Routes(inst, fam) {
			best := ri.Paths[:max(ri.ECMP, 1)]
			items = append(items, xmpp.Item{ID: ri.Key.ItemID(), Entry: entryFor(fam, ri.Key, best)})
		}
		if len(items) == 0 {
			continue
		}
		for _, u := range ub.Build(xmpp.ItemsNode(xmppFamily(fam), inst), items, nil) {
			sess.send(u.Marshal())
		}
	}
}

func (s *Server) armEndOfRib(sess *session) {
	if sess.eorSent {
		return
	}
	if sess.eorTimer != nil {
		sess.eorTimer.Stop()
	}
	delay := s.cfg.EndOfRibDelay
	if hold := s.cfg.StartupEndOfRibDelay; hold > 0 {
		if rest := hold - time.Since(time.Unix(0, s.listening.Load())); rest > delay {
			delay = rest
		}
	}
	sess.eorTimer = time.AfterFunc(delay, func() {
		s.post(func() {
			if sess.up && !sess.eorSent {
				sess.eorSent = true
				sess.send(xmpp.NewEndOfRib(sess.name).Marshal())
			}
		})
	})
}

func (s *Server) unsubscribe(sess *session, inst string) {
	if !sess.up {
		return
	}
	if _, ok := sess.subs[inst]; !ok {
		sess.close(fmt.Sprintf("unsubscribe from %s without a subscription", inst))
		return
	}
	delete(sess.subs, inst)
	delete(s.instSubs[inst], sess)
	delete(sess.pending, inst)
	for ref := range sess.published {
		if ref.inst == inst {
			s.rib.DeletePath(ref.inst, ref.fam, ref.key, sess.peer)
			delete(sess.published, ref)
		}
	}
}

// publish applies an agent's route changes.
func (s *Server) publish(sess *session, inst string, changes []routeChange) {
	if !sess.up {
		return
	}
	sub, ok := sess.subs[inst]
	if !ok {
		s.m.badStanzas.Inc()
		sess.close(fmt.Sprintf("publish to %s without a subscription", inst))
		return
	}
	for i := range changes {
		ch := &changes[i]
		if ch.attrs.SourceRD == 0 && ch.attrs.NextHop.Is4() {
			ch.attrs.SourceRD = rib.RDFromAddr(ch.attrs.NextHop, uint16(sub.instanceID))
		}
		if _, configured := s.instances[inst]; !configured {
			sess.pending[inst] = append(sess.pending[inst], pendingRoute{ch.fam, ch.key, ch.label, &ch.attrs, ch.withdraw})
			continue
		}
		s.applyRoute(sess, inst, ch.fam, ch.key, ch.label, &ch.attrs, ch.withdraw)
	}
}

func (s *Server) applyRoute(sess *session, inst string, fam rib.Family, key rib.Key, label uint32, attrs *rib.Attrs, withdraw bool) {
	ref := routeRef{inst, fam, key}
	if withdraw {
		s.rib.DeletePath(inst, fam, key, sess.peer)
		delete(sess.published, ref)
		return
	}
	if err := s.rib.AddPath(inst, fam, key, sess.peer, label, attrs); err != nil {
		s.log.Warn("route not added", "agent", sess.name, "instance", inst, "route", key.String(), "err", err)
		return
	}
	sess.published[ref] = struct{}{}
}

// agentEndOfRib: the agent has resent everything; what is still stale is gone.
func (s *Server) agentEndOfRib(sess *session) {
	if sess.up {
		s.rib.SweepStale(sess.peer)
	}
}

// flushRoutes sends every changed route to the agents subscribed to its
// instance. The items of one instance and family are encoded once and the
// same bytes go to every subscriber; only the message envelope (its "to")
// differs per agent.
func (s *Server) flushRoutes() {
	type nodeBatch struct {
		inst     string
		items    []xmpp.Item
		retracts []string
	}
	var order []string
	batches := map[string]*nodeBatch{}
	var toBGP []bgp.PathChange
	s.rib.Drain(0, func(inst string, fam rib.Family, key rib.Key, best []*rib.Path) {
		if inst == rib.MasterInstance {
			if s.bgp != nil {
				if ch, ok := s.exportChange(fam, key, best); ok {
					toBGP = append(toBGP, ch)
				}
			}
			return
		}
		if len(s.instSubs[inst]) == 0 {
			return
		}
		node := xmpp.ItemsNode(xmppFamily(fam), inst)
		b := batches[node]
		if b == nil {
			b = &nodeBatch{inst: inst}
			batches[node] = b
			order = append(order, node)
		}
		if len(best) > 0 {
			b.items = append(b.items, xmpp.Item{ID: key.ItemID(), Entry: entryFor(fam, key, best)})
		} else {
			b.retracts = append(b.retracts, key.ItemID())
		}
	})
	perSession := map[*session][]byte{}
	var ub xmpp.UpdateBuilder
	for _, node := range order {
		b := batches[node]
		updates := ub.Build(node, b.items, b.retracts)
		events := make([][]byte, len(updates))
		for i, u := range updates {
			events[i] = u.AppendEvent(nil)
		}
		for sess, sub := range s.instSubs[b.inst] {
			if sub.noRibOut {
				continue
			}
			buf := perSession[sess]
			to := xmpp.JID(sess.name, xmpp.ResourceBGPPeer)
			for _, ev := range events {
				buf = xmpp.AppendMessage(buf, xmpp.ControlNodeJID, to, ev)
			}
			perSession[sess] = buf
		}
	}
	for sess, buf := range perSession {
		sess.send(buf)
	}
	s.queueBGP(toBGP)
}

// setInstances applies the routing instances of the config.
func (s *Server) setInstances(want map[string]rib.InstanceConfig) {
	for name := range s.instances {
		if _, ok := want[name]; !ok {
			s.rib.DeleteInstance(name)
			delete(s.instances, name)
		}
	}
	for name, cfg := range want {
		if cur, ok := s.instances[name]; ok && sameInstance(cur, cfg) {
			continue
		}
		if err := s.rib.SetInstance(cfg); err != nil {
			s.log.Warn("routing instance not applied", "instance", name, "err", err)
			continue
		}
		_, existed := s.instances[name]
		s.instances[name] = cfg
		if existed {
			continue
		}
		// New instance: replay what subscribers published early and send
		// them the table.
		for sess, sub := range s.instSubs[name] {
			for _, p := range sess.pending[name] {
				s.applyRoute(sess, name, p.fam, p.key, p.label, p.attrs, p.withdraw)
			}
			delete(sess.pending, name)
			if !sub.noRibOut {
				s.sendTable(sess, name)
			}
		}
	}
}

func sameInstance(a, b rib.InstanceConfig) bool {
	return a.Name == b.Name && a.RD == b.RD && sameTargets(a.ImportTargets, b.ImportTargets) && sameTargets(a.ExportTargets, b.ExportTargets)
}

func sameTargets(a, b []rib.RouteTarget) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var _ = strings.TrimSpace
