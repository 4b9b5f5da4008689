// SPDX-License-Identifier: Apache-2.0

package xmpp

import "unicode/utf8"

// appendText appends s escaped as XML character data. '&', '<' and '>' are
// escaped, and '\r' too so that it survives end-of-line normalisation.
// Characters XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF) and
// invalid UTF-8 are replaced by U+FFFD: a peer's parser would reject the
// whole stanza otherwise.
func appendText(b []byte, s string) []byte {
	return appendEscaped(b, s, 0)
}

// appendAttrValue appends s escaped for an attribute value in double quotes.
// Besides the text escapes, '"' is escaped, and tab and newline are written
// as character references so attribute-value normalisation keeps them.
func appendAttrValue(b []byte, s string) []byte {
	return appendEscaped(b, s, '"')
}

// appendAttrValue1 is appendAttrValue for a value in single quotes.
func appendAttrValue1(b []byte, s string) []byte {
	return appendEscaped(b, s, '\'')
}

// appendEscaped escapes s as text (quote 0) or as an attribute value
// delimited by quote.
func appendEscaped(b []byte, s string, quote byte) []byte {
	attr := quote != 0
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'' {
			i++
			continue
		}
		var esc string
		width := 1
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '"' || c == '\'':
			if c != quote {
				i++
				continue
			}
			esc = "&quot;"
			if c == '\'' {
				esc = "&apos;"
			}
		case c == '\r':
			esc = "&#xD;"
		case c == '\n':
			if !attr {
				i++
				continue
			}
			esc = "&#xA;"
		case c == '\t':
			if !attr {
				i++
				continue
			}
			esc = "&#x9;"
		case c < 0x20:
			esc = "\uFFFD"
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			width = n
			if (r == utf8.RuneError && n == 1) || r == 0xFFFE || r == 0xFFFF {
				esc = "\uFFFD"
			} else {
				i += n
				continue
			}
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// isNameByte reports whether c may appear in an XML name we produce from a
// JSON key. Non-ASCII letters are allowed by XML but never appear in the
// config schema, so they are refused to keep the check simple.
func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return true
	case c >= '0' && c <= '9', c == '-', c == '.':
		return !first
	}
	return false
}

// validName reports whether s is a plain (unprefixed) XML name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return true
}
