// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"strconv"
	"strings"
)

// Framing constants: a frame is frameOpen + 10 decimal digits + `">`,
// the header, the message, then frameClose. The length counts the whole
// frame, both tags included.
const (
	frameOpen     = `<sandesh length="`
	frameClose    = `</sandesh>`
	lengthDigits  = 10
	frameOpenLen  = len(frameOpen) + lengthDigits + 2 // 29
	minFrameBytes = frameOpenLen + len(frameClose)
)

// AppendFrame appends the frame of one message (header, then the message
// element called name with its fields) to dst and returns the result.
func AppendFrame(dst []byte, h *Header, name string, fields []Field) []byte {
	start := len(dst)
	dst = append(dst, frameOpen...)
	dst = append(dst, "0000000000\">"...)
	dst = AppendHeader(dst, h)
	dst = AppendMessage(dst, name, fields)
	dst = append(dst, frameClose...)
	n := len(dst) - start
	// Patch the 10 zero-padded digits of the length.
	p := start + len(frameOpen) + lengthDigits - 1
	for i := 0; i < lengthDigits; i++ {
		dst[p-i] = byte('0' + n%10)
		n /= 10
	}
	return dst
}

// AppendHeader appends the XML of h.
func AppendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, "<SandeshHeader>"...)
	dst = appendStringField(dst, "Namespace", 1, h.Namespace)
	dst = appendIntField(dst, "Timestamp", "i64", 2, h.Timestamp)
	dst = appendStringField(dst, "Module", 3, h.Module)
	dst = appendStringField(dst, "Source", 4, h.Source)
	dst = appendStringField(dst, "Context", 5, h.Context)
	dst = appendIntField(dst, "SequenceNum", "i32", 6, int64(h.SequenceNum))
	dst = appendIntField(dst, "VersionSig", "i32", 7, int64(h.VersionSig))
	dst = appendIntField(dst, "Type", "i32", 8, int64(h.Type))
	dst = appendIntField(dst, "Hints", "i32", 9, int64(h.Hints))
	dst = appendIntField(dst, "Level", "i32", 10, int64(h.Level))
	dst = appendStringField(dst, "Category", 11, h.Category)
	dst = appendStringField(dst, "NodeType", 12, h.NodeType)
	dst = appendStringField(dst, "InstanceId", 13, h.InstanceID)
	if h.IPAddress != "" {
		dst = appendStringField(dst, "IPAddress", 14, h.IPAddress)
	}
	if h.Pid != 0 {
		dst = appendIntField(dst, "Pid", "i32", 15, int64(h.Pid))
	}
	return append(dst, "</SandeshHeader>"...)
}

func appendStringField(dst []byte, name string, id int, v string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, ` type="string" identifier="`...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, `">`...)
	dst = AppendEscaped(dst, v)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

func appendIntField(dst []byte, name, typ string, id int, v int64) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, ` type="`...)
	dst = append(dst, typ...)
	dst = append(dst, `" identifier="`...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, `">`...)
	dst = strconv.AppendInt(dst, v, 10)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// AppendMessage appends the message element: <name type="sandesh">
// followed by the fields and the closing tag.
func AppendMessage(dst []byte, name string, fields []Field) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, ` type="sandesh">`...)
	for i := range fields {
		dst = AppendField(dst, &fields[i])
	}
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// AppendField appends one field element with its annotations.
func AppendField(dst []byte, f *Field) []byte {
	dst = append(dst, '<')
	dst = append(dst, f.Name...)
	dst = append(dst, ` type="`...)
	dst = append(dst, f.Type.String()...)
	dst = append(dst, `" identifier="`...)
	dst = strconv.AppendInt(dst, int64(f.ID), 10)
	dst = append(dst, '"')
	for _, a := range f.Attrs {
		dst = append(dst, ' ')
		dst = append(dst, a.Name...)
		dst = append(dst, `="`...)
		dst = appendEscaped(dst, a.Value, true)
		dst = append(dst, '"')
	}
	dst = append(dst, '>')
	dst = appendContent(dst, &f.Value)
	dst = append(dst, "</"...)
	dst = append(dst, f.Name...)
	return append(dst, '>')
}

