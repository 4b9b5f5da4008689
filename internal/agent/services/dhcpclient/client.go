// SPDX-License-Identifier: Apache-2.0

// Package dhcpclient is a small DHCPv4 client for tests: it gets a lease
// for an interface the way a VM's DHCP client would, over a packet socket,
// so it works on an interface with no address.
//
// Namespaces: New and Acquire open their packet socket and netlink handle
// in the network namespace of the calling thread, so call them from a
// goroutine locked to a thread in the VM's namespace:
//
//	runtime.LockOSThread()
//	defer runtime.UnlockOSThread()
//	netns.Set(vmNS) // and back afterwards
//	lease, err := dhcpclient.Acquire(ctx, "eth0", dhcpclient.Configure())
//
// Once New has returned, a Client may be used from any goroutine: its
// sockets stay in the namespace they were opened in.
//
// Acquire runs DISCOVER, OFFER, REQUEST, ACK (retransmitting with backoff
// from 250 ms to 2 s until ctx ends) and, with Configure, sets the address,
// the MTU and the routes (the classless static routes when the server sent
// option 121, else a default route via the router) on the interface and
// sets it up. Client.Renew sends a unicast REQUEST with ciaddr (RENEWING),
// Client.Release a RELEASE, Client.Exchange any message.
package dhcpclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpwire"
	"github.com/contrail-go/contrail/internal/agent/services/internal/rawsock"
)

// Route is one route of a lease. An unspecified NextHop means on-link.
type Route struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
}

// Lease is what the server handed out.
type Lease struct {
	Addr      netip.Prefix // address with the subnet mask's length
	Gateway   netip.Addr   // option 3 (first router); invalid if absent
	DNS       []netip.Addr // option 6
	Routes    []Route      // option 121 (or 249 when 121 is absent)
	MTU       int          // option 26; 0 if absent
	Hostname  string       // option 12
	Domain    string       // option 15
	Duration  time.Duration
	T1, T2    time.Duration // options 58, 59; 0 if absent
	ServerID  netip.Addr    // option 54
	ServerMAC net.HardwareAddr
	// ACK is the whole ACK, for tests that check options directly.
	ACK *dhcpwire.Message
}

// ErrNak is returned when the server answers with a NAK.
var ErrNak = errors.New("dhcpclient: NAK")

// Option changes how the client behaves.
type Option func(*config)

type config struct {
	configure bool
	broadcast bool
	hostname  string
	params    []byte
	mac       net.HardwareAddr
}

// Configure makes Acquire and Renew apply the lease to the interface.
func Configure() Option { return func(c *config) { c.configure = true } }

// Broadcast sets the broadcast flag in requests, asking for broadcast
// replies.
func Broadcast() Option { return func(c *config) { c.broadcast = true } }

// Hostname sends option 12 in requests.
func Hostname(name string) Option { return func(c *config) { c.hostname = name } }

// Params replaces the parameter request list (option 55).
func Params(codes ...byte) Option { return func(c *config) { c.params = codes } }

// HardwareAddr uses mac as the source MAC and chaddr instead of the
// interface's own.
func HardwareAddr(mac net.HardwareAddr) Option { return func(c *config) { c.mac = mac } }

// DefaultParams is the parameter request list sent by default.
var DefaultParams = []byte{
	dhcpwire.OptSubnetMask, dhcpwire.OptRouter, dhcpwire.OptDNS, dhcpwire.OptHostname,
	dhcpwire.OptDomainName, dhcpwire.OptMTU, dhcpwire.OptClasslessRoutes, dhcpwire.OptMSClasslessRts,
}

// Client is one interface's DHCP client.
type Client struct {
	ifname string
	conn   *rawsock.Conn
	nl     *netlink.Handle
	cfg    config
}

