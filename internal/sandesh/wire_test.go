// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"reflect"
	"testing"
)

// The original's XML protocol (TXMLProtocol, C++ and Python alike), as its
// own encode/decode tests pin it down: the message element carries
// type="sandesh"; every field is <name type=".." identifier="N"> with its
// annotations as further attributes in IDL order; text escapes &, <, >
// and ' but leaves " alone; xml fields are one CDATA section; ipv4 is the
// address as an unsigned number (kept here as its text); a struct field wraps an element named
// after the struct type; a list is <list type=".." size="N"> with scalars
// in <element> and structs as their own elements, and an empty list is
// an open/close pair, not a self-closed tag. The message below exercises
// each rule; the expected text is built by hand from those rules.
func TestWireFormatOfTheOriginal(t *testing.T) {
	inner := func(name string, n int16) Value {
		return StructValue("HostRoute",
			F("prefix", 1, String(name)),
			F("weight", 2, Value{Type: TI16, Int: int64(n)}))
	}
	fields := []Field{
		F("up", 1, Bool(true)),
		F("hops", 2, Value{Type: TByte, Int: 100}),
		F("mtu", 3, Value{Type: TI16, Int: 1450}),
		F("vni", 4, I32(70001)),
		F("bytes", 5, I64(9876543210)),
		F("ratio", 6, Double(0.625)),
		F("note", 7, String(`say "hi" & don't <stop>`)),
		F("port", 8, U16(65535)),
		F("slots", 9, U32(4294967295)),
		F("total", 10, U64(18446744073709551615)),
		F("raw", 11, Value{Type: TXML, Str: "<a>x]</a>]"}),
		F("addr", 12, Value{Type: TIPv4, Str: "167772161"}), // kept as the text it is on the wire
		F("id", 13, Value{Type: TUUID, Str: "0a0b0c0d-0000-4000-8000-000000000001"}),
		F("ip6", 14, Value{Type: TIPAddr, Str: "fd00::1"}),
		F("best", 15, inner("10.0.0.0/8", 3), Attr{Name: "key", Value: "ObjectVNTable"}),
		F("routes", 16, ListValue(TStruct, inner("a", 1), inner("b", 2))),
		F("names", 17, StringList("red", "blue")),
		F("none", 18, ListValue(TI32)),
		F("rate", 19, U32(5), Attr{Name: "format", Value: "%x"}),
	}
	want := `<PortReport type="sandesh">` +
		`<up type="bool" identifier="1">true</up>` +
		`<hops type="byte" identifier="2">100</hops>` +
		`<mtu type="i16" identifier="3">1450</mtu>` +
		`<vni type="i32" identifier="4">70001</vni>` +
		`<bytes type="i64" identifier="5">9876543210</bytes>` +
		`<ratio type="double" identifier="6">0.625</ratio>` +
		`<note type="string" identifier="7">say "hi" &amp; don&apos;t &lt;stop&gt;</note>` +
		`<port type="u16" identifier="8">65535</port>` +
		`<slots type="u32" identifier="9">4294967295</slots>` +
		`<total type="u64" identifier="10">18446744073709551615</total>` +
		`<raw type="xml" identifier="11"><![CDATA[<a>x]</a>]]]></raw>` +
		`<addr type="ipv4" identifier="12">167772161</addr>` +
		`<id type="uuid_t" identifier="13">0a0b0c0d-0000-4000-8000-000000000001</id>` +
		`<ip6 type="ipaddr" identifier="14">fd00::1</ip6>` +
		`<best type="struct" identifier="15" key="ObjectVNTable"><HostRoute>` +
		`<prefix type="string" identifier="1">10.0.0.0/8</prefix><weight type="i16" identifier="2">3</weight>` +
		`</HostRoute></best>` +
		`<routes type="list" identifier="16"><list type="struct" size="2">` +
		`<HostRoute><prefix type="string" identifier="1">a</prefix><weight type="i16" identifier="2">1</weight></HostRoute>` +
		`<HostRoute><prefix type="string" identifier="1">b</prefix><weight type="i16" identifier="2">2</weight></HostRoute>` +
		`</list></routes>` +
		`<names type="list" identifier="17"><list type="string" size="2"><element>red</element><element>blue</element></list></names>` +
		`<none type="list" identifier="18"><list type="i32" size="0"></list></none>` +
		`<rate type="u32" identifier="19" format="%x">5</rate>` +
		`</PortReport>`
	got := string(AppendMessage(nil, "PortReport", fields))
	if got != want {
		t.Fatalf("encoding differs from the original's\n got %s\nwant %s", got, want)
	}
	// And the original's text decodes back to the same fields.
	s, err := DecodeMessage(want)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "PortReport" {
		t.Fatalf("message name %q", s.Name)
	}
	if len(s.Fields) != len(fields) {
		t.Fatalf("decoded %d fields, want %d", len(s.Fields), len(fields))
	}
	for i := range fields {
		if !reflect.DeepEqual(s.Fields[i].Value, fields[i].Value) && !sameScalar(s.Fields[i].Value, fields[i].Value) {
			t.Errorf("field %s: decoded %+v, want %+v", fields[i].Name, s.Fields[i].Value, fields[i].Value)
		}
		if !reflect.DeepEqual(s.Fields[i].Attrs, fields[i].Attrs) {
			t.Errorf("field %s: annotations %v, want %v", fields[i].Name, s.Fields[i].Attrs, fields[i].Attrs)
		}
	}
}

// sameScalar compares two values by their encoding: a decoder may keep
// an empty list's items as nil where the built value has an empty slice.
func sameScalar(a, b Value) bool {
	return string(appendContent(nil, &a)) == string(appendContent(nil, &b))
}
