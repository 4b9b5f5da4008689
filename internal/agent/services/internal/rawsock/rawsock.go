// SPDX-License-Identifier: Apache-2.0

// Package rawsock is an AF_PACKET socket bound to one interface that
// receives only IPv4 UDP datagrams for one destination port and sends whole
// Ethernet frames. It is shared by the DHCP server and the test client.
package rawsock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a packet socket. Reads and writes may run concurrently; Close
// unblocks a pending read.
type Conn struct {
	f       *os.File
	rc      syscall.RawConn
	ifindex int
	mac     net.HardwareAddr
	closed  atomic.Bool
}

// filter is classic BPF accepting unfragmented IPv4 UDP to port (patched
// into instruction 8), as seen on an SOCK_RAW packet socket (Ethernet
// header included).
func filter(port uint16) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12},                          // 0: ethertype
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x0800, Jt: 0, Jf: 8},       // 1
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 23},                          // 2: IP protocol
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 17, Jt: 0, Jf: 6},           // 3
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 20},                          // 4: flags+fragment offset
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: 0x1fff, Jt: 4, Jf: 0},      // 5
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 14},                         // 6: X = IP header length
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 16},                          // 7: UDP destination port
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(port), Jt: 0, Jf: 1}, // 8
		{Code: unix.BPF_RET | unix.BPF_K, K: 0x40000},                                   // 9: accept
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},                                         // 10: drop
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Listen opens the socket on ifname in the network namespace of the calling
// thread.
func Listen(ifname string, udpPort uint16) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("rawsock: %w", err)
	}
	return ListenIndex(ifname, ifi.Index, ifi.HardwareAddr, udpPort)
}

// ListenIndex opens the socket on the interface with the given index (and
// MAC, which Write's callers take as the frames' source), in the network
// namespace of the calling thread. The name only labels the file. Callers
// that know the interface already avoid Listen's lookup, which lists every
// interface of the namespace.
func ListenIndex(ifname string, ifindex int, mac net.HardwareAddr, udpPort uint16) (*Conn, error) {
	// Protocol 0: nothing is queued before the filter is attached and the
	// socket bound.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rawsock: socket: %w", err)
	}
	prog := filter(udpPort)
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rawsock: attach filter: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rawsock: bind %s: %w", ifname, err)
	}
	f := os.NewFile(uintptr(fd), "packet:"+ifname)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rawsock: %w", err)
	}
	return &Conn{f: f, rc: rc, ifindex: ifindex, mac: mac}, nil
}

// Ifindex is the index of the bound interface.
func (c *Conn) Ifindex() int { return c.ifindex }

// HardwareAddr is the MAC of the bound interface when the socket opened.
func (c *Conn) HardwareAddr() net.HardwareAddr { return c.mac }

// ErrClosed is returned by reads and writes after Close.
var ErrClosed = os.ErrClosed

// Read reads one frame into buf. outgoing reports a frame this host sent
// (packet sockets see both directions).
func (c *Conn) Read(buf []byte) (n int, outgoing bool, err error) {
	var from unix.Sockaddr
	var rerr error
	err = c.rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		if c.closed.Load() {
			return 0, false, ErrClosed
		}
		return 0, false, err
	}
	if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
		outgoing = true
	}
	return n, outgoing, nil
}

// Write sends one whole Ethernet frame.
func (c *Conn) Write(frame []byte) error {
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), frame, 0, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: c.ifindex})
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

// SetReadDeadline sets the deadline of pending and future reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// Close closes the socket.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return c.f.Close()
}

// IsTimeout reports whether err is a read deadline expiry.
func IsTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
