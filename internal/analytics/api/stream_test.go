// SPDX-License-Identifier: Apache-2.0

package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/uve"
	sd "github.com/contrail-go/contrail/internal/sandesh"
)

// sseEvent is one event as a client reads it.
type sseEvent struct {
	Event string
	Key   string
	Type  *string
	Value json.RawMessage
}

func (e sseEvent) typ() string {
	if e.Type == nil {
		return "<nil>"
	}
	return *e.Type
}

type sseClient struct {
	resp   *http.Response
	events chan sseEvent
}

// openStream GETs url and reads its events until the test ends.
func openStream(t *testing.T, url string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 1000)}
	go func() {
		defer resp.Body.Close()
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
					t.Errorf("bad data line %q: %v", line, err)
				}
			}
		}
	}()
	return c
}

// next returns the next event, failing after 5 s.
func (c *sseClient) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("stream ended")
		}
		if ev.Event != "update" {
			t.Fatalf("event %q", ev.Event)
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sseEvent{}
}

// none checks that no event comes within d.
func (c *sseClient) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-c.events:
		t.Fatalf("unexpected event %s %s %s", ev.Key, ev.typ(), ev.Value)
	case <-time.After(d):
	}
}

func valueOf(t *testing.T, ev sseEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Value, &m); err != nil {
		t.Fatalf("value %s: %v", ev.Value, err)
	}
	return m
}

var (
	agentO   = uve.Origin{Source: "h1", NodeType: "Compute", Module: "contrail-vrouter-agent", InstanceID: "0"}
	nodemgrO = uve.Origin{Source: "h1", NodeType: "Compute", Module: "contrail-vrouter-nodemgr", InstanceID: "0"}
)

func procState(state string) []sd.Field {
	return []sd.Field{sd.F("process_info", 1, sd.ListValue(sd.TStruct, sd.StructValue("ProcessInfo",
		sd.F("process_name", 1, sd.String("contrail-vrouter-agent")),
		sd.F("process_state", 2, sd.String(state)))))}
}

func modeField(m string) []sd.Field { return []sd.Field{sd.F("mode", 1, sd.String(m))} }

