// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/pkg/client"
)

// gcKey is the queue key of the garbage collector.
const gcKey = "gc"

// gcDelay is how long a cause of garbage collection waits, so that a burst
// of changes runs the collector once.
const gcDelay = 200 * time.Millisecond

// result is what a reconcile asks of the queue besides its error.
type result struct {
	after time.Duration // run again after this long
	gone  bool          // the key's object is gone: forget it
}

// reconcileFunc derives what one object of a kind needs.
type reconcileFunc func(tm *term, ctx context.Context, r *rec, uuid string) (result, error)

// kinds are the object types the transformer reconciles, one key per
// object. Service chains (service-instance, the service routing instances
// and their service_chain_information) will be one more entry here; the
// network reconcile takes routing-instance targets and connections from
// planNetwork, which is where the chain's targets join.
var kinds = map[string]reconcileFunc{
	"virtual-network": (*term).reconcileNetwork,
	"network-policy":  (*term).reconcilePolicy,
	"security-group":  (*term).reconcileGroup,
	"logical-router":  (*term).reconcileRouter,
	"bgp-router":      (*term).reconcileBGPRouter,
}

// Transformer is the schema transformer: it follows the config store in an
// in-memory graph, and while it is the elected leader it reconciles every
// object it derives something from, writing through the config API.
type Transformer struct {
	cfg      Config
	log      *slog.Logger
	st       *store.Store
	g        *confgraph.Graph
	deps     *depIndex
	alloc    *rtAllocator
	policies *policyCache
	status   *statusTable
	m        *metrics

	mu    sync.Mutex
	cur   *term
	state LeaderState

	touchMu sync.Mutex
	touched []*model.Object

	reconcileID atomic.Uint64
	ready       chan struct{}
	apiURL      string
}

// New builds a transformer; Run runs it.
func New(cfg Config) (*Transformer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	t := &Transformer{
		cfg:      cfg,
		log:      cfg.Logger.With(obs.KeyComponent, "schema"),
		st:       cfg.Store,
		g:        confgraph.New(),
		deps:     newDepIndex(),
		alloc:    newRTAllocator(),
		policies: newPolicyCache(),
		status:   newStatusTable(),
		ready:    make(chan struct{}),
		apiURL:   cfg.APIURL,
	}
	t.state.Name = cfg.Name
	m, err := newMetrics(cfg.Registry, t)
	if err != nil {
		return nil, fmt.Errorf("transformer: metrics: %w", err)
	}
	t.m = m
	t.g.OnAdd = t.touch
	t.g.OnRemove = t.touch
	t.g.Subscribe(t.onBatch)
	return t, nil
}

