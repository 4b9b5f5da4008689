// SPDX-License-Identifier: Apache-2.0

package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// mappedFiles lists the column files the store holds for a table.
func mappedFiles(e *Embedded, table string) []*colFile {
	t := e.lookup(table)
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*colFile
	for _, p := range t.parts {
		out = append(out, p.files...)
	}
	return out
}

// Retention deletes a partition's column file while a scan is reading its
// blocks: the file is unlinked at once, the mapping stays until the scan
// lets go, the scan sees every row intact, and then the file is unmapped.
func TestRetentionWhileScanHoldsMappedFile(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(t0.UnixMicro())
	opts := Options{Now: func() time.Time { return time.UnixMicro(now.Load()) }, RetentionInterval: time.Hour, BlockRows: 64}
	e := openT(t, dir, opts)
	ctx := context.Background()
	var rows []Row
	for i := 0; i < 500; i++ {
		rows = append(rows, flowRow(i, t0.Add(-20*time.Minute).Add(time.Duration(i)*time.Millisecond)))
	}
	if err := e.Write(ctx, rows); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e = openT(t, dir, opts)
	defer e.Close()
	files := mappedFiles(e, FlowSeriesTable)
	if len(files) != 1 || !files[0].mapped || len(files[0].blocks) < 2 {
		t.Fatalf("want one mapped file of several blocks, have %+v", files)
	}
	f := files[0]

	inScan := make(chan struct{})
	dropped := make(chan struct{})
	var got atomic.Int64
	var sum atomic.Int64
	scanErr := make(chan error, 1)
	go func() {
		var once sync.Once
		scanErr <- e.ScanBatches(ctx, wholeDay(FlowSeriesTable), 2, func(_ int, b *Batch) error {
			once.Do(func() { close(inScan); <-dropped })
			vn := b.Column("sourcevn")
			by := b.Column("bytes")
			for _, i := range b.Sel {
				if !strings.HasPrefix(vn.Value(int(i)).(string), "default-domain:p:vn") {
					return fmt.Errorf("row %d: sourcevn %v", i, vn.Value(int(i)))
				}
				sum.Add(by.Ints[i])
				got.Add(1)
			}
			return nil
		})
	}()
	<-inScan
	now.Store(t0.Add(2 * time.Hour).UnixMicro()) // the partition is past the 2 h flow TTL
	if n := e.DropExpired(); n != 1 {
		t.Fatalf("dropped %d partitions, want 1", n)
	}
	if _, err := os.Stat(f.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("column file still on disk: %v", err)
	}
	if f.refs.Load() < 1 || f.data == nil {
		t.Fatal("mapping released while a scan holds it")
	}
	close(dropped)
	if err := <-scanErr; err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, r := range rows {
		want += r.Fields["bytes"].(int64)
	}
	if got.Load() != int64(len(rows)) || sum.Load() != want {
		t.Fatalf("scan during retention: %d rows sum %d, want %d rows sum %d", got.Load(), sum.Load(), len(rows), want)
	}
	if f.refs.Load() != 0 || f.data != nil {
		t.Fatalf("mapping not released after the scan: refs %d", f.refs.Load())
	}
	if got := scanAll(t, e, wholeDay(FlowSeriesTable)); len(got) != 0 {
		t.Fatalf("%d rows after retention", len(got))
	}
}