func TestUVEStream(t *testing.T) {
	c := uve.NewCache()
	c.Update(agentO, "ObjectVRouter", "h1", "VrouterAgent", modeField("kernel"), 1)
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_RUNNING"), 1)
	c.Update(agentO, "ObjectVNTable", "vn1", "UveVirtualNetworkAgent", modeField("x"), 1)
	srv := httptest.NewServer(NewServer(Config{UVEs: c}))
	t.Cleanup(srv.Close)

	s := openStream(t, srv.URL+"/analytics/uve-stream?tablefilt=vrouter")
	// Initial state: each struct of the vrouter, sorted; not the VN.
	got := map[string]map[string]any{}
	for i := 0; i < 2; i++ {
		ev := s.next(t)
		if ev.Key != "ObjectVRouter:h1" {
			t.Fatalf("initial event key %q", ev.Key)
		}
		got[ev.typ()] = valueOf(t, ev)
	}
	if got["VrouterAgent"]["mode"] != "kernel" || got["NodeStatus"] == nil {
		t.Fatalf("initial state %v", got)
	}
	// An update of a struct.
	c.Update(agentO, "ObjectVRouter", "h1", "VrouterAgent", modeField("dpdk"), 2)
	ev := s.next(t)
	if ev.Key != "ObjectVRouter:h1" || ev.typ() != "VrouterAgent" || valueOf(t, ev)["mode"] != "dpdk" {
		t.Fatalf("update %+v %s", ev, ev.Value)
	}
	// Other tables are filtered out.
	c.Update(agentO, "ObjectVNTable", "vn1", "UveVirtualNetworkAgent", modeField("y"), 2)
	s.none(t, 300*time.Millisecond)
	// A struct goes, the UVE stays: null value of that struct.
	c.Delete(nodemgrO, "ObjectVRouter", "h1", "NodeStatus")
	ev = s.next(t)
	if ev.typ() != "NodeStatus" || string(ev.Value) != "null" {
		t.Fatalf("struct removal %+v %s", ev, ev.Value)
	}
	// The UVE goes: type and value null.
	c.Delete(agentO, "ObjectVRouter", "h1", "VrouterAgent")
	ev = s.next(t)
	if ev.Key != "ObjectVRouter:h1" || ev.Type != nil || string(ev.Value) != "null" {
		t.Fatalf("deletion %+v %s", ev, ev.Value)
	}
	// A new UVE.
	c.Update(agentO, "ObjectVRouter", "h2", "VrouterAgent", modeField("kernel"), 3)
	if ev = s.next(t); ev.Key != "ObjectVRouter:h2" || ev.typ() != "VrouterAgent" {
		t.Fatalf("new UVE %+v", ev)
	}

	// kfilt and cfilt, and the table name as tablefilt.
	s2 := openStream(t, srv.URL+"/analytics/uve-stream?tablefilt=ObjectVRouter&kfilt=h3&cfilt=NodeStatus")
	c.Update(agentO, "ObjectVRouter", "h3", "VrouterAgent", modeField("kernel"), 4)
	c.Update(agentO, "ObjectVRouter", "h2", "NodeStatus", procState("PROCESS_STATE_RUNNING"), 4)
	c.Update(nodemgrO, "ObjectVRouter", "h3", "NodeStatus", procState("PROCESS_STATE_RUNNING"), 4)
	if ev = s2.next(t); ev.Key != "ObjectVRouter:h3" || ev.typ() != "NodeStatus" {
		t.Fatalf("filtered stream %+v", ev)
	}
	s2.none(t, 300*time.Millisecond)

	// The client goes: the cache loses the watch.
	s.resp.Body.Close()
	s2.resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := c.WatchStats(); n != 0; n, _ = c.WatchStats() {
		if time.Now().After(deadline) {
			t.Fatalf("%d watches left after the clients went", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// droppable wraps a cache so that the test can drop the stream's watch,
// as the cache does to a watcher that falls behind.
type droppable struct {
	*uve.Cache
	mu      sync.Mutex
	drop    chan struct{}
	watches int
}

func (d *droppable) Watch(ctx context.Context, buf int) (<-chan uve.Change, error) {
	in, err := d.Cache.Watch(ctx, buf)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.watches++
	drop := make(chan struct{})
	d.drop = drop
	d.mu.Unlock()
	out := make(chan uve.Change, 16)
	go func() {
		defer close(out)
		for {
			select {
			case c, ok := <-in:
				if !ok {
					return
				}
				out <- c
			case <-drop:
				return
			}
		}
	}()
	return out, nil
}

func (d *droppable) dropNow() {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.drop)
}

// A stream dropped by its source watches again and sends what changed
// meanwhile, as a diff against what the client has.
func TestUVEStreamResync(t *testing.T) {
	d := &droppable{Cache: uve.NewCache()}
	d.Update(agentO, "ObjectVRouter", "h1", "VrouterAgent", modeField("kernel"), 1)
	d.Update(agentO, "ObjectVRouter", "h2", "VrouterAgent", modeField("kernel"), 1)
	srv := httptest.NewServer(NewServer(Config{UVEs: d}))
	t.Cleanup(srv.Close)
	s := openStream(t, srv.URL+"/analytics/uve-stream?tablefilt=vrouter")
	s.next(t)
	s.next(t)
	d.dropNow()
	// Changes while the stream is not watching.
	d.Delete(agentO, "ObjectVRouter", "h1", "VrouterAgent")
	d.Update(agentO, "ObjectVRouter", "h3", "VrouterAgent", modeField("dpdk"), 2)
	got := map[string]sseEvent{}
	for i := 0; i < 2; i++ {
		ev := s.next(t)
		got[ev.Key] = ev
	}
	if ev := got["ObjectVRouter:h1"]; ev.Type != nil || string(ev.Value) != "null" {
		t.Fatalf("h1 after resync %+v", ev)
	}
	if ev := got["ObjectVRouter:h3"]; ev.typ() != "VrouterAgent" {
		t.Fatalf("h3 after resync %+v", ev)
	}
	// h2 did not change: not sent again.
	s.none(t, 300*time.Millisecond)
	d.mu.Lock()
	n := d.watches
	d.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d watches, want 2", n)
	}
	d.Update(agentO, "ObjectVRouter", "h2", "VrouterAgent", modeField("dpdk"), 3)
	if ev := s.next(t); ev.Key != "ObjectVRouter:h2" || valueOf(t, ev)["mode"] != "dpdk" {
		t.Fatalf("after resync %+v", ev)
	}
}

// A source that cannot be watched is polled.
func TestUVEStreamPolled(t *testing.T) {
	src := newFake()
	src.put("vrouter", "h1", "h1:contrail-nodemgr", "NodeStatus", nodeStatus("PROCESS_STATE_RUNNING"))
	srv := httptest.NewServer(NewServer(Config{UVEs: src, StreamPoll: 50 * time.Millisecond}))
	t.Cleanup(srv.Close)
	s := openStream(t, srv.URL+"/analytics/uve-stream?tablefilt=vrouter")
	if ev := s.next(t); ev.Key != "ObjectVRouter:h1" || ev.typ() != "NodeStatus" {
		t.Fatalf("initial %+v", ev)
	}
	src.put("vrouter", "h1", "h1:contrail-nodemgr", "NodeStatus", nodeStatus("PROCESS_STATE_EXITED"))
	if ev := s.next(t); !strings.Contains(string(ev.Value), "PROCESS_STATE_EXITED") {
		t.Fatalf("update %s", ev.Value)
	}
	s.none(t, 200*time.Millisecond) // no change, no event
}

// The stream through a remote collector: uve.Remote follows the
// collector's change stream.
func TestUVEStreamRemote(t *testing.T) {
	c := uve.NewCache()
	c.Update(agentO, "ObjectVRouter", "h1", "VrouterAgent", modeField("kernel"), 1)
	mux := http.NewServeMux()
	uve.RegisterPages(introPages{mux}, c, nil)
	col := httptest.NewServer(mux)
	t.Cleanup(col.Close)
	srv := httptest.NewServer(NewServer(Config{UVEs: uve.NewRemote(col.URL)}))
	t.Cleanup(srv.Close)
	s := openStream(t, srv.URL+"/analytics/uve-stream?tablefilt=vrouter")
	if ev := s.next(t); ev.Key != "ObjectVRouter:h1" {
		t.Fatalf("initial %+v", ev)
	}
	c.Update(agentO, "ObjectVRouter", "h1", "VrouterAgent", modeField("dpdk"), 2)
	if ev := s.next(t); valueOf(t, ev)["mode"] != "dpdk" {
		t.Fatalf("update %s", ev.Value)
	}
	c.Delete(agentO, "ObjectVRouter", "h1", "VrouterAgent")
	if ev := s.next(t); ev.Type != nil || string(ev.Value) != "null" {
		t.Fatalf("delete %+v", ev)
	}
}

// introPages is a minimal introspect server for uve.RegisterPages.
type introPages struct{ mux *http.ServeMux }

func (p introPages) Handle(path, _ string, fn func(*http.Request) (any, error)) {
	p.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(v)
	})
}

