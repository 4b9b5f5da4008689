// SPDX-License-Identifier: Apache-2.0

package query

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/contrail-go/contrail/internal/analytics/store"
)

// FlowRecordTable holds one record per flow in the original (Cassandra
// upserted the row keyed by the flow's uuid on every export), while our
// store appends a row for every FlowLogData an agent sends about a flow:
// at setup, on counter updates and at teardown. The engine merges those
// rows back into one record per UuidKey before the where on non-key
// columns, the grouping, the filter, the sort and the limit:
//
//   - setup_time is the smallest value among the rows, teardown_time and
//     the cumulative counters agg-bytes and agg-packets the largest (the
//     counters only grow, so the largest is the latest); every other
//     column takes the value of the latest row (by T) that has one.
//   - The record's T is its setup_time, or the T of its first row when no
//     row has a setup_time. A query over [start_time, end_time] returns
//     the records whose T falls in it, as they stand at end_time: rows
//     after end_time are not read (a flow still open at end_time has no
//     teardown_time and the counters of its last export before end_time),
//     and a flow set up before start_time is left out even when it was
//     exported again within the range.
//   - The flow's key columns (recordKeyColumns) are the same in every
//     export, so where matches on them go to the store; the whole where
//     is then checked again on the merged records when it also names
//     other columns (teardown_time, agg-bytes, action...).
//   - A row without a UuidKey is a record of its own.
//
// Merging needs every row of a flow in one place; most flows have a
// single row, which is its own record. A first scan counts the UuidKeys
// (by a 31-bit hash: a collision only sends a single-row flow down the
// merge path) and merges the rows while there are few; when the rows
// exceed mergeBudget, a second scan sends the rows of UuidKeys seen once
// down the columnar fast path and merges only the others. A row of the
// query's range committed between the two scans (a query ending at "now"
// while exports arrive late) may thus leave its flow in two records;
// a range in the past is exact.

// recordKeyColumns are the columns that identify a flow: every export of
// a flow carries the same values.
var recordKeyColumns = map[string]bool{
	"UuidKey": true, "vrouter": true, "sourcevn": true, "sourceip": true, "destvn": true, "destip": true,
	"protocol": true, "sport": true, "dport": true, "direction_ing": true,
}

const (
	colUUID  = "UuidKey"
	colSetup = "setup_time"
)

// mergeFlowRecords is off only in benchmarks that measure the rows
// unmerged (what a FlowRecordTable query cost before records were merged).
var mergeFlowRecords = true

// mergeBudget is how many rows the first scan merges before it falls back
// to counting only.
var mergeBudget int64 = 32_768

// merge rules of record columns.
const (
	ruleLatest = iota
	ruleMin
	ruleMax
)

func ruleOf(col string) int {
	switch col {
	case colSetup:
		return ruleMin
	case "teardown_time", "agg-bytes", "agg-packets":
		return ruleMax
	}
	return ruleLatest
}

// planRecords fills the merge part of a FlowRecordTable plan: the where
// sent to the store, the where checked on merged records and the columns
// a record keeps.
func (p *plan) planRecords() {
	p.merge = true
	exact := true
	var relaxed [][]store.Match
	for _, and := range p.q.Where {
		var keep []store.Match
		for _, m := range and {
			if recordKeyColumns[m.Name] {
				keep = append(keep, m)
			} else {
				exact = false
			}
		}
		if len(keep) == 0 {
			relaxed = nil // this AND may hold for any flow: the store must send every row
			break
		}
		relaxed = append(relaxed, keep)
	}
	p.scanWhere = relaxed
	if !exact {
		p.postWhere, _ = store.CompileTerms(p.q.Where) // compiled without error in planWith
	}
	seen := map[string]bool{colUUID: true}
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			p.need = append(p.need, c)
			p.rules = append(p.rules, ruleOf(c))
		}
	}
	add(colSetup)
	p.setupIdx = 0
	for _, f := range p.fields {
		if f.kind == fPlain || (f.kind == fAgg && f.agg != aggCount) {
			add(f.src)
		}
	}
	for _, and := range p.q.Where {
		for _, m := range and {
			add(m.Name)
		}
	}
}

// mrec is a flow record being merged.
type mrec struct {
	uuid   string
	h      uint64 // hash of uuid
	first  int64  // smallest T of its rows
	vals   []mval // values of plan.need
	inline [6]mval
}

