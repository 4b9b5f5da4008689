// SPDX-License-Identifier: Apache-2.0

package store

import (
	"fmt"
	"math"
	"sort"
	"sync"
)

// column is one field of a block. Strings are dictionary-encoded per
// block (code 0 is "absent"); numbers are kept unboxed with a presence
// bitmap; a field whose values change type becomes a mixed column.
//
// A column of a sealed block read from a column file points into the
// file's mapping: codes, ints, floats and present are slices of it, the
// dictionary is ms (decoded to the heap on demand) and mixed values are
// mixedRaw (decoded on demand); dict and mixed are nil then.
type column struct {
	kind     ColKind
	n        int
	dict     []string
	index    map[string]uint32
	codes    []uint32
	ints     []int64
	floats   []float64
	mixed    []any
	present  []uint64
	ms       *mappedDict
	mixedRaw []byte
}

// dictionary returns the strings of a ColString column (entry 0 is "").
func (c *column) dictionary() []string {
	if c.ms != nil {
		return c.ms.get()
	}
	return c.dict
}

// mixedValues returns the values of a ColMixed column.
func (c *column) mixedValues() []any {
	if c.mixedRaw != nil {
		m, err := decodeMixed(c.mixedRaw, c.n)
		if err != nil {
			return make([]any, c.n) // checked when the file was opened
		}
		return m
	}
	return c.mixed
}

func kindOf(v any) ColKind {
	switch v.(type) {
	case string:
		return ColString
	case int64:
		return ColInt
	case float64:
		return ColFloat
	case bool:
		return ColBool
	}
	return ColMixed
}

func newColumn(kind ColKind, nulls, capHint int) *column {
	c := &column{kind: kind}
	switch kind {
	case ColString:
		c.dict = []string{""}
		c.index = map[string]uint32{}
		c.codes = make([]uint32, nulls, max(capHint, nulls))
	case ColInt, ColBool:
		c.ints = make([]int64, nulls, max(capHint, nulls))
	case ColFloat:
		c.floats = make([]float64, nulls, max(capHint, nulls))
	case ColMixed:
		c.mixed = make([]any, nulls, max(capHint, nulls))
	}
	c.n = nulls
	c.growPresent()
	return c
}

func (c *column) growPresent() {
	if c.kind == ColInt || c.kind == ColFloat || c.kind == ColBool {
		for len(c.present)*64 < c.n+1 {
			c.present = append(c.present, 0)
		}
	}
}

func (c *column) setBit(i int) { c.present[i>>6] |= 1 << (uint(i) & 63) }

func (c *column) value(i int) any {
	v := c.view()
	return v.Value(i)
}

func (c *column) appendNull() {
	switch c.kind {
	case ColString:
		c.codes = append(c.codes, 0)
	case ColInt, ColBool:
		c.ints = append(c.ints, 0)
	case ColFloat:
		c.floats = append(c.floats, 0)
	case ColMixed:
		c.mixed = append(c.mixed, nil)
	}
	c.n++
	c.growPresent()
}

// toMixed converts the column to ColMixed, keeping its values.
func (c *column) toMixed() {
	m := make([]any, c.n, cap(c.codes)+cap(c.ints)+cap(c.floats)+1)
	for i := 0; i < c.n; i++ {
		m[i] = c.value(i)
	}
	*c = column{kind: ColMixed, n: c.n, mixed: m}
}

// appendValue appends v (already normalized) as the next row.
func (c *column) appendValue(v any) {
	if k := kindOf(v); k != c.kind && c.kind != ColMixed {
		c.toMixed()
	}
	switch c.kind {
	case ColString:
		s := v.(string)
		if c.index == nil {
			c.index = make(map[string]uint32, len(c.dict))
			for i, d := range c.dict[1:] {
				c.index[d] = uint32(i + 1)
			}
		}
		code, ok := c.index[s]
		if !ok {
			code = uint32(len(c.dict))
			c.dict = append(c.dict, s)
			c.index[s] = code
		}
		c.codes = append(c.codes, code)
	case ColInt:
		c.ints = append(c.ints, v.(int64))
		c.setBit(c.n)
	case ColBool:
		b := int64(0)
		if v.(bool) {
			b = 1
		}
		c.ints = append(c.ints, b)
		c.setBit(c.n)
	case ColFloat:
		c.floats = append(c.floats, v.(float64))
		c.setBit(c.n)
	case ColMixed:
		c.mixed = append(c.mixed, v)
	}
	c.n++
	c.growPresent()
}

func (c *column) view() ColumnView {
	v := ColumnView{Kind: c.kind, Codes: c.codes[:min(len(c.codes), c.n)],
		Ints: c.ints, Floats: c.floats, Present: c.present}
	switch c.kind {
	case ColString:
		v.Dict = c.dictionary()
	case ColMixed:
		v.Mixed = c.mixedValues()
	}
	return v
}

