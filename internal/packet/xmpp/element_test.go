// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func TestElementMarshal(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`<a/>`, `<a/>`},
		{`<a b='1' c="x&quot;'y"></a>`, `<a b="1" c="x&quot;'y"/>`},
		{"<a>\n  <b>t</b>\n</a>", `<a><b>t</b></a>`},
		{"<a>  </a>", `<a>  </a>`},
		{"<a>x<!-- c -->y<![CDATA[<&>]]></a>", `<a>xy&lt;&amp;&gt;</a>`},
		{"<a t='a\tb\nc'>\r\n</a>", "<a t=\"a&#x9;b&#xA;c\">\n</a>"},
		{`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
			`<stream:features><starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required/></starttls></stream:features>`},
		{`<p:a xmlns:p="urn:p" p:x="1" xml:lang="en"><p:b/><c xmlns="urn:c"><d/></c></p:a>`,
			`<p:a xmlns:p="urn:p" p:x="1" xml:lang="en"><p:b/><c xmlns="urn:c"><d/></c></p:a>`},
		{`<?xml version="1.0"?>` + "\n<!-- x -->\n<a/>\n<?pi?>\n", `<a/>`},
		{`<a><!-- one --->--><b/></a>`, `<a>--&gt;<b/></a>`},
	}
	for _, tt := range tests {
		el := mustParse(t, tt.in)
		if got := el.String(); got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.in, got, tt.want)
		}
		again := mustParse(t, el.String())
		if !elemEqual(el, again) {
			t.Errorf("%q: reparse differs", tt.in)
		}
	}
}

func TestElementBuild(t *testing.T) {
	el := NewElement("a", "").SetAttr("x", "1").SetAttr("x", "2").Add(NewElement("b", "t<"), NewElement("c", ""))
	if got := el.String(); got != `<a x="2"><b>t&lt;</b><c/></a>` {
		t.Fatalf("got %s", got)
	}
	if v, ok := el.AttrValue("x"); !ok || v != "2" {
		t.Fatal("AttrValue")
	}
	if _, ok := el.AttrValue("y"); ok {
		t.Fatal("AttrValue y")
	}
	if el.Child("c") == nil || el.Child("d") != nil {
		t.Fatal("Child")
	}
	// An element in a namespace with no prefix in scope gets a declaration.
	ns := &Element{Name: xml.Name{Space: "urn:n", Local: "q"}, Children: []*Element{{Name: xml.Name{Space: "urn:n", Local: "r"}}}}
	if got := ns.String(); got != `<q xmlns="urn:n"><r/></q>` {
		t.Fatalf("got %s", got)
	}
	// Characters XML cannot carry are replaced.
	bad := NewElement("a", "x\x00y\xffz\uFFFE").SetAttr("v", "\x1b")
	if got := bad.String(); got != "<a v=\"\uFFFD\">x\uFFFDy\uFFFDz\uFFFD</a>" {
		t.Fatalf("got %q", got)
	}
	mustParse(t, bad.String())
}

func TestParseElementErrors(t *testing.T) {
	tests := []struct {
		in, reason string
	}{
		{``, "no element"},
		{`  <!-- c -->  `, "no element"},
		{`<a/><b/>`, "second element after the stanza"},
		{`<a/>x`, "text outside the element"},
		{`x<a/>`, "text outside the element"},
		{`<!DOCTYPE a><a/>`, "DTD or directive not allowed"},
		{`<a>`, "syntax error"},
		{`<a></b>`, "syntax error"},
		{`<a>&x;</a>`, "syntax error"},
		{"<a>\x01</a>", "syntax error"},
		{"<a>\xff</a>", "syntax error"},
		{`<a><!-- unterminated </a>`, "syntax error"},
		{strings.Repeat("<a>", MaxDepth+1), "nesting deeper than MaxDepth"},
	}
	for _, tt := range tests {
		_, err := ParseElement([]byte(tt.in))
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != tt.reason || de.Fatal {
			t.Errorf("%q: got %v, want %s", tt.in, err, tt.reason)
		}
	}
	if _, err := ParseElement([]byte(strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth))); err != nil {
		t.Fatalf("MaxDepth levels: %v", err)
	}
}

func TestStripComments(t *testing.T) {
	tests := []struct{ in, want string }{
		{`a<!--x-->b`, `ab`},
		{`<![CDATA[<!--x-->]]><!--y-->`, `<![CDATA[<!--x-->]]>`},
		{`<!-- a --->`, ``},
		{`<!-- open`, `<!-- open`},
		{`<![CDATA[ open`, `<![CDATA[ open`},
		{`<a><b>`, `<a><b>`},
	}
	for _, tt := range tests {
		if got := string(stripComments([]byte(tt.in))); got != tt.want {
			t.Errorf("%q: got %q", tt.in, got)
		}
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	e := &DecodeError{Element: "iq/pubsub/publish", Attr: "node", Reason: "missing", Offset: -1}
	if got := e.Error(); got != `xmpp: decode iq/pubsub/publish attribute node: missing` {
		t.Fatalf("got %s", got)
	}
	e = errAt("label", "invalid integer", strings.Repeat("9", 100))
	e.Offset, e.Err = 42, errors.New("boom")
	want := `xmpp: decode label: invalid integer "` + strings.Repeat("9", 64) + `..." at offset 42: boom`
	if got := e.Error(); got != want {
		t.Fatalf("got %s", got)
	}
	e.Value = ""
	if !errors.Is(e, e.Err) {
		t.Fatal("Unwrap")
	}
	if FrameIQ.String() != "iq" || FrameKind(99).String() != "unknown" {
		t.Fatal("FrameKind.String")
	}
}
