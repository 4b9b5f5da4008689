// SPDX-License-Identifier: Apache-2.0

package xmpp

import "strconv"

// Entry is the <entry> of a route item, in a publish IQ (agent to control
// node) or an update message (control node to agent). The element carries no
// namespace on the wire: the namespaces of the XSDs are for code generation
// only.
//
// Encoding writes the XSD's elements in schema order and leaves out those
// whose value is the zero value (0, "", false, empty list): the original's
// generated parsers read an absent element as its zero value, so the two are
// the same to every receiver. The exceptions are nlri af/safi/address and
// next-hop af/address, which are always written. Decoding ignores elements
// it does not know (newer releases add some, e.g. <peers> in EVPN entries),
// takes the last of repeated single elements, reads an empty numeric or
// boolean element as zero, and accepts surrounding whitespace. Defaults the
// XSD declares (sub-protocol "interface", load-balance-decision
// "field-hash") are not filled in: the codec carries what is on the wire.
type Entry interface {
	// EntryFamily returns the AF/SAFI of the entry's NLRI.
	EntryFamily() Family
	// AppendMarshal appends the <entry> element to b.
	AppendMarshal(b []byte) []byte
}

// RawEntry is an entry of a family this package has no type for (ErmVPN
// 1/241, MVPN 1/5). It keeps the element as received.
type RawEntry struct {
	Family Family
	Elem   *Element
}

// EntryFamily implements Entry.
func (e *RawEntry) EntryFamily() Family { return e.Family }

// AppendMarshal implements Entry.
func (e *RawEntry) AppendMarshal(b []byte) []byte { return e.Elem.AppendMarshal(b) }

// DecodeEntry decodes an <entry> element of family fam: unicast families
// (1/1, 2/1, 1/4) give *UnicastEntry, 25/242 gives *EVPNEntry, others
// *RawEntry. A zero fam is taken from the entry's <nlri> af and safi (an
// nlri with af 1 or 2 and no safi is unicast, as in old fixtures).
func DecodeEntry(fam Family, el *Element) (Entry, error) {
	if el.Name.Local != "entry" {
		return nil, errAt(el.Name.Local, "expected entry", "")
	}
	if fam == (Family{}) {
		var err error
		if fam, err = nlriFamily(el); err != nil {
			return nil, within("entry", err)
		}
	}
	switch {
	case fam.Unicast():
		e := &UnicastEntry{}
		if err := e.Unmarshal(el); err != nil {
			return nil, err
		}
		return e, nil
	case fam == FamilyEVPN:
		e := &EVPNEntry{}
		if err := e.Unmarshal(el); err != nil {
			return nil, err
		}
		return e, nil
	}
	return &RawEntry{Family: fam, Elem: el}, nil
}

func nlriFamily(el *Element) (Family, error) {
	var f Family
	nlri := el.Child("nlri")
	if nlri == nil {
		return f, errAt("nlri", "missing", "")
	}
	for _, c := range nlri.Children {
		var err error
		switch c.Name.Local {
		case "af":
			f.AF, err = parseU16(c)
		case "safi":
			f.SAFI, err = parseU8(c)
		}
		if err != nil {
			return f, within("nlri", err)
		}
	}
	if f.SAFI == 0 && (f.AF == AFIPv4 || f.AF == AFIPv6) {
		f.SAFI = SAFIUnicast
	}
	return f, nil
}

// Mobility is the <mobility> element: the MAC-mobility sequence number and
// sticky bit, carried as attributes.
type Mobility struct {
	Seqno  uint32
	Sticky bool
}

func (m Mobility) appendTo(b []byte) []byte {
	if m == (Mobility{}) {
		return b
	}
	b = append(b, `<mobility seqno="`...)
	b = strconv.AppendUint(b, uint64(m.Seqno), 10)
	b = append(b, `" sticky="`...)
	b = strconv.AppendBool(b, m.Sticky)
	return append(b, `"/>`...)
}

