// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for a logger shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

func uuidN(n int) string {
	return fmt.Sprintf("00000000-0000-0000-0000-%012x", n)
}

func mustOpen(t *testing.T, dir string, log *slog.Logger) *Store {
	t.Helper()
	s, err := OpenStore(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStorePutGetDelete(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	p := testPort(testVMI, "tap0")
	p.MACAddress = "02:AA:00:00:00:01"
	if err := s.Put(p); err != nil {
		t.Fatal(err)
	}
	got, ok := s.Get(testVMI)
	if !ok || got.MACAddress != "02:aa:00:00:00:01" {
		t.Fatalf("Get = %+v, %v; want the normalized port", got, ok)
	}
	data, err := os.ReadFile(filepath.Join(dir, testVMI))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Port
	if err := json.Unmarshal(data, &onDisk); err != nil || onDisk != got {
		t.Fatalf("file holds %s (%v); want %+v", data, err, got)
	}
	if err := s.Delete(testVMI); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, testVMI)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there after Delete: %v", err)
	}
	if err := s.Delete(testVMI); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := s.Put(Port{ID: "bad"}); !errors.Is(err, ErrInvalidPort) {
		t.Errorf("Put(invalid) = %v, want ErrInvalidPort", err)
	}
	if n := len(entries(t, dir)); n != 0 {
		t.Errorf("%d files left in the directory", n)
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	for i := range 3 {
		if err := s.Put(testPort(uuidN(i), fmt.Sprintf("tap%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(uuidN(1)); err != nil {
		t.Fatal(err)
	}
	s2 := mustOpen(t, dir, nil)
	got := s2.List()
	if len(got) != 2 || got[0].ID != uuidN(0) || got[1].ID != uuidN(2) || got[1].SystemName != "tap2" {
		t.Fatalf("reloaded %+v", got)
	}
}

func TestStoreLoadSkipsBadFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	if err := s.Put(testPort(uuidN(1), "tap1")); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(uuidN(2), `{"id": "`+uuidN(2)+`", "instance-`) // truncated
	write(uuidN(3), "")                                  // empty
	other, _ := json.Marshal(testPort(uuidN(5), "tap5"))
	write(uuidN(4), string(other)) // id differs from the name
	write("README", "not a port")
	write(tmpPrefix+uuidN(6)+"-123", `{"id":`) // a crash mid-write
	if err := os.Mkdir(filepath.Join(dir, "vm"), 0o755); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	s2 := mustOpen(t, dir, testLogger(&logs))
	if got := s2.List(); len(got) != 1 || got[0].ID != uuidN(1) {
		t.Fatalf("loaded %+v; want only %s", got, uuidN(1))
	}
	out := logs.String()
	for _, want := range []string{
		"corrupt port file", uuidN(2), uuidN(3),
		"id differs from its name", uuidN(4),
		"not named by a uuid", "README",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, tmpPrefix+uuidN(6)+"-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary file not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, uuidN(2))); err != nil {
		t.Errorf("corrupt file should be left in place: %v", err)
	}
}

// TestStoreAtomicWrite checks that a reader never sees a partial file:
// while one goroutine rewrites a port with contents of changing length,
// others read the file and must always decode a whole port, and the
// directory never holds anything but the port file and temporary files.
func TestStoreAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	path := filepath.Join(dir, testVMI)
	if err := s.Put(testPort(testVMI, "tap0")); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				f, err := os.Open(path)
				if err != nil {
					errc <- err
					return
				}
				_, err = DecodePort(f)
				f.Close()
				if err != nil {
					errc <- fmt.Errorf("reader saw a partial file: %w", err)
					return
				}
			}
		}()
	}
	for i := range 50 {
		p := testPort(testVMI, "tap0")
		p.DisplayName = strings.Repeat("n", i*5)
		if err := s.Put(p); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for _, name := range entries(t, dir) {
		if name != testVMI {
			t.Errorf("unexpected file %q left in the directory", name)
		}
	}
}

func TestStorePutFailureChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ports")
	s := mustOpen(t, dir, nil)
	// Removing the directory makes every write fail, even for root.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(testPort(testVMI, "tap0")); err == nil {
		t.Fatal("Put into a missing directory succeeded")
	}
	if s.Len() != 0 {
		t.Error("failed Put left the port in memory")
	}
}
