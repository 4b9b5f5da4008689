// SPDX-License-Identifier: Apache-2.0

package control

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

const frrBGPD = "/usr/lib/frr/bgpd"

// frr is an FRR bgpd (a real router implementation, not ours) running on
// loopback for the test.
type frr struct {
	dir string
	cmd *exec.Cmd
}

func startFRR(t *testing.T, conf string, listen string, port int) *frr {
	t.Helper()
	if _, err := os.Stat(frrBGPD); err != nil {
		t.Skip("FRR bgpd is not installed (scripts/install-deps.sh installs the frr package)")
	}
	if os.Getuid() != 0 {
		t.Skip("FRR bgpd needs root here")
	}
	dir, err := os.MkdirTemp("", "frr")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	confPath := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &frr{dir: dir}
	f.cmd = exec.Command(frrBGPD, "-Z", "-S", "-u", "root", "-g", "root", "-f", confPath,
		"-i", filepath.Join(dir, "bgpd.pid"), "--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"),
		"-l", listen, "-p", fmt.Sprint(port), "-P", "0", "--log", "file:"+filepath.Join(dir, "bgpd.log"))
	var out bytes.Buffer
	f.cmd.Stdout, f.cmd.Stderr = &out, &out
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("start bgpd: %v", err)
	}
	t.Cleanup(func() {
		f.cmd.Process.Kill()
		f.cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "bgpd.log"))
			t.Logf("bgpd output:\n%s\nbgpd log:\n%s", out.String(), log)
		}
	})
	return f
}

func (f *frr) vtysh(t *testing.T, cmd string) string {
	t.Helper()
	out, err := exec.Command("vtysh", "--vty_socket", f.dir, "-d", "bgpd", "-c", cmd).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// TestFRRInterop peers the control node with FRR over iBGP VPNv4: the VM
// route an agent publishes shows up in FRR with its RD, label and route
// target, and FRR's VPN route with a matching target reaches the agent.
func TestFRRInterop(t *testing.T) {
	ourPort, frrPort := etcdtest.FreePort(t), etcdtest.FreePort(t)
	conf := fmt.Sprintf(`hostname frr1
router bgp 64512
 bgp router-id 127.0.0.3
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 127.0.0.1 remote-as 64512
 neighbor 127.0.0.1 port %d
 neighbor 127.0.0.1 update-source 127.0.0.3
 neighbor 127.0.0.1 timers 3 9
 neighbor 127.0.0.1 timers connect 1
 address-family ipv4 vpn
  neighbor 127.0.0.1 activate
  neighbor 127.0.0.1 route-map SETRT out
  network 10.50.0.0/24 rd 64512:99 label 1234
 exit-address-family
route-map SETRT permit 10
 set extcommunity rt 64512:8000001
`, ourPort)
	f := startFRR(t, conf, "127.0.0.3", frrPort)

	e := newEnv(t, Config{Hostname: "cn1"})
	r1 := e.bgpRouter("cn1", "127.0.0.1", ourPort, "control-node", nil)
	r2 := e.bgpRouter("frr1", "127.0.0.3", frrPort, "router", nil)
	e.setRefs(r1, r2)
	ri := e.networkWithTarget("vn1", "target:64512:8000001")
	a := e.agent("compute-1")
	a.c.Subscribe(ri, 1)
	a.c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "vn1"), false)

	// FRR's route reaches the agent, with FRR's label and next hop.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FRR summary:\n%s\nFRR vpn table:\n%s", f.vtysh(t, "show bgp summary"), f.vtysh(t, "show bgp ipv4 vpn"))
		}
	})
	a.waitFor("FRR's VPN route in the agent's instance", func() bool {
		r := a.route(ri, "10.50.0.0/24")
		return r != nil && r.NextHops[0].Label == 1234 && r.NextHops[0].Address == "127.0.0.3"
	})
	// Our route is in FRR with its RD (vrouter:instance-id), label and target.
	deadline := time.Now().Add(20 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out = f.vtysh(t, "show bgp ipv4 vpn 10.1.1.3/32")
		if strings.Contains(out, "192.0.2.1:1") && strings.Contains(out, "RT:64512:8000001") && strings.Contains(out, "17") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("route not in FRR as expected:\n%s\nsummary:\n%s", out, f.vtysh(t, "show bgp summary"))
}

// TestFRREVPNType2 sends an agent's EVPN MAC/IP route (VXLAN, VNI 5001)
// to FRR over l2vpn evpn: FRR shows it as a type-2 route with the
// vrouter's RD, the MAC and IP, the VNI, the route target and the VXLAN
// encapsulation. (The other direction needs FRR's zebra with VXLAN
// devices to originate type-2 routes; bgpd alone, as run here, cannot.)
func TestFRREVPNType2(t *testing.T) {
	ourPort, frrPort := etcdtest.FreePort(t), etcdtest.FreePort(t)
	conf := fmt.Sprintf(`hostname frr1
router bgp 64512
 bgp router-id 127.0.0.3
 no bgp default ipv4-unicast
 neighbor 127.0.0.1 remote-as 64512
 neighbor 127.0.0.1 port %d
 neighbor 127.0.0.1 update-source 127.0.0.3
 neighbor 127.0.0.1 timers 3 9
 neighbor 127.0.0.1 timers connect 1
 address-family l2vpn evpn
  neighbor 127.0.0.1 activate
 exit-address-family
`, ourPort)
	f := startFRR(t, conf, "127.0.0.3", frrPort)
	e := newEnv(t, Config{Hostname: "cn1"})
	r1 := e.bgpRouter("cn1", "127.0.0.1", ourPort, "control-node", nil)
	r2 := e.bgpRouter("frr1", "127.0.0.3", frrPort, "router", map[string]any{
		"address_families": map[string]any{"family": []string{"e-vpn"}}})
	e.setRefs(r1, r2)
	ri := e.networkWithTarget("vn1", "target:64512:8000001")
	a := e.agent("compute-1")
	a.c.Subscribe(ri, 3)
	a.c.Publish(ri, &xmpp.EVPNEntry{
		NLRI:           xmpp.EVPNNLRI{AF: 25, SAFI: 242, MAC: "02:00:00:00:00:01", Address: "10.1.1.3/32"},
		NextHops:       []xmpp.EVPNNextHop{{AF: 1, Address: "192.0.2.1", Label: 5001, TunnelEncapsulation: []string{"vxlan"}}},
		VirtualNetwork: "vn1", LocalPreference: 100,
	}, false)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FRR summary:\n%s\nFRR evpn table:\n%s", f.vtysh(t, "show bgp summary"), f.vtysh(t, "show bgp l2vpn evpn"))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out = f.vtysh(t, "show bgp l2vpn evpn route rd 192.0.2.1:3 type macip")
		if strings.Contains(out, "[2]:[0]:[48]:[02:00:00:00:00:01]:[32]:[10.1.1.3]") && strings.Contains(out, "VNI 5001") &&
			strings.Contains(out, "RT:64512:8000001") && strings.Contains(out, "ET:8") && strings.Contains(out, "192.0.2.1") {
			t.Logf("FRR:\n%s", out)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("EVPN route not in FRR as expected:\n%s\nall:\n%s", out, f.vtysh(t, "show bgp l2vpn evpn"))
}
