// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Kinds of API errors. Handlers return errors of these kinds and the one
// table in httpStatus maps them to HTTP status codes.
var (
	ErrBadRequest  = errors.New("bad request")
	ErrForbidden   = errors.New("forbidden")
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrQuota       = errors.New("quota exceeded")
	ErrTooLarge    = errors.New("request body too large")
	ErrUnavailable = errors.New("store unavailable")
	ErrNotModified = errors.New("not modified")
	ErrMethod      = errors.New("method not allowed")
	ErrUnsupported = errors.New("unsupported media type")
	ErrFenced      = errors.New("fencing token no longer valid")
	errRetryTxn    = errors.New("apiserver: transaction lost a race, retry")
)

// Error is an API error: a kind, the field it is about (if any) and a message.
type Error struct {
	Kind  error
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

func apiErr(kind error, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(field, format string, args ...any) *Error {
	return apiErr(ErrBadRequest, field, format, args...)
}

func notFound(field, format string, args ...any) *Error {
	return apiErr(ErrNotFound, field, format, args...)
}

func conflict(field, format string, args ...any) *Error {
	return apiErr(ErrConflict, field, format, args...)
}

func forbidden(field, format string, args ...any) *Error {
	return apiErr(ErrForbidden, field, format, args...)
}

var statusTable = []struct {
	kind   error
	status int
}{
	{ErrBadRequest, http.StatusBadRequest},
	{ErrForbidden, http.StatusForbidden},
	{ErrNotFound, http.StatusNotFound},
	{ErrConflict, http.StatusConflict},
	{ErrQuota, http.StatusPreconditionFailed}, // the original's QUOTA_OVER_ERROR_CODE
	{ErrTooLarge, http.StatusRequestEntityTooLarge},
	{ErrUnavailable, http.StatusServiceUnavailable},
	{ErrNotModified, http.StatusNotModified},
	{ErrMethod, http.StatusMethodNotAllowed},
	{ErrUnsupported, http.StatusUnsupportedMediaType},
	{ErrFenced, http.StatusPreconditionFailed},
}

func httpStatus(err error) int {
	for _, e := range statusTable {
		if errors.Is(err, e.kind) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	status := httpStatus(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	var b errorBody
	b.Error.Code = status
	var ae *Error
	if errors.As(err, &ae) {
		b.Error.Field = ae.Field
		b.Error.Message = ae.Error()
	} else {
		b.Error.Message = err.Error()
	}
	out, _ := json.Marshal(&b)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(out)
}
