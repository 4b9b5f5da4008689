// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/agent/services/internal/nsutil"
)

// watchInterval is how often the proxies check that each port's interface
// is still the one their sockets are bound to.
var watchInterval = time.Second

// deviceListenConfig makes sockets bound to dev (SO_BINDTODEVICE) that may
// share their address with the sockets of other devices (SO_REUSEADDR).
// The kernel binds to the device's index, so a socket outlives a deleted
// interface without ever seeing one recreated under the same name.
func deviceListenConfig(dev string) net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if serr == nil {
				serr = unix.BindToDevice(int(fd), dev)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

// freebind makes lc's sockets bindable to an address the host does not
// have yet (IP_FREEBIND).
func freebind(lc net.ListenConfig) net.ListenConfig {
	inner := lc.Control
	lc.Control = func(network, address string, c syscall.RawConn) error {
		if inner != nil {
			if err := inner(network, address, c); err != nil {
				return err
			}
		}
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}
	return lc
}

// ifindexes maps interface names to indexes in ns; nil on error.
func ifindexes(ns *nsutil.NS) map[string]int {
	var out map[string]int
	_ = ns.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		out = make(map[string]int, len(ifs))
		for _, i := range ifs {
			out[i.Name] = i.Index
		}
		return nil
	})
	return out
}

// listenTCPOn opens a TCP listener bound to dev in ns and returns it with
// the device's index.
func listenTCPOn(ns *nsutil.NS, dev, addr string) (ln net.Listener, ifindex int, err error) {
	lc := deviceListenConfig(dev)
	link, err := ns.LinkByName(dev)
	if err != nil {
		return nil, 0, err
	}
	err = ns.Do(func() error {
		ln, err = lc.Listen(context.Background(), "tcp4", addr)
		return err
	})
	return ln, link.Index, err
}

// watchLoop calls fn every interval until stop is closed.
func watchLoop(stop <-chan struct{}, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}
