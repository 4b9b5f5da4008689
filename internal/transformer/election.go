// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/obs"
	"github.com/contrail-go/contrail/pkg/client"
)

// LeaderState is the introspect view of the election.
type LeaderState struct {
	Name          string    `json:"name"`
	Leader        bool      `json:"leader"`
	Campaigning   bool      `json:"campaigning"`
	Since         time.Time `json:"since,omitzero"`
	Fence         string    `json:"fence,omitempty"`
	Terms         int       `json:"terms"`
	LastTermEnd   string    `json:"last_term_end,omitempty"`
	CurrentLeader string    `json:"current_leader,omitempty"`
	GraphRevision int64     `json:"graph_revision"`
	GraphReady    bool      `json:"graph_ready"`
}

// State reports the leader state of this instance and, from the store,
// who leads now.
func (t *Transformer) State(ctx context.Context) LeaderState {
	t.mu.Lock()
	s := t.state
	t.mu.Unlock()
	s.GraphRevision = t.g.Revision()
	select {
	case <-t.ready:
		s.GraphReady = true
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := t.st.Client.Get(ctx, t.electionPrefix()+"/", clientv3.WithFirstCreate()...)
	if err == nil && len(resp.Kvs) > 0 {
		s.CurrentLeader = string(resp.Kvs[0].Value)
	}
	return s
}

func (t *Transformer) electionPrefix() string { return t.st.Keys.Prefix + ElectionName }

func (t *Transformer) setState(f func(s *LeaderState)) {
	t.mu.Lock()
	f(&t.state)
	t.mu.Unlock()
}

// elect campaigns for leadership until ctx ends and leads whenever it
// wins. The election key's create revision is the fence every API write
// of the term carries: once the key is gone (the lease expired after this
// process died or stalled, or it resigned) the API refuses those writes,
// so two leaders never write at once, whatever the timing.
func (t *Transformer) elect(ctx context.Context) error {
	ttl := max(int(t.cfg.LeaseTTL/time.Second), 2)
	for ctx.Err() == nil {
		// The session's context is Run's, so that a store that does not
		// answer cannot hold up a shutdown; the lease is revoked below with
		// a context of its own.
		sess, err := concurrency.NewSession(t.st.Client, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			t.log.Warn("election session failed, retrying", obs.KeyErr, err)
			sleep(ctx, time.Second)
			continue
		}
		t.runSession(ctx, sess)
		// Revoke the lease: after a clean stop the next leader need not
		// wait for it to expire. (After a crash nobody gets here.)
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = t.st.Client.Revoke(rctx, sess.Lease())
		cancel()
		sess.Close()
	}
	return nil
}

// runSession campaigns with one session and leads until the session or
// the term ends.
func (t *Transformer) runSession(ctx context.Context, sess *concurrency.Session) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	el := concurrency.NewElection(sess, t.electionPrefix())
	t.setState(func(s *LeaderState) { s.Campaigning = true })
	err := el.Campaign(cctx, t.cfg.Name)
	t.setState(func(s *LeaderState) { s.Campaigning = false })
	if err != nil {
		if cctx.Err() == nil {
			t.log.Warn("campaign failed", obs.KeyErr, err)
			sleep(ctx, time.Second)
		}
		return
	}
	// Campaign can return after the session's lease expired while it
	// waited: make sure the key is still ours before leading.
	resp, err := t.st.Client.Get(cctx, el.Key())
	if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != el.Rev() {
		t.log.Warn("elected on a lost session, campaigning again")
		return
	}
	fence := fmt.Sprintf("%s@%d", el.Key(), el.Rev())
	cause := t.lead(cctx, fence)
	if ctx.Err() != nil {
		t.log.Info("stepping down: shutting down")
	} else {
		t.log.Warn("leadership ended", "cause", cause)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = el.Resign(rctx)
	rcancel()
}

// lead runs one term: workers reconcile until ctx ends (session lost,
// shutdown) or a write is fenced. All workers have stopped when it
// returns, before any new campaign.
func (t *Transformer) lead(ctx context.Context, fence string) error {
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tm := &term{
		t:      t,
		ctx:    tctx,
		cancel: cancel,
		fence:  fence,
		api: client.New(t.apiURL,
			client.WithHTTPClient(t.cfg.HTTPClient),
			client.WithHeader(apiserver.FenceHeader, fence),
			client.WithUserAgent("contrail-schema"),
			client.WithTimeout(t.cfg.RequestTimeout)),
		q:         newQueue(),
		failures:  map[string]int{},
		barriers:  map[string]int64{},
		allocated: map[string]string{},
		gcSeen:    map[string]time.Time{},
	}
	now := time.Now()
	t.mu.Lock()
	t.cur = tm
	t.state.Leader, t.state.Since, t.state.Fence = true, now, fence
	t.state.Terms++
	t.mu.Unlock()
	t.m.isLeader.Set(1)
	t.m.terms.Inc()
	t.log.Info("elected leader", "fence", fence)
	tm.enqueueAll()
	var wg sync.WaitGroup
	for range t.cfg.Workers {
		wg.Go(tm.worker)
	}
	<-tctx.Done()
	tm.q.shutdown()
	wg.Wait()
	t.mu.Lock()
	t.cur = nil
	t.state.Leader, t.state.Fence = false, ""
	cause := context.Cause(tctx)
	if !errors.Is(cause, ErrFenced) {
		cause = errors.New("election session lost or shutting down")
	}
	t.state.LastTermEnd = fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.RFC3339), cause)
	t.mu.Unlock()
	t.m.isLeader.Set(0)
	return cause
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
