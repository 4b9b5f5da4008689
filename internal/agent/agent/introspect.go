// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/contrail-go/contrail/internal/agent/dataplane"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// ItfInfo is one port on Snh_ItfReq.
type ItfInfo struct {
	Name           string   `json:"name"`
	UUID           string   `json:"uuid"`
	VMUUID         string   `json:"vm_uuid"`
	VN             string   `json:"vn_name,omitempty"`
	VRF            string   `json:"vrf_name,omitempty"`
	VNI            uint32   `json:"vxlan_id,omitempty"`
	IPs            []string `json:"ip_addrs,omitempty"`
	MAC            string   `json:"mac_addr,omitempty"`
	SecurityGroups []uint32 `json:"sg_uuid_list,omitempty"`
	FloatingIPs    []string `json:"fip_list,omitempty"`
	Active         string   `json:"active"`
	State          string   `json:"state"`
	AddedAt        string   `json:"added_at"`
	ProgrammedIn   string   `json:"programmed_in,omitempty"`
}

// Interfaces lists the ports (the original's Snh_ItfReq).
func (a *Agent) Interfaces() []ItfInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ItfInfo, 0, len(a.ports))
	for id, e := range a.ports {
		it := ItfInfo{Name: e.port.SystemName, UUID: id, VMUUID: e.port.InstanceID, State: e.state,
			AddedAt: e.added.UTC().Format(time.RFC3339Nano), Active: "Inactive"}
		if e.state == "active" {
			it.Active = "Active"
		}
		if !e.programmed.IsZero() {
			it.ProgrammedIn = e.programmed.Sub(e.added).String()
		}
		if v := a.views[id]; v != nil {
			if v.vn != nil {
				it.VN, it.VRF, it.VNI = v.vn.name, v.vn.ri, v.vn.vni
			}
			for _, ip := range append(v.ips[:len(v.ips):len(v.ips)], v.ip6s...) {
				it.IPs = append(it.IPs, ip.String())
			}
			if v.mac != nil {
				it.MAC = v.mac.String()
			}
			it.SecurityGroups = v.sgID
			for _, f := range v.fips {
				it.FloatingIPs = append(it.FloatingIPs, f.addr.String()+" in "+f.vn.name)
			}
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// VrfInfo is one routing instance on Snh_VrfListReq.
type VrfInfo struct {
	Name       string   `json:"name"`
	VN         string   `json:"vn"`
	VNI        uint32   `json:"vxlan_id"`
	Table      int      `json:"table"`
	Device     string   `json:"device"`
	Ports      int      `json:"ports"`
	Routes     int      `json:"ucindex_routes"`
	Subscribed []string `json:"subscribed_on"`
}

// Vrfs lists the routing instances of the local ports.
func (a *Agent) Vrfs() []VrfInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	byName := map[string]*VrfInfo{}
	get := func(vn *vnView) *VrfInfo {
		v := byName[vn.ri]
		if v == nil {
			v = &VrfInfo{Name: vn.ri, VN: vn.name, VNI: vn.vni, Table: dataplane.TableForVNI(vn.vni), Device: dataplane.DeviceName(vn.vni)}
			byName[vn.ri] = v
		}
		return v
	}
	for _, pv := range a.views {
		if pv.vn == nil {
			continue
		}
		get(pv.vn).Ports++
		for _, f := range pv.fips {
			get(f.vn)
		}
	}
	for name, v := range byName {
		for _, p := range a.peers {
			if _, ok := p.subs[name]; ok && p.up {
				v.Subscribed = append(v.Subscribed, p.addr)
			}
		}
		v.Routes = len(a.routesLocked(name, xmpp.FamilyInet))
	}
	out := make([]VrfInfo, 0, len(byName))
	for _, v := range byName {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RouteInfo is one route on Snh_Inet4UcRouteReq / Snh_Inet6UcRouteReq.
type RouteInfo struct {
	Prefix   string        `json:"src_ip"`
	Source   string        `json:"source"` // control node address, or "stale"
	VN       string        `json:"dest_vn,omitempty"`
	SGs      []uint32      `json:"sg_list,omitempty"`
	NextHops []NextHopInfo `json:"path_list"`
}

// NextHopInfo is one next hop of a route.
type NextHopInfo struct {
	Type     string `json:"type"` // tunnel or interface
	Address  string `json:"dip,omitempty"`
	Label    uint32 `json:"label"`
	Encap    string `json:"tunnel_type,omitempty"`
	VN       string `json:"vn,omitempty"`
	Itf      string `json:"itf,omitempty"`
	Local    bool   `json:"local"`
	Instance string `json:"vrf,omitempty"`
}

// routesLocked returns the routes of an instance and family from every
// source, live sessions first.
func (a *Agent) routesLocked(inst string, fam xmpp.Family) []RouteInfo {
	node := xmpp.ItemsNode(fam, inst)
	var out []RouteInfo
	seen := map[string]bool{}
	add := func(src string, m map[string]xmpp.Entry) {
		for id, e := range m {
			if seen[id] {
				continue
			}
			ue, ok := e.(*xmpp.UnicastEntry)
			if !ok {
				continue
			}
			seen[id] = true
			ri := RouteInfo{Prefix: ue.NLRI.Address, Source: src, VN: ue.VirtualNetwork, SGs: ue.SecurityGroups}
			for _, nh := range ue.NextHops {
				ni := NextHopInfo{Type: "tunnel", Address: nh.Address, Label: nh.Label, VN: nh.VirtualNetwork, Instance: inst}
				if len(nh.TunnelEncapsulation) > 0 {
					ni.Encap = nh.TunnelEncapsulation[0]
				}
				if nh.Address == a.cfg.TunnelIP.String() {
					ni.Type, ni.Local = "interface", true
					ni.Itf = a.portByAddrLocked(ue.NLRI.Address)
				}
				ri.NextHops = append(ri.NextHops, ni)
			}
			out = append(out, ri)
		}
	}
	for _, p := range a.peers {
		if p.up && p.routes != nil {
			add(p.addr, p.routes[node])
		}
	}
	for _, s := range a.stale {
		add("stale", s[node])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out
}

func (a *Agent) portByAddrLocked(prefix string) string {
	for _, v := range a.views {
		for _, ip := range v.ips {
			if ip.String()+"/32" == prefix {
				return v.port.SystemName
			}
		}
		for _, ip := range v.ip6s {
			if ip.String()+"/128" == prefix {
				return v.port.SystemName
			}
		}
	}
	return ""
}

// Routes lists the routes of an instance ("" for all local instances).
func (a *Agent) Routes(inst string, fam xmpp.Family) map[string][]RouteInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	insts := map[string]bool{}
	if inst != "" {
		insts[inst] = true
	} else {
		for _, p := range a.peers {
			for i := range p.subs {
				insts[i] = true
			}
		}
		for _, v := range a.views {
			if v.vn != nil {
				insts[v.vn.ri] = true
			}
		}
	}
	out := map[string][]RouteInfo{}
	for i := range insts {
		out[i] = a.routesLocked(i, fam)
	}
	return out
}

// NhInfo is one next hop on Snh_NhListReq.
type NhInfo struct {
	Type     string `json:"type"` // tunnel, interface
	Device   string `json:"itf"`
	Endpoint string `json:"dip,omitempty"`
	VNI      uint32 `json:"vxlan_id,omitempty"`
	Address  string `json:"address,omitempty"`
	Routes   int    `json:"ref_count"`
}

// NextHops lists the next hops of the programmed dataplane.
func (a *Agent) NextHops() []NhInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []NhInfo
	if a.applied == nil {
		return out
	}
	for _, p := range a.applied.Ports {
		// A dual-stack port is one interface next hop of both families.
		var addrs []string
		for _, ip := range []netip.Addr{p.IP, p.IP6} {
			if ip.IsValid() {
				addrs = append(addrs, ip.String())
			}
		}
		out = append(out, NhInfo{Type: "interface", Device: p.Name, Address: strings.Join(addrs, ","), Routes: len(addrs)})
	}
	vniOf := map[string]uint32{}
	for _, n := range a.applied.Networks {
		vniOf[n.Name] = n.VNI
	}
	tun := map[string]*NhInfo{}
	var keys []string
	for _, r := range a.applied.Remote {
		vni := r.VNI
		if vni == 0 {
			vni = vniOf[r.Network]
		}
		k := r.TunnelEndpoint.String() + "/" + dataplane.DeviceName(vni)
		if tun[k] == nil {
			tun[k] = &NhInfo{Type: "tunnel", Device: dataplane.DeviceName(vni), Endpoint: r.TunnelEndpoint.String(), VNI: vni}
			keys = append(keys, k)
		}
		tun[k].Routes++
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, *tun[k])
	}
	return out
}

// AclInfo is one access-control-list on Snh_AclReq.
type AclInfo struct {
	Name    string          `json:"name"`
	UUID    string          `json:"uuid"`
	Parent  string          `json:"parent_type"`
	Rules   int             `json:"ace_count"`
	Entries json.RawMessage `json:"entries,omitempty"`
}

// ACLs lists the access-control-lists of the config.
func (a *Agent) ACLs() []AclInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AclInfo
	for _, o := range a.db.byType("access-control-list") {
		ai := AclInfo{Name: o.FQNameString(), UUID: o.UUID, Parent: o.ParentType, Entries: o.Props["access_control_list_entries"]}
		var ents struct {
			Rules []json.RawMessage `json:"acl_rule"`
		}
		o.Prop("access_control_list_entries", &ents)
		ai.Rules = len(ents.Rules)
		out = append(out, ai)
	}
	return out
}

