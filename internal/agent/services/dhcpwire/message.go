// SPDX-License-Identifier: Apache-2.0

// Package dhcpwire encodes and decodes DHCPv4 messages (RFC 2131, RFC 2132)
// and the Ethernet/IPv4/UDP frames that carry them, for the agent's DHCP
// server and the test client. It is a pure codec: no sockets, no logging.
// Parse never panics on any input; it returns ErrMalformed (wrapped) for
// anything it cannot decode.
package dhcpwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("dhcpwire: malformed")

// BOOTP operation codes.
const (
	OpRequest uint8 = 1
	OpReply   uint8 = 2
)

// MessageType is the value of option 53.
type MessageType uint8

// DHCP message types (RFC 2132 section 9.6).
const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
	Inform   MessageType = 8
)

func (t MessageType) String() string {
	names := [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// Option codes used by the agent (RFC 2132, RFC 3442).
const (
	OptPad             uint8 = 0
	OptSubnetMask      uint8 = 1
	OptRouter          uint8 = 3
	OptDNS             uint8 = 6
	OptHostname        uint8 = 12
	OptDomainName      uint8 = 15
	OptMTU             uint8 = 26
	OptRequestedIP     uint8 = 50
	OptLeaseTime       uint8 = 51
	OptOverload        uint8 = 52
	OptMessageType     uint8 = 53
	OptServerID        uint8 = 54
	OptParamList       uint8 = 55
	OptMessage         uint8 = 56
	OptMaxMessageSize  uint8 = 57
	OptRenewalTime     uint8 = 58
	OptRebindingTime   uint8 = 59
	OptClientID        uint8 = 61
	OptClasslessRoutes uint8 = 121
	OptMSClasslessRts  uint8 = 249
	OptEnd             uint8 = 255
)

// FlagBroadcast is the broadcast bit of the flags field.
const FlagBroadcast uint16 = 0x8000

// magicCookie starts the options field (RFC 2131 section 3).
var magicCookie = [4]byte{99, 130, 83, 99}

const (
	fixedLen = 236 // op .. file
	// MinLen is the smallest message Marshal produces: BOOTP relays and
	// some clients drop anything shorter than 300 bytes.
	MinLen = 300
)

// Option is one option instance.
type Option struct {
	Code uint8
	Data []byte
}

// Options is the ordered option list of a message.
type Options []Option

// Get returns the data of code, with the data of repeated instances
// concatenated (RFC 3396), and whether the option is present.
func (o Options) Get(code uint8) ([]byte, bool) {
	var out []byte
	found := false
	for _, op := range o {
		if op.Code == code {
			found = true
			out = append(out, op.Data...)
		}
	}
	return out, found
}

// Has reports whether code is present.
func (o Options) Has(code uint8) bool {
	_, ok := o.Get(code)
	return ok
}

// Message is a DHCPv4 message.
type Message struct {
	Op     uint8
	HType  uint8
	HLen   uint8
	Hops   uint8
	XID    uint32
	Secs   uint16
	Flags  uint16
	CIAddr netip.Addr
	YIAddr netip.Addr
	SIAddr netip.Addr
	GIAddr netip.Addr
	// CHAddr is the client hardware address, HLen bytes of the field
	// (at most 16).
	CHAddr  net.HardwareAddr
	SName   string
	File    string
	Options Options
}

// Type returns option 53, or 0 when it is missing or malformed.
func (m *Message) Type() MessageType {
	b, ok := m.Options.Get(OptMessageType)
	if !ok || len(b) != 1 {
		return 0
	}
	return MessageType(b[0])
}

// Addr returns option code as one IPv4 address.
func (m *Message) Addr(code uint8) (netip.Addr, bool) {
	b, ok := m.Options.Get(code)
	if !ok || len(b) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b)), true
}

// Uint32 returns option code as a 32-bit number.
func (m *Message) Uint32(code uint8) (uint32, bool) {
	b, ok := m.Options.Get(code)
	if !ok || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// Add appends an option.
func (m *Message) Add(code uint8, data []byte) { m.Options = append(m.Options, Option{code, data}) }

// Parse decodes a DHCP message (the UDP payload).
func Parse(b []byte) (*Message, error) {
	if len(b) < fixedLen+4 {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrMalformed, len(b))
	}
	m := &Message{
		Op:     b[0],
		HType:  b[1],
		HLen:   b[2],
		Hops:   b[3],
		XID:    binary.BigEndian.Uint32(b[4:]),
		Secs:   binary.BigEndian.Uint16(b[8:]),
		Flags:  binary.BigEndian.Uint16(b[10:]),
		CIAddr: netip.AddrFrom4([4]byte(b[12:16])),
		YIAddr: netip.AddrFrom4([4]byte(b[16:20])),
		SIAddr: netip.AddrFrom4([4]byte(b[20:24])),
		GIAddr: netip.AddrFrom4([4]byte(b[24:28])),
	}
	if m.HLen > 16 {
		return nil, fmt.Errorf("%w: hlen %d", ErrMalformed, m.HLen)
	}
	m.CHAddr = net.HardwareAddr(append([]byte(nil), b[28:28+int(m.HLen)]...))
	sname, file := b[44:108], b[108:236]
	if [4]byte(b[236:240]) != magicCookie {
		return nil, fmt.Errorf("%w: no magic cookie", ErrMalformed)
	}
	opts, err := parseOptions(b[240:], true)
	if err != nil {
		return nil, err
	}
	m.Options = opts
	// RFC 2132 section 9.3: option overload moves options into file
	// and/or sname; those are read after the main field.
	overload := 0
	if v, ok := opts.Get(OptOverload); ok {
		if len(v) != 1 || v[0] < 1 || v[0] > 3 {
			return nil, fmt.Errorf("%w: option overload %v", ErrMalformed, v)
		}
		overload = int(v[0])
	}
	if overload&1 != 0 {
		more, err := parseOptions(file, false)
		if err != nil {
			return nil, err
		}
		m.Options = append(m.Options, more...)
	} else {
		m.File = cString(file)
	}
	if overload&2 != 0 {
		more, err := parseOptions(sname, false)
		if err != nil {
			return nil, err
		}
		m.Options = append(m.Options, more...)
	} else {
		m.SName = cString(sname)
	}
	return m, nil
}