// New opens a client on ifname in the calling thread's namespace.
func New(ifname string, opts ...Option) (*Client, error) {
	c := &Client{ifname: ifname, cfg: config{params: DefaultParams}}
	for _, o := range opts {
		o(&c.cfg)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("dhcpclient: %w", err)
	}
	defer ns.Close()
	c.nl, err = netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("dhcpclient: netlink: %w", err)
	}
	if l, err := c.nl.LinkByName(ifname); err == nil && l.Attrs().Flags&net.FlagUp == 0 {
		// A packet socket cannot send on a link that is down.
		if err := c.nl.LinkSetUp(l); err != nil {
			c.nl.Close()
			return nil, fmt.Errorf("dhcpclient: %s up: %w", ifname, err)
		}
	}
	c.conn, err = rawsock.Listen(ifname, dhcpwire.ClientPort)
	if err != nil {
		c.nl.Close()
		return nil, fmt.Errorf("dhcpclient: %w", err)
	}
	if c.cfg.mac == nil {
		c.cfg.mac = c.conn.HardwareAddr()
	}
	return c, nil
}

// Close releases the sockets.
func (c *Client) Close() error {
	c.nl.Close()
	return c.conn.Close()
}

// Acquire gets a lease on ifname (see the package comment).
func Acquire(ctx context.Context, ifname string, opts ...Option) (Lease, error) {
	c, err := New(ifname, opts...)
	if err != nil {
		return Lease{}, err
	}
	defer c.Close()
	return c.Acquire(ctx)
}

func (c *Client) newMessage(t dhcpwire.MessageType) *dhcpwire.Message {
	var x [4]byte
	_, _ = rand.Read(x[:])
	m := &dhcpwire.Message{
		Op:     dhcpwire.OpRequest,
		HType:  1,
		HLen:   6,
		XID:    binary.BigEndian.Uint32(x[:]),
		CIAddr: netip.IPv4Unspecified(),
		YIAddr: netip.IPv4Unspecified(),
		SIAddr: netip.IPv4Unspecified(),
		GIAddr: netip.IPv4Unspecified(),
		CHAddr: c.cfg.mac,
	}
	if c.cfg.broadcast {
		m.Flags = dhcpwire.FlagBroadcast
	}
	m.Add(dhcpwire.OptMessageType, []byte{byte(t)})
	if len(c.cfg.params) > 0 {
		m.Add(dhcpwire.OptParamList, c.cfg.params)
	}
	if c.cfg.hostname != "" {
		m.Add(dhcpwire.OptHostname, []byte(c.cfg.hostname))
	}
	return m
}

// Acquire runs DISCOVER/OFFER/REQUEST/ACK.
func (c *Client) Acquire(ctx context.Context) (Lease, error) {
	disc := c.newMessage(dhcpwire.Discover)
	offer, _, err := c.Exchange(ctx, disc, nil, netip.Addr{})
	if err != nil {
		return Lease{}, fmt.Errorf("dhcpclient: discover: %w", err)
	}
	if offer.Type() != dhcpwire.Offer {
		return Lease{}, fmt.Errorf("dhcpclient: got %v for DISCOVER", offer.Type())
	}
	sid, ok := offer.Addr(dhcpwire.OptServerID)
	if !ok {
		return Lease{}, errors.New("dhcpclient: offer without server identifier")
	}
	req := c.newMessage(dhcpwire.Request)
	req.XID = disc.XID
	req.Add(dhcpwire.OptRequestedIP, dhcpwire.AddrBytes(offer.YIAddr))
	req.Add(dhcpwire.OptServerID, dhcpwire.AddrBytes(sid))
	return c.request(ctx, req, nil, netip.Addr{})
}

// Renew sends a REQUEST in the RENEWING state: ciaddr set, unicast to the
// server that gave l.
func (c *Client) Renew(ctx context.Context, l Lease) (Lease, error) {
	req := c.newMessage(dhcpwire.Request)
	req.CIAddr = l.Addr.Addr()
	return c.request(ctx, req, l.ServerMAC, l.ServerID)
}