// XmppConnInfo is one control node on Snh_AgentXmppConnectionStatusReq.
type XmppConnInfo struct {
	ControllerIP string   `json:"controller_ip"`
	State        string   `json:"state"`
	ConfigPeer   bool     `json:"cfg_controller"`
	EndOfRib     bool     `json:"end_of_rib_rx"`
	Since        string   `json:"last_state_change_at,omitempty"`
	Flaps        int      `json:"flap_count"`
	LastError    string   `json:"last_error,omitempty"`
	Instances    []string `json:"subscribed_instances,omitempty"`
	Published    int      `json:"routes_published"`
	RxUpdates    int64    `json:"rx_updates"`
	BadRoutes    int64    `json:"skipped_updates"`
}

// Connections lists the control-node sessions.
func (a *Agent) Connections() []XmppConnInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []XmppConnInfo
	for _, p := range a.peers {
		ci := XmppConnInfo{ControllerIP: p.addr, State: "Down", ConfigPeer: a.cfgPeer == p, EndOfRib: p.eor,
			Flaps: p.flaps, LastError: p.lastErr, RxUpdates: p.rxUpdates, BadRoutes: p.badRoutes}
		if p.up {
			ci.State = "Established"
			ci.Since = p.since.UTC().Format(time.RFC3339Nano)
			for i := range p.subs {
				ci.Instances = append(ci.Instances, i)
			}
			sort.Strings(ci.Instances)
			for _, m := range p.published {
				ci.Published += len(m)
			}
		}
		out = append(out, ci)
	}
	return out
}

