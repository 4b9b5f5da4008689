// SPDX-License-Identifier: Apache-2.0

package security

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/google/nftables"
	"github.com/ti-mo/conntrack"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// topo is a host namespace that routes between two VM namespaces: vm1
// (10.0.1.2 behind port "tap1") and vm2 (10.0.2.2 behind "tap2").
type topo struct {
	host, vm1, vm2 *nstest.NS
	fw             *Firewall
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	nstest.NeedRoot(t)
	tp := &topo{host: nstest.New(t, "host"), vm1: nstest.New(t, "vm1"), vm2: nstest.New(t, "vm2")}
	tp.host.Veth(t, "tap1", "10.0.1.1/24", tp.vm1, "eth0", "10.0.1.2/24")
	tp.host.Veth(t, "tap2", "10.0.2.1/24", tp.vm2, "eth0", "10.0.2.2/24")
	tp.vm1.Route(t, "0.0.0.0/0", "10.0.1.1", "", 0)
	tp.vm2.Route(t, "0.0.0.0/0", "10.0.2.1", "", 0)
	tp.host.Sysctl(t, "net.ipv4.ip_forward", "1")
	// New veths take a moment to carry traffic: wait for the gateways.
	if !tp.vm1.Ping("10.0.1.1", 10*time.Second) || !tp.vm2.Ping("10.0.2.1", 10*time.Second) {
		t.Fatal("VMs cannot reach their gateway")
	}
	fw, err := New(nil, WithNetNS(tp.host.NS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	tp.fw = fw
	return tp
}

func (tp *topo) apply(t *testing.T, s State) {
	t.Helper()
	if err := tp.fw.Reconcile(context.Background(), s); err != nil {
		t.Fatalf("Reconcile: %v\n%s", err, tp.host.NFTDump())
	}
}

func anyEgress(uuid string) Rule {
	return Rule{UUID: uuid, Protocol: -1, Dst: Endpoint{Any: true}, Action: Pass}
}

func counter(cs []RuleCounter, port, kind, uuid string) RuleCounter {
	for _, c := range cs {
		if c.Port == port && c.Kind == kind && c.RuleUUID == uuid {
			return c
		}
	}
	return RuleCounter{}
}

func TestSecurityGroups(t *testing.T) {
	tp := newTopo(t)
	tp.vm2.Listen(t, 8080)
	tp.vm2.Listen(t, 9090)
	tp.vm1.Listen(t, 7070)

	ports := func(vm2Ingress ...Rule) State {
		return State{
			Ports: []Port{
				{Name: "tap1", VN: "d:p:red", IPs: []netip.Addr{nstest.Addr("10.0.1.2")}, PolicyEnabled: true, HasSGs: true,
					SGRules: []Rule{{UUID: "eg1", Protocol: 6, Dst: Endpoint{Prefixes: []netip.Prefix{nstest.Pfx("10.0.2.0/24")}}, DstPorts: PortRange{8000, 9999}, Action: Pass},
						{UUID: "eg-icmp", Protocol: 1, Dst: Endpoint{Any: true}, Action: Pass}}},
				{Name: "tap2", VN: "d:p:blue", IPs: []netip.Addr{nstest.Addr("10.0.2.2")}, PolicyEnabled: true, HasSGs: true,
					SGRules: append([]Rule{anyEgress("eg2")}, vm2Ingress...)},
			},
			SGMembers: map[int][]netip.Prefix{8000001: {nstest.Pfx("10.0.1.2/32")}},
		}
	}

	// No ingress rule at vm2: nothing reaches it; vm1 has no ingress rule
	// either, so vm2 cannot reach vm1 even though its egress allows all.
	tp.apply(t, ports())
	if tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatalf("connection to vm2 without an ingress rule passed\n%s", tp.host.NFTDump())
	}
	if tp.vm2.CanConnect("10.0.1.2", 7070) {
		t.Fatal("connection to vm1 without an ingress rule passed")
	}
	if tp.vm1.Ping("10.0.2.2", 600*time.Millisecond) {
		t.Fatal("ping passed without an ingress rule")
	}

	// Ingress rule by remote group: tcp 8080 from members of 8000001.
	r8080 := Rule{UUID: "in-8080", Ingress: true, Protocol: 6, Src: Endpoint{SGID: 8000001}, DstPorts: PortRange{8080, 8080}, Action: Pass}
	tp.apply(t, ports(r8080))
	if !tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatalf("tcp 8080 from a member of the remote group blocked\n%s", tp.host.NFTDump())
	}
	if tp.vm1.CanConnect("10.0.2.2", 9090) {
		t.Fatal("tcp 9090 passed with only an 8080 rule")
	}
	// An established connection of rule in-8080.
	c8080, err := tp.vm1.Dial("10.0.2.2", 8080, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c8080.Close()
	if err := nstest.Echo(c8080); err != nil {
		t.Fatal(err)
	}

	// Add a rule (subnet, 9090) and ICMP: in place; the 8080 connection lives on.
	r9090 := Rule{UUID: "in-9090", Ingress: true, Protocol: 6, Src: Endpoint{Prefixes: []netip.Prefix{nstest.Pfx("10.0.1.0/24")}}, DstPorts: PortRange{9090, 9090}, Action: Pass}
	rICMP := Rule{UUID: "in-icmp", Ingress: true, Protocol: 1, Src: Endpoint{Any: true}, Action: Pass}
	tp.apply(t, ports(r8080, r9090, rICMP))
	if err := nstest.Echo(c8080); err != nil {
		t.Fatalf("established connection broken by adding a rule: %v", err)
	}
	if !tp.vm1.CanConnect("10.0.2.2", 9090) {
		t.Fatal("tcp 9090 blocked after adding its rule")
	}
	if !tp.vm1.Ping("10.0.2.2", 2*time.Second) {
		t.Fatal("ping blocked with an icmp rule")
	}
	c9090, err := tp.vm1.Dial("10.0.2.2", 9090, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c9090.Close()
	if err := nstest.Echo(c9090); err != nil {
		t.Fatal(err)
	}

	cs, err := tp.fw.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c := counter(cs, "tap2", KindSGIngress, "in-8080"); c.Packets == 0 || c.Bytes == 0 {
		t.Errorf("in-8080 counter did not move: %+v\n%+v", c, cs)
	}
	if c := counter(cs, "tap2", KindDenyIngress, ""); c.Packets == 0 {
		t.Errorf("deny counter did not move: %+v", cs)
	}
	if c := counter(cs, "tap1", KindSGEgress, "eg1"); c.Packets == 0 {
		t.Errorf("eg1 counter did not move: %+v", cs)
	}

	// Egress at vm1 allows tcp 8000-9999 and icmp only: 7070 on vm2 is
	// refused by vm1's egress even with an ingress rule at vm2.
	tp.vm2.Listen(t, 7070)
	r7070 := Rule{UUID: "in-7070", Ingress: true, Protocol: 6, Src: Endpoint{Any: true}, DstPorts: PortRange{7070, 7070}, Action: Pass}
	before := counter(cs, "tap2", KindSGIngress, "in-8080")
	tp.apply(t, ports(r8080, r9090, rICMP, r7070))
	cs2, err := tp.fw.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after := counter(cs2, "tap2", KindSGIngress, "in-8080"); after.Packets < before.Packets {
		t.Errorf("counter of an unchanged rule reset by adding a rule: %+v -> %+v", before, after)
	}
	if tp.vm1.CanConnect("10.0.2.2", 7070) {
		t.Fatal("tcp 7070 passed vm1's egress rules")
	}
	if err := nstest.Echo(c8080); err != nil {
		t.Fatalf("established connection broken: %v", err)
	}

	// Removing rule in-9090 removes its connections (re-evaluation); the
	// 8080 connection stays.
	tp.apply(t, ports(r8080, rICMP, r7070))
	if err := nstest.Echo(c8080); err != nil {
		t.Fatalf("connection of a kept rule broken by removing another rule: %v", err)
	}
	if tp.vm1.CanConnect("10.0.2.2", 9090) {
		t.Fatal("tcp 9090 passed after its rule was removed")
	}
	_ = c9090.SetDeadline(time.Now().Add(700 * time.Millisecond))
	if err := nstest.Echo(c9090); err == nil {
		t.Fatal("connection of a removed rule still passes")
	}

	// Membership: vm1 leaves group 8000001 -> new 8080 connections fail.
	s := ports(r8080, rICMP, r7070)
	s.SGMembers[8000001] = []netip.Prefix{nstest.Pfx("10.0.3.3/32")}
	tp.apply(t, s)
	if tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatal("tcp 8080 passed after the source left the remote group")
	}
	// ... and its connection made while a member is re-evaluated and cut.
	if err := nstest.Echo(c8080); err == nil {
		t.Fatal("connection of a former member of the remote group still passes")
	}

	// Port security off: everything passes.
	s.Ports[1].PolicyEnabled = false
	s.Ports[0].PolicyEnabled = false
	tp.apply(t, s)
	if !tp.vm1.CanConnect("10.0.2.2", 9090) || !tp.vm2.CanConnect("10.0.1.2", 7070) {
		t.Fatal("port security disabled but traffic blocked")
	}
}

func TestDumpLayout(t *testing.T) {
	tp := newTopo(t)
	tp.apply(t, State{Ports: []Port{{Name: "tap1", PolicyEnabled: true, HasSGs: true,
		SGRules: []Rule{anyEgress("e"), {UUID: "i", Ingress: true, Protocol: 6, Src: Endpoint{Any: true}, DstPorts: PortRange{22, 22}}}}}})
	d := tp.host.NFTDump()
	for _, want := range []string{"table inet contrail", "chain forward", "egress_ports", "sgin-tap1", "in4-tap1-0"} {
		if !strings.Contains(d, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, d)
		}
	}
	t.Log(d)
}

