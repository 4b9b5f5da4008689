// SPDX-License-Identifier: Apache-2.0

package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// VictoriaLogs is a Store over a VictoriaLogs server (single node or the
// front of a cluster): rows go in through its JSON-lines insert API and
// scans run as LogsQL queries.
//
// Each row is one log entry: _time is the row's time, the stream field
// contrail_table its table, every field a log field (VictoriaLogs keeps
// values as strings; the field contrail_types records which fields were
// numbers, booleans or empty strings so that rows come back with their
// types). Fields whose names begin with '_' are not stored. Retention is
// the server's -retentionPeriod for all tables alike, not per class.
type VictoriaLogs struct {
	base   string
	client *http.Client
	flush  bool
	window time.Duration
}

// VictoriaLogsOptions tune the VictoriaLogs store.
type VictoriaLogsOptions struct {
	// Client is the HTTP client (default: 60 s timeout).
	Client *http.Client
	// NoFlush skips the /internal/force_flush after each Write. With it,
	// rows are buffered by the server for a few seconds before they are
	// durable and visible (the server's own behaviour).
	NoFlush bool
	// TablesWindow is how far back Tables looks for tables and fields
	// (default 2160 h, the longest default TTL).
	TablesWindow time.Duration
}

const (
	vlTableField = "contrail_table"
	vlTypesField = "contrail_types"
)

// NewVictoriaLogs returns a store over the VictoriaLogs server at baseURL
// (e.g. "http://127.0.0.1:9428").
func NewVictoriaLogs(baseURL string, opts VictoriaLogsOptions) *VictoriaLogs {
	c := opts.Client
	if c == nil {
		c = &http.Client{Timeout: 60 * time.Second}
	}
	w := opts.TablesWindow
	if w <= 0 {
		w = DefaultTTL(KindConfigAudit)
	}
	return &VictoriaLogs{base: strings.TrimRight(baseURL, "/"), client: c, flush: !opts.NoFlush, window: w}
}

func vlTime(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
}