// mval is a record's value of a column and the T of the row it came from.
type mval struct {
	v  any
	at int64
}

func (p *plan) newRec(uuid string, h uint64, t int64) *mrec {
	r := &mrec{uuid: uuid, h: h, first: t}
	if len(p.need) <= len(r.inline) {
		r.vals = r.inline[:len(p.need)]
	} else {
		r.vals = make([]mval, len(p.need))
	}
	return r
}

// recMap holds records by the hash of their UuidKey; the rare second
// UuidKey of a hash goes to a plain map.
type recMap struct {
	byHash map[uint64]*mrec
	more   map[string]*mrec
}

func newRecMap() recMap { return recMap{byHash: map[uint64]*mrec{}} }

// get returns the record of uuid (hash h), nil if there is none.
func (m *recMap) get(uuid string, h uint64) *mrec {
	if r := m.byHash[h]; r == nil || r.uuid == uuid {
		return r
	}
	return m.more[uuid]
}

func (m *recMap) put(r *mrec) {
	if old := m.byHash[r.h]; old == nil || old.uuid == r.uuid {
		m.byHash[r.h] = r
		return
	}
	if m.more == nil {
		m.more = map[string]*mrec{}
	}
	m.more[r.uuid] = r
}

func (m *recMap) each(fn func(*mrec) error) error {
	for _, r := range m.byHash {
		if err := fn(r); err != nil {
			return err
		}
	}
	for _, r := range m.more {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// put merges value v of column k, from a row at time t, into r.
func (p *plan) put(r *mrec, k int, v any, t int64) {
	if v == nil {
		return
	}
	mv := &r.vals[k]
	cur := mv.v
	if cur != nil {
		switch p.rules[k] {
		case ruleMin:
			if CompareValues(v, cur) >= 0 {
				return
			}
		case ruleMax:
			if CompareValues(v, cur) <= 0 {
				return
			}
		default:
			if t < mv.at || (t == mv.at && CompareValues(v, cur) <= 0) {
				return
			}
		}
	}
	mv.v, mv.at = v, t
}

// combine merges record b into a.
func (p *plan) combine(a, b *mrec) {
	a.first = min(a.first, b.first)
	for k, mv := range b.vals {
		p.put(a, k, mv.v, mv.at)
	}
}

// recordT is the time of a merged record: its setup_time, else its first
// row's T.
func (p *plan) recordT(r *mrec) int64 {
	if t, ok := intOf(r.vals[p.setupIdx].v); ok {
		return t
	}
	return r.first
}

func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return int64(x), true
	}
	return 0, false
}

// hset is a set of 31-bit hashes with a flag telling whether a hash was
// added more than once (open addressing, linear probing; 0 is empty).
type hset struct {
	slots []uint32
	n     int
}

const dupBit = 1

func hkey(h uint64) uint32 {
	k := uint32(h>>32) &^ dupBit
	if k == 0 {
		k = 2
	}
	return k
}

// add adds key k (with the dup bit of flags): a key already there gets
// the dup bit.
func (s *hset) add(k, flags uint32) {
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	mask := uint32(len(s.slots) - 1)
	for i := (k >> 1) & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			s.slots[i] = k | flags
			s.n++
			return
		}
		if v&^dupBit == k {
			s.slots[i] = v | dupBit
			return
		}
	}
}

func (s *hset) grow() { s.resize(max(1024, 2*len(s.slots))) }

// reserve makes room for n more keys. Adding the keys of another set
// slot by slot into a table still too small for them would pile them up
// in runs (linear probing): room first.
func (s *hset) reserve(n int) {
	size := max(1024, len(s.slots))
	for 4*(s.n+n) > 3*size {
		size *= 2
	}
	if size > len(s.slots) {
		s.resize(size)
	}
}

func (s *hset) resize(size int) {
	old := s.slots
	s.slots = make([]uint32, size)
	s.n = 0
	for _, v := range old {
		if v != 0 {
			s.add(v&^dupBit, v&dupBit)
		}
	}
}

// dup tells whether key k was added more than once.
func (s *hset) dup(k uint32) bool {
	if len(s.slots) == 0 {
		return false
	}
	mask := uint32(len(s.slots) - 1)
	for i := (k >> 1) & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return false
		}
		if v&^dupBit == k {
			return v&dupBit != 0
		}
	}
}

