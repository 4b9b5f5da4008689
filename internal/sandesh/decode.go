// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors of the decoder; every decode error wraps one of them.
var (
	// ErrFrameTooLarge: a frame's length field is above the reader's limit.
	ErrFrameTooLarge = errors.New("sandesh: frame too large")
	// ErrBadFrame: the frame's opening tag, length or closing tag is wrong.
	ErrBadFrame = errors.New("sandesh: bad frame")
	// ErrSyntax: the XML inside a frame is not a valid Sandesh encoding.
	ErrSyntax = errors.New("sandesh: invalid message")
)

// SyntaxError is a decode error at a byte offset of the frame or message.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "sandesh: invalid message at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// MaxDepth bounds the nesting of structs and containers the decoder
// accepts, so that hostile input cannot exhaust the stack.
const MaxDepth = 64

// Message is one decoded frame. Header is always decoded; the fields of
// the message are decoded on demand by Fields, since the collector stores
// most logs as their XML without looking inside.
type Message struct {
	Header Header
	// Name is the message type (the element name of the message, e.g.
	// "NodeStatusUVE").
	Name string
	// XML is the message element, <Name type="sandesh">...</Name>, as it
	// came on the wire; it is what MessageTable's Xmlmessage column holds.
	XML string
	// Offset of XML inside the frame, for error positions.
	xmlOffset int
}

// Fields decodes the message's fields.
func (m *Message) Fields() ([]Field, error) {
	s, err := DecodeMessage(m.XML)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Offset += m.xmlOffset
		}
		return nil, err
	}
	return s.Fields, nil
}

// ParseFrame decodes one whole frame: the <sandesh length=...> tag, the
// header and the message element. The message's fields are left to
// Message.Fields.
func ParseFrame(frame string) (*Message, error) {
	if len(frame) < minFrameBytes || !strings.HasPrefix(frame, frameOpen) {
		return nil, fmt.Errorf("%w: no <sandesh length=...> tag", ErrBadFrame)
	}
	n, err := parseLength(frame[len(frameOpen) : len(frameOpen)+lengthDigits+2])
	if err != nil {
		return nil, err
	}
	if n != len(frame) {
		return nil, fmt.Errorf("%w: length field %d but frame has %d bytes", ErrBadFrame, n, len(frame))
	}
	if !strings.HasSuffix(frame, frameClose) {
		return nil, fmt.Errorf("%w: frame does not end with </sandesh>", ErrBadFrame)
	}
	d := scanner{s: frame[:len(frame)-len(frameClose)], pos: frameOpenLen}
	m := &Message{}
	if err := d.header(&m.Header); err != nil {
		return nil, err
	}
	d.skipSpace()
	start := d.pos
	name, err := d.openTag()
	if err != nil {
		return nil, err
	}
	if d.selfClosed {
		m.Name, m.XML, m.xmlOffset = name, d.s[start:d.pos], start
		d.skipSpace()
		if d.pos != len(d.s) {
			return nil, d.errorf("data after the message element")
		}
		return m, nil
	}
	// The message ends where the frame does: check the closing tag there
	// instead of walking the body. Fields() walks it when asked.
	end := strings.TrimRight(d.s, " \t\r\n")
	if !hasCloseSuffix(end, name) || len(end) < d.pos+len(name)+3 {
		return nil, d.errorf("message <" + name + "> is not closed before </sandesh>")
	}
	m.Name, m.XML, m.xmlOffset = name, end[start:], start
	return m, nil
}

// parseLength reads `NNNNNNNNNN">`.
func parseLength(s string) (int, error) {
	if len(s) != lengthDigits+2 || s[lengthDigits:] != `">` {
		return 0, fmt.Errorf("%w: length is not %d digits", ErrBadFrame, lengthDigits)
	}
	n := 0
	for i := 0; i < lengthDigits; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: length %q is not decimal", ErrBadFrame, s[:lengthDigits])
		}
		n = n*10 + int(c-'0')
	}
	if n < minFrameBytes {
		return 0, fmt.Errorf("%w: length %d is below the minimum %d", ErrBadFrame, n, minFrameBytes)
	}
	return n, nil
}