func (p introPages) HandleHTTP(path, _ string, h http.Handler) { p.mux.Handle(path, h) }

func TestAlarmStream(t *testing.T) {
	c := uve.NewCache()
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_EXITED"), 1)
	c.Update(nodemgrO, "ObjectVRouter", "h2", "NodeStatus", procState("PROCESS_STATE_RUNNING"), 1)
	srv := httptest.NewServer(NewServer(Config{UVEs: c,
		Alarms: func(context.Context) ([]Alarm, error) { return []Alarm{processDown}, nil }}))
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv}

	s := openStream(t, srv.URL+"/analytics/alarm-stream?tablefilt=vrouter")
	ev := s.next(t)
	if ev.Key != "ObjectVRouter:h1" || ev.typ() != "UVEAlarms" {
		t.Fatalf("initial %+v", ev)
	}
	alarms := valueOf(t, ev)["alarms"].([]any)
	a := alarms[0].(map[string]any)
	if len(alarms) != 1 || a["type"] != processDownType || a["ack"] != false {
		t.Fatalf("initial alarms %v", alarms)
	}
	unacked := openStream(t, srv.URL+"/analytics/alarm-stream?tablefilt=vrouter&ackfilt=false")
	unacked.next(t)

	// Acknowledging shows in the stream.
	code, v := f.do(t, "POST", "/analytics/alarms/acknowledge", ackBody("vrouter", "h1", processDownType, a["token"].(string)), nil)
	if code != 200 {
		t.Fatalf("ack %d %v", code, v)
	}
	ev = s.next(t)
	if ev.Key != "ObjectVRouter:h1" || !strings.Contains(string(ev.Value), `"ack":true`) {
		t.Fatalf("after ack %+v %s", ev, ev.Value)
	}
	if ev = unacked.next(t); ev.Key != "ObjectVRouter:h1" || string(ev.Value) != "null" {
		t.Fatalf("ackfilt=false stream after ack %+v %s", ev, ev.Value)
	}

	// h2 raises; then h1 clears.
	c.Update(nodemgrO, "ObjectVRouter", "h2", "NodeStatus", procState("PROCESS_STATE_EXITED"), 2)
	if ev = s.next(t); ev.Key != "ObjectVRouter:h2" || ev.typ() != "UVEAlarms" {
		t.Fatalf("h2 raised %+v", ev)
	}
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_RUNNING"), 3)
	if ev = s.next(t); ev.Key != "ObjectVRouter:h1" || ev.typ() != "UVEAlarms" || string(ev.Value) != "null" {
		t.Fatalf("h1 cleared %+v %s", ev, ev.Value)
	}

	// The UVE stream carries UVEAlarms too.
	u := openStream(t, srv.URL+"/analytics/uve-stream?tablefilt=vrouter&kfilt=h2")
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		seen[u.next(t).typ()] = true
	}
	if !seen["NodeStatus"] || !seen["UVEAlarms"] {
		t.Fatalf("uve-stream structs %v", seen)
	}
}