func TestNetworkPolicy(t *testing.T) {
	tp := newTopo(t)
	tp.vm2.Listen(t, 8080)
	tp.vm2.Listen(t, 9090)
	tp.vm1.Listen(t, 7070)
	red, blue := "d:p:red", "d:p:blue"
	vnp := map[string][]netip.Prefix{red: {nstest.Pfx("10.0.1.0/24")}, blue: {nstest.Pfx("10.0.2.0/24")}}
	implicit := func(self string) []Rule {
		return []Rule{
			{UUID: "00000000-0000-0000-0000-100000000001", Protocol: -1, Src: Endpoint{VN: self}, Dst: Endpoint{VN: self}, Action: Pass},
			{UUID: "00000000-0000-0000-0000-100000000002", Protocol: -1, Src: Endpoint{Any: true}, Dst: Endpoint{Any: true}, Action: Deny},
		}
	}
	// red: deny tcp 9090 to blue first, then pass anything red <> blue.
	redACL := append([]Rule{
		{UUID: "deny-9090", Protocol: 6, Src: Endpoint{VN: red}, Dst: Endpoint{VN: blue}, DstPorts: PortRange{9090, 9090}, Action: Deny},
		{UUID: "pass-rb", Protocol: -1, Src: Endpoint{VN: red}, Dst: Endpoint{VN: blue}, Action: Pass, Direction: "<>"},
		{UUID: "pass-rb", Protocol: -1, Src: Endpoint{VN: blue}, Dst: Endpoint{VN: red}, Action: Pass, Direction: "<>"},
	}, implicit(red)...)
	// blue: pass tcp from red only (one direction).
	blueACL := append([]Rule{
		{UUID: "pass-tcp-from-red", Protocol: 6, Src: Endpoint{VN: red}, Dst: Endpoint{VN: blue}, Action: Pass, Direction: ">"},
	}, implicit(blue)...)
	s := State{
		Ports: []Port{
			{Name: "tap1", VN: red, VNRules: redACL},
			{Name: "tap2", VN: blue, VNRules: blueACL},
		},
		VNPrefixes: vnp,
	}
	tp.apply(t, s)
	if !tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatalf("red -> blue tcp 8080 blocked\n%s", tp.host.NFTDump())
	}
	if tp.vm1.CanConnect("10.0.2.2", 9090) {
		t.Fatal("red -> blue tcp 9090 passed a deny placed before the pass (first match)")
	}
	if tp.vm1.Ping("10.0.2.2", 600*time.Millisecond) {
		t.Fatal("red -> blue icmp passed although blue only allows tcp from red")
	}
	if tp.vm2.CanConnect("10.0.1.2", 7070) {
		t.Fatal("blue -> red passed although blue's ACL has no blue -> red rule")
	}
	cs, err := tp.fw.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c := counter(cs, "tap1", KindVNEgress, "pass-rb"); c.Packets == 0 || c.Action != Pass {
		t.Errorf("pass-rb counter: %+v", c)
	}
	if c := counter(cs, "tap1", KindVNEgress, "deny-9090"); c.Packets == 0 || c.Action != Deny {
		t.Errorf("deny-9090 counter: %+v", c)
	}
	if c := counter(cs, "tap2", KindVNIngress, "pass-tcp-from-red"); c.Packets == 0 {
		t.Errorf("pass-tcp-from-red counter: %+v", c)
	}
	// Swap the order in red's ACL: the pass now matches first.
	redACL[0], redACL[1] = redACL[1], redACL[0]
	tp.apply(t, s)
	if !tp.vm1.CanConnect("10.0.2.2", 9090) {
		t.Fatal("red -> blue tcp 9090 blocked with the pass first")
	}
	// Same network: implicit rule passes.
	s.Ports[1].VN, s.Ports[1].VNRules = red, implicit(red)
	s.VNPrefixes[red] = []netip.Prefix{nstest.Pfx("10.0.1.0/24"), nstest.Pfx("10.0.2.0/24")}
	tp.apply(t, s)
	if !tp.vm2.CanConnect("10.0.1.2", 7070) {
		t.Fatal("traffic inside one network blocked")
	}
}

