// SPDX-License-Identifier: Apache-2.0

package store

import "context"

// ColKind is how a column of a Batch holds its values.
type ColKind uint8

// Column kinds.
const (
	ColAbsent ColKind = iota // no row of the batch has the field
	ColString                // dictionary-encoded strings: Dict[Codes[i]], code 0 = absent
	ColInt                   // Ints[i] when Has(i)
	ColFloat                 // Floats[i] when Has(i)
	ColBool                  // Ints[i] is 0 or 1 when Has(i)
	ColMixed                 // Mixed[i], nil = absent
)

// ColumnView is one column of a Batch. Its slices are valid only during
// the callback that received the batch; the strings of Dict are ordinary
// heap strings and may be kept.
type ColumnView struct {
	Kind    ColKind
	Dict    []string
	Codes   []uint32
	Ints    []int64
	Floats  []float64
	Mixed   []any
	Present []uint64 // bit i set when row i has a value (ColInt, ColFloat, ColBool)
}

// Has tells whether row i has a value.
func (c *ColumnView) Has(i int) bool {
	switch c.Kind {
	case ColString:
		return c.Codes[i] != 0
	case ColInt, ColFloat, ColBool:
		return c.Present[i>>6]&(1<<(uint(i)&63)) != 0
	case ColMixed:
		return c.Mixed[i] != nil
	}
	return false
}

// Value returns row i's value (string, int64, float64 or bool), nil when
// the row lacks it.
func (c *ColumnView) Value(i int) any {
	if !c.Has(i) {
		return nil
	}
	switch c.Kind {
	case ColString:
		return c.Dict[c.Codes[i]]
	case ColInt:
		return c.Ints[i]
	case ColFloat:
		return c.Floats[i]
	case ColBool:
		return c.Ints[i] != 0
	case ColMixed:
		return c.Mixed[i]
	}
	return nil
}

// Batch is a run of rows of one table in columnar form. Sel lists the
// rows (indexes into T and the columns) that fall in the query's time
// range and match its where clause. Like the columns' slices, T and Sel
// are valid only during the callback that received the batch (they may
// point into a column file's mapping); values taken out of them (numbers
// and Dict strings) may be kept.
type Batch struct {
	T    []int64
	Sel  []int32
	cols func(name string) ColumnView
}

// NewBatch builds a batch over columns given by a lookup function.
func NewBatch(t []int64, sel []int32, cols func(name string) ColumnView) *Batch {
	return &Batch{T: t, Sel: sel, cols: cols}
}

// Column returns the named column (Kind ColAbsent when no row has it).
func (b *Batch) Column(name string) ColumnView {
	if b.cols == nil {
		return ColumnView{}
	}
	return b.cols(name)
}

// RowsBatch turns rows into a batch of ColMixed columns, every row
// selected; the query engine uses it over stores without BatchScanner.
func RowsBatch(rows []Row) *Batch {
	t := make([]int64, len(rows))
	sel := make([]int32, len(rows))
	for i, r := range rows {
		t[i] = r.T
		sel[i] = int32(i)
	}
	return &Batch{T: t, Sel: sel, cols: func(name string) ColumnView {
		vals := make([]any, len(rows))
		any := false
		for i, r := range rows {
			if v, ok := Normalize(r.Fields[name]); ok {
				vals[i] = v
				any = true
			}
		}
		if !any {
			return ColumnView{}
		}
		return ColumnView{Kind: ColMixed, Mixed: vals}
	}}
}

// BatchScanner is implemented by stores that can hand out rows in
// columnar batches, the query engine's fast path.
type BatchScanner interface {
	// ScanBatches calls fn for batches holding every row of q.Table with
	// StartTime <= T <= EndTime matching q.Where. Batches come in no
	// particular order, from at most parallel goroutines at once; worker
	// (0 <= worker < parallel) tells which, so that the caller can keep
	// state per worker without locks. An error from fn stops the scan and
	// is returned.
	ScanBatches(ctx context.Context, q Query, parallel int, fn func(worker int, b *Batch) error) error
}