// block holds up to Options.BlockRows rows of one table partition. Once
// sealed it never changes; the open block of a partition takes appends
// under mu. A block read from a column file (file != nil) is sealed and
// its arrays point into the file's mapping, valid while a reference to
// the file is held.
type block struct {
	mu         sync.RWMutex
	gen        uint64 // write-ahead-log generation of its rows
	sealed     bool
	file       *colFile
	t          []int64
	minT, maxT int64
	cols       map[string]*column
	names      []string // column names in creation order
	capHint    int
}

func newBlock(gen uint64, capHint int) *block {
	return &block{gen: gen, cols: map[string]*column{}, minT: math.MaxInt64, maxT: math.MinInt64, capHint: capHint}
}

func (b *block) rows() int { return len(b.t) }

// appendRow adds a row; the caller holds b.mu. It tells whether the row
// added a column to the block.
func (b *block) appendRow(t int64, fields map[string]any) (newCol bool) {
	n := len(b.t)
	b.t = append(b.t, t)
	b.minT = min(b.minT, t)
	b.maxT = max(b.maxT, t)
	for k, v := range fields {
		nv, ok := Normalize(v)
		if !ok {
			continue
		}
		c := b.cols[k]
		if c == nil {
			c = newColumn(kindOf(nv), n, b.capHint)
			b.cols[k] = c
			b.names = append(b.names, k)
			newCol = true
		}
		if c.n == n+1 {
			continue // duplicate key cannot happen in a map; defensive
		}
		c.appendValue(nv)
	}
	for _, k := range b.names {
		if c := b.cols[k]; c.n < n+1 {
			c.appendNull()
		}
	}
	return newCol
}

// finish drops what only appends need (the dictionaries' lookup maps)
// once a block is full; the caller holds b.mu.
func (b *block) finish() {
	for _, c := range b.cols {
		c.index = nil
	}
}

// views returns the block's columns in the order of b.names.
func (b *block) views() []ColumnView {
	out := make([]ColumnView, len(b.names))
	for j, k := range b.names {
		out[j] = b.cols[k].view()
	}
	return out
}

// row rebuilds row i as a Row from the block's views.
func (b *block) row(table string, i int, views []ColumnView) Row {
	f := make(map[string]any, len(b.names))
	for j, k := range b.names {
		if v := views[j].Value(i); v != nil {
			f[k] = v
		}
	}
	return Row{Table: table, T: b.t[i], Fields: f}
}

// colView returns a column for a batch (absent columns have ColAbsent).
func (b *block) colView(name string) ColumnView {
	c := b.cols[name]
	if c == nil {
		return ColumnView{}
	}
	return c.view()
}

// selectRows returns the indexes of rows in [start, end] matching terms.
func (b *block) selectRows(start, end int64, terms [][]*Matcher, sel []int32) []int32 {
	sel = sel[:0]
	n := len(b.t)
	if n == 0 || b.maxT < start || b.minT > end {
		return sel
	}
	all := b.minT >= start && b.maxT <= end
	if len(terms) == 0 {
		for i := 0; i < n; i++ {
			if all || (b.t[i] >= start && b.t[i] <= end) {
				sel = append(sel, int32(i))
			}
		}
		return sel
	}
	// Every term is evaluated column by column over a candidate list.
	var hit []bool
	if len(terms) > 1 {
		hit = make([]bool, n)
	}
	cand := make([]int32, 0, n)
	for ti, and := range terms {
		cand = cand[:0]
		for i := 0; i < n; i++ {
			if (all || (b.t[i] >= start && b.t[i] <= end)) && (hit == nil || !hit[i]) {
				cand = append(cand, int32(i))
			}
		}
		for _, m := range and {
			if len(cand) == 0 {
				break
			}
			cand = b.filter(m, cand)
		}
		if hit == nil {
			return append(sel, cand...)
		}
		for _, i := range cand {
			hit[i] = true
		}
		_ = ti
	}
	for i := 0; i < n; i++ {
		if hit[i] {
			sel = append(sel, int32(i))
		}
	}
	return sel
}

