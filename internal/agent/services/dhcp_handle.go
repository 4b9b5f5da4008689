// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpwire"
)

// DefaultLease is the lease time offered when PortInfo.Lease is zero.
const DefaultLease = 24 * time.Hour

// HostRoute is a route handed to a VM in the classless static route
// options. An invalid NextHop means the prefix is on the link.
type HostRoute struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
}

// PortInfo is what the DHCP server hands to the VM behind one port.
type PortInfo struct {
	Name     string           // host-side interface name (veth host end or tap)
	MAC      net.HardwareAddr // the VM's MAC
	Addr     netip.Prefix     // the VM's IPv4 address with its subnet length
	Gateway  netip.Addr       // router option and server identifier
	DNS      []netip.Addr     // option 6; empty: not sent
	Routes   []HostRoute      // options 121/249; empty: not sent
	MTU      int              // option 26; 0: not sent
	Hostname string           // option 12; empty: not sent
	Domain   string           // option 15; empty: not sent
	Lease    time.Duration    // option 51; 0: DefaultLease
}

// validate checks p and returns a copy with defaults applied.
func (p PortInfo) validate() (PortInfo, error) {
	switch {
	case p.Name == "":
		return p, errors.New("services: port without a name")
	case len(p.MAC) != 6:
		return p, fmt.Errorf("services: port %s: MAC %q is not 6 bytes", p.Name, p.MAC)
	case !p.Addr.IsValid() || !p.Addr.Addr().Is4() || p.Addr.Bits() < 1 || p.Addr.Bits() > 32:
		return p, fmt.Errorf("services: port %s: address %v is not an IPv4 prefix", p.Name, p.Addr)
	case !p.Gateway.Is4() || p.Gateway.IsUnspecified():
		return p, fmt.Errorf("services: port %s: gateway %v is not an IPv4 address", p.Name, p.Gateway)
	case p.MTU != 0 && (p.MTU < 68 || p.MTU > 65535):
		return p, fmt.Errorf("services: port %s: MTU %d out of 68..65535", p.Name, p.MTU)
	case p.Lease < 0:
		return p, fmt.Errorf("services: port %s: negative lease", p.Name)
	case len(p.Hostname) > 255 || len(p.Domain) > 255:
		return p, fmt.Errorf("services: port %s: hostname or domain longer than 255 bytes", p.Name)
	}
	for _, a := range p.DNS {
		if !a.Is4() {
			return p, fmt.Errorf("services: port %s: DNS server %v is not IPv4", p.Name, a)
		}
	}
	for _, r := range p.Routes {
		if !r.Prefix.IsValid() || !r.Prefix.Addr().Is4() || (r.NextHop.IsValid() && !r.NextHop.Is4()) {
			return p, fmt.Errorf("services: port %s: route %v via %v is not IPv4", p.Name, r.Prefix, r.NextHop)
		}
	}
	if p.Lease == 0 {
		p.Lease = DefaultLease
	}
	p.MAC = slices.Clone(p.MAC)
	p.DNS = slices.Clone(p.DNS)
	p.Routes = slices.Clone(p.Routes)
	return p, nil
}

// outcome classifies what happened to one received frame, for the counters.
type outcome int

const (
	outMalformed outcome = iota
	outForeignMAC
	outIgnored // well formed, not for us (other server, relayed, reply op, ...)
	outOffer
	outAck
	outNak
	outInformAck
	outRelease
	outDecline
)

// reply is a message to send and where to.
type reply struct {
	msg    *dhcpwire.Message
	dstMAC net.HardwareAddr
	dstIP  netip.Addr
}

// handleFrame decides the answer to one frame received on port p. It never
// panics; a nil reply means nothing is sent.
func handleFrame(p *PortInfo, frame []byte) (*reply, outcome, dhcpwire.MessageType) {
	f, err := dhcpwire.ParseFrame(frame)
	if err != nil || f.Dst.Port() != dhcpwire.ServerPort {
		return nil, outMalformed, 0
	}
	req, err := dhcpwire.Parse(f.Payload)
	if err != nil {
		return nil, outMalformed, 0
	}
	if !bytes.Equal(f.SrcMAC, p.MAC) || req.HType != 1 || !bytes.Equal(req.CHAddr, p.MAC) {
		return nil, outForeignMAC, req.Type()
	}
	r, out := handleMessage(p, req)
	return r, out, req.Type()
}

