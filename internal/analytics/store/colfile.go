// SPDX-License-Identifier: Apache-2.0

package store

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Column files, format 2 ("CTRLCOL2"): the 8-byte magic, then one frame
// per block ([u32 length][u32 CRC-32C][payload], as in the log). Every
// payload is padded to a multiple of 8 bytes, so each payload, and each
// array inside it, starts 8-byte aligned in the file and so in a memory
// mapping of it. All numbers are little-endian. A block payload:
//
//	u64 rows, u64 columns, i64 min T, i64 max T
//	i64 T[rows]
//	per column, by name:
//	  u32 name length, u8 kind, 3 zero bytes, name (padded to 8)
//	  string: u64 dictionary entries d (code 0, "absent", not counted),
//	          u64 blob length, u32 offsets[d+1] (padded), blob (padded),
//	          u32 codes[rows] (padded); entry i is blob[offsets[i-1]:offsets[i]]
//	  int, bool: u64 words w, u64 present[w], i64 values[rows]
//	  float:     u64 words w, u64 present[w], f64 values[rows]
//	  mixed:     u64 length, tagged values as in the log (padded)
//
// The arrays are used in place: a sealed block's T, codes, values and
// presence bitmaps are slices of the mapping. Dictionaries are copied
// to the heap when a query needs them (a cache keeps the recent ones),
// because strings handed to callers may outlive the mapping.
const colMagicV2 = "CTRLCOL2"

// nativeLE tells whether the machine is little-endian: only then are the
// mapped arrays used in place (elsewhere they are decoded to the heap).
var nativeLE = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

type colWriter struct{ b []byte }

func (w *colWriter) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *colWriter) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *colWriter) pad() {
	for len(w.b)%8 != 0 {
		w.b = append(w.b, 0)
	}
}

// encodeMapped writes a block in the format-2 layout; the caller holds
// b.mu (read).
func (b *block) encodeMapped() []byte {
	n := len(b.t)
	w := colWriter{b: make([]byte, 0, 32+8*n+len(b.cols)*(16+12*n))}
	w.u64(uint64(n))
	w.u64(uint64(len(b.cols)))
	minT, maxT := b.minT, b.maxT
	if n == 0 {
		minT, maxT = 0, 0
	}
	w.u64(uint64(minT))
	w.u64(uint64(maxT))
	for _, t := range b.t {
		w.u64(uint64(t))
	}
	names := append([]string(nil), b.names...)
	sort.Strings(names)
	for _, k := range names {
		c := b.cols[k]
		w.u32(uint32(len(k)))
		w.b = append(w.b, byte(c.kind), 0, 0, 0)
		w.b = append(w.b, k...)
		w.pad()
		switch c.kind {
		case ColString:
			dict := c.dictionary()
			w.u64(uint64(len(dict) - 1))
			size := 0
			for _, s := range dict[1:] {
				size += len(s)
			}
			w.u64(uint64(size))
			w.u32(0)
			off := 0
			for _, s := range dict[1:] {
				off += len(s)
				w.u32(uint32(off))
			}
			w.pad()
			for _, s := range dict[1:] {
				w.b = append(w.b, s...)
			}
			w.pad()
			for _, code := range c.codes[:n] {
				w.u32(code)
			}
			w.pad()
		case ColInt, ColBool, ColFloat:
			nw := (n + 63) / 64
			w.u64(uint64(nw))
			for _, x := range c.present[:nw] {
				w.u64(x)
			}
			if c.kind == ColFloat {
				for _, f := range c.floats[:n] {
					w.u64(math.Float64bits(f))
				}
			} else {
				for _, v := range c.ints[:n] {
					w.u64(uint64(v))
				}
			}
		case ColMixed:
			e := encoder{}
			for _, v := range c.mixedValues()[:n] {
				e.value(v)
			}
			w.u64(uint64(len(e.b)))
			w.b = append(w.b, e.b...)
			w.pad()
		}
	}
	return w.b
}

// colReader walks a format-2 payload; every read is bounds-checked.
type colReader struct {
	b   []byte
	pos int
	err error
}

func (r *colReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.pos = len(r.b)
}

// take returns the next n bytes and moves past them and their padding.
func (r *colReader) take(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.fail("%s: %d bytes past the end of the block", what, n)
		return nil
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	if p := r.pos % 8; p != 0 {
		r.pos = min(len(r.b), r.pos+8-p)
	}
	return s
}

func (r *colReader) u64(what string) uint64 {
	s := r.take(8, what)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(s)
}

// array is the next n elements of size bytes each.
func (r *colReader) array(n, size uint64, what string) []byte {
	if n > uint64(len(r.b))/size {
		r.fail("%s: %d elements do not fit in the block", what, n)
		return nil
	}
	return r.take(n*size, what)
}

func aligned(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%8 == 0
}

