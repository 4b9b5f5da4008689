// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/testutil/apitest"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/pkg/client"
)

// env is a real embedded etcd with a real API server on loopback, and an
// independent config graph that tests read the derived objects from.
type env struct {
	t   testing.TB
	st  *store.Store
	url string
	api *client.Client
	g   *confgraph.Graph
}

func testLogger() *slog.Logger {
	if os.Getenv("TRANSFORMER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st := etcdtest.Start(t)
	_, url := apitest.Start(t, st, apiserver.Config{Registry: prometheus.NewRegistry()})
	e := &env{t: t, st: st, url: url, g: confgraph.New()}
	e.api = client.New(e.url)
	gctx, gcancel := context.WithCancel(context.Background())
	gdone := make(chan struct{})
	go func() { st.Follow(gctx, 0, e.g); close(gdone) }()
	<-e.g.Ready()
	t.Cleanup(func() {
		gcancel()
		<-gdone
	})
	return e
}

// instance is one running transformer.
type instance struct {
	tr     *Transformer
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// start runs a transformer on st (a client of the env's etcd) and stops it
// when the test ends.
func (e *env) start(name string, st *store.Store, opts ...func(*Config)) *instance {
	e.t.Helper()
	if st == nil {
		st = e.st
	}
	reg := prometheus.NewRegistry()
	cfg := Config{
		APIURL: e.url, Store: st, Name: name, Logger: testLogger().With("instance", name), Registry: reg,
		GCGrace: 300 * time.Millisecond, LeaseTTL: 2 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{tr: tr, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() { in.err = tr.Run(ctx); close(in.done) }()
	e.t.Cleanup(in.stop)
	return in
}

func (in *instance) stop() {
	in.cancel()
	select {
	case <-in.done:
	case <-time.After(30 * time.Second):
	}
}

// settle waits until the transformer has nothing left to do and the test's
// graph shows everything in the store.
func (e *env) settle(in *instance) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := in.tr.Settled(ctx); err != nil {
		e.t.Fatalf("transformer did not settle: %v (queue %+v)", err, in.tr.queueState())
	}
	e.catchUp()
}

// catchUp waits until the test's graph shows every committed write.
func (e *env) catchUp() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := e.st.Client.Get(ctx, e.st.Keys.Prefix+"test/rev")
	if err != nil {
		e.t.Fatal(err)
	}
	for e.g.Revision() < resp.Header.Revision {
		_ = e.st.RequestProgress(ctx)
		wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_ = e.g.WaitRev(wctx, resp.Header.Revision)
		wcancel()
		if ctx.Err() != nil {
			e.t.Fatal("test graph did not catch up")
		}
	}
}

// writes returns how many API writes an instance made successfully.
func (in *instance) writes() float64 {
	mfs, err := in.reg.Gather()
	if err != nil {
		return -1
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "contrail_schema_api_writes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "ok" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func (e *env) mustCreate(typ string, body client.Object) string {
	e.t.Helper()
	out, err := e.api.Create(context.Background(), typ, body)
	if err != nil {
		e.t.Fatalf("create %s %v: %v", typ, body["fq_name"], err)
	}
	return out.UUID()
}

func (e *env) uuidOf(typ string, fq ...string) string {
	e.t.Helper()
	u, err := e.api.FQNameToID(context.Background(), typ, fq)
	if err != nil {
		e.t.Fatalf("fqname-to-id %s %v: %v", typ, fq, err)
	}
	return u
}

func fq(s ...string) []string { return s }

func vnBody(name string, extra client.Object) client.Object {
	b := client.Object{"fq_name": fq("default-domain", "test", name), "parent_type": "project"}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func (e *env) project() {
	e.mustCreate("project", client.Object{"fq_name": fq("default-domain", "test"), "parent_type": "domain"})
}

func eventually(t testing.TB, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func clientv3WithPrefixCount() clientv3.OpOption { return clientv3.WithPrefix() }

// proxy is a TCP proxy in front of etcd that a test can cut, to make an
// instance vanish from etcd's view without running any of its shutdown
// code, as a killed process or a partition would.
type proxy struct {
	l     net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newProxy(t testing.TB, to string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, to: to}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.sever)
	return p
}

func (p *proxy) url() string { return "http://" + p.l.Addr().String() }

// sever drops every connection and refuses new ones.
func (p *proxy) sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.l.Close()
	for _, c := range p.conns {
		c.Close()
	}
}
