// SPDX-License-Identifier: Apache-2.0

package generator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/sandesh"
)

// TestNeverBlocks: with no collector reachable, logs beyond the queue are
// dropped and counted, the caller is never blocked, UVEs are all kept.
func TestNeverBlocks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	g := New(Config{Collectors: []string{addr}, Source: "h", Module: "contrail-api", QueueSize: 100,
		MinBackoff: 10 * time.Millisecond, StatsInterval: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	for i := 0; i < 10000; i++ {
		g.Log(sandesh.LevelInfo, "c", "L", map[string]any{"i": i})
	}
	for i := 0; i < 500; i++ {
		g.UVE("ObjectVNTable", string(rune('a'+i%26))+string(rune('a'+i/26)), "S", map[string]any{"i": i}, false)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("calls took %v", el)
	}
	st := g.Stats()
	if st.DroppedQueueFull != 10000-100 || st.QueueLen != 100 || st.Connected {
		t.Fatalf("stats %+v", st)
	}
	// 500 UVEs plus the NodeStatus of the process itself.
	if st.UVEs != 501 {
		t.Fatalf("UVEs kept: %d", st.UVEs)
	}
	if err := g.Start(ctx); err == nil {
		t.Fatal("second Start accepted")
	}
}

func TestProcessStatus(t *testing.T) {
	g := New(Config{Source: "h", Module: "contrail-control"})
	if g.Config().NodeType != "Control" || g.Config().NodeStatusTable != "ObjectBgpRouter" || g.Name() != "h:Control:contrail-control:0" {
		t.Fatalf("defaults %+v", g.Config())
	}
	g.SetConnection(ConnectionInfo{Type: "XMPP", Name: "agent1", Status: StatusUp})
	if ps := g.ProcessStatus(); ps.State != StateFunctional || len(ps.ConnectionInfos) != 1 {
		t.Fatalf("%+v", ps)
	}
	g.SetConnection(ConnectionInfo{Type: "Database", Name: "etcd", ServerAddrs: []string{"e:2379"}, Status: StatusDown})
	ps := g.ProcessStatus()
	if ps.State != StateNonFunctional || ps.Description != "Database:etcd connection down" || ps.ConnectionInfos[0].Type != "Database" {
		t.Fatalf("%+v", ps)
	}
	g.RemoveConnection("Database", "etcd")
	if ps := g.ProcessStatus(); ps.State != StateFunctional {
		t.Fatalf("%+v", ps)
	}
	// The NodeStatus UVE carries process_status as a union list of
	// ProcessStatus/ConnectionInfo structs.
	g.mu.Lock()
	e := g.uves[uveID{"ObjectBgpRouter", "h", "NodeStatus"}]
	g.mu.Unlock()
	if e == nil || len(e.fields) != 1 || e.fields[0].Name != "process_status" {
		t.Fatalf("NodeStatus fields %+v", e)
	}
	f := e.fields[0]
	if a, _ := f.Attr("aggtype"); a != "union" || f.List.Items[0].Struct.Name != "ProcessStatus" ||
		f.List.Items[0].Struct.Field("connection_infos").List.Items[0].Struct.Name != "ConnectionInfo" {
		t.Fatalf("process_status %+v", f)
	}
}

func TestNodeTypes(t *testing.T) {
	for mod, want := range map[string]string{
		"contrail-api": "Config", "contrail-schema": "Config", "contrail-control": "Control",
		"contrail-vrouter-agent": "Compute", "contrail-collector": "Analytics", "contrail-query-engine": "Database",
		"contrail-vrouter-nodemgr": "Compute", "contrail-analytics-nodemgr": "Analytics",
	} {
		if got := NodeTypeOfModule(mod); got != want {
			t.Errorf("%s: %s want %s", mod, got, want)
		}
	}
}

type testPages map[string]func(*http.Request) (any, error)

func (p testPages) Handle(path, _ string, fn func(*http.Request) (any, error)) { p[path] = fn }

func TestIntrospect(t *testing.T) {
	g := New(Config{Source: "h", Module: "contrail-api", Collectors: []string{"10.0.0.1:8086"}})
	g.UVE("ObjectConfigNode", "h", "ConfigState", map[string]any{"x": 1}, false)
	g.SetConnection(ConnectionInfo{Type: "Database", Name: "etcd", Status: StatusUp})
	p := testPages{}
	g.RegisterIntrospect(p)
	get := func(path, query string) any {
		r := httptest.NewRequest(http.MethodGet, path+query, nil)
		v, err := p[path](r)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	uves := get("/Snh_SandeshUVECacheReq", "?tname=NodeStatus").([]UVEInfo)
	if len(uves) != 1 || uves[0].Table != "ObjectConfigNode" || uves[0].Data["process_status"] == nil {
		t.Fatalf("NodeStatus cache: %+v", uves)
	}
	if all := get("/Snh_SandeshUVECacheReq", "").([]UVEInfo); len(all) != 2 {
		t.Fatalf("all UVEs: %+v", all)
	}
	if s := fmt.Sprint(get("/Snh_SandeshUVETypesReq", "")); s != "[{ConfigState 1} {NodeStatus 1}]" {
		t.Fatalf("types: %s", s)
	}
	if s := fmt.Sprint(get("/Snh_CollectorInfoRequest", "")); s != "{ 0 Idle [10.0.0.1:8086]}" {
		t.Fatalf("collector info: %s", s)
	}
	if _, ok := get("/Snh_SandeshMessageStatsReq", "").(Stats); !ok {
		t.Fatal("stats page")
	}
}
