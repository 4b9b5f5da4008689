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
	// ErrNotImplemented is what the API answers (501) for requests of
	// the original's API that this agent cannot carry out.
	ErrNotImplemented = errors.New("portapi: not implemented") // 501
)

// CodeNotImplemented is the error code of a 501 answer.
const CodeNotImplemented = "not_implemented"

// shutdownTimeout bounds how long Serve waits for requests in flight.
const shutdownTimeout = 5 * time.Second

// Server is the port API. Set the fields before calling Handler, Serve or
// Start; they must not change afterwards. Requests that change ports
// (POST /port, DELETE /port/<uuid>, PUT /enable-port and /disable-port,
// POST and DELETE /vm, POST /syncports, Sync) call Apply and Remove one
// at a time, in the order the server took them. Validate runs before
// that, outside the server's lock, and may run concurrently with other
// hooks.
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
	// request: 400 unless it wraps one of the sentinels above. It must be
	// safe for concurrent use.
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
	// Describe, if set, returns a port as the agent resolved it from its
	// config (addresses, MAC, plen, gateway, dns-server, project), for
	// GET /vm/<vm-uuid>: VM-style ports carry none of that themselves.
	// An error wrapping ErrUnavailable (503) means "not in the config
	// yet, retry"; ErrNotFound gives 404.
	Describe func(Port) (Port, error)
	// VMConfig, if set, returns the interfaces of the VM named name in
	// the agent's config, for GET /vm-cfg/<name>; ErrNotFound (404) if
	// the config has no such VM.
	VMConfig func(name string) ([]VMIConfig, error)

	mu   sync.Mutex // serializes changes and the Apply and Remove hooks
	lmu  sync.Mutex // guards seq and last
	seq  uint64
	last map[string]lastChange // port changes queued in the Store, by id
}

