// SPDX-License-Identifier: Apache-2.0

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultUserAgent is the User-Agent header of requests unless
// WithUserAgent sets another.
const DefaultUserAgent = "contrail-go-client"

// Client talks to one VNC REST API endpoint. It is safe for concurrent
// use; its zero value is not usable, build one with New.
type Client struct {
	base       string // without a trailing slash
	hc         *http.Client
	timeout    time.Duration
	userAgent  string
	header     http.Header
	retries    int
	retryDelay time.Duration
}

// Option configures a Client in New.
type Option func(*Client)

// WithHTTPClient sends requests through hc instead of http.DefaultClient,
// for TLS settings, proxies or a custom transport.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithTimeout bounds every request, retries included, unless the caller's
// context ends sooner. Zero (the default) leaves it to the context.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithHeader adds a header to every request, such as an X-Auth-Token.
func WithHeader(key, value string) Option {
	return func(c *Client) { c.header.Add(key, value) }
}

// WithRetry retries a request that cannot change state (GET, and the
// read-only actions such as fqname-to-id) up to n more times when it
// fails before an answer arrives: connection refused or reset, DNS
// failures and the like. The wait starts at delay and doubles each time.
// HTTP error answers are never retried.
func WithRetry(n int, delay time.Duration) Option {
	return func(c *Client) {
		c.retries = max(n, 0)
		c.retryDelay = delay
	}
}

// New returns a client of the API at baseURL, such as
// "http://127.0.0.1:8082". A path in baseURL is kept as a prefix of every
// request path.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		hc:        http.DefaultClient,
		userAgent: DefaultUserAgent,
		header:    http.Header{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the API address the client was built with, without a
// trailing slash.
func (c *Client) BaseURL() string { return c.base }

// request is one API call.
type request struct {
	method     string
	path       string     // escaped, starting with '/'
	query      url.Values // may be nil
	body       any        // marshalled to JSON unless nil
	idempotent bool       // safe to send again after a connection error
}

// do sends req and decodes a JSON answer into out (unless out is nil). An
// HTTP error answer becomes an *Error.
func (c *Client) do(ctx context.Context, req request, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var payload []byte
	if req.body != nil {
		var err error
		if payload, err = json.Marshal(req.body); err != nil {
			return fmt.Errorf("client: %s %s: encode body: %w", req.method, req.path, err)
		}
	}
	u := c.base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	attempts := 1
	if req.idempotent {
		attempts += c.retries
	}
	delay := c.retryDelay
	var lastErr error
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("client: %s %s: %w (last error: %v)", req.method, req.path, ctx.Err(), lastErr)
			case <-t.C:
			}
			delay *= 2
		}
		resp, err := c.send(ctx, req.method, u, payload)
		if err != nil {
			lastErr = fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
			if ctx.Err() != nil {
				return lastErr
			}
			continue
		}
		return c.finish(req, resp, out)
	}
	return lastErr
}

func (c *Client) send(ctx context.Context, method, u string, payload []byte) (*http.Response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		hr.Header[k] = append([]string(nil), vs...)
	}
	hr.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		hr.Header.Set("User-Agent", c.userAgent)
	}
	if payload != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	return c.hc.Do(hr)
}

// maxErrorBody bounds how much of a non-JSON error answer is kept.
const maxErrorBody = 4096

func (c *Client) finish(req request, resp *http.Response, out any) error {
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeError(req.method, req.path, resp.StatusCode, raw)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("client: %s %s: empty answer", req.method, req.path)
		}
		return fmt.Errorf("client: %s %s: decode answer: %w", req.method, req.path, err)
	}
	return nil
}

// decodeValue decodes raw JSON keeping numbers as json.Number.
func decodeValue(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(out)
}

// typePath returns "/<typ>/<uuid>", escaped.
func typePath(typ, uuid string) string {
	return "/" + url.PathEscape(typ) + "/" + url.PathEscape(uuid)
}

// collectionPath returns "/<typ>s"; every collection of the API is the
// type name with an "s" (even "network-policys").
func collectionPath(typ string) string {
	return "/" + url.PathEscape(typ) + "s"
}

func checkType(typ string) error {
	if typ == "" || strings.ContainsAny(typ, "/?#") {
		return fmt.Errorf("client: invalid resource type %q", typ)
	}
	return nil
}
