// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// decode decodes JSON the way the API server does (UseNumber).
func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func prop(t testing.TB, res, name string) *Property {
	t.Helper()
	r := Lookup(res)
	if r == nil {
		t.Fatalf("no resource %s", res)
	}
	p := r.Prop(name)
	if p == nil {
		t.Fatalf("%s has no property %s", res, name)
	}
	return p
}

// Bodies as the Python client (vnc_api) sends them: every attribute of a
// property object is serialized, null when unset, lists as [].
const (
	vncIdPerms = `{"permissions": null, "uuid": null, "enable": true, "created": null,
		"last_modified": null, "description": null, "user_visible": true, "creator": null}`
	vncIdPermsRead = `{"permissions": {"owner": "cloud-admin", "owner_access": 7, "group": "cloud-admin-group",
		"group_access": 7, "other_access": 7}, "uuid": {"uuid_mslong": 13776947211478139649,
		"uuid_lslong": 9223372036854775808}, "enable": true, "created": "2024-01-02T03:04:05.123456",
		"last_modified": "2024-01-02T03:04:05.123456", "description": "x", "user_visible": true, "creator": null}`
	vncPerms2 = `{"owner": null, "owner_access": 7, "global_access": 0,
		"share": [{"tenant": "default-domain:demo", "tenant_access": 5}]}`
	vncVNProps = `{"allow_transit": null, "network_id": null, "vxlan_network_identifier": null,
		"forwarding_mode": "l2_l3", "rpf": null, "mirror_destination": false, "max_flows": 0, "mtu": null}`
	vncSubnet  = `{"subnet": {"ip_prefix": "10.0.%d.0", "ip_prefix_len": 24}, "default_gateway": null, "dns_server_address": null, "subnet_uuid": null, "enable_dhcp": true, "dns_nameservers": [], "allocation_pools": [], "addr_from_start": null, "dhcp_option_list": null, "host_routes": null, "subnet_name": null, "alloc_unit": 1, "created": null, "last_modified": null, "subscriber_tag": null, "vlan_tag": null, "dhcp_relay_server": []}`
	vncSGRules = `{"policy_rule": [
		{"rule_sequence": null, "rule_uuid": "0f3c2a1e-6a1b-4c2d-9e0f-0123456789ab", "direction": ">",
		 "protocol": "any",
		 "src_addresses": [{"subnet": null, "virtual_network": null, "security_group": "local", "network_policy": null, "subnet_list": []}],
		 "src_ports": [{"start_port": 0, "end_port": 65535}], "application": [],
		 "dst_addresses": [{"subnet": {"ip_prefix": "0.0.0.0", "ip_prefix_len": 0}, "virtual_network": null, "security_group": null, "network_policy": null, "subnet_list": []}],
		 "dst_ports": [{"start_port": 0, "end_port": 65535}], "action_list": null, "ethertype": "IPv4",
		 "created": null, "last_modified": null, "description": null}]}`
	vncPolicyRules = `{"policy_rule": [
		{"rule_sequence": {"major": -1, "minor": -1}, "rule_uuid": null, "direction": "<>", "protocol": "any",
		 "src_addresses": [{"virtual_network": "default-domain:demo:left"}],
		 "src_ports": [{"start_port": -1, "end_port": -1}], "application": [],
		 "dst_addresses": [{"virtual_network": "default-domain:demo:right"}],
		 "dst_ports": [{"start_port": -1, "end_port": -1}],
		 "action_list": {"simple_action": null, "gateway_name": null, "apply_service": ["default-domain:demo:si1"],
		   "service_properties": null, "mirror_to": null, "assign_routing_instance": null, "log": false,
		   "alert": false, "qos_action": null, "host_based_service": false},
		 "ethertype": null, "created": null, "last_modified": null, "description": null},
		{"direction": "<>", "protocol": "tcp", "src_addresses": [{"network_policy": "any"}],
		 "src_ports": [{"start_port": null, "end_port": null}],
		 "dst_addresses": [{"subnet_list": [{"ip_prefix": "10.0.0.0", "ip_prefix_len": 8}]}],
		 "dst_ports": [{"start_port": 80, "end_port": 80}],
		 "action_list": {"simple_action": "pass", "mirror_to": {"analyzer_name": "default-domain:demo:mirror",
		   "encapsulation": null, "analyzer_ip_address": null, "analyzer_mac_address": null, "routing_instance": null,
		   "udp_port": null, "juniper_header": true, "nh_mode": null, "static_nh_header": null,
		   "nic_assisted_mirroring": false, "nic_assisted_mirroring_vlan": null}}}]}`
)