// TestFloatingIP reaches vm2 through floating address 10.99.0.5 from a
// third namespace. The host's main table knows neither 10.0.2.0/24 nor the
// outside network: only the fwmark rules lead to the port's table (1002)
// and, for replies, to the floating network's table (1001).
func TestFloatingIP(t *testing.T) {
	nstest.NeedRoot(t)
	host, vm2, ext := nstest.New(t, "host"), nstest.New(t, "vm2"), nstest.New(t, "ext")
	host.Veth(t, "tap2", "", vm2, "eth0", "10.0.2.2/24")
	host.Veth(t, "fx0", "", ext, "eth0", "10.9.0.2/24")
	host.Addr(t, "tap2", "10.0.2.1/32")
	host.Addr(t, "fx0", "10.9.0.1/32")
	vm2.Route(t, "0.0.0.0/0", "10.0.2.1", "", 0)
	vm2.LinkUp(t, "eth0")
	ext.Route(t, "10.99.0.0/24", "10.9.0.1", "", 0)
	host.Route(t, "10.0.2.2/32", "", "tap2", 1002)
	host.Route(t, "10.9.0.0/24", "", "fx0", 1001)
	host.Sysctl(t, "net.ipv4.ip_forward", "1")
	host.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0")
	host.Sysctl(t, "net.ipv4.conf.fx0.rp_filter", "0")
	host.Sysctl(t, "net.ipv4.conf.tap2.rp_filter", "0")
	host.Sysctl(t, "net.ipv4.conf.tap2.proxy_arp", "1")
	host.Sysctl(t, "net.ipv4.conf.fx0.proxy_arp", "1")
	vm2.Listen(t, 8080)

	fw, err := New(nil, WithNetNS(host.NS))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	fip := FloatingIP{Floating: nstest.Addr("10.99.0.5"), Fixed: nstest.Addr("10.0.2.2"), FloatingTable: 1001, PortTable: 1002, FloatingDev: "fx0"}
	// The port's network ACL allows only its own network: connections
	// through the floating IP are not subject to it.
	port := Port{Name: "tap2", VN: "d:p:blue", PolicyEnabled: true, HasSGs: true, FloatingIPs: []FloatingIP{fip},
		SGRules: []Rule{anyEgress("eg"), {UUID: "in-8080", Ingress: true, Protocol: 6, Src: Endpoint{Any: true}, DstPorts: PortRange{8080, 8080}, Action: Pass}},
		VNRules: []Rule{{UUID: "self", Protocol: -1, Src: Endpoint{VN: "d:p:blue"}, Dst: Endpoint{VN: "d:p:blue"}, Action: Pass},
			{UUID: "deny", Protocol: -1, Src: Endpoint{Any: true}, Dst: Endpoint{Any: true}, Action: Deny}}}
	if err := fw.Reconcile(context.Background(), State{Ports: []Port{port}, VNPrefixes: map[string][]netip.Prefix{"d:p:blue": {nstest.Pfx("10.0.2.0/24")}}}); err != nil {
		t.Fatal(err)
	}
	reached := false
	for i := 0; i < 4 && !reached; i++ { // the first SYN may leave before the new veths carry traffic
		reached = ext.CanConnect("10.99.0.5", 8080)
	}
	if !reached {
		t.Fatalf("floating IP not reachable\n%s", host.NFTDump())
	}
	// A leaked rule in our range goes at the next Reconcile.
	leak := netlinkRule(t, host, RulePriority+5, 0x1234, 1001)
	if err := fw.Reconcile(context.Background(), State{Ports: []Port{port}}); err != nil {
		t.Fatal(err)
	}
	if hasRule(t, host, leak) {
		t.Error("leaked ip rule in the owned range not removed")
	}
	// Without the floating IP: unreachable, rules gone.
	port.FloatingIPs = nil
	if err := fw.Reconcile(context.Background(), State{Ports: []Port{port}}); err != nil {
		t.Fatal(err)
	}
	if ext.CanConnect("10.99.0.5", 8080) {
		t.Fatal("floating IP still reachable after removal")
	}
	if n := countOwnedRules(t, host); n != 0 {
		t.Errorf("%d fwmark rules left", n)
	}
}