// The first scan sorts the hkeys of its rows into partitions by their top
// bits; counting them a partition at a time keeps each count table small
// enough for the CPU's cache, where one table over millions of keys
// would cost a cache miss a row.
const (
	hashPartBits = 8
	hashParts    = 1 << hashPartBits
)

// findDups returns the set of hkeys that the workers' rows hold more
// than once, counting the partitions on par goroutines.
func findDups(ws []*mergeWorker, par int) *hset {
	var next atomic.Int64
	found := make([][]uint32, par)
	var wg sync.WaitGroup
	for g := 0; g < par; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var s hset
			for {
				part := int(next.Add(1) - 1)
				if part >= hashParts {
					return
				}
				n := 0
				for _, w := range ws {
					n += len(w.keys[part])
				}
				if n < 2 {
					continue
				}
				clear(s.slots)
				s.n = 0
				s.reserve(n)
				for _, w := range ws {
					for _, k := range w.keys[part] {
						s.add(k, 0)
					}
					w.keys[part] = nil
				}
				for _, v := range s.slots {
					if v&dupBit != 0 {
						found[g] = append(found[g], v&^dupBit)
					}
				}
			}
		}(g)
	}
	wg.Wait()
	n := 0
	for _, f := range found {
		n += len(f)
	}
	dups := &hset{}
	dups.reserve(n)
	for _, f := range found {
		for _, k := range f {
			dups.add(k, dupBit)
		}
	}
	return dups
}

// mergeWorker is one scanning goroutine's merge state.
type mergeWorker struct {
	keys   [hashParts][]uint32 // hkeys of the rows, by partition
	recs   recMap
	loners []*mrec // rows without a UuidKey: each is a record
	views  []store.ColumnView
	tbuf   []int64
	sel    []int32
}

// uuidAt returns row i's UuidKey.
func uuidAt(v *store.ColumnView, i int32) (string, bool) {
	switch v.Kind {
	case store.ColString:
		if c := v.Codes[i]; c != 0 {
			return v.Dict[c], true
		}
		return "", false
	case store.ColAbsent:
		return "", false
	}
	x := v.Value(int(i))
	if x == nil {
		return "", false
	}
	if s, ok := x.(string); ok {
		return s, true
	}
	return store.ValueString(x), true
}

// intAt returns row i's value of an integer column.
func intAt(v *store.ColumnView, i int32) (int64, bool) {
	switch v.Kind {
	case store.ColInt:
		if v.Present[i>>6]&(1<<(uint(i)&63)) != 0 {
			return v.Ints[i], true
		}
		return 0, false
	case store.ColAbsent, store.ColString:
		return 0, false
	}
	return intOf(v.Value(int(i)))
}

// addRow merges row i of a batch into the worker's records.
func (p *plan) addRow(w *mergeWorker, b *store.Batch, i int32, uuid string, h uint64, has bool) {
	t := b.T[i]
	var r *mrec
	switch {
	case !has:
		r = p.newRec("", 0, t)
		w.loners = append(w.loners, r)
	default:
		r = w.recs.get(uuid, h)
		if r == nil {
			r = p.newRec(uuid, h, t)
			w.recs.put(r)
		} else {
			r.first = min(r.first, t)
		}
	}
	for k := range p.need {
		p.put(r, k, w.views[k].Value(int(i)), t)
	}
}

func (p *plan) loadViews(w *mergeWorker, b *store.Batch) {
	w.views = w.views[:0]
	for _, c := range p.need {
		w.views = append(w.views, b.Column(c))
	}
}