func vncVnSubnets(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, strings.Replace(vncSubnet, "%d", string(rune('0'+i)), 1))
	}
	return `{"ipam_subnets": [` + strings.Join(parts, ", ") + `], "host_routes": null}`
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		res, prop, body string
	}{
		{"virtual-network", "id_perms", vncIdPerms},
		{"virtual-network", "id_perms", vncIdPermsRead},
		{"virtual-network", "perms2", vncPerms2},
		{"virtual-network", "virtual_network_properties", vncVNProps},
		{"virtual-network", "virtual_network_properties", `{"forwarding_mode": "l3", "vxlan_network_identifier": 5000}`},
		{"virtual-network", "virtual_network_properties", `null`},
		{"virtual-network", "virtual_network_properties", `{}`},
		{"virtual-network", "route_target_list", `{"route_target": ["target:64512:1", "target:10.0.0.1:2"]}`},
		{"virtual-network", "route_target_list", `{"route_target": []}`},
		{"virtual-network", "virtual_network_network_id", `5`},
		{"virtual-network", "mtu", `9216`},
		{"virtual-network", "display_name", `"vn1"`},
		{"virtual-network", "annotations", `{"key_value_pair": [{"key": "k", "value": "v"}, {"key": "k2", "value": null}]}`},
		{"security-group", "security_group_entries", vncSGRules},
		{"network-policy", "network_policy_entries", vncPolicyRules},
		{"network-policy", "network_policy_entries", `{"policy_rule": []}`},
		{"virtual-machine-interface", "virtual_machine_interface_mac_addresses", `{"mac_address": ["02:00:00:00:00:01"]}`},
		{"virtual-machine-interface", "virtual_machine_interface_fat_flow_protocols",
			`{"fat_flow_protocol": [{"protocol": "tcp", "port": 80, "ignore_address": "none", "source_prefix": null, "source_aggregate_prefix_length": null, "destination_prefix": null, "destination_aggregate_prefix_length": null}]}`},
		{"virtual-machine-interface", "virtual_machine_interface_bindings", `{"key_value_pair": [{"key": "host_id", "value": "compute-1"}, {"key": "vnic_type", "value": "normal"}]}`},
		{"virtual-machine-interface", "virtual_machine_interface_allowed_address_pairs",
			`{"allowed_address_pair": [{"ip": {"ip_prefix": "10.0.0.5", "ip_prefix_len": 32}, "mac": null, "address_mode": "active-standby"}]}`},
		{"network-ipam", "network_ipam_mgmt", `{"ipam_method": "dhcp", "ipam_dns_method": "virtual-dns-server", "ipam_dns_server": {"tenant_dns_server_address": null, "virtual_dns_server_name": "default-domain:vdns"}, "dhcp_option_list": {"dhcp_option": [{"dhcp_option_name": "6", "dhcp_option_value": "8.8.8.8", "dhcp_option_value_bytes": null}]}, "cidr_block": null, "host_routes": null}`},
		{"network-ipam", "ipam_subnets", `{"subnets": [{"subnet": null, "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20", "vrouter_specific_pool": null}]}]}`},
		{"project", "quota", `{"defaults": -1, "virtual_network": 10, "security_group_rule": null, "host_based_service": 1}`},
		{"virtual-DNS", "virtual_DNS_data", `{"domain_name": "example.com", "dynamic_records_from_client": true, "record_order": "random", "default_ttl_seconds": 86400, "next_virtual_DNS": null, "floating_ip_record": "dashed-ip-tenant-name", "external_visible": false, "reverse_resolution": false, "soa_record": null}`},
		{"tag", "tag_id", `"0x00ff0001"`},
		{"tag", "tag_id", `16711681`},
		{"bgp-router", "bgp_router_parameters", `{"vendor": "contrail", "autonomous_system": 64512, "identifier": "10.0.0.1", "address": "10.0.0.1", "port": 179, "source_port": null, "hold_time": 90, "address_families": {"family": ["inet-vpn", "e-vpn"]}, "auth_data": null, "local_autonomous_system": null, "router_type": "control-node"}`},
		{"bgp-router", "bgp_router_parameters", `{"router_type": "control-node", "address": "10.0.0.1"}`},
		{"global-system-config", "autonomous_system", `4294967295`},
		{"access-control-list", "access_control_list_entries", `{"dynamic": null, "acl_rule": [{"match_condition": {"protocol": "any", "src_address": {"virtual_network": "any"}, "src_port": {"start_port": 0, "end_port": 65535}, "dst_address": {"virtual_network": "any"}, "dst_port": {"start_port": 0, "end_port": 65535}, "ethertype": null}, "action_list": {"simple_action": "pass"}, "rule_uuid": null, "direction": null}]}`},
	}
	for _, tc := range tests {
		p := prop(t, tc.res, tc.prop)
		if err := p.Validate(decode(t, tc.body)); err != nil {
			t.Errorf("%s.%s: %v\nbody: %s", tc.res, tc.prop, err, tc.body)
		}
	}

	// The network-ipam ref attribute of a virtual network, with several subnets.
	vn := Lookup("virtual-network")
	if err := vn.RefField("network_ipam_refs").ValidateAttr("network_ipam_refs[0].attr", decode(t, vncVnSubnets(3))); err != nil {
		t.Errorf("VnSubnetsType: %v", err)
	}
	if err := vn.RefField("network_policy_refs").ValidateAttr("network_policy_refs[0].attr",
		decode(t, `{"sequence": {"major": 0, "minor": 0}, "timer": null}`)); err != nil {
		t.Errorf("VirtualNetworkPolicyType: %v", err)
	}
	// Refs without an attribute type accept anything (the original ignores it).
	if err := vn.RefField("route_table_refs").ValidateAttr("route_table_refs[0].attr", decode(t, `{"x": 1}`)); err != nil {
		t.Errorf("attr of a link without attribute type: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		res, prop, body string
		want            string // full error text
	}{
		{"virtual-network", "virtual_network_properties", `{"forwarding_mode": "l9"}`,
			`virtual_network_properties.forwarding_mode: "l9" is not one of [l2_l3 l2 l3]`},
		{"virtual-network", "virtual_network_properties", `{"forwarding_mode": "l3", "bogus": 1, "another": 2}`,
			`virtual_network_properties.another: unknown field`},
		{"virtual-network", "virtual_network_properties", `"l3"`,
			`virtual_network_properties: expected object, got string`},
		{"virtual-network", "virtual_network_properties", `{"allow_transit": "true"}`,
			`virtual_network_properties.allow_transit: expected boolean, got string`},
		{"virtual-network", "virtual_network_properties", `{"vxlan_network_identifier": 16777216}`,
			`virtual_network_properties.vxlan_network_identifier: value 16777216 is out of range [1, 16777215]`},
		{"virtual-network", "virtual_network_properties", `{"max_flows": 1.5}`,
			`virtual_network_properties.max_flows: expected integer, got 1.5`},
		{"virtual-network", "mtu", `9217`, `mtu: value 9217 is out of range [0, 9216]`},
		{"virtual-network", "mtu", `"1500"`, `mtu: expected integer, got string`},
		{"virtual-network", "display_name", `5`, `display_name: expected string, got number`},
		{"virtual-network", "route_target_list", `{"route_target": "target:1:1"}`,
			`route_target_list.route_target: expected array, got string`},
		{"virtual-network", "route_target_list", `{"route_target": ["target:1:1", 5]}`,
			`route_target_list.route_target[1]: expected string, got number`},
		{"virtual-network", "id_perms", `{"enable": "yes"}`, `id_perms.enable: expected boolean, got string`},
		{"virtual-network", "id_perms", `{"created": "yesterday"}`,
			`id_perms.created: "yesterday" is not a valid dateTime (want YYYY-MM-DDThh:mm:ss[.frac][zone])`},
		{"virtual-network", "id_perms", `{"uuid": {"uuid_mslong": 18446744073709551616}}`,
			`id_perms.uuid.uuid_mslong: value 18446744073709551616 is out of range [0, 18446744073709551615]`},
		{"virtual-network", "id_perms", `{"uuid": {"uuid_mslong": -1}}`,
			`id_perms.uuid.uuid_mslong: value -1 is out of range [0, 18446744073709551615]`},
		{"virtual-network", "id_perms", `{"permissions": {"owner_access": 8}}`,
			`id_perms.permissions.owner_access: value 8 is out of range [0, 7]`},
		{"virtual-network", "perms2", `{"share": [{"tenant": "t1", "tenant_access": 7}, {"tenant": null, "tenant_access": 7}]}`,
			`perms2.share[1].tenant: required field is missing`},
		{"virtual-network", "annotations", `{"key_value_pair": [{"key": "k", "val": "v"}]}`,
			`annotations.key_value_pair[0].val: unknown field`},
		{"security-group", "security_group_entries", `{"policy_rule": [{"direction": ">", "src_ports": [{"start_port": 0, "end_port": 70000}]}]}`,
			`security_group_entries.policy_rule[0].src_ports[0].end_port: value 70000 is out of range [-1, 65535]`},
		{"security-group", "security_group_entries", `{"policy_rule": [{"direction": "->"}]}`,
			`security_group_entries.policy_rule[0].direction: "->" is not one of [> <>]`},
		{"security-group", "security_group_entries", `{"policy_rule": [{"ethertype": "IPv5"}]}`,
			`security_group_entries.policy_rule[0].ethertype: "IPv5" is not one of [IPv4 IPv6]`},
		{"security-group", "security_group_entries", `{"policy_rule": null}`,
			`security_group_entries.policy_rule: required field is missing`},
		{"network-policy", "network_policy_entries", `{"policy_rule": [{"rule_sequence": {"major": 1}}]}`,
			`network_policy_entries.policy_rule[0].rule_sequence.minor: required field is missing`},
		{"virtual-DNS", "virtual_DNS_data", `{"record_order": "random"}`,
			`virtual_DNS_data.domain_name: required field is missing`},
		{"virtual-DNS", "virtual_DNS_data", `{"domain_name": "x", "record_order": "sorted"}`,
			`virtual_DNS_data.record_order: "sorted" is not one of [fixed random round-robin]`},
		{"virtual-network", "mac_limit_control", `{"mac_limit_action": "log"}`,
			`mac_limit_control.mac_limit: required field is missing`},
		{"project", "quota", `{"host_based_service": 2}`, `quota.host_based_service: value 2 is out of range [0, 1]`},
		{"global-system-config", "autonomous_system", `4294967296`,
			`autonomous_system: value 4294967296 is out of range [1, 4294967295]`},
		{"global-system-config", "autonomous_system", `1e300`,
			`autonomous_system: value 1e300 is out of range [1, 4294967295]`},
		{"global-system-config", "autonomous_system", `1e-300`, `autonomous_system: expected integer, got 1e-300`},
	}
	for _, tc := range tests {
		p := prop(t, tc.res, tc.prop)
		err := p.Validate(decode(t, tc.body))
		if err == nil {
			t.Errorf("%s.%s accepted %s", tc.res, tc.prop, tc.body)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s.%s %s:\n got %s\nwant %s", tc.res, tc.prop, tc.body, err, tc.want)
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("error %T is not a *FieldError", err)
		}
	}
}

