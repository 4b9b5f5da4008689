// SPDX-License-Identifier: Apache-2.0

package redisuve

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contrail-go/contrail/internal/analytics/collector"
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/analytics/uve"
	"github.com/contrail-go/contrail/internal/sandesh"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// startRedis runs a private redis-server on a free loopback port.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (scripts/install-deps.sh installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	rdb := NewClient(fmt.Sprintf("127.0.0.1:%d", port), "")
	t.Cleanup(func() { rdb.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rdb
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestMirror: what the Writer stores, Source reads back and aggregates
// exactly as the collector's in-memory cache does.
func TestMirror(t *testing.T) {
	rdb := startRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := NewWriter(rdb, 0, nil)
	go w.Start(ctx)
	src := NewSource(rdb)
	cache := uve.NewCache()

	o1 := uve.Origin{Source: "h1", NodeType: "Compute", Module: "contrail-vrouter-agent", InstanceID: "0"}
	o2 := uve.Origin{Source: "h2", NodeType: "Compute", Module: "contrail-vrouter-agent", InstanceID: "0"}
	union := sandesh.Attr{Name: "aggtype", Value: "union"}
	sum := sandesh.Attr{Name: "aggtype", Value: "sum"}
	apply := func(o uve.Origin, key string, attrs []sandesh.Field, ts int64) {
		cache.Update(o, "ObjectVNTable", key, "UveVirtualNetworkAgent", attrs, ts)
		w.Update(o, "ObjectVNTable", key, "UveVirtualNetworkAgent", attrs, ts)
	}
	apply(o1, "default-domain:p:vn1", []sandesh.Field{
		sandesh.F("interface_list", 4, sandesh.StringList("a", "b"), union),
		sandesh.F("ingress_flow_count", 24, sandesh.U32(3), sum),
		sandesh.F("mode", 30, sandesh.String("x<&>")),
	}, 10)
	apply(o2, "default-domain:p:vn1", []sandesh.Field{
		sandesh.F("interface_list", 4, sandesh.StringList("c"), union),
		sandesh.F("ingress_flow_count", 24, sandesh.U32(4), sum),
		sandesh.F("mode", 30, sandesh.String("y")),
	}, 20)
	apply(o2, "default-domain:p:vn2", []sandesh.Field{sandesh.F("mode", 30, sandesh.String("z"))}, 30)

	for _, f := range []uve.Filter{{Flat: true}, {}, {SFilt: "h2", Flat: true}, {CFilt: []string{"UveVirtualNetworkAgent:mode"}}} {
		want, _, _ := cache.Get(ctx, "virtual-network", "default-domain:p:vn1", f)
		eventually(t, fmt.Sprintf("redis view with %+v", f), func() bool {
			got, _, err := src.Get(ctx, "virtual-network", "default-domain:p:vn1", f)
			return err == nil && js(got) == js(want)
		})
	}
	keys, err := src.Keys(ctx, "virtual-network", uve.Filter{SFilt: "h2"})
	if err != nil || js(keys) != `["default-domain:p:vn1","default-domain:p:vn2"]` {
		t.Fatalf("keys %v %v", keys, err)
	}
	if ty, _ := src.Types(ctx); js(ty) != `["virtual-network"]` {
		t.Fatalf("types %v", ty)
	}

	w.Delete(o1, "ObjectVNTable", "default-domain:p:vn1", "UveVirtualNetworkAgent")
	eventually(t, "delete", func() bool {
		got, _, _ := src.Get(ctx, "virtual-network", "default-domain:p:vn1", uve.Filter{Flat: true})
		return js(got["UveVirtualNetworkAgent"].(map[string]any)["mode"]) == `"y"`
	})
	w.WithdrawOrigin(o2)
	eventually(t, "withdrawal", func() bool {
		k, _ := src.Keys(ctx, "virtual-network", uve.Filter{})
		left, _ := rdb.Keys(ctx, "*").Result()
		// h1 deleted its UVE but is still a generator: its TYPES set and
		// NGENERATORS membership stay; no value, origin or table is left.
		sort.Strings(left)
		return len(k) == 0 && js(left) == `["NGENERATORS","TYPES:h1:Compute:contrail-vrouter-agent:0"]`
	})
	if q, e := w.Dropped(); q != 0 || e != 0 {
		t.Fatalf("dropped %d, errors %d", q, e)
	}
}

type nopWriter struct{}

func (nopWriter) Write(context.Context, []store.Row) error { return nil }

// TestCollectorToRedis: a collector with the Writer as its UVE sink; a
// generator's UVE appears in Redis and goes when the generator does.
func TestCollectorToRedis(t *testing.T) {
	rdb := startRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := NewWriter(rdb, 0, nil)
	go w.Start(ctx)
	c, err := collector.New(collector.Config{Listen: "127.0.0.1:0", Writer: nopWriter{}, UVESink: w})
	if err != nil {
		t.Fatal(err)
	}
	c.Listen()
	cdone := make(chan struct{})
	go func() { c.Start(ctx); close(cdone) }()
	defer func() { cancel(); <-cdone }()

	g := generator.New(generator.Config{Collectors: []string{c.Addr().String()}, Source: "cn1", Module: "contrail-control",
		MinBackoff: 20 * time.Millisecond, StatsInterval: -1})
	gctx, gcancel := context.WithCancel(ctx)
	gdone := make(chan struct{})
	go func() { g.Start(gctx); close(gdone) }()
	g.UVE("control-node", "cn1", "BgpRouterState", map[string]any{"num_bgp_peer": uint32(4)}, false)
	src := NewSource(rdb)
	eventually(t, "UVE in redis", func() bool {
		v, ok, _ := src.Get(ctx, "control-node", "cn1", uve.Filter{Flat: true, CFilt: []string{"BgpRouterState"}})
		return ok && js(v["BgpRouterState"].(map[string]any)["num_bgp_peer"]) == "4"
	})
	gcancel()
	<-gdone
	eventually(t, "withdrawn from redis", func() bool {
		_, ok, _ := src.Get(ctx, "control-node", "cn1", uve.Filter{})
		return !ok
	})
}