// Run follows the store, takes part in the leader election and, while
// leader, reconciles; it blocks until ctx ends. Shutdown order: the
// leader term ends first (workers stop, in-flight API calls are
// cancelled), then the election key is resigned and the lease revoked so a
// passive instance takes over at once, then the config watch stops and
// last the introspect server.
func (t *Transformer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var in *obs.Introspect
	if t.cfg.IntrospectAddr != "" {
		in = obs.NewIntrospect("contrail-schema", t.cfg.Registry, t.log, obs.WithPprof(t.cfg.Pprof))
		t.RegisterIntrospect(in)
		if err := in.Start(ctx, t.cfg.IntrospectAddr); err != nil {
			return fmt.Errorf("transformer: introspect %s: %w", t.cfg.IntrospectAddr, err)
		}
		defer func() {
			cancel()
			in.Wait()
		}()
	}
	followErr := make(chan error, 1)
	go func() { followErr <- t.st.Follow(ctx, 0, t.g) }()
	select {
	case <-t.g.Ready():
	case err := <-followErr:
		return fmt.Errorf("transformer: config watch: %w", err)
	case <-ctx.Done():
		<-followErr
		return nil
	}
	close(t.ready)
	t.log.Info("config graph loaded", "objects", t.graphLen(), "revision", t.g.Revision())
	if t.apiURL == "" {
		u, err := t.cfg.WaitAPI(ctx)
		if err != nil {
			cancel()
			<-followErr
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("transformer: API address: %w", err)
		}
		t.apiURL = u
	}
	electErr := make(chan error, 1)
	go func() { electErr <- t.elect(ctx) }()
	var err error
	select {
	case err = <-followErr:
		cancel()
		<-electErr
	case err = <-electErr:
		cancel()
		<-followErr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (t *Transformer) graphLen() int {
	t.g.RLock()
	defer t.g.RUnlock()
	return t.g.Len()
}

// Ready is closed once the config graph is loaded.
func (t *Transformer) Ready() <-chan struct{} { return t.ready }

// term returns the current leader term, nil while passive.
func (t *Transformer) term() *term {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur
}

// IsLeader reports whether this instance leads now.
func (t *Transformer) IsLeader() bool { return t.term() != nil }

// Fence returns the fencing token of the current term ("" when passive).
func (t *Transformer) Fence() string {
	if tm := t.term(); tm != nil {
		return tm.fence
	}
	return ""
}

// touch collects objects that enter or leave the graph; it runs with the
// graph's write lock held and only appends.
func (t *Transformer) touch(o *model.Object) {
	t.touchMu.Lock()
	t.touched = append(t.touched, o)
	t.touchMu.Unlock()
}

// onBatch queues the keys a committed write concerns. It runs on the
// goroutine that feeds the graph, after the write lock is released.
func (t *Transformer) onBatch(b confgraph.Batch) {
	t.touchMu.Lock()
	objs := t.touched
	t.touched = nil
	t.touchMu.Unlock()
	tm := t.term()
	if tm == nil {
		return
	}
	if b.Reset {
		tm.enqueueAll()
		return
	}
	keys := map[string]struct{}{}
	gc := false
	for _, o := range objs {
		if kinds[o.Type] != nil {
			keys[o.Type+":"+o.UUID] = struct{}{}
		}
		if o.Type == "route-target" || o.Type == "access-control-list" || len(o.Refs["route_target_refs"]) > 0 {
			gc = true
		}
		t.deps.dependents(o, keys)
	}
	for k := range keys {
		tm.q.add(k)
	}
	if gc {
		// The collector scans every route target: during a burst of
		// changes it runs once per gcDelay, not once per change.
		tm.q.addSoon(gcKey, gcDelay)
	}
}

// splitKey splits "<type>:<uuid>".
func splitKey(key string) (typ, uuid string) {
	typ, uuid, _ = strings.Cut(key, ":")
	return typ, uuid
}

// term is one period of leadership: its fence, API client, queue and
// workers. Everything a term holds is dropped when it ends.
type term struct {
	t      *Transformer
	ctx    context.Context
	cancel context.CancelCauseFunc
	fence  string
	api    *client.Client
	q      *queue

	mu        sync.Mutex
	failures  map[string]int
	barriers  map[string]int64
	allocated map[string]string // key -> route target allocated, maybe not referred yet

	gcSeen    map[string]time.Time // only the gc key's reconcile uses it
	gcPending atomic.Int64
}

// enqueueAll queues every object the transformer reconciles, and the
// garbage collector: the level-triggered full pass of a new term.
func (tm *term) enqueueAll() {
	t := tm.t
	var keys []string
	t.g.RLock()
	for typ := range kinds {
		for _, u := range t.g.UUIDs(typ) {
			keys = append(keys, typ+":"+u)
		}
	}
	t.g.RUnlock()
	// Networks first: they allocate the route targets others read.
	slices.SortStableFunc(keys, func(a, b string) int {
		pa, pb := strings.HasPrefix(a, "virtual-network:"), strings.HasPrefix(b, "virtual-network:")
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	for _, k := range keys {
		tm.q.add(k)
	}
	tm.q.add(gcKey)
}

func (tm *term) worker() {
	for {
		key, ok := tm.q.get()
		if !ok {
			return
		}
		tm.process(key)
		tm.q.done(key)
	}
}

// process runs one reconcile of key and decides what happens next: done,
// retry with backoff, terminal error, or the end of the term when the API
// fenced a write.
func (tm *term) process(key string) {
	t := tm.t
	ctx := tm.ctx
	if err := tm.waitBarrier(ctx, key); err != nil {
		return
	}
	typ, uuid := splitKey(key)
	kind := typ
	r := &rec{tm: tm, key: key, log: t.log.With("key", key, "reconcile_id", t.reconcileID.Add(1))}
	start := time.Now()
	var res result
	var err error
	if key == gcKey {
		res, err = tm.reconcileGC(ctx, r)
	} else if fn := kinds[typ]; fn != nil {
		res, err = fn(tm, ctx, r, uuid)
	} else {
		return
	}
	dur := time.Since(start)
	t.m.reconcileSeconds.WithLabelValues(kind).Observe(dur.Seconds())
	if r.writes > 0 {
		if rev, rerr := t.currentRev(ctx); rerr == nil {
			tm.mu.Lock()
			tm.barriers[key] = rev
			tm.mu.Unlock()
		}
	}
	outcome := "ok"
	switch {
	case err == nil:
		tm.resetFailures(key)
		if res.gone {
			t.deps.drop(key)
			t.status.forget(key)
			tm.mu.Lock()
			delete(tm.barriers, key)
			tm.mu.Unlock()
			break
		}
		if res.after > 0 {
			tm.q.addAfter(key, res.after, false)
		}
	case errors.Is(err, ErrFenced):
		outcome = "fenced"
		r.log.Warn("write fenced: leadership lost", obs.KeyErr, err)
		tm.cancel(ErrFenced)
	case ctx.Err() != nil:
		outcome = "cancelled"
	case isTerminal(err):
		outcome = "terminal"
		tm.resetFailures(key)
		r.log.Error("reconcile failed, not retried until its inputs change", obs.KeyErr, err)
		if key != gcKey {
			tm.annotateFailure(ctx, r, typ, uuid, err)
		}
	default:
		outcome = "retry"
		n := tm.fail(key)
		wait := min(50*time.Millisecond<<min(n-1, 20), t.cfg.MaxBackoff)
		lvl := slog.LevelDebug
		if n >= 3 {
			lvl = slog.LevelWarn
		}
		r.log.Log(ctx, lvl, "reconcile failed, will retry", obs.KeyErr, err, "attempt", n, "retry_in", wait)
		tm.q.addAfter(key, wait, true)
	}
	t.m.reconciles.WithLabelValues(kind, outcome).Inc()
	if !res.gone {
		t.status.record(key, start, dur, outcome, err, r.writes)
	}
}

// annotateFailure makes a terminal error visible on the object.
func (tm *term) annotateFailure(ctx context.Context, r *rec, typ, uuid string, err error) {
	tm.t.g.RLock()
	n := tm.t.g.Get(uuid)
	tm.t.g.RUnlock()
	if n == nil {
		return
	}
	if aerr := r.syncError(ctx, n.Obj, "internal: "+err.Error()); aerr != nil {
		r.log.Warn("cannot annotate the object with its error", obs.KeyErr, aerr)
	}
}

func (tm *term) fail(key string) int {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.failures[key]++
	return tm.failures[key]
}

func (tm *term) resetFailures(key string) {
	tm.mu.Lock()
	delete(tm.failures, key)
	tm.mu.Unlock()
}

// waitBarrier waits until the graph shows the writes of the key's last
// reconcile, so that a reconcile never acts on a view older than its own
// writes (which would, say, allocate a second route target).
func (tm *term) waitBarrier(ctx context.Context, key string) error {
	tm.mu.Lock()
	rev := tm.barriers[key]
	tm.mu.Unlock()
	if rev == 0 {
		return nil
	}
	return tm.t.waitRev(ctx, rev)
}

// currentRev returns the store's current revision.
func (t *Transformer) currentRev(ctx context.Context) (int64, error) {
	resp, err := t.st.Client.Get(ctx, t.st.Keys.Prefix+"schema-transformer/rev")
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// waitRev waits until the graph has applied rev. Revisions that carry no
// object change reach the graph only through progress notifications,
// which it asks for while it waits.
func (t *Transformer) waitRev(ctx context.Context, rev int64) error {
	for {
		if t.g.Revision() >= rev {
			return nil
		}
		_ = t.st.RequestProgress(ctx)
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := t.g.WaitRev(wctx, rev)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// noteProblems records the bad-input problems of an object for the
// introspect page, and logs them when they change.
func (tm *term) noteProblems(r *rec, o *model.Object, problems []string) {
	if tm.t.status.setProblems(r.key, o, problems) {
		if len(problems) > 0 {
			r.log.Warn("bad input", "type", o.Type, "fq_name", o.FQNameString(), "problems", errorText(problems))
		} else {
			r.log.Info("bad input fixed", "type", o.Type, "fq_name", o.FQNameString())
		}
	}
}

// Settled waits until this instance leads and has nothing left to do: the
// graph shows every write committed to the store, no key is queued,
// running or waiting for a retry, and the garbage collector has no
// candidate left in its grace period. Tests and benchmarks use it.
func (t *Transformer) Settled(ctx context.Context) error {
	stable := 0
	for {
		tm := t.term()
		if tm != nil && tm.q.idle() && tm.gcPending.Load() == 0 {
			rev, err := t.currentRev(ctx)
			if err == nil && t.waitRev(ctx, rev) == nil && tm.q.idle() && tm.gcPending.Load() == 0 {
				stable++
			} else {
				stable = 0
			}
		} else {
			stable = 0
		}
		if stable >= 3 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RegisterIntrospect adds the transformer's pages and checks to an
// introspect server: leader state, queue, last reconcile per object.
func (t *Transformer) RegisterIntrospect(in *obs.Introspect) {
	in.Handle("/schema/leader", "schema transformer: leader election", func(r *http.Request) (any, error) {
		return t.State(r.Context()), nil
	})
	in.Handle("/schema/queue", "schema transformer: work queue", func(r *http.Request) (any, error) {
		return t.queueState(), nil
	})
	in.Handle("/schema/objects", "schema transformer: last reconcile per object (?type=..., ?errors=1, ?key=...)", func(r *http.Request) (any, error) {
		q := r.URL.Query()
		return t.status.list(q.Get("type"), q.Get("key"), q.Get("errors") != ""), nil
	})
	in.AddCheck("schema-store", func(ctx context.Context) error {
		_, err := t.currentRev(ctx)
		return err
	})
	in.AddReadyCheck("schema-graph", func(ctx context.Context) error {
		select {
		case <-t.ready:
			return nil
		default:
			return errors.New("config graph not loaded yet")
		}
	})
}

type queueState struct {
	Leader bool `json:"leader"`
	queueStats
	Dependencies int `json:"keys_with_dependencies"`
}

func (t *Transformer) queueState() queueState {
	s := queueState{Dependencies: t.deps.size()}
	if tm := t.term(); tm != nil {
		s.Leader = true
		s.queueStats = tm.q.stats()
	}
	return s
}