func TestValidateAttrPath(t *testing.T) {
	vn := Lookup("virtual-network")
	l := vn.RefField("network_ipam_refs")
	body := decode(t, vncVnSubnets(3)).(map[string]any)
	sub := body["ipam_subnets"].([]any)[2].(map[string]any)["subnet"].(map[string]any)
	sub["ip_prefix_len"] = "24"
	err := l.ValidateAttr("network_ipam_refs[0].attr", body)
	want := "network_ipam_refs[0].attr.ipam_subnets[2].subnet.ip_prefix_len: expected integer, got string"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "network_ipam_refs[0].attr.ipam_subnets[2].subnet.ip_prefix_len" || fe.Msg != "expected integer, got string" {
		t.Errorf("FieldError = %+v", fe)
	}
	// An empty prefix yields a path starting at the first field.
	err = LookupType("VnSubnetsType").Validate("", body)
	if err == nil || !strings.HasPrefix(err.Error(), "ipam_subnets[2].subnet.ip_prefix_len: ") {
		t.Errorf("Type.Validate with empty prefix: %v", err)
	}
	if err := LookupType("VnSubnetsType").Validate("", "x"); err == nil || err.Error() != "expected object, got string" {
		t.Errorf("Type.Validate of a string at the root: %v", err)
	}
}

