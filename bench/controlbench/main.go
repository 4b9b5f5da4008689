// SPDX-License-Identifier: Apache-2.0

// Command controlbench is the control node's scale benchmark: it runs
// `contrail all-in-one` as its own process (so its memory is measured
// alone), creates K networks through the API, connects N simulated vrouter
// agents over XMPP on loopback, each subscribed to one network and
// publishing M VM routes, and measures:
//
//   - convergence: time from the last publish until every agent holds every
//     route of its network, and the messages/s that took;
//
//   - propagation: every agent also subscribes to one shared network, and a
//     route is changed there repeatedly; the time until all N agents have
//     seen each change (p50/p99);
//
//   - the control node's peak RSS.
//
//     go run ./bench/controlbench [-agents 500] [-routes 20] [-networks 50]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/contrail-go/contrail/internal/agent/controller"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/pkg/client"
)

var (
	nAgents   = flag.Int("agents", 500, "simulated vrouter agents")
	nRoutes   = flag.Int("routes", 20, "VM routes per agent")
	nNetworks = flag.Int("networks", 50, "virtual networks")
	nChanges  = flag.Int("changes", 50, "route changes in the propagation measurement")
	binary    = flag.String("binary", "", "contrail binary (default: build it)")
	profile   = flag.String("cpuprofile", "", "write a CPU profile of the control node during convergence to this file")
)

