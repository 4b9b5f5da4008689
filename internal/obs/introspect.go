// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Errors a page function returns, wrapped with %w, to pick an HTTP status
// other than 500. The mapping lives in statusFor and nowhere else.
var (
	ErrBadRequest = errors.New("obs: bad request")
	ErrNotFound   = errors.New("obs: not found")
)

// Paths of the built-in endpoints.
const (
	PathIndex   = "/"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
	PathPprof   = "/debug/pprof/"
)

// Default timeouts; see WithShutdownTimeout and WithCheckTimeout.
const (
	DefaultShutdownTimeout = 5 * time.Second
	DefaultCheckTimeout    = 5 * time.Second
)

// Option configures an Introspect.
type Option func(*Introspect)

// WithPprof serves net/http/pprof under /debug/pprof/ when enabled is true.
// It is off by default: profiles expose internals and a CPU profile costs
// CPU, so a daemon turns it on from a flag.
func WithPprof(enabled bool) Option {
	return func(i *Introspect) { i.pprof = enabled }
}

// WithShutdownTimeout bounds how long Start's graceful shutdown waits for
// in-flight requests before closing their connections.
func WithShutdownTimeout(d time.Duration) Option {
	return func(i *Introspect) { i.shutdownTimeout = d }
}

// WithCheckTimeout bounds how long one /healthz or /readyz request waits for
// its checks. A check still running at the deadline counts as failed.
func WithCheckTimeout(d time.Duration) Option {
	return func(i *Introspect) { i.checkTimeout = d }
}

// Introspect is a daemon's introspect HTTP server: an index, JSON state
// pages, health and readiness checks, Prometheus metrics and optionally
// pprof, all on one mux. Register pages and checks before or after Start;
// all methods are safe for concurrent use.
type Introspect struct {
	name            string
	log             *slog.Logger
	mux             *http.ServeMux
	pprof           bool
	shutdownTimeout time.Duration
	checkTimeout    time.Duration

	mu      sync.Mutex
	pages   []PageInfo // sorted by Path
	live    []namedCheck
	ready   []namedCheck
	started bool
	addr    net.Addr
	err     error         // result of serving, set before done is closed
	done    chan struct{} // closed when the server has stopped
}

// PageInfo describes one entry of the index.
type PageInfo struct {
	Path  string `json:"path"`
	Title string `json:"title"`
}

// NewIntrospect returns an introspect server for the daemon called name.
// /metrics serves reg; a nil reg leaves /metrics out. A nil log discards.
func NewIntrospect(name string, reg *prometheus.Registry, log *slog.Logger, opts ...Option) *Introspect {
	if log == nil {
		log = DiscardLogger()
	}
	i := &Introspect{
		name:            name,
		log:             log,
		mux:             http.NewServeMux(),
		shutdownTimeout: DefaultShutdownTimeout,
		checkTimeout:    DefaultCheckTimeout,
		done:            make(chan struct{}),
	}
	for _, o := range opts {
		o(i)
	}

	i.mux.HandleFunc("GET /{$}", i.serveIndex)
	i.mux.HandleFunc("GET /index.html", i.serveIndex)
	i.addPage(PathIndex, "Index of introspect pages")

	i.mux.HandleFunc("GET "+PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		i.serveChecks(w, r, "healthz", i.checks(&i.live))
	})
	i.addPage(PathHealthz, "Liveness checks (?verbose lists every check)")
	i.mux.HandleFunc("GET "+PathReadyz, func(w http.ResponseWriter, r *http.Request) {
		i.serveChecks(w, r, "readyz", i.checks(&i.ready))
	})
	i.addPage(PathReadyz, "Readiness checks (?verbose lists every check)")

	if reg != nil {
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:      promLogger{log},
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      reg,
		})
		i.mux.Handle("GET "+PathMetrics, promhttp.InstrumentMetricHandler(reg, h))
		i.addPage(PathMetrics, "Prometheus metrics")
	}

	if i.pprof {
		i.mux.HandleFunc("GET "+PathPprof, pprof.Index)
		i.mux.HandleFunc("GET "+PathPprof+"cmdline", pprof.Cmdline)
		i.mux.HandleFunc("GET "+PathPprof+"profile", pprof.Profile)
		i.mux.HandleFunc("GET "+PathPprof+"symbol", pprof.Symbol)
		i.mux.HandleFunc("POST "+PathPprof+"symbol", pprof.Symbol)
		i.mux.HandleFunc("GET "+PathPprof+"trace", pprof.Trace)
		i.addPage(PathPprof, "Go profiling (pprof)")
	}
	return i
}

