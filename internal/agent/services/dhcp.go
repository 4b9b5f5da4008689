// SPDX-License-Identifier: Apache-2.0

package services

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpwire"
	"github.com/contrail-go/contrail/internal/agent/services/internal/nsutil"
	"github.com/contrail-go/contrail/internal/agent/services/internal/rawsock"
)

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("services: closed")

// DHCPStats counts what the DHCP server saw and did.
type DHCPStats struct {
	Received   uint64 // frames read (incoming, passing the socket filter)
	Malformed  uint64 // undecodable frames or messages, or unknown message types
	ForeignMAC uint64 // frames whose Ethernet source or chaddr is not the port's MAC
	Ignored    uint64 // well-formed but not for this server (other server id, relayed)
	Discovers  uint64
	Requests   uint64
	Informs    uint64
	Releases   uint64
	Declines   uint64
	Offers     uint64 // replies sent, by type
	Acks       uint64
	Naks       uint64
	SendErrors uint64
	RecvErrors uint64
}

func (s *DHCPStats) add(o DHCPStats) {
	s.Received += o.Received
	s.Malformed += o.Malformed
	s.ForeignMAC += o.ForeignMAC
	s.Ignored += o.Ignored
	s.Discovers += o.Discovers
	s.Requests += o.Requests
	s.Informs += o.Informs
	s.Releases += o.Releases
	s.Declines += o.Declines
	s.Offers += o.Offers
	s.Acks += o.Acks
	s.Naks += o.Naks
	s.SendErrors += o.SendErrors
	s.RecvErrors += o.RecvErrors
}

// dhcpCounters are the live counters of one port.
type dhcpCounters struct {
	received, malformed, foreign, ignored            atomic.Uint64
	discovers, requests, informs, releases, declines atomic.Uint64
	offers, acks, naks, sendErrors, recvErrors       atomic.Uint64
}

func (c *dhcpCounters) snapshot() DHCPStats {
	return DHCPStats{
		Received: c.received.Load(), Malformed: c.malformed.Load(), ForeignMAC: c.foreign.Load(),
		Ignored: c.ignored.Load(), Discovers: c.discovers.Load(), Requests: c.requests.Load(),
		Informs: c.informs.Load(), Releases: c.releases.Load(), Declines: c.declines.Load(),
		Offers: c.offers.Load(), Acks: c.acks.Load(), Naks: c.naks.Load(),
		SendErrors: c.sendErrors.Load(), RecvErrors: c.recvErrors.Load(),
	}
}

// DHCP is the DHCP server of all the ports of a host. Each port has its own
// packet socket and reader goroutine.
type DHCP struct {
	log *slog.Logger
	ns  *nsutil.NS

	mu      sync.Mutex
	ports   map[string]*dhcpPort
	removed DHCPStats // counters of ports already removed
	closed  bool
}

type dhcpPort struct {
	info  atomic.Pointer[PortInfo]
	count dhcpCounters
	stop  chan struct{} // closed by RemovePort and Close
	done  chan struct{} // closed when serve returns

	mu   sync.Mutex // guards conn, which serve replaces when the interface is recreated
	conn *rawsock.Conn
}

func (dp *dhcpPort) socket() *rawsock.Conn {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.conn
}

// NewDHCP returns a server with no ports that opens its sockets in the
// network namespace of the calling thread. A nil log discards.
func NewDHCP(log *slog.Logger) (*DHCP, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns, err := nsutil.Current()
	if err != nil {
		return nil, fmt.Errorf("services: dhcp: %w", err)
	}
	return &DHCP{log: log.With("component", "dhcp"), ns: ns, ports: map[string]*dhcpPort{}}, nil
}

// SetPort starts serving p.Name or updates what it serves. Calling it again
// with the same PortInfo changes nothing. When the interface was recreated
// under the same name (a new ifindex), the socket is reopened. The
// interface must exist the first time.
func (d *DHCP) SetPort(p PortInfo) error {
	p, err := p.validate()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	// One netlink request for this interface (not a dump of every link:
	// SetPort runs once per port, a thousand times in a burst).
	link, lerr := d.ns.LinkByName(p.Name)
	if old, ok := d.ports[p.Name]; ok {
		// A missing interface is left to the port's reader, which waits
		// for it to come back (see recover).
		if lerr != nil || link.Index == old.socket().Ifindex() {
			old.info.Store(&p)
			return nil
		}
		d.stopLocked(p.Name, old)
	}
	if lerr != nil {
		return fmt.Errorf("services: dhcp port %s: %w", p.Name, lerr)
	}
	conn, err := d.listen(p.Name, link)
	if err != nil {
		return fmt.Errorf("services: dhcp port %s: %w", p.Name, err)
	}
	dp := &dhcpPort{conn: conn, stop: make(chan struct{}), done: make(chan struct{})}
	dp.info.Store(&p)
	d.ports[p.Name] = dp
	go d.serve(dp)
	d.log.Info("serving port", "port", p.Name, "mac", p.MAC.String(), "addr", p.Addr.String())
	return nil
}

