// SPDX-License-Identifier: Apache-2.0

package uve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTP paths under which a collector serves its UVE cache (on its
// introspect port) and which Remote reads.
const (
	PathTypes = "/uve-source/types"
	PathKeys  = "/uve-source/keys"
	PathGet   = "/uve-source/get"
	// PathWatch streams the changes of a Watcher as JSON lines (one
	// Change each; blank lines are heartbeats). See RegisterPages.
	PathWatch = "/uve-source/watch"
)

// watchHeartbeat is how often PathWatch writes a blank line when there
// is no change; Remote gives up on a stream silent for 3 of them.
var watchHeartbeat = 15 * time.Second

// HTTPPages is a Pages that also takes plain handlers (obs.Introspect
// has it); RegisterPages serves PathWatch only on such a Pages.
type HTTPPages interface {
	HandleHTTP(path, title string, h http.Handler)
}

// Pages is what RegisterPages needs of an introspect server
// (obs.Introspect has it).
type Pages interface {
	Handle(path, title string, fn func(r *http.Request) (any, error))
}

// ErrBadRequest is what RegisterPages wraps request errors with when it
// is given no sentinel of the introspect server's own (obs maps only
// obs.ErrBadRequest to 400, hence the argument).
var ErrBadRequest = errors.New("uve: bad request")

// TypesAnswer is the JSON of PathTypes.
type TypesAnswer struct {
	Types []string `json:"types"`
}

// KeysAnswer is the JSON of PathKeys.
type KeysAnswer struct {
	Keys []string `json:"keys"`
}

// GetAnswer is the JSON of PathGet.
type GetAnswer struct {
	Found bool           `json:"found"`
	Value map[string]any `json:"value,omitempty"`
}

// RegisterPages serves src on p: PathTypes; PathKeys?type=T; and
// PathGet?type=T&key=K. Both take the filters sfilt, mfilt, cfilt and
// kfilt (comma-separated lists) and flat (true when present, unless
// "false"). badRequest wraps request errors so that p answers 400 (pass
// obs.ErrBadRequest).
func RegisterPages(p Pages, src Source, badRequest error) {
	if badRequest == nil {
		badRequest = ErrBadRequest
	}
	p.Handle(PathTypes, "UVE types held (uve.Source)", func(r *http.Request) (any, error) {
		t, err := src.Types(r.Context())
		if t == nil {
			t = []string{}
		}
		return TypesAnswer{t}, err
	})
	p.Handle(PathKeys, "UVE keys of ?type= (uve.Source; sfilt, mfilt, cfilt, kfilt)", func(r *http.Request) (any, error) {
		q := r.URL.Query()
		if q.Get("type") == "" {
			return nil, fmt.Errorf("%w: type is required", badRequest)
		}
		k, err := src.Keys(r.Context(), q.Get("type"), FilterFromQuery(q))
		if k == nil {
			k = []string{}
		}
		return KeysAnswer{k}, err
	})
	p.Handle(PathGet, "aggregated UVE of ?type=&key= (uve.Source; sfilt, mfilt, cfilt, flat)", func(r *http.Request) (any, error) {
		q := r.URL.Query()
		if q.Get("type") == "" || !q.Has("key") {
			return nil, fmt.Errorf("%w: type and key are required", badRequest)
		}
		v, ok, err := src.Get(r.Context(), q.Get("type"), q.Get("key"), FilterFromQuery(q))
		return GetAnswer{Found: ok, Value: v}, err
	})
	hp, ok1 := p.(HTTPPages)
	w, ok2 := src.(Watcher)
	if ok1 && ok2 {
		hp.HandleHTTP(PathWatch, "UVE changes as JSON lines (uve.Watcher; streams until closed)", WatchHandler(w))
	}
}

// WatchHandler streams w's changes as JSON lines, a blank line every
// 15 s when there is none. The response ends when the client goes or
// when the watch ends (the client fell behind, or the source stopped);
// the client then re-reads the state and watches again.
func WatchHandler(w Watcher) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		ch, err := w.Watch(ctx, 0)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusServiceUnavailable)
			return
		}
		rc := http.NewResponseController(rw)
		rw.Header().Set("Content-Type", "application/x-ndjson")
		rw.Header().Set("Cache-Control", "no-cache")
		rw.WriteHeader(http.StatusOK)
		if rc.Flush() != nil {
			return
		}
		enc := json.NewEncoder(rw)
		tick := time.NewTicker(watchHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := io.WriteString(rw, "\n"); err != nil || rc.Flush() != nil {
					return
				}
			case c, ok := <-ch:
				if !ok {
					return
				}
				if enc.Encode(c) != nil {
					return
				}
				// Write what else is queued before flushing.
				for more := true; more; {
					select {
					case c, ok := <-ch:
						if !ok {
							rc.Flush()
							return
						}
						if enc.Encode(c) != nil {
							return
						}
					default:
						more = false
					}
				}
				if rc.Flush() != nil {
					return
				}
			}
		}
	})
}