// Name returns the daemon name given to NewIntrospect.
func (i *Introspect) Name() string { return i.name }

// Handler returns the mux with every endpoint, for tests and for daemons
// that serve it from their own http.Server.
func (i *Introspect) Handler() http.Handler { return i.mux }

// Handle registers a JSON state page at path (a GET pattern of
// http.ServeMux, so "/vn/{uuid}" works and fn reads r.PathValue("uuid")) and
// lists it in the index under title. fn's result is rendered with
// encoding/json, indented. An error from fn gives {"error": "..."} with
// status 404 if it wraps ErrNotFound, 400 if it wraps ErrBadRequest, and 500
// otherwise. Like http.ServeMux, Handle panics if path is malformed or
// already registered.
func (i *Introspect) Handle(path, title string, fn func(r *http.Request) (any, error)) {
	i.HandleHTTP(path, title, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			i.writeError(w, r, statusFor(err), err)
			return
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			i.writeError(w, r, http.StatusInternalServerError, fmt.Errorf("encode page: %w", err))
			return
		}
		writeJSONBytes(w, http.StatusOK, b)
	}))
}

// HandleHTTP registers h for GET requests at path and lists it in the index
// under title; an empty title keeps it out of the index. Use it for pages
// that are not JSON, such as the original's Sandesh XML requests.
func (i *Introspect) HandleHTTP(path, title string, h http.Handler) {
	if !strings.HasPrefix(path, "/") {
		panic(fmt.Sprintf("obs: introspect page path %q does not start with /", path))
	}
	i.mux.Handle("GET "+path, h)
	if title != "" {
		i.addPage(path, title)
	}
}

// Pages returns the index entries sorted by path.
func (i *Introspect) Pages() []PageInfo {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.pages)
}

func (i *Introspect) addPage(path, title string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	n, _ := slices.BinarySearchFunc(i.pages, path, func(p PageInfo, path string) int {
		return strings.Compare(p.Path, path)
	})
	i.pages = slices.Insert(i.pages, n, PageInfo{Path: path, Title: title})
}

// statusFor is the one place that maps page errors to HTTP status codes.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (i *Introspect) writeError(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= http.StatusInternalServerError {
		i.log.Warn("introspect page failed", "path", r.URL.Path, KeyErr, err)
	}
	b, mErr := json.MarshalIndent(struct {
		Error string `json:"error"`
	}{err.Error()}, "", "  ")
	if mErr != nil { // cannot happen for a string field
		b = []byte(`{"error": "internal error"}`)
	}
	writeJSONBytes(w, code, b)
}

func writeJSONBytes(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	b = append(b, '\n')
	_, _ = w.Write(b)
}

// index is the JSON body of "/".
type index struct {
	Name  string     `json:"name"`
	Pages []PageInfo `json:"pages"`
}