// listen opens the port's packet socket on the interface found by
// LinkByName, in the server's namespace.
func (d *DHCP) listen(name string, link nsutil.Link) (conn *rawsock.Conn, err error) {
	err = d.ns.Do(func() (err error) {
		conn, err = rawsock.ListenIndex(name, link.Index, link.MAC, dhcpwire.ServerPort)
		return err
	})
	return conn, err
}

// RemovePort stops serving name. Unknown names are ignored.
func (d *DHCP) RemovePort(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dp, ok := d.ports[name]; ok {
		d.stopLocked(name, dp)
		d.log.Info("port removed", "port", name)
	}
}

func (d *DHCP) stopLocked(name string, dp *dhcpPort) {
	close(dp.stop)
	dp.mu.Lock()
	dp.conn.Close()
	dp.mu.Unlock()
	<-dp.done
	d.removed.add(dp.count.snapshot())
	delete(d.ports, name)
}

// Ports returns the names of the ports being served, sorted.
func (d *DHCP) Ports() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.ports))
	for n := range d.ports {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Stats returns the counters of every port, present and removed, summed.
func (d *DHCP) Stats() DHCPStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.removed
	for _, dp := range d.ports {
		s.add(dp.count.snapshot())
	}
	return s
}

// PortStats returns the counters of one port being served.
func (d *DHCP) PortStats(name string) (DHCPStats, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dp, ok := d.ports[name]
	if !ok {
		return DHCPStats{}, false
	}
	return dp.count.snapshot(), true
}

// Close stops serving every port and waits for the reader goroutines.
func (d *DHCP) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	for name, dp := range d.ports {
		d.stopLocked(name, dp)
	}
	return d.ns.Close()
}

// serve reads frames of one port until the port is removed.
func (d *DHCP) serve(dp *dhcpPort) {
	defer close(dp.done)
	buf := make([]byte, 65536)
	for {
		conn := dp.socket()
		n, outgoing, err := conn.Read(buf)
		if err != nil {
			select {
			case <-dp.stop:
				return
			default:
			}
			dp.count.recvErrors.Add(1)
			if !d.recover(dp, conn) {
				return
			}
			continue
		}
		if outgoing {
			continue
		}
		d.handle(dp, conn, buf[:n])
	}
}

// recover runs after a read error, which a packet socket reports (once,
// as ENETDOWN) when its interface goes down or is deleted. It polls the
// interface: once the same interface is up again reading resumes; if an
// interface of the same name but a new index appears (the VM's tap was
// recreated) a new socket is opened on it, because the agent does not call
// SetPort again when the port's configuration did not change. It returns
// false when the port is removed meanwhile.
func (d *DHCP) recover(dp *dhcpPort, old *rawsock.Conn) bool {
	name := dp.info.Load().Name
	logged := false
	for {
		select {
		case <-dp.stop:
			return false
		case <-time.After(200 * time.Millisecond):
		}
		link, err := d.ns.LinkByName(name)
		switch {
		case err != nil:
			if !logged {
				d.log.Info("port interface gone; waiting for it", "port", name)
				logged = true
			}
			continue
		case link.Index == old.Ifindex():
			if link.Up {
				return true
			}
			continue
		}
		conn, err := d.listen(name, link)
		if err != nil {
			continue
		}
		dp.mu.Lock()
		select {
		case <-dp.stop:
			dp.mu.Unlock()
			conn.Close()
			return false
		default:
		}
		old.Close()
		dp.conn = conn
		dp.mu.Unlock()
		d.log.Info("port interface recreated; socket reopened", "port", name, "ifindex", conn.Ifindex())
		return true
	}
}

func (d *DHCP) handle(dp *dhcpPort, conn *rawsock.Conn, frame []byte) {
	p := dp.info.Load()
	c := &dp.count
	c.received.Add(1)
	r, out, t := handleFrame(p, frame)
	switch t {
	case dhcpwire.Discover:
		c.discovers.Add(1)
	case dhcpwire.Request:
		c.requests.Add(1)
	case dhcpwire.Inform:
		c.informs.Add(1)
	}
	switch out {
	case outMalformed:
		c.malformed.Add(1)
		return
	case outForeignMAC:
		c.foreign.Add(1)
		d.log.Debug("frame from a foreign MAC ignored", "port", p.Name)
		return
	case outIgnored:
		c.ignored.Add(1)
		return
	case outRelease:
		c.releases.Add(1)
		d.log.Info("address released", "port", p.Name, "addr", p.Addr.Addr().String())
		return
	case outDecline:
		c.declines.Add(1)
		d.log.Warn("address declined by the VM (in use on its link?)", "port", p.Name, "addr", p.Addr.Addr().String())
		return
	}
	if err := conn.Write(r.frame(conn.HardwareAddr(), p.Gateway)); err != nil {
		c.sendErrors.Add(1)
		d.log.Warn("send failed", "port", p.Name, "err", err)
		return
	}
	switch out {
	case outOffer:
		c.offers.Add(1)
	case outAck, outInformAck:
		c.acks.Add(1)
	case outNak:
		c.naks.Add(1)
	}
	d.log.Debug("reply sent", "port", p.Name, "type", r.msg.Type().String(), "to", r.dstIP.String())
}
