// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"testing"
)

func TestStreamHeaderEncode(t *testing.T) {
	tests := []struct {
		name string
		h    StreamHeader
		want string
	}{
		{
			name: "agent open",
			h:    StreamHeader{From: "host1", To: ControlNodeJID},
			want: "<?xml version='1.0'?><stream:stream from='host1' to='network-control@contrailsystems.com' version='1.0' xml:lang='en' xmlns='' xmlns:stream='http://etherx.jabber.org/streams' >",
		},
		{
			name: "server reply with id",
			h:    StreamHeader{From: ControlNodeJID, To: "host1", ID: "++123", XMLNS: "sub1"},
			want: "<?xml version='1.0'?><stream:stream from='network-control@contrailsystems.com' to='host1' id='++123' version='1.0' xml:lang='en' xmlns='sub1' xmlns:stream='http://etherx.jabber.org/streams' >",
		},
		{
			name: "escaping",
			h:    StreamHeader{From: "a'b", To: `c"<&`},
			want: "<?xml version='1.0'?><stream:stream from='a&apos;b' to='c\"&lt;&amp;' version='1.0' xml:lang='en' xmlns='' xmlns:stream='http://etherx.jabber.org/streams' >",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.h.Encode())
			if got != tt.want {
				t.Fatalf("Encode:\n got %s\nwant %s", got, tt.want)
			}
			back, err := ParseStreamHeader([]byte(got))
			if err != nil {
				t.Fatal(err)
			}
			if *back != tt.h {
				t.Fatalf("round trip: got %+v want %+v", *back, tt.h)
			}
		})
	}
}

func TestParseStreamHeaderTolerant(t *testing.T) {
	want := StreamHeader{From: "dummyserver", To: "dummycl", ID: "++123", XMLNS: "jabber:client"}
	inputs := []string{
		// The original's template, self-closed.
		"<?xml version='1.0'?><stream:stream from='dummyserver' to='dummycl' id='++123' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>",
		// Double quotes, other order, leading whitespace and keepalive.
		" \n" + Keepalive + `<?xml version="1.0"?>` + "\n" + `<stream:stream xmlns:stream="http://etherx.jabber.org/streams" xmlns="jabber:client" id="++123" to="dummycl" from="dummyserver">`,
		// No declaration, " >" ending, a comment before.
		"<!-- hello --><stream:stream to='dummycl' from='dummyserver' id='++123' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' >",
	}
	for _, in := range inputs {
		h, err := ParseStreamHeader([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if *h != want {
			t.Fatalf("%q: got %+v", in, *h)
		}
	}
	bad := []string{"", "<iq/>", "hello <stream:stream>", "<stream:stream from='a>", "<!DOCTYPE x><stream:stream>"}
	for _, in := range bad {
		if _, err := ParseStreamHeader([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		} else if _, ok := err.(*DecodeError); !ok {
			t.Errorf("%q: error %T, want *DecodeError", in, err)
		}
	}
}

func TestStreamFeatures(t *testing.T) {
	f := &StreamFeatures{StartTLS: true, TLSRequired: true}
	want := "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
	if got := string(f.Marshal()); got != want {
		t.Fatalf("got %s", got)
	}
	for _, ff := range []StreamFeatures{{}, {StartTLS: true}, {StartTLS: true, TLSRequired: true}} {
		el := mustParse(t, string(ff.Marshal()))
		back, err := DecodeFeatures(el)
		if err != nil || *back != ff {
			t.Fatalf("round trip %+v: %+v %v", ff, back, err)
		}
	}
}
