// SPDX-License-Identifier: Apache-2.0

package store

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// The original's match_op values (query_rest.idl).
const (
	OpEqual      = 1
	OpNotEqual   = 2
	OpInRange    = 3
	OpNotInRange = 4
	OpLEQ        = 5
	OpGEQ        = 6
	OpPrefix     = 7
	OpRegexMatch = 8
)

// Matcher is a compiled Match. Its semantics, shared by every store and
// by the query engine's filter:
//
//   - strings: EQUAL / NOT_EQUAL compare exactly; IN_RANGE, NOT_IN_RANGE,
//     LEQ, GEQ compare as numbers when the value and the bounds all parse
//     as numbers, as IP addresses when they all parse as addresses, and
//     lexically otherwise; PREFIX is a string prefix; REGEX_MATCH is a Go
//     regular expression search.
//   - numbers (int, float; bool counts as 0/1): comparisons are numeric when
//     the given value parses as a number (EQUAL with a non-number never
//     matches); PREFIX and REGEX_MATCH work on the decimal text.
//   - a field the row lacks matches only NOT_EQUAL and NOT_IN_RANGE.
type Matcher struct {
	M          Match
	s, s2      string
	i, i2      int64
	iok, i2ok  bool
	f, f2      float64
	fok, f2ok  bool
	ip, ip2    netip.Addr
	ipok, ip2k bool
	re         *regexp.Regexp
}

// ValueString renders a match value (string, number or bool from JSON)
// as text.
func ValueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e18 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	default:
		return fmt.Sprint(x)
	}
}

func parseNum(s string) (i int64, iok bool, f float64, fok bool) {
	s = strings.TrimSpace(s)
	switch s {
	case "true":
		return 1, true, 1, true
	case "false":
		return 0, true, 0, true
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true, float64(v), true
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) {
		return 0, false, v, true
	}
	return 0, false, 0, false
}

// CompileMatch checks a match and prepares it for evaluation.
func CompileMatch(m Match) (*Matcher, error) {
	if m.Op < OpEqual || m.Op > OpRegexMatch {
		return nil, fmt.Errorf("match on %q: unknown op %d (1-8)", m.Name, m.Op)
	}
	c := &Matcher{M: m, s: ValueString(m.Value), s2: ValueString(m.Value2)}
	c.i, c.iok, c.f, c.fok = parseNum(c.s)
	c.i2, c.i2ok, c.f2, c.f2ok = parseNum(c.s2)
	if a, err := netip.ParseAddr(c.s); err == nil {
		c.ip, c.ipok = a, true
	}
	if a, err := netip.ParseAddr(c.s2); err == nil {
		c.ip2, c.ip2k = a, true
	}
	if (m.Op == OpInRange || m.Op == OpNotInRange) && m.Value2 == nil {
		return nil, fmt.Errorf("match on %q: op %d needs value2", m.Name, m.Op)
	}
	if m.Op == OpRegexMatch {
		re, err := regexp.Compile(c.s)
		if err != nil {
			return nil, fmt.Errorf("match on %q: bad regular expression: %w", m.Name, err)
		}
		c.re = re
	}
	return c, nil
}

