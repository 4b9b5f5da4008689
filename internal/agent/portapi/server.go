// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultAddr is the original's port IPC address (PORT_IPC_VROUTER_AGENT_PORT).
const DefaultAddr = "127.0.0.1:9091"

// Errors a hook returns, wrapped with %w, to pick an HTTP status other
// than its default (400 for Validate, 500 for Apply and Remove). A
// *FieldError from a hook gives 400 and names its field. The mapping
// lives in statusFor and nowhere else.
var (
	ErrBadRequest  = errors.New("portapi: bad request")             // 400
	ErrConflict    = errors.New("portapi: conflict")                // 409
	ErrUnavailable = errors.New("portapi: temporarily unavailable") // 503
)

// shutdownTimeout bounds how long Serve waits for requests in flight.
const shutdownTimeout = 5 * time.Second

// Server is the port API. Set the fields before calling Handler, Serve or
// Start; they must not change afterwards. Requests that change ports
// (POST /port, DELETE /port/<uuid>, POST /syncports, Sync) run one at a
// time, so hooks are never called concurrently and see requests in the
// order the server took them.
type Server struct {
	// Store holds the ports; required.
	Store *Store
	// Addr is where Start listens; "" means DefaultAddr.
	Addr string
	// Log receives a record per change; nil discards.
	Log *slog.Logger

	// Validate, if set, checks a new or replacing port (already
	// normalized) before anything else happens, e.g. that the VMI is in
	// the agent's config and the tap device exists. An error refuses the
	// request: 400 unless it wraps one of the sentinels above.
	Validate func(Port) error
	// Apply, if set, programs a port into the dataplane. It is called
	// for a new port, for a replacing port (with the new value; it must
	// handle the update) and for each port on /syncports. The port is
	// stored only after it succeeds. A failing Apply must leave the
	// dataplane as it was. An error gives 500 unless it wraps one of the
	// sentinels above.
	Apply func(Port) error
	// Remove, if set, unprograms a port. It is called before the port's
	// file is deleted; if it fails the port stays stored. If deleting
	// the file then fails, Apply is called to program the port again.
	Remove func(Port) error
	// Added, if set, is called after a POST /port succeeded, outside the
	// server's lock, before the answer is written: the agent uses it to
	// answer once the port is programmed (bounded), so that other adds
	// go on meanwhile.
	Added func(ctx context.Context, p Port)

	mu sync.Mutex // serializes changes and hook calls
}

// SyncResult is the answer of POST /syncports and of Sync.
type SyncResult struct {
	Applied int          `json:"applied"`
	Failed  []SyncFailed `json:"failed"`
}

// SyncFailed is one port Apply refused during a sync.
type SyncFailed struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /port", s.handleAdd)
	mux.HandleFunc("GET /port/{id}", s.handleGet)
	mux.HandleFunc("DELETE /port/{id}", s.handleDelete)
	mux.HandleFunc("GET /ports", s.handleList)
	mux.HandleFunc("POST /syncports", s.handleSync)
	return mux
}

