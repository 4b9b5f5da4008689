// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A small schema with the quirks of the real one: an include, text outside
// comments, attributes XSD does not know, several statements per comment,
// 'all' statements, Exclude, missing arguments and two ref links to the same
// target.
var synthetic = map[string]string{
	"all_cfg.xsd": `<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">
<xsd:include schemaLocation='types.xsd'/>
<xsd:element name="config-root" type="ifmap:IdentityType"/>
<xsd:element name="parent-a" type="ifmap:IdentityType"/>
<xsd:element name="child-b" type="ifmap:IdentityType"/>
<xsd:element name="target-c" type="ifmap:IdentityType"/>
<xsd:element name="config-root-parent-a"/>
<!--#IFMAP-SEMANTICS-IDL
     Link('config-root-parent-a', 'config-root', 'parent-a', ['has'], 'optional', 'CRUD',
          'top level, "quoted", with commas'); Link('parent-a-child-b', 'parent-a', 'child-b', ['has', 'derived'], 'system-only' 'CRUD', 'missing comma') -->
<xsd:element name="parent-a-child-b"/>
<xsd:element name="b-c-one" type="RefAttr"/>
<!--#IFMAP-SEMANTICS-IDL Link('b-c-one', 'child-b', 'target-c', ['ref'], 'optional', 'CRUD', 'first') -->
<xsd:element name="b-c-two"/>
<!--#IFMAP-SEMANTICS-IDL Link('b-c-two', 'child-b', 'target-c', ['ref'], 'optional', 'CRUD', 'second') -->
<xsd:element name="b-c-hidden"/>
<!--#IFMAP-SEMANTICS-IDL Exclude('b-c-hidden', ['backend', 'frontend']);
     Link('b-c-hidden', 'child-b', 'parent-a', ['ref'], 'optional', 'CRUD', 'excluded') -->
<xsd:element name="common-prop" type="xsd:string"/>
<!--#IFMAP-SEMANTICS-IDL Property('common-prop', 'all', 'optional', 'CRUD', 'on every resource') -->
<xsd:element name="child-b-size" type="SizeType" default="3"/>
<!--#IFMAP-SEMANTICS-IDL Property('child-b-size', 'child-b', 'required', 'CRUD', 'it\'s a size') -->
<xsd:element name="child-b-list" type="ListWrap"/>
<!--#IFMAP-SEMANTICS-IDL ListProperty('child-b-list', 'child-b', 'optional', 'CRUD', description='list') -->
<xsd:element name="child-b-map" type="ListWrap"/>
<!--#IFMAP-SEMANTICS-IDL MapProperty('child-b-map', 'child-b', 'key', 'optional', 'CRUD', ['a', 'b']) -->
<xsd:element name="child-b-bare" type="xsd:unsignedLong"/>
<!--#IFMAP-SEMANTICS-IDL Property('child-b-bare', 'child-b') -->
</xsd:schema>
`,
	"types.xsd": `<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">
# CEM-1: a line outside any comment
<xsd:simpleType name="SizeType">
    <xsd:restriction base="xsd:integer" required='true'>
        <xsd:minInclusive value="1"/>
        <xsd:maxInclusive value="9"/>
    </xsd:restriction>
</xsd:simpleType>
<xsd:simpleType name="ColorType">
    <xsd:restriction base="xsd:string">
        <xsd:enumeration value="red"/>
        <xsd:enumeration value="&lt;blue&gt;"/>
    </xsd:restriction>
</xsd:simpleType>
<xsd:complexType name="Item">
    <xsd:all>
        <xsd:element name="key" type="xsd:string" required='true'/>
        <xsd:element name="color" type="ColorType" required='true' default='red'/>
        <!--#IFMAP-SEMANTICS-IDL Property('color', 'color', 'optional', 'R', 'not a resource') -->
    </xsd:all>
</xsd:complexType>
<xsd:complexType name="ListWrap">
    <xsd:element name="item" type="Item" maxOccurs="unbounded"/>
</xsd:complexType>
<xsd:complexType name="RefAttr">
    <xsd:sequence>
        <xsd:element name="weight" type="xsd:unsignedLong"/>
        <xsd:element name="self" type="RefAttr"/>
    </xsd:sequence>
</xsd:complexType>
</xsd:schema>
`,
}

func TestSyntheticSchema(t *testing.T) {
	dir := t.TempDir()
	for name, body := range synthetic {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, m, err := generate(dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if len(m.resList) != 4 {
		t.Fatalf("%d resources", len(m.resList))
	}
	b := m.resources["child-b"]
	// b-c-two is dropped (same target as b-c-one), b-c-hidden is excluded.
	var refNames []string
	for _, l := range b.refs {
		refNames = append(refNames, l.name)
	}
	if strings.Join(refNames, ",") != "b-c-one" || b.refs[0].attr != m.types["RefAttr"] {
		t.Errorf("child-b refs = %v, want [b-c-one]", refNames)
	}
	if len(b.parents) != 1 || !b.parents[0].derived || b.parents[0].required != "system-only" || b.parents[0].ops != "CRUD" {
		t.Errorf("child-b parents = %+v", b.parents)
	}
	var props []string
	for _, p := range b.props {
		props = append(props, p.name+":"+p.kind+":"+p.required+":"+p.ops)
	}
	want := "child_b_size:PropPlain:required:CRUD child_b_list:PropList:optional:CRUD child_b_map:PropMap:optional:CRUD child_b_bare:PropPlain:optional:CRUD common_prop:PropPlain:optional:CRUD"
	if strings.Join(props, " ") != want {
		t.Errorf("child-b props:\n got %s\nwant %s", strings.Join(props, " "), want)
	}
	if p := b.props[0]; p.def != "3" || !p.typ.hasMin || p.typ.min != 1 || p.typ.max != 9 {
		t.Errorf("child_b_size = %+v, type %+v", p, p.typ)
	}
	if b.props[2].mapKey != "key" {
		t.Errorf("map key = %q", b.props[2].mapKey)
	}
	for _, r := range m.resList {
		if r.props[len(r.props)-1].name != "common_prop" {
			t.Errorf("%s lacks the common property", r.name)
		}
	}
	if !m.resources["config-root"].root {
		t.Error("config-root not marked root")
	}
	item := m.types["Item"]
	if !item.fields[0].enforce || item.fields[1].enforce {
		t.Errorf("Item enforcement: key %v color %v, want true false", item.fields[0].enforce, item.fields[1].enforce)
	}
	if e := m.types["ColorType"].enum; len(e) != 2 || e[1] != "<blue>" {
		t.Errorf("ColorType enum = %q", e)
	}
	notes := strings.Join(m.notes.list, "\n")
	for _, w := range []string{
		"share the JSON field target_c_refs; keeping the first declared (b-c-one)",
		`Exclude("b-c-hidden"`,
		`"color" is not a resource type`,
		"adjacent literals",
		`Property("child-b-bare", "child-b"): no required/operations arguments`,
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	for _, w := range []string{"rChildB = &Resource{", `Plural: "child-bs"`, "tRefAttr.Fields", "DO NOT EDIT."} {
		if !strings.Contains(string(src), w) {
			t.Errorf("generated source lacks %q", w)
		}
	}
}
