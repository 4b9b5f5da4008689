// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// DefaultDir is where the original keeps its port files.
const DefaultDir = "/var/lib/contrail/ports"

// ErrNotFound is returned for a port id the Store does not have.
var ErrNotFound = errors.New("portapi: port not found")

// Log attribute keys of this package.
const (
	keyPort = "port"
	keyFile = "file"
	keyErr  = "err"
)

// tmpPrefix starts the name of a file being written. Load ignores such
// files and removes them: they are what a crash mid-write leaves.
const tmpPrefix = ".tmp-"

// vmDir is the subdirectory of VM-style ports (POST /vm), as the
// original's /var/lib/contrail/ports/vm: vm/<vm-uuid>/<vmi-uuid>.
const vmDir = "vm"

// Store keeps ports in memory and, one JSON file per port named by its
// uuid, in a directory; VM-style ports go to vm/<vm-uuid>/<vmi-uuid>. It is
// safe for concurrent use.
//
// Writes are group-committed, and each is durable before it returns. A
// change writes its port to a temporary file and fsyncs it, in its own
// goroutine, in parallel with the other changes; then one commit renames
// the temporary files of every change ready by then over the ports' files,
// in the order the changes were queued, and fsyncs each directory once.
// With many concurrent port adds this turns two fsyncs in a row per port
// into overlapping file fsyncs and one directory fsync per batch, with
// the same guarantee: after a crash a port's file holds its old or its
// new content, and a change that returned is on disk.
type Store struct {
	dir string
	log *slog.Logger

	mu    sync.RWMutex
	ports map[string]Port
	vms   map[string]VMPort // by VMI uuid

	qmu        sync.Mutex
	qcond      *sync.Cond // broadcast when a commit ends or a change is ready
	queue      []*storeOp
	committing bool
}

// storeOp is one change waiting for, or done by, a commit.
type storeOp struct {
	dir, name string
	data      []byte // nil: remove the file
	rmdir     bool   // remove dir too if it is left empty (a VM's last port)
	mkdir     bool   // create dir (in its parent) if missing
	apply     func() // the in-memory change, run under Store.mu once durable

	tmp   string // the prepared temporary file
	err   error
	ready bool // prepared: the commit may take it
	done  bool
}

// OpenStore creates dir if needed and loads the ports in it (see Load). A
// nil log discards.
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		return nil, errors.New("portapi: store: empty directory name")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("portapi: store: %w", err)
	}
	s := &Store{dir: dir, log: log, ports: make(map[string]Port), vms: make(map[string]VMPort)}
	s.qcond = sync.NewCond(&s.qmu)
	if _, err := s.Load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Load (re)reads the directory, replacing what the store holds in memory,
// and returns the number of ports loaded. A file that cannot be read, is
// not a valid port, or holds a port whose id differs from its name is
// logged and skipped (and left in place for a human to look at); leftover
// temporary files are removed. Only failing to read the directory itself
// is an error.
func (s *Store) Load() (int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("portapi: store: %w", err)
	}
	ports := make(map[string]Port)
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(s.dir, name)
		if strings.HasPrefix(name, tmpPrefix) {
			if err := os.Remove(path); err != nil {
				s.log.Warn("cannot remove leftover temporary port file", keyFile, path, keyErr, err)
			}
			continue
		}
		if !e.Type().IsRegular() {
			continue // e.g. the original's vm/ subdirectory
		}
		id, ok := ParseUUID(name)
		if !ok || id != name {
			s.log.Warn("skipping port file not named by a uuid", keyFile, path)
			continue
		}
		p, err := readPortFile(path)
		if err != nil {
			s.log.Error("skipping corrupt port file", keyFile, path, keyErr, err)
			continue
		}
		if p.ID != id {
			s.log.Error("skipping port file whose id differs from its name", keyFile, path, keyPort, p.ID)
			continue
		}
		ports[id] = p
	}
	vms := s.loadVMs()
	s.mu.Lock()
	s.ports = ports
	s.vms = vms
	s.mu.Unlock()
	return len(ports) + len(vms), nil
}

