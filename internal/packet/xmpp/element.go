// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Element is a generic XML element: what the Reader returns for every stanza
// and what typed decoders (Unmarshal methods, DecodeIQ, DecodeMessage) read.
// It is also the generic tree form of config-node properties.
//
// Name.Space is the namespace the element is in (as encoding/xml resolves
// it), or the bare prefix when the prefix is not declared inside the stanza
// ("stream" for <stream:features>, whose prefix is declared by the stream
// header). Decoders match on Name.Local only. When encoding, an element
// with an empty Name.Space is written without a prefix, so it takes its
// parent's default namespace: build trees with local names only and put an
// xmlns attribute where one is wanted.
//
// Text is the character data directly inside the element, concatenated. For
// an element with children, text that is only whitespace (indentation) is
// dropped; a leaf keeps its text exactly.
type Element struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*Element
	Text     string
}

// NewElement returns an element with local name name and text text.
func NewElement(name, text string) *Element {
	return &Element{Name: xml.Name{Local: name}, Text: text}
}

// SetAttr sets the unqualified attribute name to value and returns e.
func (e *Element) SetAttr(name, value string) *Element {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == name {
			e.Attr[i].Value = value
			return e
		}
	}
	e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: name}, Value: value})
	return e
}

// Add appends children to e and returns e.
func (e *Element) Add(children ...*Element) *Element {
	e.Children = append(e.Children, children...)
	return e
}

// AttrValue returns the value of the unqualified attribute name.
func (e *Element) AttrValue(name string) (string, bool) {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == name {
			return e.Attr[i].Value, true
		}
	}
	return "", false
}

// Child returns the first child with local name name, or nil.
func (e *Element) Child(name string) *Element {
	for _, c := range e.Children {
		if c.Name.Local == name {
			return c
		}
	}
	return nil
}

// Marshal returns the wire form of e.
func (e *Element) Marshal() []byte { return e.AppendMarshal(nil) }

// AppendMarshal appends the wire form of e to b. Attribute values use double
// quotes; an element with neither text nor children is written as <name/>.
func (e *Element) AppendMarshal(b []byte) []byte {
	var scope [8]nsDecl
	return e.appendTo(b, scope[:0])
}

// String returns the wire form of e.
func (e *Element) String() string { return string(e.Marshal()) }

// nsDecl is one namespace declaration in scope while encoding; prefix "" is
// the default namespace.
type nsDecl struct{ prefix, uri string }

func (e *Element) appendTo(b []byte, scope []nsDecl) []byte {
	n := len(scope)
	scope = appendDecls(scope, e)
	hasDefault := false
	for _, d := range scope[n:] {
		hasDefault = hasDefault || d.prefix == ""
	}
	b = append(b, '<')
	var addDefault bool
	b, addDefault = appendQName(b, e.Name, scope, true)
	if addDefault && !hasDefault {
		b = append(b, ` xmlns="`...)
		b = appendAttrValue(b, e.Name.Space)
		b = append(b, '"')
		scope = append(scope, nsDecl{"", e.Name.Space})
	}
	for _, a := range e.Attr {
		b = append(b, ' ')
		b, _ = appendQName(b, a.Name, scope, false)
		b = append(b, '=', '"')
		b = appendAttrValue(b, a.Value)
		b = append(b, '"')
	}
	if e.Text == "" && len(e.Children) == 0 {
		return append(b, '/', '>')
	}
	b = append(b, '>')
	b = appendText(b, e.Text)
	for _, c := range e.Children {
		b = c.appendTo(b, scope)
	}
	b = append(b, '<', '/')
	b, _ = appendQName(b, e.Name, scope, true) // same scope: same name as the start tag
	return append(b, '>')
}

