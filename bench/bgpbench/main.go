// SPDX-License-Identifier: Apache-2.0

// Command bgpbench measures how the control node takes a full BGP feed,
// beside gobgpd v3 taking the same feed:
//
//   - a feeder BGP peer (here, on loopback address 127.0.0.2) sends
//     -routes VPNv4 routes spread over -instances route distinguishers,
//     each with the route target of one routing instance; its UPDATEs are
//     encoded before the clock starts, ~250 NLRI each;
//   - our control node runs as `contrail control` in its own process, with
//     `contrail api` (and its embedded etcd) in another, and -instances
//     virtual networks whose instances import those targets; done means
//     every route is in the VPN table and imported into its instance
//     (the RIB's path count, read from the introspect);
//   - gobgpd runs in its own process with -instances VRFs importing the
//     same targets (-gobgp-vrfs; off by default: gobgpd's VRF import is
//     far slower, see the README); done means its global VPNv4 table
//     holds the last route sent (polled with an exact lookup) and then
//     every route (`gobgp global rib summary`, read once: it walks the
//     table).
//
// It prints, for each, the time from the feeder's first UPDATE until
// done, the routes per second, the peak and final RSS from /proc and the
// Go heap in use from the daemon's /metrics, then the ratios.
//
//	go run ./bench/bgpbench [-routes 1000000] [-instances 100] [-cpuprofile cpu.out]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/contrail-go/contrail/pkg/client"
)

var (
	nRoutes    = flag.Int("routes", 1000000, "VPNv4 routes the feeder sends")
	nInstances = flag.Int("instances", 100, "routing instances (= route distinguishers and route targets)")
	binary_    = flag.String("binary", "", "contrail binary (default: build it)")
	gobgpDir   = flag.String("gobgp-dir", "", "directory of gobgpd and gobgp (default: PATH, then $(go env GOPATH)/bin)")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of our control node during the feed to this file")
	memProfile = flag.String("memprofile", "", "write a heap profile of our control node once done to this file")
	profileSec = flag.Int("profile-seconds", 3, "length of the CPU profile")
	skipGoBGP  = flag.Bool("skip-gobgp", false, "measure our control node only")
	skipOurs   = flag.Bool("skip-ours", false, "measure gobgpd only")
	timeout    = flag.Duration("timeout", 10*time.Minute, "give up on a daemon after this long")
	poll       = flag.Duration("poll", 50*time.Millisecond, "how often completion is checked (same for both)")
	gobgpVRFs  = flag.Bool("gobgp-vrfs", false, "configure the instances as VRFs in gobgpd too")
)

const (
	localAS    = 64512
	feederAddr = "127.0.0.2"
	oursAddr   = "127.0.0.1"
	gobgpAddr  = "127.0.0.4"
	targetBase = 8000000
)

