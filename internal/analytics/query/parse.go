// SPDX-License-Identifier: Apache-2.0

package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
)

// Error is a query the engine refuses: Code is the HTTP status (400 bad
// input, 404 unknown table), Field the offending field when there is one.
type Error struct {
	Code    int
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" && !strings.Contains(e.Message, e.Field) {
		return e.Message + ": " + e.Field
	}
	return e.Message
}

func badf(field, format string, args ...any) *Error {
	return &Error{Code: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// StatusOf maps an error of the engine to an HTTP status (500 when it is
// not a *Error).
func StatusOf(err error) int {
	var qe *Error
	if errors.As(err, &qe) {
		return qe.Code
	}
	return http.StatusInternalServerError
}

// MaxRequestBytes is the largest query body Parse takes.
const MaxRequestBytes = 1 << 20

// Parse reads the original's query JSON (query_rest.idl): table,
// start_time / end_time (µs since the epoch, or "now", "now-10m",
// "now+1h", units s, m, h, d), select_fields, where (OR of ANDs of
// {name, value, op, value2}), filter (a list of matches, or an OR of
// ANDs), sort (1 ascending, 2 descending), sort_fields, limit, dir. Times
// are resolved against now. It checks the syntax only; Engine.Validate
// checks names against the table's schema.
func Parse(body []byte, now time.Time) (store.Query, error) {
	var q store.Query
	if len(body) > MaxRequestBytes {
		return q, badf("", "query larger than %d bytes", MaxRequestBytes)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return q, badf("", "query is not a JSON object: %v", err)
	}
	if raw == nil {
		return q, badf("", "query is not a JSON object")
	}
	var err error
	if q.Table, err = str(raw["table"]); err != nil || q.Table == "" {
		return q, badf("table", "table must be a non-empty string")
	}
	if q.StartTime, err = ParseTime(raw["start_time"], now); err != nil {
		return q, badf("start_time", "start_time: %v", err)
	}
	if q.EndTime, err = ParseTime(raw["end_time"], now); err != nil {
		return q, badf("end_time", "end_time: %v", err)
	}
	if q.StartTime > q.EndTime {
		return q, badf("start_time", "start_time is after end_time")
	}
	if q.SelectFields, err = strList(raw["select_fields"]); err != nil {
		return q, badf("select_fields", "select_fields: %v", err)
	}
	if len(q.SelectFields) == 0 {
		return q, badf("select_fields", "select_fields must list at least one field")
	}
	if q.Where, err = terms(raw["where"], false); err != nil {
		return q, badf("where", "where: %v", err)
	}
	if q.Filter, err = terms(raw["filter"], true); err != nil {
		return q, badf("filter", "filter: %v", err)
	}
	if v, ok := raw["sort"]; ok && !isNull(v) {
		if q.Sort, err = sortOp(v); err != nil {
			return q, badf("sort", "sort: %v", err)
		}
	}
	if q.SortFields, err = strList(raw["sort_fields"]); err != nil {
		return q, badf("sort_fields", "sort_fields: %v", err)
	}
	if v, ok := raw["limit"]; ok && !isNull(v) {
		n, err := integer(v)
		if err != nil || n < 0 || n > math.MaxInt32 {
			return q, badf("limit", "limit must be a non-negative 32-bit integer")
		}
		q.Limit = int(n)
	}
	if v, ok := raw["dir"]; ok && !isNull(v) {
		n, err := integer(v)
		if err != nil || (n != 0 && n != 1) {
			return q, badf("dir", "dir must be 0 (egress) or 1 (ingress)")
		}
		d := int(n)
		q.Dir = &d
	}
	return q, nil
}

func isNull(b json.RawMessage) bool { return len(b) == 0 || string(b) == "null" }

func str(b json.RawMessage) (string, error) {
	var s string
	if isNull(b) {
		return "", nil
	}
	err := json.Unmarshal(b, &s)
	return s, err
}

func strList(b json.RawMessage) ([]string, error) {
	if isNull(b) {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, errors.New("must be a list of strings")
	}
	for _, s := range l {
		if s == "" {
			return nil, errors.New("empty field name")
		}
	}
	return l, nil
}

// integer reads a JSON number or a string holding one.
func integer(b json.RawMessage) (int64, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return 0, errors.New("not an integer")
		}
		return int64(f), nil
	case string:
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	}
	return 0, errors.New("not an integer")
}

func sortOp(b json.RawMessage) (int, error) {
	if s, err := str(b); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "asc", "ascending":
			return 1, nil
		case "desc", "descending":
			return 2, nil
		}
	}
	n, err := integer(b)
	if err != nil || (n != 1 && n != 2) {
		return 0, errors.New("must be 1 (ascending) or 2 (descending)")
	}
	return int(n), nil
}

var opNames = map[string]int{
	"EQUAL": 1, "NOT_EQUAL": 2, "IN_RANGE": 3, "NOT_IN_RANGE": 4,
	"LEQ": 5, "GEQ": 6, "PREFIX": 7, "REGEX_MATCH": 8,
}

type rawMatch struct {
	Name   *string         `json:"name"`
	Value  json.RawMessage `json:"value"`
	Op     json.RawMessage `json:"op"`
	Value2 json.RawMessage `json:"value2"`
	Suffix json.RawMessage `json:"suffix"`
}