func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseOptions reads code/length/value triples until the end option. In
// the main options field the end option is required (needEnd); an
// overloaded field may just run out.
func parseOptions(b []byte, needEnd bool) (Options, error) {
	var out Options
	for i := 0; i < len(b); {
		code := b[i]
		switch code {
		case OptPad:
			i++
			continue
		case OptEnd:
			return out, nil
		}
		if i+1 >= len(b) {
			return nil, fmt.Errorf("%w: option %d truncated", ErrMalformed, code)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return nil, fmt.Errorf("%w: option %d length %d past the end", ErrMalformed, code, n)
		}
		out = append(out, Option{Code: code, Data: append([]byte(nil), b[i+2:i+2+n]...)})
		i += 2 + n
	}
	if needEnd {
		return nil, fmt.Errorf("%w: options without end", ErrMalformed)
	}
	return out, nil
}

// Marshal encodes m. Options longer than 255 bytes are split into
// consecutive instances (RFC 3396). The result is padded to MinLen.
func (m *Message) Marshal() []byte {
	b := make([]byte, fixedLen, MinLen+64)
	b[0], b[1], b[2], b[3] = m.Op, m.HType, m.HLen, m.Hops
	binary.BigEndian.PutUint32(b[4:], m.XID)
	binary.BigEndian.PutUint16(b[8:], m.Secs)
	binary.BigEndian.PutUint16(b[10:], m.Flags)
	put4 := func(at int, a netip.Addr) {
		if a.Is4() {
			v := a.As4()
			copy(b[at:at+4], v[:])
		}
	}
	put4(12, m.CIAddr)
	put4(16, m.YIAddr)
	put4(20, m.SIAddr)
	put4(24, m.GIAddr)
	copy(b[28:44], m.CHAddr)
	copy(b[44:107], m.SName)
	copy(b[108:235], m.File)
	b = append(b, magicCookie[:]...)
	for _, o := range m.Options {
		if o.Code == OptPad || o.Code == OptEnd {
			continue
		}
		data := o.Data
		for {
			n := min(len(data), 255)
			b = append(b, o.Code, byte(n))
			b = append(b, data[:n]...)
			data = data[n:]
			if len(data) == 0 {
				break
			}
		}
	}
	b = append(b, OptEnd)
	for len(b) < MinLen {
		b = append(b, OptPad)
	}
	return b
}

// AddrBytes encodes IPv4 addresses for an address-list option; other
// addresses are skipped.
func AddrBytes(addrs ...netip.Addr) []byte {
	out := make([]byte, 0, 4*len(addrs))
	for _, a := range addrs {
		if a.Is4() {
			v := a.As4()
			out = append(out, v[:]...)
		}
	}
	return out
}

// ParseAddrs decodes an address-list option.
func ParseAddrs(b []byte) ([]netip.Addr, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%w: address list of %d bytes", ErrMalformed, len(b))
	}
	out := make([]netip.Addr, 0, len(b)/4)
	for i := 0; i < len(b); i += 4 {
		out = append(out, netip.AddrFrom4([4]byte(b[i:i+4])))
	}
	return out, nil
}

// Uint32Bytes encodes a 32-bit option value.
func Uint32Bytes(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Uint16Bytes encodes a 16-bit option value.
func Uint16Bytes(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// Route is one classless static route: Prefix via NextHop (0.0.0.0 means
// the destination is on the link).
type Route struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
}

// ClasslessRoutes encodes routes as option 121 (RFC 3442 section 3): the
// prefix length, the significant octets of the destination, the router.
func ClasslessRoutes(routes []Route) []byte {
	var out []byte
	for _, r := range routes {
		if !r.Prefix.Addr().Is4() {
			continue
		}
		p := r.Prefix.Masked()
		bits := p.Bits()
		a := p.Addr().As4()
		out = append(out, byte(bits))
		out = append(out, a[:(bits+7)/8]...)
		nh := netip.IPv4Unspecified()
		if r.NextHop.Is4() {
			nh = r.NextHop
		}
		v := nh.As4()
		out = append(out, v[:]...)
	}
	return out
}

// ParseClasslessRoutes decodes option 121 or 249.
func ParseClasslessRoutes(b []byte) ([]Route, error) {
	var out []Route
	for i := 0; i < len(b); {
		bits := int(b[i])
		if bits > 32 {
			return nil, fmt.Errorf("%w: classless route width %d", ErrMalformed, bits)
		}
		n := (bits + 7) / 8
		if i+1+n+4 > len(b) {
			return nil, fmt.Errorf("%w: classless route truncated", ErrMalformed)
		}
		var dst [4]byte
		copy(dst[:], b[i+1:i+1+n])
		p := netip.PrefixFrom(netip.AddrFrom4(dst), bits).Masked()
		nh := netip.AddrFrom4([4]byte(b[i+1+n : i+1+n+4]))
		out = append(out, Route{Prefix: p, NextHop: nh})
		i += 1 + n + 4
	}
	return out, nil
}

// MaskBytes encodes the subnet mask of a prefix length (option 1).
func MaskBytes(bits int) []byte {
	return []byte(net.CIDRMask(bits, 32))
}
