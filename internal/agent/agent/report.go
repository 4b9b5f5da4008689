// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/contrail-go/contrail/internal/agent/flows"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// ReportConfig is what the agent's analytics reports say of its
// configuration, and how often they are recomputed.
type ReportConfig struct {
	// Interval is how often the UVEs are recomputed from the agent's
	// state; a UVE is sent only when it changed (default 5 s).
	Interval time.Duration
	// ConfigFile, HTTPPort (introspect), LogLevel and BuildInfo (the
	// original's JSON build-info string) go into the VrouterAgent UVE.
	ConfigFile string
	HTTPPort   int32
	LogLevel   string
	BuildInfo  string
}

// Object tables and structs of the agent's UVEs (agent_vrouter.sandesh,
// agent_virtual_network.sandesh).
const (
	tableVRouter = "ObjectVRouter"
	tableVN      = "ObjectVNTable"
	structVR     = "VrouterAgent"
	structVN     = "UveVirtualNetworkAgent"
	// flowBatch bounds the flow records of one FlowLogDataObject message
	// (the collector takes frames up to 4 MiB).
	flowBatch = 64
)

// VrouterAgent is the part of agent_vrouter.sandesh VrouterAgent the agent
// fills (the UVE of the vrouter, key: the host name). Lists are never nil
// so that an emptied list replaces the previous one.
type VrouterAgent struct {
	ConnectedNetworks      []string                `sandesh:"connected_networks,id=3"`
	InterfaceList          []string                `sandesh:"interface_list,id=4"`
	VirtualMachineList     []string                `sandesh:"virtual_machine_list,id=5"`
	XmppPeerList           []AgentXmppPeer         `sandesh:"xmpp_peer_list,id=6"`
	SelfIPList             []string                `sandesh:"self_ip_list,id=8"`
	BuildInfo              string                  `sandesh:"build_info,id=9,omitempty"`
	ErrorIntfList          []string                `sandesh:"error_intf_list,id=11"`
	PhyIf                  []AgentInterface        `sandesh:"phy_if,id=12"`
	ConfigFile             string                  `sandesh:"config_file,id=16,omitempty"`
	LogLevel               string                  `sandesh:"log_level,id=18,omitempty"`
	SandeshHTTPPort        int32                   `sandesh:"sandesh_http_port,id=20,omitempty"`
	EthName                []string                `sandesh:"eth_name,id=23"`
	TunnelType             string                  `sandesh:"tunnel_type,id=24"`
	ControlIP              string                  `sandesh:"control_ip,id=29"`
	NoConfigIntfList       []string                `sandesh:"no_config_intf_list,id=30"`
	VMICount               VrouterAgentObjectCount `sandesh:"vmi_count,id=31,tags="`
	DownInterfaceCount     uint16                  `sandesh:"down_interface_count,id=32"`
	ControlNodeListCfg     []string                `sandesh:"control_node_list_cfg,id=35"`
	HostnameCfg            string                  `sandesh:"hostname_cfg,id=36"`
	HeadlessModeCfg        bool                    `sandesh:"headless_mode_cfg,id=42"`
	CollectorServerListCfg []string                `sandesh:"collector_server_list_cfg,id=43"`
	LogFlow                bool                    `sandesh:"log_flow,id=44"`
	Mode                   string                  `sandesh:"mode,id=48"`
	VNCount                uint32                  `sandesh:"vn_count,id=50"`
	Platform               string                  `sandesh:"platform,id=51"`
	VMCount                VrouterAgentObjectCount `sandesh:"vm_count,id=53,tags="`
}

// AgentXmppPeer is one control node in VrouterAgent.xmpp_peer_list.
type AgentXmppPeer struct {
	IP        string `sandesh:"ip,id=1,aggtype=listkey"`
	Status    bool   `sandesh:"status,id=2"`
	SetupTime uint64 `sandesh:"setup_time,id=3"`
	Primary   bool   `sandesh:"primary,id=4"`
}

// AgentInterface is a device in VrouterAgent.phy_if.
type AgentInterface struct {
	Name       string `sandesh:"name,id=1,aggtype=listkey"`
	MACAddress string `sandesh:"mac_address,id=2"`
}

// VrouterAgentObjectCount is VrouterAgent.vmi_count and vm_count.
type VrouterAgentObjectCount struct {
	Active uint16 `sandesh:"active,id=1"`
}

