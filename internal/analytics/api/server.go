// SPDX-License-Identifier: Apache-2.0

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
)

// Config is what the analytics API serves from.
type Config struct {
	// Queries runs table queries: a *query.Engine in the same process or
	// a *query.Remote for `contrail query-engine`. Nil disables the query
	// and table routes (503).
	Queries query.Runner
	// UVEs is where UVEs are read. Nil serves empty UVE lists.
	UVEs uve.Source
	// Alarms returns the alarm objects of the config (the original's
	// `alarm` resources). Nil means no alarm rules.
	Alarms func(ctx context.Context) ([]Alarm, error)
	// QueryTTL is how long the results of an asynchronous query are kept
	// after it ends (default 300 s, as the original's Redis expiry).
	QueryTTL time.Duration
	// MaxAsyncQueries bounds the asynchronous queries kept at once
	// (default 64); more are refused with 503.
	MaxAsyncQueries int
	// Logger (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AckFile, if set, is where the alarm instances (token, raise time,
	// ack) are kept so that acknowledgements outlive a restart (e.g.
	// alarm-acks.json in the analytics data directory). Empty keeps them
	// in memory only.
	AckFile string
	// AlarmInterval is how often Run evaluates the alarms, and the alarm
	// stream re-reads them (default 5 s); Run also evaluates after UVE
	// changes.
	AlarmInterval time.Duration
	// StreamPoll is how often a stream re-reads a UVE source that cannot
	// be watched (default 2 s).
	StreamPoll time.Duration
	// StreamKeepalive is the period of the streams' keepalive comments
	// (default 15 s).
	StreamKeepalive time.Duration
}

// Server is the analytics API (contrail analytics-api, port 8081).
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	mu      sync.Mutex
	queries map[string]*asyncQuery

	evalMu  sync.Mutex // serialises alarm evaluations (see alarmBook)
	book    *alarmBook
	running atomic.Bool // Run started
}

type asyncQuery struct {
	ID       string
	Body     json.RawMessage
	Enqueued time.Time
	Started  time.Time
	Finished time.Time
	done     bool
	result   *query.Result
	err      error
	cancel   context.CancelFunc
}

// NewServer builds the analytics API handler.
func NewServer(cfg Config) *Server {
	if cfg.QueryTTL <= 0 {
		cfg.QueryTTL = 300 * time.Second
	}
	if cfg.MaxAsyncQueries <= 0 {
		cfg.MaxAsyncQueries = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AlarmInterval <= 0 {
		cfg.AlarmInterval = 5 * time.Second
	}
	if cfg.StreamPoll <= 0 {
		cfg.StreamPoll = 2 * time.Second
	}
	if cfg.StreamKeepalive <= 0 {
		cfg.StreamKeepalive = 15 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), queries: map[string]*asyncQuery{},
		book: newAlarmBook(cfg.AckFile, cfg.Logger)}
	m := s.mux
	m.HandleFunc("GET /{$}", s.root)
	m.HandleFunc("GET /analytics", s.analytics)
	m.HandleFunc("GET /analytics/{$}", s.analytics)
	m.HandleFunc("GET /analytics/uves", s.uveTypesList)
	m.HandleFunc("GET /analytics/uve-types", s.uveTypes)
	m.HandleFunc("GET /analytics/uves/{typ}", s.uveList)
	m.HandleFunc("POST /analytics/uves/{typ}", s.uvePost)
	m.HandleFunc("GET /analytics/uves/{typ}/{name...}", s.uveGet)
	m.HandleFunc("GET /analytics/tables", s.tables)
	m.HandleFunc("GET /analytics/table/{t}", s.table)
	m.HandleFunc("GET /analytics/table/{t}/schema", s.tableSchema)
	m.HandleFunc("GET /analytics/table/{t}/column-values", s.columnValuesList)
	m.HandleFunc("GET /analytics/table/{t}/column-values/{col}", s.columnValues)
	m.HandleFunc("POST /analytics/query", s.postQuery)
	m.HandleFunc("GET /analytics/queries", s.listQueries)
	m.HandleFunc("GET /analytics/query/{qid}", s.queryStatus)
	m.HandleFunc("DELETE /analytics/query/{qid}", s.queryDelete)
	m.HandleFunc("GET /analytics/query/{qid}/chunk-final/{n}", s.queryChunk)
	m.HandleFunc("GET /analytics/alarms", s.alarms)
	m.HandleFunc("GET /analytics/alarm-types", s.alarmTypes)
	m.HandleFunc("POST /analytics/alarms/acknowledge", s.acknowledge)
	m.HandleFunc("GET /analytics/uve-stream", s.uveStream)
	m.HandleFunc("GET /analytics/alarm-stream", s.alarmStream)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "", "no such resource: "+r.Method+" "+r.URL.Path)
	})
	return s
}

