// SPDX-License-Identifier: Apache-2.0

package query

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
)

// Engine runs queries over a store.
type Engine struct {
	st       store.Store
	now      func() time.Time
	parallel int
	maxRows  int

	mu       sync.Mutex
	tables   map[string]store.Table // schema cache, refreshed when stale or missing a name
	tablesAt time.Time
}

// schemaMaxAge is how long the engine trusts its copy of the schemas
// before asking the store again (a query naming an unknown table or field
// always asks again).
const schemaMaxAge = 10 * time.Second

// Option configures an Engine.
type Option func(*Engine)

// WithClock sets the clock that resolves "now" in query times.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithParallelism sets how many goroutines scan at once (default GOMAXPROCS).
func WithParallelism(n int) Option { return func(e *Engine) { e.parallel = n } }

// WithMaxRows bounds the rows a query without aggregation or limit may
// return (default 1,000,000); a larger result is refused with a 400.
func WithMaxRows(n int) Option { return func(e *Engine) { e.maxRows = n } }

// NewEngine returns an engine over st.
func NewEngine(st store.Store, opts ...Option) *Engine {
	e := &Engine{st: st, now: time.Now, parallel: runtime.GOMAXPROCS(0), maxRows: 1_000_000}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Store returns the store the engine reads.
func (e *Engine) Store() store.Store { return e.st }

// Tables lists the store's tables.
func (e *Engine) Tables(ctx context.Context) ([]store.Table, error) { return e.st.Tables(), nil }

// Table returns one table's schema.
func (e *Engine) Table(name string) (store.Table, bool) { return e.schema(name, true) }

// schema looks a table up in the cache, or in the store when fresh or
// when the cache is stale.
func (e *Engine) schema(name string, fresh bool) (store.Table, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fresh || e.tables == nil || time.Since(e.tablesAt) > schemaMaxAge {
		m := map[string]store.Table{}
		for _, t := range e.st.Tables() {
			m[t.Name] = t
		}
		e.tables, e.tablesAt = m, time.Now()
	}
	t, ok := e.tables[name]
	return t, ok
}

// Result is a query's answer; it marshals as the original's
// {"value": [row, ...]}.
type Result struct {
	Rows []map[string]any `json:"value"`
}

// Query parses a query body and runs it.
func (e *Engine) Query(ctx context.Context, body []byte) (*Result, error) {
	q, err := Parse(body, e.now())
	if err != nil {
		return nil, err
	}
	return e.Run(ctx, q)
}

// Run validates q against its table's schema and runs it.
func (e *Engine) Run(ctx context.Context, q store.Query) (*Result, error) {
	p, err := e.plan(q)
	if err != nil {
		return nil, err
	}
	return e.execute(ctx, p)
}

// Check parses and validates a query body without running it.
func (e *Engine) Check(ctx context.Context, body []byte) error {
	q, err := Parse(body, e.now())
	if err != nil {
		return err
	}
	return e.Validate(q)
}

// Validate checks q against its table's schema without running it.
func (e *Engine) Validate(q store.Query) error {
	_, err := e.plan(q)
	return err
}

type fieldKind int

const (
	fPlain fieldKind = iota
	fTime            // T: the row's time
	fBin             // T=<secs>: the row's time bin
	fAgg
)

const (
	aggCount = iota
	aggSum
	aggMax
	aggMin
	aggAvg
)

type outField struct {
	kind fieldKind
	name string // output key
	src  string // column read (plain and aggregates)
	agg  int
}

type plan struct {
	q        store.Query
	fields   []outField
	group    []int // fields that make the group key (grouping mode)
	aggs     []int
	grouping bool
	binUS    int64
	filter   [][]*store.Matcher
	sortKeys []string

	// FlowRecordTable: rows are merged into one record per flow (records.go).
	merge     bool
	scanWhere [][]store.Match    // the where the store evaluates
	postWhere [][]*store.Matcher // the where checked on merged records (nil: the store's is exact)
	need      []string           // the columns a record keeps, besides UuidKey
	rules     []int              // merge rule of each need column
	setupIdx  int                // index of setup_time in need
}

var aggRE = regexp.MustCompile(`^([A-Za-z_]+)\((.*)\)$`)

func (e *Engine) plan(q store.Query) (*plan, error) {
	p, err := e.planWith(q, false)
	if err != nil && (StatusOf(err) == http.StatusNotFound || StatusOf(err) == http.StatusBadRequest) {
		// The cached schema may predate the table or field: ask again.
		p, err = e.planWith(q, true)
	}
	return p, err
}

func (e *Engine) planWith(q store.Query, fresh bool) (*plan, error) {
	if !store.ValidTableName(q.Table) {
		return nil, &Error{Code: http.StatusNotFound, Field: "table", Message: "unknown table " + strconv.Quote(q.Table)}
	}
	tbl, ok := e.schema(q.Table, fresh)
	if !ok {
		return nil, &Error{Code: http.StatusNotFound, Field: "table", Message: "unknown table " + strconv.Quote(q.Table)}
	}
	cols := map[string]store.Column{}
	for _, c := range tbl.Columns {
		cols[c.Name] = c
	}
	isColumn := func(n string) bool {
		if n == "T" || n == "T=" || aggRE.MatchString(n) {
			return false
		}
		_, ok := cols[n]
		return ok
	}
	if q.StartTime > q.EndTime {
		return nil, badf("start_time", "start_time is after end_time")
	}
	if len(q.SelectFields) == 0 {
		return nil, badf("select_fields", "select_fields must list at least one field")
	}
	p := &plan{q: q}
	seen := map[string]bool{}
	for _, f := range q.SelectFields {
		of := outField{name: f}
		switch {
		case f == "T":
			of.kind = fTime
		case strings.HasPrefix(f, "T="):
			secs, err := strconv.ParseInt(strings.TrimPrefix(f, "T="), 10, 64)
			if err != nil || secs <= 0 || secs > 1e9 {
				return nil, badf(f, "bad time granularity %q (T=<seconds>)", f)
			}
			if p.binUS != 0 {
				return nil, badf(f, "more than one T=<seconds> field")
			}
			of.kind, of.name, p.binUS = fBin, "T=", secs*1e6
		case f == "flow_count" && store.IsFlowTable(q.Table):
			of.kind, of.agg = fAgg, aggCount
		case aggRE.MatchString(f):
			m := aggRE.FindStringSubmatch(f)
			fn, arg := strings.ToUpper(m[1]), strings.TrimSpace(m[2])
			of.kind, of.src = fAgg, arg
			switch fn {
			case "COUNT":
				of.agg = aggCount
				if !countable(tbl, arg, isColumn) {
					return nil, badf(f, "unknown field %q in %s", arg, f)
				}
			case "SUM", "MAX", "MIN", "AVG":
				of.agg = map[string]int{"SUM": aggSum, "MAX": aggMax, "MIN": aggMin, "AVG": aggAvg}[fn]
				if !isColumn(arg) {
					return nil, badf(f, "unknown field %q in %s", arg, f)
				}
			default:
				return nil, badf(f, "unsupported select field %q (aggregates: COUNT, SUM, MAX, MIN, AVG)", f)
			}
		default:
			if !isColumn(f) {
				return nil, badf(f, "unknown field %q of table %s", f, q.Table)
			}
			of.src = f
		}
		if seen[of.name] {
			return nil, badf(f, "field %q selected twice", f)
		}
		seen[of.name] = true
		p.fields = append(p.fields, of)
	}
	for i, f := range p.fields {
		if f.kind == fAgg {
			p.aggs = append(p.aggs, i)
		} else {
			p.group = append(p.group, i)
		}
	}
	p.grouping = len(p.aggs) > 0 || p.binUS != 0
	for _, and := range q.Where {
		for _, m := range and {
			if !isColumn(m.Name) {
				return nil, badf(m.Name, "unknown field %q in where", m.Name)
			}
		}
	}
	if _, err := store.CompileTerms(q.Where); err != nil {
		return nil, badf("where", "where: %v", err)
	}
	outNames := map[string]bool{}
	for _, f := range p.fields {
		outNames[f.name] = true
	}
	for _, and := range q.Filter {
		for _, m := range and {
			if !outNames[m.Name] && !(m.Name == "T=" && p.binUS != 0) {
				return nil, badf(m.Name, "filter on %q, which is not a selected field", m.Name)
			}
		}
	}
	var err error
	if p.filter, err = store.CompileTerms(q.Filter); err != nil {
		return nil, badf("filter", "filter: %v", err)
	}
	if q.Sort != 0 && q.Sort != 1 && q.Sort != 2 {
		return nil, badf("sort", "sort must be 1 (ascending) or 2 (descending)")
	}
	for _, s := range q.SortFields {
		name := s
		if strings.HasPrefix(s, "T=") {
			name = "T="
		}
		if !outNames[name] {
			return nil, badf(s, "sort field %q is not a selected field", s)
		}
		p.sortKeys = append(p.sortKeys, name)
	}
	if q.Limit < 0 {
		return nil, badf("limit", "limit must not be negative")
	}
	// Flow tables take the direction: dir, else ingress (1).
	if store.IsFlowTable(q.Table) {
		dir := 1
		if q.Dir != nil {
			dir = *q.Dir
		}
		cond := store.Match{Name: "direction_ing", Op: store.OpEqual, Value: int64(dir)}
		if len(p.q.Where) == 0 {
			p.q.Where = [][]store.Match{{cond}}
		} else {
			w := make([][]store.Match, len(p.q.Where))
			for i, and := range p.q.Where {
				w[i] = append(append([]store.Match(nil), and...), cond)
			}
			p.q.Where = w
		}
	}
	if q.Table == store.FlowRecordTable && mergeFlowRecords {
		p.planRecords()
	}
	return p, nil
}

// countable: COUNT takes a column, an attribute prefix of columns (stat
// tables: COUNT(process_mem_cpu_usage)) or the table's stat attribute.
func countable(tbl store.Table, arg string, isColumn func(string) bool) bool {
	if arg == "" {
		return false
	}
	if arg == "*" || isColumn(arg) || strings.HasSuffix(tbl.Name, "."+arg) {
		return true
	}
	for _, c := range tbl.Columns {
		if strings.HasPrefix(c.Name, arg+".") {
			return true
		}
	}
	return false
}

// acc accumulates one aggregate of one group.
type acc struct {
	rows       int64
	nInt, nFlt int64
	isum       int64
	fsum       float64
	imin, imax int64
	fmin, fmax float64
}

func (a *acc) addInt(v int64) {
	if a.nInt == 0 {
		a.imin, a.imax = v, v
	} else {
		a.imin, a.imax = min(a.imin, v), max(a.imax, v)
	}
	a.nInt++
	a.isum += v
}

func (a *acc) addFloat(v float64) {
	if math.IsNaN(v) {
		return
	}
	if a.nFlt == 0 {
		a.fmin, a.fmax = v, v
	} else {
		a.fmin, a.fmax = math.Min(a.fmin, v), math.Max(a.fmax, v)
	}
	a.nFlt++
	a.fsum += v
}

func (a *acc) addValue(v any) {
	switch x := v.(type) {
	case int64:
		a.addInt(x)
	case float64:
		a.addFloat(x)
	case bool:
		if x {
			a.addInt(1)
		} else {
			a.addInt(0)
		}
	}
}

func (a *acc) merge(b *acc) {
	a.rows += b.rows
	if b.nInt > 0 {
		if a.nInt == 0 {
			a.imin, a.imax = b.imin, b.imax
		} else {
			a.imin, a.imax = min(a.imin, b.imin), max(a.imax, b.imax)
		}
		a.nInt += b.nInt
		a.isum += b.isum
	}
	if b.nFlt > 0 {
		if a.nFlt == 0 {
			a.fmin, a.fmax = b.fmin, b.fmax
		} else {
			a.fmin, a.fmax = math.Min(a.fmin, b.fmin), math.Max(a.fmax, b.fmax)
		}
		a.nFlt += b.nFlt
		a.fsum += b.fsum
	}
}

func (a *acc) result(kind int) any {
	switch kind {
	case aggCount:
		return a.rows
	case aggSum:
		if a.nFlt == 0 {
			return a.isum
		}
		return float64(a.isum) + a.fsum
	case aggAvg:
		n := a.nInt + a.nFlt
		if n == 0 {
			return nil
		}
		return (float64(a.isum) + a.fsum) / float64(n)
	case aggMax:
		switch {
		case a.nInt == 0 && a.nFlt == 0:
			return nil
		case a.nFlt == 0:
			return a.imax
		case a.nInt == 0:
			return a.fmax
		}
		return math.Max(float64(a.imax), a.fmax)
	case aggMin:
		switch {
		case a.nInt == 0 && a.nFlt == 0:
			return nil
		case a.nFlt == 0:
			return a.imin
		case a.nInt == 0:
			return a.fmin
		}
		return math.Min(float64(a.imin), a.fmin)
	}
	return nil
}

type group struct {
	vals []any // values of plan.group fields
	accs []acc // one per plan.aggs
}

// worker is one scanning goroutine's partial result.
type worker struct {
	groups map[string]*group
	rows   []map[string]any
	keybuf []byte
	slots  []int32
	err    error
}

func appendKey(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'n')
	case string:
		b = append(b, 's')
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...)
	case int64:
		b = append(b, 'i')
		return binary.BigEndian.AppendUint64(b, uint64(x))
	case float64:
		b = append(b, 'f')
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	case bool:
		if x {
			return append(b, 'T')
		}
		return append(b, 'F')
	}
	return append(b, '?')
}

