// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/contrail-go/contrail/internal/schema"
)

func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJSONToXMLMapping(t *testing.T) {
	props := decodeJSON(t, `{
		"id_perms": {"enable": true, "uuid": {"uuid_mslong": 7330381381287759171, "uuid_lslong": 13339871223965880614},
		             "description": null, "user_visible": false, "created": ""},
		"route_target_list": {"route_target": ["target:64512:1", "a<b&c"]},
		"annotations": {"key_value_pair": []},
		"display_name": "vn1",
		"is_shared": null,
		"ratio": 0.25,
		"odd": [{"x": 1}, null, {}]
	}`)
	got, err := AppendJSONPropsAsXML(nil, props)
	if err != nil {
		t.Fatal(err)
	}
	want := `<annotations/>` +
		`<display-name>vn1</display-name>` +
		`<id-perms><created/><enable>true</enable><user-visible>false</user-visible><uuid><uuid-lslong>13339871223965880614</uuid-lslong><uuid-mslong>7330381381287759171</uuid-mslong></uuid></id-perms>` +
		`<odd><x>1</x></odd><odd/><odd/>` +
		`<ratio>0.25</ratio>` +
		`<route-target-list><route-target>target:64512:1</route-target><route-target>a&lt;b&amp;c</route-target></route-target-list>`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	// Back without a shape: strings, objects, lists only where repeated.
	els, err := JSONToElements("x", props)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ElementsToJSON(els[0].Children, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBack := map[string]any{
		"annotations":  "",
		"display_name": "vn1",
		"id_perms": map[string]any{"created": "", "enable": "true", "user_visible": "false",
			"uuid": map[string]any{"uuid_lslong": "13339871223965880614", "uuid_mslong": "7330381381287759171"}},
		"odd":               []any{map[string]any{"x": "1"}, "", ""},
		"ratio":             "0.25",
		"route_target_list": map[string]any{"route_target": []any{"target:64512:1", "a<b&c"}},
	}
	if !reflect.DeepEqual(back, wantBack) {
		t.Fatalf("back:\n%#v", back)
	}
}

func TestJSONToXMLTypes(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{nil, ``},
		{"", `<a-b/>`},
		{int(-3), `<a-b>-3</a-b>`},
		{int32(4), `<a-b>4</a-b>`},
		{int64(5), `<a-b>5</a-b>`},
		{uint(6), `<a-b>6</a-b>`},
		{uint32(7), `<a-b>7</a-b>`},
		{uint64(math.MaxUint64), `<a-b>18446744073709551615</a-b>`},
		{float32(1.5), `<a-b>1.5</a-b>`},
		{float64(1e21), `<a-b>1000000000000000000000</a-b>`},
		{[]string{"x", ""}, `<a-b>x</a-b><a-b/>`},
		{[]map[string]any{{"c": "d"}}, `<a-b><c>d</c></a-b>`},
		{json.RawMessage(`{"c_d": [1, 2.5, true]}`), `<a-b><c-d>1</c-d><c-d>2.5</c-d><c-d>true</c-d></a-b>`},
		{map[string]any{}, `<a-b/>`},
		{[]any{}, ``},
		{"\x01\r\n", "<a-b>\uFFFD&#xD;\n</a-b>"},
	}
	for _, tt := range tests {
		got, err := AppendJSONAsXML(nil, "a_b", tt.v)
		if err != nil || string(got) != tt.want {
			t.Errorf("%#v: got %q %v, want %q", tt.v, got, err, tt.want)
		}
	}
	bad := []struct {
		name string
		v    any
	}{
		{"a_b", []any{[]any{1}}},
		{"a_b", []any{[]string{"x"}}},
		{"a_b", math.NaN()},
		{"a_b", math.Inf(1)},
		{"a_b", struct{}{}},
		{"a b", "x"},
		{"_a", "x"},
		{"1a", "x"},
		{"", "x"},
		{"a_b", map[string]any{"c d": 1}},
		{"a_b", json.RawMessage(`{`)},
	}
	for _, tt := range bad {
		if _, err := AppendJSONAsXML(nil, tt.name, tt.v); !errors.Is(err, ErrJSONValue) {
			t.Errorf("%q %#v: got %v", tt.name, tt.v, err)
		}
	}
	deep := any("x")
	for i := 0; i < MaxDepth; i++ {
		deep = map[string]any{"a": deep}
	}
	if _, err := AppendJSONAsXML(nil, "a", deep); !errors.Is(err, ErrJSONValue) {
		t.Errorf("deep value: %v", err)
	}
}

// schemaShape builds a Shape from the config schema for resource res: the
// way the agent gets the exact JSON the API stores.
func schemaShape(res *schema.Resource) Shape {
	return func(path []string) (ValueKind, bool) {
		p := res.Prop(path[0])
		if p == nil {
			return KindAuto, false
		}
		typ, list := p.Type, false
		for _, name := range path[1:] {
			f := typ.Field(name)
			if f == nil {
				return KindAuto, false
			}
			typ, list = f.Type, f.List
		}
		switch typ.Kind {
		case schema.KindString, schema.KindDateTime, schema.KindTime:
			return KindString, list
		case schema.KindInteger, schema.KindNumber:
			return KindNumber, list
		case schema.KindBoolean:
			return KindBool, list
		case schema.KindComplex:
			return KindObject, list
		}
		return KindAuto, list
	}
}

