// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"errors"
	"io"
)

// FrameKind says what a Frame holds.
type FrameKind uint8

// Frame kinds returned by Reader.Next.
const (
	FrameHeader      FrameKind = iota + 1 // stream open: Frame.Header
	FrameKeepalive                        // one or more U+0200 keepalives: Frame.Keepalives
	FrameIQ                               // <iq>: Frame.Elem (see DecodeIQ)
	FrameMessage                          // <message>: Frame.Elem (see DecodeMessage)
	FrameFeatures                         // <stream:features>: Frame.Elem and Frame.Features
	FrameStartTLS                         // <starttls/>: Frame.Elem
	FrameProceed                          // <proceed/>: Frame.Elem
	FrameStreamError                      // <stream:error>: Frame.Elem
	FrameElement                          // any other top-level element: Frame.Elem
	FrameClose                            // </stream:stream>
)

var frameKindNames = [...]string{
	FrameHeader: "header", FrameKeepalive: "keepalive", FrameIQ: "iq", FrameMessage: "message",
	FrameFeatures: "features", FrameStartTLS: "starttls", FrameProceed: "proceed",
	FrameStreamError: "stream-error", FrameElement: "element", FrameClose: "close",
}

// String returns a short lower-case name of k.
func (k FrameKind) String() string {
	if int(k) < len(frameKindNames) && frameKindNames[k] != "" {
		return frameKindNames[k]
	}
	return "unknown"
}

// Frame is one unit of the XMPP byte stream.
type Frame struct {
	Kind       FrameKind
	Header     *StreamHeader   // FrameHeader
	Features   *StreamFeatures // FrameFeatures
	Keepalives int             // FrameKeepalive: number of U+0200 characters
	Elem       *Element        // every element frame
	// Raw is the exact bytes of the header, stanza or close tag. It aliases
	// the Reader's buffer and is valid only until the next call to Next.
	Raw []byte
	// Offset is the stream offset of the first byte of Raw (for keepalives,
	// of the last keepalive byte read).
	Offset int64
}

const readChunk = 4096 // the original's kMaxMessageSize

// Reader splits an XMPP byte stream into frames: the stream header,
// keepalives, stanzas and the stream close. It reads the stream with its own
// XML-aware scanner (quotes, comments, CDATA and processing instructions are
// honoured), so a stanza is complete when its root element closes and a
// keepalive is reported as soon as it is read, without waiting for the next
// '<' the way encoding/xml's Decoder.Token would. Each complete stanza is
// then parsed with ParseElement.
//
// Between stanzas Reader accepts space, tab, CR, LF (the original's
// sXMPP_VALIDWS), U+0200 keepalives, XML declarations and other processing
// instructions (the original repeats <?xml version="1.0"?> before stanzas)
// and comments. Anything else there is a fatal *DecodeError.
//
// Reader holds at most about maxStanza+4 KiB of input. A stanza, or a
// header, longer than maxStanza bytes stops it with *StanzaTooLargeError.
// After a fatal error (Fatal DecodeError, StanzaTooLargeError, an error from
// the underlying reader) every call returns the same error. A stanza that is
// framed correctly but does not parse returns a non-fatal *DecodeError, with
// Frame.Raw set, and the next call goes on with the next stanza.
//
// A Reader starts no goroutines and does not log. It is not safe for
// concurrent use. After <proceed/> (STARTTLS) the peer sends nothing more in
// clear text; check Buffered() == 0 and make a new Reader on the TLS conn.
type Reader struct {
	src  io.Reader
	max  int
	buf  []byte
	r, w int   // buf[r:w] is unread input
	off  int64 // stream offset of buf[0]
	rerr error // error returned by src, reported when its data is used up
	err  error // sticky fatal error
	sc   scanner

	// RawMessages, when set, makes Next return <message> stanzas without
	// parsing them: Frame.Elem is nil and only Frame.Raw is set. For
	// consumers that scan messages themselves (load generators).
	RawMessages bool
}