// lastChange is the latest change of a port queued in the Store, which
// may not be committed yet: what the next change of that port replaces.
type lastChange struct {
	seq    uint64
	port   Port
	exists bool
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
	mux.HandleFunc("PUT /enable-port/{id}", s.handleLinkState(true))
	mux.HandleFunc("PUT /disable-port/{id}", s.handleLinkState(false))
	mux.HandleFunc("POST /vm", s.handleAddVM)
	mux.HandleFunc("GET /vm/{vm}", s.handleGetVM)
	mux.HandleFunc("GET /vm/{vm}/{vmi}", s.handleGetVM)
	mux.HandleFunc("DELETE /vm/{vm}", s.handleDeleteVM)
	mux.HandleFunc("DELETE /vm/{vm}/{vmi}", s.handleDeleteVM)
	mux.HandleFunc("GET /vm-cfg/{name...}", s.handleVMConfig)
	mux.HandleFunc("POST /gateway", s.handleGateway(false))
	mux.HandleFunc("DELETE /gateway", s.handleGateway(true))
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
//
// Hooks run one request at a time, but the port's file is made durable
// after the server's lock is released, so that the Store commits the
// files of concurrent adds together (see Store); the answer still comes
// only once the file is durable.
func (s *Server) Add(p Port) (Port, error) {
	p, err := p.Normalize()
	if err != nil {
		return Port{}, err
	}
	// Validate runs outside the lock: it may wait for the VMI's config,
	// and concurrent adds should not queue behind that.
	if s.Validate != nil {
		if err := s.Validate(p); err != nil {
			return Port{}, &hookError{code: CodeRejected, status: http.StatusBadRequest, err: err}
		}
	}
	s.mu.Lock()
	if _, ok := s.Store.GetVM(p.ID); ok {
		s.mu.Unlock()
		return Port{}, conflict(FieldID, "virtual-machine-interface %s is a VM-style port (POST /vm); delete it with DELETE /vm/<vm-uuid>/%s first",
			p.ID, p.ID)
	}
	if err := s.changePortLocked(p, true); err != nil {
		return Port{}, err
	}
	s.log().Info("port added", keyPort, p.ID, "system-name", p.SystemName)
	return p, nil
}

// changePortLocked applies p (or, with !put, removes it), queues the
// Store change, releases s.mu and waits for the change to be durable. A
// failed store change is undone in the dataplane unless a later change of
// the same port came meanwhile.
func (s *Server) changePortLocked(p Port, put bool) error {
	old, existed := s.currentLocked(p.ID)
	var hook func(Port) error
	if put {
		hook = s.Apply
	} else {
		hook = s.Remove
	}
	if hook != nil {
		if err := hook(p); err != nil {
			s.mu.Unlock()
			return &hookError{code: CodeApplyFailed, status: http.StatusInternalServerError, err: err}
		}
	}
	var op *storeOp
	var err error
	if put {
		op, err = s.Store.enqueuePut(p)
	} else {
		op = s.Store.enqueueDelete(p.ID)
	}
	if err != nil {
		s.undoLocked(p, old, existed, put)
		s.mu.Unlock()
		return err
	}
	s.lmu.Lock()
	if s.last == nil {
		s.last = map[string]lastChange{}
	}
	s.seq++
	seq := s.seq
	s.last[p.ID] = lastChange{seq: seq, port: p, exists: put}
	s.lmu.Unlock()
	s.mu.Unlock()

	err = s.Store.wait(op)
	if err != nil {
		s.mu.Lock() // the undo calls hooks
		defer s.mu.Unlock()
	}
	s.lmu.Lock()
	latest := s.last[p.ID].seq == seq
	if latest {
		delete(s.last, p.ID)
	}
	s.lmu.Unlock()
	if err != nil && latest { // else a later change of the port decides
		s.undoLocked(p, old, existed, put)
	}
	return err
}

// undoLocked puts the dataplane back as it was before p was applied (put)
// or removed (!put), after the Store refused the change.
func (s *Server) undoLocked(p, old Port, existed, put bool) {
	var uerr error
	switch {
	case !put && s.Apply != nil:
		uerr = s.Apply(p)
	case put && existed && s.Apply != nil:
		uerr = s.Apply(old)
	case put && !existed && s.Remove != nil:
		uerr = s.Remove(p)
	}
	if uerr != nil {
		s.log().Error("cannot undo port programming after a store failure", keyPort, p.ID, keyErr, uerr)
	}
}

// currentLocked returns the port with the given id as the last change
// queued left it, committed or not.
func (s *Server) currentLocked(id string) (Port, bool) {
	s.lmu.Lock()
	c, ok := s.last[id]
	s.lmu.Unlock()
	if ok {
		return c.port, c.exists
	}
	return s.Store.Get(id)
}

// Delete unprograms and forgets the port with the given id (any uuid
// form). It returns ErrNotFound for an unknown port.
func (s *Server) Delete(id string) (Port, error) {
	cid, ok := ParseUUID(id)
	if !ok {
		return Port{}, invalid(FieldID, "%q is not a uuid", id)
	}
	s.mu.Lock()
	p, ok := s.currentLocked(cid)
	if !ok {
		s.mu.Unlock()
		if _, ok := s.Store.GetVM(cid); ok {
			return Port{}, conflict(FieldID, "virtual-machine-interface %s is a VM-style port: delete it with DELETE /vm/<vm-uuid>/%s",
				cid, cid)
		}
		return Port{}, fmt.Errorf("%w: %s", ErrNotFound, cid)
	}
	if err := s.changePortLocked(p, false); err != nil {
		return Port{}, err
	}
	s.log().Info("port deleted", keyPort, cid)
	return p, nil
}

// SetLinkState enables (up) or disables a port, of POST /port or POST
// /vm, by its VMI uuid: what PUT /enable-port/<uuid> and
// /disable-port/<uuid> do. The new state goes through Apply (the agent
// sets the device down and stops forwarding to and from it while
// disabled) and is stored, so it survives a restart. Setting the state a
// port already has changes nothing. ErrNotFound for an unknown port.
func (s *Server) SetLinkState(id string, up bool) (Port, error) {
	cid, ok := ParseUUID(id)
	if !ok {
		return Port{}, invalid(FieldID, "%q is not a uuid", id)
	}
	s.mu.Lock()
	if p, ok := s.currentLocked(cid); ok {
		if p.Disabled == !up {
			s.mu.Unlock()
			return p, nil
		}
		p.Disabled = !up
		if err := s.changePortLocked(p, true); err != nil {
			return Port{}, err
		}
		s.log().Info("port link state set", keyPort, cid, "link-state", p.LinkState())
		return p, nil
	}
	defer s.mu.Unlock()
	v, ok := s.Store.GetVM(cid)
	if !ok {
		return Port{}, fmt.Errorf("%w: %s", ErrNotFound, cid)
	}
	if v.Disabled == !up {
		return v.Port(), nil
	}
	old := v
	v.Disabled = !up
	if err := s.putVMLocked(v, old, true); err != nil {
		return Port{}, err
	}
	s.log().Info("port link state set", keyPort, cid, "link-state", v.Port().LinkState())
	return v.Port(), nil
}

// putVMLocked applies v's port and stores v, undoing the Apply if the
// store fails.
func (s *Server) putVMLocked(v, old VMPort, existed bool) error {
	if s.Apply != nil {
		if err := s.Apply(v.Port()); err != nil {
			return &hookError{code: CodeApplyFailed, status: http.StatusInternalServerError, err: err}
		}
	}
	if err := s.Store.PutVM(v); err != nil {
		var uerr error
		switch {
		case existed && s.Apply != nil:
			uerr = s.Apply(old.Port())
		case !existed && s.Remove != nil:
			uerr = s.Remove(v.Port())
		}
		if uerr != nil {
			s.log().Error("cannot undo port programming after a store failure", keyPort, v.VMIUUID, keyErr, uerr)
		}
		return err
	}
	return nil
}

// AddVM registers a VM-style port (POST /vm): its port (VMPort.Port) is
// validated and applied like a POST /port one, then v is stored. A VMI
// added by POST /port, or registered to another VM, is a conflict.
func (s *Server) AddVM(v VMPort) (VMPort, error) {
	v, err := v.Normalize()
	if err != nil {
		return VMPort{}, err
	}
	p := v.Port()
	if s.Validate != nil {
		if err := s.Validate(p); err != nil {
			return VMPort{}, &hookError{code: CodeRejected, status: http.StatusBadRequest, err: err}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.currentLocked(v.VMIUUID); ok {
		return VMPort{}, conflict(FieldVMIUUID, "virtual-machine-interface %s was added by POST /port; delete it with DELETE /port/%s first",
			v.VMIUUID, v.VMIUUID)
	}
	old, existed := s.Store.GetVM(v.VMIUUID)
	if existed && old.VMUUID != v.VMUUID {
		return VMPort{}, conflict(FieldVMIUUID, "virtual-machine-interface %s is registered to VM %s; delete it there first",
			v.VMIUUID, old.VMUUID)
	}
	if err := s.putVMLocked(v, old, existed); err != nil {
		return VMPort{}, err
	}
	s.log().Info("VM port added", keyPort, v.VMIUUID, "vm", v.VMUUID, "host-ifname", v.HostIfname)
	return v, nil
}

// parseVMRef checks and canonicalizes the uuid of a VM and that of one
// of its interfaces (vmi "" for all of them).
func parseVMRef(vm, vmi string) (cvm, cvmi string, err error) {
	cvm, ok := ParseUUID(vm)
	if !ok {
		return "", "", invalid(FieldVMUUID, "%q is not a uuid", vm)
	}
	if vmi != "" {
		if cvmi, ok = ParseUUID(vmi); !ok {
			return "", "", invalid(FieldVMIUUID, "%q is not a uuid", vmi)
		}
	}
	return cvm, cvmi, nil
}

// vmiNotFound is the ErrNotFound for interface vmi of VM vm.
func vmiNotFound(vm, vmi string) error {
	return fmt.Errorf("%w: virtual-machine-interface %s of VM %s", ErrNotFound, vmi, vm)
}

// DeleteVM removes the VM-style ports of a VM (DELETE /vm/<vm-uuid>), or
// only one (vmi not ""), and returns them. A VM without ports is not an
// error, as in the original; an unknown vmi of the VM is ErrNotFound.
func (s *Server) DeleteVM(vm, vmi string) ([]VMPort, error) {
	cvm, cvmi, err := parseVMRef(vm, vmi)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var todo []VMPort
	for _, v := range s.Store.ListVM(cvm) {
		if cvmi == "" || v.VMIUUID == cvmi {
			todo = append(todo, v)
		}
	}
	if cvmi != "" && len(todo) == 0 {
		return nil, vmiNotFound(cvm, cvmi)
	}
	done := []VMPort{}
	var firstErr error
	for _, v := range todo {
		if s.Remove != nil {
			if err := s.Remove(v.Port()); err != nil {
				if firstErr == nil {
					firstErr = &hookError{code: CodeApplyFailed, status: http.StatusInternalServerError, err: err}
				}
				continue
			}
		}
		if err := s.Store.wait(s.Store.enqueueDeleteVM(v)); err != nil {
			if s.Apply != nil {
				if aerr := s.Apply(v.Port()); aerr != nil {
					s.log().Error("cannot re-apply port after a store failure", keyPort, v.VMIUUID, keyErr, aerr)
				}
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		s.log().Info("VM port deleted", keyPort, v.VMIUUID, "vm", v.VMUUID)
		done = append(done, v)
	}
	return done, firstErr
}

// VMPorts returns the ports of a VM (GET /vm/<vm-uuid>[/<vmi-uuid>]): its
// VM-style ports and the POST /port ports whose instance-id it is, as
// Describe resolves them. ErrNotFound if there is none.
func (s *Server) VMPorts(vm, vmi string) ([]Port, error) {
	cvm, cvmi, err := parseVMRef(vm, vmi)
	if err != nil {
		return nil, err
	}
	var ports []Port
	for _, p := range s.Store.AllPorts() {
		if p.InstanceID == cvm && (cvmi == "" || p.ID == cvmi) {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		if cvmi != "" {
			return nil, vmiNotFound(cvm, cvmi)
		}
		return nil, fmt.Errorf("%w: no port of VM %s", ErrNotFound, cvm)
	}
	if s.Describe == nil {
		return ports, nil
	}
	out := make([]Port, 0, len(ports))
	for _, p := range ports {
		d, err := s.Describe(p)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Sync applies every stored port again, in id order, through Apply. The
// agent calls it after a restart; POST /syncports does the same. A port
// Apply refuses stays stored and is reported in the result.
func (s *Server) Sync() SyncResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := SyncResult{Failed: []SyncFailed{}}
	for _, p := range s.Store.AllPorts() {
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

// conflict is a 409 naming the field at fault.
func conflict(field, format string, args ...any) *FieldError {
	return &FieldError{Code: CodeConflict, Field: field, Message: fmt.Sprintf(format, args...)}
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
		switch fe.Code {
		case CodeTooLarge:
			return http.StatusRequestEntityTooLarge, errorDetail{Code: fe.Code, Message: fe.Message}
		case CodeConflict:
			return http.StatusConflict, errorDetail{Code: fe.Code, Field: fe.Field, Message: fe.Message}
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
		if code == CodeInternal {
			code = CodeConflict
		}
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
		if code == CodeInternal {
			code = CodeUnavailable
		}
	case errors.Is(err, ErrNotImplemented):
		code, status = CodeNotImplemented, http.StatusNotImplemented
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
		v, vok := s.Store.GetVM(id)
		if !vok {
			s.writeError(w, r, fmt.Errorf("%w: %s", ErrNotFound, id))
			return
		}
		p = v.Port()
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

func (s *Server) handleLinkState(up bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.SetLinkState(r.PathValue("id"), up)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	}
}

func (s *Server) handleAddVM(w http.ResponseWriter, r *http.Request) {
	v, err := DecodeVMPort(r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err = s.AddVM(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Added != nil {
		s.Added(r.Context(), v.Port())
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleGetVM(w http.ResponseWriter, r *http.Request) {
	ports, err := s.VMPorts(r.PathValue("vm"), r.PathValue("vmi"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ports)
}

func (s *Server) handleDeleteVM(w http.ResponseWriter, r *http.Request) {
	done, err := s.DeleteVM(r.PathValue("vm"), r.PathValue("vmi"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, done)
}

func (s *Server) handleVMConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" || len(name) > maxDisplayNameLen {
		s.writeError(w, r, invalid(FieldVMName, "%q is not a VM name", name))
		return
	}
	if s.VMConfig == nil {
		s.writeError(w, r, fmt.Errorf("%w: VM %q: this server has no config", ErrNotFound, name))
		return
	}
	vmis, err := s.VMConfig(name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, vmis)
}

// handleGateway checks a POST or DELETE /gateway body and answers 501: the
// original's virtual gateway (a host interface that joins a routing
// instance to the underlay for some subnets, with SNAT-free routing) has
// no counterpart in this dataplane yet, and a 200 would claim forwarding
// that does not happen.
func (s *Server) handleGateway(del bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		gws, err := decodeGateways(r.Body, del)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, fmt.Errorf("%w: virtual gateway %q: this agent's Linux dataplane has no virtual-gateway "+
			"(vgw) interfaces; routing-instance access to the fabric is not available through the port API",
			ErrNotImplemented, gws[0].Interface))
	}
}

// IntrospectPorts is an introspect page listing the stored ports, with the
// signature of obs.Introspect.Handle's page functions:
//
//	is.Handle("/ports", "port API ports", srv.IntrospectPorts)
func (s *Server) IntrospectPorts(*http.Request) (any, error) {
	return s.Store.AllPorts(), nil // VM-style ports included
}
