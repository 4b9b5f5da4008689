// SPDX-License-Identifier: Apache-2.0

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/model"
)

// Op is what happened to an object.
type Op uint8

// Operations in the config stream, named as the original's notifications.
const (
	OpCreate Op = iota + 1
	OpUpdate
	OpDelete
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "CREATE"
	case OpUpdate:
		return "UPDATE"
	case OpDelete:
		return "DELETE"
	}
	return "UNKNOWN"
}

// Entry is an object with its etcd revisions.
type Entry struct {
	Object    *model.Object
	CreateRev int64
	ModRev    int64
}

// Event is one change of one object. For OpDelete, Object is the object as
// it was before the delete.
type Event struct {
	Op       Op
	Revision int64
	Entry
}

// Handler consumes the config stream. Reset replaces the whole state (at
// start and after the watch fell behind a compaction); Apply delivers the
// events of one etcd revision, that is one API write, in commit order.
// Progress tells that the store has reached rev with no object change.
type Handler interface {
	Reset(entries []Entry, rev int64) error
	Apply(rev int64, events []Event) error
	Progress(rev int64)
}

// ErrDecode marks a stored object that cannot be decoded.
var ErrDecode = errors.New("store: undecodable object")

// DecodeObject decodes a stored object value.
func DecodeObject(key, value []byte) (*model.Object, error) {
	o := new(model.Object)
	if err := json.Unmarshal(value, o); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrDecode, key, err)
	}
	return o, nil
}

// Snapshot reads every object at one revision, in pages.
func (s *Store) Snapshot(ctx context.Context) ([]Entry, int64, error) {
	prefix := s.Keys.Objects()
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	var rev int64
	var out []Entry
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(2000)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.Client.Get(ctx, key, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("store: snapshot: %w", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			o, err := DecodeObject(kv.Key, kv.Value)
			if err != nil {
				s.log.Error("skipping stored object", "err", err)
				continue
			}
			out = append(out, Entry{Object: o, CreateRev: kv.CreateRevision, ModRev: kv.ModRevision})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return out, rev, nil
}

// Follow feeds h with the config stream until ctx ends. With fromRev > 0 it
// resumes after that revision (a consumer that kept its state); otherwise, or
// when that revision was compacted away, it starts with a Reset. Errors from
// the handler stop Follow and are returned.
func (s *Store) Follow(ctx context.Context, fromRev int64, h Handler) error {
	rev := fromRev
	if rev <= 0 {
		var err error
		if rev, err = s.reset(ctx, h); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		next, err := s.watchFrom(ctx, rev, h)
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			s.log.Warn("config watch fell behind compaction, resyncing", "rev", next)
			if rev, err = s.reset(ctx, h); err != nil {
				return err
			}
			continue
		}
		var herr handlerError
		if errors.As(err, &herr) {
			return herr.err
		}
		s.log.Warn("config watch broke, resuming", "rev", next, "err", err)
		rev = next
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return ctx.Err()
}

// RequestProgress asks the watch of Follow for a progress notification, so
// that the handler's revision moves past writes that carry no config event
// (keys outside obj/, e.g. allocations or the useragent kv). Without it a
// follower learns of those revisions only with the next object write.
func (s *Store) RequestProgress(ctx context.Context) error {
	// The client picks the watch stream by the context's metadata; Follow
	// watches with WithRequireLeader, so the request must carry it too.
	return s.Client.RequestProgress(clientv3.WithRequireLeader(ctx))
}

type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }

func (s *Store) reset(ctx context.Context, h Handler) (int64, error) {
	for {
		entries, rev, err := s.Snapshot(ctx)
		if err == nil {
			if err := h.Reset(entries, rev); err != nil {
				return 0, err
			}
			return rev, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.log.Warn("config snapshot failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// watchFrom watches after rev and returns the last revision fully delivered.
func (s *Store) watchFrom(ctx context.Context, rev int64, h Handler) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.Client.Watch(wctx, s.Keys.Objects(), clientv3.WithPrefix(), clientv3.WithRev(rev+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	var batch []Event
	batchRev := int64(0)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := h.Apply(batchRev, batch); err != nil {
			return handlerError{err}
		}
		rev = batchRev
		batch = nil
		return nil
	}
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if err := flush(); err != nil {
				return rev, err
			}
			return rev, err
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision != batchRev {
				if err := flush(); err != nil {
					return rev, err
				}
				batchRev = ev.Kv.ModRevision
			}
			e, ok := s.toEvent(ev)
			if ok {
				batch = append(batch, e)
			}
		}
		// A watch response never splits one revision, so the batch is complete.
		if err := flush(); err != nil {
			return rev, err
		}
		if resp.Header.Revision > rev {
			rev = resp.Header.Revision
			h.Progress(rev)
		}
	}
	return rev, ctx.Err()
}

func (s *Store) toEvent(ev *clientv3.Event) (Event, bool) {
	var e Event
	e.Revision = ev.Kv.ModRevision
	switch ev.Type {
	case mvccpb.DELETE:
		e.Op = OpDelete
		if ev.PrevKv == nil {
			// Without the previous value (compacted), name the object from its key.
			typ, uuid, ok := s.Keys.SplitObject(string(ev.Kv.Key))
			if !ok {
				return e, false
			}
			e.Object = &model.Object{Type: typ, UUID: uuid}
			return e, true
		}
		o, err := DecodeObject(ev.PrevKv.Key, ev.PrevKv.Value)
		if err != nil {
			s.log.Error("skipping stored object", "err", err)
			return e, false
		}
		e.Object, e.CreateRev, e.ModRev = o, ev.PrevKv.CreateRevision, ev.PrevKv.ModRevision
	default:
		o, err := DecodeObject(ev.Kv.Key, ev.Kv.Value)
		if err != nil {
			s.log.Error("skipping stored object", "err", err)
			return e, false
		}
		e.Op = OpUpdate
		if ev.IsCreate() {
			e.Op = OpCreate
		}
		e.Object, e.CreateRev, e.ModRev = o, ev.Kv.CreateRevision, ev.Kv.ModRevision
	}
	return e, true
}
