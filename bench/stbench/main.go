// SPDX-License-Identifier: Apache-2.0

// Command stbench measures the schema transformer on an embedded etcd and
// an in-process API server, with the load of its issue: N networks
// (default 1,000), P policies (500) that each connect two of them, and G
// security groups (1,000) whose rules name other groups.
//
// It prints three times:
//
//   - live: the transformer runs while the objects are created; from the
//     moment the last create returns until every derived object is in the
//     store (checked on an independent config graph, not the
//     transformer's own view);
//   - restart: a new transformer process state on the same store, with
//     every derived object in place; until it has checked everything and
//     settled, and how many writes it made (must be 0);
//   - cold: a second store loaded with no transformer running, then a
//     transformer started; until every derived object is in the store.
//
// go run ./bench/stbench [-networks 1000] [-policies 500] [-groups 1000] [-workers 2]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/store"
	"github.com/contrail-go/contrail/internal/transformer"
	"github.com/contrail-go/contrail/pkg/client"
)

var (
	nNets     = flag.Int("networks", 1000, "virtual networks")
	nPolicies = flag.Int("policies", 500, "network policies; policy i connects networks 2i and 2i+1")
	nGroups   = flag.Int("groups", 1000, "security groups; group i admits ssh from group i-1")
	workers   = flag.Int("workers", transformer.DefaultWorkers, "transformer workers")
	loaders   = flag.Int("loaders", 16, "concurrent clients creating the objects")
	phases    = flag.String("phases", "live,restart,cold", "which measurements to run")
	verbose   = flag.Bool("v", false, "log the transformer at info level")
)

const project = "bench"

func main() {
	flag.Parse()
	if *nPolicies*2 > *nNets {
		log.Fatalf("%d policies need %d networks", *nPolicies, *nPolicies*2)
	}
	fmt.Printf("stbench: GOMAXPROCS=%d, %d networks, %d policies, %d security groups, %d workers\n",
		runtime.GOMAXPROCS(0), *nNets, *nPolicies, *nGroups, *workers)
	want := map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		want[strings.TrimSpace(p)] = true
	}
	if want["live"] || want["restart"] {
		e := newEnv()
		if want["live"] {
			tr := e.startTransformer("live")
			if err := tr.settled(2 * time.Minute); err != nil {
				log.Fatal(err)
			}
			t0 := time.Now()
			e.load()
			loaded := time.Now()
			d := e.waitComplete(loaded)
			fmt.Printf("live:    created %d objects in %v; every derived object in the store %v after the last create (%.0f writes)\n",
				e.created.Load(), loaded.Sub(t0).Round(time.Millisecond), d.Round(time.Millisecond), tr.writes())
			if err := tr.settled(2 * time.Minute); err != nil {
				log.Fatal(err)
			}
			tr.stop()
		} else {
			e.load()
			tr := e.startTransformer("setup")
			e.waitComplete(time.Now())
			if err := tr.settled(2 * time.Minute); err != nil {
				log.Fatal(err)
			}
			tr.stop()
		}
		if want["restart"] {
			start := time.Now()
			tr := e.startTransformer("restart")
			if err := tr.settled(2 * time.Minute); err != nil {
				log.Fatal(err)
			}
			d := time.Since(start)
			if !e.complete() {
				log.Fatal("restart: derived objects incomplete")
			}
			fmt.Printf("restart: settled %v after start, every derived object in place, %.0f writes (want 0)\n",
				d.Round(time.Millisecond), tr.writes())
			tr.stop()
		}
		e.close()
	}
	if want["cold"] {
		e := newEnv()
		e.load()
		start := time.Now()
		tr := e.startTransformer("cold")
		d := e.waitComplete(start)
		fmt.Printf("cold:    every derived object in the store %v after the transformer started (%.0f writes)\n",
			d.Round(time.Millisecond), tr.writes())
		if err := tr.settled(2 * time.Minute); err != nil {
			log.Fatal(err)
		}
		tr.stop()
		e.close()
	}
}

// env is an embedded etcd, an API server and an independent config graph.
type env struct {
	dir     string
	st      *store.Store
	api     *client.Client
	url     string
	g       *confgraph.Graph
	cancel  context.CancelFunc
	done    sync.WaitGroup
	created atomic.Int64
}

