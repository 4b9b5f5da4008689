// SPDX-License-Identifier: Apache-2.0

package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune the embedded store. Zero values take the defaults.
type Options struct {
	// TTL per retention class; missing classes use DefaultTTL (flow 2 h,
	// statistics 168 h, config audit 2160 h, global 48 h).
	TTL map[Kind]time.Duration
	// Partition is the time span of one partition, the unit that retention
	// drops. Default: 15 min for flows, 24 h for config audit, 1 h otherwise.
	Partition time.Duration
	// BlockRows is the most rows a column block holds (default 65536).
	BlockRows int
	// WALSegmentBytes is the log size after which the log rotates and its
	// rows are written to column files (default 64 MiB).
	WALSegmentBytes int64
	// RetentionInterval is how often expired partitions are dropped
	// (default 1 min).
	RetentionInterval time.Duration
	// Now is the clock used for retention (default time.Now).
	Now func() time.Time
	// Logger receives recovery and retention events (default: discard).
	Logger *slog.Logger
	// DictCacheBytes bounds the string dictionaries of sealed blocks that
	// are kept decoded on the heap between queries (default 64 MiB; < 0:
	// none, each query decodes what it needs).
	DictCacheBytes int64
}

func (o *Options) fill() {
	if o.BlockRows <= 0 {
		o.BlockRows = 65536
	}
	if o.WALSegmentBytes <= 0 {
		o.WALSegmentBytes = 64 << 20
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DictCacheBytes == 0 {
		o.DictCacheBytes = 64 << 20
	}
}

// TTLFor is the retention of a class under these options.
func (o *Options) TTLFor(k Kind) time.Duration {
	if d, ok := o.TTL[k]; ok && d > 0 {
		return d
	}
	return DefaultTTL(k)
}

// PartitionFor is the partition span of a class under these options.
func (o *Options) PartitionFor(k Kind) time.Duration {
	if o.Partition > 0 {
		return o.Partition
	}
	switch k {
	case KindFlow:
		return 15 * time.Minute
	case KindConfigAudit:
		return 24 * time.Hour
	}
	return time.Hour
}

type partition struct {
	start, end int64 // [start, end) in µs
	blocks     []*block
	files      []*colFile // the mapped files its sealed blocks point into
}

type table struct {
	name   string
	kind   Kind
	partUS int64
	mu     sync.RWMutex
	parts  map[int64]*partition
	fields map[string]string
}

// Embedded is the default analytics store: an embedded, time-partitioned
// column store.
//
// Rows go to a write-ahead log first: each Write is one checksummed
// record, records of concurrent Writes are written together and synced
// with one fsync (group commit), and Write returns after the sync. Then
// the rows are appended to in-memory column blocks: per table, per time
// partition, blocks of up to BlockRows rows, strings dictionary-encoded
// per block and numbers unboxed, so that scans compare integers. When the
// log passes WALSegmentBytes it rotates, and the blocks filled from the
// old segment are written to immutable, checksummed column files
// data/<table>/p<start>-g<gen>.col; once they are synced the MANIFEST
// records the generation and the old segment is deleted. Reopening loads
// the column files and replays the segments not yet flushed; a torn or
// corrupted record at a log's end (a Write that never returned) is cut
// off. Retention drops whole partitions once they are older than the TTL
// of their table's class.
//
// Only the blocks filled since the last rotation (at most about one log
// segment of rows, plus a segment being flushed) are on the Go heap.
// Sealed blocks are served from their column files, mapped read-only:
// once a file is written it is mapped and its blocks replace the heap
// ones, and reopening maps the files instead of decoding them. Their
// times, codes, numbers and presence bitmaps are used in place (the
// format aligns every array; see colfile.go); the heap keeps per block
// only its time range, column names and kinds and the slice headers
// (a few hundred bytes per column, whatever the row count), and string
// dictionaries are copied to the heap when a query needs them, up to
// DictCacheBytes of them kept between queries. So disk and the page
// cache, not the heap, bound the retained rows (a flow row takes about
// 85 bytes of file). Checksums are verified when a file is opened: every
// block's CRC and structure (dictionary codes, offsets, times), so a
// query never meets a damaged block; a file that fails is logged with
// its name and the reason, renamed *.corrupt and left out, and the store
// opens with the rest (its log segment is gone, so its rows are lost
// either way, and one bad file should not stop the node). Each scan
// holds a reference to the files it reads, so retention unlinks a
// dropped partition's files at once and unmaps them when the last scan
// lets go.
type Embedded struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex
	tables map[string]*table

	wal           *wal
	reqs          chan *commitReq
	flushQ        chan uint64
	quit          chan struct{}
	commitStopped chan struct{}
	done          sync.WaitGroup
	closed        atomic.Bool
	closeMu       sync.Mutex
	werr          error // sticky log failure
	lock          *os.File
	dicts         *dictCache
	namesMu       sync.Mutex
	names         map[string]string // interned column names
}

