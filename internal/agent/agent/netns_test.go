// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Helpers that build hosts and VMs out of network namespaces.

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root for network namespaces")
	}
	ns, err := makeNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	ns.Close()
}

// onThreadIn runs fn on a thread switched into ns.
func onThreadIn(ns netns.NsHandle, fn func() error) error { return inNamespace(ns, fn) }

// makeNS creates an anonymous namespace; it lives as long as the handle
// (and any socket in it).
func makeNS() (netns.NsHandle, error) {
	var ns netns.NsHandle
	err := onThreadIn(netns.None(), func() (err error) {
		ns, err = netns.New()
		return err
	})
	return ns, err
}

type box struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
}

func newBox(t testing.TB, name string) *box {
	t.Helper()
	ns, err := makeNS()
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("netlink in %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close(); ns.Close() })
	b := &box{name: name, ns: ns, h: h}
	b.up(t, "lo", "")
	return b
}

// link creates a veth pair: a in b, peerName in peer.
func (b *box) link(t testing.TB, a string, peer *box, peerName string, mtu int) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a, MTU: mtu}, PeerName: peerName, PeerNamespace: netlink.NsFd(peer.ns)}
	if err := b.h.LinkAdd(v); err != nil {
		t.Fatalf("veth %s -- %s: %v", a, peerName, err)
	}
}

func (b *box) up(t testing.TB, dev, cidr string) {
	t.Helper()
	l, err := b.h.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: %s: %v", b.name, dev, err)
	}
	if cidr != "" {
		ad, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.h.AddrAdd(l, ad); err != nil {
			t.Fatalf("%s: address %s: %v", b.name, cidr, err)
		}
	}
	if err := b.h.LinkSetUp(l); err != nil {
		t.Fatalf("%s: %s up: %v", b.name, dev, err)
	}
}

func (b *box) defaultVia(t testing.TB, gw string) {
	t.Helper()
	if err := b.h.RouteAdd(&netlink.Route{Gw: netip.MustParseAddr(gw).AsSlice()}); err != nil {
		t.Fatalf("%s: default route: %v", b.name, err)
	}
}

// echo answers UDP datagrams on port 7777 with the box's name.
func (b *box) echo(t testing.TB) {
	t.Helper()
	var pc net.PacketConn
	if err := onThreadIn(b.ns, func() (err error) { pc, err = net.ListenPacket("udp4", ":7777"); return err }); err != nil {
		t.Fatalf("%s: echo: %v", b.name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_ = n
			pc.WriteTo([]byte(b.name), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
}

// prober sends datagrams from inside a box.
type prober struct {
	c *net.UDPConn
}

func (b *box) prober(t testing.TB, dst string) *prober {
	t.Helper()
	var c *net.UDPConn
	err := onThreadIn(b.ns, func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), 7777)))
		return err
	})
	if err != nil {
		t.Fatalf("%s: dial %s: %v", b.name, dst, err)
	}
	t.Cleanup(func() { c.Close() })
	return &prober{c: c}
}

// once sends one probe and waits up to wait for the answer.
func (p *prober) once(wait time.Duration) string {
	if _, err := p.c.Write([]byte("probe")); err != nil {
		time.Sleep(wait)
		return ""
	}
	buf := make([]byte, 64)
	p.c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := p.c.Read(buf)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				time.Sleep(time.Until(time.Now().Add(wait / 4)))
			}
			return ""
		}
		return string(buf[:n])
	}
}

// until probes every step until want answers or total has passed and
// returns how long it took.
func (p *prober) until(want string, total, step time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < total {
		if p.once(step) == want {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

func (b *box) dump() string {
	var sb strings.Builder
	links, _ := b.h.LinkList()
	for _, l := range links {
		fmt.Fprintf(&sb, "link %s %s\n", l.Attrs().Name, l.Type())
	}
	rules, _ := b.h.RuleList(netlink.FAMILY_V4)
	for _, r := range rules {
		if r.Priority == 20000 {
			fmt.Fprintf(&sb, "rule iif %s table %d\n", r.IifName, r.Table)
		}
	}
	routes, _ := b.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{}, netlink.RT_FILTER_TABLE)
	for _, r := range routes {
		fmt.Fprintf(&sb, "route %v\n", r)
	}
	return sb.String()
}
