// SPDX-License-Identifier: Apache-2.0

package control

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

const frrZebra = "/usr/lib/frr/zebra"

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// TestFRREVPNFromVXLAN runs FRR (zebra and bgpd) in a network namespace
// the test creates, with a VXLAN VNI 10 in a bridge and a static MAC on
// one of its ports, and `advertise-all-vni`: FRR originates EVPN type-2
// (MAC) and type-3 routes for it with its automatic RD and route target
// 64512:10. The control node, peered over a veth pair, imports them into
// the instance with that import target and sends the MAC route to the
// subscribed agent with FRR's VTEP as next hop, the VNI and VXLAN. The
// agent's MAC/IP route goes the other way and ends up, through FRR's
// zebra, in the namespace's VXLAN forwarding table.
func TestFRREVPNFromVXLAN(t *testing.T) {
	if _, err := os.Stat(frrZebra); err != nil {
		t.Skip("FRR zebra is not installed (scripts/install-deps.sh installs the frr package)")
	}
	if _, err := os.Stat(frrBGPD); err != nil {
		t.Skip("FRR bgpd is not installed")
	}
	if os.Getuid() != 0 {
		t.Skip("network namespaces need root")
	}
	id := rand.IntN(1 << 16)
	ns := fmt.Sprintf("cevpn%d", id)
	host, peer := fmt.Sprintf("vce%dh", id), fmt.Sprintf("vce%dp", id)
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	sh(t, "ip", "link", "set", peer, "netns", ns)
	sh(t, "ip", "addr", "add", "10.78.0.1/30", "dev", host)
	sh(t, "ip", "link", "set", host, "up")
	in := func(args ...string) { t.Helper(); sh(t, append([]string{"ip", "netns", "exec", ns}, args...)...) }
	in("ip", "link", "set", "lo", "up")
	in("ip", "addr", "add", "10.78.0.2/30", "dev", peer)
	in("ip", "link", "set", peer, "up")
	// The vrouters (192.0.2.0/24) are reachable through the host side.
	in("ip", "route", "add", "192.0.2.0/24", "via", "10.78.0.1")
	in("ip", "link", "add", "br10", "type", "bridge")
	in("ip", "link", "add", "vxlan10", "type", "vxlan", "id", "10", "local", "10.78.0.2", "dstport", "4789", "nolearning")
	in("ip", "link", "set", "vxlan10", "master", "br10")
	in("ip", "link", "add", "dum10", "type", "veth", "peer", "name", "dum10p")
	in("ip", "link", "set", "dum10", "master", "br10")
	for _, l := range []string{"br10", "vxlan10", "dum10", "dum10p"} {
		in("ip", "link", "set", l, "up")
	}
	in("bridge", "fdb", "add", "02:00:00:00:aa:01", "dev", "dum10", "master", "static")

	ourPort := etcdtest.FreePort(t)
	// zebra runs as the frr user: its directory must be reachable by it.
	dir, err := os.MkdirTemp("", "frrevpn")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := fmt.Sprintf(`hostname frrevpn
router bgp 64512
 bgp router-id 10.78.0.2
 no bgp default ipv4-unicast
 neighbor 10.78.0.1 remote-as 64512
 neighbor 10.78.0.1 port %d
 neighbor 10.78.0.1 timers 3 9
 neighbor 10.78.0.1 timers connect 1
 address-family l2vpn evpn
  neighbor 10.78.0.1 activate
  advertise-all-vni
 exit-address-family
`, ourPort)
	confPath := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "zebra.conf"), []byte("hostname frrevpn\n"), 0o644)
	zsock := filepath.Join(dir, "zserv.api")
	var out syncBuffer
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	// zebra has no -S: it runs as the package's frr user (in the frrvty
	// group it checks), keeping the capabilities it needs.
	run(frrZebra, "-u", "frr", "-g", "frr", "-f", filepath.Join(dir, "zebra.conf"), "-i", filepath.Join(dir, "zebra.pid"),
		"--vty_socket", dir, "-z", zsock, "-P", "0", "--log", "file:"+filepath.Join(dir, "zebra.log"))
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(zsock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	run(frrBGPD, "-S", "-u", "root", "-g", "root", "-f", confPath, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-z", zsock, "-P", "0", "--log", "file:"+filepath.Join(dir, "bgpd.log"))
	vtysh := func(cmd string) string {
		o, _ := exec.Command("vtysh", "--vty_socket", dir, "-d", "bgpd", "-c", cmd).CombinedOutput()
		return string(o)
	}
	t.Cleanup(func() {
		if t.Failed() {
			zl, _ := os.ReadFile(filepath.Join(dir, "zebra.log"))
			bl, _ := os.ReadFile(filepath.Join(dir, "bgpd.log"))
			t.Logf("FRR output:\n%s\nsummary:\n%s\nevpn:\n%s\nvni:\n%s\nbgpd log:\n%s\nzebra log:\n%s", out.String(),
				vtysh("show bgp summary"), vtysh("show bgp l2vpn evpn"), vtysh("show bgp l2vpn evpn vni"), bl, zl)
		}
	})

	e := newEnv(t, Config{Hostname: "cn1"})
	r1 := e.bgpRouter("cn1", "10.78.0.1", ourPort, "control-node", nil)
	r2 := e.bgpRouter("frrevpn", "10.78.0.2", 179, "router", map[string]any{
		"address_families": map[string]any{"family": []string{"e-vpn"}}})
	e.setRefs(r1, r2)
	ri := e.networkWithTarget("vn10", "target:64512:10")
	a := e.agent("compute-1")
	a.c.Subscribe(ri, 1)
	var got *xmpp.EVPNEntry
	a.waitForLong(60*time.Second, "FRR's MAC route at the agent", func() bool {
		for _, it := range a.routes["25/242/"+ri] {
			if e, ok := it.(*xmpp.EVPNEntry); ok && strings.EqualFold(e.NLRI.MAC, "02:00:00:00:aa:01") {
				got = e
				return true
			}
		}
		return false
	})
	if len(got.NextHops) != 1 || got.NextHops[0].Address != "10.78.0.2" || got.NextHops[0].Label != 10 ||
		strings.Join(got.NextHops[0].TunnelEncapsulation, ",") != "vxlan" {
		t.Errorf("EVPN route at the agent: %+v next hops %+v", got, got.NextHops)
	}

	// The other way: the agent's VM MAC/IP (VNI 10, VXLAN) goes to FRR as
	// a type-2 route with the instance's export target; FRR imports it
	// into VNI 10 and zebra programs the kernel: a VXLAN FDB entry towards
	// the vrouter.
	a.c.Publish(ri, &xmpp.EVPNEntry{
		NLRI:           xmpp.EVPNNLRI{AF: 25, SAFI: 242, MAC: "02:00:00:00:bb:01", Address: "10.10.0.3/32"},
		NextHops:       []xmpp.EVPNNextHop{{AF: 1, Address: "192.0.2.1", Label: 10, TunnelEncapsulation: []string{"vxlan"}}},
		VirtualNetwork: "vn10", LocalPreference: 100,
	}, false)
	deadline := time.Now().Add(30 * time.Second)
	var fdb []byte
	for time.Now().Before(deadline) {
		fdb, _ = exec.Command("ip", "netns", "exec", ns, "bridge", "fdb", "show", "dev", "vxlan10").CombinedOutput()
		if bytes.Contains(fdb, []byte("02:00:00:00:bb:01 dst 192.0.2.1")) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the agent's MAC is not in FRR's VXLAN FDB:\n%s\nFRR evpn:\n%s", fdb, vtysh("show bgp l2vpn evpn"))
}

// waitForLong is waitFor with a longer deadline.
func (a *agent) waitForLong(d time.Duration, what string, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(d)
	for {
		a.mu.Lock()
		ok := cond()
		a.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.t.Fatalf("%s: not reached; routes %v", what, a.routes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer several processes may write to.
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