type commitReq struct {
	rows    []Row
	payload []byte
	done    chan error
}

type manifest struct {
	FlushedGen uint64 `json:"flushed_gen"`
}

// OpenEmbedded opens (creating it if needed) the embedded store in dir.
func OpenEmbedded(dir string, opts Options) (*Embedded, error) {
	opts.fill()
	e := &Embedded{
		dir: dir, opts: opts, log: opts.Logger, tables: map[string]*table{},
		reqs: make(chan *commitReq, 1024), flushQ: make(chan uint64, 1024), quit: make(chan struct{}),
		commitStopped: make(chan struct{}),
		dicts:         &dictCache{budget: opts.DictCacheBytes}, names: map[string]string{},
	}
	for _, d := range []string{dir, e.walDir(), e.dataDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	e.lock = lock
	ok := false
	defer func() {
		if !ok {
			e.releaseFiles()
			lock.Close()
		}
	}()
	flushed, err := e.readManifest()
	if err != nil {
		return nil, err
	}
	if err := e.loadColumnFiles(flushed); err != nil {
		return nil, err
	}
	gens, err := walSegments(e.walDir())
	if err != nil {
		return nil, err
	}
	last := flushed
	var replayed []uint64
	for _, g := range gens {
		path := walName(e.walDir(), g)
		if g <= flushed {
			os.Remove(path)
			continue
		}
		cut, err := replaySegment(path, func(rows []Row) { e.apply(rows, g) })
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", path, err)
		}
		if cut > 0 {
			e.log.Warn("analytics store: cut torn tail of write-ahead log", "file", path, "bytes", cut)
		}
		replayed = append(replayed, g)
		last = g
	}
	for _, g := range replayed {
		if err := e.flushGen(g); err != nil {
			return nil, err
		}
	}
	e.wal, err = openWAL(e.walDir(), last+1)
	if err != nil {
		return nil, err
	}
	e.dropExpired()
	ok = true
	e.done.Add(2)
	go e.committer()
	go e.flusher()
	go e.retention()
	return e, nil
}

func (e *Embedded) walDir() string  { return filepath.Join(e.dir, "wal") }
func (e *Embedded) dataDir() string { return filepath.Join(e.dir, "data") }

func (e *Embedded) readManifest() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(e.dir, "MANIFEST"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("analytics store MANIFEST: %w", err)
	}
	return m.FlushedGen, nil
}

func (e *Embedded) writeManifest(g uint64) error {
	b, _ := json.Marshal(manifest{FlushedGen: g})
	return writeFileAtomic(filepath.Join(e.dir, "MANIFEST"), b)
}

const colMagic = "CTRLCOL1"

