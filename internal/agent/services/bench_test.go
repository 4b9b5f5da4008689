// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpclient"
	"github.com/contrail-go/contrail/internal/agent/services/dhcpwire"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

func benchFrame(m *dhcpwire.Message) []byte {
	return dhcpwire.Frame{DstMAC: dhcpwire.BroadcastMAC, SrcMAC: vmMAC,
		Src: netip.MustParseAddrPort("0.0.0.0:68"), Dst: netip.MustParseAddrPort("255.255.255.255:67"),
		Payload: m.Marshal()}.Marshal()
}

// BenchmarkHandleDiscover measures decoding a DISCOVER frame and encoding
// the OFFER frame, the CPU part of serving one packet.
func BenchmarkHandleDiscover(b *testing.B) {
	p, _ := testPort("tap1", vmMAC).validate()
	frame := benchFrame(msg(dhcpwire.Discover, func(m *dhcpwire.Message) {
		m.Add(dhcpwire.OptParamList, dhcpclient.DefaultParams)
	}))
	b.ReportAllocs()
	for b.Loop() {
		r, out, _ := handleFrame(&p, frame)
		if out != outOffer {
			b.Fatal(out)
		}
		_ = r.frame(vmMAC2, p.Gateway)
	}
}

// BenchmarkAcquire measures a whole DISCOVER..ACK exchange between the
// client and the server over a veth pair.
func BenchmarkAcquire(b *testing.B) {
	nstest.NeedRoot(b)
	host := nstest.New(b, "host")
	vm := nstest.New(b, "vm")
	veth(b, host, "tap1", vm, "eth0", vmMAC)
	var srv *DHCP
	if err := host.In(func() (err error) { srv, err = NewDHCP(nil); return err }); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if err := srv.SetPort(testPort("tap1", vmMAC)); err != nil {
		b.Fatal(err)
	}
	var c *dhcpclient.Client
	if err := vm.In(func() (err error) { c, err = dhcpclient.New("eth0"); return err }); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		if _, err := c.Acquire(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// TestCloseStopsGoroutines checks that closing the three services leaves
// none of their goroutines behind.
func TestCloseStopsGoroutines(t *testing.T) {
	nstest.NeedRoot(t)
	host := nstest.New(t, "host")
	nova := newFakeNova(t, host)
	upstream := fakeResolver(t, host)
	vm := metaVM(t, host, "vm", "tap1", "10.1.1.3")
	host.Addr(t, "tap1", "10.1.1.2/32")
	before := runtime.NumGoroutine()
	var d *DHCP
	var m *Metadata
	var dn *DNS
	err := host.In(func() (err error) {
		if d, err = NewDHCP(nil); err != nil {
			return err
		}
		if m, err = NewMetadata(MetadataConfig{Listen: netip.MustParseAddrPort("0.0.0.0:8775"), Upstream: nova.url}); err != nil {
			return err
		}
		dn, err = NewDNS(DNSConfig{Listen: netip.MustParseAddrPort("0.0.0.0:5353"), Upstream: []string{upstream}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.1.1.3")
	if err := d.SetPort(testPort("tap1", vmMAC)); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPort("tap1", "vmi", "vm", "", ip); err != nil {
		t.Fatal(err)
	}
	if err := dn.SetPort(DNSPort{Name: "tap1", IP: ip, Hostname: "vm", Domain: "d", Server: netip.MustParseAddr("10.1.1.2")}); err != nil {
		t.Fatal(err)
	}
	c := vmDial(t, vm, netip.AddrPort{})
	if code, _ := get(t, c, "/", nil); code != 200 {
		t.Fatalf("metadata status %d", code)
	}
	c.Close()
	if r := vmQuery(t, vm, "tcp", "10.1.1.2:53", "example.org", 1); len(r.Answer) != 1 {
		t.Fatalf("dns answer %v", r)
	}
	for _, cl := range []interface{ Close() error }{d, m, dn} {
		if err := cl.Close(); err != nil {
			t.Error(err)
		}
	}
	waitFor(t, "goroutines to stop", func() bool { return runtime.NumGoroutine() <= before })
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// TestProxiesFollowRecreatedInterface: when a VM's tap is deleted and
// created again under the same name, the metadata and DNS proxies rebind
// their sockets to the new interface by themselves.
func TestProxiesFollowRecreatedInterface(t *testing.T) {
	nstest.NeedRoot(t)
	old := watchInterval
	watchInterval = 50 * time.Millisecond
	defer func() { watchInterval = old }()
	host := nstest.New(t, "host")
	nova := newFakeNova(t, host)
	upstream := fakeResolver(t, host)
	vm := metaVM(t, host, "vm", "tap1", "10.1.1.3")
	host.Addr(t, "tap1", "10.1.1.2/32")
	m := newMetadataIn(t, host, MetadataConfig{Listen: netip.MustParseAddrPort("0.0.0.0:8775"), Upstream: nova.url})
	var dn *DNS
	if err := host.In(func() (err error) {
		dn, err = NewDNS(DNSConfig{Listen: netip.MustParseAddrPort("0.0.0.0:5353"), Upstream: []string{upstream}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer dn.Close()
	ip := netip.MustParseAddr("10.1.1.3")
	if err := m.SetPort("tap1", "vmi", "vm-1", "", ip); err != nil {
		t.Fatal(err)
	}
	if err := dn.SetPort(DNSPort{Name: "tap1", IP: ip, Hostname: "vm", Domain: "d.example", Server: netip.MustParseAddr("10.1.1.2")}); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		if code, body := get(t, vmDial(t, vm, netip.AddrPort{}), "/", nil); code != 200 || body != "instance=vm-1 path=/" {
			t.Fatalf("%s: metadata %d %q", what, code, body)
		}
		if r := vmQuery(t, vm, "udp", "10.1.1.2:53", "vm.d.example", 1); len(aRecords(r)) != 1 {
			t.Fatalf("%s: dns %v", what, r)
		}
	}
	check("before")
	l, err := host.H.LinkByName("tap1")
	if err != nil {
		t.Fatal(err)
	}
	if err := host.H.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	veth(t, host, "tap1", vm, "eth0", nil)
	host.Addr(t, "tap1", "10.1.1.1/32")
	host.Addr(t, "tap1", "10.1.1.2/32")
	vm.Addr(t, "eth0", "10.1.1.3/24")
	vm.Route(t, "", "10.1.1.1", "eth0", 0)
	time.Sleep(300 * time.Millisecond) // several watch rounds
	check("after the tap was recreated")
}