// result is what one daemon measured.
type result struct {
	name      string
	elapsed   time.Duration
	rssStart  int64 // KiB
	rssEnd    int64 // KiB
	rssPeak   int64 // KiB
	heapInuse int64 // bytes, from the daemon's /metrics; -1 unknown
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *nInstances < 1 || *nRoutes < *nInstances {
		log.Fatal("need -routes >= -instances >= 1")
	}
	dir, err := os.MkdirTemp("", "bgpbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	t0 := time.Now()
	feed := encodeFeed(*nRoutes, *nInstances)
	fmt.Printf("bgpbench: %d VPNv4 routes in %d route distinguishers / targets, %d UPDATEs (%.1f MiB) encoded in %v\n",
		*nRoutes, *nInstances, feed.msgs, float64(len(feed.bytes))/(1<<20), time.Since(t0).Round(time.Millisecond))

	var ours, theirs *result
	if !*skipOurs {
		ours = runOurs(dir, feed)
		ours.print()
	}
	if !*skipGoBGP {
		theirs = runGoBGP(dir, feed)
		theirs.print()
	}
	if ours != nil && theirs != nil {
		fmt.Printf("ratio gobgpd/ours: time %.2f (>1: ours faster), peak RSS %.2f, final RSS %.2f (>1: ours smaller)",
			theirs.elapsed.Seconds()/ours.elapsed.Seconds(), float64(theirs.rssPeak)/float64(ours.rssPeak),
			float64(theirs.rssEnd)/float64(ours.rssEnd))
		if ours.heapInuse > 0 && theirs.heapInuse > 0 {
			fmt.Printf(", Go heap in use %.2f", float64(theirs.heapInuse)/float64(ours.heapInuse))
		}
		fmt.Println()
	}
}

func (r *result) print() {
	heap := "?"
	if r.heapInuse >= 0 {
		heap = mib(r.heapInuse)
	}
	fmt.Printf("%-7s installed %d routes in %v (%.0f routes/s); RSS before %s, at the end %s, peak %s; Go heap in use %s\n",
		r.name, *nRoutes, r.elapsed.Round(time.Millisecond), float64(*nRoutes)/r.elapsed.Seconds(),
		mib(r.rssStart*1024), mib(r.rssEnd*1024), mib(r.rssPeak*1024), heap)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// feed is the feeder's pre-encoded UPDATEs.
type feed struct {
	bytes []byte
	msgs  int
	// last is the last route sent, as "prefix rd": a peer that processes
	// UPDATEs in order has every route once it has this one.
	lastPrefix, lastRD string
}

// encodeFeed builds the UPDATEs by hand (the layout is fixed): routes are
// spread evenly over the RDs 64512:1..n, each RD's routes carrying target
// 64512:8000001.. and the MPLS-in-UDP encapsulation; prefixes are /32s
// counting up from 10.0.0.0 in every RD, labels from 16.
func encodeFeed(routes, rds int) feed {
	const nlriLen = 1 + 3 + 8 + 4
	var f feed
	buf := make([]byte, 0, routes*nlriLen+routes/200*100)
	per := routes / rds
	for rd := 0; rd < rds; rd++ {
		n := per
		if rd < routes%rds {
			n++
		}
		for j := 0; j < n; {
			start := len(buf)
			// Header, withdrawn routes length 0, path attributes length
			// (patched below).
			buf = append(buf, bytes.Repeat([]byte{0xff}, 16)...)
			buf = append(buf, 0, 0, 2, 0, 0, 0, 0)
			attrStart := len(buf)
			buf = append(buf, 0x40, 1, 1, 0)            // ORIGIN IGP
			buf = append(buf, 0x40, 2, 0)               // AS_PATH empty (iBGP)
			buf = append(buf, 0x40, 5, 4, 0, 0, 0, 100) // LOCAL_PREF 100
			buf = append(buf, 0xc0, 16, 16)             // EXTENDED COMMUNITIES
			buf = append(buf, 0x00, 0x02)               // route target, 2-byte AS
			buf = binary.BigEndian.AppendUint16(buf, localAS)
			buf = binary.BigEndian.AppendUint32(buf, uint32(targetBase+rd+1))
			buf = append(buf, 0x03, 0x0c, 0, 0, 0, 0, 0, 13) // encapsulation MPLS in UDP
			buf = append(buf, 0x90, 14, 0, 0)                // MP_REACH_NLRI, extended length
			mpStart := len(buf)
			buf = append(buf, 0, 1, 128, 12, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 2, 0)
			for ; j < n && len(buf)-start+nlriLen <= 4096; j++ {
				label := uint32(16 + j%100000)
				buf = append(buf, 24+64+32, byte(label>>12), byte(label>>4), byte(label<<4|1))
				buf = append(buf, 0, 0)
				buf = binary.BigEndian.AppendUint16(buf, localAS)
				buf = binary.BigEndian.AppendUint32(buf, uint32(rd+1))
				buf = binary.BigEndian.AppendUint32(buf, 10<<24+uint32(j))
				a := 10<<24 + uint32(j)
				f.lastPrefix = fmt.Sprintf("%d.%d.%d.%d/32", a>>24, a>>16&0xff, a>>8&0xff, a&0xff)
				f.lastRD = fmt.Sprintf("%d:%d", localAS, rd+1)
			}
			binary.BigEndian.PutUint16(buf[mpStart-2:], uint16(len(buf)-mpStart))
			binary.BigEndian.PutUint16(buf[attrStart-2:], uint16(len(buf)-attrStart))
			binary.BigEndian.PutUint16(buf[start+16:], uint16(len(buf)-start))
			f.msgs++
		}
	}
	f.bytes = buf
	return f
}

// openMsg is the feeder's OPEN: AS 64512, hold time 90 s, identifier
// 127.0.0.2, capabilities VPNv4 and 4-octet AS.
func openMsg() []byte {
	caps := []byte{
		1, 4, 0, 1, 0, 128, // multiprotocol VPNv4
		65, 4, 0, 0, localAS >> 8, localAS & 0xff, // 4-octet AS
	}
	b := append(bytes.Repeat([]byte{0xff}, 16), 0, 0, 1)
	b = append(b, 4)
	b = binary.BigEndian.AppendUint16(b, localAS)
	b = binary.BigEndian.AppendUint16(b, 90)
	b = append(b, 127, 0, 0, 2)
	b = append(b, byte(2+len(caps)), 2, byte(len(caps)))
	b = append(b, caps...)
	binary.BigEndian.PutUint16(b[16:], uint16(len(b)))
	return b
}

var keepalive = append(bytes.Repeat([]byte{0xff}, 16), 0, 19, 4)

// session is the feeder's BGP session to one daemon.
type session struct {
	c    net.Conn
	up   chan struct{}
	errc chan error
}

// feederSession connects from the feeder address to addr and completes
// the OPEN exchange; a reader goroutine keeps answering nothing but
// draining what the daemon sends, and a writer sends KEEPALIVEs.
func feederSession(addr string) (*session, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(feederAddr)}, Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	for i := 0; i < 100; i++ {
		if c, err = d.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4 << 20)
	}
	if _, err := c.Write(openMsg()); err != nil {
		return nil, err
	}
	s := &session{c: c, up: make(chan struct{}), errc: make(chan error, 1)}
	go func() {
		r := bufio.NewReaderSize(c, 64<<10)
		hdr := make([]byte, 19)
		gotOpen := false
		for {
			if _, err := io.ReadFull(r, hdr); err != nil {
				s.errc <- err
				return
			}
			n := int(binary.BigEndian.Uint16(hdr[16:]))
			body := make([]byte, n-19)
			if _, err := io.ReadFull(r, body); err != nil {
				s.errc <- err
				return
			}
			switch hdr[18] {
			case 1:
				gotOpen = true
				c.Write(keepalive)
			case 3:
				s.errc <- fmt.Errorf("NOTIFICATION %d/%d from the daemon", body[0], body[1])
				return
			case 4:
				if gotOpen {
					select {
					case <-s.up:
					default:
						close(s.up)
					}
				}
			}
		}
	}()
	select {
	case <-s.up:
	case err := <-s.errc:
		return nil, err
	case <-time.After(30 * time.Second):
		return nil, errors.New("no session within 30s")
	}
	return s, nil
}

