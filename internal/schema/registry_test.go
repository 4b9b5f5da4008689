// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"sort"
	"testing"
)

func mustLookup(t *testing.T, name string) *Resource {
	t.Helper()
	r := Lookup(name)
	if r == nil {
		t.Fatalf("Lookup(%q) = nil", name)
	}
	return r
}

func TestCounts(t *testing.T) {
	all := All()
	var props, refs, children, complexTypes int
	for _, r := range all {
		props += len(r.Props)
		refs += len(r.Refs)
		children += len(r.Children)
	}
	for _, ty := range typeList {
		if ty.Kind == KindComplex {
			complexTypes++
		}
	}
	t.Logf("%d resource types (config-root included), %d named types (%d complex), %d properties, %d ref links, %d parent links",
		len(all), len(typeList), complexTypes, props, refs, children)
	// The schema of the reference commit has 125 resource types plus config-root.
	if len(all) < 120 {
		t.Errorf("only %d resource types", len(all))
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool { return all[i].Name < all[j].Name }) {
		t.Error("All() is not sorted by name")
	}
	all[0] = nil // All returns a copy
	if All()[0] == nil {
		t.Error("All() exposes the registry's slice")
	}
}

func TestLookups(t *testing.T) {
	tests := []struct {
		name, plural, json string
	}{
		{"virtual-network", "virtual-networks", "virtual_network"},
		{"network-policy", "network-policys", "network_policy"},
		{"virtual-DNS-record", "virtual-DNS-records", "virtual_DNS_record"},
		{"config-root", "config-roots", "config_root"},
	}
	for _, tc := range tests {
		r := mustLookup(t, tc.name)
		if r.Plural != tc.plural || r.JSONName != tc.json {
			t.Errorf("%s: Plural %q JSONName %q, want %q %q", tc.name, r.Plural, r.JSONName, tc.plural, tc.json)
		}
		if LookupPlural(tc.plural) != r {
			t.Errorf("LookupPlural(%q) != Lookup(%q)", tc.plural, tc.name)
		}
		if LookupJSON(tc.json) != r {
			t.Errorf("LookupJSON(%q) != Lookup(%q)", tc.json, tc.name)
		}
	}
	for _, bad := range []string{"", "virtual_network", "virtual-networks", "nope"} {
		if Lookup(bad) != nil {
			t.Errorf("Lookup(%q) != nil", bad)
		}
	}
	if !mustLookup(t, "config-root").Root {
		t.Error("config-root is not marked Root")
	}
	for _, r := range All() {
		if r.Root != (r.Name == "config-root") {
			t.Errorf("%s: Root = %v", r.Name, r.Root)
		}
	}
	for _, n := range []string{"VnSubnetsType", "IdPermsType", "IpAddressType", "xsd:string", "xsd:unsignedLong"} {
		if LookupType(n) == nil {
			t.Errorf("LookupType(%q) = nil", n)
		}
	}
	if LookupType("NoSuchType") != nil {
		t.Error("LookupType(NoSuchType) != nil")
	}
}

