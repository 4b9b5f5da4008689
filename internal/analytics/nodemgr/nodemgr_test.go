// SPDX-License-Identifier: Apache-2.0

package nodemgr

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/analytics/collector"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

const childEnv = "NODEMGR_TEST_CHILD"

// TestMain doubles as the watched process: started again with childEnv
// set and argv "contrail <subcommand>", it only waits to be killed. So
// the process the nodemgr finds is a real one, found through /proc by
// its command line, exactly as `contrail control` would be.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs the test binary as `contrail <sub>`.
func startChild(t *testing.T, sub string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: []string{"contrail", sub, "--listen", "127.0.0.1:0"}, Env: append(os.Environ(), childEnv+"=1")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func findInfo(ns NodeStatus, name string) ProcessInfo {
	for _, p := range ns.ProcessInfo {
		if p.ProcessName == name {
			return p
		}
	}
	return ProcessInfo{}
}

func waitState(t *testing.T, m *Manager, name, state string) ProcessInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := findInfo(m.Scan(), name)
		if p.ProcessState == state {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %s, want %s", name, p.ProcessState, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProcessLifecycle(t *testing.T) {
	// A subcommand name of its own, so that real contrail daemons on this
	// machine do not disturb the counts.
	sub := fmt.Sprintf("nodemgr-test-%d", os.Getpid())
	name := "contrail-" + sub
	cores := t.TempDir()
	m := New(Config{Kind: NodeKind{NodeType: "Control", Module: "contrail-control-nodemgr", Table: "ObjectBgpRouter",
		Subcommands: []string{sub}}, Hostname: "node1", CoreDir: cores})

	ns := m.Scan()
	if p := findInfo(ns, name); p.ProcessState != StateStopped || p.StartCount != 0 {
		t.Fatalf("before start: %+v", p)
	}
	if !strings.Contains(ns.Description, name) {
		t.Fatalf("description %q", ns.Description)
	}

	cmd := startChild(t, sub)
	p := waitState(t, m, name, StateRunning)
	if p.StartCount != 1 || p.LastStartTime == "" {
		t.Fatalf("running: %+v", p)
	}
	ns = m.Last()
	if u, ok := ns.ProcessMemCPUUsage[name+":0"]; !ok || u.MemRes == 0 || u.MemVirt == 0 {
		t.Fatalf("mem/cpu: %+v", ns.ProcessMemCPUUsage)
	}
	if ns.Description != "" {
		t.Fatalf("description %q with everything running", ns.Description)
	}

	cmd.Process.Signal(syscall.SIGSTOP)
	p = waitState(t, m, name, StateStopped)
	if p.StopCount != 1 {
		t.Fatalf("stopped: %+v", p)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	waitState(t, m, name, StateRunning)

	cmd.Process.Kill()
	cmd.Wait()
	p = waitState(t, m, name, StateExited)
	if p.ExitCount != 1 || p.LastExitTime == "" {
		t.Fatalf("exited: %+v", p)
	}

	// A restart counts as a second start; a core file shows up.
	core := filepath.Join(cores, "core."+name+".4242")
	os.WriteFile(core, []byte("x"), 0o644)
	os.WriteFile(filepath.Join(cores, "core.other.1"), []byte("x"), 0o644)
	startChild(t, sub)
	p = waitState(t, m, name, StateRunning)
	if p.StartCount != 2 || len(p.CoreFileList) != 1 || p.CoreFileList[0] != core {
		t.Fatalf("restarted: %+v", p)
	}
	if len(m.Last().AllCoreFileList) != 2 {
		t.Fatalf("all cores %v", m.Last().AllCoreFileList)
	}
	ns = m.Last()
	if ns.SystemMemUsage.Total == 0 || ns.SystemCPUInfo.NumCPU == 0 || ns.SystemMemUsage.NodeType != "control" {
		t.Fatalf("resources: %+v %+v", ns.SystemMemUsage, ns.SystemCPUInfo)
	}
}

// sink is an in-memory store.Writer.
type sink struct {
	mu   sync.Mutex
	rows []store.Row
}

func (s *sink) Write(_ context.Context, rows []store.Row) error {
	s.mu.Lock()
	s.rows = append(s.rows, rows...)
	s.mu.Unlock()
	return nil
}

func (s *sink) tables() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, r := range s.rows {
		out[r.Table]++
	}
	return out
}

// TestReportToCollector: the nodemgr's NodeStatus reaches a collector
// through the generator library, merged with the nodemgr's own
// process_status, and its tagged attributes become stat rows.
func TestReportToCollector(t *testing.T) {
	w := &sink{}
	c, err := collector.New(collector.Config{Listen: "127.0.0.1:0", Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	c.Listen()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cdone := make(chan struct{})
	go func() { c.Start(ctx); close(cdone) }()
	defer func() { cancel(); <-cdone }()

	sub := fmt.Sprintf("nodemgr-report-%d", os.Getpid())
	kind := NodeKind{NodeType: "Control", Module: "contrail-control-nodemgr", Table: "ObjectBgpRouter", Subcommands: []string{sub}}
	g := generator.New(generator.Config{Collectors: []string{c.Addr().String()}, Source: "node1", Module: kind.Module,
		NodeType: kind.NodeType, NodeStatusTable: kind.Table, MinBackoff: 20 * time.Millisecond, StatsInterval: -1})
	gctx, gcancel := context.WithCancel(ctx)
	gdone := make(chan struct{})
	go func() { g.Start(gctx); close(gdone) }()
	defer func() { gcancel(); <-gdone }()

	startChild(t, sub)
	m := New(Config{Kind: kind, Hostname: "node1", CoreDir: t.TempDir(), Interval: 50 * time.Millisecond, Generator: g})
	mctx, mcancel := context.WithCancel(ctx)
	mdone := make(chan struct{})
	go func() { m.Run(mctx); close(mdone) }()
	defer func() { mcancel(); <-mdone }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok, _ := c.UVEs().Get(ctx, "control-node", "node1", uve.Filter{Flat: true})
		if ok {
			s := fmt.Sprint(v["NodeStatus"])
			if strings.Contains(s, StateRunning) && strings.Contains(s, "contrail-"+sub) && strings.Contains(s, "Functional") &&
				w.tables()["StatTable.NodeStatus.system_mem_usage"] > 0 && w.tables()["StatTable.NodeStatus.process_mem_cpu_usage"] > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("NodeStatus at the collector: %v (rows %v)", v, w.tables())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