// UveVirtualNetworkAgent is the agent's part of the virtual-network UVE
// (key: the network's fq-name), sent for each network with local ports.
type UveVirtualNetworkAgent struct {
	TotalACLRules      int32             `sandesh:"total_acl_rules,id=3"`
	InterfaceList      []string          `sandesh:"interface_list,id=4,aggtype=union"`
	InStats            []UveInterVnStats `sandesh:"in_stats,id=9,aggtype=append"`
	OutStats           []UveInterVnStats `sandesh:"out_stats,id=10,aggtype=append"`
	VirtualMachineList []string          `sandesh:"virtualmachine_list,id=11,aggtype=union"`
	ACL                string            `sandesh:"acl,id=12,omitempty"`
	FlowCount          int32             `sandesh:"flow_count,id=14"`
	AssociatedFIPCount int32             `sandesh:"associated_fip_count,id=15,aggtype=sum"`
	IngressFlowCount   uint32            `sandesh:"ingress_flow_count,id=24,aggtype=sum"`
	EgressFlowCount    uint32            `sandesh:"egress_flow_count,id=25,aggtype=sum"`
}

// UveInterVnStats is the traffic of a network with another one, from the
// flow records: in_stats is what came into the network, out_stats what
// left it.
type UveInterVnStats struct {
	OtherVN string `sandesh:"other_vn,id=1,aggtype=listkey"`
	Tpkts   int64  `sandesh:"tpkts,id=2"`
	Bytes   int64  `sandesh:"bytes,id=3"`
}

// reporter keeps what was last reported, to send only changes, and the
// state of the flows being exported.
type reporter struct {
	a     *Agent
	gen   *generator.Generator
	phyIf []AgentInterface

	// Report loop only.
	lastVR *VrouterAgent
	lastVN map[string]*UveVirtualNetworkAgent
	conns  map[string]generator.ConnectionInfo

	mu        sync.Mutex // the rest: flow exports come from the flow table's goroutine
	flows     map[flowKey]*flowState
	interVN   map[string]map[string]*vnTraffic // network -> other network -> traffic
	ruleKinds map[string]string                // rule uuid -> "sg" or "vn"
	ruleGen   uint64
}

type flowKey struct {
	id       uint32
	setup    int64
	port     string
	proto    uint8
	src, dst netip.AddrPort
}

type flowState struct {
	fwd, rev                   string // flow uuids of the two directions
	pkts, bytes, rpkts, rbytes uint64 // as last exported
	vn                         string // network of the local end
	ingress                    bool   // the local VM opened the flow
}

type vnTraffic struct {
	inPkts, inBytes, outPkts, outBytes uint64
}

