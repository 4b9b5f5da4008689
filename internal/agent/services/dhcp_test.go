// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpclient"
	"github.com/contrail-go/contrail/internal/agent/services/dhcpwire"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

var (
	vmMAC  = net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	vmMAC2 = net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x66}
)

func testPort(name string, mac net.HardwareAddr) PortInfo {
	return PortInfo{
		Name:    name,
		MAC:     mac,
		Addr:    netip.MustParsePrefix("10.1.1.3/24"),
		Gateway: netip.MustParseAddr("10.1.1.1"),
		DNS:     []netip.Addr{netip.MustParseAddr("10.1.1.2"), netip.MustParseAddr("192.0.2.53")},
		Routes: []HostRoute{
			{Prefix: netip.MustParsePrefix("10.20.0.0/16"), NextHop: netip.MustParseAddr("10.1.1.254")},
			{Prefix: netip.MustParsePrefix("169.254.169.254/32"), NextHop: netip.MustParseAddr("10.1.1.1")},
		},
		MTU:      1400,
		Hostname: "vm1",
		Domain:   "tenant.example",
		Lease:    time.Hour,
	}
}

// dhcpLab is a host namespace running a DHCP server and VM namespaces
// linked to it by veth pairs ("tapN" on the host, "eth0" in the VM).
type dhcpLab struct {
	host *nstest.NS
	srv  *DHCP
}