// FilterFromQuery reads sfilt, mfilt, cfilt, kfilt and flat.
func FilterFromQuery(q url.Values) Filter {
	f := Filter{SFilt: q.Get("sfilt"), MFilt: q.Get("mfilt"), CFilt: splitList(q["cfilt"]), KFilt: splitList(q["kfilt"])}
	if q.Has("flat") {
		b, err := strconv.ParseBool(q.Get("flat"))
		f.Flat = err != nil || b
	}
	return f
}

func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (f Filter) query(q url.Values) {
	if f.SFilt != "" {
		q.Set("sfilt", f.SFilt)
	}
	if f.MFilt != "" {
		q.Set("mfilt", f.MFilt)
	}
	if len(f.CFilt) > 0 {
		q.Set("cfilt", strings.Join(f.CFilt, ","))
	}
	if len(f.KFilt) > 0 {
		q.Set("kfilt", strings.Join(f.KFilt, ","))
	}
	if f.Flat {
		q.Set("flat", "true")
	}
}

// Remote reads UVEs from a collector's introspect server (RegisterPages):
// an analytics-api process uses it to read the UVEs of collector
// processes. It implements Source.
type Remote struct {
	base   string
	client *http.Client
}

// NewRemote returns a Source reading from the collector introspect at
// baseURL (e.g. "http://10.0.0.5:8089").
func NewRemote(baseURL string) *Remote {
	return &Remote{base: strings.TrimRight(baseURL, "/"), client: &http.Client{Timeout: 10 * time.Second}}
}

// WithClient sets the HTTP client (timeouts, TLS) and returns r.
func (r *Remote) WithClient(c *http.Client) *Remote {
	r.client = c
	return r
}

func (r *Remote) get(ctx context.Context, path string, q url.Values, out any) error {
	u := r.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("uve remote: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("uve remote: %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("uve remote: %s: %w", u, err)
	}
	return nil
}

// Types implements Source.
func (r *Remote) Types(ctx context.Context) ([]string, error) {
	var a TypesAnswer
	err := r.get(ctx, PathTypes, nil, &a)
	return a.Types, err
}

// Keys implements Source.
func (r *Remote) Keys(ctx context.Context, typ string, f Filter) ([]string, error) {
	q := url.Values{"type": {typ}}
	f.query(q)
	var a KeysAnswer
	err := r.get(ctx, PathKeys, q, &a)
	return a.Keys, err
}

// Get implements Source. Numbers come back as json.Number.
func (r *Remote) Get(ctx context.Context, typ, key string, f Filter) (map[string]any, bool, error) {
	q := url.Values{"type": {typ}, "key": {key}}
	f.query(q)
	var a GetAnswer
	if err := r.get(ctx, PathGet, q, &a); err != nil {
		return nil, false, err
	}
	return a.Value, a.Found, nil
}

// Watch implements Watcher over the collector's PathWatch stream: it
// returns once the collector has registered the watch. The channel closes
// when ctx ends, when the stream breaks or stays silent for three
// heartbeats, or when the reader falls behind by buf changes.
func (r *Remote) Watch(ctx context.Context, buf int) (<-chan Change, error) {
	if buf <= 0 {
		buf = DefaultWatchBuffer
	}
	client := *r.client
	client.Timeout = 0 // the stream lasts; ctx and the heartbeat bound it
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+PathWatch, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	// Bound the wait for the answer's head as the other calls are.
	headTimer := time.AfterFunc(10*time.Second, cancel)
	resp, err := client.Do(req)
	headTimer.Stop()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("uve remote: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("uve remote: %s: %s: %s", r.base+PathWatch, resp.Status, strings.TrimSpace(string(b)))
	}
	out := make(chan Change, buf)
	go func() {
		defer close(out)
		defer cancel()
		defer resp.Body.Close()
		silence := time.AfterFunc(3*watchHeartbeat, cancel)
		defer silence.Stop()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			silence.Reset(3 * watchHeartbeat)
			line := sc.Bytes()
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var c Change
			if json.Unmarshal(line, &c) != nil {
				return
			}
			select {
			case out <- c:
			default:
				return // fell behind: the caller resyncs
			}
		}
	}()
	return out, nil
}

var (
	_ Source  = (*Cache)(nil)
	_ Source  = (*Remote)(nil)
	_ Watcher = (*Cache)(nil)
	_ Watcher = (*Remote)(nil)
)
