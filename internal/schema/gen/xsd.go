// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// node is one element or comment of an XSD file. The schema files are small,
// so they are read into this minimal tree first and walked afterwards; that
// keeps comments (which carry the IDL statements) in document order with the
// declarations around them.
type node struct {
	name    string // local element name; "" for a comment
	attrs   map[string]string
	kids    []*node
	comment string
	file    string
	line    int
}

func (n *node) attr(k string) string { return n.attrs[k] }

func (n *node) hasAttr(k string) bool {
	_, ok := n.attrs[k]
	return ok
}

// readXML parses one file into a node tree. Namespace prefixes are ignored:
// the XSD element names we care about are unique by their local part, and
// several files use prefixes they never declare.
func readXML(path, display string) (*node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	root := &node{name: "#document", file: display}
	stack := []*node{root}
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: %w", display, err)
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, attrs: make(map[string]string, len(t.Attr)), file: display, line: line}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				n.attrs[a.Name.Local] = a.Value
			}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 1 {
				return nil, fmt.Errorf("%s:%d: unbalanced end element %s", display, line, t.Name.Local)
			}
			stack = stack[:len(stack)-1]
		case xml.Comment:
			top.kids = append(top.kids, &node{comment: string(t), file: display, line: line})
		}
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("%s: unclosed element %s", display, stack[len(stack)-1].name)
	}
	return root, nil
}

// simpleDef is an xsd:simpleType.
type simpleDef struct {
	name     string
	base     string   // restriction base as written, e.g. "xsd:integer"
	enums    []string // enumeration values
	min, max string   // minInclusive / maxInclusive values, "" when absent
	union    []string // memberTypes of an xsd:union
	pattern  bool     // has an xsd:pattern facet (not enforced)
	file     string
	line     int
}

// fieldDef is an xsd:element inside an xsd:complexType.
type fieldDef struct {
	name      string
	typ       string // as written; "" when the attribute is missing
	hasType   bool
	maxOccurs string
	required  string
	def       string
	line      int
}

// complexDef is an xsd:complexType.
type complexDef struct {
	name   string
	fields []fieldDef
	file   string
	line   int
}

// elemDef is a top-level xsd:element: a resource (type ifmap:IdentityType),
// a property, or a link with an optional attribute type.
type elemDef struct {
	name    string
	typ     string
	hasType bool
	def     string
	file    string
	line    int
	order   int
}

// xsdSet is everything read from the include closure of the root file.
type xsdSet struct {
	files    []string // in the order they were read
	simple   map[string]*simpleDef
	complex  map[string]*complexDef
	elems    map[string]*elemDef
	elemList []*elemDef
	stmts    []*stmt
	notes    *notes

	dir     string
	visited map[string]bool
	order   int
}

func loadSchema(dir, rootFile string, nt *notes) (*xsdSet, error) {
	s := &xsdSet{
		simple:  map[string]*simpleDef{},
		complex: map[string]*complexDef{},
		elems:   map[string]*elemDef{},
		notes:   nt,
		dir:     dir,
		visited: map[string]bool{},
	}
	if err := s.include(rootFile); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *xsdSet) include(name string) error {
	clean := filepath.ToSlash(filepath.Clean(name))
	if s.visited[clean] {
		return nil
	}
	s.visited[clean] = true
	s.files = append(s.files, clean)
	doc, err := readXML(filepath.Join(s.dir, filepath.FromSlash(clean)), clean)
	if err != nil {
		return err
	}
	for _, k := range doc.kids {
		switch k.name {
		case "":
			s.comment(k)
		case "schema":
			if err := s.walkSchema(k); err != nil {
				return err
			}
		default:
			s.notes.addf("%s:%d: unexpected root element <%s>", k.file, k.line, k.name)
		}
	}
	return nil
}

func (s *xsdSet) walkSchema(n *node) error {
	for _, k := range n.kids {
		switch k.name {
		case "":
			s.comment(k)
		case "include":
			loc := k.attr("schemaLocation")
			if loc == "" {
				s.notes.addf("%s:%d: xsd:include without schemaLocation", k.file, k.line)
				continue
			}
			if err := s.include(loc); err != nil {
				return err
			}
		case "element":
			s.topElement(k)
		case "simpleType":
			s.simpleType(k)
		case "complexType":
			s.complexType(k)
		default:
			s.scan(k)
		}
	}
	return nil
}

// scan looks for comments and named simple types below n.
func (s *xsdSet) scan(n *node) {
	for _, k := range n.kids {
		switch k.name {
		case "":
			s.comment(k)
		case "simpleType":
			if k.attr("name") != "" {
				s.simpleType(k)
				continue
			}
			s.scan(k)
		case "complexType":
			if k.attr("name") != "" {
				s.complexType(k)
				continue
			}
			s.scan(k)
		default:
			s.scan(k)
		}
	}
}