// DecodeMessage decodes a message element <Name type="sandesh">fields</Name>
// into a Struct named after the message.
func DecodeMessage(xml string) (*Struct, error) {
	d := scanner{s: xml}
	d.skipSpace()
	name, err := d.openTag()
	if err != nil {
		return nil, err
	}
	s := &Struct{Name: name}
	if !d.selfClosed {
		if s.Fields, err = d.fields(name); err != nil {
			return nil, err
		}
	}
	d.skipSpace()
	if d.pos != len(d.s) {
		return nil, d.errorf("data after the message element")
	}
	return s, nil
}

// scanner walks the XML of one frame. It only knows the subset of XML the
// Sandesh encoding uses: elements, attributes in double or single quotes,
// text with the predefined and numeric entities, and CDATA sections.
type scanner struct {
	s          string
	pos        int
	depth      int
	selfClosed bool   // set by openTag
	attrs      []attr // set by openTag, reused
	scratch    [][]Field
}

type attr struct{ name, value string }

func (d *scanner) errorf(msg string) error { return &SyntaxError{Offset: d.pos, Msg: msg} }

func (d *scanner) skipSpace() {
	for d.pos < len(d.s) {
		switch d.s[d.pos] {
		case ' ', '\t', '\r', '\n':
			d.pos++
		default:
			return
		}
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == ':' ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80
}

func (d *scanner) name() (string, error) {
	start := d.pos
	for d.pos < len(d.s) && isNameByte(d.s[d.pos]) {
		d.pos++
	}
	if d.pos == start {
		return "", d.errorf("expected a name")
	}
	return d.s[start:d.pos], nil
}

// openTag reads <name attr="v" ...> or <name .../> and returns the name;
// attributes land in d.attrs and d.selfClosed tells the second form.
func (d *scanner) openTag() (string, error) {
	if d.pos >= len(d.s) || d.s[d.pos] != '<' {
		return "", d.errorf("expected an element")
	}
	d.pos++
	if d.pos < len(d.s) && (d.s[d.pos] == '/' || d.s[d.pos] == '!' || d.s[d.pos] == '?') {
		return "", d.errorf("expected an opening tag")
	}
	name, err := d.name()
	if err != nil {
		return "", err
	}
	d.attrs = d.attrs[:0]
	d.selfClosed = false
	for {
		d.skipSpace()
		if d.pos >= len(d.s) {
			return "", d.errorf("unterminated tag <" + name)
		}
		switch d.s[d.pos] {
		case '>':
			d.pos++
			return name, nil
		case '/':
			if d.pos+1 < len(d.s) && d.s[d.pos+1] == '>' {
				d.pos += 2
				d.selfClosed = true
				return name, nil
			}
			return "", d.errorf("bad '/' in tag <" + name)
		}
		an, err := d.name()
		if err != nil {
			return "", err
		}
		d.skipSpace()
		if d.pos >= len(d.s) || d.s[d.pos] != '=' {
			return "", d.errorf("attribute " + an + " has no value")
		}
		d.pos++
		d.skipSpace()
		if d.pos >= len(d.s) || (d.s[d.pos] != '"' && d.s[d.pos] != '\'') {
			return "", d.errorf("attribute " + an + " value is not quoted")
		}
		q := d.s[d.pos]
		d.pos++
		end := strings.IndexByte(d.s[d.pos:], q)
		if end < 0 {
			return "", d.errorf("unterminated value of attribute " + an)
		}
		raw := d.s[d.pos : d.pos+end]
		if strings.IndexByte(raw, '<') >= 0 {
			return "", d.errorf("'<' in value of attribute " + an)
		}
		v, err := d.unescape(raw)
		if err != nil {
			return "", err
		}
		d.pos += end + 1
		d.attrs = append(d.attrs, attr{an, v})
	}
}

func (d *scanner) attr(name string) (string, bool) {
	for _, a := range d.attrs {
		if a.name == name {
			return a.value, true
		}
	}
	return "", false
}

// closeTag reads </name>.
func (d *scanner) closeTag(name string) error {
	if !strings.HasPrefix(d.s[d.pos:], "</") {
		return d.errorf("expected </" + name + ">")
	}
	d.pos += 2
	if !strings.HasPrefix(d.s[d.pos:], name) {
		return d.errorf("expected </" + name + ">")
	}
	d.pos += len(name)
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != '>' {
		return d.errorf("expected </" + name + ">")
	}
	d.pos++
	return nil
}

// atClose reports whether the next thing (after spaces) is a closing tag.
func (d *scanner) atClose() bool {
	d.skipSpace()
	return strings.HasPrefix(d.s[d.pos:], "</")
}

// text reads character data up to the next tag, resolving entities and
// CDATA sections.
func (d *scanner) text() (string, error) {
	start := d.pos
	i := strings.IndexByte(d.s[d.pos:], '<')
	if i < 0 {
		return "", d.errorf("unterminated text")
	}
	if !strings.HasPrefix(d.s[d.pos+i:], "<![CDATA[") {
		d.pos += i
		return d.unescape(d.s[start:d.pos])
	}
	// Mixed text and CDATA: build it piece by piece.
	var b strings.Builder
	for {
		i := strings.IndexByte(d.s[d.pos:], '<')
		if i < 0 {
			return "", d.errorf("unterminated text")
		}
		t, err := d.unescape(d.s[d.pos : d.pos+i])
		if err != nil {
			return "", err
		}
		b.WriteString(t)
		d.pos += i
		if !strings.HasPrefix(d.s[d.pos:], "<![CDATA[") {
			return b.String(), nil
		}
		d.pos += len("<![CDATA[")
		end := strings.Index(d.s[d.pos:], "]]>")
		if end < 0 {
			return "", d.errorf("unterminated CDATA section")
		}
		b.WriteString(d.s[d.pos : d.pos+end])
		d.pos += end + 3
	}
}

// unescape resolves &amp; &lt; &gt; &quot; &apos; and &#N; / &#xN;.
func (d *scanner) unescape(s string) (string, error) {
	i := strings.IndexByte(s, '&')
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		b.WriteString(s[:i])
		s = s[i:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 || semi > 12 {
			return "", d.errorf("bad entity")
		}
		ent := s[1:semi]
		switch ent {
		case "amp":
			b.WriteByte('&')
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return "", d.errorf("unknown entity &" + ent + ";")
			}
			var r uint64
			var err error
			if ent[1] == 'x' || ent[1] == 'X' {
				r, err = strconv.ParseUint(ent[2:], 16, 32)
			} else {
				r, err = strconv.ParseUint(ent[1:], 10, 32)
			}
			if err != nil || r > 0x10FFFF {
				return "", d.errorf("bad character reference &" + ent + ";")
			}
			b.WriteRune(rune(r))
		}
		s = s[semi+1:]
		i = strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
	}
}