// ServeHTTP implements http.Handler. Served by ListenAndServe, the first
// request starts Run for as long as the server serves.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.running.Load() {
		if ctx, ok := r.Context().Value(serveCtxKey{}).(context.Context); ok {
			go s.Run(ctx)
		}
	}
	s.mux.ServeHTTP(w, r)
}

// runDebounce is how long Run gathers UVE changes before it evaluates.
const runDebounce = time.Second

// Run evaluates the alarms every AlarmInterval and after UVE changes
// (when the source is a uve.Watcher) until ctx ends, so that an alarm
// that clears and is raised again between two requests is seen as a new
// instance. Without it alarms are evaluated only when read. Run returns
// at once if it is already running; ListenAndServe starts it.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return nil
	}
	defer s.running.Store(false)
	if s.cfg.Alarms == nil || s.cfg.UVEs == nil {
		<-ctx.Done()
		return nil
	}
	watcher, _ := s.cfg.UVEs.(uve.Watcher)
	var changes <-chan uve.Change
	rewatch := func() {
		changes = nil
		if watcher != nil {
			if ch, err := watcher.Watch(ctx, 0); err == nil {
				changes = ch
			}
		}
	}
	rewatch()
	tick := time.NewTicker(s.cfg.AlarmInterval)
	defer tick.Stop()
	// What changed before the watch was in place is seen by a first
	// evaluation at once (not at the first tick).
	soon := time.After(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-changes:
			if !ok {
				// Fell behind or lost the source: evaluate now and watch
				// again at the next tick.
				changes = nil
				break
			}
			if soon == nil {
				soon = time.After(runDebounce)
			}
			continue
		case <-soon:
			soon = nil
		case <-tick.C:
			if changes == nil {
				rewatch()
			}
		}
		if _, err := s.ComputeAlarms(ctx, ""); err != nil && ctx.Err() == nil {
			s.log.Debug("alarm evaluation failed", "err", err)
		}
	}
}

func writeErr(w http.ResponseWriter, code int, field, msg string) {
	var b query.ErrorBody
	b.Error.Code, b.Error.Field, b.Error.Message = code, field, msg
	query.WriteJSON(w, code, b)
}

func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type link struct {
	Name string `json:"name"`
	Href string `json:"href"`
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	b := base(r)
	query.WriteJSON(w, http.StatusOK, map[string]any{
		"href": b,
		"links": []map[string]link{
			{"link": {Name: "analytics", Href: b + "/analytics"}},
		},
	})
}

func (s *Server) analytics(w http.ResponseWriter, r *http.Request) {
	b := base(r) + "/analytics"
	links := []link{
		{"uves", b + "/uves"}, {"uve-types", b + "/uve-types"}, {"tables", b + "/tables"},
		{"queries", b + "/queries"}, {"alarms", b + "/alarms"}, {"alarm-types", b + "/alarm-types"},
		{"uve-stream", b + "/uve-stream"}, {"alarm-stream", b + "/alarm-stream"},
	}
	query.WriteJSON(w, http.StatusOK, links)
}

