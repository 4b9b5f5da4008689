// SPDX-License-Identifier: Apache-2.0

package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/store"
)

// Runner runs queries: the Engine in the same process, or Remote for a
// query engine in another process.
type Runner interface {
	Query(ctx context.Context, body []byte) (*Result, error)
	Tables(ctx context.Context) ([]store.Table, error)
	// Check parses and validates a query without running it.
	Check(ctx context.Context, body []byte) error
}

var (
	_ Runner = (*Engine)(nil)
	_ Runner = (*Remote)(nil)
)

// ErrorBody is the JSON of an error answer:
// {"error": {"code": 400, "field": "sourcevnx", "message": "..."}}.
type ErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError writes err as an ErrorBody with its status.
func WriteError(w http.ResponseWriter, err error) {
	var b ErrorBody
	b.Error.Code = StatusOf(err)
	b.Error.Message = err.Error()
	var qe *Error
	if errors.As(err, &qe) {
		b.Error.Field = qe.Field
	}
	if errors.Is(err, context.DeadlineExceeded) {
		b.Error.Code = http.StatusGatewayTimeout
	}
	WriteJSON(w, b.Error.Code, b)
}

// WriteJSON writes v as JSON with a status.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body = []byte(`{"error":{"code":500,"message":"cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
	w.Write([]byte("\n"))
}

// Handler serves the query engine's REST API (contrail query-engine,
// port 8091): POST /query with the query JSON answers {"value": [...]};
// GET /tables lists the table schemas.
func Handler(r Runner) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /query", func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, MaxRequestBytes+1))
		if err != nil {
			WriteError(w, badf("", "reading the query: %v", err))
			return
		}
		res, err := r.Query(req.Context(), body)
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /validate", func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, MaxRequestBytes+1))
		if err == nil {
			err = r.Check(req.Context(), body)
		}
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]bool{"valid": true})
	})
	mux.HandleFunc("GET /tables", func(w http.ResponseWriter, req *http.Request) {
		ts, err := r.Tables(req.Context())
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, ts)
	})
	return mux
}

// Remote is a client of a query engine's REST API.
type Remote struct {
	base   string
	client *http.Client
}

// NewRemote returns a client of the query engine at baseURL
// (e.g. "http://127.0.0.1:8091"); client may be nil.
func NewRemote(baseURL string, client *http.Client) *Remote {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	return &Remote{base: strings.TrimRight(baseURL, "/"), client: client}
}

func (r *Remote) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return &Error{Code: http.StatusServiceUnavailable, Message: fmt.Sprintf("query engine unreachable: %v", err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return &Error{Code: http.StatusBadGateway, Message: fmt.Sprintf("query engine: %v", err)}
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return &Error{Code: resp.StatusCode, Field: eb.Error.Field, Message: eb.Error.Message}
		}
		return &Error{Code: http.StatusBadGateway, Message: fmt.Sprintf("query engine answered %s", resp.Status)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return &Error{Code: http.StatusBadGateway, Message: fmt.Sprintf("query engine answer: %v", err)}
	}
	return nil
}

// Check implements Runner.
func (r *Remote) Check(ctx context.Context, body []byte) error {
	var ok map[string]bool
	return r.do(ctx, http.MethodPost, "/validate", body, &ok)
}

// Query implements Runner.
func (r *Remote) Query(ctx context.Context, body []byte) (*Result, error) {
	var res Result
	if err := r.do(ctx, http.MethodPost, "/query", body, &res); err != nil {
		return nil, err
	}
	for _, row := range res.Rows {
		for k, v := range row {
			if n, ok := v.(json.Number); ok {
				if i, err := n.Int64(); err == nil {
					row[k] = i
				} else if f, err := n.Float64(); err == nil {
					row[k] = f
				}
			}
		}
	}
	if res.Rows == nil {
		res.Rows = []map[string]any{}
	}
	return &res, nil
}

// Tables implements Runner.
func (r *Remote) Tables(ctx context.Context) ([]store.Table, error) {
	var ts []store.Table
	if err := r.do(ctx, http.MethodGet, "/tables", nil, &ts); err != nil {
		return nil, err
	}
	return ts, nil
}
