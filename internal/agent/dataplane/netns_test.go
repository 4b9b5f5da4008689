package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// requirePrivileged skips the test unless it runs as root and can create a
// network namespace.
func requirePrivileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces")
	}
	ns, err := newNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	ns.Close()
}

// newNS creates an unnamed network namespace without leaving the calling
// thread in it. It disappears once the handle and every socket in it close.
func newNS() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{netns.None(), err}
			return
		}
		defer orig.Close()
		ns, err := netns.New() // also switches this thread
		if setErr := netns.Set(orig); setErr == nil {
			runtime.UnlockOSThread()
		} else if err == nil {
			err = setErr
		}
		done <- result{ns, err}
	}()
	r := <-done
	return r.ns, r.err
}

// inNS runs fn on a thread switched into ns. Sockets fn opens stay in ns.
func inNS(ns netns.NsHandle, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// testNS is a namespace with a netlink handle, both closed in t.Cleanup.
type testNS struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
}

func mkNS(t *testing.T, name string) *testNS {
	t.Helper()
	ns, err := newNS()
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close(); ns.Close() })
	tn := &testNS{name: name, ns: ns, h: h}
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("%s: lo up: %v", name, err)
	}
	return tn
}

// vethTo creates a veth pair with end a in n and end b in peer.
func (n *testNS) vethTo(t *testing.T, a string, peer *testNS, b string, mtu int) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a, MTU: mtu}, PeerName: b, PeerNamespace: netlink.NsFd(peer.ns)}
	if err := n.h.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s -- %s/%s: %v", n.name, a, peer.name, b, err)
	}
}

// up sets dev up and optionally gives it an address ("10.1.1.3/24").
func (n *testNS) up(t *testing.T, dev, cidr string) {
	t.Helper()
	l, err := n.h.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: %s: %v", n.name, dev, err)
	}
	if cidr != "" {
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.h.AddrAdd(l, a); err != nil {
			t.Fatalf("%s: address %s on %s: %v", n.name, cidr, dev, err)
		}
	}
	if err := n.h.LinkSetUp(l); err != nil {
		t.Fatalf("%s: %s up: %v", n.name, dev, err)
	}
}

// echoServer answers every UDP datagram (IPv4 or IPv6) on port 7777 with
// ident, from inside n. It stops in t.Cleanup.
func (n *testNS) echoServer(t *testing.T, ident string) {
	t.Helper()
	var pc net.PacketConn
	err := inNS(n.ns, func() (err error) {
		pc, err = net.ListenPacket("udp", ":7777")
		return err
	})
	if err != nil {
		t.Fatalf("%s: echo server: %v", n.name, err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(ident), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-stopped })
}

// probe sends UDP datagrams from inside n to dst:7777 every 200ms until
// someone answers or wait has passed, and returns the identity of whoever
// answered first, or "" when nothing answered.
func (n *testNS) probe(t *testing.T, dst string, wait time.Duration) string {
	t.Helper()
	var c *net.UDPConn
	err := inNS(n.ns, func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), 7777)))
		return err
	})
	if err != nil {
		t.Fatalf("%s: dial %s: %v", n.name, dst, err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for end := time.Now().Add(wait); time.Now().Before(end); {
		step := time.Now().Add(200 * time.Millisecond)
		if _, err := c.Write([]byte("probe")); err != nil {
			// An ICMP error from an earlier datagram surfaces here: retry.
			time.Sleep(time.Until(step))
			continue
		}
		_ = c.SetReadDeadline(step)
		k, err := c.Read(buf)
		if err == nil {
			return string(buf[:k])
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			time.Sleep(time.Until(step))
		}
	}
	return ""
}

// dump describes the kernel objects of ours in n, for failure messages.
func (n *testNS) dump() string {
	var b strings.Builder
	links, _ := n.h.LinkList()
	for _, l := range links {
		fmt.Fprintf(&b, "link %s %s\n", l.Attrs().Name, l.Type())
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, _ := n.h.RuleList(fam)
		for _, r := range rules {
			fmt.Fprintf(&b, "rule %d iif %s table %d\n", r.Priority, r.IifName, r.Table)
		}
		routes, _ := n.h.RouteListFiltered(fam, &netlink.Route{}, netlink.RT_FILTER_TABLE)
		for _, r := range routes {
			fmt.Fprintf(&b, "route %v\n", r)
		}
	}
	return b.String()
}
