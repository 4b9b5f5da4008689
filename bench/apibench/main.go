// SPDX-License-Identifier: Apache-2.0

// Command apibench measures the config API server on an embedded etcd and,
// in the same run on the same store, the raw etcd limit for a write of the
// same shape, and prints the ratio.
//
//	go run ./bench/apibench [-n 2000] [-clients 32] [-list 10000]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/store"
)

var (
	nOps     = flag.Int("n", 3000, "creates per measured phase")
	clients  = flag.Int("clients", 32, "concurrent clients of the parallel phases")
	listSize = flag.Int("list", 10000, "objects in the detail-list measurement")
	gets     = flag.Int("gets", 20000, "GET requests for the latency measurement")
	dataDir  = flag.String("data-dir", "", "etcd data dir (default: a temporary one)")
	verbose  = flag.Bool("v", false, "print the server's metrics at the end")
	cpuProf  = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
)

func main() {
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	dir := *dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "apibench")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, store.Options{DataDir: dir, ClientListen: "unix://" + dir + "/etcd.sock", PeerListen: "http://127.0.0.1:" + freePort()})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	var shapeMu sync.Mutex
	shapes := map[string]apiserver.TxnShape{} // by the type of the first object written
	srv := apiserver.New(st, apiserver.Config{Listen: "127.0.0.1:0", Registry: reg, OnCommit: func(sh apiserver.TxnShape) {
		shapeMu.Lock()
		defer shapeMu.Unlock()
		for _, kv := range sh.Puts {
			if typ, _, ok := st.Keys.SplitObject(kv[0]); ok {
				if _, have := shapes[typ]; !have {
					shapes[typ] = sh
				}
			}
		}
	}})
	go func() {
		if err := srv.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}()
	<-srv.Ready()
	base := "http://" + srv.Addr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	b := &bench{base: base, hc: hc}

	fmt.Printf("apibench: GOMAXPROCS=%d, embedded etcd in %s\n\n", runtime.GOMAXPROCS(0), dir)
	// Setup: one IPAM'd network with a big subnet for VMIs and instance-ips.
	hostVN := b.mustCreate("virtual-network", vnBody("bench-host", "10.0.0.0", 8))

	type phase struct {
		name string
		body func(i int) (string, map[string]any)
	}
	var seq atomic.Int64
	phases := []phase{
		{"virtual-network+subnet", func(i int) (string, map[string]any) {
			n := seq.Add(1)
			return "virtual-network", vnBody(fmt.Sprintf("vn-%d", n), fmt.Sprintf("10.%d.%d.0", 100+n/256%100, n%256), 24)
		}},
		{"virtual-machine-interface", func(i int) (string, map[string]any) {
			n := seq.Add(1)
			return "virtual-machine-interface", map[string]any{
				"fq_name": []string{"default-domain", "default-project", fmt.Sprintf("vmi-%d", n)}, "parent_type": "project",
				"virtual_network_refs": []any{map[string]any{"uuid": hostVN}},
			}
		}},
		{"instance-ip", func(i int) (string, map[string]any) {
			n := seq.Add(1)
			return "instance-ip", map[string]any{
				"fq_name":              []string{fmt.Sprintf("iip-%d", n)},
				"virtual_network_refs": []any{map[string]any{"uuid": hostVN}},
			}
		}},
	}
	results := map[string]float64{}
	raws := map[string]float64{}
	for _, c := range []int{1, *clients} {
		for _, p := range phases {
			n := *nOps
			if c == 1 {
				n = *nOps / 4
			}
			rate := b.run(n, c, func(i int) error {
				typ, body := p.body(i)
				return b.create(typ, body)
			})
			results[fmt.Sprintf("%s/%d", p.name, c)] = rate
			fmt.Printf("create %-28s clients=%-3d %8.0f creates/s\n", p.name, c, rate)
		}
	}

	// GET latency on existing objects, from one client and from many.
	ids := b.listUUIDs("virtual-machine-interfaces")
	for _, c := range []int{1, *clients} {
		var lat []time.Duration
		var mu sync.Mutex
		b.run(*gets, c, func(i int) error {
			id := ids[i%len(ids)]
			t0 := time.Now()
			resp, err := hc.Get(base + "/virtual-machine-interface/" + id)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			d := time.Since(t0)
			if resp.StatusCode != 200 {
				return fmt.Errorf("GET %d", resp.StatusCode)
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			return nil
		})
		slices.Sort(lat)
		fmt.Printf("GET virtual-machine-interface (%d clients): p50 %v  p99 %v\n", c,
			lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
	}

	// Detail list of listSize objects.
	have := len(ids)
	if have < *listSize {
		b.run(*listSize-have, *clients, func(i int) error {
			n := seq.Add(1)
			return b.create("virtual-machine-interface", map[string]any{
				"fq_name": []string{"default-domain", "default-project", fmt.Sprintf("vmi-%d", n)}, "parent_type": "project",
				"virtual_network_refs": []any{map[string]any{"uuid": hostVN}},
			})
		})
	}
	var best time.Duration
	var count int
	for range 5 {
		t0 := time.Now()
		resp, err := hc.Get(base + "/virtual-machine-interfaces?detail=true")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		var out map[string][]json.RawMessage
		json.Unmarshal(body, &out)
		count = len(out["virtual-machine-interfaces"])
		if best == 0 || d < best {
			best = d
		}
	}
	fmt.Printf("list virtual-machine-interfaces?detail=true: %d objects in %v (best of 5)\n", count, best.Round(time.Millisecond))

	// Raw etcd on the same store: each API create's own transaction (the
	// first one committed of that type, captured through OnCommit),
	// replayed with its new keys renamed so that every replay creates
	// fresh keys: the same number of compares and puts, the same bytes.
	fmt.Printf("\nraw etcd, the same transactions replayed directly (compares guard fresh keys):\n")
	for _, c := range []int{1, *clients} {
		for _, p := range phases {
			typ := strings.SplitN(p.name, "+", 2)[0]
			sh, ok := shapes[typ]
			if !ok {
				log.Fatalf("no transaction captured for %s", typ)
			}
			n := *nOps
			if c == 1 {
				n = *nOps / 4
			}
			var k atomic.Int64
			rate := b.run(n, c, func(i int) error {
				suffix := "/raw" + strconv.Itoa(c) + "-" + strconv.FormatInt(k.Add(1), 10)
				var cmps []clientv3.Cmp
				for _, g := range sh.Guards {
					switch {
					case g.Absent && !g.Prefix:
						cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(g.Key+suffix), "=", 0))
					case g.Absent:
						cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(g.Key+suffix), "=", 0).WithPrefix())
					default:
						// An existing object (parent, ref target): guard that it still exists.
						cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(g.Key), ">", 0))
					}
				}
				ops := make([]clientv3.Op, 0, len(sh.Puts))
				for _, kv := range sh.Puts {
					ops = append(ops, clientv3.OpPut(kv[0]+suffix, kv[1]))
				}
				resp, err := st.Client.Txn(context.Background()).If(cmps...).Then(ops...).Commit()
				if err != nil {
					return err
				}
				if !resp.Succeeded {
					return fmt.Errorf("raw transaction failed")
				}
				return nil
			})
			raws[fmt.Sprintf("%s/%d", p.name, c)] = rate
			fmt.Printf("raw    %-28s clients=%-3d %8.0f txn/s (%d compares, %d puts)\n", p.name, c, rate, len(sh.Guards), len(sh.Puts))
		}
	}
	fmt.Printf("\nratio API creates/s : raw etcd txn/s of the same transaction\n")
	for _, c := range []int{1, *clients} {
		for _, p := range phases {
			key := fmt.Sprintf("%s/%d", p.name, c)
			fmt.Printf("  %-28s clients=%-3d %.2f\n", p.name, c, results[key]/raws[key])
		}
	}
	fmt.Printf("\npeak RSS: %s\n", peakRSS())
	if *verbose {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if h := m.GetHistogram(); h != nil && h.GetSampleCount() > 0 {
					fmt.Printf("%s: n=%d mean=%.3fms\n", mf.GetName(), h.GetSampleCount(), 1000*h.GetSampleSum()/float64(h.GetSampleCount()))
				}
				if c := m.GetCounter(); c != nil {
					fmt.Printf("%s%v: %.0f\n", mf.GetName(), m.GetLabel(), c.GetValue())
				}
			}
		}
	}
}

