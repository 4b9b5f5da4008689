// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/model"
)

// guard is one condition of a write transaction, with what to report when
// it does not hold. A nil fail means "the cache was stale: retry".
type guard struct {
	cmp    clientv3.Cmp
	key    string
	prefix bool
	// want: the condition in words, to evaluate it again after a failure.
	absent    bool  // no key (or no key under prefix)
	createRev int64 // key exists with this create revision
	modRev    int64 // key exists with this mod revision
	fail      *Error
	// strict: any failure of the guard is definite (fencing tokens).
	strict bool
}

// txn collects the guards and operations of one API write, which commits
// atomically in one etcd transaction.
type txn struct {
	guards []guard
	ops    []clientv3.Op
	// reserved allocation keys to release locally once the write is visible
	reserved []string
	// objects written, for the response and for waiting on the cache
	objects []*model.Object
	// writesObjects: the transaction puts or deletes an object, so the
	// cache will show its revision.
	writesObjects bool
	// lostOn is the key of the first guard that failed because another
	// write got there first (set by diagnose).
	lostOn string
}

func (t *txn) mustBeAbsent(key string, fail *Error) {
	t.guards = append(t.guards, guard{cmp: clientv3.Compare(clientv3.CreateRevision(key), "=", 0), key: key, absent: true, fail: fail})
}

func (t *txn) mustBeEmpty(prefix string, fail *Error) {
	t.guards = append(t.guards, guard{
		cmp: clientv3.Compare(clientv3.CreateRevision(prefix), "=", 0).WithPrefix(),
		key: prefix, prefix: true, absent: true, fail: fail,
	})
}

func (t *txn) mustExist(key string, createRev int64, fail *Error) {
	t.guards = append(t.guards, guard{cmp: clientv3.Compare(clientv3.CreateRevision(key), "=", createRev), key: key, createRev: createRev, fail: fail})
}

func (t *txn) mustBeUnchanged(key string, modRev int64, fail *Error) {
	t.guards = append(t.guards, guard{cmp: clientv3.Compare(clientv3.ModRevision(key), "=", modRev), key: key, modRev: modRev, fail: fail})
}

func (t *txn) put(key, val string) { t.ops = append(t.ops, clientv3.OpPut(key, val)) }

func (t *txn) del(key string) { t.ops = append(t.ops, clientv3.OpDelete(key)) }

func (t *txn) delObject(key string) {
	t.ops = append(t.ops, clientv3.OpDelete(key))
	t.writesObjects = true
}

func (t *txn) delPrefix(prefix string) {
	t.ops = append(t.ops, clientv3.OpDelete(prefix, clientv3.WithPrefix()))
}

func (t *txn) putObject(k string, o *model.Object) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	t.ops = append(t.ops, clientv3.OpPut(k, string(b)))
	t.objects = append(t.objects, o)
	t.writesObjects = true
	return nil
}

// commit runs the transaction. On success it waits until this server's
// cache shows the write, so that a client reads its own writes. When a guard
// fails it finds which one: a definite error is returned as is, a stale
// cache gives errRetryTxn after the cache has caught up.
func (s *Server) commit(ctx context.Context, t *txn) (rev int64, err error) {
	defer func() {
		if err == nil {
			s.alloc.releaseAfter(rev, t.reserved)
		} else {
			s.alloc.release(t.reserved)
		}
	}()
	if f, ok := ctx.Value(fenceKey{}).(fence); ok {
		t.guards = append(t.guards, guard{
			cmp: clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev), key: f.key, createRev: f.rev, strict: true,
			fail: apiErr(ErrFenced, FenceHeader, "writer's lease %s@%d is no longer held", f.key, f.rev),
		})
	}
	cmps := make([]clientv3.Cmp, len(t.guards))
	for i := range t.guards {
		cmps[i] = t.guards[i].cmp
	}
	t0 := time.Now()
	resp, err := s.st.Client.Txn(ctx).If(cmps...).Then(t.ops...).Commit()
	s.m.txnSeconds.Observe(time.Since(t0).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return 0, apiErr(ErrUnavailable, "", "store did not answer in time: %v", err)
		}
		return 0, apiErr(ErrUnavailable, "", "store: %v", err)
	}
	s.m.txns.Inc()
	if resp.Succeeded {
		// Only writes of objects show up in the cache; a transaction that
		// touched nothing else (e.g. /ip-alloc) must not make reads wait.
		if t.writesObjects {
			s.noteCommitted(resp.Header.Revision)
		}
		if s.cfg.OnCommit != nil {
			s.cfg.OnCommit(t.shape())
		}
		return resp.Header.Revision, nil
	}
	s.m.txnConflicts.Inc()
	return 0, s.diagnose(ctx, t)
}

