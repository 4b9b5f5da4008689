// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

type wantFrame struct {
	kind FrameKind
	keep int
	name string // root element local name
	raw  string
}

// sampleStream is a client-side view of a session: the server's header,
// keepalives, declarations before stanzas, every stanza kind, the close.
func sampleStream() (string, []wantFrame) {
	hdr := string((&StreamHeader{From: ControlNodeJID, To: "host1", ID: "++123"}).Encode())
	features := string((&StreamFeatures{StartTLS: true, TLSRequired: true}).Marshal())
	sub := string(NewSubscribe("host1", "subscribe1", "default-domain:p:vn1:vn1", 3).Marshal())
	upd := (&Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: "1/1/default-domain:p:vn1:vn1",
		Items:    []Item{{ID: "10.1.1.1/32", Entry: sampleUnicast()}},
		Retracts: []string{"10.1.1.2/32"}}).Marshal()
	cfg := string(sampleConfig().Marshal())
	odd := `<x:thing xmlns:x="urn:x" a='1 > 0' b="&lt;![CDATA[">` + "<![CDATA[ </x:thing> <!-- ]]>" + `<?pi ?>` + "<!-- </x:thing> -->" + `<y/></x:thing>`
	var sb strings.Builder
	var want []wantFrame
	add := func(sep, raw string, kind FrameKind, name string) {
		sb.WriteString(sep)
		sb.WriteString(raw)
		want = append(want, wantFrame{kind: kind, name: name, raw: raw})
	}
	decl, hdrTag, _ := strings.Cut(hdr, "?>")
	add(decl+"?>", hdrTag, FrameHeader, "") // Raw is the tag without the declaration
	sb.WriteString(strings.Repeat(Keepalive, 3))
	want = append(want, wantFrame{kind: FrameKeepalive, keep: 3})
	add("\n<?xml version=\"1.0\"?>\n", features, FrameFeatures, "features")
	add("", StartTLS, FrameStartTLS, "starttls")
	add("\r\n\t ", Proceed, FrameProceed, "proceed")
	add(`<?xml version="1.0"?>`, sub, FrameIQ, "iq")
	sb.WriteString(Keepalive)
	want = append(want, wantFrame{kind: FrameKeepalive, keep: 1})
	add("<?xml version='1.0'?>\n<!-- a comment -->\n", string(upd), FrameMessage, "message")
	add("\n", cfg, FrameIQ, "iq")
	add("", odd, FrameElement, "thing")
	add("  ", "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", FrameStreamError, "error")
	sb.WriteString(Keepalive + Keepalive)
	want = append(want, wantFrame{kind: FrameKeepalive, keep: 2})
	add("", StreamClose, FrameClose, "")
	sb.WriteString("\n")
	return sb.String(), want
}

// readAll reads frames until an error, merging adjacent keepalive frames
// (how many keepalives one frame carries depends on read boundaries).
func readAll(t *testing.T, r *Reader) ([]wantFrame, error) {
	t.Helper()
	var got []wantFrame
	for {
		f, err := r.Next()
		if err != nil {
			return got, err
		}
		w := wantFrame{kind: f.Kind, keep: f.Keepalives, raw: string(f.Raw)}
		if f.Elem != nil {
			w.name = f.Elem.Name.Local
		}
		switch f.Kind {
		case FrameHeader:
			if f.Header == nil || f.Header.ID != "++123" {
				t.Fatalf("header frame without header: %+v", f)
			}
		case FrameKeepalive:
			if f.Keepalives < 1 || f.Raw != nil {
				t.Fatalf("bad keepalive frame %+v", f)
			}
			if n := len(got); n > 0 && got[n-1].kind == FrameKeepalive {
				got[n-1].keep += f.Keepalives
				continue
			}
		case FrameFeatures:
			if f.Features == nil || !f.Features.TLSRequired {
				t.Fatalf("features frame: %+v", f.Features)
			}
		case FrameClose:
		default:
			if f.Elem == nil {
				t.Fatalf("element frame without element: %+v", f)
			}
			// The element must re-encode to something that parses the same.
			again := mustParse(t, string(f.Elem.Marshal()))
			if !elemEqual(again, f.Elem) {
				t.Fatalf("re-encoded %s differs:\n%s", f.Kind, f.Elem.Marshal())
			}
		}
		got = append(got, w)
	}
}