// loadVMs reads vm/<vm-uuid>/<vmi-uuid>, with the rules of Load.
func (s *Store) loadVMs() map[string]VMPort {
	vms := make(map[string]VMPort)
	top := filepath.Join(s.dir, vmDir)
	dirs, err := os.ReadDir(top)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Error("cannot read VM port directory", keyFile, top, keyErr, err)
		}
		return vms
	}
	for _, d := range dirs {
		sub := filepath.Join(top, d.Name())
		vm, ok := ParseUUID(d.Name())
		if !d.IsDir() || !ok || vm != d.Name() {
			s.log.Warn("skipping VM port directory not named by a uuid", keyFile, sub)
			continue
		}
		entries, err := os.ReadDir(sub)
		if err != nil {
			s.log.Error("cannot read VM port directory", keyFile, sub, keyErr, err)
			continue
		}
		for _, e := range entries {
			name := e.Name()
			path := filepath.Join(sub, name)
			if strings.HasPrefix(name, tmpPrefix) {
				if err := os.Remove(path); err != nil {
					s.log.Warn("cannot remove leftover temporary port file", keyFile, path, keyErr, err)
				}
				continue
			}
			id, ok := ParseUUID(name)
			if !e.Type().IsRegular() || !ok || id != name {
				s.log.Warn("skipping VM port file not named by a uuid", keyFile, path)
				continue
			}
			data, err := os.ReadFile(path)
			var v VMPort
			if err == nil {
				v, err = decodeVMPortBytes(data)
			}
			if err != nil {
				s.log.Error("skipping corrupt VM port file", keyFile, path, keyErr, err)
				continue
			}
			if v.VMIUUID != id || v.VMUUID != vm {
				s.log.Error("skipping VM port file whose uuids differ from its path", keyFile, path)
				continue
			}
			vms[id] = v
		}
	}
	return vms
}

func readPortFile(path string) (Port, error) {
	f, err := os.Open(path)
	if err != nil {
		return Port{}, err
	}
	defer f.Close()
	return DecodePort(f)
}

// Get returns the port with the given canonical id.
func (s *Store) Get(id string) (Port, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.ports[id]
	return p, ok
}

// List returns every port, sorted by id.
func (s *Store) List() []Port {
	s.mu.RLock()
	out := make([]Port, 0, len(s.ports))
	for _, p := range s.ports {
		out = append(out, p)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Port) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Len returns the number of ports.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ports)
}

// Put normalizes p, writes its file atomically (temporary file, fsync,
// rename, fsync of the directory) and then records it in memory. On error
// neither the file nor the memory changes.
func (s *Store) Put(p Port) error {
	op, err := s.enqueuePut(p)
	if err != nil {
		return err
	}
	return s.wait(op)
}

// enqueuePut queues the write of p; wait returns its outcome. Changes are
// committed in the order they are queued.
func (s *Store) enqueuePut(p Port) (*storeOp, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("portapi: store: encode %s: %w", p.ID, err)
	}
	data = append(data, '\n')
	return s.enqueue(&storeOp{dir: s.dir, name: p.ID, data: data, apply: func() { s.ports[p.ID] = p }}), nil
}

// Delete removes the port's file and then the port. It returns
// ErrNotFound for an unknown id.
func (s *Store) Delete(id string) error {
	s.mu.RLock()
	_, ok := s.ports[id]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s.wait(s.enqueueDelete(id))
}

func (s *Store) enqueueDelete(id string) *storeOp {
	return s.enqueue(&storeOp{dir: s.dir, name: id, apply: func() { delete(s.ports, id) }})
}

// GetVM returns the VM-style port of the VMI with the given canonical id.
func (s *Store) GetVM(vmi string) (VMPort, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vms[vmi]
	return v, ok
}

// ListVM returns the VM-style ports of the VM with the given canonical
// uuid, or every one for "", sorted by VM and VMI uuid.
func (s *Store) ListVM(vm string) []VMPort {
	s.mu.RLock()
	var out []VMPort
	for _, v := range s.vms {
		if vm == "" || v.VMUUID == vm {
			out = append(out, v)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b VMPort) int {
		if c := strings.Compare(a.VMUUID, b.VMUUID); c != 0 {
			return c
		}
		return strings.Compare(a.VMIUUID, b.VMIUUID)
	})
	return out
}

// AllPorts returns every port the agent programs: the ports of POST /port
// and those of the VM-style ports (VMPort.Port), sorted by id. A VMI that
// is both (which the server refuses) counts once, as its POST /port port.
func (s *Store) AllPorts() []Port {
	s.mu.RLock()
	out := make([]Port, 0, len(s.ports)+len(s.vms))
	for _, p := range s.ports {
		out = append(out, p)
	}
	for id, v := range s.vms {
		if _, ok := s.ports[id]; !ok {
			out = append(out, v.Port())
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Port) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// PutVM stores a VM-style port (normalized) like Put.
func (s *Store) PutVM(v VMPort) error {
	op, err := s.enqueuePutVM(v)
	if err != nil {
		return err
	}
	return s.wait(op)
}

func (s *Store) enqueuePutVM(v VMPort) (*storeOp, error) {
	v, err := v.Normalize()
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("portapi: store: encode %s: %w", v.VMIUUID, err)
	}
	data = append(data, '\n')
	return s.enqueue(&storeOp{dir: filepath.Join(s.dir, vmDir, v.VMUUID), name: v.VMIUUID, data: data, mkdir: true,
		apply: func() { s.vms[v.VMIUUID] = v }}), nil
}

// DeleteVM removes a VM-style port; ErrNotFound if unknown.
func (s *Store) DeleteVM(vmi string) error {
	v, ok := s.GetVM(vmi)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, vmi)
	}
	return s.wait(s.enqueueDeleteVM(v))
}

