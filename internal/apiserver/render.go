// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/schema"
)

// view says what a rendered object shows.
type view struct {
	base            string          // "http://host:port" for hrefs
	fields          map[string]bool // nil: everything
	excludeBackRefs bool
	excludeChildren bool
	excludeHrefs    bool
}

func (v *view) want(f string) bool { return v.fields == nil || v.fields[f] }

func writeString(b *bytes.Buffer, s string) {
	// Fast path for the common case: nothing to escape.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			out, _ := json.Marshal(s)
			b.Write(out)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

func writeStrings(b *bytes.Buffer, ss []string) {
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, s)
	}
	b.WriteByte(']')
}

func (v *view) href(b *bytes.Buffer, typ, uuid string) {
	b.WriteByte('"')
	b.WriteString(v.base)
	b.WriteByte('/')
	b.WriteString(typ)
	b.WriteByte('/')
	b.WriteString(uuid)
	b.WriteByte('"')
}

// renderObject writes the body of one object (without the {"<type>": ...}
// envelope). Callers hold the cache read lock.
func (s *Server) renderObject(b *bytes.Buffer, n *node, v *view) {
	o := n.Obj
	b.WriteString(`{"uuid":`)
	writeString(b, o.UUID)
	b.WriteString(`,"name":`)
	writeString(b, o.Name())
	b.WriteString(`,"fq_name":`)
	writeStrings(b, o.FQName)
	if o.ParentType != "" {
		b.WriteString(`,"parent_type":`)
		writeString(b, o.ParentType)
		b.WriteString(`,"parent_uuid":`)
		writeString(b, o.ParentUUID)
		if !v.excludeHrefs {
			b.WriteString(`,"parent_href":`)
			v.href(b, o.ParentType, o.ParentUUID)
		}
	}
	if !v.excludeHrefs {
		b.WriteString(`,"href":`)
		v.href(b, o.Type, o.UUID)
	}
	s.renderFields(b, n, v)
	b.WriteByte('}')
}

// renderFields writes the properties, refs, back-refs and children of n
// that v wants, each preceded by a comma. Callers hold the cache read lock.
func (s *Server) renderFields(b *bytes.Buffer, n *node, v *view) {
	o := n.Obj
	props := make([]string, 0, len(o.Props))
	for k := range o.Props {
		if v.want(k) {
			props = append(props, k)
		}
	}
	sort.Strings(props)
	for _, k := range props {
		b.WriteString(`,"`)
		b.WriteString(k)
		b.WriteString(`":`)
		b.Write(o.Props[k])
	}
	refFields := make([]string, 0, len(o.Refs))
	for k := range o.Refs {
		if v.want(k) {
			refFields = append(refFields, k)
		}
	}
	sort.Strings(refFields)
	for _, k := range refFields {
		b.WriteString(`,"`)
		b.WriteString(k)
		b.WriteString(`":[`)
		to := ""
		if res := schema.Lookup(o.Type); res != nil {
			if l := res.RefField(k); l != nil {
				to = l.To
			}
		}
		for i, r := range o.Refs[k] {
			if i > 0 {
				b.WriteByte(',')
			}
			s.writeLink(b, v, to, r.UUID, r.To, r.Attr, true)
		}
		b.WriteByte(']')
	}
	if !v.excludeBackRefs && len(n.BackRefs) > 0 {
		s.renderGroups(b, v, n.BackRefs, schema.BackRefsField, func(from *model.Object) json.RawMessage {
			for _, list := range from.Refs {
				for _, r := range list {
					if r.UUID == o.UUID {
						if r.Attr == nil {
							return json.RawMessage("null")
						}
						return r.Attr
					}
				}
			}
			return json.RawMessage("null")
		})
	}
	if !v.excludeChildren && len(n.Children) > 0 {
		s.renderGroups(b, v, n.Children, schema.ChildrenField, nil)
	}
}

// renderGroups writes back-refs or children, grouped by type and sorted by uuid.
func (s *Server) renderGroups(b *bytes.Buffer, v *view, links map[string]string, field func(string) string, attr func(*model.Object) json.RawMessage) {
	byType := map[string][]string{}
	for u, t := range links {
		byType[t] = append(byType[t], u)
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		if v.want(field(t)) {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	for _, t := range types {
		uuids := byType[t]
		sort.Strings(uuids)
		b.WriteString(`,"`)
		b.WriteString(field(t))
		b.WriteString(`":[`)
		first := true
		for _, u := range uuids {
			ln := s.cache.Get(u)
			if ln == nil {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			var a json.RawMessage
			if attr != nil {
				a = attr(ln.Obj)
			}
			s.writeLink(b, v, t, u, ln.Obj.FQName, a, attr != nil)
		}
		b.WriteByte(']')
	}
}

func (s *Server) writeLink(b *bytes.Buffer, v *view, typ, uuid string, to []string, attr json.RawMessage, withAttr bool) {
	b.WriteString(`{"to":`)
	writeStrings(b, to)
	if !v.excludeHrefs && typ != "" {
		b.WriteString(`,"href":`)
		v.href(b, typ, uuid)
	}
	if withAttr {
		b.WriteString(`,"attr":`)
		if len(attr) == 0 {
			b.WriteString("null")
		} else {
			b.Write(attr)
		}
	}
	b.WriteString(`,"uuid":`)
	writeString(b, uuid)
	b.WriteByte('}')
}

// etag is the entity tag of a node's view.
func etag(n *node) string { return `"` + strconv.FormatInt(n.ViewRev, 10) + `"` }