// globalTypes are the UVE types whose objects are global-system objects
// (viz.sandesh _OBJECT_TABLES global_system_object); the rest of the
// known types are per project.
var globalTypes = map[string]bool{
	"vrouter": true, "prouter": true, "bgp-peer": true, "control-node": true, "xmpp-peer": true,
	"analytics-node": true, "analytics-alarm-node": true, "analytics-snmp-node": true, "database-node": true,
	"config-database-node": true, "generator": true, "config-node": true, "dns-node": true,
	"storage-pool": true, "storage-osd": true, "storage-disk": true, "server": true,
	"physical-interface": true, "logical-interface": true, "storage-cluster": true,
	"user-defined-log-statistic": true, "kubernetes-manager-node": true, "job-execution": true,
}

var projectTypes = []string{
	"virtual-network", "virtual-machine", "virtual-machine-interface", "service-instance", "loadbalancer",
	"routing-instance", "service-chain", "tag", "project", "firewall-policy", "firewall-rule",
	"address-group", "service-group", "application-policy-set",
}

// uveTypeNames lists the known UVE types and those the source has.
func (s *Server) uveTypeNames(ctx context.Context) ([]string, error) {
	set := map[string]bool{}
	for t := range globalTypes {
		set[t] = true
	}
	for _, t := range projectTypes {
		set[t] = true
	}
	if s.cfg.UVEs != nil {
		ts, err := s.cfg.UVEs.Types(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			set[t] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

func (s *Server) uveTypesList(w http.ResponseWriter, r *http.Request) {
	names, err := s.uveTypeNames(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "", "UVE source: "+err.Error())
		return
	}
	b := base(r) + "/analytics/uves/"
	out := make([]link, 0, len(names))
	for _, n := range names {
		out = append(out, link{Name: n + "s", Href: b + n + "s"})
	}
	query.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) uveTypes(w http.ResponseWriter, r *http.Request) {
	names, err := s.uveTypeNames(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "", "UVE source: "+err.Error())
		return
	}
	out := map[string]any{}
	for _, n := range names {
		out[n] = map[string]bool{"global_system_object": globalTypes[n]}
	}
	query.WriteJSON(w, http.StatusOK, out)
}

// splitList splits comma-separated parameter values.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// uveFilter reads the UVE query parameters; any filter implies flat.
func uveFilter(q url.Values) uve.Filter {
	f := uve.Filter{
		SFilt: q.Get("sfilt"),
		MFilt: q.Get("mfilt"),
		CFilt: splitList(q["cfilt"]),
		KFilt: splitList(q["kfilt"]),
	}
	_, flat := q["flat"]
	f.Flat = flat || f.SFilt != "" || f.MFilt != "" || len(f.CFilt) > 0 || len(f.KFilt) > 0
	return f
}

// typeOf resolves the {typ} path element: "<type>s" for lists.
func (s *Server) typeOf(ctx context.Context, seg string) (string, bool) {
	// Known types need no call to the source.
	for _, n := range []string{seg, strings.TrimSuffix(seg, "s")} {
		if globalTypes[n] || slices.Contains(projectTypes, n) {
			return n, true
		}
	}
	names, _ := s.uveTypeNames(ctx)
	for _, n := range names {
		if n == seg || n+"s" == seg {
			return n, true
		}
	}
	return "", false
}

func (s *Server) uveList(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("typ")
	typ, ok := s.typeOf(r.Context(), seg)
	if !ok || !strings.HasSuffix(seg, "s") {
		writeErr(w, http.StatusNotFound, "", "unknown UVE type list "+strconv(seg))
		return
	}
	f := uveFilter(r.URL.Query())
	var keys []string
	if s.cfg.UVEs != nil {
		var err error
		keys, err = s.cfg.UVEs.Keys(r.Context(), typ, f)
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, "", "UVE source: "+err.Error())
			return
		}
	}
	b := base(r) + "/analytics/uves/" + typ + "/"
	out := make([]link, 0, len(keys))
	for _, k := range keys {
		out = append(out, link{Name: k, Href: b + url.PathEscape(k) + "?flat"})
	}
	query.WriteJSON(w, http.StatusOK, out)
}