func checkFrames(t *testing.T, got, want []wantFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestReaderStream(t *testing.T) {
	stream, want := sampleStream()
	t.Run("whole", func(t *testing.T) {
		got, err := readAll(t, NewReader(strings.NewReader(stream), 0))
		if err != io.EOF {
			t.Fatalf("end: %v", err)
		}
		checkFrames(t, got, want)
	})
	t.Run("one byte at a time", func(t *testing.T) {
		got, err := readAll(t, NewReader(&oneByteReader{b: []byte(stream)}, 0))
		if err != io.EOF {
			t.Fatalf("end: %v", err)
		}
		checkFrames(t, got, want)
	})
	t.Run("every split point", func(t *testing.T) {
		for i := 0; i <= len(stream); i++ {
			cr := &chunkReader{chunks: [][]byte{[]byte(stream[:i]), []byte(stream[i:])}}
			got, err := readAll(t, NewReader(cr, 0))
			if err != io.EOF {
				t.Fatalf("split %d: end: %v", i, err)
			}
			checkFrames(t, got, want)
		}
	})
	t.Run("small limit that fits", func(t *testing.T) {
		longest := 0
		for _, w := range want {
			longest = max(longest, len(w.raw))
		}
		got, err := readAll(t, NewReader(&oneByteReader{b: []byte(stream)}, longest))
		if err != io.EOF {
			t.Fatalf("end: %v", err)
		}
		checkFrames(t, got, want)
	})
}

var errWouldBlock = errors.New("test: read would block")

// A keepalive must be reported as soon as it is read, without waiting for
// more input: the hold timer depends on it.
func TestReaderKeepaliveDoesNotWait(t *testing.T) {
	hdr := (&StreamHeader{From: "a", To: "b"}).Encode()
	cr := &chunkReader{chunks: [][]byte{hdr, []byte(Keepalive), []byte(Keepalive[:1]), []byte(Keepalive[1:] + Keepalive)}, err: errWouldBlock}
	r := NewReader(cr, 0)
	if f, err := r.Next(); err != nil || f.Kind != FrameHeader {
		t.Fatalf("header: %+v %v", f, err)
	}
	total := 0
	for total < 3 {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("after %d keepalives: %v", total, err)
		}
		if f.Kind != FrameKeepalive {
			t.Fatalf("got %v", f.Kind)
		}
		total += f.Keepalives
	}
	if total != 3 {
		t.Fatalf("keepalives: %d", total)
	}
	if _, err := r.Next(); err != errWouldBlock {
		t.Fatalf("got %v, want the reader's error", err)
	}
	// The underlying error is final.
	if _, err := r.Next(); err != errWouldBlock {
		t.Fatalf("second call: %v", err)
	}
}

func TestReaderTooLarge(t *testing.T) {
	const limit = 200
	big := `<iq type="set">` + strings.Repeat("x", 300) + `</iq>`
	exact := `<iq>` + strings.Repeat("y", limit-len("<iq></iq>")) + `</iq>`
	tests := []struct {
		name    string
		in      string
		okFirst int // frames before the error
		elem    string
	}{
		{"stanza", exact + big, 1, "iq"},
		{"no end in sight", `<message to="x">` + strings.Repeat("z", 100000), 0, "message"},
		{"header", "<stream:stream from='" + strings.Repeat("h", 300) + "'>", 0, "stream:stream"},
		{"long tag name", "<" + strings.Repeat("n", 300), 0, ""},
		{"attribute value", `<iq a="` + strings.Repeat("v", 300) + `"/>`, 0, "iq"},
		{"comment", "<!--" + strings.Repeat("c", 300) + "-->", 0, ""},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/onebyte=%v", tt.name, oneByte), func(t *testing.T) {
				var src io.Reader = strings.NewReader(tt.in)
				if oneByte {
					src = &oneByteReader{b: []byte(tt.in)}
				}
				r := NewReader(src, limit)
				for i := 0; i < tt.okFirst; i++ {
					if _, err := r.Next(); err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
				}
				_, err := r.Next()
				var tl *StanzaTooLargeError
				if !errors.As(err, &tl) || !errors.Is(err, ErrStanzaTooLarge) {
					t.Fatalf("got %v, want StanzaTooLargeError", err)
				}
				if tl.Limit != limit || tl.Element != tt.elem {
					t.Fatalf("error fields: %+v", tl)
				}
				if !strings.Contains(err.Error(), "exceeds 200 bytes") {
					t.Fatalf("message: %v", err)
				}
				if len(r.buf) > limit+readChunk {
					t.Fatalf("buffer grew to %d", len(r.buf))
				}
				if _, err2 := r.Next(); err2 != err {
					t.Fatalf("error not sticky: %v", err2)
				}
			})
		}
	}
}

