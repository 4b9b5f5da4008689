// SPDX-License-Identifier: Apache-2.0

package uve

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sd "github.com/contrail-go/contrail/internal/sandesh"
)

// httpPages is pages with HandleHTTP, as obs.Introspect has.
type httpPages struct{ pages }

func (p httpPages) HandleHTTP(path, _ string, h http.Handler) { p.mux.Handle(path, h) }

func recv(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
	return Change{}
}

func waitClosed(t *testing.T, ch <-chan Change) int {
	t.Helper()
	n := 0
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
			n++
		case <-deadline:
			t.Fatal("watch channel not closed within 5s")
		}
	}
}

func mode(m string) []sd.Field { return []sd.Field{sd.F("mode", 1, sd.String(m))} }

func TestCacheWatch(t *testing.T) {
	c := NewCache()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := c.Watch(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	c.Update(o1, "ObjectVRouter", "h1", "VrouterAgent", mode("kernel"), 1)
	if got := recv(t, ch); got != (Change{Table: "ObjectVRouter", Key: "h1", Struct: "VrouterAgent"}) {
		t.Fatalf("update change %+v", got)
	}
	c.Delete(o1, "ObjectVRouter", "h1", "VrouterAgent")
	if got := recv(t, ch); got != (Change{Table: "ObjectVRouter", Key: "h1", Struct: "VrouterAgent", Removed: true}) {
		t.Fatalf("delete change %+v", got)
	}
	// Deleting what is not there tells nothing.
	c.Delete(o1, "ObjectVRouter", "h1", "VrouterAgent")
	c.Update(o1, "ObjectVRouter", "h2", "VrouterAgent", mode("dpdk"), 2)
	c.Update(o2, "ObjectVRouter", "h2", "VrouterAgent", mode("dpdk"), 2)
	if n := c.WithdrawOrigin(o1); n != 1 {
		t.Fatalf("withdrew %d", n)
	}
	for _, want := range []Change{
		{Table: "ObjectVRouter", Key: "h2", Struct: "VrouterAgent"},
		{Table: "ObjectVRouter", Key: "h2", Struct: "VrouterAgent"},
		{Table: "ObjectVRouter", Key: "h2", Struct: "VrouterAgent", Removed: true},
	} {
		if got := recv(t, ch); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	cancel()
	waitClosed(t, ch)
	if n, _ := c.WatchStats(); n != 0 {
		t.Fatalf("%d watchers left after cancel", n)
	}
}

// A watcher that does not read is dropped once its buffer is full; the
// updates never wait for it, and other watchers go on.
func TestCacheSlowWatcherDropped(t *testing.T) {
	c := NewCache()
	ctx := context.Background()
	slow, _ := c.Watch(ctx, 4)
	fast, _ := c.Watch(ctx, 10000) // room for every change
	got := make(chan int)
	go func() {
		n := 0
		for range fast {
			n++
			if n == 10000 {
				break
			}
		}
		got <- n
	}()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10000; i++ {
			c.Update(o1, "ObjectVRouter", "h1", "VrouterAgent", mode("kernel"), int64(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("updates blocked by a slow watcher")
	}
	if n := waitClosed(t, slow); n != 4 {
		t.Fatalf("slow watcher got %d changes before being dropped, want 4", n)
	}
	select {
	case n := <-got:
		if n != 10000 {
			t.Fatalf("fast watcher got %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fast watcher stalled")
	}
	if n, dropped := c.WatchStats(); n != 1 || dropped != 1 {
		t.Fatalf("watchers %d dropped %d", n, dropped)
	}
	c.CloseWatchers()
	waitClosed(t, fast)
	late, _ := c.Watch(ctx, 0)
	waitClosed(t, late)
}

func TestRemoteWatch(t *testing.T) {
	c := NewCache()
	mux := http.NewServeMux()
	RegisterPages(httpPages{pages{mux}}, c, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r := NewRemote(srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := r.Watch(ctx, 16)
	if err != nil {
		t.Fatal(err)
	}
	// Watch returned: the collector has registered the watch.
	if n, _ := c.WatchStats(); n != 1 {
		t.Fatalf("collector watchers %d", n)
	}
	c.Update(o1, "ObjectVRouter", "h1", "VrouterAgent", mode("kernel"), 1)
	c.Delete(o1, "ObjectVRouter", "h1", "VrouterAgent")
	if got := recv(t, ch); got != (Change{Table: "ObjectVRouter", Key: "h1", Struct: "VrouterAgent"}) {
		t.Fatalf("remote update %+v", got)
	}
	if got := recv(t, ch); !got.Removed {
		t.Fatalf("remote delete %+v", got)
	}
	// The collector stopping ends the stream.
	c.CloseWatchers()
	waitClosed(t, ch)

	// A source that cannot watch has no stream: Watch fails.
	mux2 := http.NewServeMux()
	RegisterPages(pages{mux2}, c, nil)
	srv2 := httptest.NewServer(mux2)
	defer srv2.Close()
	if _, err := NewRemote(srv2.URL).Watch(ctx, 0); err == nil {
		t.Fatal("watch of a collector without the stream page should fail")
	}
}

// Cancelling the remote watch ends it on both sides.
func TestRemoteWatchCancel(t *testing.T) {
	c := NewCache()
	mux := http.NewServeMux()
	RegisterPages(httpPages{pages{mux}}, c, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := NewRemote(srv.URL).Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, ch)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := c.WatchStats(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("collector still holds the watch")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