// TestRestartAndCleanup checks that a new Firewall on a table left by a
// previous one (an agent restart) finds nothing to change and keeps the
// marks, and that objects it does not want (left by a crash or by hand)
// are removed.
func TestRestartAndCleanup(t *testing.T) {
	tp := newTopo(t)
	s := State{
		Ports: []Port{
			{Name: "tap1", VN: "red", PolicyEnabled: true, HasSGs: true,
				SGRules: []Rule{anyEgress("e1"), {UUID: "i1", Ingress: true, Protocol: 6, Src: Endpoint{SGID: 7}, DstPorts: PortRange{22, 22}, Action: Pass},
					{Ingress: true, Protocol: 17, Src: Endpoint{Prefixes: []netip.Prefix{nstest.Pfx("10.0.0.0/8"), nstest.Pfx("fd00::/64")}}, Ethertype: "IPv4", Action: Pass},
					{UUID: "i6", Ingress: true, Protocol: -1, Src: Endpoint{Prefixes: []netip.Prefix{nstest.Pfx("fd00::/64")}}, Ethertype: "IPv6", Action: Pass}},
				VNRules: []Rule{{UUID: "v1", Protocol: -1, Src: Endpoint{VN: "red"}, Dst: Endpoint{VN: "red"}, Action: Pass},
					{UUID: "v2", Protocol: -1, Src: Endpoint{Any: true}, Dst: Endpoint{Any: true}, Action: Deny}},
				FloatingIPs: []FloatingIP{{Floating: nstest.Addr("10.99.0.1"), Fixed: nstest.Addr("10.0.1.2"), FloatingTable: 1001, PortTable: 1002}}},
			{Name: "tap2", VN: "blue", PolicyEnabled: true, HasSGs: true, SGRules: []Rule{anyEgress("e2")}},
		},
		SGMembers:  map[int][]netip.Prefix{7: {nstest.Pfx("10.0.2.2/32"), nstest.Pfx("10.0.2.3/32")}},
		VNPrefixes: map[string][]netip.Prefix{"red": {nstest.Pfx("10.0.1.0/24")}},
	}
	tp.apply(t, s)
	marks := map[uint32][3]string{}
	for _, a := range tp.fw.ports {
		for i, info := range a.info {
			m := a.slot<<slotShift | i
			if strings.HasPrefix(info.kind, "sg-") {
				m |= sgBit
			}
			p, vn, uuid, ok := tp.fw.Resolve(m)
			if !ok {
				t.Fatalf("mark %#x does not resolve", m)
			}
			marks[m] = [3]string{p, vn, uuid}
		}
	}
	if len(marks) < 6 {
		t.Fatalf("only %d marks", len(marks))
	}

	// The same Firewall again: nothing to send.
	d0, _, err := tp.fw.compile(&s)
	if err != nil {
		t.Fatal(err)
	}
	if n := tp.fw.apply(d0); n != 0 {
		t.Errorf("second Reconcile of the same state: %d messages", n)
	}

	// A second Firewall (the agent restarted) reads the kernel back.
	fw2, err := New(nil, WithNetNS(tp.host.NS))
	if err != nil {
		t.Fatal(err)
	}
	defer fw2.Close()
	kv, err := fw2.readKernel()
	if err != nil {
		t.Fatal(err)
	}
	fw2.kernel = kv
	fw2.seed(kv)
	d, _, err := fw2.compile(&s)
	if err != nil {
		t.Fatal(err)
	}
	if n := fw2.apply(d); n != 0 {
		t.Errorf("restart: %d messages for an unchanged state", n)
		want := viewOf(d)
		for name, c := range want.chains {
			if fmt.Sprint(c) != fmt.Sprint(kv.chains[name]) {
				t.Logf("chain %s: kernel %q want %q", name, kv.chains[name], c)
			}
		}
		for name, m := range want.sets {
			for id, v := range m {
				if kv.sets[name][id] != v {
					t.Logf("set %s elem %x: kernel %q want %q", name, id, kv.sets[name][id], v)
				}
			}
			for id, v := range kv.sets[name] {
				if _, ok := m[id]; !ok {
					t.Logf("set %s extra elem %x: %q", name, id, v)
				}
			}
		}
	}
	if err := fw2.nft.Flush(); err != nil {
		t.Fatal(err)
	}
	fw2.kernel = viewOf(d)
	for m, want := range marks {
		p, _, uuid, ok := fw2.Resolve(m)
		if !ok || p != want[0] || uuid != want[2] {
			t.Errorf("after restart mark %#x resolves to %s %s %v, want %v", m, p, uuid, ok, want)
		}
	}

	// The table deleted behind the Firewall's back: the next Reconcile
	// notices and rebuilds it.
	if !fw2.tableIntact() {
		t.Fatal("tableIntact false on an intact table")
	}
	_ = nstest.OnThread(tp.host.NS, func() error {
		return exec.Command("nft", "delete", "table", "inet", "contrail").Run()
	})
	if err := fw2.Reconcile(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tp.host.NFTDump(), "sgin-tap1") {
		t.Fatal("table not rebuilt after an external delete")
	}

	// Leftovers: a chain and a map of a port that is gone, a stray rule.
	_ = nstest.OnThread(tp.host.NS, func() error {
		out, err := exec.Command("sh", "-c", `nft add chain inet contrail eg-old; nft add map inet contrail in4-old-0 '{ type ipv4_addr : mark; }'; nft add rule inet contrail sgin-tap2 counter accept`).CombinedOutput()
		if err != nil {
			t.Fatalf("nft: %v %s", err, out)
		}
		return nil
	})
	fw3, err := New(nil, WithNetNS(tp.host.NS))
	if err != nil {
		t.Fatal(err)
	}
	defer fw3.Close()
	if err := fw3.Reconcile(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	dump := tp.host.NFTDump()
	sgin := dump[strings.Index(dump, "chain sgin-tap2"):]
	sgin = sgin[:strings.Index(sgin, "}")]
	if strings.Contains(dump, "eg-old") || strings.Contains(dump, "in4-old-0") || strings.Contains(sgin, "accept") {
		t.Errorf("leftovers not removed:\n%s", dump)
	}
	// Removing every port leaves only the base chains.
	if err := fw3.Reconcile(context.Background(), State{}); err != nil {
		t.Fatal(err)
	}
	dump = tp.host.NFTDump()
	if strings.Contains(dump, "tap1") || strings.Contains(dump, "tap2") {
		t.Errorf("ports left in the table:\n%s", dump)
	}
	if err := fw3.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tp.host.NFTDump(), "contrail") {
		t.Error("table left after Delete")
	}
}

