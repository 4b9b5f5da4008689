// SPDX-License-Identifier: Apache-2.0

// Package apitest starts a real config API server for the tests of the
// packages that use it (not the API server's own tests, which cannot
// import it).
package apitest

import (
	"context"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/store"
)

// Start runs an API server on st, on a free loopback port, until the test
// ends, and returns it with its base URL ("http://127.0.0.1:port").
func Start(t testing.TB, st *store.Store, cfg apiserver.Config) (*apiserver.Server, string) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	srv := apiserver.New(st, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("api server: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("api server not ready")
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return srv, "http://" + srv.Addr().String()
}
