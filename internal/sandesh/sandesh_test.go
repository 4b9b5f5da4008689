// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func sampleHeader() Header {
	return Header{
		Timestamp: 1700000000123456, Module: "contrail-control", Source: "cn1",
		SequenceNum: 7, Type: TypeUVE, Level: LevelUVE, Category: "", NodeType: "Control",
		InstanceID: "0", IPAddress: "10.0.0.1", Pid: 1234,
	}
}

func sampleFields() []Field {
	return []Field{
		F("data", 1, StructValue("NodeStatus",
			F("name", 1, String("cn1"), Attr{"key", "ObjectBgpRouter"}),
			F("deleted", 2, Bool(false)),
			F("process_status", 4, ListValue(TStruct,
				StructValue("ProcessStatus",
					F("module_id", 1, String("contrail-control")),
					F("state", 3, String("Functional <ok> & \"fine\"")),
					F("connection_infos", 4, ListValue(TStruct, StructValue("ConnectionInfo",
						F("type", 1, String("Collector")),
						F("server_addrs", 3, StringList("127.0.0.1:8086", "10.0.0.2:8086")),
					))),
				)), Attr{"aggtype", "union"}),
			F("disk_usage_info", 6, MapValue(TString, TStruct, MapEntry{String("/dev/sda1"),
				StructValue("DiskPartitionUsageStats", F("partition_type", 1, String("ext4")),
					F("partition_space_used_1k", 3, U64(1<<40)), F("percentage_partition_space_used", 5, U16(42)))}),
				Attr{"tags", ""}),
			F("counts", 20, MapValue(TString, TU64, MapEntry{String("a"), U64(1)}, MapEntry{String("b"), U64(2)})),
			F("neg", 21, I32(-5)),
			F("big", 22, I64(-1<<62)),
			F("ratio", 23, Double(0.25)),
			F("b", 24, Value{Type: TByte, Int: -3}),
			F("x", 25, Value{Type: TXML, Str: "<a>]]>b</a>"}),
			F("set", 26, Value{Type: TSet, List: &List{Elem: TI32, Items: []Value{I32(1), I32(2)}}}),
			F("nested", 27, ListValue(TList, ListValue(TString, String("x")))),
		)),
	}
}

func TestRoundTrip(t *testing.T) {
	h := sampleHeader()
	fields := sampleFields()
	frame := AppendFrame(nil, &h, "NodeStatusUVE", fields)
	if !bytes.HasPrefix(frame, []byte(`<sandesh length="`)) || !bytes.HasSuffix(frame, []byte("</sandesh>")) {
		t.Fatalf("bad framing: %.60s", frame)
	}
	if got := string(frame[17:27]); got != strings.Repeat("0", 10-len(itoa(len(frame))))+itoa(len(frame)) {
		t.Fatalf("length field %s, frame is %d bytes", got, len(frame))
	}
	m, err := ParseFrame(string(frame))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header != h {
		t.Fatalf("header\n got %+v\nwant %+v", m.Header, h)
	}
	if m.Name != "NodeStatusUVE" || !strings.HasPrefix(m.XML, `<NodeStatusUVE type="sandesh">`) || !strings.HasSuffix(m.XML, "</NodeStatusUVE>") {
		t.Fatalf("message %q xml %.80s", m.Name, m.XML)
	}
	got, err := m.Fields()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, fields) {
		t.Fatalf("fields differ:\n got %#v\nwant %#v", got, fields)
	}
	// The wire form of a field with annotations.
	if !strings.Contains(string(frame), `<process_status type="list" identifier="4" aggtype="union"><list type="struct" size="1"><ProcessStatus>`) {
		t.Fatalf("unexpected list encoding: %s", frame)
	}
	if !strings.Contains(string(frame), `<name type="string" identifier="1" key="ObjectBgpRouter">cn1</name>`) {
		t.Fatalf("unexpected key encoding: %s", frame)
	}
	if !strings.Contains(string(frame), `<map key="string" value="u64" size="2"><element>a</element><element>1</element>`) {
		t.Fatalf("unexpected map encoding: %s", frame)
	}
}