func TestRulesFromACL(t *testing.T) {
	raw := `{"dynamic": false, "acl_rule": [
	 {"match_condition": {"protocol": "6", "src_address": {"security_group": "8000002"}, "src_port": {"start_port": 0, "end_port": 65535},
	   "dst_address": {}, "dst_port": {"start_port": 22, "end_port": 22}, "ethertype": "IPv4"},
	  "action_list": {"simple_action": "pass"}, "rule_uuid": "u1", "direction": ">"},
	 {"match_condition": {"protocol": "any", "src_address": {"subnet": {"ip_prefix": "0.0.0.0", "ip_prefix_len": 0}}, "src_port": {"start_port": 0, "end_port": 65535},
	   "dst_address": {}, "dst_port": {"start_port": -1, "end_port": -1}, "ethertype": "IPv4"},
	  "action_list": {"simple_action": "pass"}, "rule_uuid": "u2", "direction": ">"},
	 {"match_condition": {"protocol": "17", "src_address": {"virtual_network": "d:p:red"}, "src_port": {"start_port": 0, "end_port": 65535},
	   "dst_address": {"virtual_network": "any"}, "dst_port": {"start_port": 53, "end_port": 53}, "ethertype": "IPv6"},
	  "action_list": {"simple_action": "deny"}, "rule_uuid": "u3", "direction": "<>"},
	 {"match_condition": {"protocol": "any", "src_address": {"virtual_network": "d:p:red"}, "src_port": {}, "dst_address": {"virtual_network": "d:p:blue"}, "dst_port": {}, "ethertype": "IPv4"},
	  "action_list": {"simple_action": "pass", "apply_service": ["d:p:si"]}, "rule_uuid": "u4"},
	 {"match_condition": {"protocol": "1", "src_address": {"subnet_list": [{"ip_prefix": "10.0.0.0", "ip_prefix_len": 8}, {"ip_prefix": "192.168.1.0", "ip_prefix_len": 24}]}, "src_port": {}, "dst_address": {}, "dst_port": {}, "ethertype": "IPv4"},
	  "action_list": {"simple_action": "pass"}}
	]}`
	obj := &model.Object{Type: "access-control-list", FQName: []string{"d", "p", "sg", "ingress-access-control-list"},
		Props: map[string]json.RawMessage{"access_control_list_entries": json.RawMessage(raw)}}
	rules, err := RulesFromACL(obj)
	if err == nil || !strings.Contains(err.Error(), "apply_service") {
		t.Errorf("service-chain entry not reported: %v", err)
	}
	if len(rules) != 4 {
		t.Fatalf("%d rules: %+v", len(rules), rules)
	}
	want0 := Rule{UUID: "u1", Ethertype: "IPv4", Protocol: 6, Src: Endpoint{SGID: 8000002}, SrcPorts: PortRange{0, 65535}, DstPorts: PortRange{22, 22}, Action: Pass, Direction: ">", Ingress: true}
	if fmt.Sprint(rules[0]) != fmt.Sprint(want0) {
		t.Errorf("rule 0 = %+v, want %+v", rules[0], want0)
	}
	if r := rules[1]; r.Protocol != -1 || len(r.Src.Prefixes) != 1 || r.Src.Prefixes[0] != nstest.Pfx("0.0.0.0/0") || r.DstPorts != (PortRange{0, 65535}) {
		t.Errorf("rule 1 = %+v", r)
	}
	if r := rules[2]; r.Protocol != 17 || r.Src.VN != "d:p:red" || !r.Dst.Any || r.Action != Deny || r.Ethertype != "IPv6" || r.Direction != "<>" {
		t.Errorf("rule 2 = %+v", r)
	}
	if r := rules[3]; r.Protocol != 1 || len(r.Src.Prefixes) != 2 || r.UUID != "" {
		t.Errorf("rule 3 = %+v", r)
	}
	obj.FQName[3] = "egress-access-control-list"
	rules, _ = RulesFromACL(obj)
	if rules[0].Ingress {
		t.Error("egress ACL rule marked ingress")
	}
}

