// SPDX-License-Identifier: Apache-2.0

package services

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"github.com/miekg/dns"
)

// fakeResolver is an upstream resolver in ns on 127.0.0.1 (UDP and TCP, same
// port): example.org A 192.0.2.10, NXDOMAIN for anything else.
func fakeResolver(t *testing.T, host *nstest.NS) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	err := host.In(func() (err error) {
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp4", pc.LocalAddr().String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		if r.Question[0].Name == "example.org." {
			rr, _ := dns.NewRR("example.org. 300 IN A 192.0.2.10")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func vmQuery(t *testing.T, vm *nstest.NS, network, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	var r *dns.Msg
	err := vm.In(func() error {
		nc, err := net.DialTimeout(network, server, 3*time.Second)
		if err != nil {
			return err
		}
		defer nc.Close()
		co := &dns.Conn{Conn: nc}
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		q := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
		if err := co.WriteMsg(q); err != nil {
			return err
		}
		r, err = co.ReadMsg()
		return err
	})
	if err != nil {
		t.Fatalf("%s: %s query for %s: %v", vm.Name, network, name, err)
	}
	return r
}

func aRecords(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.PTR:
			out = append(out, v.Ptr)
		}
	}
	return out
}

func TestDNSProxy(t *testing.T) {
	nstest.NeedRoot(t)
	host := nstest.New(t, "host")
	upstream := fakeResolver(t, host)
	vmA := metaVM(t, host, "vmA", "tapA", "10.1.1.3")
	vmB := metaVM(t, host, "vmB", "tapB", "10.1.1.4")
	vmC := metaVM(t, host, "vmC", "tapC", "10.1.1.3") // another tenant, same address
	for _, tap := range []string{"tapA", "tapB", "tapC"} {
		host.Addr(t, tap, "10.1.1.2/32") // the DNS server address answers ARP
	}
	var d *DNS
	err := host.In(func() (err error) {
		d, err = NewDNS(DNSConfig{Listen: netip.MustParseAddrPort("0.0.0.0:5353"), Upstream: []string{upstream}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	server := netip.MustParseAddr("10.1.1.2")
	for _, p := range []DNSPort{
		{Name: "tapA", IP: netip.MustParseAddr("10.1.1.3"), Hostname: "web", Domain: "red.example.", Server: server},
		{Name: "tapB", IP: netip.MustParseAddr("10.1.1.4"), Hostname: "DB", Domain: "red.example", Server: server},
		{Name: "tapC", IP: netip.MustParseAddr("10.1.1.3"), Hostname: "web", Domain: "blue.example", Server: server},
	} {
		if err := d.SetPort(p); err != nil {
			t.Fatal(err)
		}
	}
	const srv = "10.1.1.2:53"
	type q struct {
		vm      *nstest.NS
		network string
		name    string
		qtype   uint16
		rcode   int
		want    []string
	}
	for _, tc := range []q{
		{vmA, "udp", "db.red.example", dns.TypeA, dns.RcodeSuccess, []string{"10.1.1.4"}},
		{vmA, "tcp", "db.red.example", dns.TypeA, dns.RcodeSuccess, []string{"10.1.1.4"}},
		{vmB, "udp", "WEB.red.example", dns.TypeA, dns.RcodeSuccess, []string{"10.1.1.3"}},
		{vmA, "udp", "db.red.example", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{vmA, "udp", "nope.red.example", dns.TypeA, dns.RcodeNameError, nil},
		{vmC, "udp", "db.red.example", dns.TypeA, dns.RcodeNameError, nil}, // forwarded: not in blue's view
		{vmC, "udp", "web.blue.example", dns.TypeA, dns.RcodeSuccess, []string{"10.1.1.3"}},
		{vmB, "udp", "3.1.1.10.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"web.red.example."}},
		{vmC, "udp", "3.1.1.10.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, []string{"web.blue.example."}},
		{vmA, "udp", "example.org", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.10"}},
		{vmA, "tcp", "example.org", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.10"}},
	} {
		r := vmQuery(t, tc.vm, tc.network, srv, tc.name, tc.qtype)
		got := aRecords(r)
		if r.Rcode != tc.rcode || len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("%s %s %s type %d: rcode %d answers %v, want %d %v", tc.vm.Name, tc.network, tc.name, tc.qtype, r.Rcode, got, tc.rcode, tc.want)
		}
	}
	s := d.Stats()
	if s.Queries != 11 || s.Forwarded != 3 || s.Local != 8 || s.Failed != 0 || s.Rejected != 0 {
		t.Errorf("stats %+v", s)
	}
	d.RemovePort("tapB")
	if err := vmB.In(func() error {
		nc, err := net.Dial("udp", srv)
		if err != nil {
			return err
		}
		defer nc.Close()
		co := &dns.Conn{Conn: nc}
		_ = nc.SetDeadline(time.Now().Add(500 * time.Millisecond))
		_ = co.WriteMsg(new(dns.Msg).SetQuestion("example.org.", dns.TypeA))
		_, err = co.ReadMsg()
		return err
	}); err == nil {
		t.Error("removed port still answered")
	}
	if r := vmQuery(t, vmA, "udp", srv, "db.red.example", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("removed VM still resolves: %v", r)
	}
}