func main() {
	flag.Parse()
	dir, err := os.MkdirTemp("", "controlbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := *binary
	if bin == "" {
		bin = filepath.Join(dir, "contrail")
		b := exec.Command("go", "build", "-o", bin, "./cmd/contrail")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			log.Fatalf("build: %v", err)
		}
	}
	apiPort, xmppPort, introPort := freePort(), freePort(), freePort()
	cmd := exec.Command(bin, "all-in-one", "--data-dir", filepath.Join(dir, "data"),
		"--listen", "127.0.0.1:"+apiPort, "--introspect", "", "--control-introspect", "127.0.0.1:"+introPort, "--pprof",
		"--xmpp-listen", "127.0.0.1:"+xmppPort,
		"--etcd-listen", "http://127.0.0.1:"+freePort(), "--etcd-peer-listen", "http://127.0.0.1:"+freePort(),
		"--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	ctx := context.Background()
	api := client.New("http://127.0.0.1:" + apiPort)
	for i := 0; ; i++ {
		if _, err := api.List(ctx, "virtual-network", client.ListQuery{Count: true}); err == nil {
			break
		}
		if i > 600 {
			log.Fatal("API server did not come up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss0 := rss(cmd.Process.Pid)
	fmt.Printf("controlbench: %d agents x %d routes in %d networks (control node pid %d, RSS at start %s)\n",
		*nAgents, *nRoutes, *nNetworks, cmd.Process.Pid, kb(rss0))
	instances := make([]string, *nNetworks+1)
	for i := 0; i <= *nNetworks; i++ {
		name := fmt.Sprintf("net-%d", i)
		if i == *nNetworks {
			name = "shared"
		}
		if _, err := api.Create(ctx, "virtual-network", client.Object{
			"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project"}); err != nil {
			log.Fatal(err)
		}
		instances[i] = "default-domain:default-project:" + name + ":" + name
	}
	shared := instances[*nNetworks]
	// Let the control node see the instances.
	time.Sleep(500 * time.Millisecond)

	perNet := (*nAgents + *nNetworks - 1) / *nNetworks
	agents := make([]*agent, *nAgents)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range agents {
		a := &agent{id: i, inst: instances[i%*nNetworks], routes: map[string]int{}, want: perNet * *nRoutes}
		if i%*nNetworks < *nAgents%*nNetworks || *nAgents%*nNetworks == 0 {
			a.want = perNet * *nRoutes
		} else {
			a.want = (perNet - 1) * *nRoutes
		}
		agents[i] = a
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := controller.Dial(ctx, controller.Config{Server: "127.0.0.1:" + xmppPort, Name: fmt.Sprintf("compute-%d", i)}, a)
			if err != nil {
				log.Fatalf("agent %d: %v", i, err)
			}
			a.c = c
			c.Subscribe(a.inst, 1)
			c.Subscribe(shared, 2)
		}()
	}
	wg.Wait()
	fmt.Printf("connected %d agents in %v\n", len(agents), time.Since(t0).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)

	// Convergence.
	var profDone chan struct{}
	if *profile != "" {
		profDone = make(chan struct{})
		go func() {
			defer close(profDone)
			out, err := exec.Command("curl", "-s", "-o", *profile, "http://127.0.0.1:"+introPort+"/debug/pprof/profile?seconds=10").CombinedOutput()
			if err != nil {
				log.Printf("profile: %v %s", err, out)
			}
		}()
		time.Sleep(100 * time.Millisecond)
	}
	t0 = time.Now()
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var entries []xmpp.Entry
			nh := netip.AddrFrom4([4]byte{10, 255, byte(a.id >> 8), byte(a.id)})
			for r := 0; r < *nRoutes; r++ {
				n := a.id**nRoutes + r
				entries = append(entries, &xmpp.UnicastEntry{
					NLRI:     xmpp.NLRI{AF: 1, SAFI: 1, Address: fmt.Sprintf("10.%d.%d.%d/32", n>>16&255, n>>8&255, n&255)},
					NextHops: []xmpp.NextHop{{AF: 1, Address: nh.String(), Label: uint32(16 + r), TunnelEncapsulation: []string{"vxlan"}}},
					Version:  1, VirtualNetwork: a.inst, LocalPreference: 100,
				})
			}
			if err := a.c.PublishMany(a.inst, entries, false); err != nil {
				log.Fatal(err)
			}
		}()
	}
	wg.Wait()
	lastPublish := time.Now()
	for _, a := range agents {
		a.waitCount(func(n int) bool { return n >= a.want })
	}
	conv := time.Since(lastPublish)
	var updates int64
	for _, a := range agents {
		u, _ := a.c.Stats()
		updates += u
	}
	total := time.Since(t0)
	fmt.Printf("converged: every agent holds its network's routes %v after the last publish (%v after the first); %d update messages, %.0f msgs/s\n",
		conv.Round(time.Millisecond), total.Round(time.Millisecond), updates, float64(updates)/total.Seconds())

	if profDone != nil {
		<-profDone
	}
	// Propagation of single changes to all agents through the shared network.
	prober := agents[0]
	var lat []time.Duration
	for i := 0; i < *nChanges; i++ {
		prefix := fmt.Sprintf("172.16.%d.%d/32", i>>8, i&255)
		for _, a := range agents {
			a.expect(prefix)
		}
		t := time.Now()
		prober.c.Publish(shared, &xmpp.UnicastEntry{
			NLRI:     xmpp.NLRI{AF: 1, SAFI: 1, Address: prefix},
			NextHops: []xmpp.NextHop{{AF: 1, Address: "10.255.0.0", Label: 99, TunnelEncapsulation: []string{"vxlan"}}},
			Version:  1, VirtualNetwork: shared, LocalPreference: 100,
		}, false)
		for _, a := range agents {
			a.waitSeen(prefix)
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	fmt.Printf("propagation of one route change to all %d agents: p50 %v p99 %v (n=%d)\n",
		len(agents), lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), len(lat))
	fmt.Printf("control node peak RSS: %s (all-in-one process: API, schema transformer, control node, embedded etcd)\n", kb(rss(cmd.Process.Pid)))
	for _, a := range agents {
		a.c.Close()
	}
}

// agent counts routes of its own network and watches for probe routes.
type agent struct {
	id     int
	inst   string
	c      *controller.Client
	want   int
	mu     sync.Mutex
	routes map[string]int
	count  atomic.Int64
	probe  string
	seen   chan struct{}
}

func (a *agent) Update(u *xmpp.Update) {
	if strings.HasSuffix(u.Node, "/"+a.inst) {
		a.mu.Lock()
		for _, it := range u.Items {
			a.routes[it.ID] = 1
		}
		for _, id := range u.Retracts {
			delete(a.routes, id)
		}
		a.count.Store(int64(len(a.routes)))
		a.mu.Unlock()
		return
	}
	a.mu.Lock()
	if a.probe != "" {
		for _, it := range u.Items {
			if it.ID == a.probe {
				close(a.seen)
				a.probe = ""
				break
			}
		}
	}
	a.mu.Unlock()
}

func (a *agent) Config(*xmpp.Config) {}

// UpdateRaw scans an update message for its items node and item ids
// without building a tree: the simulated agents must cost the benchmark
// process little, or they would take the CPU the control node is measured on.
func (a *agent) UpdateRaw(raw []byte) {
	node := attrAfter(raw, []byte(`<items node="`))
	u := &xmpp.Update{Node: string(node)}
	rest := raw
	for {
		i := bytes.Index(rest, []byte(`<item id="`))
		j := bytes.Index(rest, []byte(`<retract id="`))
		switch {
		case i < 0 && j < 0:
			a.Update(u)
			return
		case j < 0 || (i >= 0 && i < j):
			rest = rest[i+len(`<item id="`):]
			u.Items = append(u.Items, xmpp.Item{ID: string(rest[:bytes.IndexByte(rest, '"')])})
		default:
			rest = rest[j+len(`<retract id="`):]
			u.Retracts = append(u.Retracts, string(rest[:bytes.IndexByte(rest, '"')]))
		}
	}
}

func attrAfter(b, prefix []byte) []byte {
	i := bytes.Index(b, prefix)
	if i < 0 {
		return nil
	}
	b = b[i+len(prefix):]
	if j := bytes.IndexByte(b, '"'); j >= 0 {
		return b[:j]
	}
	return nil
}

func (a *agent) waitCount(ok func(int) bool) {
	deadline := time.Now().Add(120 * time.Second)
	for !ok(int(a.count.Load())) {
		if time.Now().After(deadline) {
			log.Fatalf("agent %d: has %d routes, wants %d", a.id, a.count.Load(), a.want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (a *agent) expect(prefix string) {
	a.mu.Lock()
	a.probe, a.seen = prefix, make(chan struct{})
	a.mu.Unlock()
}

func (a *agent) waitSeen(prefix string) {
	a.mu.Lock()
	ch := a.seen
	a.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		log.Fatalf("agent %d never saw %s", a.id, prefix)
	}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func kb(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/1024) }