func newDHCPLab(t *testing.T) *dhcpLab {
	t.Helper()
	nstest.NeedRoot(t)
	lab := &dhcpLab{host: nstest.New(t, "host")}
	err := lab.host.In(func() (err error) {
		lab.srv, err = NewDHCP(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.srv.Close() })
	return lab
}

func (lab *dhcpLab) vm(t *testing.T, name, tap string, mac net.HardwareAddr) *nstest.NS {
	vm := nstest.New(t, name)
	veth(t, lab.host, tap, vm, "eth0", mac)
	return vm
}

// client opens a DHCP client on eth0 of vm.
func client(t *testing.T, vm *nstest.NS, opts ...dhcpclient.Option) *dhcpclient.Client {
	t.Helper()
	var c *dhcpclient.Client
	if err := vm.In(func() (err error) { c, err = dhcpclient.New("eth0", opts...); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestDHCPLeaseRenewRelease(t *testing.T) {
	lab := newDHCPLab(t)
	vm := lab.vm(t, "vm1", "tap1", vmMAC)
	p := testPort("tap1", vmMAC)
	if err := lab.srv.SetPort(p); err != nil {
		t.Fatal(err)
	}
	if err := lab.srv.SetPort(p); err != nil { // idempotent
		t.Fatal(err)
	}
	if got := lab.srv.Ports(); !slices.Equal(got, []string{"tap1"}) {
		t.Fatalf("Ports() = %v", got)
	}
	c := client(t, vm, dhcpclient.Configure(), dhcpclient.Hostname("ignored-by-server"))
	l, err := c.Acquire(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatalf("acquire: %v (stats %+v)", err, lab.srv.Stats())
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !equalAny(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("address", l.Addr, p.Addr)
	check("gateway", l.Gateway, p.Gateway)
	check("server id", l.ServerID, p.Gateway)
	check("DNS", l.DNS, p.DNS)
	check("MTU", l.MTU, 1400)
	check("hostname", l.Hostname, "vm1")
	check("domain", l.Domain, "tenant.example")
	check("lease", l.Duration, time.Hour)
	check("T1", l.T1, 30*time.Minute)
	check("T2", l.T2, 3150*time.Second)
	wantRoutes := []dhcpclient.Route{
		{Prefix: netip.MustParsePrefix("10.20.0.0/16"), NextHop: netip.MustParseAddr("10.1.1.254")},
		{Prefix: netip.MustParsePrefix("169.254.169.254/32"), NextHop: netip.MustParseAddr("10.1.1.1")},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("10.1.1.1")},
	}
	check("routes", l.Routes, wantRoutes)
	mask, _ := l.ACK.Options.Get(dhcpwire.OptSubnetMask)
	check("option 1", net.IP(mask).String(), "255.255.255.0")
	o121, _ := l.ACK.Options.Get(dhcpwire.OptClasslessRoutes)
	o249, ok249 := l.ACK.Options.Get(dhcpwire.OptMSClasslessRts)
	if !ok249 || string(o121) != string(o249) {
		t.Errorf("option 249 %v (present %v) differs from 121 %v", o249, ok249, o121)
	}

	// The interface in the VM is configured from the lease.
	link, err := vm.H.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	check("VM MTU", link.Attrs().MTU, 1400)
	addrs, _ := vm.H.AddrList(link, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.1.1.3/24" {
		t.Errorf("VM addresses %v", addrs)
	}
	routes, _ := vm.H.RouteList(link, netlink.FAMILY_V4)
	var rs []string
	for _, r := range routes {
		if r.Gw != nil {
			dst := "default"
			if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
				dst = r.Dst.String()
			}
			rs = append(rs, dst+" via "+r.Gw.String())
		}
	}
	slices.Sort(rs)
	check("VM routes", rs, []string{"10.20.0.0/16 via 10.1.1.254", "169.254.169.254/32 via 10.1.1.1", "default via 10.1.1.1"})

	// Renew: unicast REQUEST with ciaddr, answered by unicast ACK.
	l2, err := c.Renew(ctxT(t, 5*time.Second), l)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	check("renewed address", l2.Addr, p.Addr)

	// Rebind: the same REQUEST broadcast.
	if l2, err = c.Rebind(ctxT(t, 5*time.Second), l); err != nil || l2.Addr != p.Addr {
		t.Fatalf("rebind: %v %v", l2.Addr, err)
	}

	// INFORM from a configured client: an ACK with the options and
	// neither an address nor a lease time.
	inf := &dhcpwire.Message{Op: dhcpwire.OpRequest, HType: 1, HLen: 6, XID: 78, CHAddr: vmMAC, CIAddr: p.Addr.Addr()}
	inf.Add(dhcpwire.OptMessageType, []byte{byte(dhcpwire.Inform)})
	ack, _, err := c.Exchange(ctxT(t, 5*time.Second), inf, l.ServerMAC, l.ServerID)
	if err != nil {
		t.Fatal(err)
	}
	dnsOpt, _ := ack.Options.Get(dhcpwire.OptDNS)
	if ack.Type() != dhcpwire.Ack || ack.YIAddr != netip.IPv4Unspecified() || ack.Options.Has(dhcpwire.OptLeaseTime) ||
		!slices.Equal(dnsOpt, dhcpwire.AddrBytes(p.DNS...)) {
		t.Errorf("INFORM answer %v yiaddr %v options %v", ack.Type(), ack.YIAddr, ack.Options)
	}

	// A configuration change reaches the next renewal.
	p.MTU = 1450
	p.Lease = 2 * time.Hour
	if err := lab.srv.SetPort(p); err != nil {
		t.Fatal(err)
	}
	l3, err := c.Renew(ctxT(t, 5*time.Second), l)
	if err != nil {
		t.Fatalf("renew after update: %v", err)
	}
	check("updated MTU", l3.MTU, 1450)
	check("updated lease", l3.Duration, 2*time.Hour)

	// INIT-REBOOT for an address that is not the port's is NAKed.
	req := &dhcpwire.Message{Op: dhcpwire.OpRequest, HType: 1, HLen: 6, XID: 77, CHAddr: vmMAC}
	req.Add(dhcpwire.OptMessageType, []byte{byte(dhcpwire.Request)})
	req.Add(dhcpwire.OptRequestedIP, dhcpwire.AddrBytes(netip.MustParseAddr("10.1.1.99")))
	nak, _, err := c.Exchange(ctxT(t, 5*time.Second), req, nil, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	check("answer to a wrong address", nak.Type(), dhcpwire.Nak)

	if err := c.Release(l); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the release", func() bool { return lab.srv.Stats().Releases == 1 })
	// The client retransmits after 250 ms, so a slow run may count more
	// than one DISCOVER or REQUEST: every one of them is answered.
	s := lab.srv.Stats()
	if s.Discovers < 1 || s.Offers != s.Discovers || s.Acks < 5 || s.Naks < 1 || s.Acks+s.Naks != s.Requests+s.Informs ||
		s.ForeignMAC != 0 || s.Malformed != 0 || s.Ignored != 0 {
		t.Errorf("stats %+v", s)
	}

	lab.srv.RemovePort("tap1")
	if len(lab.srv.Ports()) != 0 {
		t.Fatal("port still served")
	}
	if _, err := c.Acquire(ctxT(t, 700*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a removed port: %v", err)
	}
	if got := lab.srv.Stats(); got.Releases != 1 || got.Offers != s.Offers {
		t.Errorf("stats after removal %+v", got)
	}
}

func TestDHCPBroadcastAndForeignMAC(t *testing.T) {
	lab := newDHCPLab(t)
	vm := lab.vm(t, "vm1", "tap1", vmMAC)
	if err := lab.srv.SetPort(testPort("tap1", vmMAC2)); err != nil {
		t.Fatal(err)
	}
	c := client(t, vm, dhcpclient.Broadcast())
	if _, err := c.Acquire(ctxT(t, 800*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a VM with another MAC got an answer: %v", err)
	}
	s, _ := lab.srv.PortStats("tap1")
	if s.ForeignMAC == 0 || s.Offers != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Fix the port's MAC: the same VM now gets a (broadcast) answer.
	if err := lab.srv.SetPort(testPort("tap1", vmMAC)); err != nil {
		t.Fatal(err)
	}
	l, err := c.Acquire(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if l.ACK.Flags&dhcpwire.FlagBroadcast == 0 {
		t.Error("broadcast flag not echoed")
	}
}

func equalAny(a, b any) bool {
	switch x := a.(type) {
	case []netip.Addr:
		return slices.Equal(x, b.([]netip.Addr))
	case []dhcpclient.Route:
		return slices.Equal(x, b.([]dhcpclient.Route))
	case []string:
		return slices.Equal(x, b.([]string))
	}
	return a == b
}

func TestDHCPTwoTenantsSameAddress(t *testing.T) {
	lab := newDHCPLab(t)
	vmA := lab.vm(t, "vmA", "tapA", vmMAC)
	vmB := lab.vm(t, "vmB", "tapB", vmMAC2)
	pa := testPort("tapA", vmMAC)
	pa.Hostname, pa.Domain = "web", "red.example"
	pb := testPort("tapB", vmMAC2)
	pb.Hostname, pb.Domain, pb.Gateway = "db", "blue.example", netip.MustParseAddr("10.1.1.254")
	pb.Routes, pb.DNS, pb.MTU = nil, nil, 0
	for _, p := range []PortInfo{pa, pb} {
		if err := lab.srv.SetPort(p); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		l   dhcpclient.Lease
		err error
	}
	res := make(chan result, 2)
	for _, vm := range []*nstest.NS{vmA, vmB} {
		c := client(t, vm)
		go func() {
			l, err := c.Acquire(ctxT(t, 10*time.Second))
			res <- result{l, err}
		}()
	}
	got := map[string]dhcpclient.Lease{}
	for range 2 {
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		got[r.l.Hostname] = r.l
	}
	a, b := got["web"], got["db"]
	if a.Addr != pa.Addr || a.Gateway != pa.Gateway || a.Domain != "red.example" || len(a.Routes) != 3 || a.MTU != 1400 {
		t.Errorf("tenant red lease %+v", a)
	}
	if b.Addr != pb.Addr || b.Gateway != pb.Gateway || b.ServerID != pb.Gateway || b.Domain != "blue.example" ||
		len(b.Routes) != 0 || b.MTU != 0 || len(b.DNS) != 0 {
		t.Errorf("tenant blue lease %+v", b)
	}
	// The server counts an ACK after sending it: the client may have it
	// first.
	var sa, sb DHCPStats
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		sa, _ = lab.srv.PortStats("tapA")
		sb, _ = lab.srv.PortStats("tapB")
		if sa.Acks >= 1 && sb.Acks >= 1 || time.Now().After(deadline) {
			break
		}
	}
	if sa.Acks < 1 || sb.Acks < 1 || sa.ForeignMAC != 0 || sb.ForeignMAC != 0 {
		t.Errorf("stats A %+v B %+v", sa, sb)
	}
}

func TestDHCPSetPortErrors(t *testing.T) {
	nstest.NeedRoot(t)
	host := nstest.New(t, "host")
	var srv *DHCP
	if err := host.In(func() (err error) { srv, err = NewDHCP(nil); return err }); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.SetPort(testPort("nosuchdev", vmMAC)); err == nil {
		t.Error("SetPort on a missing interface succeeded")
	}
	bad := testPort("x", vmMAC)
	bad.Addr = netip.MustParsePrefix("2001:db8::1/64")
	if err := srv.SetPort(bad); err == nil {
		t.Error("IPv6 address accepted")
	}
	srv.RemovePort("unknown")
	srv.Close()
	if err := srv.SetPort(testPort("lo", vmMAC)); !errors.Is(err, ErrClosed) {
		t.Errorf("SetPort after Close: %v", err)
	}
}

// TestDHCPInterfaceFlapAndRecreate: the server keeps serving a port whose
// interface goes down and up, and one whose interface is deleted and
// created again under the same name, without another SetPort.
func TestDHCPInterfaceFlapAndRecreate(t *testing.T) {
	lab := newDHCPLab(t)
	vm := lab.vm(t, "vm1", "tap1", vmMAC)
	if err := lab.srv.SetPort(testPort("tap1", vmMAC)); err != nil {
		t.Fatal(err)
	}
	acquire := func(what string) {
		t.Helper()
		var err error
		if e := vm.In(func() error {
			_, err = dhcpclient.Acquire(ctxT(t, 8*time.Second), "eth0")
			return nil
		}); e != nil {
			t.Fatal(e)
		}
		if err != nil {
			t.Fatalf("%s: %v (stats %+v)", what, err, lab.srv.Stats())
		}
	}
	acquire("first lease")
	link, err := lab.host.H.LinkByName("tap1")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.host.H.LinkSetDown(link); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := lab.host.H.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	acquire("after down/up")
	if err := lab.host.H.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	veth(t, lab.host, "tap1", vm, "eth0", vmMAC)
	acquire("after the interface was recreated")
	if s := lab.srv.Stats(); s.RecvErrors < 2 || s.Acks < 3 {
		t.Errorf("stats %+v", s)
	}
}
