// SPDX-License-Identifier: Apache-2.0

package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Go's HTTP server answers 417 to any "Expect" other than 100-continue
// before a handler runs, but the original's clients ask for asynchronous
// queries with "Expect: 202-accepted". Listener renames that header, in
// place and with the same length, to X-Expt, which the handler reads.
// The header must arrive within one read of the connection, which is the
// case for the request head of any ordinary client.

// Listener wraps l for the analytics API (see above).
func Listener(l net.Listener) net.Listener { return expectListener{l} }

type expectListener struct{ net.Listener }

func (l expectListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &expectConn{Conn: c}, nil
}

type expectConn struct{ net.Conn }

func (c *expectConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		renameExpect(p[:n])
	}
	return n, err
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func hasPrefixFold(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// renameExpect turns "\r\nExpect: 202-accepted" into "\r\nX-Expt: 202-accepted".
func renameExpect(b []byte) {
	for i := 0; i+2+len("expect:") <= len(b); i++ {
		if b[i] != '\r' || b[i+1] != '\n' || !hasPrefixFold(b[i+2:], "expect:") {
			continue
		}
		j := i + 2 + len("expect:")
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if hasPrefixFold(b[j:], "202-accepted") {
			copy(b[i+2:], asyncHeader)
		}
	}
}

// serveCtxKey is the request context key of the context ListenAndServe
// serves in.
type serveCtxKey struct{}

// ListenAndServe serves h (the analytics API) on addr until ctx ends.
// ready, if not nil, gets the bound address.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, ready func(net.Addr)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(l.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		// Requests see ctx end (streams stop at shutdown), and a Server
		// finds ctx to Run its alarm evaluation in.
		BaseContext: func(net.Listener) context.Context { return context.WithValue(ctx, serveCtxKey{}, ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(Listener(l)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return ctx.Err()
	}
}
