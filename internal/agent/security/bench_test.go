// SPDX-License-Identifier: Apache-2.0

package security

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

// manyRules returns n ingress rules of which only the last matches
// tcp from 10.0.1.2 to port 8080: the others name other sources and ports.
func manyRules(n int) []Rule {
	rules := []Rule{anyEgress("eg")}
	for i := range n - 1 {
		rules = append(rules, Rule{UUID: fmt.Sprintf("r%d", i), Ingress: true, Protocol: 6,
			Src:      Endpoint{Prefixes: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + byte(i/250), byte(i % 250), 0}), 24)}},
			DstPorts: PortRange{1000 + i, 1000 + i}, Action: Pass})
	}
	return append(rules, Rule{UUID: "hit", Ingress: true, Protocol: 6, Src: Endpoint{Prefixes: []netip.Prefix{nstest.Pfx("10.0.1.0/24")}},
		DstPorts: PortRange{8080, 8080}, Action: Pass})
}

// linearRules is the same as a network ACL: n linear rules, the last one
// passing.
func linearRules(n int) []Rule {
	var rules []Rule
	for i := range n - 1 {
		rules = append(rules, Rule{UUID: fmt.Sprintf("v%d", i), Protocol: 6,
			Src: Endpoint{Prefixes: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + byte(i/250), byte(i % 250), 0}), 24)}},
			Dst: Endpoint{Any: true}, DstPorts: PortRange{1000 + i, 1000 + i}, Action: Pass})
	}
	return append(rules, Rule{UUID: "hit", Protocol: -1, Src: Endpoint{Any: true}, Dst: Endpoint{Any: true}, Action: Pass})
}