// headerTag reads the opening tag of a header field. The header's
// attributes (type, identifier) carry nothing the fixed header layout
// does not know, so they are skipped rather than parsed: the header is on
// the path of every message.
func (d *scanner) headerTag() (string, error) {
	if d.pos >= len(d.s) || d.s[d.pos] != '<' {
		return "", d.errorf("expected an element")
	}
	d.pos++
	name, err := d.name()
	if err != nil {
		return "", err
	}
	end := strings.IndexByte(d.s[d.pos:], '>')
	if end < 0 {
		return "", d.errorf("unterminated tag <" + name)
	}
	if strings.IndexByte(d.s[d.pos:d.pos+end], '<') >= 0 {
		return "", d.errorf("bad tag <" + name)
	}
	d.selfClosed = end > 0 && d.s[d.pos+end-1] == '/'
	d.pos += end + 1
	return name, nil
}

// header decodes <SandeshHeader>...</SandeshHeader>.
func (d *scanner) header(h *Header) error {
	d.skipSpace()
	name, err := d.openTag()
	if err != nil {
		return err
	}
	if name != "SandeshHeader" {
		return d.errorf("expected <SandeshHeader>, got <" + name + ">")
	}
	if d.selfClosed {
		return nil
	}
	for !d.atClose() {
		fname, err := d.headerTag()
		if err != nil {
			return err
		}
		var txt string
		if !d.selfClosed {
			if txt, err = d.text(); err != nil {
				return err
			}
			if err := d.closeTag(fname); err != nil {
				return err
			}
		}
		switch fname {
		case "Namespace":
			h.Namespace = txt
		case "Timestamp":
			h.Timestamp, err = d.int(txt, 64)
		case "Module":
			h.Module = txt
		case "Source":
			h.Source = txt
		case "Context":
			h.Context = txt
		case "SequenceNum":
			h.SequenceNum, err = d.int32(txt)
		case "VersionSig":
			h.VersionSig, err = d.int32(txt)
		case "Type":
			var t int32
			t, err = d.int32(txt)
			h.Type = SandeshType(t)
		case "Hints":
			h.Hints, err = d.int32(txt)
		case "Level":
			h.Level, err = d.int32(txt)
		case "Category":
			h.Category = txt
		case "NodeType":
			h.NodeType = txt
		case "InstanceId":
			h.InstanceID = txt
		case "IPAddress":
			h.IPAddress = txt
		case "Pid":
			h.Pid, err = d.int32(txt)
		}
		if err != nil {
			return err
		}
	}
	return d.closeTag("SandeshHeader")
}