// Rebind sends a REQUEST in the REBINDING state: ciaddr set, broadcast,
// for any server to answer.
func (c *Client) Rebind(ctx context.Context, l Lease) (Lease, error) {
	req := c.newMessage(dhcpwire.Request)
	req.CIAddr = l.Addr.Addr()
	return c.request(ctx, req, nil, netip.Addr{})
}

func (c *Client) request(ctx context.Context, req *dhcpwire.Message, dstMAC net.HardwareAddr, dstIP netip.Addr) (Lease, error) {
	ack, from, err := c.Exchange(ctx, req, dstMAC, dstIP)
	if err != nil {
		return Lease{}, fmt.Errorf("dhcpclient: request: %w", err)
	}
	switch ack.Type() {
	case dhcpwire.Ack:
	case dhcpwire.Nak:
		msg, _ := ack.Options.Get(dhcpwire.OptMessage)
		return Lease{}, fmt.Errorf("%w: %s", ErrNak, msg)
	default:
		return Lease{}, fmt.Errorf("dhcpclient: got %v for REQUEST", ack.Type())
	}
	l, err := leaseFrom(ack)
	if err != nil {
		return Lease{}, err
	}
	l.ServerMAC = from
	if c.cfg.configure {
		if err := c.Apply(l); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Release sends a RELEASE for l (no answer is expected).
func (c *Client) Release(l Lease) error {
	m := c.newMessage(dhcpwire.Release)
	m.CIAddr = l.Addr.Addr()
	m.Add(dhcpwire.OptServerID, dhcpwire.AddrBytes(l.ServerID))
	return c.send(m, l.ServerMAC, l.ServerID)
}

func (c *Client) send(m *dhcpwire.Message, dstMAC net.HardwareAddr, dstIP netip.Addr) error {
	src := m.CIAddr
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	if dstMAC == nil || !dstIP.IsValid() {
		dstMAC, dstIP = dhcpwire.BroadcastMAC, dhcpwire.BroadcastIP
	}
	f := dhcpwire.Frame{
		DstMAC:  dstMAC,
		SrcMAC:  c.cfg.mac,
		Src:     netip.AddrPortFrom(src, dhcpwire.ClientPort),
		Dst:     netip.AddrPortFrom(dstIP, dhcpwire.ServerPort),
		Payload: m.Marshal(),
	}
	return c.conn.Write(f.Marshal())
}

// Exchange sends m (broadcast when dstMAC is nil, else to dstMAC/dstIP)
// and waits for a reply with the same transaction id, retransmitting until
// ctx ends. It returns the reply and the MAC it came from.
func (c *Client) Exchange(ctx context.Context, m *dhcpwire.Message, dstMAC net.HardwareAddr, dstIP netip.Addr) (*dhcpwire.Message, net.HardwareAddr, error) {
	buf := make([]byte, 65536)
	wait := 250 * time.Millisecond
	for {
		if err := c.send(m, dstMAC, dstIP); err != nil {
			return nil, nil, err
		}
		deadline := time.Now().Add(wait)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		for {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			_ = c.conn.SetReadDeadline(deadline)
			n, outgoing, err := c.conn.Read(buf)
			if rawsock.IsTimeout(err) {
				break
			}
			if err != nil {
				return nil, nil, err
			}
			if outgoing {
				continue
			}
			f, err := dhcpwire.ParseFrame(buf[:n])
			if err != nil || f.Src.Port() != dhcpwire.ServerPort {
				continue
			}
			r, err := dhcpwire.Parse(f.Payload)
			if err != nil || r.Op != dhcpwire.OpReply || r.XID != m.XID || !bytes.Equal(r.CHAddr, c.cfg.mac) {
				continue
			}
			return r, append(net.HardwareAddr(nil), f.SrcMAC...), nil
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// leaseFrom reads a lease from an ACK.
func leaseFrom(ack *dhcpwire.Message) (Lease, error) {
	l := Lease{ACK: ack}
	mask, ok := ack.Options.Get(dhcpwire.OptSubnetMask)
	if !ok || len(mask) != 4 {
		return l, errors.New("dhcpclient: ACK without subnet mask")
	}
	ones, bits := net.IPMask(mask).Size()
	if bits != 32 {
		return l, fmt.Errorf("dhcpclient: non-contiguous mask %v", net.IP(mask))
	}
	l.Addr = netip.PrefixFrom(ack.YIAddr, ones)
	if b, ok := ack.Options.Get(dhcpwire.OptRouter); ok {
		if rs, err := dhcpwire.ParseAddrs(b); err == nil && len(rs) > 0 {
			l.Gateway = rs[0]
		}
	}
	if b, ok := ack.Options.Get(dhcpwire.OptDNS); ok {
		l.DNS, _ = dhcpwire.ParseAddrs(b)
	}
	b, ok := ack.Options.Get(dhcpwire.OptClasslessRoutes)
	if !ok {
		b, ok = ack.Options.Get(dhcpwire.OptMSClasslessRts)
	}
	if ok {
		rs, err := dhcpwire.ParseClasslessRoutes(b)
		if err != nil {
			return l, err
		}
		for _, r := range rs {
			l.Routes = append(l.Routes, Route(r))
		}
	}
	if b, ok := ack.Options.Get(dhcpwire.OptMTU); ok && len(b) == 2 {
		l.MTU = int(binary.BigEndian.Uint16(b))
	}
	if b, ok := ack.Options.Get(dhcpwire.OptHostname); ok {
		l.Hostname = string(b)
	}
	if b, ok := ack.Options.Get(dhcpwire.OptDomainName); ok {
		l.Domain = string(b)
	}
	if v, ok := ack.Uint32(dhcpwire.OptLeaseTime); ok {
		l.Duration = time.Duration(v) * time.Second
	}
	if v, ok := ack.Uint32(dhcpwire.OptRenewalTime); ok {
		l.T1 = time.Duration(v) * time.Second
	}
	if v, ok := ack.Uint32(dhcpwire.OptRebindingTime); ok {
		l.T2 = time.Duration(v) * time.Second
	}
	l.ServerID, _ = ack.Addr(dhcpwire.OptServerID)
	return l, nil
}

// Apply configures the interface with l: MTU, address, up, then the
// routes (classless routes if any, else a default route via the gateway).
// Routes and the address are replaced, so Apply can be repeated.
func (c *Client) Apply(l Lease) error {
	link, err := c.nl.LinkByName(c.ifname)
	if err != nil {
		return fmt.Errorf("dhcpclient: %w", err)
	}
	if l.MTU != 0 && link.Attrs().MTU != l.MTU {
		if err := c.nl.LinkSetMTU(link, l.MTU); err != nil {
			return fmt.Errorf("dhcpclient: MTU %d: %w", l.MTU, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: l.Addr.Addr().AsSlice(), Mask: net.CIDRMask(l.Addr.Bits(), 32)}}
	if err := c.nl.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("dhcpclient: address %v: %w", l.Addr, err)
	}
	if err := c.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("dhcpclient: up: %w", err)
	}
	routes := l.Routes
	if len(routes) == 0 && l.Gateway.IsValid() {
		routes = []Route{{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), NextHop: l.Gateway}}
	}
	// On-link routes first: a gateway may be reachable only through one.
	for pass := 0; pass < 2; pass++ {
		for _, r := range routes {
			onlink := !r.NextHop.IsValid() || r.NextHop.IsUnspecified()
			if onlink != (pass == 0) {
				continue
			}
			p := r.Prefix.Masked()
			nr := &netlink.Route{
				LinkIndex: link.Attrs().Index,
				Dst:       &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)},
			}
			if onlink {
				nr.Scope = netlink.SCOPE_LINK
			} else {
				nr.Gw = r.NextHop.AsSlice()
			}
			if err := c.nl.RouteReplace(nr); err != nil {
				return fmt.Errorf("dhcpclient: route %v via %v: %w", r.Prefix, r.NextHop, err)
			}
		}
	}
	return nil
}
