// SPDX-License-Identifier: Apache-2.0

// Package etcdtest starts a real embedded etcd for tests.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/contrail-go/contrail/internal/store"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs an embedded etcd in a temporary directory, on free loopback
// ports, and closes it when the test ends. Other clients reach it through
// the returned store's ClientURLs.
func Start(t testing.TB) *store.Store {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn is Start with a given data directory, so that a test can stop the
// store and open it again on the same data.
func StartIn(t testing.TB, dir string) *store.Store {
	t.Helper()
	var lastErr error
	for range 5 {
		s, err := store.Open(context.Background(), store.Options{
			DataDir:      dir,
			ClientListen: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)),
			PeerListen:   fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)),
			// Tests of logic need no durability; crash tests use the real binary.
			UnsafeNoFsync: true,
		})
		if err == nil {
			t.Cleanup(func() { s.Close() })
			return s
		}
		lastErr = err
	}
	t.Fatalf("start etcd: %v", lastErr)
	return nil
}

// Connect opens a second client to the same etcd, as another API server
// process would.
func Connect(t testing.TB, s *store.Store) *store.Store {
	t.Helper()
	c, err := store.Open(context.Background(), store.Options{Endpoints: s.ClientURLs()})
	if err != nil {
		t.Fatalf("connect etcd: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