func strconv(s string) string { return fmt.Sprintf("%q", s) }

type namedUVE struct {
	Name  string         `json:"name"`
	Value map[string]any `json:"value"`
}

// multiGet reads every UVE of typ whose key passes f, with its alarms.
func (s *Server) multiGet(ctx context.Context, typ string, f uve.Filter, ackfilt *bool) ([]namedUVE, error) {
	out := []namedUVE{}
	if s.cfg.UVEs == nil {
		return out, nil
	}
	alarms, err := s.alarmsFor(ctx, f)
	if err != nil {
		return nil, err
	}
	keys, err := s.cfg.UVEs.Keys(ctx, typ, f)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		v, ok, err := s.cfg.UVEs.Get(ctx, typ, k, f)
		if err != nil {
			return nil, err
		}
		if ok {
			if v, err = s.addAlarms(ctx, alarms, typ, k, v, ackfilt); err != nil {
				return nil, err
			}
			out = append(out, namedUVE{Name: k, Value: v})
		}
	}
	return out, nil
}

// alarmsFor returns the alarm objects to evaluate for a UVE read with
// filter f: none without alarms or when cfilt leaves out UVEAlarms.
func (s *Server) alarmsFor(ctx context.Context, f uve.Filter) ([]Alarm, error) {
	if s.cfg.Alarms == nil || len(f.CFilt) > 0 && !structWantedAPI(f.CFilt, "UVEAlarms") {
		return nil, nil
	}
	return s.loadAlarms(ctx)
}

// addAlarms adds to UVE value v the struct UVEAlarms holding the alarms
// raised on it (those whose ack state is *ackfilt, if set), as the
// original's UVEs carry the alarms alarmgen raised.
func (s *Server) addAlarms(ctx context.Context, alarms []Alarm, typ, key string, v map[string]any, ackfilt *bool) (map[string]any, error) {
	if len(alarms) == 0 {
		return v, nil
	}
	infos, err := s.alarmsOfUVE(ctx, alarms, typ, key)
	if err != nil {
		return nil, err
	}
	if infos = filterAck(infos, ackfilt); len(infos) > 0 {
		if v == nil {
			v = map[string]any{}
		}
		v["UVEAlarms"] = map[string]any{"alarms": infos}
	}
	return v, nil
}

func (s *Server) uveGet(w http.ResponseWriter, r *http.Request) {
	typ, ok := s.typeOf(r.Context(), r.PathValue("typ"))
	if !ok || strings.HasSuffix(r.PathValue("typ"), "s") && r.PathValue("typ") != typ {
		writeErr(w, http.StatusNotFound, "", "unknown UVE type "+strconv(r.PathValue("typ")))
		return
	}
	name := r.PathValue("name")
	f := uveFilter(r.URL.Query())
	ackfilt, err := parseAckFilt(r.URL.Query())
	if err != nil {
		writeErr(w, http.StatusBadRequest, "ackfilt", err.Error())
		return
	}
	if strings.Contains(name, "*") {
		if name != "*" || len(f.KFilt) == 0 {
			f.KFilt = append(f.KFilt, name)
		}
		f.Flat = true
		vals, err := s.multiGet(r.Context(), typ, f, ackfilt)
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, "", "UVE source: "+err.Error())
			return
		}
		query.WriteJSON(w, http.StatusOK, map[string]any{"value": vals})
		return
	}
	if s.cfg.UVEs == nil {
		query.WriteJSON(w, http.StatusOK, map[string]any{})
		return
	}
	v, ok, err := s.cfg.UVEs.Get(r.Context(), typ, name, f)
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "", "UVE source: "+err.Error())
		return
	}
	if ok {
		alarms, err := s.alarmsFor(r.Context(), f)
		if err == nil {
			v, err = s.addAlarms(r.Context(), alarms, typ, name, v, ackfilt)
		}
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, "", "alarms: "+err.Error())
			return
		}
	}
	if !ok || v == nil {
		v = map[string]any{}
	}
	query.WriteJSON(w, http.StatusOK, v)
}

