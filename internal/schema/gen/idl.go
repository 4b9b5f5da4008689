// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"
)

const idlPrefix = "#IFMAP-SEMANTICS-IDL"

// arg is one argument of an IDL statement. The statements are Python call
// syntax: an argument is a string literal (adjacent literals are
// concatenated, as Python does; parts keeps them apart so that a missing comma
// can be repaired), a list of string literals, or name=value.
type arg struct {
	parts  []string
	list   []string
	isList bool
}

func (a arg) str() string { return strings.Join(a.parts, "") }

// stmt is one IDL statement such as Link('a-b', 'a', 'b', ['ref'], 'optional', 'CRUD', 'desc').
type stmt struct {
	fn    string
	args  []arg
	kw    map[string]arg
	file  string
	line  int
	order int
}

func (st *stmt) where() string { return fmt.Sprintf("%s:%d", st.file, st.line) }

// parseIDL parses the statements of one comment (text after the prefix).
// Statements may be separated by ';', ',' or white space. It returns the
// statements parsed before an error together with the error.
func parseIDL(text string) ([]*stmt, error) {
	lx := &lexer{s: text}
	var out []*stmt
	for {
		lx.skipSpace()
		for lx.peek() == ';' || lx.peek() == ',' {
			lx.pos++
			lx.skipSpace()
		}
		if lx.eof() {
			return out, nil
		}
		st, err := lx.statement()
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
}

type lexer struct {
	s   string
	pos int
}

func (l *lexer) eof() bool { return l.pos >= len(l.s) }

func (l *lexer) peek() byte {
	if l.eof() {
		return 0
	}
	return l.s[l.pos]
}

func (l *lexer) skipSpace() {
	for !l.eof() {
		switch l.s[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		case '\\': // explicit line continuation
			if l.pos+1 < len(l.s) && (l.s[l.pos+1] == '\n' || l.s[l.pos+1] == '\r') {
				l.pos++
				continue
			}
			return
		default:
			return
		}
	}
}

func (l *lexer) errorf(format string, a ...any) error {
	ctx := l.s[l.pos:]
	if len(ctx) > 40 {
		ctx = ctx[:40]
	}
	return fmt.Errorf("offset %d near %q: %s", l.pos, ctx, fmt.Sprintf(format, a...))
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (l *lexer) ident() string {
	start := l.pos
	for !l.eof() && isIdentByte(l.s[l.pos]) {
		l.pos++
	}
	return l.s[start:l.pos]
}

func (l *lexer) statement() (*stmt, error) {
	name := l.ident()
	if name == "" {
		return nil, l.errorf("expected a statement name")
	}
	l.skipSpace()
	if l.peek() != '(' {
		return nil, l.errorf("expected '(' after %s", name)
	}
	l.pos++
	st := &stmt{fn: name}
	for {
		l.skipSpace()
		if l.peek() == ')' {
			l.pos++
			return st, nil
		}
		// keyword argument?
		key := ""
		if isIdentByte(l.peek()) {
			save := l.pos
			id := l.ident()
			l.skipSpace()
			if l.peek() == '=' {
				l.pos++
				l.skipSpace()
				key = id
			} else {
				l.pos = save
				return nil, l.errorf("unexpected bare word %q", id)
			}
		}
		a, err := l.value()
		if err != nil {
			return nil, err
		}
		if key != "" {
			if st.kw == nil {
				st.kw = map[string]arg{}
			}
			st.kw[key] = a
		} else {
			if len(st.kw) > 0 {
				return nil, l.errorf("positional argument after keyword argument")
			}
			st.args = append(st.args, a)
		}
		l.skipSpace()
		switch l.peek() {
		case ',':
			l.pos++
		case ')':
		default:
			return nil, l.errorf("expected ',' or ')'")
		}
	}
}

func (l *lexer) value() (arg, error) {
	switch c := l.peek(); c {
	case '[':
		l.pos++
		var a arg
		a.isList = true
		for {
			l.skipSpace()
			if l.peek() == ']' {
				l.pos++
				return a, nil
			}
			s, err := l.strings()
			if err != nil {
				return a, err
			}
			a.list = append(a.list, strings.Join(s, ""))
			l.skipSpace()
			switch l.peek() {
			case ',':
				l.pos++
			case ']':
			default:
				return a, l.errorf("expected ',' or ']' in list")
			}
		}
	case '\'', '"':
		s, err := l.strings()
		return arg{parts: s}, err
	default:
		return arg{}, l.errorf("expected a string or a list")
	}
}

// strings reads one or more adjacent string literals.
func (l *lexer) strings() ([]string, error) {
	var out []string
	for {
		c := l.peek()
		if c != '\'' && c != '"' {
			if len(out) == 0 {
				return nil, l.errorf("expected a string literal")
			}
			return out, nil
		}
		s, err := l.literal()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		l.skipSpace()
	}
}

func (l *lexer) literal() (string, error) {
	q := l.s[l.pos]
	start := l.pos
	l.pos++
	var b strings.Builder
	for {
		if l.eof() {
			l.pos = start
			return "", l.errorf("unterminated string literal")
		}
		c := l.s[l.pos]
		l.pos++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\\' && !l.eof():
			e := l.s[l.pos]
			l.pos++
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\n':
				// line continuation inside a literal
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
}
