// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"sort"
	"testing"
)

// xsdType is a complexType of the route-entry XSDs: its elements (name to
// type) and attributes.
type xsdType struct {
	elems map[string]string
	attrs []string
}

func loadXSD(t *testing.T, name string) map[string]xsdType {
	t.Helper()
	root, err := ParseElement(readFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]xsdType{}
	for _, ct := range root.Children {
		if ct.Name.Local != "complexType" {
			continue
		}
		tn, _ := ct.AttrValue("name")
		xt := xsdType{elems: map[string]string{}}
		var walk func(*Element)
		walk = func(e *Element) {
			for _, c := range e.Children {
				switch c.Name.Local {
				case "element":
					n, _ := c.AttrValue("name")
					ty, _ := c.AttrValue("type")
					xt.elems[n] = ty
				case "attribute":
					n, _ := c.AttrValue("name")
					xt.attrs = append(xt.attrs, n)
				default:
					walk(c)
				}
			}
		}
		walk(ct)
		types[tn] = xt
	}
	return types
}

// checkAgainstXSD checks that el holds every element and attribute of XSD
// type typ, recursively, and nothing else.
func checkAgainstXSD(t *testing.T, types map[string]xsdType, typ string, el *Element, path string) {
	t.Helper()
	xt, ok := types[typ]
	if !ok {
		t.Fatalf("%s: type %s not in the XSD", path, typ)
	}
	for _, a := range xt.attrs {
		if _, ok := el.AttrValue(a); !ok {
			t.Errorf("%s: attribute %s not written", path, a)
		}
	}
	for name, ety := range xt.elems {
		c := el.Child(name)
		if c == nil {
			t.Errorf("%s: element %s not written", path, name)
			continue
		}
		if _, complex := types[ety]; complex {
			checkAgainstXSD(t, types, ety, c, path+"/"+name)
		}
	}
	for _, c := range el.Children {
		if _, ok := xt.elems[c.Name.Local]; !ok {
			t.Errorf("%s: element %s is not in type %s", path, c.Name.Local, typ)
		}
	}
}

// The encoders write every element and attribute of the entry types of
// xmpp_unicast.xsd and xmpp_enet.xsd (given a value that sets them all).
func TestEntriesCoverXSD(t *testing.T) {
	uni := loadXSD(t, "schema_xmpp_unicast.xsd")
	checkAgainstXSD(t, uni, "EntryType", mustParse(t, string(sampleUnicast().Marshal())), "entry")
	enet := loadXSD(t, "schema_xmpp_enet.xsd")
	checkAgainstXSD(t, enet, "EnetEntryType", mustParse(t, string(sampleEVPN().Marshal())), "entry")

	// And the XSDs still define what this package expects (guards against
	// a fixture swap).
	var got []string
	for n := range uni["EntryType"].elems {
		got = append(got, n)
	}
	sort.Strings(got)
	if len(got) != 12 {
		t.Fatalf("unicast EntryType elements: %v", got)
	}
	if len(enet["EnetEntryType"].elems) != 14 || len(enet["EnetAddressType"].elems) != 8 || len(enet["EnetNextHopType"].elems) != 8 {
		t.Fatalf("enet XSD changed: %v", enet)
	}
}
