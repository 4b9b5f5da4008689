// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

// fuzzSeeds are stanzas and streams for the fuzzers' seed corpora: every
// message type, the fixtures and a full sample stream.
func fuzzSeeds(tb testing.TB) [][]byte {
	stream, _ := sampleStream()
	rp := &RoutePublish{From: "host1", Seq: 1, VRF: "blue", Entry: sampleUnicast()}
	ep := &RoutePublish{From: "host1", Seq: 2, VRF: "blue", Entry: sampleEVPN(), Withdraw: true}
	eorP, eorC := EndOfRibIQs("h", 3)
	seeds := [][]byte{
		[]byte(stream),
		NewSubscribe("host1", "s1", "blue", 1).Marshal(),
		(&Subscribe{IQHeader: IQHeader{From: "h", To: "t"}, Node: "n", Options: &SubscribeOptions{NoRibOut: true}}).Marshal(),
		NewConfigSubscribe("host1", "c", VirtualMachineNode("u")).Marshal(),
		NewUnsubscribe("host1", "u1", "blue").Marshal(),
		rp.Marshal(),
		ep.Marshal(),
		eorP.Marshal(),
		eorC.Marshal(),
		(&Update{From: ControlNodeJID, To: "h/bgp-peer", Node: "1/1/blue", Items: []Item{{ID: "10.1.1.1/32", Entry: sampleUnicast()}}, Retracts: []string{"x"}}).Marshal(),
		(&Update{From: ControlNodeJID, To: "h/bgp-peer", Node: "25/242/blue", Items: []Item{{ID: "m,ip", Entry: sampleEVPN()}}}).Marshal(),
		NewEndOfRib("h").Marshal(),
		sampleConfig().Marshal(),
		[]byte(`<iq type="set" xmlns="jabber:client"><pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="1/241/v/x"><item><entry><nlri><af>1</af><safi>241</safi></nlri></entry></item></publish></pubsub></iq>`),
		[]byte(`<iq xmlns:z="urn:z"><config><update><node type="t"><name>n</name><p z:a="1"><z:q/><r xmlns=""/></p></node></update></config></iq>`),
		[]byte(`<message xmlns="jabber:client"><event xmlns="http://jabber.org/protocol/pubsub"><items node="1/5/v"><item id="i"><entry><nlri xmlns="urn:n"/></entry></item></items></event></message>`),
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// chunkedReader feeds data in chunks whose sizes cycle through sizes.
type chunkedReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errors.New("eof")
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)])%64 + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzReader feeds arbitrary bytes, in arbitrary chunks, to a Reader with a
// small limit. It must not panic, must keep its buffer within the limit,
// allocate in proportion to its input, and every element it returns must
// re-encode to an equal element.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, []byte{0})
		f.Add(s, []byte{3, 60, 7})
	}
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		const limit = 2048
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc

		r := NewReader(&chunkedReader{data: data, sizes: sizes}, limit)
		for i := 0; i <= len(data)+1; i++ {
			fr, err := r.Next()
			if len(r.buf) > limit+readChunk {
				t.Fatalf("buffer %d > limit", len(r.buf))
			}
			if err != nil {
				var de *DecodeError
				if errors.As(err, &de) && !de.Fatal {
					if len(fr.Raw) == 0 {
						t.Fatal("non-fatal error without Raw")
					}
					continue
				}
				if _, err2 := r.Next(); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
				break
			}
			if fr.Elem != nil {
				checkElementRoundTrip(t, fr.Elem)
				checkStanzaRoundTrip(t, fr.Elem)
			}
		}

		runtime.ReadMemStats(&ms)
		// Generous: encoding/xml allocates several times the stanza size,
		// and the round-trip checks above allocate too.
		if used, bound := ms.TotalAlloc-before, uint64(200*(len(data)+limit)+(1<<20)); used > bound {
			t.Fatalf("allocated %d bytes for %d bytes of input", used, len(data))
		}
	})
}

func checkElementRoundTrip(t *testing.T, el *Element) {
	t.Helper()
	b := el.Marshal()
	again, err := ParseElement(b)
	if err != nil {
		t.Fatalf("re-encoded element does not parse: %v\n%s", err, b)
	}
	if !elemEqual(el, again) {
		t.Fatalf("element round trip differs:\n%s\n%s", b, again.Marshal())
	}
}

// checkStanzaRoundTrip decodes el as a typed stanza; if that works, encodes
// it, decodes again and compares.
func checkStanzaRoundTrip(t *testing.T, el *Element) {
	t.Helper()
	first, err := decodeStanza(el)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || de.Fatal {
			t.Fatalf("decode error %T %v", err, err)
		}
		return
	}
	b := first.AppendMarshal(nil)
	el2, err := ParseElement(b)
	if err != nil {
		t.Fatalf("encoding of %T does not parse: %v\n%s", first, err, b)
	}
	second, err := decodeStanza(el2)
	if err != nil {
		t.Fatalf("encoding of %T does not decode: %v\n%s", first, err, b)
	}
	if h, ok := iqHeader(first); ok && h.Type == "" {
		h.Type = "set" // an iq without a type is written with type="set"
	}
	if !stanzaEqual(first, second) {
		t.Fatalf("round trip of %T differs:\n%s\n%s", first, el.Marshal(), b)
	}
	if b2 := second.AppendMarshal(nil); !bytes.Equal(b, b2) {
		t.Fatalf("encoding not stable:\n%s\n%s", b, b2)
	}
}

func decodeStanza(el *Element) (Stanza, error) {
	switch el.Name.Local {
	case "iq":
		return DecodeIQ(el)
	case "message":
		return DecodeMessage(el)
	case "features":
		return DecodeFeatures(el)
	}
	return el, nil
}