// uvePostBody is the body of POST /analytics/uves/<type>.
type uvePostBody struct {
	KFilt  []string `json:"kfilt"`
	CFilt  []string `json:"cfilt"`
	SFilt  string   `json:"sfilt"`
	MFilt  string   `json:"mfilt"`
	AckFlt *bool    `json:"ackfilt"`
}

func (s *Server) uvePost(w http.ResponseWriter, r *http.Request) {
	typ, ok := s.typeOf(r.Context(), r.PathValue("typ"))
	if !ok {
		writeErr(w, http.StatusNotFound, "", "unknown UVE type "+strconv(r.PathValue("typ")))
		return
	}
	var body uvePostBody
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(strings.TrimSpace(string(data))) > 0 {
		err = json.Unmarshal(data, &body)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "", "body must be {\"kfilt\": [...], \"cfilt\": [...], \"sfilt\": \"...\", \"mfilt\": \"...\"}: "+err.Error())
		return
	}
	f := uve.Filter{KFilt: body.KFilt, CFilt: body.CFilt, SFilt: body.SFilt, MFilt: body.MFilt, Flat: true}
	vals, err := s.multiGet(r.Context(), typ, f, body.AckFlt)
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "", "UVE source: "+err.Error())
		return
	}
	query.WriteJSON(w, http.StatusOK, map[string]any{"value": vals})
}

// ---- tables ----

func (s *Server) runner(w http.ResponseWriter) bool {
	if s.cfg.Queries == nil {
		writeErr(w, http.StatusServiceUnavailable, "", "no query engine configured")
		return false
	}
	return true
}

func (s *Server) lookupTable(w http.ResponseWriter, r *http.Request) (store.Table, bool) {
	if !s.runner(w) {
		return store.Table{}, false
	}
	ts, err := s.cfg.Queries.Tables(r.Context())
	if err != nil {
		query.WriteError(w, err)
		return store.Table{}, false
	}
	name := r.PathValue("t")
	for _, t := range ts {
		if t.Name == name {
			return t, true
		}
	}
	writeErr(w, http.StatusNotFound, "table", "unknown table "+strconv(name))
	return store.Table{}, false
}

func (s *Server) tables(w http.ResponseWriter, r *http.Request) {
	if !s.runner(w) {
		return
	}
	ts, err := s.cfg.Queries.Tables(r.Context())
	if err != nil {
		query.WriteError(w, err)
		return
	}
	type entry struct {
		Name    string `json:"name"`
		Href    string `json:"href"`
		Display string `json:"display_name,omitempty"`
	}
	b := base(r) + "/analytics/table/"
	out := make([]entry, 0, len(ts))
	for _, t := range ts {
		out = append(out, entry{Name: t.Name, Href: b + t.Name, Display: t.Display})
	}
	query.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) table(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookupTable(w, r)
	if !ok {
		return
	}
	b := base(r) + "/analytics/table/" + t.Name
	query.WriteJSON(w, http.StatusOK, []link{{"schema", b + "/schema"}, {"column-values", b + "/column-values"}})
}

func schemaType(name string) string {
	switch {
	case name == store.MessageTable:
		return "LOG"
	case store.IsFlowTable(name):
		return "FLOW"
	case store.IsStatTable(name):
		return "STAT"
	case store.IsObjectTable(name):
		return "OBJECT"
	}
	return "LOG"
}

func (s *Server) tableSchema(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookupTable(w, r)
	if !ok {
		return
	}
	query.WriteJSON(w, http.StatusOK, map[string]any{"type": schemaType(t.Name), "columns": t.Columns})
}