func parseColName(name string) (start int64, gen uint64, ok bool) {
	if !strings.HasPrefix(name, "p") || !strings.HasSuffix(name, ".col") {
		return 0, 0, false
	}
	mid := strings.TrimSuffix(strings.TrimPrefix(name, "p"), ".col")
	i := strings.LastIndex(mid, "-g")
	if i < 0 {
		return 0, 0, false
	}
	s, err1 := strconv.ParseInt(mid[:i], 10, 64)
	g, err2 := strconv.ParseUint(mid[i+2:], 10, 64)
	return s, g, err1 == nil && err2 == nil
}

func (e *Embedded) loadColumnFiles(flushed uint64) error {
	tdirs, err := os.ReadDir(e.dataDir())
	if err != nil {
		return err
	}
	for _, td := range tdirs {
		if !td.IsDir() || !ValidTableName(td.Name()) {
			continue
		}
		name := td.Name()
		files, err := os.ReadDir(filepath.Join(e.dataDir(), name))
		if err != nil {
			return err
		}
		for _, f := range files {
			path := filepath.Join(e.dataDir(), name, f.Name())
			if strings.HasSuffix(f.Name(), ".tmp") {
				os.Remove(path)
				continue
			}
			start, gen, ok := parseColName(f.Name())
			if !ok {
				continue
			}
			if gen > flushed {
				os.Remove(path) // a flush that did not complete; its log segment is replayed
				continue
			}
			f, err := e.openColumn(path, gen)
			if err != nil {
				e.log.Error("analytics store: unreadable column file set aside; the store opens without its rows",
					"file", path, "moved_to", path+".corrupt", "err", err)
				os.Rename(path, path+".corrupt")
				continue
			}
			t := e.table(name)
			t.mu.Lock()
			p := t.partitionLocked(start)
			p.files = append(p.files, f)
			for _, b := range f.blocks {
				p.blocks = append(p.blocks, b)
				for k, c := range b.cols {
					t.noteField(k, c)
				}
			}
			t.mu.Unlock()
		}
	}
	return nil
}

// openColumn maps a column file; a format-1 file is first rewritten in
// format 2 under the same name.
func (e *Embedded) openColumn(path string, gen uint64) (*colFile, error) {
	if isLegacyColumnFile(path) {
		blocks, err := readColumnFile(path, gen)
		if err != nil {
			return nil, fmt.Errorf("column file %s: %w", path, err)
		}
		if err := writeColumnFile(path, blocks); err != nil {
			return nil, fmt.Errorf("column file %s: rewriting in format 2: %w", path, err)
		}
		e.log.Info("analytics store: column file rewritten in format 2", "file", path)
	}
	return openColumnFile(path, gen, e.dicts, e.intern)
}

// intern returns one shared copy of a column name.
func (e *Embedded) intern(s string) string {
	e.namesMu.Lock()
	defer e.namesMu.Unlock()
	if v, ok := e.names[s]; ok {
		return v
	}
	e.names[s] = s
	return s
}

// releaseFiles drops the store's reference to every mapped file (at
// Close; scans still running keep theirs).
func (e *Embedded) releaseFiles() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.tables {
		t.mu.Lock()
		for _, p := range t.parts {
			for _, f := range p.files {
				f.release()
			}
		}
		t.parts = map[int64]*partition{}
		t.mu.Unlock()
	}
}