func floorBin(t, bin int64) int64 {
	q := t / bin
	if t%bin != 0 && t < 0 {
		q--
	}
	return q * bin
}

// fastKey is a group key made of up to 4 fixed-size parts.
type fastKey struct {
	v      [4]uint64
	absent uint8
}

type localGroup struct {
	row  int32
	accs []acc
}

func (p *plan) groupBatch(w *worker, b *store.Batch) {
	gviews := make([]store.ColumnView, len(p.group))
	fast := len(p.group) <= 4
	for gi, fi := range p.group {
		f := p.fields[fi]
		if f.kind == fPlain {
			gviews[gi] = b.Column(f.src)
			if gviews[gi].Kind == store.ColMixed {
				fast = false
			}
		}
	}
	aviews := make([]store.ColumnView, len(p.aggs))
	for ai, fi := range p.aggs {
		if f := p.fields[fi]; f.src != "" {
			aviews[ai] = b.Column(f.src)
		}
	}
	accumulate := func(accs []acc, i int32) {
		for ai := range accs {
			a := &accs[ai]
			a.rows++
			if p.fields[p.aggs[ai]].agg == aggCount {
				continue
			}
			v := &aviews[ai]
			switch v.Kind {
			case store.ColInt, store.ColBool:
				if v.Present[i>>6]&(1<<(uint(i)&63)) != 0 {
					a.addInt(v.Ints[i])
				}
			case store.ColFloat:
				if v.Present[i>>6]&(1<<(uint(i)&63)) != 0 {
					a.addFloat(v.Floats[i])
				}
			case store.ColMixed:
				a.addValue(v.Mixed[i])
			}
		}
	}
	valuesOf := func(i int32) []any {
		vals := make([]any, len(p.group))
		for gi, fi := range p.group {
			switch p.fields[fi].kind {
			case fTime:
				vals[gi] = b.T[i]
			case fBin:
				vals[gi] = floorBin(b.T[i], p.binUS)
			default:
				vals[gi] = gviews[gi].Value(int(i))
			}
		}
		return vals
	}
	mergeGroup := func(vals []any, accs []acc) {
		w.keybuf = w.keybuf[:0]
		for _, v := range vals {
			w.keybuf = appendKey(w.keybuf, v)
		}
		g := w.groups[string(w.keybuf)]
		if g == nil {
			g = &group{vals: vals, accs: make([]acc, len(p.aggs))}
			w.groups[string(w.keybuf)] = g
		}
		for ai := range accs {
			g.accs[ai].merge(&accs[ai])
		}
	}
	if !fast {
		accs := make([]acc, len(p.aggs))
		for _, i := range b.Sel {
			for ai := range accs {
				accs[ai] = acc{}
			}
			accumulate(accs, i)
			mergeGroup(valuesOf(i), accs)
		}
		return
	}
	var groups []localGroup
	newGroup := func(i int32) int32 {
		groups = append(groups, localGroup{row: i, accs: make([]acc, len(p.aggs))})
		return int32(len(groups) - 1)
	}
	if dims, total, ok := p.denseDims(b, gviews); ok {
		// Every group field has a small range of values in this batch:
		// the group is found by indexing an array.
		if cap(w.slots) < total {
			w.slots = make([]int32, total)
		}
		slots := w.slots[:total]
		for _, i := range b.Sel {
			idx := 0
			for gi := range dims {
				idx = idx*dims[gi].size + dims[gi].index(b, &gviews[gi], i, p.binUS)
			}
			g := slots[idx]
			if g == 0 {
				g = newGroup(i) + 1
				slots[idx] = g
			}
			accumulate(groups[g-1].accs, i)
		}
		clear(slots)
	} else {
		local := make(map[fastKey]int32)
		var last fastKey
		lastG := int32(-1)
		for _, i := range b.Sel {
			var k fastKey
			for gi, fi := range p.group {
				switch p.fields[fi].kind {
				case fTime:
					k.v[gi] = uint64(b.T[i])
					continue
				case fBin:
					k.v[gi] = uint64(floorBin(b.T[i], p.binUS))
					continue
				}
				v := &gviews[gi]
				switch v.Kind {
				case store.ColString:
					k.v[gi] = uint64(v.Codes[i])
				case store.ColInt, store.ColBool:
					if v.Present[i>>6]&(1<<(uint(i)&63)) != 0 {
						k.v[gi] = uint64(v.Ints[i])
					} else {
						k.absent |= 1 << gi
					}
				case store.ColFloat:
					if v.Present[i>>6]&(1<<(uint(i)&63)) != 0 {
						k.v[gi] = math.Float64bits(v.Floats[i])
					} else {
						k.absent |= 1 << gi
					}
				default:
					k.absent |= 1 << gi
				}
			}
			gi := lastG
			if gi < 0 || k != last {
				var ok bool
				gi, ok = local[k]
				if !ok {
					gi = newGroup(i)
					local[k] = gi
				}
				last, lastG = k, gi
			}
			accumulate(groups[gi].accs, i)
		}
	}
	for _, lg := range groups {
		mergeGroup(valuesOf(lg.row), lg.accs)
	}
}