func itoa(n int) string {
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestReaderStream(t *testing.T) {
	var buf bytes.Buffer
	h := sampleHeader()
	for i := 0; i < 3; i++ {
		h.SequenceNum = int32(i)
		buf.Write(AppendFrame(nil, &h, "Log", []Field{F("text", 1, String("hello"))}))
	}
	r := NewReader(&buf, 0)
	for i := 0; i < 3; i++ {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.SequenceNum != int32(i) {
			t.Fatalf("seq %d want %d", m.Header.SequenceNum, i)
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("want io.EOF at end, got %v", err)
	}
}

func TestReaderErrors(t *testing.T) {
	h := sampleHeader()
	good := AppendFrame(nil, &h, "Log", []Field{F("text", 1, String("hello"))})
	big := AppendFrame(nil, &h, "Log", []Field{F("text", 1, String(strings.Repeat("x", 5000)))})
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"truncated body", good[:len(good)-5], 0, io.ErrUnexpectedEOF},
		{"truncated header", good[:10], 0, ErrBadFrame},
		{"garbage", []byte(strings.Repeat("hello world ", 10)), 0, ErrBadFrame},
		{"non-decimal length", append([]byte(`<sandesh length="00000x0100">`), good[29:]...), 0, ErrBadFrame},
		{"too large", big, 1000, ErrFrameTooLarge},
		{"bad close", append(append([]byte{}, good[:len(good)-2]...), 'X', '>'), 0, ErrBadFrame},
		{"length too small", append([]byte(`<sandesh length="0000000005">`), good[29:]...), 0, ErrBadFrame},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.in), tc.max).ReadMessage()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	bad := []string{
		`<M type="sandesh"><a type="i32" identifier="1">x</a></M>`,
		`<M type="sandesh"><a type="nosuch" identifier="1">x</a></M>`,
		`<M type="sandesh"><a identifier="1">x</a></M>`,
		`<M type="sandesh"><a type="string" identifier="1">x</b></M>`,
		`<M type="sandesh"><a type="string" identifier="1">&bogus;</a></M>`,
		`<M type="sandesh"><a type="list" identifier="1"><list type="i32" size="1"><element>1</element></M>`,
		`<M type="sandesh"><a type="map" identifier="1"><map key="string" value="i32" size="1"><element>k</element></map></a></M>`,
		`<M type="sandesh"><a type="u32" identifier="1">-1</a></M>`,
		`<M type="sandesh"><a type="struct" identifier="1"></a></M>`,
		`<M type="sandesh"></M>trailing`,
		`<M type="sandesh"><a type="string" identifier="1" x=1>v</a></M>`,
		`<M type="sandesh"><a type="string" identifier="99999">v</a></M>`,
		strings.Repeat(`<a type="struct" identifier="1"><S>`, 100),
	}
	for _, in := range bad {
		if _, err := DecodeMessage(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("%.60s: got %v, want ErrSyntax", in, err)
		}
	}
	deep := `<M type="sandesh">` + strings.Repeat(`<a type="struct" identifier="1"><S>`, MaxDepth+2)
	if _, err := DecodeMessage(deep); err == nil || !strings.Contains(err.Error(), "deep") && !errors.Is(err, ErrSyntax) {
		t.Fatalf("deep nesting: %v", err)
	}
}

func TestDecodeTolerant(t *testing.T) {
	// Whitespace between elements, single quotes, self-closed empty
	// strings, numeric references and CDATA are all accepted.
	in := "<M type='sandesh'>\n  <a type='string' identifier='1'/>\n  <b type=\"string\" identifier=\"2\">x&#65;&#x42;<![CDATA[<c>]]>d</b>\n" +
		"<file type=\"string\" identifier=\"-32768\">f.cc</file></M>"
	s, err := DecodeMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Field("a").Str != "" || s.Field("b").Str != "xAB<c>d" || s.Field("file").ID != -32768 {
		t.Fatalf("got %+v", s.Fields)
	}
}

func TestCtrlRoundTrip(t *testing.T) {
	c := &CtrlClientToServer{Source: "h", ModuleName: "contrail-api", SuccessfulConnections: 2,
		UVETypes: []string{"NodeStatus"}, Pid: 9, NodeType: "Config", InstanceID: "0"}
	h := CtrlHeader("h", "contrail-api", "Config", "0", 1)
	m, err := ParseFrame(string(AppendFrame(nil, &h, CtrlClientToServerName, c.Fields())))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := m.Fields()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCtrlClientToServer(fs)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v %v", got, err)
	}
	s := &CtrlServerToClient{TypeInfo: []UVETypeInfo{{"NodeStatus", 3}}, Success: true}
	m, _ = ParseFrame(string(AppendFrame(nil, &h, CtrlServerToClientName, s.Fields())))
	fs, _ = m.Fields()
	if got := ParseCtrlServerToClient(fs); !reflect.DeepEqual(got, s) {
		t.Fatalf("got %+v", got)
	}
}

type testConn struct {
	Type   string   `sandesh:"type"`
	Name   string   `sandesh:"name"`
	Addrs  []string `sandesh:"server_addrs,id=3"`
	Status string   `sandesh:"status,id=4"`
	Desc   *string  `sandesh:"description,id=5"`
}

type testStatus struct {
	Module string     `sandesh:"module_id"`
	Conns  []testConn `sandesh:"connection_infos,id=4,aggtype=union"`
	Skip   int        `sandesh:"-"`
	Empty  string     `sandesh:"empty,omitempty"`
}

func TestToFields(t *testing.T) {
	fs, err := ToFields(testStatus{Module: "m", Conns: []testConn{{Type: "XMPP", Addrs: []string{"a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[1].Name != "connection_infos" || fs[1].ID != 4 || fs[1].List.Elem != TStruct {
		t.Fatalf("got %+v", fs)
	}
	if v, _ := fs[1].Attr("aggtype"); v != "union" {
		t.Fatal("aggtype annotation lost")
	}
	c := fs[1].List.Items[0].Struct
	if c.Name != "testConn" || c.Field("server_addrs").ID != 3 || c.Field("description") != nil {
		t.Fatalf("got %+v", c)
	}
	fs, err = ToFields(map[string]any{"b": 1, "a": "x", "c": []string{"p"}, "d": map[string]uint64{"k": 2}})
	if err != nil {
		t.Fatal(err)
	}
	if fs[0].Name != "a" || fs[1].Type != TI64 || fs[2].List.Elem != TString || fs[3].Map.Elem != TU64 {
		t.Fatalf("got %+v", fs)
	}
}

func TestValidateMessage(t *testing.T) {
	h := sampleHeader()
	m, err := ParseFrame(string(AppendFrame(nil, &h, "NodeStatusUVE", sampleFields())))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateMessage(m.XML); err != nil {
		t.Fatalf("valid message refused: %v", err)
	}
	for _, bad := range []string{
		`<M type="sandesh"><a>x</b></M>`,
		`<M type="sandesh"><a>&nope;</a></M>`,
		`<M type="sandesh"><a x=1>x</a></M>`,
		`<M type="sandesh"><a>x</a>`,
		`<M type="sandesh"></M><N/>`,
		`<M type="sandesh"><![CDATA[x</M>`,
	} {
		if err := ValidateMessage(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: got %v", bad, err)
		}
	}
}
