// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxLineLen bounds one line of a config file. The original's files have
// lines of a few hundred bytes; anything near this limit is not a config file.
const maxLineLen = 1 << 20

// Entry is one "key = value" line of an INI file.
type Entry struct {
	Section string // without brackets
	Key     string
	Value   string
	Line    int // 1-based
}

// SyntaxError reports a line of an INI file that is not a section header, a
// key-value pair, a comment or blank.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("config: %s:%d: %s", e.File, e.Line, e.Msg)
}

// ParseINI reads an INI file in the dialect of the original's
// /etc/contrail/*.conf files; name is used in errors only. The rules:
//
//   - "[SECTION]" starts a section; every key must be inside one.
//   - "key = value" or "key: value", split at the first '=' or ':'.
//     Keys and section names are case-sensitive; keys, values and section
//     names have surrounding white space trimmed.
//   - Lines whose first non-blank character is '#' or ';' are comments, as
//     is text after the ']' of a section header. There are no inline comments
//     after values ("a = b # c" has the value "b # c"), as in Python's
//     configparser, which read the original's files.
//   - A key may appear once per section; a section may be reopened.
//   - Indented lines are ordinary lines: configparser's multi-line
//     continuation values are not supported.
//
// It returns the entries in file order, or the first error, a *SyntaxError
// naming the line.
func ParseINI(name string, r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	var (
		entries []Entry
		section string
		inSect  bool
		seen    = map[[2]string]int{} // section, key -> line
		lineNo  int
	)
	fail := func(format string, args ...any) error {
		return &SyntaxError{File: name, Line: lineNo, Msg: fmt.Sprintf(format, args...)}
	}
	for sc.Scan() {
		lineNo++
		raw := sc.Bytes()
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\uFEFF")) // UTF-8 byte order mark
		}
		line := strings.TrimSpace(string(raw))
		switch {
		case line == "", line[0] == '#', line[0] == ';':
			continue
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, fail("section header %q lacks a closing ']'", line)
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				return nil, fail("unexpected text %q after section header", rest)
			}
			section = strings.TrimSpace(line[1:end])
			if section == "" {
				return nil, fail("empty section name")
			}
			inSect = true
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep < 0 {
			return nil, fail("expected \"key = value\", \"key: value\", \"[section]\" or a comment, got %q", line)
		}
		key := strings.TrimSpace(line[:sep])
		if key == "" {
			return nil, fail("missing key before %q", line[sep])
		}
		if !inSect {
			return nil, fail("key %q is outside any [section]", key)
		}
		if first, dup := seen[[2]string{section, key}]; dup {
			return nil, fail("duplicate key %q in section [%s] (first set on line %d)", key, section, first)
		}
		seen[[2]string{section, key}] = lineNo
		entries = append(entries, Entry{
			Section: section,
			Key:     key,
			Value:   strings.TrimSpace(line[sep+1:]),
			Line:    lineNo,
		})
	}
	if err := sc.Err(); err != nil {
		lineNo++ // the line being read
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fail("line longer than %d bytes", maxLineLen)
		}
		return nil, fmt.Errorf("config: read %s: %w", name, err)
	}
	return entries, nil
}

// WriteINI writes entries in the format ParseINI reads, starting a section
// header whenever the section changes. ParseINI gives back the same
// sections, keys and values for entries it produced itself.
func WriteINI(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	section, started := "", false
	for _, e := range entries {
		if !started || e.Section != section {
			if started {
				_ = bw.WriteByte('\n')
			}
			section, started = e.Section, true
			_, _ = fmt.Fprintf(bw, "[%s]\n", section)
		}
		if e.Value == "" {
			_, _ = fmt.Fprintf(bw, "%s =\n", e.Key)
		} else {
			_, _ = fmt.Fprintf(bw, "%s = %s\n", e.Key, e.Value)
		}
	}
	return bw.Flush()
}