// TestIPv6 runs the IPv6 paths: security-group maps keyed by ip6 addresses
// and a network ACL entry of ethertype IPv6.
func TestIPv6(t *testing.T) {
	tp := newTopo(t)
	tp.host.Addr(t, "tap1", "fd01::1/64")
	tp.host.Addr(t, "tap2", "fd02::1/64")
	tp.vm1.Addr(t, "eth0", "fd01::2/64")
	tp.vm2.Addr(t, "eth0", "fd02::2/64")
	tp.vm1.Route(t, "::/0", "fd01::1", "", 0)
	tp.vm2.Route(t, "::/0", "fd02::1", "", 0)
	tp.host.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	tp.vm2.Listen(t, 8080)
	tp.vm2.Listen(t, 9090)
	v6 := func(r Rule) Rule { r.Ethertype = "IPv6"; return r }
	s := State{Ports: []Port{
		{Name: "tap1", PolicyEnabled: true, HasSGs: true, SGRules: []Rule{v6(anyEgress("e1"))}},
		{Name: "tap2", PolicyEnabled: true, HasSGs: true, SGRules: []Rule{v6(anyEgress("e2")),
			v6(Rule{UUID: "in6", Ingress: true, Protocol: 6, Src: Endpoint{SGID: 5}, DstPorts: PortRange{8080, 8080}, Action: Pass})},
			VNRules: []Rule{
				v6(Rule{UUID: "deny9090", Protocol: 6, Src: Endpoint{Any: true}, Dst: Endpoint{Any: true}, DstPorts: PortRange{9090, 9090}, Action: Deny}),
				v6(Rule{UUID: "pass6", Protocol: -1, Src: Endpoint{Any: true}, Dst: Endpoint{Any: true}, Action: Pass})}},
	}, SGMembers: map[int][]netip.Prefix{5: {nstest.Pfx("fd01::2/128")}}}
	tp.apply(t, s)
	ok := false
	for i := 0; i < 4 && !ok; i++ { // neighbour discovery on fresh links
		ok = tp.vm1.CanConnect("fd02::2", 8080)
	}
	if !ok {
		t.Fatalf("IPv6 tcp 8080 blocked\n%s", tp.host.NFTDump())
	}
	if tp.vm1.CanConnect("fd02::2", 9090) {
		t.Fatal("IPv6 tcp 9090 passed")
	}
	cs, err := tp.fw.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c := counter(cs, "tap2", KindSGIngress, "in6"); c.Packets == 0 {
		t.Errorf("in6 counter: %+v", cs)
	}
	if c := counter(cs, "tap2", KindVNIngress, "deny9090"); c.Packets == 0 || c.Action != Deny {
		t.Errorf("deny9090 counter: %+v", c)
	}
	// IPv4 is not allowed in by any IPv6 rule.
	tp.vm2.Listen(t, 7070)
	if tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatal("IPv4 passed IPv6-only rules")
	}
}

// TestOverlappingRules puts rules whose elements overlap into separate
// maps (layers) and checks that traffic still matches.
func TestOverlappingRules(t *testing.T) {
	tp := newTopo(t)
	tp.vm2.Listen(t, 8080)
	wide := Rule{UUID: "wide", Ingress: true, Protocol: 6, Src: Endpoint{Any: true}, DstPorts: PortRange{1, 9000}, Action: Pass}
	narrow := Rule{UUID: "narrow", Ingress: true, Protocol: 6, Src: Endpoint{Prefixes: []netip.Prefix{nstest.Pfx("10.0.1.2/32")}}, DstPorts: PortRange{8080, 8080}, Action: Pass}
	dup := narrow
	dup.UUID = "dup"
	st := func(rules ...Rule) State {
		return State{Ports: []Port{{Name: "tap2", PolicyEnabled: true, HasSGs: true, SGRules: append([]Rule{anyEgress("e")}, rules...)}}}
	}
	tp.apply(t, st(wide, narrow, dup))
	dump := tp.host.NFTDump()
	if !strings.Contains(dump, "in4-tap2-1") || strings.Contains(dump, "in4-tap2-2") {
		t.Errorf("want two layers (duplicate dropped):\n%s", dump)
	}
	if !tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatalf("blocked with overlapping rules\n%s", dump)
	}
	tp.apply(t, st(narrow))
	if !tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatal("blocked after removing the wide rule")
	}
	if strings.Contains(tp.host.NFTDump(), "in4-tap2-1") {
		t.Error("second layer left after the overlap went")
	}
}