func TestProperties(t *testing.T) {
	tests := []struct {
		res, prop string
		typ       string // XSD type name, or "xsd:<builtin>"
		kind      PropKind
		required  string
		ops       string
	}{
		{"virtual-network", "virtual_network_properties", "VirtualNetworkType", PropPlain, "optional", "CRUD"},
		// Declared twice in vnc_cfg.xsd (VirtualNetworkIdType, then
		// xsd:integer right before its IDL statement); the last one wins.
		{"virtual-network", "virtual_network_network_id", "xsd:integer", PropPlain, "system-only", "CR"},
		{"virtual-network", "route_target_list", "RouteTargetList", PropPlain, "optional", "CRUD"},
		{"virtual-network", "virtual_network_fat_flow_protocols", "FatFlowProtocols", PropList, "optional", "CRUD"},
		{"virtual-machine-interface", "virtual_machine_interface_fat_flow_protocols", "FatFlowProtocols", PropList, "optional", "CRUD"},
		{"virtual-machine-interface", "virtual_machine_interface_bindings", "KeyValuePairs", PropMap, "optional", "CRUD"},
		{"virtual-machine-interface", "virtual_machine_interface_mac_addresses", "MacAddressesType", PropPlain, "required", "CRUD"},
		{"security-group", "security_group_entries", "PolicyEntriesType", PropPlain, "required", "CRUD"},
		{"network-policy", "network_policy_entries", "PolicyEntriesType", PropPlain, "required", "CRUD"},
		{"project", "quota", "QuotaType", PropPlain, "required", "CRUD"},
		{"feature-flag", "enable_feature", "xsd:boolean", PropPlain, "optional", "CRUD"},
		{"tag", "tag_id", "U32BitHexInt", PropPlain, "optional", "R"},
		{"fabric", "node_type", "", 0, "", ""}, // absent: node_type belongs to node
		{"node", "node_type", "NodeType", PropPlain, "optional", "CRUD"},
		// Common properties of every resource, config-root included.
		{"config-root", "id_perms", "IdPermsType", PropPlain, "system-only", "RU"},
		{"bgp-router", "perms2", "PermType2", PropPlain, "system-only", "R"},
		{"project", "annotations", "KeyValuePairs", PropMap, "optional", "CRUD"},
		{"instance-ip", "display_name", "xsd:string", PropPlain, "optional", "CRUD"},
	}
	for _, tc := range tests {
		r := mustLookup(t, tc.res)
		p := r.Prop(tc.prop)
		if tc.typ == "" {
			if p != nil {
				t.Errorf("%s has unexpected property %s", tc.res, tc.prop)
			}
			continue
		}
		if p == nil {
			t.Errorf("%s has no property %s", tc.res, tc.prop)
			continue
		}
		if want := LookupType(tc.typ); p.Type != want || want == nil {
			t.Errorf("%s.%s: type %q/%q, want %s", tc.res, tc.prop, p.Type.Name, p.Type.Base, tc.typ)
		}
		if p.Kind != tc.kind || p.Required != tc.required || p.Operations != tc.ops {
			t.Errorf("%s.%s: kind %d required %q ops %q, want %d %q %q", tc.res, tc.prop, p.Kind, p.Required, p.Operations, tc.kind, tc.required, tc.ops)
		}
	}

	// Every resource carries the common properties, last and in this order.
	common := []string{"id_perms", "perms2", "annotations", "display_name"}
	for _, r := range All() {
		if len(r.Props) < len(common) {
			t.Errorf("%s: only %d properties", r.Name, len(r.Props))
			continue
		}
		tail := r.Props[len(r.Props)-len(common):]
		for i, n := range common {
			if tail[i].Name != n {
				t.Errorf("%s: property %d from the end is %s, want %s", r.Name, len(common)-i, tail[i].Name, n)
			}
		}
		if len(r.Props) != len(r.propIndex) {
			t.Errorf("%s: duplicate property names", r.Name)
		}
	}
}

func TestListAndMapProperties(t *testing.T) {
	vmi := mustLookup(t, "virtual-machine-interface")
	p := vmi.Prop("virtual_machine_interface_fat_flow_protocols")
	lf := p.ListField()
	if lf == nil || lf.Name != "fat_flow_protocol" || !lf.List || lf.Type != LookupType("ProtocolType") {
		t.Fatalf("ListField of %s = %+v", p.Name, lf)
	}
	m := vmi.Prop("virtual_machine_interface_bindings")
	if m.MapKey != "key" {
		t.Errorf("MapKey = %q, want key", m.MapKey)
	}
	if lf := m.ListField(); lf == nil || lf.Name != "key_value_pair" || lf.Type.Field(m.MapKey) == nil {
		t.Errorf("ListField of %s = %+v", m.Name, lf)
	}
	if vmi.Prop("virtual_machine_interface_mac_addresses").ListField() != nil {
		t.Error("ListField of a plain property is not nil")
	}
	// Every list/map property has a list field, and map keys exist.
	for _, r := range All() {
		for _, p := range r.Props {
			if p.Kind == PropPlain {
				continue
			}
			lf := p.ListField()
			if lf == nil {
				t.Errorf("%s.%s: no list field", r.Name, p.Name)
				continue
			}
			if p.Kind == PropMap && lf.Type.Field(p.MapKey) == nil {
				t.Errorf("%s.%s: map key %q not in %s", r.Name, p.Name, p.MapKey, lf.Type.Name)
			}
		}
	}
}

func hasLink(links []*Link, name, from, to string) *Link {
	for _, l := range links {
		if (name == "" || l.Name == name) && l.From == from && l.To == to {
			return l
		}
	}
	return nil
}