// diagnose evaluates the guards of a failed transaction against the store.
func (s *Server) diagnose(ctx context.Context, t *txn) error {
	ops := make([]clientv3.Op, len(t.guards))
	for i, g := range t.guards {
		if g.prefix {
			ops[i] = clientv3.OpGet(g.key, clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly())
		} else {
			ops[i] = clientv3.OpGet(g.key, clientv3.WithKeysOnly())
		}
	}
	resp, err := s.st.Client.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return apiErr(ErrUnavailable, "", "store: %v", err)
	}
	var firstFail *Error
	for i, g := range t.guards {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		ok := true
		switch {
		case g.absent:
			ok = len(kvs) == 0
		case g.createRev != 0:
			ok = len(kvs) == 1 && kvs[0].CreateRevision == g.createRev
		case g.modRev != 0:
			ok = len(kvs) == 1 && kvs[0].ModRevision == g.modRev
		}
		if ok {
			continue
		}
		// An allocation key taken although the cache did not know it is
		// held outside the object graph (/ip-alloc): remember that.
		if g.absent && !g.prefix && g.fail == nil && len(kvs) > 0 {
			s.alloc.markExternal(g.key)
		}
		// A missing key where a revision was expected is definite only
		// when the guard says so; a different revision means the cache
		// was behind.
		if g.fail != nil && (g.absent || g.strict || len(kvs) == 0) {
			if firstFail == nil {
				firstFail = g.fail
			}
		} else if t.lostOn == "" {
			t.lostOn = g.key
		}
	}
	// Let the cache catch up with what beat us before the caller retries.
	if err := s.waitCache(ctx, resp.Header.Revision); err != nil {
		return apiErr(ErrUnavailable, "", "cache did not catch up: %v", err)
	}
	if firstFail != nil {
		return firstFail
	}
	return errRetryTxn
}

// retry runs a write until it commits or fails for good. Each attempt
// prepares a fresh transaction from the (caught-up) cache.
//
// Writers of one hot object (a virtual-router that every new VM of its
// host refers to) would keep beating each other: each round only one
// commits. So a writer that lost a race takes the in-process lock of the
// key it lost on and tries again holding it; the writers of this server
// then queue for that key instead of racing, and only writers of other
// servers (or first attempts) still compete. A short random pause before
// each retry spreads those out.
func (s *Server) retry(ctx context.Context, attempt func() (*txn, error)) (*txn, error) {
	var last error
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	for i := 0; i < maxWriteAttempts; i++ {
		t, err := attempt()
		if err != nil {
			return nil, err
		}
		if _, err := s.commit(ctx, t); err != nil {
			if !errors.Is(err, errRetryTxn) {
				// A definite failure on the first attempt may come from a
				// cache that was behind (the request's checks passed on
				// it); diagnose has caught it up, so one more attempt
				// reports the failure as the checks see it now (naming
				// the object that is in the way, for example).
				var e *Error
				if i == 0 && errors.As(err, &e) && (e.Kind == ErrConflict || e.Kind == ErrNotFound) {
					last = err
					continue
				}
				return nil, err
			}
			s.m.retries.Inc()
			last = err
			if release == nil && t.lostOn != "" {
				if release = s.hot.lock(ctx, t.lostOn); release == nil {
					return nil, apiErr(ErrUnavailable, "", "gave up waiting for other writes of %s: %v", t.lostOn, ctx.Err())
				}
			}
			if err := pause(ctx, i); err != nil {
				return nil, apiErr(ErrUnavailable, "", "write kept losing races: %v", last)
			}
			continue
		}
		return t, nil
	}
	return nil, apiErr(ErrUnavailable, "", "write kept losing races: %v", last)
}

// maxWriteAttempts bounds the attempts of one write; with the hot-key
// lock a write only loses to other servers' writes after its first loss.
const maxWriteAttempts = 100