func stanzaEqual(a, b Stanza) bool {
	switch x := a.(type) {
	case *Element:
		y, ok := b.(*Element)
		return ok && elemEqual(x, y)
	case *Config:
		y, ok := b.(*Config)
		if !ok || x.IQHeader != y.IQHeader || len(x.Blocks) != len(y.Blocks) {
			return false
		}
		for i := range x.Blocks {
			bx, by := x.Blocks[i], y.Blocks[i]
			if bx.Delete != by.Delete || len(bx.Objects) != len(by.Objects) {
				return false
			}
			for j := range bx.Objects {
				ox, oy := bx.Objects[j], by.Objects[j]
				switch {
				case ox.Link != nil:
					if oy.Link == nil || *ox.Link != *oy.Link {
						return false
					}
				case oy.Node == nil || ox.Node.Type != oy.Node.Type || ox.Node.Name != oy.Node.Name || len(ox.Node.Props) != len(oy.Node.Props):
					return false
				default:
					for k := range ox.Node.Props {
						if !elemEqual(ox.Node.Props[k], oy.Node.Props[k]) {
							return false
						}
					}
				}
			}
		}
		return true
	}
	return reflect.DeepEqual(normalizeRaw(a), normalizeRaw(b))
}

// normalizeRaw replaces RawEntry elements by their encoding so that
// DeepEqual does not trip over nil versus empty attribute slices.
func normalizeRaw(s Stanza) Stanza {
	fix := func(items []Item) []Item {
		out := make([]Item, len(items))
		for i, it := range items {
			if r, ok := it.Entry.(*RawEntry); ok {
				it.Entry = &RawEntry{Family: r.Family, Elem: NewElement(string(r.Elem.Marshal()), "")}
			}
			out[i] = it
		}
		return out
	}
	switch x := s.(type) {
	case *Publish:
		c := *x
		c.Items = fix(x.Items)
		return &c
	case *Update:
		c := *x
		c.Items = fix(x.Items)
		return &c
	}
	return s
}

// FuzzDecodeEntry decodes arbitrary bytes as an <entry> of a family picked
// by the first byte; whatever decodes must survive encode and decode.
func FuzzDecodeEntry(f *testing.F) {
	fams := []Family{{}, FamilyInet, FamilyInet6, FamilyInetLabeled, FamilyEVPN, FamilyErmVPN}
	f.Add(byte(1), sampleUnicast().Marshal())
	f.Add(byte(4), sampleEVPN().Marshal())
	f.Add(byte(0), readFixture(f, "schema_testdata_bgp_l3vpn_unicast_1.xml"))
	f.Add(byte(5), []byte(`<entry><nlri><af>1</af><safi>241</safi><group>224.0.0.1</group></nlri><olist><next-hop><label>1-2</label></next-hop></olist></entry>`))
	f.Add(byte(0), []byte(`<entry><nlri><af>25</af><safi>242</safi></nlri><olist><next-hop/></olist><etree-leaf>1</etree-leaf></entry>`))
	f.Fuzz(func(t *testing.T, famIdx byte, data []byte) {
		fam := fams[int(famIdx)%len(fams)]
		el, err := ParseElement(data)
		if err != nil {
			return
		}
		e, err := DecodeEntry(fam, el)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		b := e.AppendMarshal(nil)
		el2, err := ParseElement(b)
		if err != nil {
			t.Fatalf("encoding does not parse: %v\n%s", err, b)
		}
		e2, err := DecodeEntry(fam, el2)
		if err != nil {
			t.Fatalf("encoding does not decode: %v\n%s", err, b)
		}
		if r, ok := e.(*RawEntry); ok {
			r2, ok := e2.(*RawEntry)
			if !ok || r.Family != r2.Family || !elemEqual(r.Elem, r2.Elem) {
				t.Fatalf("raw entry differs:\n%s\n%s", b, e2.AppendMarshal(nil))
			}
			return
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("entry round trip differs:\n%#v\n%#v\n%s", e, e2, b)
		}
	})
}

// FuzzRoundTrip parses arbitrary bytes as one stanza and checks the
// decode -> encode -> decode round trip of the element and of its typed form.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := ParseElement(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		checkElementRoundTrip(t, el)
		checkStanzaRoundTrip(t, el)
	})
}

// FuzzJSONXML checks that XML properties -> JSON -> XML -> JSON is stable
// (without a Shape).
func FuzzJSONXML(f *testing.F) {
	f.Add(aclPayload(f))
	f.Add(sampleConfig().Marshal())
	f.Add([]byte(`<x><a-b>1</a-b><a_b>2</a_b><c><d/><d>x</d></c></x>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := ParseElement(data)
		if err != nil {
			return
		}
		first, err := ElementsToJSON(el.Children, nil)
		if err != nil {
			t.Fatalf("no-shape conversion failed: %v", err)
		}
		b, err := AppendJSONPropsAsXML(nil, first)
		if err != nil {
			if !errors.Is(err, ErrJSONValue) {
				t.Fatalf("error %v", err)
			}
			return // e.g. a name that is not a plain XML name
		}
		els, err := JSONToElements("x", map[string]any(first))
		if err != nil {
			t.Fatalf("JSONToElements: %v", err)
		}
		var second map[string]any
		if len(els) == 1 {
			if second, err = ElementsToJSON(els[0].Children, nil); err != nil {
				t.Fatal(err)
			}
		}
		if len(first) == 0 && len(second) == 0 {
			return
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("JSON round trip differs:\n%#v\n%#v\n%s", first, second, b)
		}
	})
}