// appendContent writes what goes between a field's tags.
func appendContent(dst []byte, v *Value) []byte {
	switch v.Type {
	case TStruct:
		return appendStruct(dst, v.Struct)
	case TList, TSet:
		tag := "list"
		if v.Type == TSet {
			tag = "set"
		}
		l := v.List
		if l == nil {
			l = &List{Elem: TString}
		}
		dst = append(dst, '<')
		dst = append(dst, tag...)
		dst = append(dst, ` type="`...)
		dst = append(dst, l.Elem.String()...)
		dst = append(dst, `" size="`...)
		dst = strconv.AppendInt(dst, int64(len(l.Items)), 10)
		dst = append(dst, `">`...)
		for i := range l.Items {
			dst = appendElement(dst, &l.Items[i])
		}
		dst = append(dst, "</"...)
		dst = append(dst, tag...)
		return append(dst, '>')
	case TMap:
		m := v.Map
		if m == nil {
			m = &Map{Key: TString, Elem: TString}
		}
		dst = append(dst, `<map key="`...)
		dst = append(dst, m.Key.String()...)
		dst = append(dst, `" value="`...)
		dst = append(dst, m.Elem.String()...)
		dst = append(dst, `" size="`...)
		dst = strconv.AppendInt(dst, int64(len(m.Entries)), 10)
		dst = append(dst, `">`...)
		for i := range m.Entries {
			dst = appendElement(dst, &m.Entries[i].Key)
			dst = appendElement(dst, &m.Entries[i].Value)
		}
		return append(dst, "</map>"...)
	case TXML:
		return appendCDATA(dst, v.Str)
	}
	return appendScalar(dst, v)
}

// appendElement writes one member of a list, set or map: structs as
// their own element, scalars inside <element>.
func appendElement(dst []byte, v *Value) []byte {
	switch v.Type {
	case TStruct:
		return appendStruct(dst, v.Struct)
	case TList, TSet, TMap:
		dst = append(dst, "<element>"...)
		dst = appendContent(dst, v)
		return append(dst, "</element>"...)
	}
	dst = append(dst, "<element>"...)
	if v.Type == TXML {
		dst = appendCDATA(dst, v.Str)
	} else {
		dst = appendScalar(dst, v)
	}
	return append(dst, "</element>"...)
}

func appendStruct(dst []byte, s *Struct) []byte {
	name := "struct"
	if s != nil && s.Name != "" {
		name = s.Name
	}
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	if s != nil {
		for i := range s.Fields {
			dst = AppendField(dst, &s.Fields[i])
		}
	}
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

func appendScalar(dst []byte, v *Value) []byte {
	switch {
	case v.Type.isText():
		return AppendEscaped(dst, v.Str)
	case v.Type == TBool:
		if v.Int != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case v.Type.isSigned():
		return strconv.AppendInt(dst, v.Int, 10)
	case v.Type.isUnsigned():
		return strconv.AppendUint(dst, v.Uint, 10)
	case v.Type == TDouble:
		return strconv.AppendFloat(dst, v.Float, 'g', -1, 64)
	}
	return dst
}

func appendCDATA(dst []byte, s string) []byte {
	// A "]]>" inside the text ends the section; split it across two.
	dst = append(dst, "<![CDATA["...)
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			break
		}
		dst = append(dst, s[:i+2]...)
		dst = append(dst, "]]><![CDATA["...)
		s = s[i+2:]
	}
	dst = append(dst, s...)
	return append(dst, "]]>"...)
}

// AppendEscaped appends s as element text the way the original's XML
// protocol writes it: &, <, > and ' escaped, a double quote left as it is.
func AppendEscaped(dst []byte, s string) []byte { return appendEscaped(dst, s, false) }

// appendEscaped escapes s for element text, or for a double-quoted
// attribute value when attr is set (the double quote escaped too).
func appendEscaped(dst []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}