// handleMessage implements RFC 2131 section 4.3 for a server that owns
// exactly one address per client: the port's.
func handleMessage(p *PortInfo, req *dhcpwire.Message) (*reply, outcome) {
	if req.Op != dhcpwire.OpRequest || req.HLen != 6 {
		return nil, outMalformed
	}
	if req.GIAddr.IsValid() && !req.GIAddr.IsUnspecified() {
		// A relay on a VM port is not something a VM should do.
		return nil, outIgnored
	}
	addr := p.Addr.Addr()
	reqIP, hasReqIP := req.Addr(dhcpwire.OptRequestedIP)
	serverID, hasServerID := req.Addr(dhcpwire.OptServerID)
	ciaddr := req.CIAddr
	if !ciaddr.IsValid() {
		ciaddr = netip.IPv4Unspecified()
	}
	switch req.Type() {
	case dhcpwire.Discover:
		return p.answer(req, dhcpwire.Offer), outOffer
	case dhcpwire.Request:
		switch {
		case hasServerID: // SELECTING
			if serverID != p.Gateway {
				return nil, outIgnored // the client chose another server
			}
			if !hasReqIP || reqIP != addr {
				return p.nak(req, "requested address is not this client's"), outNak
			}
		case hasReqIP && ciaddr.IsUnspecified(): // INIT-REBOOT
			if reqIP != addr {
				return p.nak(req, "requested address is not this client's"), outNak
			}
		case !ciaddr.IsUnspecified(): // RENEWING or REBINDING
			if ciaddr != addr {
				return p.nak(req, "address is not this client's"), outNak
			}
		default:
			return nil, outMalformed
		}
		return p.answer(req, dhcpwire.Ack), outAck
	case dhcpwire.Inform:
		return p.answer(req, dhcpwire.Ack), outInformAck
	case dhcpwire.Release:
		if hasServerID && serverID != p.Gateway {
			return nil, outIgnored
		}
		return nil, outRelease
	case dhcpwire.Decline:
		if hasServerID && serverID != p.Gateway {
			return nil, outIgnored
		}
		return nil, outDecline
	}
	return nil, outMalformed
}

// base starts a reply to req.
func (p *PortInfo) base(req *dhcpwire.Message, t dhcpwire.MessageType) *dhcpwire.Message {
	m := &dhcpwire.Message{
		Op:     dhcpwire.OpReply,
		HType:  1,
		HLen:   6,
		XID:    req.XID,
		Flags:  req.Flags,
		CIAddr: netip.IPv4Unspecified(),
		YIAddr: netip.IPv4Unspecified(),
		SIAddr: netip.IPv4Unspecified(),
		GIAddr: netip.IPv4Unspecified(),
		CHAddr: slices.Clone(p.MAC),
	}
	m.Add(dhcpwire.OptMessageType, []byte{byte(t)})
	m.Add(dhcpwire.OptServerID, dhcpwire.AddrBytes(p.Gateway))
	return m
}

// nak builds a NAK, always broadcast (RFC 2131 section 4.1).
func (p *PortInfo) nak(req *dhcpwire.Message, why string) *reply {
	m := p.base(req, dhcpwire.Nak)
	m.Add(dhcpwire.OptMessage, []byte(why))
	if id, ok := req.Options.Get(dhcpwire.OptClientID); ok {
		m.Add(dhcpwire.OptClientID, id)
	}
	m.Flags |= dhcpwire.FlagBroadcast
	return &reply{msg: m, dstMAC: dhcpwire.BroadcastMAC, dstIP: dhcpwire.BroadcastIP}
}

