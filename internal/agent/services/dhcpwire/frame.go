// SPDX-License-Identifier: Apache-2.0

package dhcpwire

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Well-known ports.
const (
	ServerPort = 67
	ClientPort = 68
)

// Broadcast addresses.
var (
	BroadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	BroadcastIP  = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

const (
	etherLen     = 14
	ipv4Len      = 20
	udpLen       = 8
	etherTypeIP4 = 0x0800
	protoUDP     = 17
)

// Frame is a UDP datagram in an IPv4 packet in an Ethernet II frame.
type Frame struct {
	DstMAC, SrcMAC net.HardwareAddr
	Src, Dst       netip.AddrPort
	Payload        []byte
}

// ParseFrame decodes an Ethernet frame carrying an unfragmented IPv4 UDP
// datagram. The IPv4 header checksum is checked; the UDP checksum is not
// (frames captured on the sending host may carry a checksum left to
// offload). Payload aliases b.
func ParseFrame(b []byte) (Frame, error) {
	var f Frame
	if len(b) < etherLen+ipv4Len+udpLen {
		return f, fmt.Errorf("%w: frame of %d bytes", ErrMalformed, len(b))
	}
	if binary.BigEndian.Uint16(b[12:]) != etherTypeIP4 {
		return f, fmt.Errorf("%w: ethertype %#04x", ErrMalformed, binary.BigEndian.Uint16(b[12:]))
	}
	f.DstMAC = net.HardwareAddr(b[0:6])
	f.SrcMAC = net.HardwareAddr(b[6:12])
	ip := b[etherLen:]
	if ip[0]>>4 != 4 {
		return f, fmt.Errorf("%w: IP version %d", ErrMalformed, ip[0]>>4)
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < ipv4Len || total < ihl+udpLen || total > len(ip) {
		return f, fmt.Errorf("%w: IPv4 header length %d, total %d, have %d", ErrMalformed, ihl, total, len(ip))
	}
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return f, fmt.Errorf("%w: IPv4 fragment", ErrMalformed)
	}
	if ip[9] != protoUDP {
		return f, fmt.Errorf("%w: IP protocol %d", ErrMalformed, ip[9])
	}
	if checksum(ip[:ihl], 0) != 0 {
		return f, fmt.Errorf("%w: IPv4 header checksum", ErrMalformed)
	}
	src := netip.AddrFrom4([4]byte(ip[12:16]))
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < udpLen || ulen > len(udp) {
		return f, fmt.Errorf("%w: UDP length %d of %d", ErrMalformed, ulen, len(udp))
	}
	f.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:]))
	f.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:]))
	f.Payload = udp[udpLen:ulen]
	return f, nil
}

// Marshal encodes f with a TTL of 64, no IP options, and both checksums.
func (f Frame) Marshal() []byte {
	ulen := udpLen + len(f.Payload)
	total := ipv4Len + ulen
	b := make([]byte, etherLen+total)
	copy(b[0:6], f.DstMAC)
	copy(b[6:12], f.SrcMAC)
	binary.BigEndian.PutUint16(b[12:], etherTypeIP4)
	ip := b[etherLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	ip[8] = 64
	ip[9] = protoUDP
	src, dst := f.Src.Addr().As4(), f.Dst.Addr().As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:ipv4Len], 0))
	udp := ip[ipv4Len:]
	binary.BigEndian.PutUint16(udp[0:], f.Src.Port())
	binary.BigEndian.PutUint16(udp[2:], f.Dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(ulen))
	copy(udp[udpLen:], f.Payload)
	// Pseudo-header sum: addresses, protocol, UDP length (RFC 768).
	var pseudo uint32
	for i := 0; i < 4; i += 2 {
		pseudo += uint32(src[i])<<8 | uint32(src[i+1])
		pseudo += uint32(dst[i])<<8 | uint32(dst[i+1])
	}
	pseudo += protoUDP + uint32(ulen)
	cs := checksum(udp, pseudo)
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], cs)
	return b
}

// checksum is the Internet checksum of b, starting from a partial sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
