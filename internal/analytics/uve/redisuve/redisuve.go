// SPDX-License-Identifier: Apache-2.0

// Package redisuve keeps UVEs in Redis with the original's layout (db 1,
// REDIS_DB_UVE), so that several analytics-api processes, or tools made
// for the original, can read the UVEs a collector holds:
//
//	TYPES:<sm>                      set of the UVE struct types of generator sm
//	UVES:<sm>:<typ>                 zset key -> sequence
//	ORIGINS:<Table>:<name>          set of "<sm>:<typ>"
//	TABLE:<Table>                   set of "<Table>:<name>:<sm>:<typ>"
//	VALUES:<Table>:<name>:<sm>:<typ> hash attribute -> the attribute's XML, and __T
//	NGENERATORS                     set of the generators with UVEs
//
// where sm is source:node_type:module:instance_id and typ the struct name.
// Writer mirrors a collector's UVE changes there (collector.Config.UVESink);
// Source reads them back and aggregates like the collector's own cache.
package redisuve

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh"
)

// DB is the original's REDIS_DB_UVE.
const DB = 1

// NewClient returns a client of the UVE database of the Redis at addr.
func NewClient(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, DB: DB})
}

func sm(o uve.Origin) string { return o.String() }

// op is one queued change.
type op struct {
	kind       byte // 'u'pdate, 'd'elete, 'w'ithdraw
	o          uve.Origin
	table, key string
	typ        string
	attrs      []sandesh.Field
	t          int64
}

// Writer mirrors UVE changes to Redis from one goroutine (Start), so the
// collector never waits for Redis: changes are queued (bounded) and
// written in pipelines; when the queue is full a change is dropped and
// counted.
type Writer struct {
	rdb     *redis.Client
	log     *slog.Logger
	q       chan op
	dropped atomic.Uint64
	errors  atomic.Uint64
	seq     atomic.Int64
}

// NewWriter returns a Writer to rdb (a client of DB) with a queue of
// queueLen changes (default 100000).
func NewWriter(rdb *redis.Client, queueLen int, log *slog.Logger) *Writer {
	if queueLen <= 0 {
		queueLen = 100000
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{rdb: rdb, log: log.With("component", "redis-uve"), q: make(chan op, queueLen)}
}

// Dropped returns how many changes were dropped on a full queue, and how
// many pipeline writes failed.
func (w *Writer) Dropped() (queueFull, writeErrors uint64) { return w.dropped.Load(), w.errors.Load() }

func (w *Writer) put(o op) {
	select {
	case w.q <- o:
	default:
		w.dropped.Add(1)
	}
}

// Update queues the attributes of a generator's UVE struct.
func (w *Writer) Update(o uve.Origin, table, key, structName string, attrs []sandesh.Field, t int64) {
	w.put(op{kind: 'u', o: o, table: table, key: key, typ: structName, attrs: attrs, t: t})
}

// Delete queues the removal of a generator's UVE struct.
func (w *Writer) Delete(o uve.Origin, table, key, structName string) {
	w.put(op{kind: 'd', o: o, table: table, key: key, typ: structName})
}

// WithdrawOrigin queues the removal of every UVE of a generator.
func (w *Writer) WithdrawOrigin(o uve.Origin) { w.put(op{kind: 'w', o: o}) }

// Start writes queued changes until ctx ends, then writes what is still
// queued (for at most 2 s): cancel ctx after the collector has stopped, so
// that the withdrawals of its last sessions reach Redis.
func (w *Writer) Start(ctx context.Context) error {
	for {
		var batch []op
		select {
		case <-ctx.Done():
			return w.drain(ctx)
		case o := <-w.q:
			batch = append(batch, o)
		}
	more:
		for len(batch) < 512 {
			select {
			case o := <-w.q:
				batch = append(batch, o)
			default:
				break more
			}
		}
		// A batch taken is written even if ctx ends meanwhile: it may hold
		// the withdrawals of the collector's last sessions.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := w.write(bctx, batch)
		cancel()
		if err != nil {
			w.errors.Add(1)
			w.log.Warn("redis UVE write failed", "changes", len(batch), "err", err)
		}
	}
}

func (w *Writer) drain(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for {
		var batch []op
	more:
		for len(batch) < 512 {
			select {
			case o := <-w.q:
				batch = append(batch, o)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			return nil
		}
		if err := w.write(dctx, batch); err != nil {
			w.errors.Add(1)
			return fmt.Errorf("redis uve: final write: %w", err)
		}
	}
}

func (w *Writer) write(ctx context.Context, batch []op) error {
	// Withdrawals need reads first; do them one by one, the rest piped.
	p := w.rdb.Pipeline()
	for _, o := range batch {
		switch o.kind {
		case 'u':
			w.pipeUpdate(ctx, p, o)
		case 'd':
			pipeDelete(ctx, p, o.o, o.table+":"+o.key, o.typ)
		case 'w':
			if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
				return err
			}
			if err := w.withdraw(ctx, o.o); err != nil {
				return err
			}
		}
	}
	_, err := p.Exec(ctx)
	if err == redis.Nil {
		err = nil
	}
	return err
}

func (w *Writer) pipeUpdate(ctx context.Context, p redis.Pipeliner, o op) {
	s := sm(o.o)
	ukey := o.table + ":" + o.key
	vals := make([]any, 0, 2*len(o.attrs)+2)
	for i := range o.attrs {
		f := &o.attrs[i]
		if f.Name == "name" || f.Name == "deleted" {
			continue
		}
		vals = append(vals, f.Name, string(sandesh.AppendField(nil, f)))
	}
	vals = append(vals, "__T", `<__T type="u64">`+strconv.FormatInt(o.t, 10)+`</__T>`)
	p.HSet(ctx, "VALUES:"+ukey+":"+s+":"+o.typ, vals...)
	p.SAdd(ctx, "ORIGINS:"+ukey, s+":"+o.typ)
	p.SAdd(ctx, "TABLE:"+o.table, ukey+":"+s+":"+o.typ)
	p.SAdd(ctx, "TYPES:"+s, o.typ)
	p.ZAdd(ctx, "UVES:"+s+":"+o.typ, redis.Z{Score: float64(w.seq.Add(1)), Member: ukey})
	p.SAdd(ctx, "NGENERATORS", s)
}

func pipeDelete(ctx context.Context, p redis.Pipeliner, o uve.Origin, ukey, typ string) {
	s := sm(o)
	table, _, _ := strings.Cut(ukey, ":")
	p.Del(ctx, "VALUES:"+ukey+":"+s+":"+typ)
	p.SRem(ctx, "ORIGINS:"+ukey, s+":"+typ)
	p.SRem(ctx, "TABLE:"+table, ukey+":"+s+":"+typ)
	p.ZRem(ctx, "UVES:"+s+":"+typ, ukey)
}

func (w *Writer) withdraw(ctx context.Context, o uve.Origin) error {
	s := sm(o)
	types, err := w.rdb.SMembers(ctx, "TYPES:"+s).Result()
	if err != nil {
		return err
	}
	p := w.rdb.Pipeline()
	for _, typ := range types {
		keys, err := w.rdb.ZRange(ctx, "UVES:"+s+":"+typ, 0, -1).Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			pipeDelete(ctx, p, o, k, typ)
		}
		p.Del(ctx, "UVES:"+s+":"+typ)
	}
	p.Del(ctx, "TYPES:"+s)
	p.SRem(ctx, "NGENERATORS", s)
	_, err = p.Exec(ctx)
	if err == redis.Nil {
		err = nil
	}
	return err
}