// NewReader returns a Reader on r that refuses stanzas longer than
// maxStanza bytes; maxStanza <= 0 means DefaultMaxStanza, and values above
// 1 GiB are taken as 1 GiB.
func NewReader(r io.Reader, maxStanza int) *Reader {
	if maxStanza <= 0 {
		maxStanza = DefaultMaxStanza
	}
	maxStanza = min(maxStanza, 1<<30)
	return &Reader{src: r, max: maxStanza, buf: make([]byte, readChunk)}
}

// Buffered returns the number of bytes read from the underlying reader and
// not yet returned in a frame.
func (r *Reader) Buffered() int { return r.w - r.r }

// Offset returns the stream offset of the next unread byte.
func (r *Reader) Offset() int64 { return r.off + int64(r.r) }

// Next returns the next frame. At the end of the input it returns io.EOF if
// the stream ended between frames, and a fatal *DecodeError wrapping
// io.ErrUnexpectedEOF if it ended inside one.
func (r *Reader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	keep := 0
	for {
		if !r.sc.active {
			if r.r == r.w {
				if keep > 0 {
					return r.keepalive(keep), nil
				}
				if err := r.fill(); err != nil {
					return Frame{}, r.fail(err)
				}
				continue
			}
			switch c := r.buf[r.r]; c {
			case ' ', '\t', '\r', '\n':
				r.r++
				continue
			case Keepalive[0]:
				if r.r+1 == r.w {
					if keep > 0 {
						return r.keepalive(keep), nil
					}
					if err := r.fill(); err != nil {
						if err == io.EOF {
							err = r.fatal("", "stream ended inside a keepalive", "", io.ErrUnexpectedEOF)
						}
						return Frame{}, r.fail(err)
					}
					continue
				}
				if r.buf[r.r+1] != Keepalive[1] {
					return Frame{}, r.fail(r.fatal("", "unexpected bytes between stanzas", string(r.buf[r.r:r.r+2]), nil))
				}
				keep++
				r.r += 2
				continue
			case '<':
				if keep > 0 {
					return r.keepalive(keep), nil
				}
				r.sc = scanner{active: true, start: r.r, pos: r.r + 1, state: sLT}
			default:
				end := min(r.r+16, r.w)
				return Frame{}, r.fail(r.fatal("", "unexpected text between stanzas", string(r.buf[r.r:end]), nil))
			}
		}

		done, err := r.sc.scan(r.buf[:r.w])
		if err != nil {
			err.Offset = r.off + int64(r.sc.start)
			err.Fatal = true
			return Frame{}, r.fail(err)
		}
		if n := r.sc.pos - r.sc.start; n > r.max {
			return Frame{}, r.fail(&StanzaTooLargeError{Element: r.sc.name, Limit: r.max, Offset: r.off + int64(r.sc.start)})
		}
		if !done {
			if err := r.fill(); err != nil {
				if err == io.EOF {
					what := "stream ended inside a stanza"
					if r.sc.name != "" {
						what = "stream ended inside <" + r.sc.name + ">"
					}
					err = r.fatal(r.sc.name, what, "", io.ErrUnexpectedEOF)
					err.(*DecodeError).Offset = r.off + int64(r.sc.start)
				}
				return Frame{}, r.fail(err)
			}
			continue
		}
		if f, ok, err := r.unit(); ok {
			return f, err
		}
	}
}

// unit turns the scanned unit into a frame; ok is false for units that are
// skipped (declarations, comments).
func (r *Reader) unit() (Frame, bool, error) {
	sc := &r.sc
	raw := r.buf[sc.start:sc.pos]
	f := Frame{Raw: raw, Offset: r.off + int64(sc.start)}
	r.r = sc.pos
	sc.active = false
	switch sc.kind {
	case unitSkip:
		return Frame{}, false, nil
	case unitClose:
		if localPart(sc.name) != "stream" {
			return Frame{}, true, r.fail(&DecodeError{Element: sc.name, Reason: "end tag without a start tag", Offset: f.Offset, Fatal: true})
		}
		f.Kind = FrameClose
		return f, true, nil
	case unitHeader:
		h, err := ParseStreamHeader(raw)
		if err != nil {
			de := err.(*DecodeError)
			de.Offset = f.Offset
			return f, true, de
		}
		f.Kind = FrameHeader
		f.Header = h
		return f, true, nil
	}
	if r.RawMessages && localPart(sc.name) == "message" {
		f.Kind = FrameMessage
		return f, true, nil
	}
	el, err := ParseElement(raw)
	if err != nil {
		de := err.(*DecodeError)
		de.Offset = f.Offset
		return f, true, de
	}
	f.Elem = el
	switch el.Name.Local {
	case "iq":
		f.Kind = FrameIQ
	case "message":
		f.Kind = FrameMessage
	case "features":
		f.Kind = FrameFeatures
		f.Features = decodeFeatures(el)
	case "starttls":
		f.Kind = FrameStartTLS
	case "proceed":
		f.Kind = FrameProceed
	case "error":
		f.Kind = FrameStreamError
	default:
		f.Kind = FrameElement
	}
	return f, true, nil
}