// valueColumns are the columns whose values can be listed.
func valueColumns(t store.Table) []string {
	var out []string
	for _, c := range t.Columns {
		if c.Index && c.Datatype == "string" || c.Name == "ModuleId" || c.Name == "Source" || c.Name == "Category" || c.Name == "Level" {
			out = append(out, c.Name)
		}
	}
	return out
}

func (s *Server) columnValuesList(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookupTable(w, r)
	if !ok {
		return
	}
	b := base(r) + "/analytics/table/" + t.Name + "/column-values/"
	out := []link{}
	for _, c := range valueColumns(t) {
		out = append(out, link{Name: c, Href: b + c})
	}
	query.WriteJSON(w, http.StatusOK, out)
}

// columnValues lists the distinct values of a column over the last day.
func (s *Server) columnValues(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookupTable(w, r)
	if !ok {
		return
	}
	col := r.PathValue("col")
	found := false
	for _, c := range t.Columns {
		found = found || c.Name == col
	}
	if !found {
		writeErr(w, http.StatusNotFound, col, "unknown column "+strconv(col)+" of table "+t.Name)
		return
	}
	body, _ := json.Marshal(map[string]any{
		"table": t.Name, "start_time": "now-1d", "end_time": "now",
		"select_fields": []string{col, "T=86400"},
	})
	res, err := s.cfg.Queries.Query(r.Context(), body)
	if err != nil {
		query.WriteError(w, err)
		return
	}
	set := map[string]bool{}
	vals := []string{}
	for _, row := range res.Rows {
		v, ok := row[col]
		if !ok {
			continue
		}
		sv := store.ValueString(v)
		if !set[sv] {
			set[sv] = true
			vals = append(vals, sv)
		}
	}
	sort.Strings(vals)
	query.WriteJSON(w, http.StatusOK, vals)
}

// ---- queries ----

// asyncHeader is what the connection wrapper (Listen) renames the
// original's "Expect: 202-accepted" to, as Go's HTTP server refuses
// expectations other than 100-continue before any handler runs.
const asyncHeader = "X-Expt"

func wantsAsync(r *http.Request) bool {
	for _, h := range []string{"Expect", asyncHeader} {
		if strings.EqualFold(strings.TrimSpace(r.Header.Get(h)), "202-accepted") {
			return true
		}
	}
	return false
}

func (s *Server) postQuery(w http.ResponseWriter, r *http.Request) {
	if !s.runner(w) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, query.MaxRequestBytes+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "", "reading the query: "+err.Error())
		return
	}
	if !wantsAsync(r) {
		res, err := s.cfg.Queries.Query(r.Context(), body)
		if err != nil {
			query.WriteError(w, err)
			return
		}
		query.WriteJSON(w, http.StatusOK, res)
		return
	}
	// Check the query first so that bad input fails at once.
	if c, ok := s.cfg.Queries.(interface {
		Check(ctx context.Context, body []byte) error
	}); ok {
		if err := c.Check(r.Context(), body); err != nil {
			query.WriteError(w, err)
			return
		}
	}
	s.expire()
	s.mu.Lock()
	if len(s.queries) >= s.cfg.MaxAsyncQueries {
		s.mu.Unlock()
		writeErr(w, http.StatusServiceUnavailable, "", "too many asynchronous queries kept; fetch or delete some")
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	aq := &asyncQuery{ID: uuid.NewString(), Body: json.RawMessage(body), Enqueued: s.cfg.Now(), cancel: cancel}
	s.queries[aq.ID] = aq
	s.mu.Unlock()
	go func() {
		s.mu.Lock()
		aq.Started = s.cfg.Now()
		s.mu.Unlock()
		res, err := s.cfg.Queries.Query(ctx, body)
		s.mu.Lock()
		aq.result, aq.err, aq.done, aq.Finished = res, err, true, s.cfg.Now()
		s.mu.Unlock()
		cancel()
	}()
	query.WriteJSON(w, http.StatusAccepted, map[string]string{"href": "/analytics/query/" + aq.ID})
}

