// SPDX-License-Identifier: Apache-2.0

// Command agentbench measures the vrouter agent in the same network
// namespace lab as the end-to-end test (test/e2e): an underlay bridge, the
// config and control plane in one namespace (`contrail all-in-one`), and
// compute hosts each running `contrail vrouter-agent`, with VMs as
// namespaces. It needs root. Figures:
//
//	a  time from POST /port to the first ping answered by a VM on another
//	   host (target < 500 ms): with the VM's address configured before the
//	   POST, and with a VM that gets it over DHCP after the POST. The VMs'
//	   ARP retry timer is set to 10 ms (net.ipv4.neigh.eth0.retrans_time_ms)
//	   so that the figure is the system's, not a VM's one-second ARP retry.
//	b  1,000 ports posted to one host: time until the kernel routes to
//	   every one of them (target < 10 s)
//	c  TCP throughput VM to VM across hosts with iperf3, through the
//	   agents and through the same VXLAN path built by hand with `ip`
//	   (target >= 90 % of it); also the CPU time per GB of iperf3's
//	   client and server, which carry much of the forwarding work on veth
//	   devices (a second view of the cost, as noisy on a busy machine as
//	   the throughput). The agents carry established flows on their eBPF
//	   fast path; -agent-args=--no-fastpath measures them without it
//	   (every packet routed, through nftables and conntrack). For
//	   diagnosis:
//	   -hand-conntrack, -iperf-hand-only with -iperf-hand-on/-iperf-hand-off
//	   (a command's cost on the hand-built path, in alternating pairs),
//	   -iperf-diag-agent and -iperf-diag-hand
//	d  new TCP connections per second into a VM whose port has a security
//	   group of 1,000 rules, against the same port without a group
//	   (target >= 80 %)
//
//	go run ./bench/agentbench [-run a,b,c,d] [-ports 1000] [-rules 1000]
//
// Run it from the repository root (it builds ./cmd/contrail unless
// -binary is given). Its namespaces are named abch-*; a run that was
// killed leaves them behind and the next run removes them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/pkg/client"
	"github.com/contrail-go/contrail/test/e2e"
)

var (
	runFlag     = flag.String("run", "a,b,c,d", "benchmarks to run, comma-separated (a port-to-ping, b 1000 ports, c iperf3, d connection rate)")
	binFlag     = flag.String("binary", "", "contrail binary (default: build ./cmd/contrail)")
	samples     = flag.Int("samples", 10, "a: ports added one after the other")
	nPorts      = flag.Int("ports", 1000, "b: ports on one host")
	postWorkers = flag.Int("post-workers", 8, "b: concurrent POST /port requests")
	nRules      = flag.Int("rules", 1000, "d: security-group rules")
	iperfTime   = flag.Int("iperf-time", 5, "c: seconds per iperf3 run")
	iperfRuns   = flag.Int("iperf-runs", 3, "c: runs per path, alternating")
	handCT      = flag.Bool("hand-conntrack", false, "c: diagnosis: give the hand-built hosts a forward chain with 'ct state established,related accept' (conntrack on), as the agents' firewall has")
	handOnly    = flag.Bool("iperf-hand-only", false, "c: measure only the hand-built VXLAN path (no agents)")
	diagAgent   = flag.String("iperf-diag-agent", "", "c: diagnosis: shell command run (sh -c) in both agent hosts' namespaces before the runs, with $TAP and $VX set to the VM's port and the network's VXLAN device")
	handOn      = flag.String("iperf-hand-on", "", "c: diagnosis, with -iperf-hand-only: shell command run in both hand-built hosts before every other run (and -iperf-hand-off after it), to measure its cost against the plain path in pairs")
	handOff     = flag.String("iperf-hand-off", "", "c: see -iperf-hand-on")
	diagHand    = flag.String("iperf-diag-hand", "", "c: diagnosis: shell command run (sh -c) in both hand-built hosts' namespaces before the runs, with $TAP and $VX set as for -iperf-diag-agent")
	cpsTime     = flag.Duration("cps-time", 3*time.Second, "d: length of one connection-rate measurement")
	cpsRounds   = flag.Int("cps-rounds", 2, "d: measurements of each kind, alternating (none, rules, none, rules, ...)")
	cpsConc     = flag.Int("cps-workers", 2, "d: concurrent connecting goroutines")
	logLevel    = flag.String("log-level", "warn", "log level of the daemons")
	agentArgs   = flag.String("agent-args", "", "extra arguments of every agent, space-separated (-agent-args=--no-fastpath measures the path through routing, nftables and conntrack alone)")
	keep        = flag.Bool("keep", false, "keep the daemons' logs (their directory is printed)")
	nsPrefix    = flag.String("ns-prefix", "abch-", "prefix of the namespaces of the run; leftovers with it are removed first, so concurrent runs need different ones")
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if os.Geteuid() != 0 {
		log.Fatal("agentbench needs root (network namespaces)")
	}
	dir, err := os.MkdirTemp("", "agentbench")
	if err != nil {
		log.Fatal(err)
	}
	if *keep {
		fmt.Println("logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := *binFlag
	if bin == "" {
		bin = filepath.Join(dir, "contrail")
		build := exec.Command("go", "build", "-o", bin, "./cmd/contrail")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			log.Fatalf("build contrail (run from the repository root): %v", err)
		}
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*runFlag, ",") {
		want[strings.TrimSpace(s)] = true
	}
	b := &bench{dir: dir, bin: bin}
	failed := false
	for _, x := range []struct {
		key, name string
		f         func(context.Context) error
	}{
		{"a", "port add to first ping", b.portToPing},
		{"b", "ports programmed on one host", b.manyPorts},
		{"c", "iperf3 through the agents vs VXLAN by hand", b.throughput},
		{"d", "connection rate with security-group rules vs none", b.connRate},
	} {
		if !want[x.key] {
			continue
		}
		fmt.Printf("== %s: %s\n", x.key, x.name)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		if err := x.f(ctx); err != nil {
			fmt.Printf("   FAILED: %v\n", err)
			failed = true
		}
		cancel()
	}
	if failed {
		if !*keep {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}
}

type bench struct {
	dir, bin string
	n        int
}

// current is the lab being used, closed on SIGINT/SIGTERM.
var (
	currentMu sync.Mutex
	current   *e2e.Lab
)

func init() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		currentMu.Lock()
		if current != nil {
			current.Close()
		}
		os.Exit(130)
	}()
}

