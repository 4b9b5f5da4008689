// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"math/rand"
	"reflect"
	"testing"
)

// Rows of every column kind (strings, ints, floats, bools, a column that
// changes type, missing fields) survive the column-file round trip.
func TestColumnFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, dir, Options{BlockRows: 50})
	rows := randomRows(rand.New(rand.NewSource(5)), 500)
	if err := e.Write(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	before := scanAll(t, e, wholeDay(FlowSeriesTable))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := openT(t, dir, Options{BlockRows: 50})
	defer e2.Close()
	after := scanAll(t, e2, wholeDay(FlowSeriesTable))
	if !reflect.DeepEqual(before, after) {
		t.Fatal("rows differ after reopening from column files")
	}
	if len(after) != len(rows) {
		t.Fatalf("%d rows, want %d", len(after), len(rows))
	}
}

// FuzzDecode: corrupted log records and column blocks are errors, never
// panics.
func FuzzDecode(f *testing.F) {
	b := newBlock(1, 8)
	for i, r := range randomRows(rand.New(rand.NewSource(1)), 20) {
		b.appendRow(int64(i), r.Fields)
	}
	f.Add(b.encode())
	f.Add(encodeRows(randomRows(rand.New(rand.NewSource(2)), 5)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if blk, err := decodeBlock(data, 1); err == nil {
			views := blk.views()
			for i := 0; i < blk.rows(); i++ {
				blk.row("T", i, views)
			}
			blk.selectRows(0, 1<<62, nil, nil)
		}
		decodeRows(data)
	})
}