// Scans, writes, log rotations (which swap heap blocks for mapped ones)
// and retention run at once; with -race this checks the reference
// counting and the dictionary cache.
func TestConcurrentScansRetentionAndFlushes(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(t0.UnixMicro())
	opts := Options{Now: func() time.Time { return time.UnixMicro(now.Load()) }, RetentionInterval: time.Hour,
		BlockRows: 50, WALSegmentBytes: 8 << 10, Partition: time.Minute, DictCacheBytes: 4 << 10}
	e := openT(t, dir, opts)
	defer e.Close()
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	wg.Add(1)
	go func() { // writer: one row per second of fake time, advancing the clock
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ts := t0.Add(time.Duration(i) * time.Second)
			now.Store(ts.UnixMicro())
			if err := e.Write(ctx, []Row{flowRow(i, ts), flowRow(i+1, ts)}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			q := Query{Table: FlowSeriesTable, StartTime: t0.Add(-time.Hour).UnixMicro(), EndTime: t0.Add(100 * time.Hour).UnixMicro(),
				Where: [][]Match{{{Name: "sourcevn", Value: "default-domain:p:vn1", Op: 1}}}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := e.ScanBatches(ctx, q, 2, func(_ int, b *Batch) error {
					c := b.Column("sourcevn")
					ip := b.Column("sourceip")
					for _, i := range b.Sel {
						if c.Value(int(i)) != "default-domain:p:vn1" || ip.Value(int(i)) == nil {
							return fmt.Errorf("bad row %v %v", c.Value(int(i)), ip.Value(int(i)))
						}
						_ = b.T[i]
					}
					return nil
				})
				if err == nil && w == 0 {
					var rows []Row
					err = e.Scan(ctx, q, func(r Row) bool { rows = append(rows, r); return true })
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				e.DropExpired()
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(mappedFiles(e, FlowSeriesTable)) == 0 {
		t.Fatal("no column file was mapped after the rotations")
	}
}

// A column file is swapped in for its heap blocks once its generation is
// flushed, without reopening.
func TestFlushedBlocksAreServedFromTheFile(t *testing.T) {
	dir := t.TempDir()
	e := openT(t, dir, Options{BlockRows: 40, WALSegmentBytes: 2 << 10})
	defer e.Close()
	ctx := context.Background()
	var want []Row
	for i := 0; i < 300; i++ {
		r := flowRow(i, t0.Add(time.Duration(i)*time.Second))
		want = append(want, r)
		if err := e.Write(ctx, []Row{r}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		heap, mapped := 0, 0
		tb := e.lookup(FlowSeriesTable)
		tb.mu.RLock()
		last := uint64(0) // the newest generation, possibly still in the log
		for _, p := range tb.parts {
			for _, b := range p.blocks {
				last = max(last, b.gen)
			}
		}
		for _, p := range tb.parts {
			for _, b := range p.blocks {
				switch {
				case b.file != nil:
					mapped++
				case b.gen < last:
					heap++
				}
			}
		}
		tb.mu.RUnlock()
		if heap == 0 && mapped > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d flushed blocks still on the heap, %d mapped", heap, mapped)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := scanAll(t, e, wholeDay(FlowSeriesTable))
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].T != want[i].T || !reflect.DeepEqual(got[i].Fields, want[i].Fields) {
			t.Fatalf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// A column file with a bad checksum, and one whose checksum is right but
// whose content is not (a dictionary code out of range), are both
// detected when the store opens: the error names the file and the
// reason, the file is set aside as *.corrupt and the store opens with
// the rest.
func TestCorruptColumnFileIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		damage       func(t *testing.T, data []byte)
	}{
		{"checksum", "checksum mismatch", func(t *testing.T, data []byte) { data[len(data)-9] ^= 0x40 }},
		{"content", "out of range", func(t *testing.T, data []byte) {
			// The first block's last column is "vrouter", a string column
			// whose last code is in the block's last 4 (or 8, padded) bytes.
			size := int(binary.LittleEndian.Uint32(data[8:]))
			p := data[16 : 16+size]
			binary.LittleEndian.PutUint32(p[len(p)-8:], 1000)
			binary.LittleEndian.PutUint32(p[len(p)-4:], 1000)
			binary.LittleEndian.PutUint32(data[12:], crc32.Checksum(p, crcTable))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e := openT(t, dir, Options{})
			ctx := context.Background()
			if err := e.Write(ctx, []Row{flowRow(1, t0), flowRow(2, t0)}); err != nil {
				t.Fatal(err)
			}
			if err := e.Write(ctx, []Row{{Table: MessageTable, T: t0.UnixMicro(), Fields: map[string]any{"Source": "a"}}}); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "data", FlowSeriesTable, "*.col"))
			if len(files) != 1 {
				t.Fatalf("column files %v", files)
			}
			data, _ := os.ReadFile(files[0])
			tc.damage(t, data)
			os.WriteFile(files[0], data, 0o644)
			var logs logCapture
			e2 := openT(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			defer e2.Close()
			out := logs.String()
			if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, files[0]) || !strings.Contains(out, tc.reason) {
				t.Fatalf("log does not name the file and the reason %q:\n%s", tc.reason, out)
			}
			if got := len(scanAll(t, e2, wholeDay(FlowSeriesTable))); got != 0 {
				t.Fatalf("corrupt file rows %d", got)
			}
			if got := len(scanAll(t, e2, wholeDay(MessageTable))); got != 1 {
				t.Fatalf("other table lost: %d", got)
			}
			if _, err := os.Stat(files[0] + ".corrupt"); err != nil {
				t.Fatalf("not set aside: %v", err)
			}
			// The error itself names the file too.
			if _, err := openColumnFile(files[0]+".corrupt", 1, nil, nil); err == nil || !strings.Contains(err.Error(), files[0]) {
				t.Fatalf("openColumnFile error %v", err)
			}
		})
	}
}

// A format-1 column file (written before the files were mapped) is read,
// rewritten in format 2 under the same name and served from the mapping.
func TestLegacyColumnFileIsRewritten(t *testing.T) {
	dir := t.TempDir()
	rows := randomRows(rand.New(rand.NewSource(9)), 300)
	b := newBlock(1, 8)
	for i := range rows {
		rows[i].T = t0.Add(time.Duration(i) * time.Millisecond).UnixMicro()
		b.appendRow(rows[i].T, rows[i].Fields)
	}
	tdir := filepath.Join(dir, "data", FlowSeriesTable)
	os.MkdirAll(tdir, 0o755)
	part := (15 * time.Minute).Microseconds()
	start := floorDiv(rows[0].T, part) * part
	path := filepath.Join(tdir, fmt.Sprintf("p%d-g1.col", start))
	if err := os.WriteFile(path, appendFrame([]byte(colMagic), b.encode()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte(`{"flushed_gen":1}`), 0o644)
	e := openT(t, dir, Options{})
	defer e.Close()
	if !isLegacyColumnFile(path) {
		data, _ := os.ReadFile(path)
		if string(data[:8]) != colMagicV2 {
			t.Fatalf("file not rewritten: magic %q", data[:8])
		}
	} else {
		t.Fatal("file still in format 1")
	}
	if fs := mappedFiles(e, FlowSeriesTable); len(fs) != 1 {
		t.Fatalf("mapped files %v", fs)
	}
	got := scanAll(t, e, wholeDay(FlowSeriesTable))
	if len(got) != len(rows) {
		t.Fatalf("%d rows, want %d", len(got), len(rows))
	}
	byT := map[int64][]map[string]any{}
	for _, r := range rows {
		byT[r.T] = append(byT[r.T], normFields(r.Fields))
	}
	for _, r := range got {
		found := false
		for _, f := range byT[r.T] {
			if reflect.DeepEqual(f, r.Fields) {
				found = true
			}
		}
		if !found {
			t.Fatalf("row %+v not written", r)
		}
	}
}

func normFields(f map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range f {
		if nv, ok := Normalize(v); ok {
			out[k] = nv
		}
	}
	return out
}

// The dictionary cache keeps at most its budget and drops the oldest.
func TestDictCacheBudget(t *testing.T) {
	c := &dictCache{budget: 1000}
	var ms []*mappedDict
	for i := 0; i < 10; i++ {
		blob := []byte(strings.Repeat("x", 100))
		m := &mappedDict{offs: []uint32{0, 50, 100}, blob: blob, cache: c}
		ms = append(ms, m)
		if d := m.get(); len(d) != 3 || d[1] != strings.Repeat("x", 50) {
			t.Fatalf("dictionary %q", d)
		}
		if c.used > c.budget {
			t.Fatalf("cache uses %d of %d", c.used, c.budget)
		}
	}
	if ms[0].cached.Load() != nil || ms[9].cached.Load() == nil {
		t.Fatal("cache did not drop the oldest")
	}
	for _, m := range ms {
		c.drop(m)
	}
	if c.used != 0 || c.fifo.Len() != 0 {
		t.Fatalf("cache holds %d bytes in %d entries after dropping all", c.used, c.fifo.Len())
	}
}

// alignedCopy copies data into 8-byte-aligned memory, as a mapping is.
func alignedCopy(data []byte) []byte {
	words := make([]uint64, (len(data)+7)/8+1)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)[:len(data)]
	copy(buf, data)
	return buf
}

// FuzzColumnBlock: the format-2 block parser turns damaged payloads into
// errors, never panics, and every block it accepts can be read through
// all its columns, filtered and written back unchanged.
func FuzzColumnBlock(f *testing.F) {
	for seed := int64(1); seed <= 3; seed++ {
		b := newBlock(1, 8)
		for i, r := range randomRows(rand.New(rand.NewSource(seed)), 30) {
			b.appendRow(int64(i), r.Fields)
		}
		f.Add(b.encodeMapped())
	}
	f.Add(newBlock(1, 0).encodeMapped())
	f.Add([]byte{})
	terms, err := CompileTerms([][]Match{
		{{Name: "sourcevn", Value: "default-domain:p:vn1", Op: 1}},
		{{Name: "dport", Value: int64(80), Op: 1}, {Name: "mixed", Value: "a", Op: 7}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := alignedCopy(data)
		blk, err := parseMapped(p, 1, nil)
		if err != nil {
			return
		}
		views := blk.views()
		var rows []Row
		for i := 0; i < blk.rows(); i++ {
			rows = append(rows, blk.row("T", i, views))
		}
		blk.selectRows(-1<<62, 1<<62, nil, nil)
		blk.selectRows(-1<<62, 1<<62, terms, nil)
		again, err := parseMapped(alignedCopy(blk.encodeMapped()), 1, nil)
		if err != nil {
			t.Fatalf("re-encoded block does not parse: %v", err)
		}
		av := again.views()
		for i := range rows {
			if r := again.row("T", i, av); !reflect.DeepEqual(r, rows[i]) {
				t.Fatalf("row %d: %+v after re-encoding, was %+v", i, r, rows[i])
			}
		}
	})
}
