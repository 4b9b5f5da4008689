// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"

	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/model"
)

// Forwarding modes of a virtual network (virtual_network_properties.forwarding_mode).
const (
	modeL2L3 = "l2_l3"
	modeL2   = "l2"
	modeL3   = "l3"
)

// vnView is a virtual network as the agent uses it.
type vnView struct {
	obj     *model.Object
	name    string // fq-name
	ri      string // its default routing instance
	vni     uint32
	mode    string
	subnets []subnetView
}

type subnetView struct {
	prefix netip.Prefix
	gw     netip.Addr
	dns    netip.Addr
}

// portView is a port resolved against the config: everything the agent
// publishes and programs for it. err says why it cannot be programmed.
type portView struct {
	port portapi.Port
	vmi  *model.Object
	vn   *vnView
	ips  []netip.Addr // IPv4 instance IPs, sorted
	ip6s []netip.Addr
	mac  net.HardwareAddr
	sgs  []*model.Object
	sgID []uint32
	fips []fipView
	err  string
}

type fipView struct {
	obj   *model.Object
	addr  netip.Addr
	fixed netip.Addr
	vn    *vnView
}

func (v *portView) active() bool { return v.err == "" }

// subnetOf returns the subnet holding ip.
func (vn *vnView) subnetOf(ip netip.Addr) (subnetView, bool) {
	for _, s := range vn.subnets {
		if s.prefix.Contains(ip) {
			return s, true
		}
	}
	return subnetView{}, false
}

// resolver turns config objects into views; it caches networks for one pass.
type resolver struct {
	db  *configDB
	vns map[string]*vnView
}

func newResolver(db *configDB) *resolver { return &resolver{db: db, vns: map[string]*vnView{}} }

func propInt(o *model.Object, name string) int64 {
	var n json.Number
	if !o.Prop(name, &n) {
		return 0
	}
	v, _ := n.Int64()
	return v
}

// vn resolves a virtual network object; nil when it is not usable.
func (r *resolver) vn(o *model.Object) (*vnView, error) {
	if o == nil {
		return nil, fmt.Errorf("virtual network not in config")
	}
	name := o.FQNameString()
	if v, ok := r.vns[name]; ok {
		return v, nil
	}
	v := &vnView{obj: o, name: name, ri: name + ":" + o.Name(), mode: modeL2L3}
	var props struct {
		VXLAN json.Number `json:"vxlan_network_identifier"`
		Mode  string      `json:"forwarding_mode"`
	}
	o.Prop("virtual_network_properties", &props)
	vni := propInt(o, "virtual_network_network_id")
	if x, err := props.VXLAN.Int64(); err == nil && x > 0 && r.vxlanConfigured() {
		vni = x
	}
	if vni <= 0 || vni >= 1<<24 {
		return nil, fmt.Errorf("virtual network %s has no usable VNI (network id %d)", name, vni)
	}
	v.vni = uint32(vni)
	if props.Mode != "" {
		v.mode = props.Mode
	} else if m := r.globalMode(); m != "" {
		v.mode = m
	}
	for _, ref := range o.Refs["network_ipam_refs"] {
		var attr struct {
			Subnets []struct {
				Subnet struct {
					Prefix string      `json:"ip_prefix"`
					Len    json.Number `json:"ip_prefix_len"`
				} `json:"subnet"`
				Gateway string `json:"default_gateway"`
				DNS     string `json:"dns_server_address"`
			} `json:"ipam_subnets"`
		}
		if len(ref.Attr) == 0 || json.Unmarshal(ref.Attr, &attr) != nil {
			continue
		}
		for _, s := range attr.Subnets {
			a, err := netip.ParseAddr(s.Subnet.Prefix)
			if err != nil {
				continue
			}
			l, err := strconv.Atoi(s.Subnet.Len.String())
			if err != nil {
				continue
			}
			p, err := a.Prefix(l)
			if err != nil {
				continue
			}
			sv := subnetView{prefix: p}
			sv.gw, _ = netip.ParseAddr(s.Gateway)
			sv.dns, _ = netip.ParseAddr(s.DNS)
			v.subnets = append(v.subnets, sv)
		}
	}
	if ri := r.db.get("routing-instance", v.ri); ri == nil {
		// The default instance is named after the network; keep the name
		// even before its object arrives (the control node remembers
		// subscriptions to instances it does not know yet).
		_ = ri
	}
	r.vns[name] = v
	return v, nil
}