// filter keeps the candidates for which m holds.
func (b *block) filter(m *Matcher, cand []int32) []int32 {
	c := b.cols[m.M.Name]
	out := cand[:0]
	if c == nil {
		if m.Absent() {
			return cand
		}
		return out
	}
	absent := m.Absent()
	switch c.kind {
	case ColString:
		dict := c.dictionary()
		ok := make([]bool, len(dict))
		ok[0] = absent
		for i := 1; i < len(dict); i++ {
			ok[i] = m.String(dict[i])
		}
		for _, i := range cand {
			if ok[c.codes[i]] {
				out = append(out, i)
			}
		}
	case ColInt, ColBool:
		for _, i := range cand {
			if c.present[i>>6]&(1<<(uint(i)&63)) == 0 {
				if absent {
					out = append(out, i)
				}
			} else if m.Int(c.ints[i]) {
				out = append(out, i)
			}
		}
	case ColFloat:
		for _, i := range cand {
			if c.present[i>>6]&(1<<(uint(i)&63)) == 0 {
				if absent {
					out = append(out, i)
				}
			} else if m.Float(c.floats[i]) {
				out = append(out, i)
			}
		}
	case ColMixed:
		mixed := c.mixedValues()
		for _, i := range cand {
			if m.Value(mixed[i]) {
				out = append(out, i)
			}
		}
	}
	return out
}

// encode writes a block in the format-1 column-file layout (CTRLCOL1,
// varint-packed; still read, and rewritten in format 2, at open).
func (b *block) encode() []byte {
	e := encoder{b: make([]byte, 0, 16*len(b.t)+64)}
	e.uvarint(uint64(len(b.t)))
	prev := int64(0)
	for _, t := range b.t {
		e.varint(t - prev)
		prev = t
	}
	names := append([]string(nil), b.names...)
	sort.Strings(names)
	e.uvarint(uint64(len(names)))
	for _, k := range names {
		c := b.cols[k]
		e.str(k)
		e.byte1(byte(c.kind))
		switch c.kind {
		case ColString:
			dict := c.dictionary()
			e.uvarint(uint64(len(dict) - 1))
			for _, s := range dict[1:] {
				e.str(s)
			}
			for _, code := range c.codes[:c.n] {
				e.uvarint(uint64(code))
			}
		case ColInt, ColBool:
			e.uvarint(uint64(len(c.present)))
			for _, w := range c.present {
				e.u64(w)
			}
			for _, v := range c.ints[:c.n] {
				e.varint(v)
			}
		case ColFloat:
			e.uvarint(uint64(len(c.present)))
			for _, w := range c.present {
				e.u64(w)
			}
			for _, v := range c.floats[:c.n] {
				e.f64(v)
			}
		case ColMixed:
			for _, v := range c.mixedValues()[:c.n] {
				e.value(v)
			}
		}
	}
	return e.b
}

func decodeBlock(p []byte, gen uint64) (*block, error) {
	d := decoder{b: p}
	n := d.count(1)
	b := newBlock(gen, 0)
	b.sealed = true
	b.t = make([]int64, n)
	prev := int64(0)
	for i := 0; i < n && d.err == nil; i++ {
		prev += d.varint()
		b.t[i] = prev
		b.minT = min(b.minT, prev)
		b.maxT = max(b.maxT, prev)
	}
	nc := d.count(2)
	for j := 0; j < nc && d.err == nil; j++ {
		name := d.str()
		kind := ColKind(d.byte1())
		c := &column{kind: kind, n: n}
		switch kind {
		case ColString:
			nd := d.count(1)
			c.dict = make([]string, 1, nd+1)
			for i := 0; i < nd && d.err == nil; i++ {
				c.dict = append(c.dict, d.str())
			}
			c.codes = make([]uint32, n)
			for i := 0; i < n && d.err == nil; i++ {
				code := d.uvarint()
				if code >= uint64(len(c.dict)) {
					return nil, fmt.Errorf("column %q: code %d out of range", name, code)
				}
				c.codes[i] = uint32(code)
			}
		case ColInt, ColBool, ColFloat:
			nw := d.count(8)
			if nw*64 < n {
				return nil, fmt.Errorf("column %q: short presence bitmap", name)
			}
			c.present = make([]uint64, nw)
			for i := range c.present {
				c.present[i] = d.u64()
			}
			if kind == ColFloat {
				c.floats = make([]float64, n)
				for i := 0; i < n && d.err == nil; i++ {
					c.floats[i] = d.f64()
				}
			} else {
				c.ints = make([]int64, n)
				for i := 0; i < n && d.err == nil; i++ {
					c.ints[i] = d.varint()
				}
			}
		case ColMixed:
			c.mixed = make([]any, n)
			for i := 0; i < n && d.err == nil; i++ {
				c.mixed[i] = d.value()
			}
		default:
			return nil, fmt.Errorf("column %q: unknown kind %d", name, kind)
		}
		if _, dup := b.cols[name]; dup {
			return nil, fmt.Errorf("column %q twice", name)
		}
		b.cols[name] = c
		b.names = append(b.names, name)
	}
	if d.err != nil {
		return nil, d.err
	}
	return b, nil
}