// answer builds an OFFER or ACK (an INFORM's ACK has no address and no
// lease times) and its destination.
func (p *PortInfo) answer(req *dhcpwire.Message, t dhcpwire.MessageType) *reply {
	m := p.base(req, t)
	inform := req.Type() == dhcpwire.Inform
	if inform {
		m.CIAddr = req.CIAddr
	} else {
		if req.CIAddr.IsValid() {
			m.CIAddr = req.CIAddr
		}
		m.YIAddr = p.Addr.Addr()
		secs := uint32(min(p.Lease/time.Second, 0xfffffffe))
		m.Add(dhcpwire.OptLeaseTime, dhcpwire.Uint32Bytes(secs))
		m.Add(dhcpwire.OptRenewalTime, dhcpwire.Uint32Bytes(secs/2))
		m.Add(dhcpwire.OptRebindingTime, dhcpwire.Uint32Bytes(uint32(uint64(secs)*7/8)))
	}
	m.Add(dhcpwire.OptSubnetMask, dhcpwire.MaskBytes(p.Addr.Bits()))
	m.Add(dhcpwire.OptRouter, dhcpwire.AddrBytes(p.Gateway))
	if len(p.DNS) > 0 {
		m.Add(dhcpwire.OptDNS, dhcpwire.AddrBytes(p.DNS...))
	}
	if p.Hostname != "" {
		m.Add(dhcpwire.OptHostname, []byte(p.Hostname))
	}
	if p.Domain != "" {
		m.Add(dhcpwire.OptDomainName, []byte(p.Domain))
	}
	if p.MTU != 0 {
		m.Add(dhcpwire.OptMTU, dhcpwire.Uint16Bytes(uint16(p.MTU)))
	}
	if len(p.Routes) > 0 {
		routes := p.classless()
		m.Add(dhcpwire.OptClasslessRoutes, routes)
		if prl, ok := req.Options.Get(dhcpwire.OptParamList); ok && bytes.IndexByte(prl, dhcpwire.OptMSClasslessRts) >= 0 {
			m.Add(dhcpwire.OptMSClasslessRts, routes)
		}
	}
	if id, ok := req.Options.Get(dhcpwire.OptClientID); ok {
		m.Add(dhcpwire.OptClientID, id)
	}
	r := &reply{msg: m, dstMAC: p.MAC}
	switch {
	case req.CIAddr.IsValid() && !req.CIAddr.IsUnspecified():
		r.dstIP = req.CIAddr
	case req.Flags&dhcpwire.FlagBroadcast != 0:
		r.dstMAC, r.dstIP = dhcpwire.BroadcastMAC, dhcpwire.BroadcastIP
	default:
		r.dstIP = p.Addr.Addr()
	}
	return r
}

// classless encodes the host routes plus a default route via the gateway,
// since RFC 3442 makes a client that receives option 121 ignore option 3.
func (p *PortInfo) classless() []byte {
	rs := make([]dhcpwire.Route, 0, len(p.Routes)+1)
	hasDefault := false
	for _, r := range p.Routes {
		nh := r.NextHop
		if !nh.IsValid() {
			nh = netip.IPv4Unspecified()
		}
		rs = append(rs, dhcpwire.Route{Prefix: r.Prefix.Masked(), NextHop: nh})
		if r.Prefix.Bits() == 0 {
			hasDefault = true
		}
	}
	if !hasDefault {
		rs = append(rs, dhcpwire.Route{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), NextHop: p.Gateway})
	}
	return dhcpwire.ClasslessRoutes(rs)
}

// frame encodes r as an Ethernet frame from the host interface.
func (r *reply) frame(srcMAC net.HardwareAddr, gateway netip.Addr) []byte {
	return dhcpwire.Frame{
		DstMAC:  r.dstMAC,
		SrcMAC:  srcMAC,
		Src:     netip.AddrPortFrom(gateway, dhcpwire.ServerPort),
		Dst:     netip.AddrPortFrom(r.dstIP, dhcpwire.ClientPort),
		Payload: r.msg.Marshal(),
	}.Marshal()
}