func TestValidateIntegers(t *testing.T) {
	u64 := LookupType("xsd:unsignedLong")
	i64 := LookupType("xsd:integer")
	port := LookupType("L4PortType")
	tests := []struct {
		typ *Type
		in  any
		ok  bool
	}{
		{u64, json.Number("0"), true},
		{u64, json.Number("18446744073709551615"), true},
		{u64, json.Number("18446744073709551616"), false},
		{u64, json.Number("-1"), false},
		{u64, json.Number("-0"), true},
		{u64, json.Number("1.8446744073709551615e19"), true},
		{u64, json.Number("1e19"), true},
		{u64, json.Number("1e20"), false},
		{u64, json.Number("123456789012345678901234567890"), false},
		{u64, json.Number("1e999999999999"), false},
		{u64, json.Number("1e-999999999999"), false},
		{u64, json.Number("0e999999999999"), true},
		{u64, uint64(1 << 63), true},
		{u64, int64(-5), false},
		{u64, 3.0, true},
		{i64, json.Number("9223372036854775807"), true},
		{i64, json.Number("9223372036854775808"), false},
		{i64, json.Number("-9223372036854775808"), true},
		{i64, json.Number("-9223372036854775809"), false},
		{i64, json.Number("10.000"), true},
		{i64, json.Number("10.001"), false},
		{i64, json.Number("1.5e1"), true},
		{i64, json.Number("1.55e1"), false},
		{i64, json.Number("00"), true},
		{i64, json.Number("abc"), false},
		{i64, uint64(1 << 63), false},
		{i64, 2.5, false},
		{i64, 1e30, false},
		{i64, -7, true},
		{i64, true, false},
		{i64, "5", false},
		{port, json.Number("-1"), true},
		{port, json.Number("-2"), false},
		{port, json.Number("65535"), true},
		{port, json.Number("65536"), false},
		{port, json.Number("6.5535e4"), true},
		{port, uint8(7), true},
	}
	for _, tc := range tests {
		err := tc.typ.Validate("v", tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s %#v: err = %v, want ok=%v", tc.typ.Name, tc.typ.Base, tc.in, err, tc.ok)
		}
	}
}

