// SPDX-License-Identifier: Apache-2.0

package control

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/rib"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

// gobgpBin finds gobgpd and gobgp (installed by scripts/install-deps.sh
// into $(go env GOPATH)/bin), or skips the test.
func gobgpBin(t *testing.T) (daemon, cli string) {
	t.Helper()
	var dirs []string
	if p := os.Getenv("GOPATH"); p != "" {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, "go", "bin"))
	}
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				return filepath.Join(d, name)
			}
		}
		return ""
	}
	daemon, cli = find("gobgpd"), find("gobgp")
	if daemon == "" || cli == "" {
		t.Skip("gobgpd/gobgp not installed (scripts/install-deps.sh installs v3.37.0 into $(go env GOPATH)/bin)")
	}
	return daemon, cli
}

// gobgpd is a GoBGP daemon (another implementation, not ours) on loopback.
type gobgpd struct {
	t        *testing.T
	daemon   string
	cli      string
	apiPort  int
	confPath string
	cmd      *exec.Cmd
	out      *bytes.Buffer
}

func startGoBGP(t *testing.T, conf string) *gobgpd {
	t.Helper()
	daemon, cli := gobgpBin(t)
	dir := t.TempDir()
	g := &gobgpd{t: t, daemon: daemon, cli: cli, apiPort: etcdtest.FreePort(t), confPath: filepath.Join(dir, "gobgpd.toml")}
	if err := os.WriteFile(g.confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.kill()
		if t.Failed() && g.out != nil {
			t.Logf("gobgpd output:\n%s", g.out.String())
		}
	})
	g.start()
	return g
}

// start runs the daemon and waits for its API.
func (g *gobgpd) start(extra ...string) {
	g.t.Helper()
	args := append([]string{"-f", g.confPath, "--api-hosts", fmt.Sprintf("127.0.0.1:%d", g.apiPort),
		"-p", "--pprof-disable", "--metrics-path=", "-l", "debug"}, extra...)
	g.cmd = exec.Command(g.daemon, args...)
	g.out = &bytes.Buffer{}
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		g.t.Fatalf("start gobgpd: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := g.run("global"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gobgpd API not up:\n%s", g.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the daemon at once (SIGKILL: no NOTIFICATION is sent).
func (g *gobgpd) kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Kill()
		g.cmd.Wait()
		g.cmd = nil
	}
}