// Source reads the UVEs of Redis; it implements uve.Source.
type Source struct{ rdb *redis.Client }

// NewSource returns a Source on rdb (a client of DB).
func NewSource(rdb *redis.Client) *Source { return &Source{rdb: rdb} }

// Types implements uve.Source.
func (s *Source) Types(ctx context.Context) ([]string, error) {
	var out []string
	iter := s.rdb.Scan(ctx, 0, "TABLE:*", 1000).Iterator()
	for iter.Next(ctx) {
		table := strings.TrimPrefix(iter.Val(), "TABLE:")
		if n, err := s.rdb.SCard(ctx, iter.Val()).Result(); err == nil && n > 0 {
			out = append(out, uve.TypeOf(table))
		}
	}
	sort.Strings(out)
	return out, iter.Err()
}

// entry splits "<Table>:<name>:<source>:<node_type>:<module>:<instance>:<typ>".
func splitEntry(e string) (name string, o uve.Origin, typ string, ok bool) {
	parts := strings.Split(e, ":")
	if len(parts) < 7 {
		return "", o, "", false
	}
	n := len(parts)
	o = uve.Origin{Source: parts[n-5], NodeType: parts[n-4], Module: parts[n-3], InstanceID: parts[n-2]}
	return strings.Join(parts[1:n-5], ":"), o, parts[n-1], true
}

// Keys implements uve.Source.
func (s *Source) Keys(ctx context.Context, typ string, f uve.Filter) ([]string, error) {
	table := uve.TableOf(typ)
	members, err := s.rdb.SMembers(ctx, "TABLE:"+table).Result()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range members {
		name, o, st, ok := splitEntry(m)
		if !ok || seen[name] || !uve.MatchKey(f.KFilt, name) || !keep(f, o, st) {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

func keep(f uve.Filter, o uve.Origin, structName string) bool {
	if f.SFilt != "" && o.Source != f.SFilt || f.MFilt != "" && o.Module != f.MFilt {
		return false
	}
	if len(f.CFilt) == 0 {
		return true
	}
	for _, c := range f.CFilt {
		if st, _, _ := strings.Cut(c, ":"); st == structName {
			return true
		}
	}
	return false
}

// Get implements uve.Source.
func (s *Source) Get(ctx context.Context, typ, key string, f uve.Filter) (map[string]any, bool, error) {
	ukey := uve.TableOf(typ) + ":" + key
	origins, err := s.rdb.SMembers(ctx, "ORIGINS:"+ukey).Result()
	if err != nil {
		return nil, false, err
	}
	parts := map[string][]uve.Part{}
	for _, om := range origins {
		_, o, st, ok := splitEntry("x:" + key + ":" + om)
		if !ok || !keep(f, o, st) {
			continue
		}
		h, err := s.rdb.HGetAll(ctx, "VALUES:"+ukey+":"+om).Result()
		if err != nil {
			return nil, false, err
		}
		p := uve.Part{Origin: o}
		names := make([]string, 0, len(h))
		for a := range h {
			names = append(names, a)
		}
		sort.Strings(names)
		for _, a := range names {
			fl, err := sandesh.DecodeField(h[a])
			if err != nil {
				return nil, false, fmt.Errorf("redis uve %s %s: %w", ukey, a, err)
			}
			if a == "__T" {
				if fl.Type == sandesh.TU64 {
					p.T = int64(fl.Uint)
				}
				continue
			}
			p.Attrs = append(p.Attrs, fl)
		}
		parts[st] = append(parts[st], p)
	}
	if len(parts) == 0 {
		return nil, false, nil
	}
	return uve.Aggregate(parts, f), true, nil
}

var _ uve.Source = (*Source)(nil)