func (s *xsdSet) comment(n *node) {
	text := strings.TrimSpace(n.comment)
	if !strings.HasPrefix(text, idlPrefix) {
		return
	}
	stmts, err := parseIDL(text[len(idlPrefix):])
	if err != nil {
		s.notes.addf("%s:%d: cannot parse IDL comment: %v", n.file, n.line, err)
	}
	for _, st := range stmts {
		st.file, st.line = n.file, n.line
		s.order++
		st.order = s.order
		s.stmts = append(s.stmts, st)
	}
}

func (s *xsdSet) topElement(n *node) {
	name := n.attr("name")
	if name == "" {
		s.notes.addf("%s:%d: top-level element without name", n.file, n.line)
		return
	}
	s.order++
	e := &elemDef{name: name, typ: n.attr("type"), hasType: n.hasAttr("type"), def: n.attr("default"), file: n.file, line: n.line, order: s.order}
	if old, ok := s.elems[name]; ok {
		// The original generator keeps elements in a dictionary, so the last
		// declaration wins; it is also the one next to the IDL statement.
		if old.typ != e.typ || old.def != e.def {
			s.notes.addf("%s:%d: element %q declared again with type %q (first at %s:%d with type %q); using the last declaration", n.file, n.line, name, e.typ, old.file, old.line, old.typ)
		}
		*old = *e
	} else {
		s.elems[name] = e
		s.elemList = append(s.elemList, e)
	}
	for _, k := range n.kids {
		if k.name == "complexType" || (k.name == "simpleType" && k.attr("name") == "") {
			s.notes.addf("%s:%d: anonymous type inside element %q is ignored", k.file, k.line, name)
		}
	}
	s.scan(n)
}

func (s *xsdSet) simpleType(n *node) {
	d := &simpleDef{name: n.attr("name"), file: n.file, line: n.line}
	var walk func(*node)
	walk = func(m *node) {
		for _, k := range m.kids {
			switch k.name {
			case "":
				s.comment(k)
			case "restriction":
				d.base = k.attr("base")
				walk(k)
			case "enumeration":
				d.enums = append(d.enums, k.attr("value"))
			case "minInclusive":
				d.min = k.attr("value")
			case "maxInclusive":
				d.max = k.attr("value")
			case "pattern":
				d.pattern = true
			case "union":
				d.union = strings.Fields(k.attr("memberTypes"))
				// Member simple types are anonymous; only note their presence.
				for _, mk := range k.kids {
					if mk.name == "simpleType" {
						d.union = append(d.union, "(anonymous)")
					}
				}
			case "annotation", "documentation":
				s.scan(k)
			case "minExclusive", "maxExclusive", "length", "minLength", "maxLength", "totalDigits", "fractionDigits", "whiteSpace":
				s.notes.addf("%s:%d: facet %s of simple type %q is not enforced", k.file, k.line, k.name, d.name)
			default:
				walk(k)
			}
		}
	}
	walk(n)
	if d.name == "" {
		return
	}
	if old, ok := s.simple[d.name]; ok {
		s.notes.addf("%s:%d: simple type %q redefined (first at %s:%d); keeping the first", n.file, n.line, d.name, old.file, old.line)
		return
	}
	if _, ok := s.complex[d.name]; ok {
		s.notes.addf("%s:%d: simple type %q has the name of a complex type; ignored", n.file, n.line, d.name)
		return
	}
	s.simple[d.name] = d
}

func (s *xsdSet) complexType(n *node) {
	c := &complexDef{name: n.attr("name"), file: n.file, line: n.line}
	var walk func(*node)
	walk = func(m *node) {
		for _, k := range m.kids {
			switch k.name {
			case "":
				s.comment(k)
			case "element":
				c.fields = append(c.fields, fieldDef{
					name:      k.attr("name"),
					typ:       k.attr("type"),
					hasType:   k.hasAttr("type"),
					maxOccurs: k.attr("maxOccurs"),
					required:  k.attr("required"),
					def:       k.attr("default"),
					line:      k.line,
				})
				s.scan(k)
			case "simpleType", "complexType":
				if k.attr("name") != "" {
					if k.name == "simpleType" {
						s.simpleType(k)
					} else {
						s.complexType(k)
					}
					continue
				}
				s.notes.addf("%s:%d: anonymous %s inside complex type %q is ignored", k.file, k.line, k.name, c.name)
			case "attributeGroup", "attribute", "annotation":
				s.scan(k)
			case "complexContent", "simpleContent", "extension":
				s.notes.addf("%s:%d: <%s> in complex type %q is not supported", k.file, k.line, k.name, c.name)
				walk(k)
			default: // all, sequence, choice
				walk(k)
			}
		}
	}
	walk(n)
	if c.name == "" {
		s.notes.addf("%s:%d: anonymous complex type ignored", n.file, n.line)
		return
	}
	if old, ok := s.complex[c.name]; ok {
		s.notes.addf("%s:%d: complex type %q redefined (first at %s:%d); keeping the first", n.file, n.line, c.name, old.file, old.line)
		return
	}
	s.complex[c.name] = c
}