// dim is one group field of the dense grouping: its values in a batch
// map onto 0..size-1.
type dim struct {
	kind int // dimBin, dimCode, dimInt, dimNone
	base int64
	size int
}

const (
	dimNone = iota // the column is absent: one value
	dimBin
	dimCode
	dimInt // 0 absent, 1+v-base
)

func (d *dim) index(b *store.Batch, v *store.ColumnView, i int32, bin int64) int {
	switch d.kind {
	case dimBin:
		return int((floorBin(b.T[i], bin) - d.base) / bin)
	case dimCode:
		return int(v.Codes[i])
	case dimInt:
		if v.Present[i>>6]&(1<<(uint(i)&63)) == 0 {
			return 0
		}
		return int(v.Ints[i]-d.base) + 1
	}
	return 0
}

// denseDims decides whether a batch can be grouped through an array: every
// group field is a time bin, a dictionary column or an integer column
// whose range in the batch is small, and the product of the ranges is at
// most a few times the rows.
func (p *plan) denseDims(b *store.Batch, gviews []store.ColumnView) ([]dim, int, bool) {
	if len(b.Sel) == 0 {
		return nil, 0, false
	}
	limit := 4*len(b.Sel) + 4096
	dims := make([]dim, len(p.group))
	total := 1
	for gi, fi := range p.group {
		d := &dims[gi]
		switch p.fields[fi].kind {
		case fTime:
			return nil, 0, false
		case fBin:
			lo, hi := b.T[b.Sel[0]], b.T[b.Sel[0]]
			for _, i := range b.Sel {
				lo, hi = min(lo, b.T[i]), max(hi, b.T[i])
			}
			lo, hi = floorBin(lo, p.binUS), floorBin(hi, p.binUS)
			n := (hi - lo) / p.binUS
			if n < 0 || n >= int64(limit) {
				return nil, 0, false
			}
			d.kind, d.base, d.size = dimBin, lo, int(n)+1
		default:
			v := &gviews[gi]
			switch v.Kind {
			case store.ColAbsent:
				d.kind, d.size = dimNone, 1
			case store.ColString:
				d.kind, d.size = dimCode, len(v.Dict)
			case store.ColInt, store.ColBool:
				first := true
				var lo, hi int64
				for _, i := range b.Sel {
					if v.Present[i>>6]&(1<<(uint(i)&63)) != 0 {
						x := v.Ints[i]
						if first {
							lo, hi, first = x, x, false
						} else {
							lo, hi = min(lo, x), max(hi, x)
						}
					}
				}
				n := hi - lo
				if n < 0 || n >= int64(limit) {
					return nil, 0, false
				}
				d.kind, d.base, d.size = dimInt, lo, int(n)+2
			default:
				return nil, 0, false
			}
		}
		if d.size <= 0 || total > limit/d.size {
			return nil, 0, false
		}
		total *= d.size
	}
	return dims, total, true
}