func (i *Introspect) serveIndex(w http.ResponseWriter, r *http.Request) {
	pages := i.Pages()
	if !prefersHTML(r.Header.Values("Accept")) {
		b, err := json.MarshalIndent(index{Name: i.name, Pages: pages}, "", "  ")
		if err != nil {
			i.writeError(w, r, http.StatusInternalServerError, err)
			return
		}
		writeJSONBytes(w, http.StatusOK, b)
		return
	}
	var sb strings.Builder
	name := html.EscapeString(i.name)
	sb.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
	sb.WriteString(name)
	sb.WriteString(" introspect</title></head>\n<body><h1>")
	sb.WriteString(name)
	sb.WriteString("</h1>\n<ul>\n")
	for _, p := range pages {
		path := html.EscapeString(p.Path)
		fmt.Fprintf(&sb, "<li><a href=\"%s\">%s</a> <code>%s</code></li>\n", path, html.EscapeString(p.Title), path)
	}
	sb.WriteString("</ul></body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(sb.String()))
}

// prefersHTML reports whether the Accept header values rank text/html above
// application/json. Equal preference (curl's "*/*", no header) gives JSON.
func prefersHTML(accept []string) bool {
	if len(accept) == 0 {
		return false
	}
	h := acceptQuality(accept, "text", "html")
	return h > 0 && h > acceptQuality(accept, "application", "json")
}

// acceptQuality returns the q value RFC 9110 section 12.5.1 gives the media
// type typ/sub in an Accept header: that of the most specific matching media
// range, 0 when none matches.
func acceptQuality(accept []string, typ, sub string) float64 {
	best, q := -1, 0.0
	for _, v := range accept {
		for rng := range strings.SplitSeq(v, ",") {
			mt, params, _ := strings.Cut(rng, ";")
			t, s, ok := strings.Cut(strings.TrimSpace(mt), "/")
			if !ok {
				continue
			}
			var spec int
			switch {
			case strings.EqualFold(t, typ) && strings.EqualFold(s, sub):
				spec = 2
			case strings.EqualFold(t, typ) && s == "*":
				spec = 1
			case t == "*" && s == "*":
				spec = 0
			default:
				continue
			}
			if spec <= best {
				continue
			}
			best, q = spec, 1
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0 // malformed: ignore the range
					}
					q = f
				}
			}
		}
	}
	return q
}

// promLogger adapts slog to promhttp.Logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Warn("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// Start listens on addr (host:port; port 0 picks a free port, see Addr) and
// returns once the listener is open. It serves in the background until ctx
// is cancelled, then shuts down gracefully: the listener closes at once,
// in-flight requests get up to the shutdown timeout, and after that their
// connections are closed. Wait or Done tell when all of it has finished;
// no goroutine started by Start outlives that. Start may be called once.
func (i *Introspect) Start(ctx context.Context, addr string) error {
	i.mu.Lock()
	if i.started {
		i.mu.Unlock()
		return errors.New("obs: introspect already started")
	}
	i.started = true
	i.mu.Unlock()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		err = fmt.Errorf("obs: introspect listen: %w", err)
		i.finish(err)
		return err
	}
	i.mu.Lock()
	i.addr = ln.Addr()
	i.mu.Unlock()

	srv := &http.Server{
		Handler:           i.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(i.log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go func() {
		var err error
		select {
		case err = <-served:
			// Serve only returns early on an accept error.
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), i.shutdownTimeout)
			if serr := srv.Shutdown(sctx); serr != nil {
				i.log.Warn("introspect shutdown timed out, closing connections", KeyErr, serr)
				_ = srv.Close()
			}
			cancel()
			err = <-served
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else if err != nil {
			err = fmt.Errorf("obs: introspect serve: %w", err)
		}
		i.finish(err)
	}()
	i.log.Info("introspect listening", "name", i.name, "addr", ln.Addr().String())
	return nil
}

func (i *Introspect) finish(err error) {
	i.mu.Lock()
	i.err = err
	i.mu.Unlock()
	close(i.done)
}

// Addr returns the address Start bound, or nil before that.
func (i *Introspect) Addr() net.Addr {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.addr
}

// Done returns a channel that is closed once the server started by Start
// has stopped, or Start has failed.
func (i *Introspect) Done() <-chan struct{} { return i.done }

// Wait blocks until Done is closed and returns the serving error, nil after
// a shutdown caused by cancelling Start's context. Called before Start, it
// blocks until Start has run and finished.
func (i *Introspect) Wait() error {
	<-i.done
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.err
}