func (m *Mobility) unmarshal(el *Element) error {
	*m = Mobility{}
	for _, a := range el.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "seqno":
			v, err := parseUint(a.Value, 32)
			if err != nil {
				return errAttr("mobility", "seqno", "invalid integer", a.Value)
			}
			m.Seqno = uint32(v)
		case "sticky":
			v, ok := parseBool(a.Value)
			if !ok {
				return errAttr("mobility", "sticky", "invalid boolean", a.Value)
			}
			m.Sticky = v
		}
	}
	return nil
}

// Text helpers. Values are trimmed of XML whitespace; an empty value is
// zero, as pugixml's as_uint/as_bool read it.

func parseUint(s string, bits int) (uint64, error) {
	s = trimSpace(s)
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, bits)
}

func parseBool(s string) (bool, bool) {
	switch trimSpace(s) {
	case "true", "1":
		return true, true
	case "false", "0", "":
		return false, true
	}
	return false, false
}

func parseU32(el *Element) (uint32, error) {
	v, err := parseUint(el.Text, 32)
	if err != nil {
		return 0, numError(el, err)
	}
	return uint32(v), nil
}

func parseU16(el *Element) (uint16, error) {
	v, err := parseUint(el.Text, 16)
	if err != nil {
		return 0, numError(el, err)
	}
	return uint16(v), nil
}

func parseU8(el *Element) (uint8, error) {
	v, err := parseUint(el.Text, 8)
	if err != nil {
		return 0, numError(el, err)
	}
	return uint8(v), nil
}

func parseElemBool(el *Element) (bool, error) {
	v, ok := parseBool(el.Text)
	if !ok {
		return false, errAt(el.Name.Local, "invalid boolean", el.Text)
	}
	return v, nil
}

func numError(el *Element, err error) error {
	reason := "invalid integer"
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		reason = "integer out of range"
	}
	return errAt(el.Name.Local, reason, el.Text)
}

// Append helpers for <name>value</name>.

func appendTextElem(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendText(b, text)
	b = append(b, '<', '/')
	b = append(b, name...)
	return append(b, '>')
}

func appendUintElem(b []byte, name string, v uint64) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = strconv.AppendUint(b, v, 10)
	b = append(b, '<', '/')
	b = append(b, name...)
	return append(b, '>')
}

func appendOptText(b []byte, name, text string) []byte {
	if text == "" {
		return b
	}
	return appendTextElem(b, name, text)
}

func appendOptUint(b []byte, name string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendUintElem(b, name, v)
}

func appendOptBool(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	return appendTextElem(b, name, "true")
}

// appendUintList writes <list><item>v</item>...</list> when vs is not empty.
func appendUintList(b []byte, list, item string, vs []uint32) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, '<')
	b = append(b, list...)
	b = append(b, '>')
	for _, v := range vs {
		b = appendUintElem(b, item, uint64(v))
	}
	b = append(b, '<', '/')
	b = append(b, list...)
	return append(b, '>')
}

// appendStringList writes <list><item>s</item>...</list> when ss is not empty.
func appendStringList(b []byte, list, item string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, '<')
	b = append(b, list...)
	b = append(b, '>')
	for _, s := range ss {
		b = appendTextElem(b, item, s)
	}
	b = append(b, '<', '/')
	b = append(b, list...)
	return append(b, '>')
}

// decodeUintList appends the values of list's children named item.
func decodeUintList(list *Element, item string, dst []uint32) ([]uint32, error) {
	for _, c := range list.Children {
		if c.Name.Local != item {
			continue
		}
		v, err := parseU32(c)
		if err != nil {
			return dst, within(list.Name.Local, err)
		}
		dst = append(dst, v)
	}
	return dst, nil
}

// decodeStringList appends the texts of list's children named item.
func decodeStringList(list *Element, item string, dst []string) []string {
	for _, c := range list.Children {
		if c.Name.Local == item {
			dst = append(dst, c.Text)
		}
	}
	return dst
}