// pause sleeps before retry attempt i+1: nothing after the first loss,
// then a random time growing to at most 20 ms.
func pause(ctx context.Context, i int) error {
	if i == 0 {
		return ctx.Err()
	}
	limit := time.Duration(min(i, 20)) * time.Millisecond
	select {
	case <-time.After(time.Duration(rand.Int64N(int64(limit)) + 1)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hotKeys is a striped set of locks by store key; a stripe is a channel
// of one slot, so that waiting for it can end with the request.
type hotKeys struct {
	stripes [64]chan struct{}
}

func newHotKeys() *hotKeys {
	h := &hotKeys{}
	for i := range h.stripes {
		h.stripes[i] = make(chan struct{}, 1)
	}
	return h
}

// lock takes the lock of key's stripe and returns its release, or nil if
// ctx ends first.
func (h *hotKeys) lock(ctx context.Context, key string) func() {
	f := fnv.New32a()
	f.Write([]byte(key))
	c := h.stripes[f.Sum32()%uint32(len(h.stripes))]
	select {
	case c <- struct{}{}:
		return func() { <-c }
	case <-ctx.Done():
		return nil
	}
}

// FenceHeader lets a writer that holds an etcd lease-backed key (a leader
// elected through etcd, such as the schema transformer) make its write
// conditional on still holding it: "<key>@<create-revision>". The key must
// lie under the store prefix. A write whose fence is gone fails with 412
// and changes nothing, so a deposed leader can never write after its
// successor has started.
const FenceHeader = "X-Contrail-Fence"

type fenceKey struct{}

type fence struct {
	key string
	rev int64
}

func (s *Server) parseFence(r *http.Request) (context.Context, error) {
	v := r.Header.Get(FenceHeader)
	if v == "" {
		return r.Context(), nil
	}
	i := strings.LastIndexByte(v, '@')
	if i <= 0 {
		return nil, badRequest(FenceHeader, "%q is not <key>@<revision>", v)
	}
	rev, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil || rev <= 0 {
		return nil, badRequest(FenceHeader, "%q: revision must be a positive integer", v)
	}
	if !strings.HasPrefix(v[:i], s.keys.Prefix) {
		return nil, badRequest(FenceHeader, "fence key must be under %s", s.keys.Prefix)
	}
	return context.WithValue(r.Context(), fenceKey{}, fence{key: v[:i], rev: rev}), nil
}

// fenced reports whether the request carries a fence. Only a daemon that
// holds an election key in the store (the schema transformer, the service
// monitor) can send a valid one, so a fenced create or update is a system
// write: like the server's own writes it may set system-only properties
// (access_control_list_entries, static_route_entries, ...).
func fenced(ctx context.Context) bool {
	_, ok := ctx.Value(fenceKey{}).(fence)
	return ok
}

// TxnShape describes one write transaction: its guards and its writes.
type TxnShape struct {
	Guards  []GuardShape
	Puts    [][2]string // key, value
	Deletes []string
}

// GuardShape is one compare of a write transaction.
type GuardShape struct {
	Key       string
	Prefix    bool
	Absent    bool
	CreateRev int64
	ModRev    int64
}

func (t *txn) shape() TxnShape {
	var sh TxnShape
	for _, g := range t.guards {
		sh.Guards = append(sh.Guards, GuardShape{Key: g.key, Prefix: g.prefix, Absent: g.absent, CreateRev: g.createRev, ModRev: g.modRev})
	}
	for _, op := range t.ops {
		switch {
		case op.IsPut():
			sh.Puts = append(sh.Puts, [2]string{string(op.KeyBytes()), string(op.ValueBytes())})
		case op.IsDelete():
			sh.Deletes = append(sh.Deletes, string(op.KeyBytes()))
		}
	}
	return sh
}

func (s *Server) noteCommitted(rev int64) {
	for {
		cur := s.committed.Load()
		if rev <= cur || s.committed.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// readBarrier waits until the cache shows every write this server has
// committed: the read-your-writes guarantee of one API server.
func (s *Server) readBarrier(ctx context.Context) error {
	rev := s.committed.Load()
	if s.cache.Revision() >= rev {
		return nil
	}
	t0 := time.Now()
	err := s.waitCache(ctx, rev)
	s.m.waitSeconds.Observe(time.Since(t0).Seconds())
	if err != nil {
		return apiErr(ErrUnavailable, "", "config cache is behind the store: %v", err)
	}
	return nil
}

// refresh makes the cache fresher after a lookup missed: first up to this
// server's own writes (cheap, local), then up to the store (a round trip).
// It reports false when there is nothing fresher to get.
func (s *Server) refresh(ctx context.Context, level *int) (bool, error) {
	*level++
	switch *level {
	case 1:
		if s.cache.Revision() < s.committed.Load() {
			return true, s.readBarrier(ctx)
		}
		*level++
		fallthrough
	case 2:
		return true, s.syncCache(ctx)
	}
	return false, nil
}

// prepareFresh is withFresh for a prepare that builds a transaction: the
// allocation reservations of every failed attempt are released.
func (s *Server) prepareFresh(ctx context.Context, prepare func() (*txn, error)) (*txn, error) {
	var t *txn
	err := s.withFresh(ctx, func() error {
		if t != nil {
			s.alloc.release(t.reserved)
		}
		var err error
		t, err = prepare()
		return err
	})
	if err != nil {
		if t != nil {
			s.alloc.release(t.reserved)
		}
		return nil, err
	}
	return t, nil
}

// syncCache makes the cache as fresh as the store (a linearizable read), so
// that a miss in the cache is a real miss.
func (s *Server) syncCache(ctx context.Context) error {
	resp, err := s.st.Client.Get(ctx, s.keys.Prefix+"sync", clientv3.WithCountOnly())
	if err != nil {
		return apiErr(ErrUnavailable, "", "store: %v", err)
	}
	return s.waitCache(ctx, resp.Header.Revision)
}

// waitCache waits until the cache has applied rev. A revision made by a
// write without object keys (an /ip-alloc, a useragent-kv STORE) reaches the
// cache only with a watch progress notification, so while the cache stalls
// below rev the watch is asked for one.
func (s *Server) waitCache(ctx context.Context, rev int64) error {
	wait := 5 * time.Millisecond
	for {
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := s.cache.WaitRev(wctx, rev)
		cancel()
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		s.st.RequestProgress(ctx)
		wait = min(2*wait, 200*time.Millisecond)
	}
}
