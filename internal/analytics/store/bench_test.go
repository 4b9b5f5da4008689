// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkWrite measures durable writes of 1000-row batches of flow
// records (figures only; see bench/analyticsbench for the full set).
func BenchmarkWrite(b *testing.B) {
	e, err := OpenEmbedded(b.TempDir(), Options{Now: fixedNow(t0)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	rows := make([]Row, 1000)
	for i := range rows {
		rows[i] = flowRow(i, t0.Add(-time.Duration(i)*time.Millisecond))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.Write(context.Background(), rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}