func newEnv() *env {
	dir, err := os.MkdirTemp("", "stbench")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Options{DataDir: dir, ClientListen: "unix://" + dir + "/etcd.sock", PeerListen: "http://127.0.0.1:" + freePort()})
	if err != nil {
		log.Fatal(err)
	}
	srv := apiserver.New(st, apiserver.Config{Listen: "127.0.0.1:0", Registry: prometheus.NewRegistry()})
	e := &env{dir: dir, st: st, g: confgraph.New(), cancel: cancel}
	e.done.Add(2)
	go func() {
		defer e.done.Done()
		if err := srv.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}()
	go func() {
		defer e.done.Done()
		st.Follow(ctx, 0, e.g)
	}()
	<-srv.Ready()
	<-e.g.Ready()
	e.url = "http://" + srv.Addr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	e.api = client.New(e.url, client.WithHTTPClient(hc))
	return e
}

func (e *env) close() {
	e.cancel()
	e.done.Wait()
	e.st.Close()
	os.RemoveAll(e.dir)
}

// instance is one transformer.
type instance struct {
	tr     *transformer.Transformer
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func (e *env) startTransformer(name string) *instance {
	reg := prometheus.NewRegistry()
	lvl := slog.LevelError // the load itself is "bad input" for a while: policies name networks not created yet
	if *verbose {
		lvl = slog.LevelInfo
	}
	tr, err := transformer.New(transformer.Config{
		APIURL: e.url, Store: e.st, Name: name, Workers: *workers, Registry: reg,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{tr: tr, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		if err := tr.Run(ctx); err != nil {
			log.Fatal(err)
		}
	}()
	return in
}

func (in *instance) settled(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return in.tr.Settled(ctx)
}

func (in *instance) stop() {
	in.cancel()
	<-in.done
}

// writes is the number of successful API writes of the instance.
func (in *instance) writes() float64 {
	mfs, _ := in.reg.Gather()
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

func fqn(name string) []string { return []string{"default-domain", project, name} }

func vnName(i int) string     { return fmt.Sprintf("vn-%05d", i) }
func policyName(i int) string { return fmt.Sprintf("pol-%05d", i) }
func sgName(i int) string     { return fmt.Sprintf("sg-%05d", i) }

// load creates the project, the policies, the networks (each attached to
// its policy) and the groups, with several clients at once.
func (e *env) load() {
	ctx := context.Background()
	if _, err := e.api.Create(ctx, "project", client.Object{"fq_name": []string{"default-domain", project}, "parent_type": "domain"}); err != nil {
		log.Fatal(err)
	}
	e.created.Add(1)
	anyPort := []any{map[string]any{}}
	e.parallel(*nPolicies, func(i int) (string, client.Object) {
		rule := map[string]any{
			"direction": "<>", "protocol": "tcp", "ethertype": "IPv4",
			"src_addresses": []any{map[string]any{"virtual_network": vnName(2 * i)}}, "src_ports": anyPort,
			"dst_addresses": []any{map[string]any{"virtual_network": vnName(2*i + 1)}},
			"dst_ports":     []any{map[string]any{"start_port": 80, "end_port": 80}},
			"action_list":   map[string]any{"simple_action": "pass"},
		}
		return "network-policy", client.Object{"fq_name": fqn(policyName(i)), "parent_type": "project",
			"network_policy_entries": map[string]any{"policy_rule": []any{rule}}}
	})
	e.parallel(*nNets, func(i int) (string, client.Object) {
		body := client.Object{"fq_name": fqn(vnName(i)), "parent_type": "project"}
		if p := i / 2; p < *nPolicies {
			body["network_policy_refs"] = []any{map[string]any{"to": fqn(policyName(p)),
				"attr": map[string]any{"sequence": map[string]any{"major": 0, "minor": 0}}}}
		}
		return "virtual-network", body
	})
	e.parallel(*nGroups, func(i int) (string, client.Object) {
		prev := (i + *nGroups - 1) % *nGroups
		rules := []any{
			map[string]any{"direction": ">", "protocol": "tcp", "ethertype": "IPv4",
				"src_addresses": []any{map[string]any{"security_group": "default-domain:" + project + ":" + sgName(prev)}}, "src_ports": anyPort,
				"dst_addresses": []any{map[string]any{"security_group": "local"}}, "dst_ports": []any{map[string]any{"start_port": 22, "end_port": 22}},
				"action_list": map[string]any{"simple_action": "pass"}},
			map[string]any{"direction": ">", "protocol": "tcp", "ethertype": "IPv4",
				"src_addresses": []any{map[string]any{"subnet": map[string]any{"ip_prefix": "0.0.0.0", "ip_prefix_len": 0}}}, "src_ports": anyPort,
				"dst_addresses": []any{map[string]any{"security_group": "local"}}, "dst_ports": []any{map[string]any{"start_port": 443, "end_port": 443}},
				"action_list": map[string]any{"simple_action": "pass"}},
			map[string]any{"direction": ">", "protocol": "any", "ethertype": "IPv4",
				"src_addresses": []any{map[string]any{"security_group": "local"}}, "src_ports": anyPort,
				"dst_addresses": []any{map[string]any{"subnet": map[string]any{"ip_prefix": "0.0.0.0", "ip_prefix_len": 0}}}, "dst_ports": anyPort,
				"action_list": map[string]any{"simple_action": "pass"}},
		}
		return "security-group", client.Object{"fq_name": fqn(sgName(i)), "parent_type": "project",
			"security_group_entries": map[string]any{"policy_rule": rules}}
	})
}

func (e *env) parallel(n int, body func(i int) (string, client.Object)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *loaders {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				typ, obj := body(i)
				if _, err := e.api.Create(context.Background(), typ, obj); err != nil {
					log.Fatalf("create %s %v: %v", typ, obj["fq_name"], err)
				}
				e.created.Add(1)
			}
		})
	}
	wg.Wait()
}

// waitComplete polls the independent graph until every derived object is
// there and returns the time since from.
func (e *env) waitComplete(from time.Time) time.Duration {
	deadline := time.Now().Add(5 * time.Minute)
	for !e.complete() {
		if time.Now().After(deadline) {
			log.Fatalf("derived objects incomplete after 5 minutes: %s", e.missing())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(from)
}

func (e *env) complete() bool { return e.missing() == "" }

// missing names the first derived object that is not (yet) right, or "".
func (e *env) missing() string {
	g := e.g
	g.RLock()
	defer g.RUnlock()
	var asn int64
	if u, ok := g.LookupFQString("global-system-config", "default-global-system-config"); ok {
		g.Get(u).Obj.Prop("autonomous_system", &asn)
	}
	prefix := "target:" + strconv.FormatInt(asn, 10) + ":"
	type riInfo struct {
		ri  *confgraph.Node
		own string
	}
	ris := make([]riInfo, *nNets)
	for i := range *nNets {
		fq := "default-domain:" + project + ":" + vnName(i)
		u, ok := g.LookupFQString("routing-instance", fq+":"+vnName(i))
		if !ok {
			return "routing instance of " + fq
		}
		ri := g.Get(u)
		for _, r := range ri.Obj.Refs["route_target_refs"] {
			name := model.FQNameString(r.To)
			if strings.HasPrefix(name, prefix) && len(r.Attr) <= 2 { // {} : both directions
				ris[i] = riInfo{ri: ri, own: name}
			}
		}
		if ris[i].own == "" {
			return "route target of " + fq
		}
	}
	for i := range *nNets {
		ri := ris[i].ri
		vn := g.Get(ri.Obj.ParentUUID)
		if p := i / 2; p < *nPolicies {
			peer := ris[i^1]
			found := false
			for _, r := range ri.Obj.Refs["routing_instance_refs"] {
				found = found || r.UUID == peer.ri.Obj.UUID
			}
			if !found {
				return "connection of " + vn.Obj.FQNameString()
			}
			found = false
			for _, r := range ri.Obj.Refs["route_target_refs"] {
				found = found || model.FQNameString(r.To) == peer.own && strings.Contains(string(r.Attr), "import")
			}
			if !found {
				return "import of the peer's target by " + vn.Obj.FQNameString()
			}
			if n := aclRules(g, vn, vn.Obj.Name()); n != 6 {
				return fmt.Sprintf("ACL of %s has %d rules, want 6", vn.Obj.FQNameString(), n)
			}
		}
	}
	for i := range *nGroups {
		u, ok := g.LookupFQString("security-group", "default-domain:"+project+":"+sgName(i))
		if !ok {
			return "group " + sgName(i)
		}
		sg := g.Get(u)
		if n := aclRules(g, sg, "ingress-access-control-list"); n != 2 {
			return fmt.Sprintf("ingress ACL of %s has %d rules, want 2", sgName(i), n)
		}
		if n := aclRules(g, sg, "egress-access-control-list"); n != 1 {
			return fmt.Sprintf("egress ACL of %s has %d rules, want 1", sgName(i), n)
		}
	}
	return ""
}

// aclRules returns the number of rules of the named ACL child, -1 if none.
func aclRules(g *confgraph.Graph, parent *confgraph.Node, name string) int {
	for _, c := range g.ChildNodes(parent, "access-control-list") {
		if c.Obj.Name() != name {
			continue
		}
		var e struct {
			ACLRule []json.RawMessage `json:"acl_rule"`
		}
		c.Obj.Prop("access_control_list_entries", &e)
		return len(e.ACLRule)
	}
	return -1
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