func TestReaderErrors(t *testing.T) {
	hdr := string((&StreamHeader{From: "a", To: "b"}).Encode())
	tests := []struct {
		name   string
		in     string
		frames int  // good frames before the error
		fatal  bool // the error is fatal (and sticky)
		reason string
		isEOF  bool // the error wraps io.ErrUnexpectedEOF
	}{
		{"text between stanzas", hdr + "hello<iq/>", 1, true, "unexpected text between stanzas", false},
		{"bad keepalive", hdr + "\xc8\x81", 1, true, "unexpected bytes between stanzas", false},
		{"truncated keepalive", hdr + "\xc8", 1, true, "stream ended inside a keepalive", true},
		{"truncated stanza", hdr + "<iq type='set'><pubsub>", 1, true, "stream ended inside <iq>", true},
		{"truncated tag", hdr + "<message to='", 1, true, "stream ended inside <message>", true},
		{"doctype", "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", 0, true, "DTD or directive not allowed", false},
		{"stray end tag", "<a/></iq>", 1, true, "end tag without a start tag", false},
		{"bad start", "< iq/>", 0, true, "invalid character after '<'", false},
		{"lt in tag", "<iq <x/>", 0, true, "'<' inside a tag", false},
		{"mismatched end tag", "<iq></message><a/>", 0, false, "syntax error", false},
		{"undefined entity", "<iq>&nbsp;</iq><a/>", 0, false, "syntax error", false},
		{"deep nesting", strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1) + "<a/>", 0, false, "nesting deeper than MaxDepth", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), 0)
			for i := 0; i < tt.frames; i++ {
				if _, err := r.Next(); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			f, err := r.Next()
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want *DecodeError", err)
			}
			if de.Fatal != tt.fatal || de.Reason != tt.reason || de.Offset < 0 {
				t.Fatalf("got %+v", de)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != tt.isEOF {
				t.Fatalf("ErrUnexpectedEOF: %v", err)
			}
			next, err2 := r.Next()
			if tt.fatal {
				if err2 != err {
					t.Fatalf("fatal error not sticky: %v", err2)
				}
				return
			}
			if len(f.Raw) == 0 {
				t.Fatalf("non-fatal error without Raw")
			}
			if err2 != nil || next.Elem == nil || next.Elem.Name.Local != "a" {
				t.Fatalf("after a non-fatal error: %+v %v", next, err2)
			}
		})
	}
}

func TestReaderProceedLeavesNothingBuffered(t *testing.T) {
	hdr := (&StreamHeader{From: "a", To: "b"}).Encode()
	in := append(hdr, Proceed...)
	r := NewReader(&chunkReader{chunks: [][]byte{in}, err: errWouldBlock}, 0)
	for _, k := range []FrameKind{FrameHeader, FrameProceed} {
		f, err := r.Next()
		if err != nil || f.Kind != k {
			t.Fatalf("got %+v %v, want %v", f, err, k)
		}
	}
	if r.Buffered() != 0 {
		t.Fatalf("buffered %d", r.Buffered())
	}
	if r.Offset() != int64(len(in)) {
		t.Fatalf("offset %d", r.Offset())
	}
}

func TestReaderOffsets(t *testing.T) {
	stream, _ := sampleStream()
	r := NewReader(&oneByteReader{b: []byte(stream)}, 0)
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Raw != nil && !bytes.Equal([]byte(stream[f.Offset:f.Offset+int64(len(f.Raw))]), f.Raw) {
			t.Fatalf("offset %d does not point at %q", f.Offset, f.Raw)
		}
	}
}

// zeroReader returns no data and no error.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	if _, err := NewReader(zeroReader{}, 0).Next(); err != io.ErrNoProgress {
		t.Fatalf("got %v", err)
	}
}

// endless returns an endless stanza: "<iq>" then 'a' forever.
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	if !e.started {
		n = copy(p, "<iq>")
		e.started = true
	}
	for i := n; i < len(p); i++ {
		p[i] = 'a'
	}
	return len(p), nil
}

// A peer that never ends its stanza costs the limit, not more.
func TestReaderAllocationBounded(t *testing.T) {
	const limit = 64 << 10
	var err error
	allocs := testing.AllocsPerRun(5, func() {
		_, err = NewReader(&endless{}, limit).Next()
	})
	if !errors.Is(err, ErrStanzaTooLarge) {
		t.Fatalf("got %v", err)
	}
	if allocs > 20 {
		t.Fatalf("%v allocations", allocs)
	}
	var ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	NewReader(&endless{}, limit).Next()
	runtime.ReadMemStats(&ms2)
	if used := ms2.TotalAlloc - ms1.TotalAlloc; used > 3*(limit+readChunk) {
		t.Fatalf("allocated %d bytes for a limit of %d", used, limit)
	}
}