func TestLinks(t *testing.T) {
	vn := mustLookup(t, "virtual-network")
	l := vn.RefField("network_ipam_refs")
	if l == nil || l.To != "network-ipam" || !l.Ref || l.Has || l.Attr != LookupType("VnSubnetsType") {
		t.Fatalf("virtual-network network_ipam_refs = %+v", l)
	}
	if l := vn.RefField("network_policy_refs"); l == nil || l.Attr != LookupType("VirtualNetworkPolicyType") {
		t.Errorf("virtual-network network_policy_refs = %+v", l)
	}
	if l := vn.RefField("route_table_refs"); l == nil || l.Attr != nil {
		t.Errorf("virtual-network route_table_refs = %+v", l)
	}
	if vn.RefField("no_such_refs") != nil {
		t.Error("RefField(no_such_refs) != nil")
	}
	if len(vn.Parents) != 1 || vn.Parents[0].From != "project" {
		t.Errorf("virtual-network parents = %v", linkEnds(vn.Parents))
	}
	if hasLink(mustLookup(t, "network-ipam").BackRefs, "virtual-network-network-ipam", "virtual-network", "network-ipam") == nil {
		t.Error("network-ipam has no back-ref from virtual-network")
	}

	project := mustLookup(t, "project")
	for _, c := range []string{"virtual-network", "network-ipam", "security-group", "network-policy", "virtual-machine-interface"} {
		if hasLink(project.Children, "", "project", c) == nil {
			t.Errorf("project has no child %s", c)
		}
		if hasLink(mustLookup(t, c).Parents, "", "project", c) == nil {
			t.Errorf("%s has no parent project", c)
		}
	}
	if hasLink(mustLookup(t, "domain").Children, "domain-project", "domain", "project") == nil {
		t.Error("domain has no child project")
	}

	iip := mustLookup(t, "instance-ip")
	if l := iip.RefField("virtual_network_refs"); l == nil || l.From != "instance-ip" || l.To != "virtual-network" {
		t.Errorf("instance-ip virtual_network_refs = %+v", l)
	}
	if len(iip.Parents) != 0 {
		t.Errorf("instance-ip parents = %v, want none", linkEnds(iip.Parents))
	}

	bgp := mustLookup(t, "bgp-router")
	if hasLink(bgp.Parents, "instance-bgp-router", "routing-instance", "bgp-router") == nil {
		t.Errorf("bgp-router parents = %v", linkEnds(bgp.Parents))
	}
	// The IDL statement lacks a comma: 'optional' 'CRUD'. The generator splits it.
	if l := hasLink(bgp.Parents, "instance-bgp-router", "routing-instance", "bgp-router"); l != nil && (l.Required != "optional" || l.Operations != "CRUD") {
		t.Errorf("instance-bgp-router required %q ops %q", l.Required, l.Operations)
	}
	gsc := mustLookup(t, "global-system-config")
	if len(gsc.Parents) != 1 || gsc.Parents[0].From != "config-root" {
		t.Errorf("global-system-config parents = %v", linkEnds(gsc.Parents))
	}
	if hasLink(mustLookup(t, "config-root").Children, "", "config-root", "global-system-config") == nil {
		t.Error("config-root has no child global-system-config")
	}

	// Derived parent link, and bgp: prefixes stripped from identifiers.
	if l := hasLink(vn.Children, "virtual-network-routing-instance", "virtual-network", "routing-instance"); l == nil || !l.Derived {
		t.Errorf("virtual-network routing-instance child = %+v", l)
	}
	ri := mustLookup(t, "routing-instance")
	if l := ri.RefField("routing_instance_refs"); l == nil || l.Attr != LookupType("ConnectionType") {
		t.Errorf("routing-instance routing_instance_refs = %+v", l)
	}
	if l := ri.RefField("route_target_refs"); l == nil || l.Attr != LookupType("InstanceTargetType") {
		t.Errorf("routing-instance route_target_refs = %+v", l)
	}

	// object-tag is declared from 'all': every resource refs tags.
	tag := mustLookup(t, "tag")
	for _, r := range All() {
		if l := r.RefField("tag_refs"); l == nil || l.Name != "object-tag" {
			t.Errorf("%s has no object-tag ref", r.Name)
		}
		if hasLink(tag.BackRefs, "object-tag", r.Name, "tag") == nil {
			t.Errorf("tag has no back-ref from %s", r.Name)
		}
	}
	// Excluded from the frontend: no customer-attachment -> virtual-machine-interface refs.
	if mustLookup(t, "customer-attachment").RefField("virtual_machine_interface_refs") != nil {
		t.Error("customer-attachment has refs excluded from the frontend")
	}
}