func (r *resolver) globalVrouter() *model.Object {
	for _, o := range r.db.byType("global-vrouter-config") {
		return o
	}
	return nil
}

func (r *resolver) vxlanConfigured() bool {
	g := r.globalVrouter()
	if g == nil {
		return false
	}
	var mode string
	g.Prop("vxlan_network_identifier_mode", &mode)
	return mode == "configured"
}

func (r *resolver) globalMode() string {
	g := r.globalVrouter()
	if g == nil {
		return ""
	}
	var mode string
	g.Prop("forwarding_mode", &mode)
	return mode
}

// port resolves a stored port against the config.
func (r *resolver) port(p portapi.Port) *portView {
	v := &portView{port: p}
	vmi := r.db.getUUID(p.ID)
	if vmi == nil || vmi.Type != "virtual-machine-interface" {
		v.err = "waiting for config: virtual-machine-interface " + p.ID + " not received"
		return v
	}
	v.vmi = vmi
	vnRefs := vmi.Refs["virtual_network_refs"]
	if len(vnRefs) == 0 {
		v.err = "virtual-machine-interface has no virtual network"
		return v
	}
	vnObj := r.db.get("virtual-network", model.FQNameString(vnRefs[0].To))
	vn, err := r.vn(vnObj)
	if err != nil {
		v.err = "waiting for config: " + err.Error()
		return v
	}
	v.vn = vn
	var macs struct {
		MAC []string `json:"mac_address"`
	}
	if vmi.Prop("virtual_machine_interface_mac_addresses", &macs) && len(macs.MAC) > 0 {
		v.mac, _ = net.ParseMAC(macs.MAC[0])
	}
	if v.mac == nil && p.MACAddress != "" {
		v.mac, _ = net.ParseMAC(p.MACAddress)
	}
	for _, iip := range r.db.linked(vmi, "instance-ip") {
		var s string
		if !iip.Prop("instance_ip_address", &s) {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		if a.Is4() {
			v.ips = append(v.ips, a)
		} else {
			v.ip6s = append(v.ip6s, a)
		}
	}
	if len(v.ips) == 0 && p.IPAddress != "" {
		if a, err := netip.ParseAddr(p.IPAddress); err == nil {
			v.ips = append(v.ips, a)
		}
	}
	if len(v.ip6s) == 0 && p.IP6Address != "" {
		if a, err := netip.ParseAddr(p.IP6Address); err == nil {
			v.ip6s = append(v.ip6s, a)
		}
	}
	sortAddrs(v.ips)
	sortAddrs(v.ip6s)
	for _, ref := range vmi.Refs["security_group_refs"] {
		sg := r.db.get("security-group", model.FQNameString(ref.To))
		if sg == nil {
			continue
		}
		v.sgs = append(v.sgs, sg)
		if id := propInt(sg, "security_group_id"); id > 0 {
			v.sgID = append(v.sgID, uint32(id))
		}
	}
	for _, fo := range r.db.linked(vmi, "floating-ip") {
		var s string
		if !fo.Prop("floating_ip_address", &s) {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			continue
		}
		fv := fipView{obj: fo, addr: a}
		var fixed string
		if fo.Prop("floating_ip_fixed_ip_address", &fixed) {
			fv.fixed, _ = netip.ParseAddr(fixed)
		}
		if !fv.fixed.IsValid() && len(v.ips) > 0 {
			fv.fixed = v.ips[0]
		}
		pool := r.db.getUUID(fo.ParentUUID)
		if pool == nil {
			continue
		}
		fvn, err := r.vn(r.db.getUUID(pool.ParentUUID))
		if err != nil {
			continue
		}
		fv.vn = fvn
		v.fips = append(v.fips, fv)
	}
	if len(v.ips) == 0 && len(v.ip6s) == 0 && vn.mode != modeL2 {
		v.err = "waiting for config: no instance-ip"
		return v
	}
	if p.Disabled {
		// Resolved, but not programmed nor published: no traffic.
		v.err = disabledReason
	}
	return v
}

func sortAddrs(a []netip.Addr) {
	sort.Slice(a, func(i, j int) bool { return a[i].Less(a[j]) })
}

// firstIP is the first of ips, or the zero Addr (in no subnet) when there
// is none.
func firstIP(ips []netip.Addr) netip.Addr {
	if len(ips) == 0 {
		return netip.Addr{}
	}
	return ips[0]
}