func TestValidateDateTime(t *testing.T) {
	dt := LookupType("xsd:dateTime")
	tm := LookupType("xsd:time")
	for _, s := range []string{
		"2024-01-02T03:04:05", "2024-01-02T03:04:05.123456", "2024-01-02T03:04:05Z",
		"2024-01-02T03:04:05.5+02:00", "2024-01-02 03:04:05", "2024-01-02T03:04", "2024-01-02T03:04:05-0700",
	} {
		if err := dt.Validate("t", s); err != nil {
			t.Errorf("dateTime %q: %v", s, err)
		}
	}
	for _, s := range []string{"", "2024-01-02", "2024-01-02T", "2024/01/02T03:04:05", "2024-01-02T03:04:05.", "2024-01-02T03:04:05+2", "now"} {
		if err := dt.Validate("t", s); err == nil {
			t.Errorf("dateTime %q accepted", s)
		}
	}
	for _, s := range []string{"03:04:05", "03:04", "23:59:59.999Z", "00:00:00+05:30"} {
		if err := tm.Validate("t", s); err != nil {
			t.Errorf("time %q: %v", s, err)
		}
	}
	for _, s := range []string{"3:04:05", "03-04-05", "03:04:05x"} {
		if err := tm.Validate("t", s); err == nil {
			t.Errorf("time %q accepted", s)
		}
	}
	if err := dt.Validate("t", json.Number("5")); err == nil || err.Error() != "t: expected dateTime string, got number" {
		t.Errorf("dateTime number: %v", err)
	}
}