// readColumnFile reads a format-1 column file into heap blocks.
func readColumnFile(path string, gen uint64) ([]*block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(colMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != colMagic {
		return nil, errors.New("not a column file")
	}
	var out []*block
	for {
		p, _, err := readFrame(r, nil)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := decodeBlock(p, gen)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
}

func (t *table) noteField(k string, c *column) {
	if _, ok := t.fields[k]; ok {
		return
	}
	switch c.kind {
	case ColString:
		t.fields[k] = "string"
	case ColInt, ColBool:
		t.fields[k] = "int"
	case ColFloat:
		t.fields[k] = "double"
	default:
		t.fields[k] = "string"
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (t *table) partitionLocked(start int64) *partition {
	p := t.parts[start]
	if p == nil {
		end := start + t.partUS
		if end < start {
			end = math.MaxInt64
		}
		p = &partition{start: start, end: end}
		t.parts[start] = p
	}
	return p
}

// table returns (creating) the table of a name.
func (e *Embedded) table(name string) *table {
	e.mu.RLock()
	t := e.tables[name]
	e.mu.RUnlock()
	if t != nil {
		return t
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t = e.tables[name]; t == nil {
		k := TableKind(name)
		t = &table{name: name, kind: k, partUS: e.opts.PartitionFor(k).Microseconds(),
			parts: map[int64]*partition{}, fields: map[string]string{}}
		e.tables[name] = t
	}
	return t
}

func (e *Embedded) lookup(name string) *table {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.tables[name]
}

// cutoff is the time (µs) before which a class's rows have expired.
func (e *Embedded) cutoff(k Kind) int64 {
	return e.opts.Now().Add(-e.opts.TTLFor(k)).UnixMicro()
}

// apply adds rows to the in-memory blocks of log generation gen. Rows of
// partitions that have already expired are skipped.
func (e *Embedded) apply(rows []Row, gen uint64) {
	i := 0
	for i < len(rows) {
		// Rows of one table in a run are applied under one lock.
		j := i + 1
		for j < len(rows) && rows[j].Table == rows[i].Table {
			j++
		}
		e.applyTable(rows[i].Table, rows[i:j], gen)
		i = j
	}
}

func (e *Embedded) applyTable(name string, rows []Row, gen uint64) {
	if !ValidTableName(name) {
		return
	}
	t := e.table(name)
	cut := e.cutoff(t.kind)
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur *block
	for _, r := range rows {
		start := floorDiv(r.T, t.partUS) * t.partUS
		if start+t.partUS <= cut {
			continue
		}
		p := t.partitionLocked(start)
		var b *block
		if n := len(p.blocks); n > 0 {
			b = p.blocks[n-1]
		}
		if b == nil || b.sealed || b.gen != gen || b.rows() >= e.opts.BlockRows {
			if b != nil && b.rows() >= e.opts.BlockRows {
				if b != cur {
					b.mu.Lock()
				}
				b.finish()
				if b != cur {
					b.mu.Unlock()
				}
			}
			b = newBlock(gen, min(e.opts.BlockRows, 1024))
			p.blocks = append(p.blocks, b)
		}
		if b != cur {
			if cur != nil {
				cur.mu.Unlock()
			}
			b.mu.Lock()
			cur = b
		}
		if b.appendRow(r.T, r.Fields) {
			for k, c := range b.cols {
				t.noteField(k, c)
			}
		}
	}
	if cur != nil {
		cur.mu.Unlock()
	}
}

// Write makes rows durable in the log, then visible to scans.
func (e *Embedded) Write(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	for i := range rows {
		if !ValidTableName(rows[i].Table) {
			return fmt.Errorf("row %d: bad table name %q", i, rows[i].Table)
		}
	}
	if e.closed.Load() {
		return ErrClosed
	}
	req := &commitReq{rows: rows, payload: encodeRows(rows), done: make(chan error, 1)}
	select {
	case e.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.quit:
		return ErrClosed
	}
	select {
	case err := <-req.done:
		return err
	case <-e.commitStopped:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	}
}

func (e *Embedded) committer() {
	defer close(e.commitStopped)
	batch := make([]*commitReq, 0, 64)
	payloads := make([][]byte, 0, 64)
	for {
		var first *commitReq
		select {
		case first = <-e.reqs:
		case <-e.quit:
			// answer whatever is still queued
			for {
				select {
				case r := <-e.reqs:
					r.done <- ErrClosed
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		size := len(first.payload)
	drain:
		for len(batch) < cap(batch) && size < 8<<20 {
			select {
			case r := <-e.reqs:
				batch = append(batch, r)
				size += len(r.payload)
			default:
				break drain
			}
		}
		payloads = payloads[:0]
		for _, r := range batch {
			payloads = append(payloads, r.payload)
		}
		err := e.werr
		if err == nil {
			err = e.wal.append(payloads)
			if err != nil {
				e.werr = err
				e.log.Error("analytics store: write-ahead log failed", "err", err)
			}
		}
		if err == nil {
			for _, r := range batch {
				e.apply(r.rows, e.wal.gen)
			}
		}
		for _, r := range batch {
			r.done <- err
		}
		if err == nil && e.wal.size >= e.opts.WALSegmentBytes {
			if err := e.rotate(); err != nil {
				e.werr = err
				e.log.Error("analytics store: log rotation failed", "err", err)
			}
		}
	}
}

// rotate starts a new log generation and queues the old one for flushing.
func (e *Embedded) rotate() error {
	old := e.wal
	nw, err := openWAL(e.walDir(), old.gen+1)
	if err != nil {
		return err
	}
	e.wal = nw
	old.close()
	e.flushQ <- old.gen
	return nil
}

func (e *Embedded) flusher() {
	defer e.done.Done()
	for g := range e.flushQ {
		// Generations are flushed in order: the MANIFEST must never pass
		// one whose column files are not written, so a failure is retried
		// until it succeeds or the store closes (its log is replayed then).
		for {
			err := e.flushGen(g)
			if err == nil {
				break
			}
			e.log.Error("analytics store: flush failed; retrying, its log stays for replay", "gen", g, "err", err)
			select {
			case <-e.quit:
				return
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// flushGen writes the blocks of log generation g to column files, records
// g in the MANIFEST and deletes the log segment.
func (e *Embedded) flushGen(g uint64) error {
	e.mu.RLock()
	tables := make([]*table, 0, len(e.tables))
	for _, t := range e.tables {
		tables = append(tables, t)
	}
	e.mu.RUnlock()
	for _, t := range tables {
		t.mu.RLock()
		type job struct {
			start  int64
			blocks []*block
		}
		var jobs []job
		for _, p := range t.parts {
			var bs []*block
			for _, b := range p.blocks {
				// Blocks already served from a file were written by an
				// earlier try of this flush.
				if b.gen == g && b.file == nil {
					bs = append(bs, b)
				}
			}
			if len(bs) > 0 {
				jobs = append(jobs, job{p.start, bs})
			}
		}
		t.mu.RUnlock()
		if len(jobs) == 0 {
			continue
		}
		tdir := filepath.Join(e.dataDir(), t.name)
		if err := os.MkdirAll(tdir, 0o755); err != nil {
			return err
		}
		for _, j := range jobs {
			path := filepath.Join(tdir, fmt.Sprintf("p%d-g%d.col", j.start, g))
			if err := writeColumnFile(path, j.blocks); err != nil {
				return err
			}
			f, err := openColumnFile(path, g, e.dicts, e.intern)
			if err != nil {
				// The rows stay on the heap and are served from there; the
				// file is checked again when the store is next opened.
				e.log.Error("analytics store: cannot map the column file just written", "file", path, "err", err)
				continue
			}
			e.swapIn(t, j.start, j.blocks, f)
		}
	}
	if err := e.writeManifest(g); err != nil {
		return err
	}
	if err := os.Remove(walName(e.walDir(), g)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// swapIn replaces the heap blocks of a partition by the blocks of the
// column file they were written to, so that they are served from the
// mapping and the heap copies become garbage once no scan uses them.
func (e *Embedded) swapIn(t *table, start int64, heap []*block, f *colFile) {
	t.mu.Lock()
	p := t.parts[start]
	swapped := false
	if p != nil && len(f.blocks) == len(heap) {
		var at []int
		for i, b := range p.blocks {
			if len(at) < len(heap) && b == heap[len(at)] {
				at = append(at, i)
			}
		}
		if len(at) == len(heap) {
			for k, i := range at {
				p.blocks[i] = f.blocks[k]
			}
			p.files = append(p.files, f)
			swapped = true
		}
	}
	t.mu.Unlock()
	if !swapped {
		if p == nil {
			// Retention dropped the partition while the file was written.
			os.Remove(f.path)
		}
		f.release()
	}
}

func (e *Embedded) retention() {
	defer e.done.Done()
	tk := time.NewTicker(e.opts.RetentionInterval)
	defer tk.Stop()
	for {
		select {
		case <-e.quit:
			return
		case <-tk.C:
			e.dropExpired()
		}
	}
}

// DropExpired drops every partition whose whole span is older than its
// class's TTL and returns how many it dropped. It runs every
// RetentionInterval by itself.
func (e *Embedded) DropExpired() int { return e.dropExpired() }

func (e *Embedded) dropExpired() int {
	e.mu.RLock()
	tables := make([]*table, 0, len(e.tables))
	for _, t := range e.tables {
		tables = append(tables, t)
	}
	e.mu.RUnlock()
	dropped := 0
	for _, t := range tables {
		cut := e.cutoff(t.kind)
		var starts []int64
		var files []*colFile
		t.mu.Lock()
		for s, p := range t.parts {
			if p.end <= cut {
				delete(t.parts, s)
				starts = append(starts, s)
				files = append(files, p.files...)
			}
		}
		t.mu.Unlock()
		// Unlinking a mapped file keeps the mapping; it is unmapped when
		// the last scan that took a reference to it lets go.
		for _, f := range files {
			f.release()
		}
		for _, s := range starts {
			matches, _ := filepath.Glob(filepath.Join(e.dataDir(), t.name, fmt.Sprintf("p%d-g*.col", s)))
			for _, m := range matches {
				os.Remove(m)
			}
			e.log.Info("analytics store: partition expired", "table", t.name, "start", time.UnixMicro(s).UTC())
		}
		dropped += len(starts)
	}
	return dropped
}

// Tables lists the static tables and every table that holds rows.
func (e *Embedded) Tables() []Table {
	e.mu.RLock()
	names := make([]string, 0, len(e.tables))
	for n := range e.tables {
		names = append(names, n)
	}
	e.mu.RUnlock()
	out := []Table{}
	seen := map[string]bool{}
	sort.Strings(names)
	for _, n := range names {
		t := e.lookup(n)
		t.mu.RLock()
		fields := make(map[string]string, len(t.fields))
		for k, v := range t.fields {
			fields[k] = v
		}
		t.mu.RUnlock()
		out = append(out, BuildSchema(n, fields))
		seen[n] = true
	}
	for _, st := range StaticTables() {
		if !seen[st.Name] {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// blocksFor lists the partitions (ascending) and their blocks overlapping
// [start, end]. It takes a reference to each column file those blocks
// point into; the caller calls release when it is done with them.
func (e *Embedded) blocksFor(name string, start, end int64) (parts [][]*block, release func()) {
	t := e.lookup(name)
	if t == nil {
		return nil, func() {}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	sel := make([]*partition, 0, len(t.parts))
	for _, p := range t.parts {
		if p.end > start && p.start <= end {
			sel = append(sel, p)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].start < sel[j].start })
	out := make([][]*block, len(sel))
	var held []*colFile
	for i, p := range sel {
		out[i] = append([]*block(nil), p.blocks...)
		for _, f := range p.files {
			f.acquire()
			held = append(held, f)
		}
	}
	return out, func() {
		for _, f := range held {
			f.release()
		}
	}
}

// Scan implements Store: rows of q.Table in [StartTime, EndTime] matching
// q.Where, in time order.
func (e *Embedded) Scan(ctx context.Context, q Query, fn func(Row) bool) error {
	if e.closed.Load() {
		return ErrClosed
	}
	terms, err := CompileTerms(q.Where)
	if err != nil {
		return err
	}
	var sel []int32
	parts, release := e.blocksFor(q.Table, q.StartTime, q.EndTime)
	defer release()
	for _, blocks := range parts {
		var rows []Row
		for _, b := range blocks {
			if err := ctx.Err(); err != nil {
				return err
			}
			b.mu.RLock()
			sel = b.selectRows(q.StartTime, q.EndTime, terms, sel)
			if len(sel) > 0 {
				views := b.views()
				for _, i := range sel {
					rows = append(rows, b.row(q.Table, int(i), views))
				}
			}
			b.mu.RUnlock()
		}
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].T < rows[j].T })
		for _, r := range rows {
			if !fn(r) {
				return nil
			}
		}
	}
	return nil
}

// ScanBatches implements BatchScanner: one batch per block, blocks spread
// over parallel goroutines.
func (e *Embedded) ScanBatches(ctx context.Context, q Query, parallel int, fn func(worker int, b *Batch) error) error {
	if e.closed.Load() {
		return ErrClosed
	}
	terms, err := CompileTerms(q.Where)
	if err != nil {
		return err
	}
	var all []*block
	parts, release := e.blocksFor(q.Table, q.StartTime, q.EndTime)
	defer release()
	for _, bs := range parts {
		all = append(all, bs...)
	}
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	parallel = min(parallel, len(all))
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			var sel []int32
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(all) {
					return
				}
				if err := ctx.Err(); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				b := all[i]
				b.mu.RLock()
				sel = b.selectRows(q.StartTime, q.EndTime, terms, sel)
				var err error
				if len(sel) > 0 {
					err = fn(worker, NewBatch(b.t, sel, b.colView))
				}
				b.mu.RUnlock()
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	return firstErr
}

// Stats is a summary of the store's content for introspect.
type Stats struct {
	Tables     int   `json:"tables"`
	Partitions int   `json:"partitions"`
	Blocks     int   `json:"blocks"`
	Rows       int64 `json:"rows"`
	// HeapRows are the rows of blocks not yet written to column files.
	HeapRows int64 `json:"heap_rows"`
	// MappedFiles and MappedBytes are the column files served from
	// memory mappings; DictCacheBytes the dictionaries decoded from them
	// kept on the heap.
	MappedFiles    int   `json:"mapped_files"`
	MappedBytes    int64 `json:"mapped_bytes"`
	DictCacheBytes int64 `json:"dict_cache_bytes"`
}

// Stats counts tables, partitions, blocks and rows.
func (e *Embedded) Stats() Stats {
	e.mu.RLock()
	tables := make([]*table, 0, len(e.tables))
	for _, t := range e.tables {
		tables = append(tables, t)
	}
	e.mu.RUnlock()
	s := Stats{Tables: len(tables)}
	for _, t := range tables {
		t.mu.RLock()
		for _, p := range t.parts {
			s.Partitions++
			for _, b := range p.blocks {
				s.Blocks++
				b.mu.RLock()
				s.Rows += int64(b.rows())
				if b.file == nil {
					s.HeapRows += int64(b.rows())
				}
				b.mu.RUnlock()
			}
			for _, f := range p.files {
				s.MappedFiles++
				s.MappedBytes += int64(len(f.data))
			}
		}
		t.mu.RUnlock()
	}
	e.dicts.mu.Lock()
	s.DictCacheBytes = e.dicts.used
	e.dicts.mu.Unlock()
	return s
}

// Close stops the store after writing everything to column files.
func (e *Embedded) Close() error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed.Swap(true) {
		return nil
	}
	close(e.quit)
	<-e.commitStopped
	var err error
	if e.werr == nil {
		err = e.rotate()
	}
	close(e.flushQ)
	e.done.Wait()
	e.releaseFiles()
	if e.wal != nil {
		if cerr := e.wal.close(); err == nil {
			err = cerr
		}
	}
	e.lock.Close()
	return err
}