func TestACLFixtureToJSONAndBack(t *testing.T) {
	c := configPayload(t, aclPayload(t))
	res := schema.Lookup("access-control-list")
	shape := schemaShape(res)
	for _, o := range c.Blocks[0].Objects {
		props, err := o.Node.PropsJSON(shape)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range props {
			if err := res.Prop(name).Validate(v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		idp := props["id_perms"].(map[string]any)
		if idp["enable"] != true || idp["uuid"].(map[string]any)["uuid_lslong"] == nil {
			t.Fatalf("id_perms %#v", idp)
		}
		rules := props["access_control_list_entries"].(map[string]any)["acl_rule"].([]any)
		mc := rules[0].(map[string]any)["match_condition"].(map[string]any)
		if _, ok := mc["src_port"].(map[string]any)["start_port"].(json.Number); !ok {
			t.Fatalf("start_port %#v", mc["src_port"])
		}
		if _, ok := mc["protocol"].(string); !ok {
			t.Fatalf("protocol %#v", mc["protocol"])
		}
		// Back to XML and to JSON again: the same value.
		node, err := NewConfigNodeJSON(o.Node.Type, o.Node.Name, props)
		if err != nil {
			t.Fatal(err)
		}
		var cfg Config
		wire := (&Config{IQHeader: IQHeader{From: ControlNodeJID, To: "h/config"}, Blocks: []ConfigBlock{{Objects: []ConfigObject{{Node: node}}}}}).Marshal()
		if err := cfg.Unmarshal(mustParse(t, string(wire))); err != nil {
			t.Fatal(err)
		}
		again, err := cfg.Blocks[0].Objects[0].Node.PropsJSON(shape)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, props) {
			t.Fatalf("JSON round trip:\n%#v\n%#v", props, again)
		}
	}
}

// A virtual network as the API stores it survives JSON -> XML -> JSON with
// a schema Shape, except that empty lists come back absent.
func TestStoredObjectRoundTrip(t *testing.T) {
	stored := `{
		"virtual_network_properties": {"forwarding_mode": "l2_l3", "vxlan_network_identifier": 5001, "allow_transit": false, "rpf": "enable"},
		"route_target_list": {"route_target": ["target:64512:1"]},
		"id_perms": {"enable": true, "uuid": {"uuid_mslong": 1, "uuid_lslong": 2}, "created": "2026-01-01T00:00:00.000000",
		             "permissions": {"owner": "cloud-admin", "owner_access": 7, "group": "cloud-admin-group", "group_access": 7, "other_access": 7}},
		"perms2": {"owner": "admin", "owner_access": 7, "global_access": 0, "share": [{"tenant": "t1", "tenant_access": 5}]},
		"annotations": {"key_value_pair": [{"key": "a", "value": "b"}]},
		"virtual_network_network_id": 5,
		"port_security_enabled": true,
		"display_name": "vn1",
		"network_ipam_refs": null
	}`
	props := decodeJSON(t, stored)
	raw := map[string]any{}
	for k, v := range props {
		b, _ := json.Marshal(v)
		raw[k] = json.RawMessage(b) // as model.Object.Props holds them
	}
	node, err := NewConfigNodeJSON("virtual-network", "default-domain:p:vn1", raw)
	if err != nil {
		t.Fatal(err)
	}
	wire := (&Config{Blocks: []ConfigBlock{{Objects: []ConfigObject{{Node: node}}}}}).Marshal()
	var cfg Config
	if err := cfg.Unmarshal(mustParse(t, string(wire))); err != nil {
		t.Fatal(err)
	}
	res := schema.Lookup("virtual-network")
	got, err := cfg.Blocks[0].Objects[0].Node.PropsJSON(schemaShape(res))
	if err != nil {
		t.Fatal(err)
	}
	delete(props, "network_ipam_refs")
	if !reflect.DeepEqual(got, props) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(props)
		t.Fatalf("got\n%s\nwant\n%s", a, b)
	}
	for name, v := range got {
		if err := res.Prop(name).Validate(v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if !bytes.Contains(wire, []byte("<route-target-list><route-target>target:64512:1</route-target></route-target-list>")) {
		t.Fatalf("wire %s", wire)
	}
}

func TestElementsToJSONErrors(t *testing.T) {
	shape := func(path []string) (ValueKind, bool) {
		switch path[len(path)-1] {
		case "n":
			return KindNumber, false
		case "b":
			return KindBool, false
		case "s":
			return KindString, false
		case "o":
			return KindObject, true
		}
		return KindAuto, false
	}
	ok := mustParse(t, `<x><n> 12 </n><b>1</b><s> t </s><o/><e><n/><b/></e></x>`)
	got, err := ElementsToJSON(ok.Children, shape)
	want := map[string]any{"n": json.Number("12"), "b": true, "s": " t ", "o": []any{map[string]any{}},
		"e": map[string]any{"n": nil, "b": nil}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v %v", got, err)
	}
	for _, in := range []string{`<x><n>1x</n></x>`, `<x><n>"1"</n></x>`, `<x><n>01</n></x>`, `<x><n>true</n></x>`, `<x><b>yes</b></x>`, `<x><s><c/></s></x>`, `<x><n><c/></n></x>`, `<x><e><n>z</n></e></x>`} {
		_, err := ElementsToJSON(mustParse(t, in).Children, shape)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: got %v", in, err)
		}
	}
}
