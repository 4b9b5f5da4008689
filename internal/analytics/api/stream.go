// SPDX-License-Identifier: Apache-2.0

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/uve"
)

// The streams (GET /analytics/uve-stream and /analytics/alarm-stream)
// are Server-Sent Events. Each event is
//
//	event: update
//	data: {"key": "<table>:<name>", "type": "<StructType>", "value": {...}}
//
// with <table> the object table of the UVE type (ObjectVRouter for
// vrouter). On connect the client gets one event per struct of every UVE
// that passes the filters; then an event per change: a struct's new
// aggregated value, "value": null when a struct is gone from a UVE that
// remains, and "type": null, "value": null when the UVE is gone. The
// alarm stream's only struct is UVEAlarms ({"alarms": [...]}); its value
// is null (type still UVEAlarms) once the UVE has no alarm raised. A comment line (": keepalive")
// comes every 15 s when nothing else does.
//
// Changes come from the UVE source when it is a uve.Watcher (the
// collector's cache in the same process, or uve.Remote following the
// collector's uve.PathWatch stream). A stream that falls behind is
// dropped by the source and resynchronised: the stream watches again,
// re-reads the whole state and sends what differs from what the client
// was sent. A source that is no Watcher is polled and diffed.

// streamEvent is the data of an update event.
type streamEvent struct {
	Key   string          `json:"key"`
	Type  *string         `json:"type"`
	Value json.RawMessage `json:"value"`
}

// sseWriter writes events and remembers what the client was sent, so that
// a re-read sends only what differs.
type sseWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	sent map[string]map[string][]byte // key -> struct -> JSON value sent
	// gone is the type of the event telling that a key is gone (nil:
	// the UVE; the alarm stream names UVEAlarms).
	gone *string
}

var nullJSON = []byte("null")