func TestValidateNullAndAny(t *testing.T) {
	for _, r := range All() {
		for _, p := range r.Props {
			if err := p.Validate(nil); err != nil {
				t.Errorf("%s.%s rejects null: %v", r.Name, p.Name, err)
			}
		}
		for _, l := range r.Refs {
			if err := l.ValidateAttr("a", nil); err != nil {
				t.Errorf("%s ref %s rejects a null attr: %v", r.Name, l.Name, err)
			}
		}
	}
	anyT := LookupType("xsd:anyType")
	for _, v := range []any{"s", json.Number("1"), true, map[string]any{"x": []any{1}}, []any{}} {
		if err := anyT.Validate("a", v); err != nil {
			t.Errorf("anyType rejects %#v: %v", v, err)
		}
	}
}

// TestRequiredEnforcement pins which common types enforce required fields.
func TestRequiredEnforcement(t *testing.T) {
	exempt := []string{"IdPermsType", "PermType2", "VnSubnetsType", "IpamSubnetType", "SubnetType",
		"PolicyRuleType", "PolicyEntriesType", "PortType", "AddressType", "VirtualNetworkPolicyType",
		"VirtualNetworkType", "ActionListType", "MirrorActionType", "KeyValuePairs", "KeyValuePair"}
	for _, n := range exempt {
		ty := LookupType(n)
		for _, f := range ty.Fields {
			if f.Enforce && !f.List {
				t.Errorf("%s.%s is enforced", n, f.Name)
			}
		}
	}
	enforced := map[string]string{
		"SequenceType": "major", "ShareType": "tenant", "VirtualDnsType": "domain_name",
		"PolicyEntriesType": "policy_rule", "TimerType": "start_time",
	}
	for n, fn := range enforced {
		if f := LookupType(n).Field(fn); f == nil || !f.Enforce {
			t.Errorf("%s.%s is not enforced", n, fn)
		}
	}
}

func BenchmarkValidateVnSubnets(b *testing.B) {
	l := Lookup("virtual-network").RefField("network_ipam_refs")
	v := decode(b, vncVnSubnets(8))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.ValidateAttr("network_ipam_refs[0].attr", v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidatePolicyEntries(b *testing.B) {
	p := prop(b, "network-policy", "network_policy_entries")
	v := decode(b, vncPolicyRules)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Validate(v); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidateNoAllocs(t *testing.T) {
	l := Lookup("virtual-network").RefField("network_ipam_refs")
	v := decode(t, vncVnSubnets(4))
	p := prop(t, "security-group", "security_group_entries")
	sg := decode(t, vncSGRules)
	ip := prop(t, "virtual-network", "id_perms")
	idp := decode(t, vncIdPermsRead)
	n := testing.AllocsPerRun(100, func() {
		_ = l.ValidateAttr("network_ipam_refs[0].attr", v)
		_ = p.Validate(sg)
		_ = ip.Validate(idp)
	})
	if n != 0 {
		t.Errorf("%v allocations per validation on the happy path", n)
	}
}
