// SPDX-License-Identifier: Apache-2.0

package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contrail-go/contrail/pkg/client"
)

// flaky fails its first n round trips as a refused connection would.
type flaky struct {
	n     atomic.Int32
	calls atomic.Int32
	next  http.RoundTripper
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return nil, errors.New("connect: connection refused")
	}
	return f.next.RoundTrip(r)
}

func TestRetryIdempotentOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/virtual-network/1":
			io.WriteString(w, `{"virtual-network": {"uuid": "1"}}`)
		case "/fqname-to-id":
			io.WriteString(w, `{"uuid": "2"}`)
		default:
			io.WriteString(w, `{"virtual-network": {"uuid": "3"}}`)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	tr := &flaky{next: http.DefaultTransport}
	c := client.New(srv.URL, client.WithHTTPClient(&http.Client{Transport: tr}), client.WithRetry(3, time.Millisecond))

	tr.n.Store(2)
	obj, err := c.Read(ctx, "virtual-network", "1")
	if err != nil || obj.UUID() != "1" || tr.calls.Load() != 3 {
		t.Errorf("GET after 2 failures: %v %v, %d calls", obj, err, tr.calls.Load())
	}

	tr.calls.Store(0)
	tr.n.Store(1)
	if id, err := c.FQNameToID(ctx, "virtual-network", []string{"a"}); err != nil || id != "2" || tr.calls.Load() != 2 {
		t.Errorf("fqname-to-id after a failure: %q %v, %d calls", id, err, tr.calls.Load())
	}

	tr.calls.Store(0)
	tr.n.Store(1)
	_, err = c.Create(ctx, "virtual-network", client.Object{})
	if err == nil || tr.calls.Load() != 1 {
		t.Errorf("POST create was retried or did not fail: %v, %d calls", err, tr.calls.Load())
	}
	if client.StatusCode(err) != 0 {
		t.Errorf("a connection error has status %d", client.StatusCode(err))
	}

	tr.calls.Store(0)
	tr.n.Store(10)
	if _, err := c.Read(ctx, "virtual-network", "1"); err == nil || tr.calls.Load() != 4 {
		t.Errorf("GET with too many failures: %v, %d calls, want 4", err, tr.calls.Load())
	}

	// Without WithRetry there is one attempt.
	tr.calls.Store(0)
	tr.n.Store(1)
	c0 := client.New(srv.URL, client.WithHTTPClient(&http.Client{Transport: tr}))
	if _, err := c0.Read(ctx, "virtual-network", "1"); err == nil || tr.calls.Load() != 1 {
		t.Errorf("no retry configured: %v, %d calls", err, tr.calls.Load())
	}
}

func TestHeadersAndTimeout(t *testing.T) {
	var ua, token, ctype atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		token.Store(r.Header.Get("X-Auth-Token"))
		ctype.Store(r.Header.Get("Content-Type"))
		if r.URL.Path == "/slow/1" {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	ctx := context.Background()
	c := client.New(srv.URL+"/", client.WithUserAgent("ctl/1"), client.WithHeader("X-Auth-Token", "secret"),
		client.WithTimeout(100*time.Millisecond))
	if c.BaseURL() != srv.URL {
		t.Errorf("BaseURL = %q", c.BaseURL())
	}
	if err := c.Update(ctx, "virtual-network", "1", client.Object{"display_name": "x"}); err != nil {
		t.Fatal(err)
	}
	if ua.Load() != "ctl/1" || token.Load() != "secret" || ctype.Load() != "application/json" {
		t.Errorf("headers: ua %v token %v content-type %v", ua.Load(), token.Load(), ctype.Load())
	}
	start := time.Now()
	_, err := c.Read(ctx, "slow", "1")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("slow read: %v after %v, want a deadline error after 100ms", err, time.Since(start))
	}
	// A missing object in an otherwise fine answer.
	if _, err := c.Read(ctx, "virtual-network", "1"); err == nil || !strings.Contains(err.Error(), "no \"virtual-network\" object") {
		t.Errorf("answer without the object: %v", err)
	}
}

func TestErrorAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/virtual-network/json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(409)
			io.WriteString(w, `{"error":{"code":409,"field":"fq_name","message":"fq_name: virtual-network a:b already exists with uuid: 1"}}`)
		case "/virtual-network/html":
			w.WriteHeader(502)
			io.WriteString(w, "<html>bad gateway</html>\n")
		case "/virtual-network/quota":
			w.WriteHeader(412)
			io.WriteString(w, `{"error":{"code":412,"message":"quota exceeded"}}`)
		default:
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := client.New(srv.URL)

	_, err := c.Read(ctx, "virtual-network", "json")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v", err, err)
	}
	want := client.Error{StatusCode: 409, Field: "fq_name", Message: "fq_name: virtual-network a:b already exists with uuid: 1",
		Method: "GET", Path: "/virtual-network/json"}
	if *e != want {
		t.Errorf("error = %+v, want %+v", *e, want)
	}
	if got := e.Error(); got != "GET /virtual-network/json: 409 Conflict: fq_name: virtual-network a:b already exists with uuid: 1" {
		t.Errorf("Error() = %q", got)
	}

	_, err = c.Read(ctx, "virtual-network", "html")
	if client.StatusCode(err) != 502 || !strings.Contains(err.Error(), "<html>bad gateway</html>") {
		t.Errorf("non-JSON error: %v", err)
	}
	if _, err := c.Read(ctx, "virtual-network", "quota"); !client.IsQuotaExceeded(err) {
		t.Errorf("412: %v", err)
	}
	err = c.Delete(ctx, "virtual-network", "other")
	if !client.IsUnavailable(err) || err.Error() != "DELETE /virtual-network/other: 503 Service Unavailable" {
		t.Errorf("503 without body: %q", err)
	}
	if client.IsNotFound(nil) || client.StatusCode(errors.New("x")) != 0 {
		t.Error("helpers on non-API errors")
	}
}
