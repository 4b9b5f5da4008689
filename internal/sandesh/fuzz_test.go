// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"bytes"
	"math"
	"reflect"
	"testing"
)

func FuzzParseFrame(f *testing.F) {
	h := sampleHeader()
	f.Add(AppendFrame(nil, &h, "NodeStatusUVE", sampleFields()))
	f.Add(AppendFrame(nil, &h, "Log", []Field{F("text", 1, String("a&b"))}))
	f.Add([]byte(`<sandesh length="0000000040"><SandeshHeader/><M/></sandesh>`))
	f.Add(AppendFrame(nil, &h, "Stat", []Field{F("ratio", 1, Double(math.NaN())), F("inf", 2, Double(math.Inf(1)))}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Through the stream reader, with a limit, and directly.
		r := NewReader(bytes.NewReader(b), 1<<16)
		for i := 0; i < 4; i++ {
			m, err := r.ReadMessage()
			if err != nil {
				break
			}
			_, _ = m.Fields()
		}
		m, err := ParseFrame(string(b))
		if err != nil {
			return
		}
		fields, err := m.Fields()
		if err != nil {
			return
		}
		// Round trip: what decoded must encode and decode to the same.
		out := AppendFrame(nil, &m.Header, m.Name, fields)
		m2, err := ParseFrame(string(out))
		if err != nil {
			t.Fatalf("re-encoded frame does not parse: %v\n%s", err, out)
		}
		fields2, err := m2.Fields()
		if err != nil {
			t.Fatalf("re-encoded fields do not parse: %v\n%s", err, out)
		}
		if m2.Header != m.Header || !reflect.DeepEqual(normalize(fields2), normalize(fields)) {
			t.Fatalf("round trip differs:\n%#v\n%#v", fields, fields2)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(`<M type="sandesh"><a type="list" identifier="1"><list type="struct" size="1"><S><x type="i32" identifier="1">1</x></S></list></a></M>`)
	f.Add(`<M type="sandesh"><a type="map" identifier="1"><map key="string" value="u64" size="1"><element>k</element><element>2</element></map></a></M>`)
	f.Fuzz(func(t *testing.T, s string) {
		_, err := DecodeMessage(s)
		verr := ValidateMessage(s)
		// What decodes is well-formed: the cheap check never refuses it.
		if err == nil && verr != nil {
			t.Fatalf("decodes but does not validate: %v\n%q", verr, s)
		}
	})
}

// normalize makes empty and nil slices compare equal.
func normalize(fs []Field) []Field {
	for i := range fs {
		if len(fs[i].Attrs) == 0 {
			fs[i].Attrs = nil
		}
		normValue(&fs[i].Value)
	}
	if len(fs) == 0 {
		return nil
	}
	return fs
}

func normValue(v *Value) {
	if v.Float != v.Float { // NaN never equals itself
		v.Float = 0
	}
	if v.Struct != nil {
		v.Struct.Fields = normalize(v.Struct.Fields)
	}
	if v.List != nil {
		if len(v.List.Items) == 0 {
			v.List.Items = nil
		}
		for i := range v.List.Items {
			normValue(&v.List.Items[i])
		}
	}
	if v.Map != nil {
		if len(v.Map.Entries) == 0 {
			v.Map.Entries = nil
		}
		for i := range v.Map.Entries {
			normValue(&v.Map.Entries[i].Key)
			normValue(&v.Map.Entries[i].Value)
		}
	}
}
