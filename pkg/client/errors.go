// SPDX-License-Identifier: Apache-2.0

package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is an error answer of the API server. The server sends
// {"error": {"code": 409, "field": "fq_name", "message": "..."}}; answers
// that are not in that form (from a proxy, say) keep their status code and
// the start of their body as the message.
type Error struct {
	StatusCode int    // HTTP status, such as 404
	Field      string // the request field the error is about, if the server named one
	Message    string // the server's message
	Method     string // the request method
	Path       string // the request path, without the query
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func decodeError(method, path string, status int, raw []byte) *Error {
	e := &Error{StatusCode: status, Method: method, Path: path}
	var body struct {
		Error *struct {
			Code    int    `json:"code"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != nil {
		e.Field = body.Error.Field
		e.Message = body.Error.Message
		return e
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > maxErrorBody {
		msg = strings.ToValidUTF8(msg[:maxErrorBody], "") + "..."
	}
	e.Message = msg
	return e
}

// StatusCode returns the HTTP status of an *Error in err's chain, or 0 if
// there is none (the request did not get an answer).
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports whether err is a 404 answer: unknown uuid, fq-name,
// resource type or key.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409 answer: the fq-name or uuid is
// taken, or the object still has children or back-references.
func IsConflict(err error) bool { return StatusCode(err) == http.StatusConflict }

// IsBadRequest reports whether err is a 400 answer: the request body or a
// parameter is invalid.
func IsBadRequest(err error) bool { return StatusCode(err) == http.StatusBadRequest }

// IsForbidden reports whether err is a 403 answer, such as setting a
// property only the server may set.
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsQuotaExceeded reports whether err is a 412 answer, the status the API
// uses when a project quota is exhausted.
func IsQuotaExceeded(err error) bool { return StatusCode(err) == http.StatusPreconditionFailed }

// IsUnavailable reports whether err is a 503 answer: the server cannot
// reach its store.
func IsUnavailable(err error) bool { return StatusCode(err) == http.StatusServiceUnavailable }