func (s *Store) enqueueDeleteVM(v VMPort) *storeOp {
	return s.enqueue(&storeOp{dir: filepath.Join(s.dir, vmDir, v.VMUUID), name: v.VMIUUID, rmdir: true,
		apply: func() { delete(s.vms, v.VMIUUID) }})
}

func (s *Store) enqueue(op *storeOp) *storeOp {
	s.qmu.Lock()
	s.queue = append(s.queue, op)
	s.qmu.Unlock()
	return op
}

// wait returns once op is committed, with its error. It commits in two
// stages. First the caller writes and fsyncs op's temporary file itself,
// in parallel with other callers. Then the first caller that finds no
// commit running renames (or removes) the files of every queued change
// that is ready, in queue order up to the first one still being written,
// fsyncs their directories once and applies the changes in memory.
func (s *Store) wait(op *storeOp) error {
	s.prepare(op)
	s.qmu.Lock()
	op.ready = true
	for !op.done {
		if s.committing || !s.queue[0].ready {
			// A commit is running, or an earlier change is still
			// being written: its caller, or the end of the commit,
			// wakes us.
			s.qcond.Wait()
			continue
		}
		n := 0
		for n < len(s.queue) && s.queue[n].ready {
			n++
		}
		batch := s.queue[:n:n]
		s.queue = s.queue[n:]
		s.committing = true
		s.qmu.Unlock()
		s.commit(batch)
		s.qmu.Lock()
		s.committing = false
		for _, o := range batch {
			o.done = true
		}
		s.qcond.Broadcast()
	}
	err := op.err
	s.qmu.Unlock()
	return err
}

// prepare writes and fsyncs op's temporary file (nothing for a removal).
func (s *Store) prepare(op *storeOp) {
	if op.data == nil {
		return
	}
	if op.mkdir {
		if err := mkdirIn(op.dir); err != nil {
			op.err = fmt.Errorf("portapi: store: write %s: %w", op.name, err)
			return
		}
	}
	f, err := createTemp(op.dir, op.name, op.data)
	if err == nil {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if err != nil {
		op.err = fmt.Errorf("portapi: store: write %s: %w", op.name, err)
		return
	}
	op.tmp = f.Name()
}

// commit renames or removes the files of a batch of prepared changes, in
// order, fsyncs the directories, then applies the changes in memory. A
// change that fails leaves its port as it was in memory.
func (s *Store) commit(batch []*storeOp) {
	dirty := map[string]bool{}
	for _, op := range batch {
		if op.err != nil {
			continue
		}
		path := filepath.Join(op.dir, op.name)
		if op.data != nil {
			if err := os.Rename(op.tmp, path); err != nil {
				os.Remove(op.tmp)
				op.err = fmt.Errorf("portapi: store: write %s: %w", op.name, err)
				continue
			}
			if op.mkdir {
				// Its directory may be new (made by this change or
				// a failed one): make its entry durable too.
				dirty[filepath.Dir(op.dir)] = true
				dirty[filepath.Dir(filepath.Dir(op.dir))] = true
			}
		} else if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			op.err = fmt.Errorf("portapi: store: delete %s: %w", op.name, err)
			continue
		}
		dirty[op.dir] = true
	}
	s.removeEmptyDirs(batch, dirty)
	failed := map[string]error{}
	for d := range dirty {
		if err := syncDir(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			failed[d] = err
		}
	}
	s.mu.Lock()
	for _, op := range batch {
		if op.err == nil {
			if err := failed[op.dir]; err != nil {
				op.err = fmt.Errorf("portapi: store: %s: %w", op.name, err)
				continue
			}
			op.apply()
		}
	}
	s.mu.Unlock()
}

// removeEmptyDirs removes the directory of a VM whose last port a batch
// removed, unless a queued change is about to write into it.
func (s *Store) removeEmptyDirs(batch []*storeOp, dirty map[string]bool) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for _, op := range batch {
		if op.err != nil || !op.rmdir {
			continue
		}
		busy := false
		for _, q := range s.queue {
			busy = busy || q.dir == op.dir
		}
		// Fails, harmlessly, while the VM has other ports.
		if !busy && os.Remove(op.dir) == nil {
			dirty[filepath.Dir(op.dir)] = true
		}
	}
}

// mkdirIn creates dir if missing, its parent (but not the parent's
// parent) too, so that a removed store directory stays an error.
func mkdirIn(dir string) error {
	parent := filepath.Dir(dir)
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// createTemp writes data to a new temporary file in dir, left open.
func createTemp(dir, name string, data []byte) (*os.File, error) {
	f, err := os.CreateTemp(dir, tmpPrefix+name+"-*")
	if err != nil {
		return nil, err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Chmod(0o644)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) {
		return nil // some filesystems cannot sync a directory
	}
	return err
}