// CompileTerms compiles an OR of ANDs.
func CompileTerms(terms [][]Match) ([][]*Matcher, error) {
	out := make([][]*Matcher, 0, len(terms))
	for _, and := range terms {
		cs := make([]*Matcher, 0, len(and))
		for _, m := range and {
			c, err := CompileMatch(m)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		out = append(out, cs)
	}
	return out, nil
}

// Absent tells whether the match holds for a row that lacks the field.
func (c *Matcher) Absent() bool { return c.M.Op == OpNotEqual || c.M.Op == OpNotInRange }

func cmp3[T int64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// String evaluates the match on a string value.
func (c *Matcher) String(v string) bool {
	switch c.M.Op {
	case OpEqual:
		return v == c.s
	case OpNotEqual:
		return v != c.s
	case OpPrefix:
		return strings.HasPrefix(v, c.s)
	case OpRegexMatch:
		return c.re.MatchString(v)
	}
	// ordered comparisons
	cmpLo, cmpHi, ok := 0, 0, false
	if c.fok && (c.f2ok || c.M.Op == OpLEQ || c.M.Op == OpGEQ) {
		if _, _, fv, fok := parseNum(v); fok {
			cmpLo, cmpHi, ok = cmp3(fv, c.f), cmp3(fv, c.f2), true
		}
	}
	if !ok && c.ipok && (c.ip2k || c.M.Op == OpLEQ || c.M.Op == OpGEQ) {
		if a, err := netip.ParseAddr(v); err == nil {
			cmpLo, cmpHi, ok = a.Compare(c.ip), a.Compare(c.ip2), true
		}
	}
	if !ok {
		cmpLo, cmpHi = cmp3(v, c.s), cmp3(v, c.s2)
	}
	return c.ordered(cmpLo, cmpHi)
}

func (c *Matcher) ordered(cmpLo, cmpHi int) bool {
	switch c.M.Op {
	case OpLEQ:
		return cmpLo <= 0
	case OpGEQ:
		return cmpLo >= 0
	case OpInRange:
		return cmpLo >= 0 && cmpHi <= 0
	case OpNotInRange:
		return !(cmpLo >= 0 && cmpHi <= 0)
	}
	return false
}

// Int evaluates the match on an integer value.
func (c *Matcher) Int(v int64) bool {
	switch c.M.Op {
	case OpPrefix, OpRegexMatch:
		return c.String(strconv.FormatInt(v, 10))
	case OpEqual:
		if c.iok {
			return v == c.i
		}
		return c.fok && float64(v) == c.f
	case OpNotEqual:
		if c.iok {
			return v != c.i
		}
		return !(c.fok && float64(v) == c.f)
	}
	if !c.fok {
		return c.M.Op == OpNotInRange
	}
	var lo, hi int
	if c.iok {
		lo = cmp3(v, c.i)
	} else {
		lo = cmp3(float64(v), c.f)
	}
	if c.i2ok {
		hi = cmp3(v, c.i2)
	} else if c.f2ok {
		hi = cmp3(float64(v), c.f2)
	} else if c.M.Op == OpInRange || c.M.Op == OpNotInRange {
		return c.M.Op == OpNotInRange
	}
	return c.ordered(lo, hi)
}

// Float evaluates the match on a floating-point value.
func (c *Matcher) Float(v float64) bool {
	switch c.M.Op {
	case OpPrefix, OpRegexMatch:
		return c.String(strconv.FormatFloat(v, 'g', -1, 64))
	case OpEqual:
		return c.fok && v == c.f
	case OpNotEqual:
		return !(c.fok && v == c.f)
	}
	if !c.fok {
		return c.M.Op == OpNotInRange
	}
	lo := cmp3(v, c.f)
	hi := 0
	if c.f2ok {
		hi = cmp3(v, c.f2)
	} else if c.M.Op == OpInRange || c.M.Op == OpNotInRange {
		return c.M.Op == OpNotInRange
	}
	return c.ordered(lo, hi)
}

// Value evaluates the match on a field value (nil when the row lacks it).
func (c *Matcher) Value(v any) bool {
	switch x := v.(type) {
	case nil:
		return c.Absent()
	case string:
		return c.String(x)
	case int64:
		return c.Int(x)
	case float64:
		return c.Float(x)
	case bool:
		if x {
			return c.Int(1)
		}
		return c.Int(0)
	default:
		nv, ok := Normalize(v)
		if !ok {
			return c.Absent()
		}
		return c.Value(nv)
	}
}

// MatchRow tells whether a row's fields satisfy an OR of ANDs (no terms
// match every row).
func MatchRow(terms [][]*Matcher, fields map[string]any) bool {
	if len(terms) == 0 {
		return true
	}
	for _, and := range terms {
		ok := true
		for _, m := range and {
			if !m.Value(fields[m.M.Name]) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Normalize turns a field value into one of the stored types (string,
// int64, float64, bool); other Go numbers are converted, anything else is
// rendered as text. It returns false for nil.
func Normalize(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string, int64, float64, bool:
		return v, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) > math.MaxInt64 {
			return float64(x), true
		}
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return float64(x), true
		}
		return int64(x), true
	case float32:
		return float64(x), true
	case []byte:
		return string(x), true
	case fmt.Stringer:
		return x.String(), true
	default:
		return fmt.Sprint(x), true
	}
}

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("analytics store closed")