// Write implements Writer: one insert request for all rows, then a flush
// so that they are on disk and visible when Write returns.
func (v *VictoriaLogs) Write(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, r := range rows {
		if !ValidTableName(r.Table) {
			return fmt.Errorf("row %d: bad table name %q", i, r.Table)
		}
		m := make(map[string]string, len(r.Fields)+4)
		var types []string
		for k, val := range r.Fields {
			if k == "" || strings.HasPrefix(k, "_") || k == vlTableField || k == vlTypesField {
				continue
			}
			nv, ok := Normalize(val)
			if !ok {
				continue
			}
			switch x := nv.(type) {
			case string:
				if x == "" {
					types = append(types, k+":e")
				}
				m[k] = x
			case int64:
				types = append(types, k+":i")
				m[k] = strconv.FormatInt(x, 10)
			case float64:
				types = append(types, k+":f")
				m[k] = strconv.FormatFloat(x, 'g', -1, 64)
			case bool:
				types = append(types, k+":b")
				m[k] = strconv.FormatBool(x)
			}
		}
		sort.Strings(types)
		m["_time"] = vlTime(r.T)
		m["_msg"] = r.Table
		m[vlTableField] = r.Table
		if len(types) > 0 {
			m[vlTypesField] = strings.Join(types, ",")
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	q := url.Values{"_stream_fields": {vlTableField}, "_time_field": {"_time"}, "_msg_field": {"_msg"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/insert/jsonline?"+q.Encode(), &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/stream+json")
	if err := v.do(req, nil); err != nil {
		return fmt.Errorf("victorialogs insert: %w", err)
	}
	if v.flush {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+"/internal/force_flush", nil)
		if err != nil {
			return err
		}
		if err := v.do(req, nil); err != nil {
			return fmt.Errorf("victorialogs flush: %w", err)
		}
	}
	return nil
}

func (v *VictoriaLogs) do(req *http.Request, fn func(io.Reader) error) error {
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if fn != nil {
		return fn(resp.Body)
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

func (v *VictoriaLogs) selectReq(ctx context.Context, path string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

func quoteLogsQL(s string) string { return strconv.Quote(s) }

// pushDown translates the parts of a where clause LogsQL can evaluate
// exactly as Matcher does (EQUAL on canonical values, PREFIX on text) into
// a LogsQL filter that selects a superset of the matching rows; Scan
// applies the full clause to what comes back.
func pushDown(where [][]Match) string {
	if len(where) == 0 {
		return ""
	}
	var ors []string
	for _, and := range where {
		var parts []string
		for _, m := range and {
			if m.Name == "" || strings.HasPrefix(m.Name, "_") {
				continue
			}
			s := ValueString(m.Value)
			switch m.Op {
			case OpEqual:
				if i, iok, _, _ := parseNum(s); iok && strconv.FormatInt(i, 10) != s {
					continue // "080" matches 80 numerically; not as text
				}
				if s == "" || s == "true" || s == "false" {
					continue
				}
				parts = append(parts, quoteLogsQL(m.Name)+":="+quoteLogsQL(s))
			case OpPrefix:
				if s == "" || strings.ContainsAny(s, "*") {
					continue
				}
				parts = append(parts, quoteLogsQL(m.Name)+":"+quoteLogsQL(s)+"*")
			}
		}
		if len(parts) == 0 {
			return "" // this OR term needs every row
		}
		ors = append(ors, "("+strings.Join(parts, " ")+")")
	}
	return "(" + strings.Join(ors, " or ") + ")"
}

// Scan implements Store.
func (v *VictoriaLogs) Scan(ctx context.Context, q Query, fn func(Row) bool) error {
	terms, err := CompileTerms(q.Where)
	if err != nil {
		return err
	}
	if !ValidTableName(q.Table) {
		return nil
	}
	lq := fmt.Sprintf("{%s=%s} _time:[%s, %s]", vlTableField, quoteLogsQL(q.Table), vlTime(q.StartTime), vlTime(q.EndTime))
	if pd := pushDown(q.Where); pd != "" {
		lq += " " + pd
	}
	lq += " | sort by (_time)"
	req, err := v.selectReq(ctx, "/select/logsql/query", url.Values{"query": {lq}})
	if err != nil {
		return err
	}
	errStop := errors.New("stop")
	err = v.do(req, func(body io.Reader) error {
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var m map[string]string
			if err := json.Unmarshal(line, &m); err != nil {
				return fmt.Errorf("victorialogs answer: %w", err)
			}
			r, err := vlRow(q.Table, m)
			if err != nil {
				return err
			}
			if r.T < q.StartTime || r.T > q.EndTime || !MatchRow(terms, r.Fields) {
				continue
			}
			if !fn(r) {
				return errStop
			}
		}
		return sc.Err()
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func vlRow(table string, m map[string]string) (Row, error) {
	t, err := time.Parse(time.RFC3339Nano, m["_time"])
	if err != nil {
		return Row{}, fmt.Errorf("victorialogs answer: bad _time %q", m["_time"])
	}
	r := Row{Table: table, T: t.UnixMicro(), Fields: make(map[string]any, len(m))}
	for k, val := range m {
		if strings.HasPrefix(k, "_") || k == vlTableField || k == vlTypesField {
			continue
		}
		r.Fields[k] = val
	}
	if ts := m[vlTypesField]; ts != "" {
		for _, kt := range strings.Split(ts, ",") {
			i := strings.LastIndexByte(kt, ':')
			if i < 0 {
				continue
			}
			k, typ := kt[:i], kt[i+1:]
			s, ok := r.Fields[k].(string)
			switch typ {
			case "e":
				r.Fields[k] = ""
			case "i":
				if n, err := strconv.ParseInt(s, 10, 64); ok && err == nil {
					r.Fields[k] = n
				}
			case "f":
				if f, err := strconv.ParseFloat(s, 64); ok && err == nil {
					r.Fields[k] = f
				}
			case "b":
				if b, err := strconv.ParseBool(s); ok && err == nil {
					r.Fields[k] = b
				}
			}
		}
	}
	return r, nil
}

type vlValues struct {
	Values []struct {
		Value string `json:"value"`
	} `json:"values"`
}

func (v *VictoriaLogs) values(ctx context.Context, path string, form url.Values) ([]string, error) {
	req, err := v.selectReq(ctx, path, form)
	if err != nil {
		return nil, err
	}
	var out vlValues
	err = v.do(req, func(r io.Reader) error { return json.NewDecoder(r).Decode(&out) })
	if err != nil {
		return nil, err
	}
	s := make([]string, 0, len(out.Values))
	for _, e := range out.Values {
		s = append(s, e.Value)
	}
	return s, nil
}

// Tables implements Store: the static tables and every table the server
// holds rows of in the last TablesWindow, with the fields seen (typed
// "string" unless the static schema says otherwise). On a server error
// it lists the static tables only.
func (v *VictoriaLogs) Tables() []Table {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now().Add(-v.window).UTC().Format(time.RFC3339)
	out := map[string]Table{}
	for _, t := range StaticTables() {
		out[t.Name] = t
	}
	names, err := v.values(ctx, "/select/logsql/field_values", url.Values{"query": {"*"}, "field": {vlTableField}, "start": {start}})
	if err == nil {
		for _, n := range names {
			if !ValidTableName(n) {
				continue
			}
			fields, err := v.values(ctx, "/select/logsql/field_names", url.Values{
				"query": {fmt.Sprintf("{%s=%s}", vlTableField, quoteLogsQL(n))}, "start": {start}})
			if err != nil {
				continue
			}
			seen := map[string]string{}
			for _, f := range fields {
				if !strings.HasPrefix(f, "_") && f != vlTableField && f != vlTypesField {
					seen[f] = "string"
				}
			}
			out[n] = BuildSchema(n, seen)
		}
	}
	list := make([]Table, 0, len(out))
	for _, t := range out {
		list = append(list, t)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// Close implements Store.
func (v *VictoriaLogs) Close() error { return nil }

var (
	_ Store        = (*VictoriaLogs)(nil)
	_ Store        = (*Embedded)(nil)
	_ BatchScanner = (*Embedded)(nil)
)
