// SPDX-License-Identifier: Apache-2.0

// Package nstest builds network namespaces for the agent's tests: a
// namespace per host or VM, veth links, addresses and routes, and TCP, UDP
// and ICMP traffic run inside them.
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

// EchoPort is the UDP port UDPEcho answers on and Prober sends to.
const EchoPort = 7777

// NeedRoot skips unless the test can create network namespaces.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root for network namespaces")
	}
	ns, err := MakeNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	ns.Close()
}

// MakeNS creates an anonymous namespace; the calling thread stays where it
// was. The namespace lives as long as the handle or any socket in it.
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
// Sockets fn opens stay in ns.
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

// NS is a namespace with a netlink handle in it, both closed at cleanup.
type NS struct {
	Name string
	NS   netns.NsHandle
	H    *netlink.Handle
}

// New creates the namespace name with its loopback up.
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

// In runs fn on a thread switched into n.
func (n *NS) In(fn func() error) error { return OnThread(n.NS, fn) }

// Link returns the device dev of n.
func (n *NS) Link(t testing.TB, dev string) netlink.Link {
	t.Helper()
	l, err := n.H.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: %s: %v", n.Name, dev, err)
	}
	return l
}

// LinkUp sets dev up.
func (n *NS) LinkUp(t testing.TB, dev string) {
	t.Helper()
	if err := n.H.LinkSetUp(n.Link(t, dev)); err != nil {
		t.Fatalf("%s: %s up: %v", n.Name, dev, err)
	}
}

// Pair creates a veth pair, dev a in n and dev b in peer, both left down;
// mtu 0 keeps the default.
func (n *NS) Pair(t testing.TB, a string, peer *NS, b string, mtu int) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a, MTU: mtu}, PeerName: b, PeerNamespace: netlink.NsFd(peer.NS)}
	if err := n.H.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s -- %s/%s: %v", n.Name, a, peer.Name, b, err)
	}
}

// Veth links dev a in n with dev b in peer, both up, with addresses given
// as CIDR ("" for none).
func (n *NS) Veth(t testing.TB, a, addrA string, peer *NS, b, addrB string) {
	t.Helper()
	n.Pair(t, a, peer, b, 0)
	n.Up(t, a, addrA)
	peer.Up(t, b, addrB)
}

// Up gives dev the address cidr (none for "") and sets it up.
func (n *NS) Up(t testing.TB, dev, cidr string) {
	t.Helper()
	n.Addr(t, dev, cidr)
	n.LinkUp(t, dev)
}

// SetMAC sets the hardware address of dev ("" for none).
func (n *NS) SetMAC(t testing.TB, dev, mac string) {
	t.Helper()
	if mac == "" {
		return
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatalf("%s: MAC %q: %v", n.Name, mac, err)
	}
	if err := n.H.LinkSetHardwareAddr(n.Link(t, dev), hw); err != nil {
		t.Fatalf("%s: MAC of %s: %v", n.Name, dev, err)
	}
}

// Addr puts cidr on dev ("" for nothing). IPv6 addresses skip duplicate
// address detection and are usable at once.
func (n *NS) Addr(t testing.TB, dev, cidr string) {
	t.Helper()
	if cidr == "" {
		return
	}
	l := n.Link(t, dev)
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if a.IP.To4() == nil {
		a.Flags |= unix.IFA_F_NODAD
	}
	if err := n.H.AddrAdd(l, a); err != nil {
		t.Fatalf("%s: address %s on %s: %v", n.Name, cidr, dev, err)
	}
}

// Route adds "dst via gw" or "dst dev dev" (or both) in table (0 = main);
// dst "" is the default route of gw's family.
func (n *NS) Route(t testing.TB, dst, gw, dev string, table int) {
	t.Helper()
	r := &netlink.Route{Table: table}
	if dst != "" {
		_, pfx, err := net.ParseCIDR(dst)
		if err != nil {
			t.Fatal(err)
		}
		r.Dst = pfx
	}
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	}
	if dev != "" {
		r.LinkIndex = n.Link(t, dev).Attrs().Index
	}
	if err := n.H.RouteAdd(r); err != nil {
		t.Fatalf("%s: route %s via %s dev %s: %v", n.Name, dst, gw, dev, err)
	}
}

// DefaultVia adds a default route through gw.
func (n *NS) DefaultVia(t testing.TB, gw string) {
	t.Helper()
	n.Route(t, "", gw, "", 0)
}

// Sysctl writes val to the sysctl key ("net.ipv4.ip_forward") inside n.
func (n *NS) Sysctl(t testing.TB, key, val string) {
	t.Helper()
	err := n.In(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(val), 0o644)
	})
	if err != nil {
		t.Fatalf("%s: sysctl %s: %v", n.Name, key, err)
	}
}