// BenchmarkNewConnections measures TCP connections per second from vm1
// to vm2 through port tap2 with no rules (port security off), with 1000
// security-group rules (map lookups), and for contrast 1000 linear
// network-ACL rules.
func BenchmarkNewConnections(b *testing.B) {
	nstest.NeedRoot(b)
	host, vm1, vm2 := nstest.New(b, "host"), nstest.New(b, "vm1"), nstest.New(b, "vm2")
	host.Veth(b, "tap1", "10.0.1.1/24", vm1, "eth0", "10.0.1.2/24")
	host.Veth(b, "tap2", "10.0.2.1/24", vm2, "eth0", "10.0.2.2/24")
	vm1.Route(b, "0.0.0.0/0", "10.0.1.1", "", 0)
	vm2.Route(b, "0.0.0.0/0", "10.0.2.1", "", 0)
	host.Sysctl(b, "net.ipv4.ip_forward", "1")
	vm1.Sysctl(b, "net.ipv4.ip_local_port_range", "10000 65000")
	vm2.Listen(b, 8080)
	fw, err := New(nil, WithNetNS(host.NS))
	if err != nil {
		b.Fatal(err)
	}
	defer fw.Close()
	cases := []struct {
		name string
		port Port
	}{
		{"rules=0", Port{Name: "tap2", PolicyEnabled: false}},
		{"sg-rules=1000", Port{Name: "tap2", PolicyEnabled: true, HasSGs: true, SGRules: manyRules(1000)}},
		{"linear-acl-rules=1000", Port{Name: "tap2", VNRules: linearRules(1000)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if err := fw.Reconcile(context.Background(), State{Ports: []Port{c.port}}); err != nil {
				b.Fatal(err)
			}
			if !vm1.CanConnect("10.0.2.2", 8080) {
				b.Fatal("connection blocked")
			}
			b.ResetTimer()
			start := time.Now()
			err := nstest.OnThread(vm1.NS, func() error {
				for range b.N {
					conn, err := net.DialTimeout("tcp", "10.0.2.2:8080", time.Second)
					if err != nil {
						return err
					}
					_ = conn.(*net.TCPConn).SetLinger(0)
					conn.Close()
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conn/s")
		})
	}
}

// BenchmarkReconcile1000Ports measures Reconcile of 1000 ports with 10
// security-group rules and a 4-rule network ACL each: the first (empty
// table), an update of one rule of one port, an unchanged state, and an
// unchanged state seen by a new Firewall (agent restart: the table is read
// back).
func BenchmarkReconcile1000Ports(b *testing.B) {
	nstest.NeedRoot(b)
	host := nstest.New(b, "host")
	state := func(gen int) State {
		s := State{SGMembers: map[int][]netip.Prefix{8000001: {nstest.Pfx("10.1.0.0/16")}}, VNPrefixes: map[string][]netip.Prefix{"red": {nstest.Pfx("10.1.0.0/16")}, "blue": {nstest.Pfx("10.2.0.0/16")}}}
		for i := range 1000 {
			var sg []Rule
			sg = append(sg, anyEgress("eg"))
			for k := range 9 {
				sg = append(sg, Rule{UUID: fmt.Sprintf("p%d-r%d", i, k), Ingress: true, Protocol: 6, Src: Endpoint{SGID: 8000001}, DstPorts: PortRange{8000 + k, 8000 + k}, Action: Pass})
			}
			if i == 0 {
				sg[1].DstPorts = PortRange{9000 + gen, 9000 + gen}
			}
			vn := []Rule{
				{UUID: "deny", Protocol: 6, Src: Endpoint{VN: "red"}, Dst: Endpoint{VN: "blue"}, DstPorts: PortRange{22, 22}, Action: Deny},
				{UUID: "pass", Protocol: -1, Src: Endpoint{VN: "red"}, Dst: Endpoint{VN: "blue"}, Action: Pass},
				{UUID: "self", Protocol: -1, Src: Endpoint{VN: "red"}, Dst: Endpoint{VN: "red"}, Action: Pass},
				{UUID: "deny-all", Protocol: -1, Src: Endpoint{Any: true}, Dst: Endpoint{Any: true}, Action: Deny},
			}
			s.Ports = append(s.Ports, Port{Name: fmt.Sprintf("tap%d", i), VN: "red", PolicyEnabled: true, HasSGs: true, SGRules: sg, VNRules: vn})
		}
		return s
	}
	for _, mode := range []string{"initial", "one-rule-changed", "unchanged", "restart-unchanged"} {
		b.Run(mode, func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				fw, err := New(nil, WithNetNS(host.NS))
				if err != nil {
					b.Fatal(err)
				}
				if mode != "initial" {
					if err := fw.Reconcile(context.Background(), state(0)); err != nil {
						b.Fatal(err)
					}
				}
				if mode == "restart-unchanged" { // a new Firewall reads the table back
					fw.Close()
					if fw, err = New(nil, WithNetNS(host.NS)); err != nil {
						b.Fatal(err)
					}
				}
				gen := 0
				if mode == "one-rule-changed" {
					gen = i + 1
				}
				s := state(gen)
				b.StartTimer()
				if err := fw.Reconcile(context.Background(), s); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := fw.Delete(context.Background()); err != nil {
					b.Fatal(err)
				}
				fw.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkConnectionRatio interleaves connections to two VMs on the same
// host, one behind a port with 1000 security-group rules (tap2), one
// behind a port with none (tap3, port security off), so that the load of
// a shared machine hits both alike. It reports both rates and their ratio.
func BenchmarkConnectionRatio(b *testing.B) {
	nstest.NeedRoot(b)
	host, vm1, vm2, vm3 := nstest.New(b, "host"), nstest.New(b, "vm1"), nstest.New(b, "vm2"), nstest.New(b, "vm3")
	host.Veth(b, "tap1", "10.0.1.1/24", vm1, "eth0", "10.0.1.2/24")
	host.Veth(b, "tap2", "10.0.2.1/24", vm2, "eth0", "10.0.2.2/24")
	host.Veth(b, "tap3", "10.0.3.1/24", vm3, "eth0", "10.0.3.2/24")
	vm1.Route(b, "0.0.0.0/0", "10.0.1.1", "", 0)
	vm2.Route(b, "0.0.0.0/0", "10.0.2.1", "", 0)
	vm3.Route(b, "0.0.0.0/0", "10.0.3.1", "", 0)
	host.Sysctl(b, "net.ipv4.ip_forward", "1")
	vm1.Sysctl(b, "net.ipv4.ip_local_port_range", "10000 65000")
	vm2.Listen(b, 8080)
	vm3.Listen(b, 8080)
	fw, err := New(nil, WithNetNS(host.NS))
	if err != nil {
		b.Fatal(err)
	}
	defer fw.Close()
	st := State{Ports: []Port{
		{Name: "tap2", PolicyEnabled: true, HasSGs: true, SGRules: manyRules(1000)},
		{Name: "tap3", PolicyEnabled: false},
	}}
	if os.Getenv("SECURITY_BENCH_CONTROL") != "" {
		// Control run: no rules on either port, to see the noise floor.
		st.Ports[0] = Port{Name: "tap2"}
	}
	if err := fw.Reconcile(context.Background(), st); err != nil {
		b.Fatal(err)
	}
	for _, dst := range []string{"10.0.2.2", "10.0.3.2"} {
		ok := false
		for i := 0; i < 4 && !ok; i++ {
			ok = vm1.CanConnect(dst, 8080)
		}
		if !ok {
			b.Fatalf("%s unreachable", dst)
		}
	}
	var with, without time.Duration
	b.ResetTimer()
	err = nstest.OnThread(vm1.NS, func() error {
		one := func(dst string) (time.Duration, error) {
			start := time.Now()
			conn, err := net.DialTimeout("tcp", dst, time.Second)
			if err != nil {
				return 0, err
			}
			_ = conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
			return time.Since(start), nil
		}
		for range b.N {
			d, err := one("10.0.2.2:8080")
			if err != nil {
				return err
			}
			with += d
			if d, err = one("10.0.3.2:8080"); err != nil {
				return err
			}
			without += d
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/with.Seconds(), "conn/s-1000-rules")
	b.ReportMetric(float64(b.N)/without.Seconds(), "conn/s-no-rules")
	b.ReportMetric(without.Seconds()/with.Seconds(), "ratio")
}
