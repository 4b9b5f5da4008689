// SPDX-License-Identifier: Apache-2.0

package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// wal is the write-ahead log: numbered segment files (generations) of
// framed records, one record per Write call.
type wal struct {
	dir  string
	gen  uint64
	f    *os.File
	size int64
	buf  []byte
}

func walName(dir string, gen uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x.wal", gen))
}

// walSegments lists the generations present in dir, ascending.
func walSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var gens []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".wal") {
			continue
		}
		g, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 16, 64)
		if err != nil {
			continue
		}
		gens = append(gens, g)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	return gens, nil
}

func openWAL(dir string, gen uint64) (*wal, error) {
	f, err := os.OpenFile(walName(dir, gen), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &wal{dir: dir, gen: gen, f: f, size: st.Size()}, nil
}

// append writes the payloads as records and syncs them to disk.
func (w *wal) append(payloads [][]byte) error {
	w.buf = w.buf[:0]
	for _, p := range payloads {
		w.buf = appendFrame(w.buf, p)
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("write-ahead log sync: %w", err)
	}
	if cap(w.buf) > 16<<20 {
		w.buf = nil
	}
	return nil
}

func (w *wal) close() error { return w.f.Close() }

// replaySegment reads every intact record of a segment and truncates the
// file after the last intact one (a torn or corrupted tail is the batch
// whose Write never returned).
func replaySegment(path string, fn func(rows []Row)) (truncated int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var good int64
	var buf []byte
	for {
		p, n, err := readFrame(r, buf)
		if err == io.EOF {
			break
		}
		if err == nil {
			rows, derr := decodeRows(p)
			if derr != nil {
				err = errBadFrame
			} else {
				fn(rows)
				good += int64(n)
				buf = p
				continue
			}
		}
		if errors.Is(err, errBadFrame) {
			break
		}
		return 0, err
	}
	if good < st.Size() {
		// Keep the cut-off bytes aside: a torn last write is expected, but
		// a damaged record in the middle would also end the log here.
		if tail, err := os.ReadFile(path); err == nil && int64(len(tail)) > good {
			os.WriteFile(fmt.Sprintf("%s.%d.corrupt", path, good), tail[good:], 0o644)
		}
		if err := f.Truncate(good); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		return st.Size() - good, nil
	}
	return 0, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}