func (p *plan) rawBatch(w *worker, b *store.Batch, keep int) {
	views := make([]store.ColumnView, len(p.fields))
	for fi, f := range p.fields {
		if f.kind == fPlain {
			views[fi] = b.Column(f.src)
		}
	}
	for _, i := range b.Sel {
		row := make(map[string]any, len(p.fields))
		for fi, f := range p.fields {
			switch f.kind {
			case fTime:
				row[f.name] = b.T[i]
			default:
				if v := views[fi].Value(int(i)); v != nil {
					row[f.name] = v
				}
			}
		}
		if len(p.filter) > 0 && !store.MatchRow(p.filter, row) {
			continue
		}
		w.rows = append(w.rows, row)
		if keep > 0 && len(w.rows) >= 2*keep+1024 {
			p.sortRows(w.rows)
			w.rows = w.rows[:keep]
		}
	}
}

func (e *Engine) execute(ctx context.Context, p *plan) (*Result, error) {
	par := max(1, e.parallel)
	workers := make([]*worker, par)
	for i := range workers {
		workers[i] = &worker{groups: map[string]*group{}}
	}
	keep := p.q.Limit
	handle := func(wi int, b *store.Batch) error {
		w := workers[wi]
		if p.grouping {
			p.groupBatch(w, b)
		} else {
			p.rawBatch(w, b, keep)
			if keep == 0 && len(w.rows) > e.maxRows {
				return badf("", "query result has more than %d rows; add a where clause, a limit or an aggregate", e.maxRows)
			}
		}
		return nil
	}
	var err error
	if p.merge {
		err = e.scanRecords(ctx, p, par, handle)
	} else {
		err = e.scan(ctx, p.q, par, handle)
	}
	if err != nil {
		return nil, err
	}
	var rows []map[string]any
	if p.grouping {
		all := workers[0].groups
		for _, w := range workers[1:] {
			for k, g := range w.groups {
				if h := all[k]; h != nil {
					for ai := range h.accs {
						h.accs[ai].merge(&g.accs[ai])
					}
				} else {
					all[k] = g
				}
			}
		}
		rows = make([]map[string]any, 0, len(all))
		for _, g := range all {
			row := make(map[string]any, len(p.fields))
			for gi, fi := range p.group {
				if g.vals[gi] != nil {
					row[p.fields[fi].name] = g.vals[gi]
				}
			}
			for ai, fi := range p.aggs {
				if v := g.accs[ai].result(p.fields[fi].agg); v != nil {
					row[p.fields[fi].name] = v
				}
			}
			if len(p.filter) > 0 && !store.MatchRow(p.filter, row) {
				continue
			}
			rows = append(rows, row)
		}
	} else {
		for _, w := range workers {
			rows = append(rows, w.rows...)
		}
		if keep == 0 && len(rows) > e.maxRows {
			return nil, badf("", "query result has more than %d rows; add a where clause, a limit or an aggregate", e.maxRows)
		}
	}
	p.sortRows(rows)
	if p.q.Limit > 0 && len(rows) > p.q.Limit {
		rows = rows[:p.q.Limit]
	}
	if rows == nil {
		rows = []map[string]any{}
	}
	return &Result{Rows: rows}, nil
}