// Listen starts a TCP echo server on port inside n; it stops at cleanup.
func (n *NS) Listen(t testing.TB, port int) {
	t.Helper()
	var l net.Listener
	if err := n.In(func() (err error) {
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

// Dial connects from inside n; it returns the connection or the error.
func (n *NS) Dial(dst string, port int, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.In(func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(dst, fmt.Sprint(port)), timeout)
		return err
	})
	return c, err
}

// CanConnect reports whether a TCP connection from n to dst:port works
// (connect plus one echoed message).
func (n *NS) CanConnect(dst string, port int) bool {
	c, err := n.Dial(dst, port, 700*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	return Echo(c) == nil
}

// Echo sends a line on c and waits for it to come back.
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

// UDPEcho answers every UDP datagram (IPv4 or IPv6) on EchoPort inside n
// with ident. It stops at cleanup.
func (n *NS) UDPEcho(t testing.TB, ident string) {
	t.Helper()
	var pc net.PacketConn
	err := n.In(func() (err error) {
		pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", EchoPort))
		return err
	})
	if err != nil {
		t.Fatalf("%s: echo server: %v", n.Name, err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 2048)
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

// Prober sends UDP datagrams from inside a namespace to a UDPEcho.
type Prober struct {
	c *net.UDPConn
}

// Prober opens a UDP socket in n towards dst (IPv4 or IPv6) on EchoPort;
// it is closed at cleanup.
func (n *NS) Prober(t testing.TB, dst string) *Prober {
	t.Helper()
	var c *net.UDPConn
	err := n.In(func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), EchoPort)))
		return err
	})
	if err != nil {
		t.Fatalf("%s: dial %s: %v", n.Name, dst, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Prober{c: c}
}

// Close closes the socket before cleanup.
func (p *Prober) Close() { p.c.Close() }

// Once sends one probe and returns the answer that came within wait, or ""
// (after wait has passed) when none came.
func (p *Prober) Once(wait time.Duration) string {
	// Answers to earlier probes that came after their wait are not this
	// probe's: drop what is queued (a read with a past deadline would not
	// even look).
	buf := make([]byte, 64)
	if rc, err := p.c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			for range 1024 {
				// ICMP errors of earlier probes surface as errors too
				if _, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT); err == unix.EAGAIN {
					return
				}
			}
		})
	}
	end := time.Now().Add(wait)
	if _, err := p.c.Write([]byte("probe")); err != nil {
		// An ICMP error from an earlier datagram surfaces here.
		time.Sleep(time.Until(end))
		return ""
	}
	_ = p.c.SetReadDeadline(end)
	k, err := p.c.Read(buf)
	if err == nil {
		return string(buf[:k])
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		time.Sleep(time.Until(end))
	}
	return ""
}

// Until probes every step until want answers or total has passed and
// returns how long it took.
func (p *Prober) Until(want string, total, step time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < total {
		if p.Once(step) == want {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

// First probes every 200ms until anyone answers or wait has passed, and
// returns the first answer or "".
func (p *Prober) First(wait time.Duration) string {
	for end := time.Now().Add(wait); time.Now().Before(end); {
		if got := p.Once(200 * time.Millisecond); got != "" {
			return got
		}
	}
	return ""
}

// Probe sends from n to dst with a fresh socket, as Prober.First does.
func (n *NS) Probe(t testing.TB, dst string, wait time.Duration) string {
	t.Helper()
	p := n.Prober(t, dst)
	defer p.Close()
	return p.First(wait)
}

// Ping sends ICMP echo requests from n to dst and reports whether one was
// answered within wait.
func (n *NS) Ping(dst string, wait time.Duration) bool {
	var ok bool
	_ = n.In(func() error {
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

// Dump describes the links, rules and routes (all tables, both families)
// of n, for failure messages.
func (n *NS) Dump() string {
	var b strings.Builder
	links, _ := n.H.LinkList()
	for _, l := range links {
		fmt.Fprintf(&b, "link %s %s\n", l.Attrs().Name, l.Type())
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, _ := n.H.RuleList(fam)
		for _, r := range rules {
			fmt.Fprintf(&b, "rule %d iif %s table %d\n", r.Priority, r.IifName, r.Table)
		}
		routes, _ := n.H.RouteListFiltered(fam, &netlink.Route{}, netlink.RT_FILTER_TABLE)
		for _, r := range routes {
			fmt.Fprintf(&b, "route %v\n", r)
		}
	}
	return b.String()
}

// NFTDump lists the ruleset of n with the nft CLI, for failure messages.
func (n *NS) NFTDump() string {
	var out []byte
	_ = n.In(func() error {
		out, _ = exec.Command("nft", "list", "ruleset").CombinedOutput()
		return nil
	})
	return string(out)
}

// Pfx parses a prefix or panics.
func Pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// Addr parses an address or panics.
func Addr(s string) netip.Addr { return netip.MustParseAddr(s) }