// Status is the agent's summary on Snh_AgentStatus.
type Status struct {
	Hostname     string         `json:"hostname"`
	TunnelIP     string         `json:"tunnel_ip"`
	Underlay     string         `json:"underlay_device"`
	ConfigSynced bool           `json:"config_synced"`
	Headless     bool           `json:"headless"`
	StaleTables  int            `json:"stale_route_tables"`
	Ports        int            `json:"ports"`
	Active       int            `json:"ports_active"`
	Config       map[string]int `json:"config_objects"`
	Dataplane    dpStatus       `json:"dataplane"`
	Collectors   []string       `json:"collectors,omitempty"`
}

// Status summarizes the agent.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Status{Hostname: a.cfg.Hostname, TunnelIP: a.cfg.TunnelIP.String(), Underlay: a.cfg.UnderlayDev,
		ConfigSynced: a.configSyncedLocked(), Headless: !a.anyPeerUpLocked(), StaleTables: len(a.stale),
		Ports: len(a.ports), Config: a.db.count(), Dataplane: a.dpStatus, Collectors: a.cfg.Collectors}
	for _, e := range a.ports {
		if e.state == "active" {
			s.Active++
		}
	}
	return s
}

// RegisterIntrospect adds the agent's pages to an introspect server.
func (a *Agent) RegisterIntrospect(in *obs.Introspect) {
	in.Handle("/Snh_ItfReq", "interfaces (ports)", func(*http.Request) (any, error) { return a.Interfaces(), nil })
	in.Handle("/Snh_VrfListReq", "routing instances of the local ports", func(*http.Request) (any, error) { return a.Vrfs(), nil })
	in.Handle("/Snh_Inet4UcRouteReq", "IPv4 routes: ?x=<instance> (default: all local instances)", func(r *http.Request) (any, error) {
		return a.Routes(r.URL.Query().Get("x"), xmpp.FamilyInet), nil
	})
	in.Handle("/Snh_Inet6UcRouteReq", "IPv6 routes: ?x=<instance>", func(r *http.Request) (any, error) {
		return a.Routes(r.URL.Query().Get("x"), xmpp.FamilyInet6), nil
	})
	in.Handle("/Snh_NhListReq", "next hops programmed", func(*http.Request) (any, error) { return a.NextHops(), nil })
	in.Handle("/Snh_AclReq", "access-control-lists of the config", func(*http.Request) (any, error) { return a.ACLs(), nil })
	in.Handle("/Snh_FetchAllFlowRecords", "flow records", func(r *http.Request) (any, error) { return a.ext.flowRecords(r.Context()) })
	in.Handle("/Snh_AgentXmppConnectionStatusReq", "control node connections", func(*http.Request) (any, error) { return a.Connections(), nil })
	in.Handle("/Snh_AgentStatus", "agent summary: config sync, headless, dataplane", func(*http.Request) (any, error) { return a.Status(), nil })
	in.Handle("/ports", "port API ports", a.api.IntrospectPorts)
	in.AddCheck("dataplane", func(context.Context) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.dpStatus.LastError != "" {
			return errors.New(a.dpStatus.LastError)
		}
		return nil
	})
}
