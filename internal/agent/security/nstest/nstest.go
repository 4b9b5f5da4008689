// SPDX-License-Identifier: Apache-2.0

// Package nstest builds network namespaces for the tests of the agent's
// security and flows packages: a namespace per host or VM, veth links,
// addresses and routes, and TCP/ICMP traffic run inside them.
package nstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NeedRoot skips unless the test can create network namespaces.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root for network namespaces and nftables")
	}
	ns, err := MakeNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	ns.Close()
}

// MakeNS creates an anonymous namespace; the calling thread stays where it
// was.
func MakeNS() (netns.NsHandle, error) {
	var ns netns.NsHandle
	err := OnThread(netns.None(), func() error {
		var err error
		ns, err = netns.New()
		return err
	})
	return ns, err
}

// OnThread runs fn on a locked OS thread, switched into ns first unless ns
// is None. The thread is thrown away if it cannot be switched back.
func OnThread(ns netns.NsHandle, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		if ns.IsOpen() {
			if err := netns.Set(ns); err != nil {
				done <- err
				return
			}
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

type NS struct {
	Name string
	NS   netns.NsHandle
	H    *netlink.Handle
}

func New(t testing.TB, name string) *NS {
	t.Helper()
	ns, err := MakeNS()
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("netlink in %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close(); ns.Close() })
	n := &NS{Name: name, NS: ns, H: h}
	n.LinkUp(t, "lo")
	return n
}

func (n *NS) LinkUp(t testing.TB, dev string) {
	t.Helper()
	l, err := n.H.LinkByName(dev)
	if err == nil {
		err = n.H.LinkSetUp(l)
	}
	if err != nil {
		t.Fatalf("%s: %s up: %v", n.Name, dev, err)
	}
}

// veth links dev a in n with dev b in peer, both up, with addresses given
// as CIDR ("" for none).
func (n *NS) Veth(t testing.TB, a, addrA string, peer *NS, b, addrB string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b, PeerNamespace: netlink.NsFd(peer.NS)}
	if err := n.H.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s: %v", a, b, err)
	}
	n.Addr(t, a, addrA)
	peer.Addr(t, b, addrB)
	n.LinkUp(t, a)
	peer.LinkUp(t, b)
}

func (n *NS) Addr(t testing.TB, dev, cidr string) {
	t.Helper()
	if cidr == "" {
		return
	}
	l, err := n.H.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if a.IP.To4() == nil {
		a.Flags |= unix.IFA_F_NODAD // usable at once
	}
	if err := n.H.AddrAdd(l, a); err != nil {
		t.Fatalf("%s: addr %s: %v", n.Name, cidr, err)
	}
}

// route adds "dst via gw" or "dst dev dev" in table (0 = main).
func (n *NS) Route(t testing.TB, dst, gw, dev string, table int) {
	t.Helper()
	r := &netlink.Route{Table: table}
	_, r.Dst, _ = net.ParseCIDR(dst)
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	}
	if dev != "" {
		l, err := n.H.LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		r.LinkIndex = l.Attrs().Index
	}
	if err := n.H.RouteAdd(r); err != nil {
		t.Fatalf("%s: route %s: %v", n.Name, dst, err)
	}
}

func (n *NS) Sysctl(t testing.TB, key, val string) {
	t.Helper()
	err := OnThread(n.NS, func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(val), 0o644)
	})
	if err != nil {
		t.Fatalf("%s: sysctl %s: %v", n.Name, key, err)
	}
}

// listen starts a TCP echo server on port inside n; it stops at cleanup.
func (n *NS) Listen(t testing.TB, port int) {
	t.Helper()
	var l net.Listener
	if err := OnThread(n.NS, func() (err error) {
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatalf("%s: listen %d: %v", n.Name, port, err)
	}
	var conns = make(chan net.Conn, 1024)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			select {
			case conns <- c:
			default:
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
}

// dial connects from inside n; it returns the connection or the error.
func (n *NS) Dial(dst string, port int, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := OnThread(n.NS, func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(dst, fmt.Sprint(port)), timeout)
		return err
	})
	return c, err
}

// canConnect reports whether a TCP connection from n to dst:port works
// (connect plus one echoed message).
func (n *NS) CanConnect(dst string, port int) bool {
	c, err := n.Dial(dst, port, 700*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	return Echo(c) == nil
}

// echo sends a line on c and waits for it to come back.
func Echo(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	msg := []byte("ping\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != string(msg) {
		return errors.New("echo mismatch")
	}
	return nil
}

// ping sends ICMP echo requests from n to dst and reports whether one was
// answered within wait.
func (n *NS) Ping(dst string, wait time.Duration) bool {
	var ok bool
	_ = OnThread(n.NS, func() error {
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		to := &net.IPAddr{IP: net.ParseIP(dst)}
		end := time.Now().Add(wait)
		for seq := 1; time.Now().Before(end); seq++ {
			pkt := []byte{8, 0, 0, 0, 0x12, 0x34, 0, byte(seq), 'h', 'i'}
			binary.BigEndian.PutUint16(pkt[2:], icmpChecksum(pkt))
			if _, err := c.WriteTo(pkt, to); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			buf := make([]byte, 1500)
			for {
				k, from, err := c.ReadFrom(buf)
				if err != nil {
					break
				}
				if k >= 8 && buf[0] == 0 && from.String() == dst {
					ok = true
					return nil
				}
			}
		}
		return nil
	})
	return ok
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// nftDump lists the ruleset of n with the nft CLI, for failure messages.
func (n *NS) NFTDump() string {
	var out []byte
	_ = OnThread(n.NS, func() error {
		out, _ = exec.Command("nft", "list", "ruleset").CombinedOutput()
		return nil
	})
	return string(out)
}

func Pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func Addr(s string) netip.Addr  { return netip.MustParseAddr(s) }
