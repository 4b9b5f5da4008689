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

// Store keeps ports in memory and, one JSON file per port named by its
// uuid, in a directory. It is safe for concurrent use.
type Store struct {
	dir string
	log *slog.Logger

	mu    sync.RWMutex
	ports map[string]Port
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
	s := &Store{dir: dir, log: log, ports: make(map[string]Port)}
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
	s.mu.Lock()
	s.ports = ports
	s.mu.Unlock()
	return len(ports), nil
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
	p, err := p.Normalize()
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("portapi: store: encode %s: %w", p.ID, err)
	}
	data = append(data, '\n')
	// Writers of one id are serialized so that the last rename matches
	// the last map update.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeFileAtomic(s.dir, p.ID, data); err != nil {
		return fmt.Errorf("portapi: store: write %s: %w", p.ID, err)
	}
	s.ports[p.ID] = p
	return nil
}

// Delete removes the port's file and then the port. It returns
// ErrNotFound for an unknown id.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ports[id]; !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	err := os.Remove(filepath.Join(s.dir, id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("portapi: store: delete %s: %w", id, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("portapi: store: delete %s: %w", id, err)
	}
	delete(s.ports, id)
	return nil
}

// writeFileAtomic replaces dir/name with data so that a reader, or the
// directory after a crash, holds either the old or the new content.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
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
