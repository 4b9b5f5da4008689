// SPDX-License-Identifier: Apache-2.0

package e2e

// Probes run from inside a namespace: ICMP echo over a raw socket (the
// machine has no ping binary) and a UDP echo that answers with the name of
// the namespace, so a test can tell which of two VMs with the same address
// answered.

import (
	endian "encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Pinger sends ICMP echo requests from a namespace.
type Pinger struct {
	conn  *net.IPConn
	ident uint16
	seq   atomic.Uint32
}

// NewPinger opens a raw ICMP socket inside the namespace.
func (n *NS) NewPinger() (*Pinger, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) {
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: raw icmp socket: %w", n.Full, err)
	}
	return &Pinger{conn: c.(*net.IPConn), ident: uint16(rand.Uint32())}, nil
}

// Close closes the socket.
func (p *Pinger) Close() error { return p.conn.Close() }

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(endian.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// Send sends one echo request to dst and returns its sequence number.
func (p *Pinger) Send(dst string) (uint16, error) {
	ip := net.ParseIP(dst).To4()
	if ip == nil {
		return 0, fmt.Errorf("ping: %q is not an IPv4 address", dst)
	}
	seq := uint16(p.seq.Add(1))
	msg := make([]byte, 8+32)
	msg[0] = 8 // echo request
	endian.BigEndian.PutUint16(msg[4:], p.ident)
	endian.BigEndian.PutUint16(msg[6:], seq)
	endian.BigEndian.PutUint64(msg[8:], uint64(time.Now().UnixNano()))
	endian.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	_, err := p.conn.WriteTo(msg, &net.IPAddr{IP: ip})
	return seq, err
}

// Recv waits until deadline for an echo reply of this pinger and returns
// its sender and sequence number.
func (p *Pinger) Recv(deadline time.Time) (from string, seq uint16, err error) {
	buf := make([]byte, 1500)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		k, addr, err := p.conn.ReadFrom(buf)
		if err != nil {
			return "", 0, err
		}
		// Linux strips the IPv4 header for ip4 raw sockets in Go.
		b := buf[:k]
		if len(b) >= 20 && b[0]>>4 == 4 {
			if hl := int(b[0]&0x0f) * 4; len(b) >= hl+8 && b[hl] == 0 {
				b = b[hl:]
			}
		}
		if len(b) < 8 || b[0] != 0 || endian.BigEndian.Uint16(b[4:]) != p.ident {
			continue
		}
		return addr.(*net.IPAddr).IP.String(), endian.BigEndian.Uint16(b[6:]), nil
	}
}

// PingOnce sends one request and waits up to wait for its reply.
func (p *Pinger) PingOnce(dst string, wait time.Duration) bool {
	seq, err := p.Send(dst)
	if err != nil {
		return false
	}
	deadline := time.Now().Add(wait)
	for {
		from, s, err := p.Recv(deadline)
		if err != nil {
			return false
		}
		if s == seq && from == dst {
			return true
		}
	}
}

// Ping sends one echo request from the namespace to dst every 200 ms
// until one is answered (true) or wait has passed (false).
func (n *NS) Ping(dst string, wait time.Duration) (bool, error) {
	p, err := n.NewPinger()
	if err != nil {
		return false, err
	}
	defer p.Close()
	for end := time.Now().Add(wait); time.Now().Before(end); {
		step := min(200*time.Millisecond, time.Until(end))
		if step <= 0 {
			break
		}
		if p.PingOnce(dst, step) {
			return true, nil
		}
	}
	return false, nil
}

// PingCount sends count echo requests to dst from the namespace, one every
// interval, and returns how many were answered within wait of the last
// one being sent.
func (n *NS) PingCount(dst string, count int, interval, wait time.Duration) (sent, received int, err error) {
	p, err := n.NewPinger()
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	var mu sync.Mutex
	got := map[uint16]bool{}
	stop := make(chan struct{})
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			from, s, err := p.Recv(time.Now().Add(100 * time.Millisecond))
			if err != nil || from != dst {
				continue
			}
			mu.Lock()
			got[s] = true
			mu.Unlock()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < count; i++ {
		if _, err := p.Send(dst); err == nil {
			sent++
		} else {
			sent++ // a failed send is a lost packet
		}
		<-tick.C
	}
	time.Sleep(wait)
	close(stop)
	<-recvDone
	mu.Lock()
	defer mu.Unlock()
	return sent, len(got), nil
}

// EchoPort is the UDP port of the identity echo server.
const EchoPort = 7777

// ServeEcho answers every UDP datagram to port EchoPort inside the
// namespace with ident. The returned function stops it.
func (n *NS) ServeEcho(ident string) (stop func(), err error) {
	var pc net.PacketConn
	err = n.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", EchoPort))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: echo server: %w", n.Full, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(ident), from)
		}
	}()
	return func() { pc.Close(); <-done }, nil
}

// errNoAnswer is what Probe returns when nothing answered.
var errNoAnswer = errors.New("no answer")

// Probe sends datagrams from the namespace to dst:EchoPort every 200 ms
// until an echo server answers (its identity is returned) or wait passes.
func (n *NS) Probe(dst string, wait time.Duration) (string, error) {
	var c *net.UDPConn
	err := n.Do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(dst), Port: EchoPort})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%s: dial %s: %w", n.Full, dst, err)
	}
	defer c.Close()
	buf := make([]byte, 256)
	for end := time.Now().Add(wait); time.Now().Before(end); {
		step := time.Now().Add(200 * time.Millisecond)
		if _, err := c.Write([]byte("who")); err != nil {
			// An ICMP error of an earlier datagram shows up here.
			time.Sleep(time.Until(step))
			continue
		}
		_ = c.SetReadDeadline(step)
		k, err := c.Read(buf)
		if err == nil {
			return string(buf[:k]), nil
		}
		time.Sleep(time.Until(step))
	}
	return "", errNoAnswer
}