func TestLayers(t *testing.T) {
	a := box{lo: nstest.Addr("10.0.0.0"), hi: nstest.Addr("10.255.255.255"), plo: 6, phi: 6, slo: 0, shi: 65535, dlo: 80, dhi: 80}
	b := a
	b.lo, b.hi = nstest.Addr("10.1.0.0"), nstest.Addr("10.1.255.255") // inside a
	c := a
	c.dlo, c.dhi = 81, 81 // beside a
	d := a                // same as a
	ls := layer([]box{a, b, c, d})
	if len(ls) != 2 || len(ls[0]) != 2 || len(ls[1]) != 1 {
		t.Fatalf("layers: %+v", ls)
	}
}

// TestManyRulesRemoved removes many rules at once (the single-dump path of
// the conntrack clean-up): their connections go, the kept rule's stays.
func TestManyRulesRemoved(t *testing.T) {
	tp := newTopo(t)
	var rules []Rule
	for i := range 12 {
		port := 8100 + i
		tp.vm2.Listen(t, port)
		rules = append(rules, Rule{UUID: fmt.Sprintf("r%d", i), Ingress: true, Protocol: 6, Src: Endpoint{Any: true}, DstPorts: PortRange{port, port}, Action: Pass})
	}
	st := func(rs ...Rule) State {
		return State{Ports: []Port{{Name: "tap2", PolicyEnabled: true, HasSGs: true, SGRules: append([]Rule{anyEgress("e")}, rs...)}}}
	}
	tp.apply(t, st(rules...))
	kept, err := tp.vm1.Dial("10.0.2.2", 8100, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	cut, err := tp.vm1.Dial("10.0.2.2", 8105, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	if nstest.Echo(kept) != nil || nstest.Echo(cut) != nil {
		t.Fatal("echo failed")
	}
	tp.apply(t, st(rules[0]))
	if err := nstest.Echo(kept); err != nil {
		t.Fatalf("connection of the kept rule broken: %v", err)
	}
	if err := nstest.Echo(cut); err == nil {
		t.Fatal("connection of a removed rule still passes")
	}
}

// hookedChains lists the base chains of the table (those a hook runs).
func hookedChains(t *testing.T, fw *Firewall) []string {
	t.Helper()
	chains, err := fw.nft.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range chains {
		if c.Table.Name == TableName && c.Hooknum != nil {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestHooksOnlyWhenNeeded checks that without floating IPs the table hooks
// only forward (no prerouting, postrouting or nat chain for every packet
// to pass), that a floating IP brings its chains and that they go with it,
// also for a new Firewall (an agent restart) finding them left behind.
func TestHooksOnlyWhenNeeded(t *testing.T) {
	tp := newTopo(t)
	tp.vm2.Listen(t, 8080)
	s := State{Ports: []Port{
		{Name: "tap1", VN: "red", PolicyEnabled: true, HasSGs: true, SGRules: []Rule{anyEgress("e1")}},
		{Name: "tap2", VN: "blue", PolicyEnabled: true, HasSGs: true, SGRules: []Rule{anyEgress("e2"),
			{UUID: "i8080", Ingress: true, Protocol: 6, Src: Endpoint{Any: true}, DstPorts: PortRange{8080, 8080}, Action: Pass}}},
	}}
	tp.apply(t, s)
	if got := hookedChains(t, tp.fw); !slices.Equal(got, []string{chainForward}) {
		t.Fatalf("base chains without floating IPs: %v, want only %s\n%s", got, chainForward, tp.host.NFTDump())
	}
	if !tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatal("vm1 -> vm2:8080 blocked")
	}
	withFIP := s
	withFIP.Ports = slices.Clone(s.Ports)
	withFIP.Ports[1].FloatingIPs = []FloatingIP{{Floating: nstest.Addr("10.99.0.5"), Fixed: nstest.Addr("10.0.2.2"), FloatingTable: 1001, PortTable: 1002}}
	tp.apply(t, withFIP)
	want := []string{chainFIPDNAT, chainFIPMark, chainFIPUnmark, chainForward}
	slices.Sort(want)
	if got := hookedChains(t, tp.fw); !slices.Equal(got, want) {
		t.Fatalf("base chains with a floating IP: %v, want %v", got, want)
	}
	tp.apply(t, s)
	if got := hookedChains(t, tp.fw); !slices.Equal(got, []string{chainForward}) {
		t.Fatalf("base chains after the floating IP went: %v\n%s", got, tp.host.NFTDump())
	}
	if n := countOwnedRules(t, tp.host); n != 0 {
		t.Errorf("%d fwmark rules left", n)
	}
	// Left behind by a previous agent: a new Firewall removes them.
	tp.apply(t, withFIP)
	fw2, err := New(nil, WithNetNS(tp.host.NS))
	if err != nil {
		t.Fatal(err)
	}
	defer fw2.Close()
	if err := fw2.Reconcile(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := hookedChains(t, fw2); !slices.Equal(got, []string{chainForward}) {
		t.Fatalf("base chains after a restart without floating IPs: %v", got)
	}
	if !tp.vm1.CanConnect("10.0.2.2", 8080) {
		t.Fatal("vm1 -> vm2:8080 blocked after the restart")
	}
}

// TestCountersPerConnection checks what the doc says about the cost of a
// packet: established traffic is accepted before any port chain, so a
// rule's counter sees the packets that set a connection up, while
// conntrack's accounting (what flow records read) sees all of them and
// its mark names the rule; and taking the rule away still cuts the
// connection.
func TestCountersPerConnection(t *testing.T) {
	tp := newTopo(t)
	tp.host.Sysctl(t, "net.netfilter.nf_conntrack_acct", "1")
	tp.vm2.Listen(t, 8080)
	s := func(rules ...Rule) State {
		return State{Ports: []Port{
			{Name: "tap1", VN: "red", PolicyEnabled: true, HasSGs: true, SGRules: []Rule{anyEgress("e1")}},
			{Name: "tap2", VN: "blue", PolicyEnabled: true, HasSGs: true, SGRules: append([]Rule{anyEgress("e2")}, rules...)},
		}}
	}
	allow := Rule{UUID: "i8080", Ingress: true, Protocol: 6, Src: Endpoint{Any: true}, DstPorts: PortRange{8080, 8080}, Action: Pass}
	tp.apply(t, s(allow))
	conn, err := tp.vm1.Dial("10.0.2.2", 8080, 2*time.Second)
	if err != nil {
		t.Fatalf("vm1 -> vm2:8080: %v", err)
	}
	defer conn.Close()
	const n = 200
	for i := 0; i < n; i++ {
		if err := nstest.Echo(conn); err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
	}
	cs, err := tp.fw.Counters()
	if err != nil {
		t.Fatal(err)
	}
	rc := counter(cs, "tap2", KindSGIngress, "i8080")
	if rc.Packets == 0 || rc.Packets > 5 {
		t.Errorf("rule counter of i8080: %d packets after one connection of %d round trips, want the set-up packet(s) only", rc.Packets, n)
	}
	flows, err := tp.fw.ct.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range flows {
		if f.TupleOrig.Proto.DestinationPort != 8080 || f.TupleOrig.IP.SourceAddress != nstest.Addr("10.0.1.2") {
			continue
		}
		found = true
		t.Logf("rule counter %d packets; conntrack %d/%d packets", rc.Packets, f.CountersOrig.Packets, f.CountersReply.Packets)
		if f.CountersOrig.Packets < n || f.CountersReply.Packets < n {
			t.Errorf("conntrack counters %d/%d packets, want >= %d each way", f.CountersOrig.Packets, f.CountersReply.Packets, n)
		}
		if _, _, uuid, ok := tp.fw.Resolve(f.Mark); !ok || uuid != "i8080" {
			t.Errorf("connection mark %#x resolves to %q, want i8080", f.Mark, uuid)
		}
	}
	if !found {
		t.Fatal("no conntrack entry for vm1 -> vm2:8080")
	}
	// The rule goes: so does the established connection.
	tp.apply(t, s())
	if err := nstest.Echo(conn); err == nil {
		t.Error("established connection still carries data after its rule was removed")
	}
}

// TestPortMarkWithoutRules: a connection of ports without security groups
// or network ACLs is let through and still carries its port's mark (rule
// index 0), so it resolves to the receiving port with no rule.
func TestPortMarkWithoutRules(t *testing.T) {
	tp := newTopo(t)
	tp.vm2.Listen(t, 8081)
	tp.apply(t, State{Ports: []Port{
		{Name: "tap1", VN: "red", PolicyEnabled: true},
		{Name: "tap2", VN: "blue", PolicyEnabled: true},
	}})
	conn, err := tp.vm1.Dial("10.0.2.2", 8081, 2*time.Second)
	if err != nil {
		t.Fatalf("vm1 -> vm2:8081 between ports without rules: %v", err)
	}
	defer conn.Close()
	if err := nstest.Echo(conn); err != nil {
		t.Fatal(err)
	}
	flows, err := tp.fw.ct.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if f.TupleOrig.Proto.DestinationPort != 8081 {
			continue
		}
		port, vn, uuid, ok := tp.fw.Resolve(f.Mark)
		if !ok || port != "tap2" || vn != "blue" || uuid != "" || f.Mark&idxMask != 0 {
			t.Fatalf("mark %#x resolves to %q %q %q %v, want tap2 blue and no rule", f.Mark, port, vn, uuid, ok)
		}
		return
	}
	t.Fatal("no conntrack entry for vm1 -> vm2:8081")
}

// TestUntrackedTunnel: with WithUntrackedTunnel, UDP to the tunnel port
// arriving on the underlay device stays out of conntrack; the same
// traffic on another device, and other ports, are tracked.
func TestUntrackedTunnel(t *testing.T) {
	tp := newTopo(t)
	fw, err := New(nil, WithNetNS(tp.host.NS), WithUntrackedTunnel("tap1", 4789))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	if err := fw.Reconcile(context.Background(), State{}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		from  *nstest.NS
		to    string
		port  int
		track bool
	}{
		{tp.vm1, "10.0.2.2", 4789, false}, // in on tap1 ("the underlay") to the tunnel port
		{tp.vm1, "10.0.2.2", 4790, true},
		{tp.vm2, "10.0.1.2", 4789, true}, // in on tap2
	} {
		err := nstest.OnThread(x.from.NS, func() error {
			c, err := net.Dial("udp", net.JoinHostPort(x.to, fmt.Sprint(x.port)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("x"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		flows, err := fw.ct.Dump(nil)
		if err != nil {
			t.Fatal(err)
		}
		tracked := slices.ContainsFunc(flows, func(f conntrack.Flow) bool {
			return f.TupleOrig.Proto.DestinationPort == uint16(x.port) && f.TupleOrig.IP.DestinationAddress == nstest.Addr(x.to)
		})
		if tracked != x.track {
			t.Errorf("UDP to %s:%d: tracked %v, want %v", x.to, x.port, tracked, x.track)
		}
	}
}