// scan feeds fn the rows of q in batches: columnar ones from a
// BatchScanner, in parallel, else batches of Store.Scan's rows.
func (e *Engine) scan(ctx context.Context, q store.Query, par int, fn func(worker int, b *store.Batch) error) error {
	if bs, ok := e.st.(store.BatchScanner); ok {
		return bs.ScanBatches(ctx, q, par, fn)
	}
	return scanRows(ctx, e.st, q, func(b *store.Batch) error { return fn(0, b) })
}

// scanRows feeds a store's rows to fn in batches (stores without
// BatchScanner).
func scanRows(ctx context.Context, st store.Store, q store.Query, fn func(*store.Batch) error) error {
	const size = 4096
	buf := make([]store.Row, 0, size)
	var ferr error
	err := st.Scan(ctx, q, func(r store.Row) bool {
		buf = append(buf, r)
		if len(buf) == size {
			ferr = fn(store.RowsBatch(buf))
			buf = buf[:0]
		}
		return ferr == nil
	})
	if err == nil && ferr == nil && len(buf) > 0 {
		ferr = fn(store.RowsBatch(buf))
	}
	if err != nil {
		return err
	}
	return ferr
}

// rank orders values of different types: absent, bool, number, string.
func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case int64, float64:
		return 2
	case string:
		return 3
	}
	return 4
}