func (a *Agent) reportLoop(ctx context.Context) {
	r := &reporter{a: a, gen: a.cfg.Reporter, lastVN: map[string]*UveVirtualNetworkAgent{},
		conns: map[string]generator.ConnectionInfo{}, flows: map[flowKey]*flowState{},
		interVN: map[string]map[string]*vnTraffic{}}
	if l, err := a.nl.LinkByName(a.cfg.UnderlayDev); err == nil {
		r.phyIf = []AgentInterface{{Name: a.cfg.UnderlayDev, MACAddress: l.Attrs().HardwareAddr.String()}}
	}
	if ft := a.ext.flowTab; ft != nil {
		ft.OnExport(r.exportFlows)
	}
	every := a.cfg.Report.Interval
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.reportOnce()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reportOnce recomputes the UVEs and the control-node connections and
// sends what changed.
func (r *reporter) reportOnce() {
	a := r.a
	vr, vns, conns := r.collect()
	for name, ci := range conns {
		if old, ok := r.conns[name]; !ok || !reflect.DeepEqual(old, ci) {
			r.gen.SetConnection(ci)
			r.conns[name] = ci
		}
	}
	if r.lastVR == nil || !reflect.DeepEqual(*r.lastVR, *vr) {
		if err := r.gen.UVE(tableVRouter, a.cfg.Hostname, structVR, vr, false); err != nil {
			a.log.Warn("VrouterAgent UVE not sent", "err", err)
		} else {
			r.lastVR = vr
		}
	}
	for name, u := range vns {
		if old := r.lastVN[name]; old != nil && reflect.DeepEqual(*old, *u) {
			continue
		}
		if err := r.gen.UVE(tableVN, name, structVN, u, false); err != nil {
			a.log.Warn("UveVirtualNetworkAgent not sent", "vn", name, "err", err)
			continue
		}
		r.lastVN[name] = u
	}
	for name := range r.lastVN {
		if _, ok := vns[name]; !ok {
			_ = r.gen.UVE(tableVN, name, structVN, nil, true)
			delete(r.lastVN, name)
			r.mu.Lock()
			delete(r.interVN, name)
			r.mu.Unlock()
		}
	}
}

// portViewLocked is the resolved view of a stored port: the dataplane's
// last one, else the control loop's.
func (a *Agent) portViewLocked(id string) *portView {
	if v := a.views[id]; v != nil {
		return v
	}
	if c := a.vcache[id]; c != nil {
		return c.view
	}
	return nil
}

func vmiName(id string, v *portView) string {
	if v != nil && v.vmi != nil {
		return v.vmi.FQNameString()
	}
	return id
}

// collect computes the UVEs and connections from the agent's state.
func (r *reporter) collect() (*VrouterAgent, map[string]*UveVirtualNetworkAgent, map[string]generator.ConnectionInfo) {
	a := r.a
	rc := a.cfg.Report
	vr := &VrouterAgent{
		ConnectedNetworks: []string{}, InterfaceList: []string{}, VirtualMachineList: []string{},
		XmppPeerList: []AgentXmppPeer{}, SelfIPList: []string{a.cfg.TunnelIP.String()}, BuildInfo: rc.BuildInfo,
		ErrorIntfList: []string{}, PhyIf: r.phyIf, ConfigFile: rc.ConfigFile, LogLevel: rc.LogLevel,
		SandeshHTTPPort: rc.HTTPPort, EthName: []string{a.cfg.UnderlayDev}, TunnelType: "VXLAN",
		ControlIP: a.cfg.TunnelIP.String(), NoConfigIntfList: []string{},
		ControlNodeListCfg: append([]string{}, a.cfg.ControlNodes...), HostnameCfg: a.cfg.Hostname,
		HeadlessModeCfg: true, CollectorServerListCfg: append([]string{}, a.cfg.Collectors...),
		LogFlow: a.ext.flowTab != nil, Mode: "vrouter", Platform: "HOST",
	}
	if vr.PhyIf == nil {
		vr.PhyIf = []AgentInterface{}
	}
	vns := map[string]*UveVirtualNetworkAgent{}
	vnObjs := map[string]*vnView{}
	conns := map[string]generator.ConnectionInfo{}
	vms := map[string]bool{}

	a.mu.Lock()
	for _, p := range a.peers {
		host := p.addr
		if h, _, err := net.SplitHostPort(p.addr); err == nil {
			host = h
		}
		xp := AgentXmppPeer{IP: host, Status: p.up, Primary: a.cfgPeer == p}
		ci := generator.ConnectionInfo{Type: "XMPP", Name: "control-node:" + host, ServerAddrs: []string{p.addr}, Status: generator.StatusUp}
		if p.up {
			xp.SetupTime = uint64(p.since.UnixMicro())
		} else {
			ci.Status, ci.Description = generator.StatusDown, p.lastErr
			if p.flaps == 0 && p.lastErr == "" {
				ci.Status = generator.StatusInit
			}
		}
		vr.XmppPeerList = append(vr.XmppPeerList, xp)
		conns[ci.Name] = ci
	}
	for id, e := range a.ports {
		v := a.portViewLocked(id)
		name := vmiName(id, v)
		vr.InterfaceList = append(vr.InterfaceList, name)
		if e.state != "active" {
			vr.ErrorIntfList = append(vr.ErrorIntfList, name)
		}
		if v == nil || v.vmi == nil {
			vr.NoConfigIntfList = append(vr.NoConfigIntfList, id)
		}
		if vm := e.port.InstanceID; vm != "" && !vms[vm] {
			vms[vm] = true
			vr.VirtualMachineList = append(vr.VirtualMachineList, vm)
		}
		if v == nil || v.vn == nil {
			continue
		}
		u := vns[v.vn.name]
		if u == nil {
			u = &UveVirtualNetworkAgent{InterfaceList: []string{}, VirtualMachineList: []string{},
				InStats: []UveInterVnStats{}, OutStats: []UveInterVnStats{}}
			vns[v.vn.name] = u
			vnObjs[v.vn.name] = v.vn
		}
		u.InterfaceList = append(u.InterfaceList, name)
		if vm := e.port.InstanceID; vm != "" && !containsString(u.VirtualMachineList, vm) {
			u.VirtualMachineList = append(u.VirtualMachineList, vm)
		}
		u.AssociatedFIPCount += int32(len(v.fips))
	}
	for name, vn := range vnObjs {
		u := vns[name]
		for _, acl := range a.db.linked(vn.obj, "access-control-list") {
			var ents struct {
				Rules []json.RawMessage `json:"acl_rule"`
			}
			acl.Prop("access_control_list_entries", &ents)
			u.TotalACLRules += int32(len(ents.Rules))
			if u.ACL == "" || acl.Name() == vn.obj.Name() {
				u.ACL = acl.FQNameString()
			}
		}
	}
	a.mu.Unlock()

	for name := range vns {
		vr.ConnectedNetworks = append(vr.ConnectedNetworks, name)
	}
	sort.Strings(vr.ConnectedNetworks)
	sort.Strings(vr.InterfaceList)
	sort.Strings(vr.ErrorIntfList)
	sort.Strings(vr.NoConfigIntfList)
	sort.Strings(vr.VirtualMachineList)
	vr.VNCount = uint32(len(vr.ConnectedNetworks))
	vr.VMICount.Active = uint16(min(len(vr.InterfaceList), 1<<16-1))
	vr.VMCount.Active = uint16(min(len(vr.VirtualMachineList), 1<<16-1))
	vr.DownInterfaceCount = uint16(min(len(vr.ErrorIntfList), 1<<16-1))

	// Flow counts and inter-network traffic, from the flows exported.
	r.mu.Lock()
	for _, st := range r.flows {
		u := vns[st.vn]
		if u == nil {
			continue
		}
		u.FlowCount++
		if st.ingress {
			u.IngressFlowCount++
		} else {
			u.EgressFlowCount++
		}
	}
	for name, u := range vns {
		sort.Strings(u.InterfaceList)
		sort.Strings(u.VirtualMachineList)
		others := make([]string, 0, len(r.interVN[name]))
		for o := range r.interVN[name] {
			others = append(others, o)
		}
		sort.Strings(others)
		for _, o := range others {
			tr := r.interVN[name][o]
			if tr.inPkts > 0 || tr.inBytes > 0 {
				u.InStats = append(u.InStats, UveInterVnStats{OtherVN: o, Tpkts: int64(tr.inPkts), Bytes: int64(tr.inBytes)})
			}
			if tr.outPkts > 0 || tr.outBytes > 0 {
				u.OutStats = append(u.OutStats, UveInterVnStats{OtherVN: o, Tpkts: int64(tr.outPkts), Bytes: int64(tr.outBytes)})
			}
		}
	}
	r.mu.Unlock()
	return vr, vns, conns
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// --- flows ---

// flowEnd is what the agent knows of one address of a flow.
type flowEnd struct {
	vn      string
	vrouter string // tunnel endpoint of a remote address
}

// flowContext is the agent's state a batch of flow records is resolved
// against, taken once per batch.
type flowContext struct {
	ports  map[string]*portView     // system name -> port
	local  map[netip.Addr]string    // address of a local port -> its network
	owner  map[netip.Addr]*portView // address of a local port -> the port
	hosts  map[netip.Addr]flowEnd
	prefix []routeEnd
	rules  map[string]string
}

type routeEnd struct {
	p netip.Prefix
	e flowEnd
}

func (c *flowContext) lookup(ip netip.Addr) flowEnd {
	if vn, ok := c.local[ip]; ok {
		return flowEnd{vn: vn}
	}
	if e, ok := c.hosts[ip]; ok {
		return e
	}
	best := -1
	var out flowEnd
	for _, re := range c.prefix {
		if re.p.Bits() > best && re.p.Contains(ip) {
			best, out = re.p.Bits(), re.e
		}
	}
	return out
}

func (r *reporter) flowContext() *flowContext {
	a := r.a
	c := &flowContext{ports: map[string]*portView{}, local: map[netip.Addr]string{}, owner: map[netip.Addr]*portView{},
		hosts: map[netip.Addr]flowEnd{}}
	tunnel := a.cfg.TunnelIP.String()
	add := func(ue *xmpp.UnicastEntry, p netip.Prefix) {
		fe := flowEnd{vn: ue.VirtualNetwork}
		for _, nh := range ue.NextHops {
			if nh.Address != tunnel {
				fe.vrouter = nh.Address
				break
			}
		}
		if p.IsSingleIP() {
			if _, ok := c.hosts[p.Addr()]; !ok {
				c.hosts[p.Addr()] = fe
			}
		} else {
			c.prefix = append(c.prefix, routeEnd{p.Masked(), fe})
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, e := range a.ports {
		v := a.portViewLocked(id)
		if v == nil || v.vn == nil {
			continue
		}
		c.ports[e.port.SystemName] = v
		for _, ip := range append(v.ips[:len(v.ips):len(v.ips)], v.ip6s...) {
			c.local[ip], c.owner[ip] = v.vn.name, v
		}
		for _, f := range v.fips {
			c.local[f.addr], c.owner[f.addr] = f.vn.name, v
		}
	}
	a.eachUnicastRouteLocked(add)
	r.mu.Lock()
	if r.ruleKinds == nil || r.ruleGen != a.db.gen {
		r.ruleKinds, r.ruleGen = map[string]string{}, a.db.gen
		for _, acl := range a.db.byType("access-control-list") {
			var ents struct {
				Rules []struct {
					UUID string `json:"rule_uuid"`
				} `json:"acl_rule"`
			}
			acl.Prop("access_control_list_entries", &ents)
			kind := "vn"
			if acl.ParentType == "security-group" {
				kind = "sg"
			}
			for _, ru := range ents.Rules {
				if ru.UUID != "" {
					r.ruleKinds[ru.UUID] = kind
				}
			}
		}
	}
	c.rules = r.ruleKinds
	r.mu.Unlock()
	return c
}

// exportFlows turns flow records of the flow table (new, counters moved,
// closed) into FlowLogData for the collector: one record per direction,
// with the counters since the previous export. It runs on the flow
// table's goroutine and never blocks on the network.
func (r *reporter) exportFlows(recs []flows.Record) {
	if len(recs) == 0 {
		return
	}
	a := r.a
	c := r.flowContext()
	hostname, tunnel := a.cfg.Hostname, a.cfg.TunnelIP.String()
	out := make([]generator.FlowLogData, 0, 2*len(recs))
	r.mu.Lock()
	for i := range recs {
		rec := &recs[i]
		k := flowKey{id: rec.ID, setup: rec.Setup.UnixNano(), port: rec.Port, proto: rec.Proto, src: rec.Src, dst: rec.Dst}
		st := r.flows[k]
		if st == nil {
			st = &flowState{fwd: uuid.NewString()}
			if rec.Action != "deny" {
				st.rev = uuid.NewString()
			}
			// Ingress (into the vrouter from a VM): the local VM opened
			// the flow.
			st.vn = rec.VN
			_, srcLocal := c.local[rec.Src.Addr()]
			_, dstLocal := c.local[rec.Dst.Addr()]
			st.ingress = srcLocal || !dstLocal
			if vn := c.local[localEnd(rec, st.ingress)]; vn != "" {
				st.vn = vn
			}
			r.flows[k] = st
		}
		dp, db := rec.Packets-min(st.pkts, rec.Packets), rec.Bytes-min(st.bytes, rec.Bytes)
		drp, drb := rec.ReplyPackets-min(st.rpkts, rec.ReplyPackets), rec.ReplyBytes-min(st.rbytes, rec.ReplyBytes)
		st.pkts, st.bytes, st.rpkts, st.rbytes = rec.Packets, rec.Bytes, rec.ReplyPackets, rec.ReplyBytes

		fwd := generator.FlowLogData{
			FlowUUID: st.fwd, ReverseUUID: st.rev, Protocol: int8(rec.Proto),
			SourceIP: rec.Src.Addr().String(), DestIP: rec.Dst.Addr().String(), SPort: rec.Src.Port(), DPort: rec.Dst.Port(),
			SetupTime: rec.Setup.UnixMicro(), Bytes: int64(rec.Bytes), Packets: int64(rec.Packets),
			DiffBytes: int64(db), DiffPackets: int64(dp), VRouter: hostname, VRouterIP: tunnel, Action: rec.Action,
		}
		if !rec.Teardown.IsZero() {
			fwd.TeardownTime = rec.Teardown.UnixMicro()
		}
		src, dst := c.lookup(rec.Src.Addr()), c.lookup(rec.Dst.Addr())
		fwd.SourceVN, fwd.DestVN = src.vn, dst.vn
		if st.ingress {
			fwd.DirectionIng = 1
			fwd.SourceVN = orDefault(fwd.SourceVN, st.vn)
			fwd.OtherVRouterIP = dst.vrouter
		} else {
			fwd.DestVN = orDefault(fwd.DestVN, st.vn)
			fwd.OtherVRouterIP = src.vrouter
		}
		// The port of each direction is the one it came from, when local,
		// else the port whose rule allowed the flow.
		portOf := func(src netip.Addr) *portView {
			if v := c.owner[src]; v != nil {
				return v
			}
			return c.ports[rec.Port]
		}
		if v := portOf(rec.Src.Addr()); v != nil {
			fwd.VMI, fwd.VM = vmiName(v.port.ID, v), v.port.InstanceID
		}
		if rec.RuleUUID != "" {
			if c.rules[rec.RuleUUID] == "sg" {
				fwd.SGRuleUUID = rec.RuleUUID
			} else {
				fwd.NwACEUUID = rec.RuleUUID
			}
		}
		if rec.Action == "deny" {
			fwd.DropReason = "SG"
			if fwd.NwACEUUID != "" {
				fwd.DropReason = "Policy"
			}
		}
		out = append(out, fwd)
		if st.rev != "" {
			rev := fwd
			rev.FlowUUID, rev.ReverseUUID = st.rev, st.fwd
			rev.DirectionIng = 1 - fwd.DirectionIng
			rev.SourceVN, rev.DestVN = fwd.DestVN, fwd.SourceVN
			rev.SourceIP, rev.DestIP = rec.ReplySrc.Addr().String(), rec.ReplyDst.Addr().String()
			rev.SPort, rev.DPort = rec.ReplySrc.Port(), rec.ReplyDst.Port()
			rev.Bytes, rev.Packets = int64(rec.ReplyBytes), int64(rec.ReplyPackets)
			rev.DiffBytes, rev.DiffPackets = int64(drb), int64(drp)
			if v := portOf(rec.ReplySrc.Addr()); v != nil {
				rev.VMI, rev.VM = vmiName(v.port.ID, v), v.port.InstanceID
			}
			out = append(out, rev)
		}
		// Traffic between the local network and the other end's.
		other := fwd.DestVN
		if !st.ingress {
			other = fwd.SourceVN
		}
		if st.vn != "" && other != "" && rec.Action != "deny" {
			m := r.interVN[st.vn]
			if m == nil {
				m = map[string]*vnTraffic{}
				r.interVN[st.vn] = m
			}
			tr := m[other]
			if tr == nil {
				tr = &vnTraffic{}
				m[other] = tr
			}
			if st.ingress {
				tr.outPkts, tr.outBytes = tr.outPkts+dp, tr.outBytes+db
				tr.inPkts, tr.inBytes = tr.inPkts+drp, tr.inBytes+drb
			} else {
				tr.inPkts, tr.inBytes = tr.inPkts+dp, tr.inBytes+db
				tr.outPkts, tr.outBytes = tr.outPkts+drp, tr.outBytes+drb
			}
		}
		if !rec.Teardown.IsZero() {
			delete(r.flows, k)
		}
	}
	r.mu.Unlock()
	for len(out) > 0 {
		n := min(len(out), flowBatch)
		r.gen.Flow(out[:n]...)
		out = out[n:]
	}
}

// localEnd is the address of the local VM in a flow record.
func localEnd(rec *flows.Record, ingress bool) netip.Addr {
	if ingress {
		return rec.Src.Addr()
	}
	return rec.Dst.Addr()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// BuildInfo returns the original's build_info JSON for a version.
func BuildInfo(version string) string {
	b, _ := json.Marshal(map[string]any{"build-info": []map[string]any{{
		"build-version": strings.TrimPrefix(version, "v"), "build-id": version,
	}}})
	return string(b)
}