func (d *scanner) int(s string, bits int) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
	if err != nil {
		return 0, d.errorf("bad integer " + strconv.Quote(truncate(s)))
	}
	return v, nil
}

func (d *scanner) int32(s string) (int32, error) {
	v, err := d.int(s, 32)
	return int32(v), err
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// fields decodes field elements until </end>, which it consumes.
func (d *scanner) fields(end string) ([]Field, error) {
	d.depth++
	if d.depth > MaxDepth {
		return nil, d.errorf("nesting too deep")
	}
	// Gather into a per-depth scratch slice, then copy once at the exact
	// size: appending to a fresh slice would grow it several times.
	for len(d.scratch) <= d.depth {
		d.scratch = append(d.scratch, nil)
	}
	buf := d.scratch[d.depth][:0]
	for !d.atClose() {
		f, err := d.field()
		if err != nil {
			return nil, err
		}
		buf = append(buf, f)
	}
	var out []Field
	if len(buf) > 0 {
		out = make([]Field, len(buf))
		copy(out, buf)
	}
	clear(buf)
	d.scratch[d.depth] = buf[:0]
	d.depth--
	return out, d.closeTag(end)
}

// field decodes one <name type=".." identifier=".." ...>content</name>.
func (d *scanner) field() (Field, error) {
	var f Field
	name, err := d.openTag()
	if err != nil {
		return f, err
	}
	f.Name = name
	ts, ok := d.attr("type")
	if !ok {
		return f, d.errorf("field " + name + " has no type")
	}
	if f.Type, ok = ParseType(ts); !ok || f.Type == TSandesh || f.Type == TInvalid {
		return f, d.errorf("field " + name + " has unknown type " + strconv.Quote(truncate(ts)))
	}
	for _, a := range d.attrs {
		switch a.name {
		case "type":
		case "identifier":
			id, err := strconv.Atoi(a.value)
			if err != nil || id < -32768 || id > 32767 {
				return f, d.errorf("field " + name + " has a bad identifier")
			}
			f.ID = id
		default:
			f.Attrs = append(f.Attrs, Attr{a.name, a.value})
		}
	}
	if d.selfClosed {
		if f.Type.IsContainer() {
			return f, d.errorf("field " + name + " of type " + ts + " is empty")
		}
		f.Value, err = d.scalar(f.Type, "")
		return f, err
	}
	if err := d.content(&f.Value, f.Type); err != nil {
		return f, err
	}
	return f, d.closeTag(name)
}

// content decodes what sits between a field's (or an <element>'s) tags.
func (d *scanner) content(v *Value, t Type) error {
	v.Type = t
	switch t {
	case TStruct:
		d.skipSpace()
		name, err := d.openTag()
		if err != nil {
			return err
		}
		s := &Struct{Name: name}
		v.Struct = s
		if d.selfClosed {
			return nil
		}
		s.Fields, err = d.fields(name)
		return err
	case TList, TSet:
		return d.list(v)
	case TMap:
		return d.mapValue(v)
	}
	txt, err := d.text()
	if err != nil {
		return err
	}
	*v, err = d.scalar(t, txt)
	return err
}

func (d *scanner) containerTag(want string) error {
	d.skipSpace()
	name, err := d.openTag()
	if err != nil {
		return err
	}
	if name != want {
		return d.errorf("expected <" + want + ">, got <" + name + ">")
	}
	return nil
}

// sizeHint turns a size attribute into a capacity the input can back.
func (d *scanner) sizeHint() int {
	s, _ := d.attr("size")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	if max := (len(d.s) - d.pos) / 16; n > max {
		n = max
	}
	return n
}

func (d *scanner) list(v *Value) error {
	tag := "list"
	if v.Type == TSet {
		tag = "set"
	}
	if err := d.containerTag(tag); err != nil {
		return err
	}
	ts, _ := d.attr("type")
	et, ok := ParseType(ts)
	if !ok || et == TSandesh || et == TInvalid {
		return d.errorf("list of unknown type " + strconv.Quote(truncate(ts)))
	}
	l := &List{Elem: et}
	v.List = l
	if d.selfClosed {
		return nil
	}
	l.Items = make([]Value, 0, d.sizeHint())
	d.depth++
	if d.depth > MaxDepth {
		return d.errorf("nesting too deep")
	}
	for !d.atClose() {
		var it Value
		if err := d.element(&it, et); err != nil {
			return err
		}
		l.Items = append(l.Items, it)
	}
	d.depth--
	return d.closeTag(tag)
}

func (d *scanner) mapValue(v *Value) error {
	if err := d.containerTag("map"); err != nil {
		return err
	}
	ks, _ := d.attr("key")
	vs, _ := d.attr("value")
	kt, ok1 := ParseType(ks)
	vt, ok2 := ParseType(vs)
	if !ok1 || !ok2 || kt == TSandesh || vt == TSandesh || kt == TInvalid || vt == TInvalid {
		return d.errorf("map of unknown types")
	}
	m := &Map{Key: kt, Elem: vt}
	v.Map = m
	if d.selfClosed {
		return nil
	}
	m.Entries = make([]MapEntry, 0, d.sizeHint()/2)
	d.depth++
	if d.depth > MaxDepth {
		return d.errorf("nesting too deep")
	}
	for !d.atClose() {
		var e MapEntry
		if err := d.element(&e.Key, kt); err != nil {
			return err
		}
		if d.atClose() {
			return d.errorf("map key without a value")
		}
		if err := d.element(&e.Value, vt); err != nil {
			return err
		}
		m.Entries = append(m.Entries, e)
	}
	d.depth--
	return d.closeTag("map")
}

// element decodes one member of a container: a struct element for struct
// members, <element>...</element> otherwise.
func (d *scanner) element(v *Value, t Type) error {
	if t == TStruct {
		name, err := d.openTag()
		if err != nil {
			return err
		}
		s := &Struct{Name: name}
		*v = Value{Type: TStruct, Struct: s}
		if d.selfClosed {
			return nil
		}
		s.Fields, err = d.fields(name)
		return err
	}
	name, err := d.openTag()
	if err != nil {
		return err
	}
	if name != "element" {
		return d.errorf("expected <element>, got <" + name + ">")
	}
	if d.selfClosed {
		if t.IsContainer() {
			return d.errorf("empty container element")
		}
		*v, err = d.scalar(t, "")
		return err
	}
	if err := d.content(v, t); err != nil {
		return err
	}
	if t.IsContainer() {
		d.skipSpace()
	}
	return d.closeTag("element")
}

// scalar converts the text of a scalar of type t.
func (d *scanner) scalar(t Type, txt string) (Value, error) {
	v := Value{Type: t}
	switch {
	case t.isText():
		v.Str = txt
	case t == TBool:
		switch strings.TrimSpace(txt) {
		case "true", "1":
			v.Int = 1
		case "false", "0", "":
		default:
			return v, d.errorf("bad bool " + strconv.Quote(truncate(txt)))
		}
	case t.isSigned():
		bits := t.bits()
		if strings.TrimSpace(txt) == "" {
			return v, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(txt), 10, bits)
		if err != nil {
			return v, d.errorf("bad " + t.String() + " " + strconv.Quote(truncate(txt)))
		}
		v.Int = n
	case t.isUnsigned():
		bits := t.bits()
		if strings.TrimSpace(txt) == "" {
			return v, nil
		}
		n, err := strconv.ParseUint(strings.TrimSpace(txt), 10, bits)
		if err != nil {
			return v, d.errorf("bad " + t.String() + " " + strconv.Quote(truncate(txt)))
		}
		v.Uint = n
	case t == TDouble:
		if strings.TrimSpace(txt) == "" {
			return v, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(txt), 64)
		if err != nil {
			return v, d.errorf("bad double " + strconv.Quote(truncate(txt)))
		}
		v.Float = f
	default:
		return v, d.errorf("type " + t.String() + " is not a scalar")
	}
	return v, nil
}

// hasCloseSuffix reports whether s ends with </name>.
func hasCloseSuffix(s, name string) bool {
	n := len(name) + 3
	return len(s) >= n && s[len(s)-n:len(s)-n+2] == "</" && s[len(s)-1] == '>' && s[len(s)-n+2:len(s)-1] == name
}

func (t Type) bits() int {
	switch t {
	case TByte:
		return 8
	case TI16, TU16:
		return 16
	case TI32, TU32:
		return 32
	}
	return 64
}

// ValidateMessage checks that a message element is well-formed XML of the
// kind the encoding produces (balanced elements, quoted attributes, known
// entities, bounded nesting) without building its values: the cheap check
// for messages that are stored as they came.
func ValidateMessage(xml string) error {
	d := scanner{s: xml}
	d.skipSpace()
	if err := d.skim(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos != len(d.s) {
		return d.errorf("data after the message element")
	}
	return nil
}

// skimTag reads an opening tag like openTag, checking its attributes'
// syntax and entities without keeping them.
func (d *scanner) skimTag() (string, error) {
	if d.pos >= len(d.s) || d.s[d.pos] != '<' {
		return "", d.errorf("expected an element")
	}
	d.pos++
	name, err := d.name()
	if err != nil {
		return "", err
	}
	d.selfClosed = false
	for {
		d.skipSpace()
		if d.pos >= len(d.s) {
			return "", d.errorf("unterminated tag <" + name)
		}
		switch d.s[d.pos] {
		case '>':
			d.pos++
			return name, nil
		case '/':
			if d.pos+1 < len(d.s) && d.s[d.pos+1] == '>' {
				d.pos += 2
				d.selfClosed = true
				return name, nil
			}
			return "", d.errorf("bad '/' in tag <" + name)
		}
		if _, err := d.name(); err != nil {
			return "", err
		}
		if d.pos+1 >= len(d.s) || d.s[d.pos] != '=' || (d.s[d.pos+1] != '"' && d.s[d.pos+1] != '\'') {
			return "", d.errorf("attribute without a quoted value in <" + name)
		}
		q := d.s[d.pos+1]
		d.pos += 2
		end := strings.IndexByte(d.s[d.pos:], q)
		if end < 0 {
			return "", d.errorf("unterminated attribute value in <" + name)
		}
		v := d.s[d.pos : d.pos+end]
		if strings.IndexByte(v, '<') >= 0 {
			return "", d.errorf("'<' in an attribute value of <" + name)
		}
		if strings.IndexByte(v, '&') >= 0 {
			if _, err := d.unescape(v); err != nil {
				return "", err
			}
		}
		d.pos += end + 1
	}
}

// skim walks one element and everything inside it.
func (d *scanner) skim() error {
	name, err := d.skimTag()
	if err != nil || d.selfClosed {
		return err
	}
	d.depth++
	if d.depth > MaxDepth {
		return d.errorf("nesting too deep")
	}
	for {
		i := strings.IndexByte(d.s[d.pos:], '<')
		if i < 0 {
			return d.errorf("element <" + name + "> is not closed")
		}
		if txt := d.s[d.pos : d.pos+i]; strings.IndexByte(txt, '&') >= 0 {
			if _, err := d.unescape(txt); err != nil {
				return err
			}
		}
		d.pos += i
		switch {
		case strings.HasPrefix(d.s[d.pos:], "<![CDATA["):
			end := strings.Index(d.s[d.pos:], "]]>")
			if end < 0 {
				return d.errorf("unterminated CDATA section")
			}
			d.pos += end + 3
		case strings.HasPrefix(d.s[d.pos:], "</"):
			d.depth--
			return d.closeTag(name)
		default:
			if err := d.skim(); err != nil {
				return err
			}
		}
	}
}

// DecodeField decodes one field element as AppendField writes it (the form
// a UVE attribute has in the original's Redis cache).
func DecodeField(xml string) (Field, error) {
	d := scanner{s: xml}
	d.skipSpace()
	f, err := d.field()
	if err != nil {
		return Field{}, err
	}
	d.skipSpace()
	if d.pos != len(d.s) {
		return Field{}, d.errorf("data after the field element")
	}
	return f, nil
}