type bench struct {
	base string
	hc   *http.Client
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func vnBody(name, prefix string, plen int) map[string]any {
	return map[string]any{
		"fq_name":     []string{"default-domain", "default-project", name},
		"parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to": []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
				"subnet": map[string]any{"ip_prefix": prefix, "ip_prefix_len": plen},
			}}},
		}},
	}
}

func (b *bench) create(typ string, body map[string]any) error {
	buf, _ := json.Marshal(map[string]any{typ: body})
	resp, err := b.hc.Post(b.base+"/"+typ+"s", "application/json", bytes.NewReader(buf))
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("create %s: %d %s", typ, resp.StatusCode, out)
	}
	return nil
}

func (b *bench) mustCreate(typ string, body map[string]any) string {
	buf, _ := json.Marshal(map[string]any{typ: body})
	resp, err := b.hc.Post(b.base+"/"+typ+"s", "application/json", bytes.NewReader(buf))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		log.Fatalf("create %s: %d %v", typ, resp.StatusCode, out)
	}
	return out[typ]["uuid"].(string)
}

func (b *bench) listUUIDs(coll string) []string {
	resp, err := b.hc.Get(b.base + "/" + coll)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string][]map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	var ids []string
	for _, e := range out[coll] {
		ids = append(ids, e["uuid"].(string))
	}
	return ids
}

// run executes n operations over c workers and returns operations/s.
func (b *bench) run(n, c int, op func(i int) error) float64 {
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if f := failed.Load(); f > 0 {
		log.Fatalf("%d of %d operations failed, first: %v", f, n, firstErr.Load())
	}
	return float64(n) / d.Seconds()
}

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}
