// SPDX-License-Identifier: Apache-2.0

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/contrail-go/contrail/internal/analytics/query"
	"github.com/contrail-go/contrail/internal/analytics/uve"
)

// ackRequest is the body of POST /analytics/alarms/acknowledge.
type ackRequest struct {
	Table string // UVE type ("vrouter"), or its object table ("ObjectVRouter")
	Name  string // UVE key
	Type  string // alarm type
	Token string // the token of the alarm instance acknowledged
}

// ackFieldError is a bad body; Field names the offending field.
type ackFieldError struct {
	Field, Msg string
}

func (e *ackFieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// parseAck reads {"table", "name", "type", "token"}: a JSON object whose
// four fields are non-empty strings; other fields are ignored.
func parseAck(data []byte) (ackRequest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		msg := "body must be a JSON object {\"table\", \"name\", \"type\", \"token\"}"
		if err != nil {
			msg += ": " + err.Error()
		}
		return ackRequest{}, &ackFieldError{Msg: msg}
	}
	var req ackRequest
	for _, f := range []struct {
		name string
		dst  *string
	}{{"table", &req.Table}, {"name", &req.Name}, {"type", &req.Type}, {"token", &req.Token}} {
		v, ok := raw[f.name]
		if !ok {
			return ackRequest{}, &ackFieldError{f.name, "missing"}
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return ackRequest{}, &ackFieldError{f.name, "must be a string"}
		}
		if *f.dst == "" {
			return ackRequest{}, &ackFieldError{f.name, "must not be empty"}
		}
	}
	return req, nil
}

// acknowledge serves POST /analytics/alarms/acknowledge: it sets ack on
// the current instance of the alarm type raised on UVE table:name if
// token is that instance's (400 otherwise; 404 if no such alarm is
// raised).
func (s *Server) acknowledge(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "", "reading body: "+err.Error())
		return
	}
	req, err := parseAck(data)
	if err != nil {
		var fe *ackFieldError
		errors.As(err, &fe)
		writeErr(w, http.StatusBadRequest, fe.Field, err.Error())
		return
	}
	typ := uve.TypeOf(req.Table)
	k := instKey{UVEType: typ, Name: req.Name, Alarm: req.Type}
	if s.cfg.Alarms == nil || s.cfg.UVEs == nil {
		writeErr(w, http.StatusNotFound, "type", "no alarm "+k.String()+": no alarms configured")
		return
	}
	alarms, err := s.loadAlarms(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "", "alarms: "+err.Error())
		return
	}
	// Evaluate the UVE now, so that the instance acknowledged is the
	// current one (a cleared alarm has none).
	if _, err := s.alarmsOfUVE(r.Context(), alarms, typ, req.Name); err != nil {
		writeErr(w, http.StatusServiceUnavailable, "", "UVE source: "+err.Error())
		return
	}
	switch err := s.book.ack(k, req.Token); {
	case errors.Is(err, errNoAlarm):
		writeErr(w, http.StatusNotFound, "type", fmt.Sprintf("no alarm %s raised", k))
	case errors.Is(err, errBadToken):
		writeErr(w, http.StatusBadRequest, "token", fmt.Sprintf("alarm %s: %v", k, err))
	case err != nil:
		writeErr(w, http.StatusInternalServerError, "", err.Error())
	default:
		query.WriteJSON(w, http.StatusOK, map[string]any{})
	}
}
