// SPDX-License-Identifier: Apache-2.0

// Package e2e runs the built contrail binary as real processes on loopback.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "contrail-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "contrail")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/contrail")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build contrail:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is one running contrail daemon.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs `contrail args...` and waits until url answers.
func start(t testing.TB, url string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(binary, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("contrail %v exited: %v\n%s", args, err, p.out)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("contrail %v did not answer on %s\n%s", args, url, p.out)
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(15 * time.Second):
		p.kill()
		return fmt.Errorf("no exit after SIGTERM")
	}
}

// apiArgs are the arguments of an API server with its own embedded etcd.
type node struct {
	dir                       string
	api, introspect, etcd, pr int
	xmpp, ctlIntro            int
	// Analytics node of all-in-one: Sandesh, collector introspect,
	// analytics API, its introspect.
	collector, colIntro, analytics, anIntro int
}

func newNode(t testing.TB) *node {
	return &node{dir: t.TempDir(), api: freePort(t), introspect: freePort(t), etcd: freePort(t), pr: freePort(t)}
}

func (n *node) args(cmd string) []string {
	var extra []string
	if cmd == "all-in-one" {
		n.xmpp, n.ctlIntro = freePortNoT(), freePortNoT()
		n.collector, n.colIntro, n.analytics, n.anIntro = freePortNoT(), freePortNoT(), freePortNoT(), freePortNoT()
		extra = []string{"--xmpp-listen", "127.0.0.1:" + strconv.Itoa(n.xmpp),
			"--control-introspect", "127.0.0.1:" + strconv.Itoa(n.ctlIntro),
			"--collector-listen", "127.0.0.1:" + strconv.Itoa(n.collector),
			"--collector-introspect", "127.0.0.1:" + strconv.Itoa(n.colIntro),
			"--analytics-listen", "127.0.0.1:" + strconv.Itoa(n.analytics),
			"--analytics-introspect", "127.0.0.1:" + strconv.Itoa(n.anIntro)}
	}
	return append([]string{cmd,
		"--data-dir", n.dir,
		"--listen", "127.0.0.1:" + strconv.Itoa(n.api),
		"--introspect", "127.0.0.1:" + strconv.Itoa(n.introspect),
		"--etcd-listen", "http://127.0.0.1:" + strconv.Itoa(n.etcd),
		"--etcd-peer-listen", "http://127.0.0.1:" + strconv.Itoa(n.pr),
		"--log-level", "warn",
	}, extra...)
}

func freePortNoT() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (n *node) url() string { return "http://127.0.0.1:" + strconv.Itoa(n.api) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