// expire forgets asynchronous queries that ended more than QueryTTL ago.
func (s *Server) expire() {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, q := range s.queries {
		if q.done && now.Sub(q.Finished) > s.cfg.QueryTTL {
			delete(s.queries, id)
		}
	}
}

func (s *Server) getQuery(w http.ResponseWriter, r *http.Request) (*asyncQuery, bool) {
	s.expire()
	s.mu.Lock()
	q := s.queries[r.PathValue("qid")]
	s.mu.Unlock()
	if q == nil {
		writeErr(w, http.StatusNotFound, "qid", "unknown or expired query "+strconv(r.PathValue("qid")))
		return nil, false
	}
	return q, true
}

// errnoOf maps an HTTP status to the negative errno the original puts in
// progress (EBADMSG 400, EINVAL 404, EIO 500, EBUSY 503).
func errnoOf(code int) int {
	switch code {
	case http.StatusBadRequest:
		return -74
	case http.StatusNotFound:
		return -22
	case http.StatusServiceUnavailable:
		return -16
	}
	return -5
}

func (s *Server) queryStatus(w http.ResponseWriter, r *http.Request) {
	q, ok := s.getQuery(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := map[string]any{"progress": 15, "chunks": []any{}}
	switch {
	case q.done && q.err != nil:
		st["progress"] = errnoOf(query.StatusOf(q.err))
		st["error"] = q.err.Error()
	case q.done:
		st["progress"] = 100
		st["lines"] = len(q.result.Rows)
		st["chunks"] = []map[string]any{{
			"start_time": q.Started.UnixMicro(), "end_time": q.Finished.UnixMicro(),
			"href": "/analytics/query/" + q.ID + "/chunk-final/0",
			"ttl":  int64((s.cfg.QueryTTL - s.cfg.Now().Sub(q.Finished)).Seconds()),
		}}
	}
	query.WriteJSON(w, http.StatusOK, st)
}

func (s *Server) queryChunk(w http.ResponseWriter, r *http.Request) {
	q, ok := s.getQuery(w, r)
	if !ok {
		return
	}
	if r.PathValue("n") != "0" {
		writeErr(w, http.StatusNotFound, "chunk", "no chunk "+strconv(r.PathValue("n"))+" (results come in chunk 0)")
		return
	}
	s.mu.Lock()
	done, res, err := q.done, q.result, q.err
	s.mu.Unlock()
	switch {
	case !done:
		writeErr(w, http.StatusNotFound, "chunk", "query still running")
	case err != nil:
		query.WriteError(w, err)
	default:
		query.WriteJSON(w, http.StatusOK, res)
	}
}

func (s *Server) queryDelete(w http.ResponseWriter, r *http.Request) {
	q, ok := s.getQuery(w, r)
	if !ok {
		return
	}
	q.cancel()
	s.mu.Lock()
	delete(s.queries, q.ID)
	s.mu.Unlock()
	query.WriteJSON(w, http.StatusOK, map[string]string{"deleted": q.ID})
}

func (s *Server) listQueries(w http.ResponseWriter, r *http.Request) {
	s.expire()
	s.mu.Lock()
	out := []map[string]any{}
	for _, q := range s.queries {
		state := "running"
		if q.done {
			state = "done"
			if q.err != nil {
				state = "failed"
			}
		}
		out = append(out, map[string]any{
			"qid": q.ID, "query": q.Body, "state": state, "enqueue_time": q.Enqueued.UnixMicro(),
			"href": "/analytics/query/" + q.ID,
		})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i]["enqueue_time"].(int64) < out[j]["enqueue_time"].(int64) })
	query.WriteJSON(w, http.StatusOK, map[string]any{"queries": out})
}

// Queries counts the asynchronous queries kept (for introspect).
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries)
}