// send writes the feed, with KEEPALIVEs between chunks so that a slow
// reader never sees its hold timer expire.
func (s *session) send(f feed) error {
	const chunk = 1 << 20
	last := time.Now()
	for off := 0; off < len(f.bytes); {
		end := min(off+chunk, len(f.bytes))
		// Cut at a message boundary.
		for p := off; p < len(f.bytes); {
			n := int(binary.BigEndian.Uint16(f.bytes[p+16:]))
			if p+n > end && p > off {
				end = p
				break
			}
			p += n
			if p >= end {
				end = p
				break
			}
		}
		if _, err := s.c.Write(f.bytes[off:end]); err != nil {
			return err
		}
		off = end
		if time.Since(last) > 20*time.Second {
			s.c.Write(keepalive)
			last = time.Now()
		}
	}
	return nil
}

// keepAlive sends KEEPALIVEs until stop is closed.
func (s *session) keepAlive(stop <-chan struct{}) {
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.c.Write(keepalive)
		}
	}
}

// measure feeds a daemon and waits for done, sampling its RSS.
func measure(name string, pid int, addr string, f feed, done func() (bool, error), heap func() int64, profile func(time.Duration), after func()) *result {
	r := &result{name: name, rssStart: rss(pid, "VmRSS"), heapInuse: -1}
	s, err := feederSession(addr)
	if err != nil {
		fatalf("%s: feeder session: %v", name, err)
	}
	defer s.c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go s.keepAlive(stop)
	sendErr := make(chan error, 1)
	start := time.Now()
	go func() { sendErr <- s.send(f) }()
	if profile != nil {
		go profile(start.Sub(start))
	}
	deadline := start.Add(*timeout)
	for {
		ok, err := done()
		if err != nil {
			fatalf("%s: %v", name, err)
		}
		if ok {
			break
		}
		select {
		case err := <-sendErr:
			if err != nil {
				fatalf("%s: feeder: %v", name, err)
			}
			sendErr = nil
		case err := <-s.errc:
			fatalf("%s: feeder session: %v", name, err)
		case <-time.After(*poll):
		}
		if time.Now().After(deadline) {
			fatalf("%s: not done after %v", name, *timeout)
		}
	}
	r.elapsed = time.Since(start)
	r.rssEnd = rss(pid, "VmRSS")
	r.rssPeak = rss(pid, "VmHWM")
	if heap != nil {
		r.heapInuse = heap()
	}
	if after != nil {
		after()
	}
	return r
}