func TestStreamBadAckfilt(t *testing.T) {
	f := &fixture{srv: httptest.NewServer(NewServer(Config{UVEs: uve.NewCache()}))}
	t.Cleanup(f.srv.Close)
	for _, p := range []string{"/analytics/uve-stream?ackfilt=x", "/analytics/alarm-stream?ackfilt=x"} {
		if code, v := f.get(t, p); code != 400 || errField(v) != "ackfilt" {
			t.Fatalf("%s: %d %v", p, code, v)
		}
	}
}

// Run evaluates the alarms in the background: an alarm that clears and
// is raised again between two reads is a new instance.
func TestRunTracksInstances(t *testing.T) {
	c := uve.NewCache()
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_EXITED"), 1)
	api := NewServer(Config{UVEs: c, AlarmInterval: time.Hour,
		Alarms: func(context.Context) ([]Alarm, error) { return []Alarm{processDown}, nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { api.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv}
	first := alarmOf(t, f, "", "h1", processDownType)
	if first == nil {
		t.Fatal("no alarm")
	}
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_RUNNING"), 2)
	deadline := time.Now().Add(5 * time.Second)
	for api.book.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not see the alarm clear")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_EXITED"), 3)
	again := alarmOf(t, f, "", "h1", processDownType)
	if again == nil || again["token"] == first["token"] {
		t.Fatalf("raised again: %v (first %v)", again, first)
	}
}

// A client that does not read its stream never holds up the updates of
// the cache: its watch is dropped once its buffer fills.
func TestStreamSlowClientDoesNotBlockIngest(t *testing.T) {
	c := uve.NewCache()
	srv := httptest.NewServer(NewServer(Config{UVEs: c}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/analytics/uve-stream?tablefilt=vrouter", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	// The body is never read.
	big := strings.Repeat("x", 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			c.Update(agentO, "ObjectVRouter", "h"+strings.Repeat("1", i%50), "VrouterAgent", modeField(big), int64(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ingest blocked by a client that does not read")
	}
}

// jsonPages hides HandleHTTP: a collector without the change stream.
type jsonPages struct{ p introPages }

func (j jsonPages) Handle(path, title string, fn func(*http.Request) (any, error)) {
	j.p.Handle(path, title, fn)
}

// A remote collector without uve.PathWatch is polled.
func TestUVEStreamRemoteWithoutWatch(t *testing.T) {
	c := uve.NewCache()
	c.Update(agentO, "ObjectVRouter", "h1", "VrouterAgent", modeField("kernel"), 1)
	mux := http.NewServeMux()
	uve.RegisterPages(jsonPages{introPages{mux}}, c, nil)
	col := httptest.NewServer(mux)
	t.Cleanup(col.Close)
	srv := httptest.NewServer(NewServer(Config{UVEs: uve.NewRemote(col.URL), StreamPoll: 50 * time.Millisecond}))
	t.Cleanup(srv.Close)
	s := openStream(t, srv.URL+"/analytics/uve-stream?tablefilt=vrouter")
	if ev := s.next(t); ev.Key != "ObjectVRouter:h1" {
		t.Fatalf("initial %+v", ev)
	}
	c.Update(agentO, "ObjectVRouter", "h1", "VrouterAgent", modeField("dpdk"), 2)
	if ev := s.next(t); valueOf(t, ev)["mode"] != "dpdk" {
		t.Fatalf("update %s", ev.Value)
	}
}

// A change made before Run watches the cache is not lost: Run evaluates
// once as soon as its watch is in place.
func TestRunSeesChangesBeforeItStarted(t *testing.T) {
	c := uve.NewCache()
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_EXITED"), 1)
	api := NewServer(Config{UVEs: c, AlarmInterval: time.Hour,
		Alarms: func(context.Context) ([]Alarm, error) { return []Alarm{processDown}, nil }})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	if alarmOf(t, &fixture{srv: srv}, "", "h1", processDownType) == nil {
		t.Fatal("no alarm")
	}
	c.Update(nodemgrO, "ObjectVRouter", "h1", "NodeStatus", procState("PROCESS_STATE_RUNNING"), 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { api.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for api.book.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not see the alarm clear that happened before it started")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