func (sw *sseWriter) emit(key string, typ *string, value []byte) error {
	if value == nil {
		value = nullJSON
	}
	data, err := json.Marshal(streamEvent{Key: key, Type: typ, Value: value})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(sw.w, "event: update\ndata: %s\n\n", data)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffKey brings the client's view of UVE key to cur (nil or empty: the
// UVE is gone).
func (sw *sseWriter) diffKey(key string, cur map[string]any) error {
	old := sw.sent[key]
	if len(cur) == 0 {
		if old == nil {
			return nil
		}
		delete(sw.sent, key)
		return sw.emit(key, sw.gone, nil)
	}
	if old == nil {
		old = map[string][]byte{}
		sw.sent[key] = old
	}
	for _, name := range sortedKeys(cur) {
		b, err := json.Marshal(cur[name])
		if err != nil {
			continue
		}
		if bytes.Equal(old[name], b) {
			continue
		}
		old[name] = b
		if err := sw.emit(key, &name, b); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(old) {
		if _, ok := cur[name]; !ok {
			delete(old, name)
			if err := sw.emit(key, &name, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// diffAll brings the client's whole view to cur.
func (sw *sseWriter) diffAll(cur map[string]map[string]any) error {
	for _, k := range sortedKeys(cur) {
		if err := sw.diffKey(k, cur[k]); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(sw.sent) {
		if _, ok := cur[k]; !ok {
			if err := sw.diffKey(k, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// streamSpec is what a stream follows.
type streamSpec struct {
	// all reads the whole state: stream key -> struct -> value.
	all func(ctx context.Context) (map[string]map[string]any, error)
	// one reads the UVE a change is about; relevant false means the
	// change is outside the stream's filters. Nil: every change means a
	// re-read of everything (debounced).
	one func(ctx context.Context, c uve.Change) (key string, cur map[string]any, relevant bool, err error)
	// period re-reads everything this often (0: only when needed; always
	// at least every StreamPoll when the source cannot be watched).
	period time.Duration
	// alarmBook: re-read everything when alarm instances change (acks).
	alarmBook bool
	// gone is the event type of a key that is gone (nil: the UVE).
	gone *string
}

// debounce is how long a stream gathers changes before a full re-read.
const debounce = 200 * time.Millisecond

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, spec streamSpec) {
	ctx := r.Context()
	watcher, _ := s.cfg.UVEs.(uve.Watcher)
	var changes <-chan uve.Change
	var watched time.Time
	watch := func() error {
		if watcher == nil {
			return nil
		}
		ch, err := watcher.Watch(ctx, 0)
		if err != nil {
			return err
		}
		changes, watched = ch, time.Now()
		return nil
	}
	// Without a watch (a source that cannot be watched, or a watch that
	// failed: e.g. a collector without uve.PathWatch) the stream polls
	// every StreamPoll, trying to watch again each time.
	_ = watch()
	period := spec.period
	var bookCh <-chan struct{}
	if spec.alarmBook && s.cfg.Alarms != nil {
		ch, cancel := s.book.subscribe()
		defer cancel()
		bookCh = ch
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), sent: map[string]map[string][]byte{}, gone: spec.gone}

	// full re-reads everything; a source error is told in a comment and
	// retried later rather than ending the stream.
	var retry <-chan time.Time
	full := func() error {
		cur, err := spec.all(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			retry = time.After(time.Second)
			_, werr := fmt.Fprintf(w, ": error %s\n\n", strings.ReplaceAll(err.Error(), "\n", " "))
			return werr
		}
		return sw.diffAll(cur)
	}
	if full() != nil || sw.rc.Flush() != nil {
		return
	}

	poll := time.NewTicker(s.cfg.StreamPoll)
	defer poll.Stop()
	var periodic <-chan time.Time
	if period > 0 {
		t := time.NewTicker(period)
		defer t.Stop()
		periodic = t.C
	}
	keep := time.NewTicker(s.cfg.StreamKeepalive)
	defer keep.Stop()
	var later *time.Timer
	var laterC <-chan time.Time
	schedule := func() {
		if laterC == nil {
			later = time.NewTimer(debounce)
			laterC = later.C
		}
	}
	defer func() {
		if later != nil {
			later.Stop()
		}
	}()
	quick := 0 // watches in a row that ended at once
	for {
		var pollC <-chan time.Time
		if changes == nil && s.cfg.UVEs != nil {
			pollC = poll.C
		}
		var err error
		select {
		case <-ctx.Done():
			return
		case <-pollC:
			_ = watch()
			err = full()
		case c, ok := <-changes:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				// Dropped for falling behind, or the source went: watch
				// again and resynchronise.
				if time.Since(watched) < time.Second {
					quick++
				} else {
					quick = 0
				}
				changes = nil
				if quick > 5 {
					quick = 0
					break // poll for a while
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(quick) * 200 * time.Millisecond):
				}
				_ = watch() // polls if it fails
				err = full()
			}
			if spec.one == nil {
				schedule()
				continue
			}
			err = s.streamChanges(ctx, sw, spec, c, changes, schedule)
		case <-bookCh:
			schedule()
			continue
		case <-laterC:
			laterC = nil
			err = full()
		case <-retry:
			retry = nil
			err = full()
		case <-periodic:
			err = full()
		case <-keep.C:
			_, err = io.WriteString(w, ": keepalive\n\n")
		}
		if err != nil || sw.rc.Flush() != nil {
			return
		}
	}
}

// streamChanges sends the UVEs that c and the changes queued behind it
// are about, each read once.
func (s *Server) streamChanges(ctx context.Context, sw *sseWriter, spec streamSpec, c uve.Change, changes <-chan uve.Change, schedule func()) error {
	type tk struct{ table, key string }
	seen := map[tk]bool{}
	batch := []uve.Change{c}
	seen[tk{c.Table, c.Key}] = true
	for len(batch) < 512 {
		select {
		case c, ok := <-changes:
			if !ok {
				// The next receive sees the close and resyncs.
				goto send
			}
			if !seen[tk{c.Table, c.Key}] {
				seen[tk{c.Table, c.Key}] = true
				batch = append(batch, c)
			}
			continue
		default:
		}
		break
	}
send:
	for _, c := range batch {
		key, cur, relevant, err := spec.one(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			schedule() // read everything again shortly
			continue
		}
		if !relevant {
			continue
		}
		if err := sw.diffKey(key, cur); err != nil {
			return err
		}
	}
	return nil
}

// streamFilter is what the stream routes read from the query.
type streamFilter struct {
	typ     string // UVE type of tablefilt; "" for all
	f       uve.Filter
	ackfilt *bool
}

func parseStreamFilter(w http.ResponseWriter, r *http.Request) (streamFilter, bool) {
	q := r.URL.Query()
	ackfilt, err := parseAckFilt(q)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "ackfilt", err.Error())
		return streamFilter{}, false
	}
	sf := streamFilter{ackfilt: ackfilt, f: uve.Filter{
		Flat: true, SFilt: q.Get("sfilt"), MFilt: q.Get("mfilt"),
		CFilt: splitList(q["cfilt"]), KFilt: splitList(q["kfilt"]),
	}}
	if t := strings.TrimSpace(q.Get("tablefilt")); t != "" {
		sf.typ = uve.TypeOf(uve.TableOf(t))
	}
	return sf, true
}

// streamKey is the event key of UVE typ/name.
func streamKey(typ, name string) string { return uve.TableOf(typ) + ":" + name }

// uveStream serves GET /analytics/uve-stream: tablefilt (a UVE type or
// its object table; all types without it), kfilt, cfilt, sfilt, mfilt,
// ackfilt (for UVEAlarms).
func (s *Server) uveStream(w http.ResponseWriter, r *http.Request) {
	sf, ok := parseStreamFilter(w, r)
	if !ok {
		return
	}
	var alarms []Alarm // reloaded on each full read
	withAlarms := s.cfg.Alarms != nil && (len(sf.f.CFilt) == 0 || structWantedAPI(sf.f.CFilt, "UVEAlarms"))
	value := func(ctx context.Context, typ, key string) (map[string]any, error) {
		v, ok, err := s.cfg.UVEs.Get(ctx, typ, key, sf.f)
		if err != nil || !ok {
			return nil, err
		}
		if withAlarms {
			infos, err := s.alarmsOfUVE(ctx, alarms, typ, key)
			if err != nil {
				return nil, err
			}
			if infos = filterAck(infos, sf.ackfilt); len(infos) > 0 {
				if v == nil {
					v = map[string]any{}
				}
				v["UVEAlarms"] = map[string]any{"alarms": infos}
			}
		}
		return v, nil
	}
	spec := streamSpec{
		alarmBook: withAlarms,
		all: func(ctx context.Context) (map[string]map[string]any, error) {
			out := map[string]map[string]any{}
			if s.cfg.UVEs == nil {
				return out, nil
			}
			if withAlarms {
				a, err := s.loadAlarms(ctx)
				if err != nil {
					return nil, err
				}
				alarms = a
			}
			types := []string{sf.typ}
			if sf.typ == "" {
				var err error
				if types, err = s.cfg.UVEs.Types(ctx); err != nil {
					return nil, err
				}
			}
			for _, typ := range types {
				keys, err := s.cfg.UVEs.Keys(ctx, typ, sf.f)
				if err != nil {
					return nil, err
				}
				for _, k := range keys {
					v, err := value(ctx, typ, k)
					if err != nil {
						return nil, err
					}
					if len(v) > 0 {
						out[streamKey(typ, k)] = v
					}
				}
			}
			return out, nil
		},
		one: func(ctx context.Context, c uve.Change) (string, map[string]any, bool, error) {
			typ := uve.TypeOf(c.Table)
			// Not filtered by struct: the changes of a UVE fold into one
			// read, which cfilt narrows.
			if sf.typ != "" && typ != sf.typ || !uve.MatchKey(sf.f.KFilt, c.Key) {
				return "", nil, false, nil
			}
			v, err := value(ctx, typ, c.Key)
			return streamKey(typ, c.Key), v, true, err
		},
	}
	s.serveStream(w, r, spec)
}

// alarmStream serves GET /analytics/alarm-stream: tablefilt, kfilt and
// ackfilt. The alarms are evaluated again after UVE changes, acks, and
// every AlarmInterval (for changes of the alarm objects).
func (s *Server) alarmStream(w http.ResponseWriter, r *http.Request) {
	sf, ok := parseStreamFilter(w, r)
	if !ok {
		return
	}
	uveAlarms := "UVEAlarms"
	spec := streamSpec{
		gone:      &uveAlarms,
		alarmBook: true,
		period:    s.cfg.AlarmInterval,
		all: func(ctx context.Context) (map[string]map[string]any, error) {
			res, err := s.ComputeAlarms(ctx, sf.typ)
			if err != nil {
				return nil, err
			}
			out := map[string]map[string]any{}
			for typ, list := range filterAlarmed(res, sf.ackfilt) {
				for _, a := range list {
					if uve.MatchKey(sf.f.KFilt, a.Name) {
						out[streamKey(typ, a.Name)] = a.Value
					}
				}
			}
			return out, nil
		},
	}
	s.serveStream(w, r, spec)
}

// structWantedAPI reports whether cfilt (struct or struct:attr entries)
// keeps struct name.
func structWantedAPI(cfilt []string, name string) bool {
	for _, c := range cfilt {
		if s, _, _ := strings.Cut(c, ":"); s == name {
			return true
		}
	}
	return false
}
