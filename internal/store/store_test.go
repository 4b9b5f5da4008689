// SPDX-License-Identifier: Apache-2.0

package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

// recorder is a store.Handler that keeps what it was given.
type recorder struct {
	mu      sync.Mutex
	resets  int
	state   map[string]*model.Object
	revs    []int64
	ops     []string
	lastRev int64
	notify  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{state: map[string]*model.Object{}, notify: make(chan struct{}, 1000)}
}

func (r *recorder) Reset(entries []store.Entry, rev int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resets++
	r.state = map[string]*model.Object{}
	for _, e := range entries {
		r.state[e.Object.UUID] = e.Object
	}
	r.lastRev = rev
	r.notify <- struct{}{}
	return nil
}

func (r *recorder) Apply(rev int64, events []store.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rev <= r.lastRev {
		return fmt.Errorf("revision %d delivered after %d", rev, r.lastRev)
	}
	r.lastRev = rev
	r.revs = append(r.revs, rev)
	for _, ev := range events {
		if ev.Revision != rev {
			return fmt.Errorf("event of revision %d in batch %d", ev.Revision, rev)
		}
		r.ops = append(r.ops, ev.Op.String()+" "+ev.Object.UUID)
		if ev.Op == store.OpDelete {
			delete(r.state, ev.Object.UUID)
		} else {
			r.state[ev.Object.UUID] = ev.Object
		}
	}
	r.notify <- struct{}{}
	return nil
}

func (r *recorder) Progress(int64) {}

func (r *recorder) waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatal("condition not reached")
		}
	}
}

func putObject(t *testing.T, st *store.Store, ops ...clientv3.Op) int64 {
	t.Helper()
	resp, err := st.Client.Txn(context.Background()).Then(ops...).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func objOp(st *store.Store, uuid string) clientv3.Op {
	b, _ := json.Marshal(&model.Object{Type: "virtual-network", UUID: uuid, FQName: []string{"d", "p", uuid}})
	return clientv3.OpPut(st.Keys.Object("virtual-network", uuid), string(b))
}

func TestFollowDeliversTransactionsInOrderAndResumes(t *testing.T) {
	st := etcdtest.Start(t)
	putObject(t, st, objOp(st, "a"))
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- st.Follow(ctx, 0, rec) }()
	rec.waitFor(t, func() bool { return rec.resets == 1 && rec.state["a"] != nil })

	// One transaction with two objects is one batch; a delete carries the old object.
	rev := putObject(t, st, objOp(st, "b"), objOp(st, "c"))
	putObject(t, st, clientv3.OpDelete(st.Keys.Object("virtual-network", "a")))
	// Writes outside obj/ are not object events.
	putObject(t, st, clientv3.OpPut(st.Keys.KV("x"), "y"))
	rec.waitFor(t, func() bool { return len(rec.revs) == 2 })
	if rec.revs[0] != rev {
		t.Fatalf("first batch at %d, want %d", rec.revs[0], rev)
	}
	want := []string{"CREATE b", "CREATE c", "DELETE a"}
	if fmt.Sprint(rec.ops) != fmt.Sprint(want) {
		t.Fatalf("ops %v, want %v", rec.ops, want)
	}
	cancel()
	<-done

	// Resume after the last revision seen: only what happened since arrives.
	last := rec.lastRev
	putObject(t, st, objOp(st, "d"))
	rec2 := newRecorder()
	rec2.lastRev = last
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go st.Follow(ctx2, last, rec2)
	rec2.waitFor(t, func() bool { return len(rec2.ops) == 1 })
	if rec2.resets != 0 || rec2.ops[0] != "CREATE d" {
		t.Fatalf("resume: resets=%d ops=%v", rec2.resets, rec2.ops)
	}
}

func TestFollowResyncsAfterCompaction(t *testing.T) {
	st := etcdtest.Start(t)
	first := putObject(t, st, objOp(st, "a"))
	putObject(t, st, objOp(st, "b"))
	rev := putObject(t, st, clientv3.OpDelete(st.Keys.Object("virtual-network", "a")))
	if _, err := st.Client.Compact(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go st.Follow(ctx, first, rec)
	rec.waitFor(t, func() bool { return rec.resets == 1 })
	if len(rec.state) != 1 || rec.state["b"] == nil {
		t.Fatalf("state after resync: %v", rec.state)
	}
}

func TestCheckFindsBrokenIndexes(t *testing.T) {
	st := etcdtest.Start(t)
	k := st.Keys
	o := &model.Object{Type: "project", UUID: "p1", FQName: []string{"default-domain", "p"}}
	b, _ := json.Marshal(o)
	putObject(t, st, clientv3.OpPut(k.Object("project", "p1"), string(b)),
		clientv3.OpPut(k.FQName("project", o.FQName), "p1"),
		clientv3.OpPut(k.UUID("p1"), "project"))
	problems, err := st.Check(context.Background())
	if err != nil || len(problems) != 0 {
		t.Fatalf("consistent store: %v %v", problems, err)
	}
	putObject(t, st, clientv3.OpPut(k.FQName("project", []string{"default-domain", "ghost"}), "p2"),
		clientv3.OpPut(k.ID("virtual-network", "7"), "gone"),
		clientv3.OpDelete(k.UUID("p1")))
	problems, _ = st.Check(context.Background())
	if len(problems) != 3 {
		t.Fatalf("want 3 problems, got %d: %v", len(problems), problems)
	}
}

func TestKeysEscapeSeparators(t *testing.T) {
	k := store.Keys{Prefix: "/c/"}
	a := k.FQName("t", []string{"a:b", "c"})
	b := k.FQName("t", []string{"a", "b:c"})
	if a == b {
		t.Fatalf("fq-names with ':' collide: %s", a)
	}
	if got := k.FQName("t", []string{"x/y%"}); got != "/c/fq/t/x%2Fy%25" {
		t.Fatalf("escape: %s", got)
	}
}