// TestLinkConsistency checks the reverse links and indexes the generated
// init builds.
func TestLinkConsistency(t *testing.T) {
	for _, r := range All() {
		for _, l := range r.Children {
			if !l.Has || l.Ref || l.From != r.Name {
				t.Errorf("%s child link %+v", r.Name, l)
			}
			if hasLink(mustLookup(t, l.To).Parents, l.Name, l.From, l.To) != l {
				t.Errorf("%s: child %s has no matching parent link", r.Name, l.To)
			}
		}
		for _, l := range r.Refs {
			if !l.Ref || l.Has || l.From != r.Name {
				t.Errorf("%s ref link %+v", r.Name, l)
			}
			if r.RefField(RefsField(l.To)) != l {
				t.Errorf("%s: RefField(%s) does not return its link", r.Name, RefsField(l.To))
			}
			if hasLink(mustLookup(t, l.To).BackRefs, l.Name, l.From, l.To) != l {
				t.Errorf("%s: ref to %s has no matching back-ref", r.Name, l.To)
			}
		}
		for _, l := range r.Parents {
			if l.To != r.Name {
				t.Errorf("%s parent link %+v", r.Name, l)
			}
		}
		for _, l := range r.BackRefs {
			if l.To != r.Name {
				t.Errorf("%s back-ref link %+v", r.Name, l)
			}
		}
		if len(r.refIndex) != len(r.Refs) {
			t.Errorf("%s: %d refs but %d ref fields", r.Name, len(r.Refs), len(r.refIndex))
		}
		for _, p := range r.Props {
			if p.Type == nil {
				t.Errorf("%s.%s has no type", r.Name, p.Name)
			}
		}
	}
	for _, ty := range typeList {
		for _, f := range ty.Fields {
			if f.Type == nil || ty.Field(f.Name) != f {
				t.Errorf("%s.%s: bad field", ty.Name, f.Name)
			}
			if f.Enforce && (!f.Required || f.Default != "") {
				t.Errorf("%s.%s: enforced without being required or with a default", ty.Name, f.Name)
			}
		}
	}
}

func linkEnds(ls []*Link) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.From+"->"+l.To)
	}
	return out
}

func TestTypes(t *testing.T) {
	tests := []struct {
		name           string
		kind           Kind
		hasMin, hasMax bool
		min, max       int64
		unsigned       bool
		enum           int
	}{
		{"L4PortType", KindInteger, true, true, -1, 65535, false, 0},
		{"AccessType", KindInteger, true, true, 0, 7, false, 0},
		{"xsd:unsignedLong", KindInteger, true, false, 0, 0, true, 0},
		{"xsd:integer", KindInteger, false, false, 0, 0, false, 0},
		{"ForwardingModeType", KindString, false, false, 0, 0, false, 3},
		{"IpAddressType", KindString, false, false, 0, 0, false, 0},
		{"U32BitHexInt", KindAny, false, false, 0, 0, false, 0},
		{"xsd:dateTime", KindDateTime, false, false, 0, 0, false, 0},
		{"VnSubnetsType", KindComplex, false, false, 0, 0, false, 0},
	}
	for _, tc := range tests {
		ty := LookupType(tc.name)
		if ty == nil {
			t.Errorf("no type %s", tc.name)
			continue
		}
		if ty.Kind != tc.kind || ty.HasMin != tc.hasMin || ty.HasMax != tc.hasMax || ty.Min != tc.min || ty.Max != tc.max || ty.Unsigned != tc.unsigned || len(ty.Enum) != tc.enum {
			t.Errorf("%s = %+v", tc.name, ty)
		}
	}
	uuid := LookupType("UuidType")
	if f := uuid.Field("uuid_mslong"); f == nil || f.Type != LookupType("xsd:unsignedLong") {
		t.Errorf("UuidType.uuid_mslong = %+v", f)
	}
	port := LookupType("PortType")
	if f := port.Field("start_port"); f == nil || !f.Required || f.Enforce || f.Default != "0" {
		t.Errorf("PortType.start_port = %+v (required with default: not enforced)", f)
	}
	if f := LookupType("IpamSubnetType").Field("addr_from_start"); f == nil {
		t.Error("IpamSubnetType.addr_from_start missing (element name has '_')")
	}
}