func matchValue(b json.RawMessage) (any, error) {
	if isNull(b) {
		return nil, nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string, bool:
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return nil, errors.New("value must be a string, number or boolean")
}

func parseMatch(b json.RawMessage) (store.Match, error) {
	var rm rawMatch
	var m store.Match
	if err := json.Unmarshal(b, &rm); err != nil {
		return m, errors.New("a match must be an object {name, value, op[, value2]}")
	}
	if rm.Name == nil || *rm.Name == "" {
		return m, errors.New("match without name")
	}
	m.Name = *rm.Name
	if isNull(rm.Op) {
		return m, fmt.Errorf("match on %q without op", m.Name)
	}
	if s, err := str(rm.Op); err == nil && opNames[strings.ToUpper(s)] != 0 {
		m.Op = opNames[strings.ToUpper(s)]
	} else {
		n, err := integer(rm.Op)
		if err != nil || n < 1 || n > 8 {
			return m, fmt.Errorf("match on %q: op must be 1-8", m.Name)
		}
		m.Op = int(n)
	}
	var err error
	if m.Value, err = matchValue(rm.Value); err != nil {
		return m, fmt.Errorf("match on %q: %v", m.Name, err)
	}
	if m.Value == nil {
		return m, fmt.Errorf("match on %q without value", m.Name)
	}
	if m.Value2, err = matchValue(rm.Value2); err != nil {
		return m, fmt.Errorf("match on %q: value2: %v", m.Name, err)
	}
	if (m.Op == store.OpInRange || m.Op == store.OpNotInRange) && m.Value2 == nil {
		return m, fmt.Errorf("match on %q: op %d needs value2", m.Name, m.Op)
	}
	if _, err := store.CompileMatch(m); err != nil {
		return m, err
	}
	return m, nil
}

// terms reads an OR of ANDs; a flat list of matches (the original's
// filter form) is one AND when flatOK.
func terms(b json.RawMessage, flatOK bool) ([][]store.Match, error) {
	if isNull(b) {
		return nil, nil
	}
	var outer []json.RawMessage
	if err := json.Unmarshal(b, &outer); err != nil {
		return nil, errors.New("must be a list")
	}
	if len(outer) == 0 {
		return nil, nil
	}
	if t := bytes.TrimSpace(outer[0]); len(t) > 0 && t[0] == '{' {
		if !flatOK {
			return nil, errors.New("must be a list of lists of matches")
		}
		and := make([]store.Match, 0, len(outer))
		for _, mb := range outer {
			m, err := parseMatch(mb)
			if err != nil {
				return nil, err
			}
			and = append(and, m)
		}
		return [][]store.Match{and}, nil
	}
	out := make([][]store.Match, 0, len(outer))
	for _, ab := range outer {
		var inner []json.RawMessage
		if err := json.Unmarshal(ab, &inner); err != nil {
			return nil, errors.New("must be a list of lists of matches")
		}
		and := make([]store.Match, 0, len(inner))
		for _, mb := range inner {
			m, err := parseMatch(mb)
			if err != nil {
				return nil, err
			}
			and = append(and, m)
		}
		if len(and) > 0 {
			out = append(out, and)
		}
	}
	return out, nil
}

// ParseTime reads a query time: a number of microseconds since the epoch
// (or a string of one), or "now" optionally followed by +/-N with a unit
// s, m, h or d ("now-10m"), resolved against now.
func ParseTime(b json.RawMessage, now time.Time) (int64, error) {
	if isNull(b) {
		return 0, errors.New("missing")
	}
	if s, err := str(b); err == nil {
		return ParseTimeString(s, now)
	}
	n, err := integer(b)
	if err != nil {
		return 0, errors.New("must be microseconds since the epoch or a \"now[+-N{s,m,h,d}]\" string")
	}
	if n < 0 {
		return 0, errors.New("negative time")
	}
	return n, nil
}

// ParseTimeString reads the string forms of ParseTime.
func ParseTimeString(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty time")
	}
	if !strings.HasPrefix(s, "now") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad time %q", s)
		}
		return n, nil
	}
	base := now.UnixMicro()
	rest := strings.TrimSpace(s[3:])
	if rest == "" {
		return base, nil
	}
	sign := int64(1)
	switch rest[0] {
	case '-':
		sign = -1
	case '+':
	default:
		return 0, fmt.Errorf("bad time %q", s)
	}
	rest = strings.TrimSpace(rest[1:])
	if len(rest) < 2 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	var unit int64
	switch rest[len(rest)-1] {
	case 's':
		unit = 1e6
	case 'm':
		unit = 60e6
	case 'h':
		unit = 3600e6
	case 'd':
		unit = 86400e6
	default:
		return 0, fmt.Errorf("bad time unit in %q (s, m, h or d)", s)
	}
	n, err := strconv.ParseInt(rest[:len(rest)-1], 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("bad time offset in %q", s)
	}
	off := sign * n * unit
	t := base + off
	if (off > 0 && t < base) || (off < 0 && t > base) || t < 0 {
		return 0, fmt.Errorf("time %q out of range", s)
	}
	return t, nil
}