// CompareValues is the total order results are sorted by.
func CompareValues(a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch x := a.(type) {
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case int64:
		if y, ok := b.(int64); ok {
			return cmpOrdered(x, y)
		}
		return cmpOrdered(float64(x), b.(float64))
	case float64:
		if y, ok := b.(int64); ok {
			return cmpOrdered(x, float64(y))
		}
		return cmpOrdered(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	}
	return 0
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortRows orders rows by the sort fields (sort 2 = descending), then by
// every selected field ascending so that the order is total; without
// sort fields, by the time fields first.
func (p *plan) sortRows(rows []map[string]any) {
	keys := append([]string(nil), p.sortKeys...)
	desc := p.q.Sort == 2
	nsort := len(keys)
	for _, f := range p.fields {
		if f.kind == fTime || f.kind == fBin {
			keys = append(keys, f.name)
		}
	}
	for _, f := range p.fields {
		if f.kind != fTime && f.kind != fBin {
			keys = append(keys, f.name)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for k, name := range keys {
			c := CompareValues(rows[i][name], rows[j][name])
			if c == 0 {
				continue
			}
			if k < nsort && desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
}

// MarshalJSON writes {"value": [...]}.
func (r *Result) MarshalJSON() ([]byte, error) {
	type plain Result
	if r.Rows == nil {
		return []byte(`{"value":[]}`), nil
	}
	return json.Marshal((*plain)(r))
}