// runOurs runs `contrail api` and `contrail control`, configures the
// instances and the two bgp-routers, and measures the control node.
func runOurs(dir string, f feed) *result {
	bin := *binary_
	if bin == "" {
		bin = filepath.Join(dir, "contrail")
		b := exec.Command("go", "build", "-o", bin, "./cmd/contrail")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			fatalf("build: %v", err)
		}
	}
	apiPort, etcdPort := freePort(), freePort()
	api := start(bin, "api", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:"+apiPort,
		"--introspect", "", "--etcd-listen", "http://127.0.0.1:"+etcdPort,
		"--etcd-peer-listen", "http://127.0.0.1:"+freePort(), "--log-level", "warn")
	defer stop(api)
	ctx := context.Background()
	cl := client.New("http://127.0.0.1:" + apiPort)
	for i := 0; ; i++ {
		if _, err := cl.List(ctx, "virtual-network", client.ListQuery{Count: true}); err == nil {
			break
		}
		if i > 600 {
			fatalf("%v", "API server did not come up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t0 := time.Now()
	for i := 0; i < *nInstances; i++ {
		name := fmt.Sprintf("net-%d", i)
		if _, err := cl.Create(ctx, "virtual-network", client.Object{
			"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project"}); err != nil {
			fatalf("%v", err)
		}
		rt, err := cl.Create(ctx, "route-target", client.Object{"fq_name": []string{fmt.Sprintf("target:%d:%d", localAS, targetBase+i+1)}})
		if err != nil {
			fatalf("%v", err)
		}
		ri, err := cl.FQNameToID(ctx, "routing-instance", []string{"default-domain", "default-project", name, name})
		if err != nil {
			fatalf("%v", err)
		}
		if err := cl.Update(ctx, "routing-instance", ri, client.Object{
			"route_target_refs": []any{map[string]any{"uuid": rt.UUID(), "attr": map[string]any{"import_export": nil}}}}); err != nil {
			fatalf("%v", err)
		}
	}
	bgpPort := freePort()
	fabric := []string{"default-domain", "default-project", "ip-fabric", "__default__"}
	router := func(name, addr, port, typ string) string {
		p, _ := strconv.Atoi(port)
		o, err := cl.Create(ctx, "bgp-router", client.Object{
			"fq_name": append(append([]string(nil), fabric...), name), "parent_type": "routing-instance",
			"bgp_router_parameters": map[string]any{"address": addr, "identifier": addr, "port": p,
				"autonomous_system": localAS, "router_type": typ, "hold_time": 90},
		})
		if err != nil {
			fatalf("%v", err)
		}
		return o.UUID()
	}
	cn := router("cn1", oursAddr, bgpPort, "control-node")
	feeder := router("feeder", feederAddr, freePort(), "router")
	if err := cl.Update(ctx, "bgp-router", cn, client.Object{
		"bgp_router_refs": []any{map[string]any{"uuid": feeder, "attr": map[string]any{"session": []any{}}}}}); err != nil {
		fatalf("%v", err)
	}
	fmt.Printf("ours:   config of %d networks written in %v\n", *nInstances, time.Since(t0).Round(time.Millisecond))

	introPort := freePort()
	ctl := start(bin, "control", "--etcd-endpoints", "http://127.0.0.1:"+etcdPort, "--hostname", "cn1",
		"--xmpp-listen", "127.0.0.1:"+freePort(), "--control-introspect", "127.0.0.1:"+introPort, "--pprof",
		"--log-level", "warn")
	defer stop(ctl)
	intro := "http://127.0.0.1:" + introPort
	// Wait until the control node has every instance with its target.
	for i := 0; ; i++ {
		var insts []struct {
			ImportTargets []json.RawMessage
		}
		if err := getJSON(intro+"/Snh_ShowRoutingInstanceReq", &insts); err == nil {
			n := 0
			for _, in := range insts {
				if len(in.ImportTargets) > 0 {
					n++
				}
			}
			if n >= *nInstances {
				break
			}
		}
		if i > 600 {
			fatalf("%v", "control node did not get the instances")
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := 2 * *nRoutes // each route in the VPN table and in its instance
	done := func() (bool, error) {
		var st struct{ Paths int }
		if err := getJSON(intro+"/Snh_ShowRibStats", &st); err != nil {
			return false, nil
		}
		return st.Paths >= want, nil
	}
	var profile func(time.Duration)
	if *cpuProfile != "" {
		profile = func(time.Duration) {
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", intro, *profileSec))
			if err != nil {
				log.Printf("profile: %v", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			os.WriteFile(*cpuProfile, b, 0o644)
		}
	}
	return measure("ours", ctl.Process.Pid, net.JoinHostPort(oursAddr, bgpPort), f, done,
		func() int64 { return metric(intro+"/metrics", "go_memstats_heap_inuse_bytes") }, profile, func() {
			if *memProfile == "" {
				return
			}
			resp, err := http.Get(intro + "/debug/pprof/heap")
			if err != nil {
				log.Printf("heap profile: %v", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			os.WriteFile(*memProfile, b, 0o644)
		})
}

// runGoBGP runs gobgpd with the same instances as VRFs and measures it.
func runGoBGP(dir string, f feed) *result {
	daemon, cli := findGoBGP()
	bgpPort, apiPort, metricsPort := freePort(), freePort(), freePort()
	var conf strings.Builder
	fmt.Fprintf(&conf, "[global.config]\n  as = %d\n  router-id = %q\n  port = %s\n  local-address-list = [%q]\n",
		localAS, gobgpAddr, bgpPort, gobgpAddr)
	fmt.Fprintf(&conf, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = %q\n    peer-as = %d\n"+
		"  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"l3vpn-ipv4-unicast\"\n",
		feederAddr, localAS)
	for i := 0; i < *nInstances && *gobgpVRFs; i++ {
		fmt.Fprintf(&conf, "[[vrfs]]\n  [vrfs.config]\n    name = \"net-%d\"\n    id = %d\n    rd = \"%s:%d\"\n    both-rt-list = [\"%d:%d\"]\n",
			i, i+1, gobgpAddr, i+1, localAS, targetBase+i+1)
	}
	confPath := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		fatalf("%v", err)
	}
	g := start(daemon, "-f", confPath, "--api-hosts", "127.0.0.1:"+apiPort, "-p", "-l", "warn",
		"--pprof-host", "127.0.0.1:"+metricsPort)
	defer stop(g)
	summary := regexp.MustCompile(`Destination: (\d+), Path: (\d+)`)
	count := func() (int, error) {
		out, err := exec.Command(cli, "-u", "127.0.0.1", "-p", apiPort, "global", "rib", "summary", "-a", "vpnv4").CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("gobgp: %v: %s", err, out)
		}
		m := summary.FindSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("gobgp summary: %s", out)
		}
		n, _ := strconv.Atoi(string(m[2]))
		return n, nil
	}
	for i := 0; ; i++ {
		if _, err := count(); err == nil {
			break
		}
		if i > 100 {
			fatalf("%v", "gobgpd API did not come up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Completion: gobgpd's table summary walks the whole table on its
	// main goroutine, so polling it would slow gobgpd down. Poll instead
	// for the last route the feeder sent (an exact lookup); gobgpd
	// handles a peer's UPDATEs in order. The count is then checked once.
	sentinel := false
	done := func() (bool, error) {
		if !sentinel {
			out, err := exec.Command(cli, "-u", "127.0.0.1", "-p", apiPort, "global", "rib", "-a", "vpnv4",
				f.lastPrefix, "rd", f.lastRD, "-j").CombinedOutput()
			if err != nil {
				// The CLI gives up after a second when gobgpd is busy.
				return false, nil
			}
			if !bytes.Contains(out, []byte(f.lastPrefix)) {
				return false, nil
			}
			sentinel = true
		}
		n, err := count()
		return err == nil && n >= *nRoutes, nil
	}
	return measure("gobgpd", g.Process.Pid, net.JoinHostPort(gobgpAddr, bgpPort), f, done,
		func() int64 {
			return metric("http://127.0.0.1:"+metricsPort+"/metrics", "go_memstats_heap_inuse_bytes")
		}, nil, nil)
}

func findGoBGP() (daemon, cli string) {
	var dirs []string
	if *gobgpDir != "" {
		dirs = append(dirs, *gobgpDir)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), "bin"))
	}
	find := func(name string) string {
		for _, d := range dirs {
			if p := filepath.Join(d, name); fileExists(p) {
				return p
			}
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		fatalf("%s not found (scripts/install-deps.sh installs it; or -gobgp-dir)", name)
		return ""
	}
	return find("gobgpd"), find("gobgp")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// running are the daemons started, stopped by fatal too.
var running []*exec.Cmd

func start(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fatalf("%v", err)
	}
	running = append(running, cmd)
	return cmd
}

// fatalf stops the daemons still running, then exits.
func fatalf(format string, args ...any) {
	for _, c := range running {
		if c.ProcessState == nil {
			c.Process.Kill()
		}
	}
	fatalf(format, args...)
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// metric reads one gauge from a Prometheus text page; -1 if absent.
func metric(url, name string) int64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(name):]), 64)
			if err == nil {
				return int64(v)
			}
		}
	}
	return -1
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// rss reads a memory line (VmRSS, VmHWM) of /proc/<pid>/status in KiB.
func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