func (g *gobgpd) run(args ...string) (string, error) {
	args = append([]string{"-u", "127.0.0.1", "-p", fmt.Sprint(g.apiPort)}, args...)
	out, err := exec.Command(g.cli, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("gobgp %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// gobgpPath is one path of `gobgp global rib -j`.
type gobgpPath struct {
	NLRI struct {
		Prefix string   `json:"prefix"`
		Labels []uint32 `json:"labels"`
		RD     struct {
			Type     int    `json:"type"`
			Admin    string `json:"-"`
			AdminRaw any    `json:"admin"`
			Assigned uint32 `json:"assigned"`
		} `json:"rd"`
	} `json:"nlri"`
	Attrs []struct {
		Type    int             `json:"type"`
		Value   json.RawMessage `json:"value"`
		Nexthop string          `json:"nexthop"`
		Comms   []uint32        `json:"communities"`
	} `json:"attrs"`
}

// extComms returns the path's extended communities as gobgp prints them.
func (p *gobgpPath) extComms() []map[string]any {
	for _, a := range p.Attrs {
		if a.Type == 16 {
			var v []map[string]any
			json.Unmarshal(a.Value, &v)
			return v
		}
	}
	return nil
}

func (p *gobgpPath) attr(typ int) json.RawMessage {
	for _, a := range p.Attrs {
		if a.Type == typ {
			return a.Value
		}
	}
	return nil
}

func (p *gobgpPath) nexthop() string {
	for _, a := range p.Attrs {
		if a.Type == 14 {
			return a.Nexthop
		}
	}
	return ""
}

// vpnv4RIB reads gobgpd's VPNv4 table: "rd:prefix" -> paths.
func (g *gobgpd) vpnv4RIB(t *testing.T) map[string][]gobgpPath {
	t.Helper()
	out, err := g.run("global", "rib", "-a", "vpnv4", "-j")
	if err != nil {
		t.Logf("%v", err)
		return nil
	}
	m := map[string][]gobgpPath{}
	if s := strings.TrimSpace(out); s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("gobgp rib json: %v\n%s", err, out)
		}
	}
	return m
}

// TestGoBGPInterop peers the control node with gobgpd v3 over iBGP VPNv4.
// The agent's VM route appears in gobgpd's table with its RD
// (vrouter:instance-id), label, route target, encapsulation and next hop;
// a route added with the gobgp CLI is imported into the instance whose
// import target it carries and reaches the subscribed agent with its
// label, next hop and encapsulation; withdrawals cross both ways.
func TestGoBGPInterop(t *testing.T) {
	gobgpBin(t)
	ourPort, gPort := etcdtest.FreePort(t), etcdtest.FreePort(t)
	g := startGoBGP(t, gobgpNeighborConf(gPort, ourPort))

	e := newEnv(t, Config{Hostname: "cn1"})
	r1 := e.bgpRouter("cn1", "127.0.0.1", ourPort, "control-node", nil)
	r2 := e.bgpRouter("gobgp1", "127.0.0.4", gPort, "router", nil)
	e.setRefs(r1, r2)
	ri := e.networkWithTarget("vn1", "target:64512:8000001")
	a := e.agent("compute-1")
	a.c.Subscribe(ri, 7)
	vm := vmRoute("10.1.1.3/32", "192.0.2.1", 17, "default-domain:default-project:vn1")
	vm.SecurityGroups = []uint32{8000002}
	vm.CommunityTags = []string{"64512:55"}
	a.c.Publish(ri, vm, false)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := g.run("neighbor")
			rib, _ := g.run("global", "rib", "-a", "vpnv4")
			t.Logf("gobgp neighbor:\n%s\ngobgp vpnv4 rib:\n%s", out, rib)
		}
	})

	// Ours in gobgpd: RD 192.0.2.1:7 (vrouter address : instance id),
	// label 17, target, VXLAN encapsulation, next hop the vrouter.
	var got gobgpPath
	waitUntil(t, 20*time.Second, "the agent's route in gobgpd's vpnv4 table", func() bool {
		ps := g.vpnv4RIB(t)["192.0.2.1:7:10.1.1.3/32"]
		if len(ps) == 0 {
			return false
		}
		got = ps[0]
		return true
	})
	if !slices.Equal(got.NLRI.Labels, []uint32{17}) || got.nexthop() != "192.0.2.1" {
		t.Errorf("label/nexthop in gobgpd: %+v nexthop %s", got.NLRI, got.nexthop())
	}
	var hasRT, hasEncap, hasSG, hasVN bool
	for _, ec := range got.extComms() {
		// Security group 8000002 and origin VN (the network's id) as the
		// original encodes them: experimental type 0x80, subtypes 0x04 and
		// 0x71, our AS.
		v, _ := base64.StdEncoding.DecodeString(fmt.Sprint(ec["value"]))
		if ec["type"] == float64(0x80) && ec["subtype"] == float64(0x04) {
			hasSG = bytes.Equal(v, []byte{0x04, 0xfc, 0x00, 0x00, 0x7a, 0x12, 0x02}) // 64512, 8000002
		}
		if ec["type"] == float64(0x80) && ec["subtype"] == float64(0x71) {
			hasVN = len(v) == 7 && v[1] == 0xfc && v[2] == 0 && binary.BigEndian.Uint32(v[3:]) != 0
		}
		if ec["type"] == float64(0) && ec["subtype"] == float64(2) && ec["value"] == "64512:8000001" {
			hasRT = true
		}
		if ec["type"] == float64(3) && ec["subtype"] == float64(12) && ec["tunnel_type"] == float64(8) {
			hasEncap = true
		}
	}
	t.Logf("extended communities in gobgpd: %v", got.extComms())
	if !hasRT || !hasEncap || !hasSG || !hasVN {
		t.Errorf("extended communities in gobgpd: %v (want RT 64512:8000001, VXLAN encapsulation, security group, origin VN)", got.extComms())
	}
	var comms []uint32
	for _, at := range got.Attrs {
		if at.Type == 8 {
			comms = at.Comms
		}
	}
	if !slices.Equal(comms, []uint32{64512<<16 | 55}) {
		t.Errorf("communities in gobgpd: %v, want [64512:55]", comms)
	}
	if lp := string(got.attr(5)); lp != "100" {
		t.Errorf("local-pref in gobgpd: %q", lp)
	}

	// gobgpd's route, added with its CLI, reaches the agent.
	if _, err := g.run("global", "rib", "-a", "vpnv4", "add", "10.60.0.0/24", "label", "2345", "rd", "64512:77",
		"rt", "64512:8000001", "encap", "mpls-in-udp", "nexthop", "127.0.0.4", "local-pref", "200"); err != nil {
		t.Fatal(err)
	}
	// One with a target no instance imports stays out of the instance.
	if _, err := g.run("global", "rib", "-a", "vpnv4", "add", "10.70.0.0/24", "label", "3000", "rd", "64512:78",
		"rt", "64512:9999", "nexthop", "127.0.0.4"); err != nil {
		t.Fatal(err)
	}
	a.waitFor("gobgpd's route in the agent's instance", func() bool {
		r := a.route(ri, "10.60.0.0/24")
		return r != nil && len(r.NextHops) == 1 && r.NextHops[0].Label == 2345 && r.NextHops[0].Address == "127.0.0.4" &&
			slices.Equal(r.NextHops[0].TunnelEncapsulation, []string{"udp"}) && r.LocalPreference == 200
	})
	waitUntil(t, 10*time.Second, "gobgpd's other route in our VPN table", func() bool {
		rs, _ := e.ctl.Routes(context.Background(), rib.MasterInstance, rib.InetVPN)
		for _, r := range rs {
			if r.Prefix == "64512:78:10.70.0.0/24" && len(r.Paths) == 1 && r.Paths[0].Label == 3000 {
				return true
			}
		}
		return false
	})
	a.mu.Lock()
	if a.route(ri, "10.70.0.0/24") != nil {
		t.Error("a route whose target the instance does not import reached the agent")
	}
	a.mu.Unlock()

	// Withdrawals both ways.
	if _, err := g.run("global", "rib", "-a", "vpnv4", "del", "10.60.0.0/24", "label", "2345", "rd", "64512:77"); err != nil {
		t.Fatal(err)
	}
	a.waitFor("gobgpd's withdrawal at the agent", func() bool { return a.route(ri, "10.60.0.0/24") == nil })
	a.c.Publish(ri, vm, true)
	waitUntil(t, 20*time.Second, "the agent's withdrawal in gobgpd", func() bool {
		_, ok := g.vpnv4RIB(t)["192.0.2.1:7:10.1.1.3/32"]
		return !ok
	})
}

// waitUntil polls cond until it holds or fails the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
