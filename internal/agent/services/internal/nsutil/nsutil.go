// SPDX-License-Identifier: Apache-2.0

// Package nsutil runs code in a remembered network namespace.
package nsutil

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is a network namespace remembered by handle.
type NS struct {
	h netns.NsHandle

	mu sync.Mutex
	nl *netlink.Handle // opened by the first Link, closed by Close
}

// Link is what the services need to know of an interface.
type Link struct {
	Index int
	MAC   net.HardwareAddr
	Up    bool // administratively up (IFF_UP)
}

// ErrNoLink is returned by LinkByName for a name no interface has.
var ErrNoLink = errors.New("nsutil: no such interface")

// LinkByName looks one interface of n up by name with a single netlink
// request (RTM_GETLINK with IFLA_IFNAME), from any thread: unlike
// net.InterfaceByName it neither dumps every link of the namespace nor
// needs to enter it, which matters with a thousand ports.
func (n *NS) LinkByName(name string) (Link, error) {
	h, err := n.handle()
	if err != nil {
		return Link{}, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return Link{}, fmt.Errorf("%w: %s", ErrNoLink, name)
		}
		return Link{}, fmt.Errorf("nsutil: interface %s: %w", name, err)
	}
	at := l.Attrs()
	return Link{Index: at.Index, MAC: at.HardwareAddr, Up: at.Flags&net.FlagUp != 0}, nil
}

func (n *NS) handle() (*netlink.Handle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nl == nil {
		h, err := netlink.NewHandleAt(n.h)
		if err != nil {
			return nil, fmt.Errorf("nsutil: netlink: %w", err)
		}
		n.nl = h
	}
	return n.nl, nil
}

// Current returns the namespace of the calling thread.
func Current() (*NS, error) {
	h, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("nsutil: current namespace: %w", err)
	}
	return &NS{h: h}, nil
}

// Handle returns the namespace handle; it stays owned by n.
func (n *NS) Handle() netns.NsHandle { return n.h }

// Do runs fn on an OS thread in n. Sockets fn opens belong to n for good;
// fn must not start goroutines that depend on the namespace.
func (n *NS) Do(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer cur.Close()
		if cur.Equal(n.h) {
			err = fn()
			runtime.UnlockOSThread()
			done <- err
			return
		}
		if err := netns.Set(n.h); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("nsutil: enter namespace: %w", err)
			return
		}
		err = fn()
		// A thread that cannot go back stays locked and dies with this
		// goroutine, so no other goroutine ever runs in the wrong place.
		if netns.Set(cur) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Close releases the handle (and the netlink socket LinkByName opened).
func (n *NS) Close() error {
	n.mu.Lock()
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	n.mu.Unlock()
	return n.h.Close()
}