// appendQName writes the qualified name for n. It reports true when the
// (element) name needs a default-namespace declaration that is not in scope.
//
// encoding/xml keeps a prefix it cannot resolve as Name.Space, so a Space
// without ':' or '/' may be a prefix rather than a namespace; both readings
// are tried, and whatever is written parses back to the same Name.
func appendQName(b []byte, n xml.Name, scope []nsDecl, elem bool) ([]byte, bool) {
	switch {
	case n.Space == "xmlns" && !elem:
		b = append(b, "xmlns:"...)
		return append(b, n.Local...), false
	case n.Space == nsXML:
		b = append(b, "xml:"...)
		return append(b, n.Local...), false
	}
	if n.Space == "" && strings.IndexByte(n.Local, ':') >= 0 {
		// A name encoding/xml did not split (":x", "x:"): as written.
		return append(b, n.Local...), false
	}
	plain := startsName(n.Local)
	if plain && n.Space == "" {
		return append(b, n.Local...), false
	}
	if plain && elem && defaultNS(scope) == n.Space {
		return append(b, n.Local...), false
	}
	if p, ok := prefixFor(scope, n.Space); ok {
		b = append(b, p...)
		b = append(b, ':')
		return append(b, n.Local...), false
	}
	if n.Space != "" && startsName(n.Space) && !strings.ContainsAny(n.Space, ":/") && !bound(scope, n.Space) {
		// An undeclared prefix kept as written ("stream").
		b = append(b, n.Space...)
		b = append(b, ':')
		return append(b, n.Local...), false
	}
	return append(b, n.Local...), elem && n.Space != ""
}

// startsName reports whether s starts with a character that may start an
// XML name (ASCII letter, '_', ':', or any non-ASCII byte).
func startsName(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	return c == '_' || c == ':' || c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

func defaultNS(scope []nsDecl) string {
	for i := len(scope) - 1; i >= 0; i-- {
		if scope[i].prefix == "" {
			return scope[i].uri
		}
	}
	return ""
}

// prefixFor returns a usable prefix bound to uri and not rebound later.
func prefixFor(scope []nsDecl, uri string) (string, bool) {
	for i := len(scope) - 1; i >= 0; i-- {
		d := scope[i]
		if d.prefix == "" || d.uri != uri || !startsName(d.prefix) {
			continue
		}
		shadowed := false
		for _, later := range scope[i+1:] {
			if later.prefix == d.prefix {
				shadowed = true
				break
			}
		}
		if !shadowed {
			return d.prefix, true
		}
	}
	return "", false
}

func bound(scope []nsDecl, prefix string) bool {
	for _, d := range scope {
		if d.prefix == prefix {
			return true
		}
	}
	return false
}

// ParseElement decodes one XML element (a stanza) from b. A leading XML
// declaration, processing instructions, comments and surrounding whitespace
// are allowed; a DTD, a second element or other text is not. Comments are
// removed before parsing, which also accepts the "--->" that the original's
// pugixml tolerates and some upstream fixtures contain. Errors are
// *DecodeError.
func ParseElement(b []byte) (*Element, error) {
	if bytes.Contains(b, commentOpen) {
		b = stripComments(b)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var root *Element
	// Open elements, and for each the index in kids where its children
	// start: children are collected on one shared stack and copied into an
	// exactly sized slice when the element ends. Elements come from slabs.
	type open struct {
		el   *Element
		base int
	}
	stack := make([]open, 0, 16)
	kids := make([]*Element, 0, 64)
	var slab []Element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, syntaxError(err, stack2path(len(stack), func(i int) *Element { return stack[i].el }))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, errAt(t.Name.Local, "second element after the stanza", "")
			}
			if len(stack) >= MaxDepth {
				return nil, errAt(stack2path(len(stack), func(i int) *Element { return stack[i].el }), "nesting deeper than MaxDepth", "")
			}
			if len(slab) == 0 {
				slab = make([]Element, 32)
			}
			el := &slab[0]
			slab = slab[1:]
			el.Name, el.Attr = t.Name, t.Attr
			if len(stack) > 0 {
				kids = append(kids, el)
			} else {
				root = el
			}
			stack = append(stack, open{el, len(kids)})
		case xml.EndElement:
			top := stack[len(stack)-1]
			el := top.el
			if n := len(kids) - top.base; n > 0 {
				el.Children = make([]*Element, n)
				copy(el.Children, kids[top.base:])
				kids = kids[:top.base]
				if isSpace(el.Text) {
					el.Text = ""
				}
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if !isSpace(string(t)) {
					return nil, errAt("", "text outside the element", string(t))
				}
				continue
			}
			el := stack[len(stack)-1].el
			el.Text += string(t) // usually a single token per element
		case xml.Directive:
			return nil, errAt(stack2path(len(stack), func(i int) *Element { return stack[i].el }), "DTD or directive not allowed", string(t))
		case xml.ProcInst, xml.Comment:
		}
	}
	if root == nil {
		return nil, errAt("", "no element", "")
	}
	return root, nil
}

// stack2path joins the local names of the n open elements get(0..n-1).
func stack2path(n int, get func(int) *Element) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte('/')
		}
		sb.WriteString(get(i).Name.Local)
	}
	return sb.String()
}