// cluster builds a fresh lab with a cluster in it; the returned function
// tears it down.
func (b *bench) cluster(ctx context.Context, cfg e2e.ClusterConfig) (*e2e.Cluster, func(), error) {
	b.n++
	dir := filepath.Join(b.dir, "run"+strconv.Itoa(b.n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	lab, err := e2e.NewLab(*nsPrefix, dir, b.bin, nil)
	if err != nil {
		return nil, nil, err
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = *logLevel
	}
	if extra := strings.Fields(*agentArgs); len(extra) > 0 && cfg.AgentArgs == nil {
		cfg.AgentArgs = func(int) []string { return extra }
	}
	currentMu.Lock()
	current = lab
	currentMu.Unlock()
	done := func() {
		currentMu.Lock()
		defer currentMu.Unlock()
		lab.Close()
		current = nil
	}
	c, err := e2e.NewCluster(ctx, lab, cfg)
	if err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

// vm adds a VM on host h and boots it.
func vm(ctx context.Context, c *e2e.Cluster, h *e2e.Host, proj string, vn e2e.Network, name string, sgs []string) (*e2e.VM, e2e.Port, error) {
	v, p, err := c.AddVM(ctx, h, proj, vn, name, "", sgs)
	if err != nil {
		return nil, p, err
	}
	_, err = e2e.BootVM(ctx, v, p)
	return v, p, err
}

// fail adds the agents' log tails to an error.
func fail(c *e2e.Cluster, err error) error {
	var sb strings.Builder
	for _, h := range c.Hosts {
		if h.Agent != nil {
			fmt.Fprintf(&sb, "\n--- %s /Snh_AgentStatus: %s", h.Name, h.Introspect(context.Background(), "/Snh_AgentStatus"))
			fmt.Fprintf(&sb, "\n--- %s\n%s", h.Agent.Name, h.Agent.Tail(15))
		}
	}
	return fmt.Errorf("%w%s", err, sb.String())
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// benchNetwork creates the project "bench" and its network "net" with
// one subnet cidr.
func benchNetwork(ctx context.Context, c *e2e.Cluster, cidr string) (string, e2e.Network, error) {
	proj, err := c.Cloud.Project(ctx, "bench")
	if err != nil {
		return "", e2e.Network{}, err
	}
	vn, err := c.Cloud.Network(ctx, "bench", "net", cidr, nil)
	return proj, vn, err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// ---- a: POST /port to first ping ----

func (b *bench) portToPing(ctx context.Context) error {
	c, done, err := b.cluster(ctx, e2e.ClusterConfig{Hosts: 2})
	if err != nil {
		return err
	}
	defer done()
	proj, vn, err := benchNetwork(ctx, c, "10.20.0.0/16")
	if err != nil {
		return err
	}
	// The peer on the other host, and a first VM on this host so that
	// the network is known there; neither is measured.
	peer, pp, err := vm(ctx, c, c.Hosts[1], proj, vn, "peer", nil)
	if err != nil {
		return fail(c, err)
	}
	// The peer answers a new address only once it has resolved it (its
	// host proxies ARP once the route is there): retry every 10 ms, not
	// every second, so that the figure is the system's and not the VM's
	// ARP timer.
	if _, err := peer.Run(ctx, "sysctl", "-qw", "net.ipv4.neigh.eth0.retrans_time_ms=10"); err != nil {
		return err
	}
	w, _, err := vm(ctx, c, c.Hosts[0], proj, vn, "warm", nil)
	if err != nil {
		return fail(c, err)
	}
	if ok, err := w.Ping(pp.IP, 30*time.Second); err != nil || !ok {
		return fail(c, fmt.Errorf("warm-up VM cannot ping the peer %s: %v", pp.IP, err))
	}
	var lat, postLat []time.Duration
	for i := 0; i < *samples; i++ {
		name := "m" + strconv.Itoa(i)
		p, err := c.Cloud.Port(ctx, proj, vn, c.Hosts[0].Name, c.Hosts[0].VR, name, "", nil)
		if err != nil {
			return err
		}
		v, err := c.Lab.NewVM(name, c.Hosts[0].NS, p.Tap, p.MAC, e2e.VMMTU)
		if err != nil {
			return err
		}
		// The VM is up with its address before the port is added, as
		// a VM whose tap Nova plugs after boot (static configuration).
		// Its ARP retries every 10 ms instead of every second, so that
		// the figure is the agent's and not the VM's ARP timer.
		if err := v.ConfigureStatic(p.IP, p.Plen, p.Gateway); err != nil {
			return err
		}
		if _, err := v.Run(ctx, "sysctl", "-qw", "net.ipv4.neigh.eth0.retrans_time_ms=10"); err != nil {
			return err
		}
		pg, err := v.NewPinger()
		if err != nil {
			return err
		}
		got := make(chan time.Time, 1)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				from, _, err := pg.Recv(time.Now().Add(50 * time.Millisecond))
				if err == nil && from == pp.IP {
					got <- time.Now()
					return
				}
			}
		}()
		t0 := time.Now()
		if err := e2e.PortAPIAdd(ctx, c.Hosts[0].NS, e2e.PortAPIAddr, p); err != nil {
			close(stop)
			pg.Close()
			return fail(c, err)
		}
		postLat = append(postLat, time.Since(t0))
		var t1 time.Time
		tick := time.NewTicker(2 * time.Millisecond)
	wait:
		for deadline := time.After(30 * time.Second); ; {
			select {
			case t1 = <-got:
				break wait
			case <-deadline:
				break wait
			case <-tick.C:
				_, _ = pg.Send(pp.IP)
			}
		}
		tick.Stop()
		close(stop)
		pg.Close()
		if t1.IsZero() {
			return fail(c, fmt.Errorf("port %s (%s) on host1 got no ping answer from %s within 30 s", name, p.IP, pp.IP))
		}
		d := t1.Sub(t0)
		lat = append(lat, d)
		fmt.Printf("   sample %2d: %s (POST answered after %s)\n", i+1, ms(d), ms(postLat[i]))
	}
	slices.Sort(lat)
	slices.Sort(postLat)
	fmt.Printf("   POST /port answered: p50 %s, max %s\n", ms(pct(postLat, 0.5)), ms(postLat[len(postLat)-1]))
	fmt.Printf("   POST /port -> first ping answered (%d ports, static address, peer on another host): p50 %s, max %s (target < 500 ms)\n",
		len(lat), ms(pct(lat, 0.5)), ms(lat[len(lat)-1]))

	// The same with a VM that boots after the port is added: POST, then
	// DHCP, then ping.
	var leaseLat, dhcpLat []time.Duration
	for i := 0; i < *samples; i++ {
		name := "d" + strconv.Itoa(i)
		p, err := c.Cloud.Port(ctx, proj, vn, c.Hosts[0].Name, c.Hosts[0].VR, name, "", nil)
		if err != nil {
			return err
		}
		v, err := c.Lab.NewVM(name, c.Hosts[0].NS, p.Tap, p.MAC, e2e.VMMTU)
		if err != nil {
			return err
		}
		if _, err := v.Run(ctx, "sysctl", "-qw", "net.ipv4.neigh.eth0.retrans_time_ms=10"); err != nil {
			return err
		}
		t0 := time.Now()
		if err := e2e.PortAPIAdd(ctx, c.Hosts[0].NS, e2e.PortAPIAddr, p); err != nil {
			return fail(c, err)
		}
		if _, err := e2e.BootVM(ctx, v, p); err != nil {
			return fail(c, err)
		}
		tl := time.Since(t0)
		pg, err := v.NewPinger()
		if err != nil {
			return err
		}
		ok := false
		for end := time.Now().Add(30 * time.Second); !ok && time.Now().Before(end); {
			ok = pg.PingOnce(pp.IP, 5*time.Millisecond)
		}
		pg.Close()
		if !ok {
			return fail(c, fmt.Errorf("DHCP port %s (%s) got no ping answer from %s within 30 s", name, p.IP, pp.IP))
		}
		d := time.Since(t0)
		leaseLat, dhcpLat = append(leaseLat, tl), append(dhcpLat, d)
		fmt.Printf("   DHCP sample %2d: lease after %s, first ping answered after %s\n", i+1, ms(tl), ms(d))
	}
	slices.Sort(leaseLat)
	slices.Sort(dhcpLat)
	fmt.Printf("   POST /port -> DHCP lease -> first ping answered (%d ports): lease p50 %s, ping p50 %s, max %s\n",
		len(dhcpLat), ms(pct(leaseLat, 0.5)), ms(pct(dhcpLat, 0.5)), ms(dhcpLat[len(dhcpLat)-1]))
	return nil
}

// ---- b: 1,000 ports on one host ----

func (b *bench) manyPorts(ctx context.Context) error {
	c, done, err := b.cluster(ctx, e2e.ClusterConfig{Hosts: 1})
	if err != nil {
		return err
	}
	defer done()
	h := c.Hosts[0]
	proj, vn, err := benchNetwork(ctx, c, "10.16.0.0/16")
	if err != nil {
		return err
	}
	n := *nPorts
	ports := make([]e2e.Port, n)
	start := time.Now()
	if err := parallel(16, n, func(i int) error {
		p, err := c.Cloud.Port(ctx, proj, vn, h.Name, "", fmt.Sprintf("p%04d", i), "", nil)
		p.Tap = fmt.Sprintf("bp%04d", i)
		ports[i] = p
		return err
	}); err != nil {
		return err
	}
	// The virtual-router's refs to the VMs in one write.
	refs := make([]any, n)
	for i, p := range ports {
		refs[i] = map[string]any{"uuid": p.VM}
	}
	if err := c.Cloud.API.Update(ctx, "virtual-router", h.VR, client.Object{"virtual_machine_refs": refs}); err != nil {
		return err
	}
	fmt.Printf("   provisioned %d VMs, interfaces and instance IPs through the API in %s (not measured)\n", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	index := map[int]int{} // link index -> port
	for i, p := range ports {
		hw, _ := net.ParseMAC(p.MAC)
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.Tap, MTU: e2e.VMMTU}, PeerName: fmt.Sprintf("bq%04d", i), PeerHardwareAddr: hw}
		if err := h.NL.LinkAdd(v); err != nil {
			return fmt.Errorf("veth %s: %w", p.Tap, err)
		}
		for _, name := range []string{p.Tap, v.PeerName} {
			l, err := h.NL.LinkByName(name)
			if err == nil {
				err = h.NL.LinkSetUp(l)
			}
			if err != nil {
				return err
			}
			if name == p.Tap {
				index[l.Attrs().Index] = i
			}
		}
	}
	fmt.Printf("   created %d veth pairs in host1 in %s (not measured)\n", n, time.Since(start).Round(time.Millisecond))
	want := map[string]int{}
	for i, p := range ports {
		want[p.IP] = i
	}
	// Every port's /32 route out of its own tap, in any table, is what
	// "programmed" means here: traffic to the VM reaches it.
	programmed := func() (int, error) {
		rs, err := h.NL.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return 0, err
		}
		seen := make([]bool, n)
		k := 0
		for _, r := range rs {
			if r.Dst == nil {
				continue
			}
			ones, _ := r.Dst.Mask.Size()
			i, ok := index[r.LinkIndex]
			if ones != 32 || !ok || seen[i] || r.Dst.IP.String() != ports[i].IP {
				continue
			}
			seen[i] = true
			k++
		}
		return k, nil
	}
	t0 := time.Now()
	var posted atomic.Int64
	postLat := make([]time.Duration, n)
	postErr := make(chan error, 1)
	go func() {
		postErr <- parallel(*postWorkers, n, func(i int) error {
			defer posted.Add(1)
			s := time.Now()
			err := e2e.PortAPIAdd(ctx, h.NS, e2e.PortAPIAddr, ports[i])
			postLat[i] = time.Since(s)
			return err
		})
	}()
	var postDone time.Duration
	for {
		select {
		case err := <-postErr:
			if err != nil {
				return fail(c, err)
			}
			postDone = time.Since(t0)
			postErr = nil
		default:
		}
		k, err := programmed()
		if err != nil {
			return err
		}
		if k == n && postErr == nil {
			d := time.Since(t0)
			slices.Sort(postLat)
			fmt.Printf("   %d ports posted (%d at a time) in %s, one POST p50 %s max %s\n", n, *postWorkers, ms(postDone), ms(pct(postLat, 0.5)), ms(postLat[n-1]))
			fmt.Printf("   all %d ports routed in the kernel %s after the first POST (target < 10 s)\n", n, ms(d))
			return nil
		}
		if time.Since(t0) > 2*time.Minute {
			return fail(c, fmt.Errorf("after 2 min %d of %d ports routed in the kernel (%d posted)", k, n, posted.Load()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parallel runs f(0..n-1) on w goroutines and returns the first error.
func parallel(w, n int, f func(int) error) error {
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// ---- c: iperf3 ----

func (b *bench) throughput(ctx context.Context) error {
	if _, err := exec.LookPath("iperf3"); err != nil {
		return errors.New("iperf3 is not installed (scripts/install-deps.sh installs it)")
	}
	// h1, h2 run agents; h3, h4 get the same VXLAN path by hand.
	c, done, err := b.cluster(ctx, e2e.ClusterConfig{Hosts: 4, AgentHosts: 2, NoAgents: *handOnly})
	if err != nil {
		return err
	}
	defer done()
	if *handOnly {
		m1, m2, err := handVXLAN(ctx, c)
		if err != nil {
			return err
		}
		if ok, err := m1.Ping("10.31.0.2", 10*time.Second); err != nil || !ok {
			return fmt.Errorf("hand-built VXLAN path: m1 cannot ping m2: %v", err)
		}
		hosts := func(cmd string) error {
			for i, h := range c.Hosts[2:4] {
				if _, err := h.Run(ctx, "sh", "-c", fmt.Sprintf("TAP=tapm%d VX=vx31; %s", i+1, cmd)); err != nil {
					return err
				}
			}
			return nil
		}
		// Pairs: plain then -iperf-hand-on, the other way round every
		// other pair.
		var ratios, cpus []float64
		for r := 0; r < *iperfRuns; r++ {
			var bps, plainCPU, on, onCPU float64
			for k := 0; k < 2; k++ {
				with := *handOn != "" && k == (r+1)%2
				if k == 1 && *handOn == "" {
					break
				}
				if with {
					if err := hosts(*handOn); err != nil {
						return err
					}
				}
				x, err := iperf(ctx, m1, m2, "10.31.0.2")
				if err != nil {
					return err
				}
				if with {
					if err := hosts(*handOff); err != nil {
						return err
					}
					on, onCPU = x, lastCPU
					continue
				}
				bps, plainCPU = x, lastCPU
				fmt.Printf("   run %d: VXLAN by hand %.2f Gbit/s, %.3f CPU s/GB\n", r+1, bps/1e9, lastCPU)
			}
			if *handOn == "" {
				continue
			}
			ratios = append(ratios, on/bps)
			cpus = append(cpus, onCPU/plainCPU)
			fmt.Printf("   run %d: with -iperf-hand-on %.2f Gbit/s (%.2f), %.3f CPU s/GB (%.2f)\n", r+1, on/1e9, on/bps, onCPU, onCPU/plainCPU)
		}
		if len(ratios) > 0 {
			fmt.Printf("   -iperf-hand-on / plain, %d pairs: throughput median %.3f, mean %.3f; CPU per GB median %.3f, mean %.3f\n",
				len(ratios), median(ratios), mean(ratios), median(cpus), mean(cpus))
		}
		return nil
	}
	proj, vn, err := benchNetwork(ctx, c, "10.30.0.0/24")
	if err != nil {
		return err
	}
	v1, p1, err := vm(ctx, c, c.Hosts[0], proj, vn, "v1", nil)
	if err != nil {
		return fail(c, err)
	}
	v2, p2, err := vm(ctx, c, c.Hosts[1], proj, vn, "v2", nil)
	if err != nil {
		return fail(c, err)
	}
	if ok, err := v1.Ping(p2.IP, 30*time.Second); err != nil || !ok {
		return fail(c, fmt.Errorf("v1 cannot ping v2 %s through the agents: %v", p2.IP, err))
	}
	m1, m2, err := handVXLAN(ctx, c)
	if err != nil {
		return err
	}
	if ok, err := m1.Ping("10.31.0.2", 10*time.Second); err != nil || !ok {
		return fmt.Errorf("hand-built VXLAN path: m1 cannot ping m2: %v", err)
	}
	for _, d := range []struct {
		cmd   string
		hosts []*e2e.Host
		taps  []string
	}{
		{*diagAgent, c.Hosts[:2], []string{p1.Tap, p2.Tap}},
		{*diagHand, c.Hosts[2:4], []string{"tapm1", "tapm2"}},
	} {
		if d.cmd == "" {
			continue
		}
		for i, h := range d.hosts {
			vx, _ := h.Run(ctx, "sh", "-c", "ip -o link show type vxlan | awk -F': ' '{print $2; exit}'")
			script := fmt.Sprintf("TAP=%s VX=%s; %s", d.taps[i], strings.TrimSpace(strings.Split(string(vx), "@")[0]), d.cmd)
			out, err := h.Run(ctx, "sh", "-c", script)
			fmt.Printf("   diagnosis in %s: %s: %s\n", h.Name, script, strings.TrimSpace(string(out)))
			if err != nil {
				return err
			}
		}
	}
	var agent, hand, agentCPU, handCPU []float64
	for r := 0; r < *iperfRuns; r++ {
		bps, err := iperf(ctx, v1, v2, p2.IP)
		if err != nil {
			return fail(c, fmt.Errorf("iperf3 through the agents: %w", err))
		}
		agent = append(agent, bps)
		agentCPU = append(agentCPU, lastCPU)
		fmt.Printf("   run %d: through the agents %.2f Gbit/s, %.3f CPU s/GB\n", r+1, bps/1e9, lastCPU)
		bps, err = iperf(ctx, m1, m2, "10.31.0.2")
		if err != nil {
			return fmt.Errorf("iperf3 on the hand-built path: %w", err)
		}
		hand = append(hand, bps)
		handCPU = append(handCPU, lastCPU)
		fmt.Printf("   run %d: VXLAN by hand      %.2f Gbit/s, %.3f CPU s/GB\n", r+1, bps/1e9, lastCPU)
	}
	for _, host := range c.Hosts[:2] {
		fmt.Printf("   %s: %s\n", host.Name, fastPathOf(ctx, host))
	}
	a, h := median(agent), median(hand)
	fmt.Printf("   TCP VM to VM across hosts, iperf3 %d s x %d, medians: agents %.2f Gbit/s, by hand %.2f Gbit/s, ratio %.2f (target >= 0.90; means %.2f / %.2f, ratio %.2f)\n",
		*iperfTime, *iperfRuns, a/1e9, h/1e9, a/h, mean(agent)/1e9, mean(hand)/1e9, mean(agent)/mean(hand))
	fmt.Printf("   CPU time of iperf3 client and server (with the kernel work in their context) per GB, medians: agents %.3f s, by hand %.3f s, hand/agents %.2f\n",
		median(agentCPU), median(handCPU), median(handCPU)/median(agentCPU))
	return nil
}

// fastPathOf says what the agent's eBPF fast path did, from its
// introspect.
func fastPathOf(ctx context.Context, h *e2e.Host) string {
	var page struct {
		Fastpath *struct {
			Stats struct {
				Offloaded uint64 `json:"offloaded"`
				Flows     int    `json:"flows"`
				Devices   int    `json:"devices"`
			} `json:"stats"`
		} `json:"fastpath"`
	}
	body := h.Introspect(ctx, "/Snh_FetchAllFlowRecords")
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		return "fast path unknown (" + err.Error() + ")"
	}
	if page.Fastpath == nil {
		return "no fast path (every packet through routing, nftables and conntrack)"
	}
	st := page.Fastpath.Stats
	return fmt.Sprintf("fast path offloaded %d flows, carries %d now, on %d devices", st.Offloaded, st.Flows, st.Devices)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// handVXLAN builds on hosts 3 and 4 what the agent's dataplane builds for
// one network: a VXLAN device per host (VNI 31), the VM's tap with the
// gateway as a /32 and proxy ARP, a /32 route to the local VM and a route,
// permanent neighbor and FDB entry towards the remote VM. VMs m1
// (10.31.0.1) and m2 (10.31.0.2), gateway 10.31.0.254.
func handVXLAN(ctx context.Context, c *e2e.Cluster) (*e2e.VM, *e2e.VM, error) {
	h3, h4 := c.Hosts[2], c.Hosts[3]
	vxMAC := func(h *e2e.Host) string {
		ip := net.ParseIP(h.IP).To4()
		return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", ip[0], ip[1], ip[2], ip[3])
	}
	type side struct {
		h        *e2e.Host
		name, ip string
		peer     *e2e.Host
		peerIP   string
	}
	var vms []*e2e.VM
	for _, s := range []side{{h3, "m1", "10.31.0.1", h4, "10.31.0.2"}, {h4, "m2", "10.31.0.2", h3, "10.31.0.1"}} {
		mac := fmt.Sprintf("02:aa:00:00:00:%02x", len(vms)+1)
		v, err := c.Lab.NewVM(s.name, s.h.NS, "tap"+s.name, mac, e2e.VMMTU)
		if err != nil {
			return nil, nil, err
		}
		if err := v.ConfigureStatic(s.ip, 24, "10.31.0.254"); err != nil {
			return nil, nil, err
		}
		tap := "tap" + s.name
		for _, cmd := range [][]string{
			{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
			{"ip", "link", "add", "vx31", "type", "vxlan", "id", "31", "local", s.h.IP, "dstport", "4789", "dev", "eth0", "nolearning"},
			{"ip", "link", "set", "vx31", "address", vxMAC(s.h), "up"},
			{"ip", "addr", "add", "10.31.0.254/32", "dev", tap, "noprefixroute"},
			{"sysctl", "-qw", "net.ipv4.conf." + tap + ".proxy_arp=1"},
			{"ip", "route", "add", s.ip + "/32", "dev", tap},
			{"ip", "route", "add", s.peerIP + "/32", "via", s.peerIP, "dev", "vx31", "onlink"},
			{"ip", "neigh", "add", s.peerIP, "lladdr", vxMAC(s.peer), "dev", "vx31", "nud", "permanent"},
			{"bridge", "fdb", "add", vxMAC(s.peer), "dev", "vx31", "dst", s.peer.IP, "self", "permanent"},
		} {

			if _, err := s.h.Run(ctx, cmd[0], cmd[1:]...); err != nil {
				return nil, nil, err
			}
		}
		if *handCT {
			if _, err := s.h.Run(ctx, "nft", "add table inet handct; add chain inet handct fwdct { type filter hook forward priority filter; policy accept; }; add rule inet handct fwdct ct state established,related accept"); err != nil {
				return nil, nil, err
			}
		}
		vms = append(vms, v)
	}
	return vms[0], vms[1], nil
}

// iperf runs an iperf3 server in dst and a client in src and returns the
// receiver's bits per second.
func iperf(ctx context.Context, src, dst *e2e.VM, dstIP string) (float64, error) {
	srv, err := dst.Start("iperf3-"+dst.Name, "iperf3", "-s", "-B", dstIP)
	if err != nil {
		return 0, err
	}
	defer srv.Kill()
	// Wait for the server's socket (a bare connection is only an error
	// line in the server's log).
	for i := 0; ; i++ {
		cn, err := dst.DialContext(ctx, "tcp", net.JoinHostPort(dstIP, "5201"))
		if err == nil {
			cn.Close()
			break
		}
		if i == 100 {
			return 0, fmt.Errorf("iperf3 server does not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	out, err := src.Run(ctx, "iperf3", "-c", dstIP, "-t", strconv.Itoa(*iperfTime), "-J")
	if err != nil {
		return 0, err
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				Bytes         float64 `json:"bytes"`
				Seconds       float64 `json:"seconds"`
			} `json:"sum_received"`
			CPU struct {
				Host   float64 `json:"host_total"`
				Remote float64 `json:"remote_total"`
			} `json:"cpu_utilization_percent"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("iperf3 output: %v: %.300s", err, out)
	}
	if res.Error != "" {
		return 0, errors.New("iperf3: " + res.Error)
	}
	r := &res.End.SumReceived
	lastCPU = 0
	if r.Bytes > 0 {
		lastCPU = (res.End.CPU.Host + res.End.CPU.Remote) / 100 * r.Seconds / (r.Bytes / 1e9)
	}
	return r.BitsPerSecond, nil
}

// lastCPU is the CPU time the last iperf run's client and server used,
// with the kernel's work done in their context (much of the forwarding
// path on veth devices; not what ksoftirqd does), in seconds per GB
// received.
var lastCPU float64

// ---- d: connection rate ----

const cpsPort = 5001

func (b *bench) connRate(ctx context.Context) error {
	c, done, err := b.cluster(ctx, e2e.ClusterConfig{Hosts: 2})
	if err != nil {
		return err
	}
	defer done()
	proj, vn, err := benchNetwork(ctx, c, "10.40.0.0/24")
	if err != nil {
		return err
	}
	cl, _, err := vm(ctx, c, c.Hosts[0], proj, vn, "client", nil)
	if err != nil {
		return fail(c, err)
	}
	srv, ps, err := vm(ctx, c, c.Hosts[1], proj, vn, "server", nil)
	if err != nil {
		return fail(c, err)
	}
	stop, err := acceptLoop(srv)
	if err != nil {
		return err
	}
	defer stop()
	target := net.JoinHostPort(ps.IP, strconv.Itoa(cpsPort))
	if err := waitConnect(ctx, cl, target, true, 30*time.Second); err != nil {
		return fail(c, fmt.Errorf("no connection to the server without a group: %w", err))
	}
	// Warm up (first connections, conntrack, caches); not counted.
	if _, err := measureCPSFor(ctx, cl, target, time.Second); err != nil {
		return err
	}
	var bases, withs []float64
	base, err := measureCPS(ctx, cl, target)
	if err != nil {
		return err
	}
	bases = append(bases, base)
	fmt.Printf("   no security group:                   %8.0f connections/s\n", base)

	// A group whose rules match nothing of this test (other sources,
	// other ports); first without the rule that lets the client in, to
	// see it take effect, then with it.
	rules := make([]any, 0, *nRules+2)
	rules = append(rules, e2e.SGRule("local", "0.0.0.0/0", "any", 0, 0))
	for i := 0; len(rules) < *nRules; i++ {
		src := fmt.Sprintf("172.%d.%d.%d/32", 16+i/65536%16, i/256%256, i%256)
		rules = append(rules, e2e.SGRule(src, "local", "tcp", 10000+i%50000, 10000+i%50000))
	}
	sg, err := c.Cloud.SecurityGroup(ctx, "bench", "many-rules", rules)
	if err != nil {
		return err
	}
	if err := c.Cloud.API.RefUpdate(ctx, "virtual-machine-interface", ps.VMI, "security-group", sg, client.RefAdd, nil); err != nil {
		return err
	}
	if err := waitConnect(ctx, cl, target, false, 30*time.Second); err != nil {
		return fail(c, fmt.Errorf("group of %d rules without an allow rule for the client does not block: %w", len(rules), err))
	}
	rules = append(rules, e2e.SGRule("0.0.0.0/0", "local", "tcp", cpsPort, cpsPort))
	t0 := time.Now()
	if err := c.Cloud.API.Update(ctx, "security-group", sg, client.Object{"security_group_entries": map[string]any{"policy_rule": rules}}); err != nil {
		return err
	}
	if err := waitConnect(ctx, cl, target, true, 30*time.Second); err != nil {
		return fail(c, fmt.Errorf("the allow rule (last of %d) does not open the port: %w", len(rules), err))
	}
	fmt.Printf("   the allow rule, last of the group's %d, took effect %s after the API update\n", len(rules), ms(time.Since(t0)))
	if out, err := c.Hosts[1].Run(ctx, "nft", "list", "ruleset"); err == nil {
		fmt.Printf("   nftables ruleset of host2 with the group: %d lines\n", strings.Count(string(out), "\n"))
	}
	// Port 5002 has no listener and the group does not open it: without
	// the group a connection is refused, with it the SYN is dropped. That
	// tells when an attach or detach has taken effect.
	probe := net.JoinHostPort(ps.IP, strconv.Itoa(cpsPort+1))
	for r := 0; r < *cpsRounds; r++ {
		if r > 0 {
			if err := c.Cloud.API.RefUpdate(ctx, "virtual-machine-interface", ps.VMI, "security-group", sg, client.RefDelete, nil); err != nil {
				return err
			}
			if err := waitRefused(ctx, cl, probe, 30*time.Second); err != nil {
				return fail(c, fmt.Errorf("taking the group off the port does not take effect: %w", err))
			}
			base, err := measureCPS(ctx, cl, target)
			if err != nil {
				return err
			}
			bases = append(bases, base)
			fmt.Printf("   no security group:                   %8.0f connections/s\n", base)
			if err := c.Cloud.API.RefUpdate(ctx, "virtual-machine-interface", ps.VMI, "security-group", sg, client.RefAdd, nil); err != nil {
				return err
			}
			if err := waitBlocked(ctx, cl, probe, 30*time.Second); err != nil {
				return fail(c, fmt.Errorf("putting the group back on the port does not take effect: %w", err))
			}
		}
		w, err := measureCPS(ctx, cl, target)
		if err != nil {
			return err
		}
		withs = append(withs, w)
		fmt.Printf("   security group of %d rules:        %8.0f connections/s\n", len(rules), w)
	}
	nb, nw := mean(bases), mean(withs)
	fmt.Printf("   new TCP connections/s across hosts, %d workers, %v x %d each: %d rules %.0f vs none %.0f, ratio %.2f (target >= 0.80)\n",
		*cpsConc, *cpsTime, *cpsRounds, len(rules), nw, nb, nw/nb)
	return nil
}

// waitBlocked waits until connections from v to target time out three
// times in a row (dropped, not refused).
func waitBlocked(ctx context.Context, v *e2e.VM, target string, wait time.Duration) error {
	n := 0
	for end := time.Now().Add(wait); time.Now().Before(end); {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		cn, err := v.DialContext(cctx, "tcp", target)
		cancel()
		switch {
		case err == nil:
			cn.Close()
			n = 0
		case errors.Is(err, syscall.ECONNREFUSED):
			n = 0
			time.Sleep(100 * time.Millisecond)
		default:
			if n++; n == 3 {
				return nil
			}
		}
	}
	return fmt.Errorf("connections to %s are still answered", target)
}

// waitRefused waits until a connection from v to target is refused (an
// RST came back: the path is open but nobody listens).
func waitRefused(ctx context.Context, v *e2e.VM, target string, wait time.Duration) error {
	for end := time.Now().Add(wait); time.Now().Before(end); {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		cn, err := v.DialContext(cctx, "tcp", target)
		cancel()
		if err == nil {
			cn.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("connections to %s are not refused", target)
}

func acceptLoop(v *e2e.VM) (func(), error) {
	var l net.Listener
	err := v.Do(func() (err error) {
		l, err = net.Listen("tcp4", ":"+strconv.Itoa(cpsPort))
		return err
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			cn, err := l.Accept()
			if err != nil {
				return
			}
			cn.Close()
		}
	}()
	return func() { l.Close(); <-done }, nil
}

// waitConnect waits until connecting from v to target succeeds (want) or
// fails 3 times in a row (!want).
func waitConnect(ctx context.Context, v *e2e.VM, target string, want bool, wait time.Duration) error {
	fails := 0
	for end := time.Now().Add(wait); time.Now().Before(end); {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		cn, err := v.DialContext(cctx, "tcp", target)
		cancel()
		if err == nil {
			cn.Close()
			if want {
				return nil
			}
			fails = 0
		} else if !want {
			if fails++; fails == 3 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want {
		return fmt.Errorf("cannot connect to %s", target)
	}
	return fmt.Errorf("still connecting to %s", target)
}

// measureCPS opens and closes (with RST, to leave no TIME_WAIT) TCP
// connections from v to target for -cps-time on -cps-workers goroutines
// and returns the completed connections per second.
func measureCPS(ctx context.Context, v *e2e.VM, target string) (float64, error) {
	return measureCPSFor(ctx, v, target, *cpsTime)
}

// measureCPSFor is measureCPS for a given duration.
func measureCPSFor(ctx context.Context, v *e2e.VM, target string, d time.Duration) (float64, error) {
	addr, err := net.ResolveTCPAddr("tcp4", target)
	if err != nil {
		return 0, err
	}
	var count, errs atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range *cpsConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = v.Do(func() error {
				for time.Now().Before(end) {
					fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						errs.Add(1)
						continue
					}
					_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
					tv := unix.Timeval{Sec: 1}
					_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
					sa := &unix.SockaddrInet4{Port: addr.Port}
					copy(sa.Addr[:], addr.IP.To4())
					if err := unix.Connect(fd, sa); err == nil {
						count.Add(1)
					} else if !errors.Is(err, syscall.EINTR) {
						errs.Add(1)
					}
					unix.Close(fd)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	if count.Load() == 0 {
		return 0, fmt.Errorf("no connection to %s succeeded (%d errors)", target, errs.Load())
	}
	return float64(count.Load()) / d.Seconds(), nil
}
