// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// configMsg builds a config message the way the control node does (JSON
// properties encoded as XML) and decodes it as the agent receives it.
func configMsg(t *testing.T, del bool, nodes []*xmpp.ConfigNode, links []*xmpp.ConfigLink) *xmpp.Config {
	t.Helper()
	var changes []xmpp.ConfigChange
	for _, n := range nodes {
		changes = append(changes, xmpp.ConfigChange{Delete: del, ConfigObject: xmpp.ConfigObject{Node: n}})
	}
	for _, l := range links {
		changes = append(changes, xmpp.ConfigChange{Delete: del, ConfigObject: xmpp.ConfigObject{Link: l}})
	}
	cb := xmpp.ConfigBuilder{To: "host1/config"}
	var out xmpp.Config
	for _, m := range cb.Build(changes) {
		el, err := xmpp.ParseElement(m.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		var c xmpp.Config
		if err := c.Unmarshal(el); err != nil {
			t.Fatal(err)
		}
		out.Blocks = append(out.Blocks, c.Blocks...)
	}
	return &out
}

func jnode(t *testing.T, typ, name, uuid string, props map[string]any) *xmpp.ConfigNode {
	t.Helper()
	if props == nil {
		props = map[string]any{}
	}
	if uuid != "" {
		ms, ls := uuidParts(t, uuid)
		props["id_perms"] = map[string]any{"uuid": map[string]any{"uuid_mslong": json.Number(ms), "uuid_lslong": json.Number(ls)}, "enable": true}
	}
	n, err := xmpp.NewConfigNodeJSON(typ, name, props)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func uuidParts(t *testing.T, u string) (string, string) {
	t.Helper()
	c, ok := portapi.ParseUUID(u)
	if !ok {
		t.Fatalf("bad uuid %s", u)
	}
	hex := c[0:8] + c[9:13] + c[14:18] + c[19:23] + c[24:]
	var ms, ls uint64
	for i := 0; i < 16; i++ {
		ms = ms<<4 | hexVal(hex[i])
		ls = ls<<4 | hexVal(hex[16+i])
	}
	return jsonUint(ms), jsonUint(ls)
}

func hexVal(c byte) uint64 {
	if c >= 'a' {
		return uint64(c-'a') + 10
	}
	return uint64(c - '0')
}

func jsonUint(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func link(lt, ln, rt, rn string) *xmpp.ConfigLink {
	return &xmpp.ConfigLink{Left: xmpp.NodeRef{Type: lt, Name: ln}, Right: xmpp.NodeRef{Type: rt, Name: rn}, Metadata: lt + "-" + rt}
}

// TestConfigDBResolvesPorts feeds the agent's config DB the subgraph of one
// VM as the control node encodes it and checks the resolved port: network,
// VNI, subnet with gateway (from the link attribute node), addresses, MAC,
// security group, ACL under the group; then a delete.
func TestConfigDBResolvesPorts(t *testing.T) {
	const (
		vmiID = "0a0b0c0d-0000-4000-8000-000000000001"
		vnID  = "0a0b0c0d-0000-4000-8000-000000000002"
		sgID  = "0a0b0c0d-0000-4000-8000-000000000003"
	)
	vn := "default-domain:p:vn1"
	vmi := "default-domain:p:vmi1"
	sg := "default-domain:p:sg1"
	attr := "attr(" + vn + ",default-domain:p:ipam)"
	db := newConfigDB()
	db.apply(configMsg(t, false, []*xmpp.ConfigNode{
		jnode(t, "virtual-network", vn, vnID, map[string]any{"virtual_network_network_id": 5,
			"virtual_network_properties": map[string]any{"forwarding_mode": "l2_l3"}}),
		jnode(t, "network-ipam", "default-domain:p:ipam", "", nil),
		jnode(t, "virtual-network-network-ipam", attr, "", map[string]any{"value": map[string]any{
			"ipam_subnets": []any{map[string]any{"subnet": map[string]any{"ip_prefix": "10.1.1.0", "ip_prefix_len": 24},
				"default_gateway": "10.1.1.254", "dns_server_address": "10.1.1.253"}}}}),
		jnode(t, "virtual-machine-interface", vmi, vmiID, map[string]any{
			"virtual_machine_interface_mac_addresses": map[string]any{"mac_address": []any{"02:0a:0b:0c:0d:00"}}}),
		jnode(t, "instance-ip", "iip1", "", map[string]any{"instance_ip_address": "10.1.1.3"}),
		jnode(t, "security-group", sg, sgID, map[string]any{"security_group_id": 8000001}),
		jnode(t, "access-control-list", sg+":ingress-access-control-list", "", map[string]any{
			"access_control_list_entries": map[string]any{"acl_rule": []any{map[string]any{"rule_uuid": "r1"}}}}),
	}, []*xmpp.ConfigLink{
		link("virtual-network", vn, "network-ipam", "default-domain:p:ipam"),
		link("virtual-network", vn, "virtual-network-network-ipam", attr),
		link("virtual-network-network-ipam", attr, "network-ipam", "default-domain:p:ipam"),
		link("virtual-machine-interface", vmi, "virtual-network", vn),
		link("virtual-machine-interface", vmi, "security-group", sg),
		link("instance-ip", "iip1", "virtual-machine-interface", vmi),
		link("security-group", sg, "access-control-list", sg+":ingress-access-control-list"),
	}))

	o := db.getUUID(vmiID)
	if o == nil || o.FQNameString() != vmi {
		t.Fatalf("VMI by uuid: %+v", o)
	}
	if refs := o.Refs["virtual_network_refs"]; len(refs) != 1 || refs[0].UUID != vnID {
		t.Errorf("VMI refs: %+v", o.Refs)
	}
	acl := db.get("access-control-list", sg+":ingress-access-control-list")
	if acl == nil || acl.ParentType != "security-group" || acl.ParentUUID != sgID {
		t.Fatalf("ACL parent: %+v", acl)
	}
	var ents struct {
		Rules []map[string]any `json:"acl_rule"`
	}
	if !acl.Prop("access_control_list_entries", &ents) || len(ents.Rules) != 1 {
		t.Errorf("ACL entries (acl_rule must be a list even with one item): %s", acl.Props["access_control_list_entries"])
	}

	v := newResolver(db).port(portapi.Port{ID: vmiID, SystemName: "tap1"})
	if !v.active() {
		t.Fatalf("port not active: %s", v.err)
	}
	if v.vn.vni != 5 || v.vn.ri != vn+":vn1" || v.vn.mode != modeL2L3 {
		t.Errorf("network: %+v", v.vn)
	}
	sn, ok := v.vn.subnetOf(netip.MustParseAddr("10.1.1.3"))
	if !ok || sn.gw != netip.MustParseAddr("10.1.1.254") || sn.dns != netip.MustParseAddr("10.1.1.253") {
		t.Errorf("subnet: %+v %v", sn, ok)
	}
	if len(v.ips) != 1 || v.ips[0] != netip.MustParseAddr("10.1.1.3") || v.mac.String() != "02:0a:0b:0c:0d:00" {
		t.Errorf("addresses: %v %v", v.ips, v.mac)
	}
	if len(v.sgID) != 1 || v.sgID[0] != 8000001 {
		t.Errorf("security groups: %v", v.sgID)
	}

	// The instance-ip goes: the port waits for config again.
	db.apply(configMsg(t, true, []*xmpp.ConfigNode{{Type: "instance-ip", Name: "iip1"}}, nil))
	if v := newResolver(db).port(portapi.Port{ID: vmiID, SystemName: "tap1"}); v.active() {
		t.Errorf("port without instance-ip is active: %+v", v.ips)
	}
	// A sweep after a config peer change removes what was not resent.
	gen := db.gen + 1
	db.apply(configMsg(t, false, []*xmpp.ConfigNode{jnode(t, "virtual-network", vn, vnID, nil)}, nil))
	db.sweep(gen)
	if db.getUUID(vmiID) != nil || db.getUUID(vnID) == nil {
		t.Errorf("sweep kept %v / dropped the network", db.count())
	}
}
