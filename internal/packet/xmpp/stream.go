// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"encoding/xml"
	"io"
)

// Fixed stream-level stanzas, byte for byte as the original writes them
// (src/xmpp/xmpp_str.h). The original frames <starttls> and <proceed> by
// looking for "/>", so they must stay self-closed.
const (
	StreamClose = "</stream:stream>"
	StartTLS    = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	Proceed     = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
)

// StreamHeader is the stream open. The agent (client) sends it with From set
// to its host name, To set to ControlNodeJID and XMLNS set to its subcluster
// name (empty by default); the control node answers with From and To
// swapped and an ID.
type StreamHeader struct {
	From, To, ID, XMLNS string
}

// Encode returns the header exactly as the original writes it:
//
//	<?xml version='1.0'?><stream:stream from='F' to='T' version='1.0' xml:lang='en' xmlns='X' xmlns:stream='http://etherx.jabber.org/streams' >
//
// with id='ID' after to='T' when ID is set (the server's reply uses
// id='++123'). The original turns its self-closed template into an open tag
// by replacing the final "/" with a space, hence " >". xmlns:stream must stay
// the last attribute: the original finds the end of the header with the
// regular expression `http://etherx.jabber.org/streams["'][\s]*>`.
func (h *StreamHeader) Encode() []byte { return h.AppendEncode(nil) }

// AppendEncode appends the Encode form of h to b.
func (h *StreamHeader) AppendEncode(b []byte) []byte {
	b = append(b, "<?xml version='1.0'?><stream:stream from='"...)
	b = appendAttrValue1(b, h.From)
	b = append(b, "' to='"...)
	b = appendAttrValue1(b, h.To)
	if h.ID != "" {
		b = append(b, "' id='"...)
		b = appendAttrValue1(b, h.ID)
	}
	b = append(b, "' version='1.0' xml:lang='en' xmlns='"...)
	b = appendAttrValue1(b, h.XMLNS)
	return append(b, "' xmlns:stream='http://etherx.jabber.org/streams' >"...)
}

// ParseStreamHeader parses a stream open. It is tolerant: leading
// whitespace, keepalives, XML declarations and comments are skipped, either
// quote style and any attribute order are accepted, and the tag may end in
// ">", " >" or "/>". The element must be named stream (any prefix).
// version and xml:lang are not checked.
func ParseStreamHeader(b []byte) (*StreamHeader, error) {
	b = bytes.TrimLeft(b, " \t\r\n"+Keepalive)
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, errAt("stream", "no stream header", "")
		}
		if err != nil {
			return nil, syntaxError(err, "")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "stream" {
				return nil, errAt(t.Name.Local, "expected the stream header", "")
			}
			h := &StreamHeader{}
			for _, a := range t.Attr {
				if a.Name.Space != "" {
					continue
				}
				switch a.Name.Local {
				case "from":
					h.From = a.Value
				case "to":
					h.To = a.Value
				case "id":
					h.ID = a.Value
				case "xmlns":
					h.XMLNS = a.Value
				}
			}
			return h, nil
		case xml.CharData:
			if !isSpace(string(t)) {
				return nil, errAt("", "text before the stream header", string(t))
			}
		case xml.Directive:
			return nil, errAt("", "DTD or directive not allowed", string(t))
		}
	}
}

// StreamFeatures is <stream:features>. The original's server offers only
// STARTTLS, and only when xmpp_auth_enable is set; it has no SASL and no
// resource binding.
type StreamFeatures struct {
	StartTLS    bool // <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'> is offered
	TLSRequired bool // and contains <required/>
}

// AppendMarshal appends the features stanza. With StartTLS and TLSRequired
// set it is the original's exact
// <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>.
func (f *StreamFeatures) AppendMarshal(b []byte) []byte {
	b = append(b, "<stream:features>"...)
	if f.StartTLS {
		b = append(b, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"...)
		if f.TLSRequired {
			b = append(b, "<required/>"...)
		}
		b = append(b, "</starttls>"...)
	}
	return append(b, "</stream:features>"...)
}

// Marshal returns the features stanza.
func (f *StreamFeatures) Marshal() []byte { return f.AppendMarshal(nil) }

func decodeFeatures(el *Element) *StreamFeatures {
	f := &StreamFeatures{}
	if st := el.Child("starttls"); st != nil {
		f.StartTLS = true
		f.TLSRequired = st.Child("required") != nil
	}
	return f
}

// DecodeFeatures decodes a <stream:features> element.
func DecodeFeatures(el *Element) (*StreamFeatures, error) {
	f := &StreamFeatures{}
	if err := f.Unmarshal(el); err != nil {
		return nil, err
	}
	return f, nil
}

// Unmarshal decodes a <stream:features> element into f.
func (f *StreamFeatures) Unmarshal(el *Element) error {
	if el.Name.Local != "features" {
		return errAt(el.Name.Local, "expected features", "")
	}
	*f = *decodeFeatures(el)
	return nil
}