// Start listens on s.Addr and serves until ctx is done (see Serve).
func (s *Server) Start(ctx context.Context) error {
	if s.Store == nil {
		return errors.New("portapi: server has no Store")
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("portapi: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the API on ln until ctx is done, then shuts down
// gracefully and returns nil; it closes ln. It returns early with an
// error if serving fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Store == nil {
		ln.Close()
		return errors.New("portapi: server has no Store")
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log().Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log().Info("port API listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("portapi: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

// Add validates, applies and stores p, replacing any port with its id,
// and returns the stored (normalized) port. It is what POST /port does.
func (s *Server) Add(p Port) (Port, error) {
	p, err := p.Normalize()
	if err != nil {
		return Port{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Validate != nil {
		if err := s.Validate(p); err != nil {
			return Port{}, &hookError{code: CodeRejected, status: http.StatusBadRequest, err: err}
		}
	}
	old, existed := s.Store.Get(p.ID)
	if s.Apply != nil {
		if err := s.Apply(p); err != nil {
			return Port{}, &hookError{code: CodeApplyFailed, status: http.StatusInternalServerError, err: err}
		}
	}
	if err := s.Store.Put(p); err != nil {
		// Undo the dataplane change so that nothing is half-programmed.
		var uerr error
		switch {
		case existed && s.Apply != nil:
			uerr = s.Apply(old)
		case !existed && s.Remove != nil:
			uerr = s.Remove(p)
		}
		if uerr != nil {
			s.log().Error("cannot undo port programming after a store failure", keyPort, p.ID, keyErr, uerr)
		}
		return Port{}, err
	}
	s.log().Info("port added", keyPort, p.ID, "system-name", p.SystemName, "replaced", existed)
	return p, nil
}

// Delete unprograms and forgets the port with the given id (any uuid
// form). It returns ErrNotFound for an unknown port.
func (s *Server) Delete(id string) (Port, error) {
	cid, ok := ParseUUID(id)
	if !ok {
		return Port{}, invalid(FieldID, "%q is not a uuid", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.Store.Get(cid)
	if !ok {
		return Port{}, fmt.Errorf("%w: %s", ErrNotFound, cid)
	}
	if s.Remove != nil {
		if err := s.Remove(p); err != nil {
			return Port{}, &hookError{code: CodeApplyFailed, status: http.StatusInternalServerError, err: err}
		}
	}
	if err := s.Store.Delete(cid); err != nil {
		// The port stays stored; program it again so that store and
		// dataplane agree.
		if s.Apply != nil {
			if aerr := s.Apply(p); aerr != nil {
				s.log().Error("cannot re-apply port after a store failure", keyPort, cid, keyErr, aerr)
			}
		}
		return Port{}, err
	}
	s.log().Info("port deleted", keyPort, cid)
	return p, nil
}

// Sync applies every stored port again, in id order, through Apply. The
// agent calls it after a restart; POST /syncports does the same. A port
// Apply refuses stays stored and is reported in the result.
func (s *Server) Sync() SyncResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := SyncResult{Failed: []SyncFailed{}}
	for _, p := range s.Store.List() {
		if s.Apply != nil {
			if err := s.Apply(p); err != nil {
				s.log().Error("port sync failed", keyPort, p.ID, keyErr, err)
				res.Failed = append(res.Failed, SyncFailed{ID: p.ID, Error: err.Error()})
				continue
			}
		}
		res.Applied++
	}
	s.log().Info("ports synced", "applied", res.Applied, "failed", len(res.Failed))
	return res
}

// hookError is a hook's error with the code and default status of the
// hook that returned it.
type hookError struct {
	code   string
	status int
	err    error
}

func (e *hookError) Error() string { return e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

// statusFor maps an error to its HTTP status and error body. It is the
// only place that picks statuses.
func statusFor(err error) (int, errorDetail) {
	var fe *FieldError
	if errors.As(err, &fe) {
		if fe.Code == CodeTooLarge {
			return http.StatusRequestEntityTooLarge, errorDetail{Code: fe.Code, Message: fe.Message}
		}
		return http.StatusBadRequest, errorDetail{Code: fe.Code, Field: fe.Field, Message: fe.Message}
	}
	code := CodeInternal
	status := http.StatusInternalServerError
	var he *hookError
	if errors.As(err, &he) {
		code, status = he.code, he.status
	}
	switch {
	case errors.Is(err, ErrNotFound):
		code, status = CodeNotFound, http.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	return status, errorDetail{Code: code, Message: err.Error()}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, d := statusFor(err)
	if status >= 500 {
		s.log().Error("port API request failed", "method", r.Method, "path", r.URL.Path, keyErr, err)
	}
	writeJSON(w, status, errorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	// The Content-Type is not checked: the original ignores it and
	// `curl -d` sends application/x-www-form-urlencoded.
	p, err := DecodePort(r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err = s.Add(p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Added != nil {
		s.Added(r.Context(), p)
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	id, ok := ParseUUID(r.PathValue("id"))
	if !ok {
		s.writeError(w, r, invalid(FieldID, "%q is not a uuid", r.PathValue("id")))
		return
	}
	p, ok := s.Store.Get(id)
	if !ok {
		s.writeError(w, r, fmt.Errorf("%w: %s", ErrNotFound, id))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	p, err := s.Delete(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Store.List())
}

func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Sync())
}

// IntrospectPorts is an introspect page listing the stored ports, with the
// signature of obs.Introspect.Handle's page functions:
//
//	is.Handle("/ports", "port API ports", srv.IntrospectPorts)
func (s *Server) IntrospectPorts(*http.Request) (any, error) {
	return s.Store.List(), nil
}
