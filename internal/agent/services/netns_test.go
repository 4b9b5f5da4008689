// SPDX-License-Identifier: Apache-2.0

package services

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// privileged skips t unless it runs as root and may create namespaces.
func privileged(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root for network namespaces")
	}
	ns, err := freshNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	ns.Close()
}

// freshNS creates an unnamed namespace without moving the caller.
func freshNS() (netns.NsHandle, error) {
	var ns netns.NsHandle
	err := onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		ns, err = netns.New()
		if err != nil {
			return err
		}
		return netns.Set(orig)
	})
	return ns, err
}

// onThread runs fn on a locked thread that is thrown away if fn left it in
// another namespace.
func onThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		err = fn()
		if cur, cerr := netns.Get(); cerr == nil {
			if cur.Equal(orig) {
				runtime.UnlockOSThread()
			}
			cur.Close()
		}
		done <- err
	}()
	return <-done
}

// in runs fn in ns on a locked thread.
func in(ns netns.NsHandle, fn func() error) error {
	return onThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			return err
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			return err
		}
		return ferr
	})
}

type tns struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
}

func newTNS(t testing.TB, name string) *tns {
	t.Helper()
	ns, err := freshNS()
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatalf("netlink in %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close(); ns.Close() })
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("%s: lo up: %v", name, err)
	}
	return &tns{name: name, ns: ns, h: h}
}

// veth links dev a in n to dev b in peer; b gets MAC mac (if set). Both
// ends are set up.
func (n *tns) veth(t testing.TB, a string, peer *tns, b string, mac net.HardwareAddr) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b, PeerNamespace: netlink.NsFd(peer.ns), PeerHardwareAddr: mac}
	if err := n.h.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s -- %s/%s: %v", n.name, a, peer.name, b, err)
	}
	n.upLink(t, a)
	peer.upLink(t, b)
}

func (n *tns) upLink(t testing.TB, dev string) {
	t.Helper()
	l, err := n.h.LinkByName(dev)
	if err == nil {
		err = n.h.LinkSetUp(l)
	}
	if err != nil {
		t.Fatalf("%s: %s up: %v", n.name, dev, err)
	}
}

// addAddr puts cidr on dev.
func (n *tns) addAddr(t testing.TB, dev, cidr string) {
	t.Helper()
	l, err := n.h.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: %s: %v", n.name, dev, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.AddrAdd(l, a); err != nil {
		t.Fatalf("%s: address %s on %s: %v", n.name, cidr, dev, err)
	}
}