// scanRecords runs a FlowRecordTable query: it merges the rows of each
// flow into its record and hands records to handle (worker 0 gets the
// merged ones after the scan; single-row flows of a large scan go
// straight through as columnar batches).
func (e *Engine) scanRecords(ctx context.Context, p *plan, par int, handle func(int, *store.Batch) error) error {
	sq := p.q
	sq.Where = p.scanWhere
	ws := make([]*mergeWorker, par)
	for i := range ws {
		ws[i] = &mergeWorker{recs: newRecMap()}
	}
	seed := maphash.MakeSeed()
	var budget atomic.Int64
	budget.Store(mergeBudget)
	var overflow atomic.Bool

	// First scan: count the UuidKeys, merge while the rows are few.
	err := e.scan(ctx, sq, par, func(wi int, b *store.Batch) error {
		w := ws[wi]
		mat := !overflow.Load()
		if mat && budget.Add(-int64(len(b.Sel))) < 0 {
			overflow.Store(true)
			mat = false
		}
		uv := b.Column(colUUID)
		if mat {
			p.loadViews(w, b)
		}
		for _, i := range b.Sel {
			u, has := uuidAt(&uv, i)
			var h uint64
			if has {
				h = maphash.String(seed, u)
				k := hkey(h)
				w.keys[k>>(32-hashPartBits)] = append(w.keys[k>>(32-hashPartBits)], k)
			}
			if mat {
				p.addRow(w, b, i, u, h, has)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if overflow.Load() {
		// Second scan: only the flows seen more than once are merged.
		dups := findDups(ws, par)
		for _, w := range ws {
			w.recs, w.loners = newRecMap(), nil
		}
		start, end := p.q.StartTime, p.q.EndTime
		err = e.scan(ctx, sq, par, func(wi int, b *store.Batch) error {
			w := ws[wi]
			uv, sv := b.Column(colUUID), b.Column(colSetup)
			if cap(w.tbuf) < len(b.T) {
				w.tbuf = make([]int64, len(b.T))
			}
			tb := w.tbuf[:len(b.T)]
			var pw []store.ColumnView
			if p.postWhere != nil {
				pw = make([]store.ColumnView, len(p.need)+1)
				for k, c := range p.need {
					pw[k] = b.Column(c)
				}
				pw[len(p.need)] = uv
			}
			viewsLoaded := false
			sel := w.sel[:0]
			for _, i := range b.Sel {
				u, has := uuidAt(&uv, i)
				if has {
					if h := maphash.String(seed, u); dups.dup(hkey(h)) {
						if !viewsLoaded {
							p.loadViews(w, b)
							viewsLoaded = true
						}
						p.addRow(w, b, i, u, h, true)
						continue
					}
				}
				t, ok := intAt(&sv, i)
				if !ok {
					t = b.T[i]
				}
				if t < start || t > end {
					continue
				}
				if pw != nil && !p.matchAt(pw, i) {
					continue
				}
				tb[i] = t
				sel = append(sel, i)
			}
			w.sel = sel
			if len(sel) == 0 {
				return nil
			}
			return handle(wi, store.NewBatch(tb, sel, b.Column))
		})
		if err != nil {
			return err
		}
	}
	// The merged records.
	all := &ws[0].recs
	loners := ws[0].loners
	for _, w := range ws[1:] {
		w.recs.each(func(r *mrec) error {
			if a := all.get(r.uuid, r.h); a != nil {
				p.combine(a, r)
			} else {
				all.put(r)
			}
			return nil
		})
		loners = append(loners, w.loners...)
	}
	const chunk = 4096
	rows := make([]store.Row, 0, chunk)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		err := handle(0, store.RowsBatch(rows))
		rows = rows[:0]
		return err
	}
	emit := func(r *mrec) error {
		t := p.recordT(r)
		if t < p.q.StartTime || t > p.q.EndTime {
			return nil
		}
		f := make(map[string]any, len(p.need)+1)
		if r.uuid != "" {
			f[colUUID] = r.uuid
		}
		for k, mv := range r.vals {
			if mv.v != nil {
				f[p.need[k]] = mv.v
			}
		}
		if p.postWhere != nil && !store.MatchRow(p.postWhere, f) {
			return nil
		}
		rows = append(rows, store.Row{Table: p.q.Table, T: t, Fields: f})
		if len(rows) == chunk {
			return flush()
		}
		return nil
	}
	if err := all.each(emit); err != nil {
		return err
	}
	for _, r := range loners {
		if err := emit(r); err != nil {
			return err
		}
	}
	return flush()
}

// matchAt evaluates the where on row i of a batch: views holds the
// columns of plan.need, then UuidKey.
func (p *plan) matchAt(views []store.ColumnView, i int32) bool {
	for _, and := range p.postWhere {
		ok := true
		for _, m := range and {
			var v any
			if m.M.Name == colUUID {
				if u, ok := uuidAt(&views[len(p.need)], i); ok {
					v = u
				}
			} else if k := p.needIndex(m.M.Name); k >= 0 {
				v = views[k].Value(int(i))
			}
			if !m.Value(v) {
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

func (p *plan) needIndex(name string) int {
	for k, c := range p.need {
		if c == name {
			return k
		}
	}
	return -1
}