func (r *Reader) keepalive(n int) Frame {
	return Frame{Kind: FrameKeepalive, Keepalives: n, Offset: r.off + int64(r.r) - 1}
}

func (r *Reader) fatal(el, reason, value string, err error) error {
	return &DecodeError{Element: el, Reason: reason, Value: shorten(value), Offset: r.off + int64(r.r), Fatal: true, Err: err}
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// fill reads more input, first making room: consumed bytes are dropped and
// the buffer grows, up to max+readChunk, while a unit is being scanned.
func (r *Reader) fill() error {
	if r.rerr != nil {
		return r.rerr
	}
	keepFrom := r.r
	if r.sc.active {
		keepFrom = r.sc.start
	}
	if keepFrom > 0 {
		n := copy(r.buf, r.buf[keepFrom:r.w])
		r.off += int64(keepFrom)
		r.w = n
		r.r -= keepFrom
		if r.sc.active {
			r.sc.shift(keepFrom)
		}
	}
	if r.w == len(r.buf) {
		limit := r.max + readChunk
		size := 2 * len(r.buf)
		if size > limit {
			size = limit
		}
		if size <= len(r.buf) {
			// Unreachable: Next fails a unit longer than max first.
			return &StanzaTooLargeError{Element: r.sc.name, Limit: r.max, Offset: r.off}
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	for tries := 0; ; tries++ {
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			return errors.New("xmpp: invalid read count from underlying reader")
		}
		r.w += n
		if err != nil {
			r.rerr = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
		if tries >= 100 {
			return io.ErrNoProgress
		}
	}
}

// Scanner states.
type scanState uint8

const (
	sLT      scanState = iota // just after '<'
	sName                     // in the name of a start or end tag
	sTag                      // in a start tag after its name
	sQuote                    // in a quoted attribute value
	sEndTag                   // in an end tag after its name
	sText                     // in element content
	sPI                       // in <? ... ?>
	sBang                     // just after "<!"
	sComment                  // in <!-- ... -->
	sCDATA                    // in <![CDATA[ ... ]]>
)

type unitKind uint8

const (
	unitElement unitKind = iota // a stanza
	unitHeader                  // <stream:stream ...>
	unitClose                   // </stream:stream>
	unitSkip                    // top-level PI or comment
)

// scanner finds the end of one top-level unit that starts with '<'. It only
// tracks what is needed to find the end (depth, quotes, comments, CDATA,
// PIs); well-formedness is left to ParseElement.
type scanner struct {
	active    bool
	start     int // index in buf of the unit's '<'
	pos       int // next index to examine
	state     scanState
	depth     int
	quote     byte
	prev      byte // previous byte inside a tag, to spot "/>" and "?>"
	run       int  // consecutive '-' in a comment or ']' in CDATA
	end       bool // the current tag is an end tag
	nameStart int
	name      string // qualified name of the unit's root tag
	kind      unitKind
}

func (s *scanner) shift(n int) {
	s.start -= n
	s.pos -= n
	s.nameStart -= n
}

// scan advances over buf[s.pos:]. It returns true when the unit is complete
// (s.pos is then just past it).
func (s *scanner) scan(buf []byte) (bool, *DecodeError) {
	for s.pos < len(buf) {
		c := buf[s.pos]
		switch s.state {
		case sText:
			i := bytes.IndexByte(buf[s.pos:], '<')
			if i < 0 {
				s.pos = len(buf)
				return false, nil
			}
			s.pos += i + 1
			s.state = sLT
			continue
		case sLT:
			switch {
			case c == '/':
				s.end = true
				s.state = sName
				s.nameStart = s.pos + 1
			case c == '?':
				s.state = sPI
				s.prev = 0
			case c == '!':
				s.state = sBang
			case c == ':' || c == '_' || c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z'):
				s.end = false
				s.state = sName
				s.nameStart = s.pos
			default:
				return false, errAt(s.name, "invalid character after '<'", string(c))
			}
		case sName:
			switch c {
			case ' ', '\t', '\r', '\n', '/', '>':
				if s.depth == 0 && s.name == "" {
					s.name = string(buf[s.nameStart:s.pos])
				}
				if s.end {
					s.state = sEndTag
				} else {
					s.state = sTag
					s.prev = 0
				}
				continue // look at c again in the new state
			case '<', '"', '\'', '=':
				return false, errAt(s.name, "invalid character in a tag name", string(c))
			}
		case sTag:
			switch c {
			case '"', '\'':
				s.state = sQuote
				s.quote = c
			case '<':
				return false, errAt(s.name, "'<' inside a tag", "")
			case '>':
				selfClose := s.prev == '/'
				s.pos++
				if s.depth == 0 && isStreamTag(s.name) {
					s.kind = unitHeader
					return true, nil
				}
				if selfClose {
					if s.depth == 0 {
						s.kind = unitElement
						return true, nil
					}
				} else {
					s.depth++
				}
				s.state = sText
				continue
			}
			s.prev = c
		case sQuote:
			if i := bytes.IndexByte(buf[s.pos:], s.quote); i >= 0 {
				s.pos += i
				s.state = sTag
				s.prev = s.quote
			} else {
				s.pos = len(buf)
				return false, nil
			}
		case sEndTag:
			switch c {
			case '>':
				s.pos++
				s.depth--
				if s.depth < 0 {
					s.kind = unitClose
					return true, nil
				}
				if s.depth == 0 {
					s.kind = unitElement
					return true, nil
				}
				s.state = sText
				continue
			case '<', '"', '\'', '=', '/':
				return false, errAt(s.name, "invalid character in an end tag", string(c))
			}
		case sPI:
			if c == '>' && s.prev == '?' {
				s.pos++
				if s.depth == 0 {
					s.kind = unitSkip
					return true, nil
				}
				s.state = sText
				continue
			}
			s.prev = c
		case sBang:
			rest := buf[s.pos:]
			switch {
			case hasPrefixOrIsPrefix(rest, "--"):
				if len(rest) < 2 {
					return false, nil
				}
				s.pos += 2
				s.state = sComment
				s.run = 0
				continue
			case s.depth > 0 && hasPrefixOrIsPrefix(rest, "[CDATA["):
				if len(rest) < 7 {
					return false, nil
				}
				s.pos += 7
				s.state = sCDATA
				s.run = 0
				continue
			default:
				return false, errAt(s.name, "DTD or directive not allowed", string(rest[:min(len(rest), 16)]))
			}
		case sComment:
			switch {
			case c == '-':
				s.run++
			case c == '>' && s.run >= 2:
				s.pos++
				if s.depth == 0 {
					s.kind = unitSkip
					return true, nil
				}
				s.state = sText
				continue
			default:
				s.run = 0
			}
		case sCDATA:
			switch {
			case c == ']':
				s.run++
			case c == '>' && s.run >= 2:
				s.state = sText
			default:
				s.run = 0
			}
		}
		s.pos++
	}
	return false, nil
}

// hasPrefixOrIsPrefix reports whether b starts with p or is a (possibly
// empty) prefix of p, i.e. more input could still make it start with p.
func hasPrefixOrIsPrefix(b []byte, p string) bool {
	if len(b) >= len(p) {
		return string(b[:len(p)]) == p
	}
	return string(b) == p[:len(b)]
}

// isStreamTag reports whether a qualified tag name is the stream element
// ("stream:stream", or "stream" with any or no prefix).
func isStreamTag(name string) bool { return localPart(name) == "stream" }

func localPart(qname string) string {
	for i := len(qname) - 1; i >= 0; i-- {
		if qname[i] == ':' {
			return qname[i+1:]
		}
	}
	return qname
}