// asU64 views b (a multiple of 8 bytes) as 64-bit words in place where it
// can, and decodes a copy elsewhere.
func asU64(b []byte) []uint64 {
	n := len(b) / 8
	if n == 0 {
		return []uint64{}
	}
	if nativeLE && aligned(b) {
		return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

func asI64(b []byte) []int64 {
	u := asU64(b)
	if len(u) == 0 {
		return []int64{}
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(&u[0])), len(u))
}

func asF64(b []byte) []float64 {
	u := asU64(b)
	if len(u) == 0 {
		return []float64{}
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&u[0])), len(u))
}

func asU32(b []byte) []uint32 {
	n := len(b) / 4
	if n == 0 {
		return []uint32{}
	}
	if nativeLE && aligned(b) {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

// parseMapped checks a format-2 block payload and builds a block whose
// arrays point into p (names, the only strings, are interned copies).
// Every code is checked against its dictionary, the offsets must rise
// within the blob and the times within the header's range, so a query
// never indexes out of range.
func parseMapped(p []byte, gen uint64, intern func(string) string) (*block, error) {
	r := colReader{b: p}
	n := r.u64("row count")
	nc := r.u64("column count")
	minT, maxT := int64(r.u64("min time")), int64(r.u64("max time"))
	ts := asI64(r.array(n, 8, "times"))
	if r.err != nil {
		return nil, r.err
	}
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("%d rows in one block", n)
	}
	b := newBlock(gen, 0)
	b.sealed = true
	b.t = ts
	for _, t := range ts {
		if t < minT || t > maxT {
			return nil, fmt.Errorf("time %d outside the block's range [%d, %d]", t, minT, maxT)
		}
	}
	if n > 0 {
		b.minT, b.maxT = minT, maxT
	}
	if nc > uint64(len(p))/8 {
		return nil, fmt.Errorf("%d columns do not fit in the block", nc)
	}
	rows := int(n)
	for j := uint64(0); j < nc; j++ {
		h := r.take(8, "column header")
		if r.err != nil {
			return nil, r.err
		}
		name := string(r.take(uint64(binary.LittleEndian.Uint32(h)), "column name"))
		if r.err != nil {
			return nil, r.err
		}
		if intern != nil {
			name = intern(name)
		}
		kind := ColKind(h[4])
		c := &column{kind: kind, n: rows}
		switch kind {
		case ColString:
			nd := r.u64("dictionary size")
			blobLen := r.u64("dictionary length")
			if nd >= math.MaxUint32 || nd > uint64(len(p)) {
				return nil, fmt.Errorf("column %q: %d dictionary entries", name, nd)
			}
			offs := asU32(r.array(nd+1, 4, "dictionary offsets"))
			blob := r.take(blobLen, "dictionary")
			c.codes = asU32(r.array(n, 4, "codes"))
			if r.err != nil {
				return nil, fmt.Errorf("column %q: %w", name, r.err)
			}
			if offs[0] != 0 {
				return nil, fmt.Errorf("column %q: dictionary offsets do not start at 0", name)
			}
			for i := 1; i < len(offs); i++ {
				if offs[i] < offs[i-1] || uint64(offs[i]) > blobLen {
					return nil, fmt.Errorf("column %q: dictionary offset %d out of order", name, i)
				}
			}
			for _, code := range c.codes {
				if uint64(code) > nd {
					return nil, fmt.Errorf("column %q: code %d out of range", name, code)
				}
			}
			c.ms = &mappedDict{offs: offs, blob: blob}
		case ColInt, ColBool, ColFloat:
			nw := r.u64("presence size")
			if nw != (n+63)/64 {
				return nil, fmt.Errorf("column %q: presence bitmap of %d words for %d rows", name, nw, n)
			}
			c.present = asU64(r.array(nw, 8, "presence bitmap"))
			vals := r.array(n, 8, "values")
			if r.err != nil {
				return nil, fmt.Errorf("column %q: %w", name, r.err)
			}
			if kind == ColFloat {
				c.floats = asF64(vals)
			} else {
				c.ints = asI64(vals)
			}
		case ColMixed:
			c.mixedRaw = r.take(r.u64("mixed length"), "mixed values")
			if r.err != nil {
				return nil, fmt.Errorf("column %q: %w", name, r.err)
			}
			if _, err := decodeMixed(c.mixedRaw, rows); err != nil {
				return nil, fmt.Errorf("column %q: %w", name, err)
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
	if r.pos != len(p) {
		return nil, fmt.Errorf("%d stray bytes after the last column", len(p)-r.pos)
	}
	return b, nil
}

// decodeMixed decodes n tagged values.
func decodeMixed(p []byte, n int) ([]any, error) {
	d := decoder{b: p}
	if n > len(p) {
		return nil, errors.New("mixed column shorter than its rows")
	}
	out := make([]any, n)
	for i := 0; i < n && d.err == nil; i++ {
		out[i] = d.value()
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errors.New("stray bytes after the mixed values")
	}
	return out, nil
}

// mappedDict is the dictionary of a mapped string column: offsets and
// blob point into the mapping; the decoded copy lives in the store's
// dictionary cache while it is there.
type mappedDict struct {
	offs   []uint32
	blob   []byte
	cached atomic.Pointer[[]string]
	cache  *dictCache
	elem   *list.Element // in cache.fifo; guarded by cache.mu
	size   int64
}

func (m *mappedDict) decode() []string {
	s := string(m.blob) // one heap copy; entries are substrings of it
	out := make([]string, len(m.offs))
	for i := 1; i < len(m.offs); i++ {
		out[i] = s[m.offs[i-1]:m.offs[i]]
	}
	return out
}

func (m *mappedDict) get() []string {
	if d := m.cached.Load(); d != nil {
		return *d
	}
	d := m.decode()
	if m.cache != nil {
		return m.cache.put(m, d)
	}
	return d
}

// dictCache keeps decoded dictionaries of mapped columns up to a byte
// budget, dropping the oldest first. A dropped dictionary is only
// garbage once no caller holds its strings: they are heap strings.
type dictCache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	fifo   list.List
}

func (c *dictCache) put(m *mappedDict, d []string) []string {
	size := int64(len(m.blob)) + 16*int64(len(d))
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := m.cached.Load(); cur != nil {
		return *cur
	}
	if c.budget <= 0 || size > c.budget {
		return d
	}
	m.cached.Store(&d)
	m.size = size
	m.elem = c.fifo.PushBack(m)
	c.used += size
	for c.used > c.budget {
		old := c.fifo.Front().Value.(*mappedDict)
		c.dropLocked(old)
	}
	return d
}

func (c *dictCache) dropLocked(m *mappedDict) {
	if m.elem == nil {
		return
	}
	c.fifo.Remove(m.elem)
	m.elem = nil
	c.used -= m.size
	m.cached.Store(nil)
}

func (c *dictCache) drop(m *mappedDict) {
	c.mu.Lock()
	c.dropLocked(m)
	c.mu.Unlock()
}

// colFile is an open column file: its mapping and the blocks that point
// into it. The table's partition holds one reference while the file is
// part of the store and every scan holds one while it reads the file's
// blocks; the mapping is released when the last one goes, so a query
// never reads an unmapped region.
type colFile struct {
	path   string
	data   []byte
	mapped bool
	blocks []*block
	refs   atomic.Int64
	cache  *dictCache
}

func (f *colFile) acquire() { f.refs.Add(1) }

func (f *colFile) release() {
	n := f.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("analytics store: column file released twice: " + f.path)
	}
	for _, b := range f.blocks {
		for _, c := range b.cols {
			if c.ms != nil && f.cache != nil {
				f.cache.drop(c.ms)
			}
		}
	}
	if f.mapped {
		unmapFile(f.data)
	}
	f.data = nil
}

// openColumnFile maps a format-2 column file, verifies the checksum and
// the structure of every block, and returns it with one reference (the
// caller's). Errors name the file.
func openColumnFile(path string, gen uint64, cache *dictCache, intern func(string) string) (*colFile, error) {
	data, mapped, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("column file %s: %w", path, err)
	}
	f := &colFile{path: path, data: data, mapped: mapped, cache: cache}
	f.refs.Store(1)
	if err := f.parse(gen, intern); err != nil {
		f.blocks = nil
		f.release()
		return nil, fmt.Errorf("column file %s: %w", path, err)
	}
	return f, nil
}

func (f *colFile) parse(gen uint64, intern func(string) string) error {
	d := f.data
	if len(d) < len(colMagicV2) || string(d[:len(colMagicV2)]) != colMagicV2 {
		return errors.New("not a column file (bad magic)")
	}
	pos := len(colMagicV2)
	for i := 0; pos < len(d); i++ {
		if len(d)-pos < frameHeader {
			return fmt.Errorf("block %d at offset %d: truncated header", i, pos)
		}
		size := int(binary.LittleEndian.Uint32(d[pos:]))
		sum := binary.LittleEndian.Uint32(d[pos+4:])
		pos += frameHeader
		if size > len(d)-pos || size%8 != 0 {
			return fmt.Errorf("block %d at offset %d: length %d runs past the end of the file", i, pos-frameHeader, size)
		}
		p := d[pos : pos+size]
		if crc32.Checksum(p, crcTable) != sum {
			return fmt.Errorf("block %d at offset %d: checksum mismatch", i, pos-frameHeader)
		}
		b, err := parseMapped(p, gen, intern)
		if err != nil {
			return fmt.Errorf("block %d at offset %d: %w", i, pos-frameHeader, err)
		}
		b.file = f
		for _, c := range b.cols {
			if c.ms != nil {
				c.ms.cache = f.cache
			}
		}
		f.blocks = append(f.blocks, b)
		pos += size
	}
	return nil
}

// writeColumnFile writes blocks as a format-2 column file (through a
// synced temporary file and a rename).
func writeColumnFile(path string, blocks []*block) error {
	buf := []byte(colMagicV2)
	for _, b := range blocks {
		b.mu.RLock()
		payload := b.encodeMapped()
		b.mu.RUnlock()
		buf = appendFrame(buf, payload)
	}
	return writeFileAtomic(path, buf)
}

// isLegacyColumnFile tells whether path is a format-1 column file.
func isLegacyColumnFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, len(colMagic))
	_, err = f.Read(magic)
	return err == nil && string(magic) == colMagic
}