func syntaxError(err error, path string) *DecodeError {
	de := errAt(path, "syntax error", "")
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		de.Err = errors.New(se.Msg)
	} else {
		de.Err = err
	}
	return de
}

func isSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

var (
	commentOpen  = []byte("<!--")
	commentClose = []byte("-->")
	cdataOpen    = []byte("<![CDATA[")
	cdataClose   = []byte("]]>")
)

// stripComments returns b without its comments. CDATA sections are copied
// as they are (a "<!--" inside one is data). An unterminated comment is kept
// so that the XML parser reports it.
func stripComments(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '<')
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		b = b[i:]
		switch {
		case bytes.HasPrefix(b, commentOpen):
			j := bytes.Index(b[len(commentOpen):], commentClose)
			if j < 0 {
				return append(out, b...)
			}
			b = b[len(commentOpen)+j+len(commentClose):]
		case bytes.HasPrefix(b, cdataOpen):
			j := bytes.Index(b, cdataClose)
			if j < 0 {
				return append(out, b...)
			}
			out = append(out, b[:j+len(cdataClose)]...)
			b = b[j+len(cdataClose):]
		default:
			out = append(out, '<')
			b = b[1:]
		}
	}
	return out
}

// detach prepares el, a subtree of a parsed stanza that is kept on its own
// (a config property, a raw entry), to encode on its own into an equal
// tree. encoding/xml resolves names against declarations on ancestors that
// the subtree does not carry, so: names in the default namespace inherited
// from the ancestors lose it (as if it had never been declared, which is
// what the original's namespace-unaware parser sees), and the ancestors'
// prefix declarations that the subtree uses are copied onto el.
// ancestors are el's ancestors from the root down. The result is el itself
// when no ancestor declares a namespace (the usual case), else a changed
// copy: the parsed stanza is not modified.
func detach(el *Element, ancestors ...*Element) *Element {
	var scope []nsDecl
	for _, a := range ancestors {
		scope = appendDecls(scope, a)
	}
	if len(scope) == 0 {
		return el
	}
	el = el.clone()
	def := ""
	for i := len(scope) - 1; i >= 0; i-- {
		if scope[i].prefix == "" {
			def = scope[i].uri
			break
		}
	}
	var need []nsDecl
	use := func(space string, local []nsDecl) {
		if space == "" || space == "xmlns" || space == nsXML {
			return
		}
		for i := len(local) - 1; i >= 0; i-- {
			if local[i].prefix != "" && local[i].uri == space {
				return
			}
		}
		for _, d := range need {
			if d.uri == space {
				return
			}
		}
		for i := len(scope) - 1; i >= 0; i-- {
			if d := scope[i]; d.prefix != "" && d.uri == space {
				need = append(need, d)
				return
			}
		}
	}
	var walk func(e *Element, local []nsDecl, inherited bool)
	walk = func(e *Element, local []nsDecl, inherited bool) {
		n := len(local)
		local = appendDecls(local, e)
		for _, d := range local[n:] {
			if d.prefix == "" {
				inherited = false
			}
		}
		if inherited && def != "" && e.Name.Space == def {
			e.Name.Space = ""
		}
		use(e.Name.Space, local)
		for _, a := range e.Attr {
			use(a.Name.Space, local)
		}
		for _, c := range e.Children {
			walk(c, local, inherited)
		}
	}
	walk(el, nil, true)
	for _, d := range need {
		declared := false
		for _, a := range el.Attr {
			if a.Name.Space == "xmlns" && a.Name.Local == d.prefix {
				declared = true
				break
			}
		}
		if !declared {
			el.Attr = append(el.Attr, xml.Attr{Name: xml.Name{Space: "xmlns", Local: d.prefix}, Value: d.uri})
		}
	}
	return el
}

// clone returns a deep copy of e.
func (e *Element) clone() *Element {
	c := &Element{Name: e.Name, Text: e.Text}
	if e.Attr != nil {
		c.Attr = append([]xml.Attr{}, e.Attr...)
	}
	if e.Children != nil {
		c.Children = make([]*Element, len(e.Children))
		for i, k := range e.Children {
			c.Children[i] = k.clone()
		}
	}
	return c
}

func appendDecls(scope []nsDecl, e *Element) []nsDecl {
	for _, a := range e.Attr {
		switch {
		case a.Name.Space == "xmlns":
			scope = append(scope, nsDecl{a.Name.Local, a.Value})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			scope = append(scope, nsDecl{"", a.Value})
		}
	}
	return scope
}
