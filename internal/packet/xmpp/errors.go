// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"errors"
	"strconv"
)

// ErrStanzaTooLarge is matched by every *StanzaTooLargeError (errors.Is).
var ErrStanzaTooLarge = errors.New("xmpp: stanza too large")

// DecodeError reports input the codec cannot accept and says where: the
// element path, the attribute if any, and the offending value.
//
// Fatal is set when the byte stream itself is broken (bad framing, text
// between stanzas, a truncated stanza): the Reader cannot find the next
// stanza and the session must be closed. Errors from a well-framed stanza
// whose content is bad (malformed XML inside it, a non-numeric <label>, a
// missing node attribute) are not fatal: the Reader stays usable and the
// session owner may log the error and drop the stanza, as the original does
// for most malformed messages, or close the session.
type DecodeError struct {
	Element string // slash-separated element path, e.g. "iq/pubsub/publish/item/entry/med"
	Attr    string // attribute name when the fault is in an attribute
	Value   string // offending value, shortened to 64 bytes; "" when missing
	Reason  string // what is wrong: "missing", "invalid integer", "syntax error", ...
	Offset  int64  // byte offset in the stream of the stanza start; -1 when unknown
	Fatal   bool   // the stream is out of sync; close the session
	Err     error  // underlying error (strconv, encoding/xml), if any
}

// Error implements error.
func (e *DecodeError) Error() string {
	b := []byte("xmpp: decode")
	if e.Element != "" {
		b = append(b, ' ')
		b = append(b, e.Element...)
	}
	if e.Attr != "" {
		b = append(b, " attribute "...)
		b = append(b, e.Attr...)
	}
	b = append(b, ": "...)
	b = append(b, e.Reason...)
	if e.Value != "" {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, e.Value)
	}
	if e.Offset >= 0 {
		b = append(b, " at offset "...)
		b = strconv.AppendInt(b, e.Offset, 10)
	}
	if e.Err != nil {
		b = append(b, ": "...)
		b = append(b, e.Err.Error()...)
	}
	return string(b)
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// StanzaTooLargeError is returned by Reader.Next when a stanza (or the run of
// bytes between two stanzas) exceeds the Reader's limit. The Reader stops at
// that point and returns the same error from then on; close the session.
type StanzaTooLargeError struct {
	Element string // name of the element being read, "" if not yet known
	Limit   int    // the Reader's limit in bytes
	Offset  int64  // byte offset in the stream where the stanza started
}

// Error implements error.
func (e *StanzaTooLargeError) Error() string {
	b := []byte("xmpp: stanza ")
	if e.Element != "" {
		b = append(b, '<')
		b = append(b, e.Element...)
		b = append(b, "> "...)
	}
	b = append(b, "at offset "...)
	b = strconv.AppendInt(b, e.Offset, 10)
	b = append(b, " exceeds "...)
	b = strconv.AppendInt(b, int64(e.Limit), 10)
	b = append(b, " bytes"...)
	return string(b)
}

// Is makes errors.Is(err, ErrStanzaTooLarge) true.
func (e *StanzaTooLargeError) Is(target error) bool { return target == ErrStanzaTooLarge }

// errAt builds a non-fatal DecodeError for element el.
func errAt(el, reason, value string) *DecodeError {
	return &DecodeError{Element: el, Reason: reason, Value: shorten(value), Offset: -1}
}

// errAttr builds a non-fatal DecodeError for attribute attr of element el.
func errAttr(el, attr, reason, value string) *DecodeError {
	return &DecodeError{Element: el, Attr: attr, Reason: reason, Value: shorten(value), Offset: -1}
}

// within prefixes the element path of a *DecodeError with parent; other
// errors are returned unchanged. Decoders build paths bottom-up this way so
// that the happy path never concatenates strings.
func within(parent string, err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		if de.Element == "" {
			de.Element = parent
		} else {
			de.Element = parent + "/" + de.Element
		}
	}
	return err
}

func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
