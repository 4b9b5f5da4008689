// SPDX-License-Identifier: Apache-2.0

package security

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Small builders of nftables expressions. Register 1 is the 16-byte
// register the matches use; concatenations use the 32-bit registers that
// start at register 1 (NFT_REG32_00 overlaps it) and continue at 9.

func matchNFProto(v6 bool) []expr.Any {
	p := byte(unix.NFPROTO_IPV4)
	if v6 {
		p = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func matchL4Proto(p int) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(p)}},
	}
}

// addrOffset is where the source or destination address sits in the
// network header.
func addrOffset(v6, src bool) (off, n uint32) {
	switch {
	case v6 && src:
		return 8, 16
	case v6:
		return 24, 16
	case src:
		return 12, 4
	}
	return 16, 4
}

func loadAddr(v6, src bool, reg uint32) *expr.Payload {
	off, n := addrOffset(v6, src)
	return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

// matchPrefix matches the source or destination address against p; a
// zero-length prefix needs no expression.
func matchPrefix(p netip.Prefix, src bool) []expr.Any {
	v6 := p.Addr().Is6()
	if p.Bits() == 0 {
		return nil
	}
	_, n := addrOffset(v6, src)
	out := []expr.Any{loadAddr(v6, src, 1)}
	addr := p.Masked().Addr().AsSlice()
	if p.Bits() < int(n*8) {
		mask := make([]byte, n)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr})
}

// matchPorts matches the transport source (offset 0) or destination
// (offset 2) port; the full range needs no expression.
func matchPorts(r PortRange, off uint32) []expr.Any {
	lo, hi := r.bounds()
	if lo == 0 && hi == 65535 {
		return nil
	}
	load := &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
	if lo == hi {
		return []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(lo)}}
	}
	return []expr.Any{load, &expr.Range{Op: expr.CmpOpEq, Register: 1,
		FromData: binaryutil.BigEndian.PutUint16(lo), ToData: binaryutil.BigEndian.PutUint16(hi)}}
}

func setCtMark(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
	}
}

func verdict(k expr.VerdictKind, chain string) *expr.Verdict {
	return &expr.Verdict{Kind: k, Chain: chain}
}

// lookupSG is "meta nfproto F ct mark set <addr> . meta l4proto . th sport
// . th dport map @set return": the lookup ends the rule when nothing
// matches.
func lookupSG(set *nftables.Set, v6, src bool) []expr.Any {
	out := matchNFProto(v6)
	next := uint32(9) // 32-bit register after a 4-byte address
	if v6 {
		next = 12
	}
	out = append(out,
		loadAddr(v6, src, 1),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
		// A no-op for one byte, but nft emits it and needs it to list the rule.
		&expr.Byteorder{SourceRegister: next, DestRegister: next, Op: expr.ByteorderHton, Len: 1, Size: 2},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: next + 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: next + 2, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: set.Name, SetID: set.ID},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
		verdict(expr.VerdictReturn, ""),
	)
	return out
}

// sgKey builds the key (or key end) of an element of a security-group map:
// address . protocol . source port . destination port, each padded to 4
// bytes as concatenations are.
func sgKey(addr netip.Addr, proto byte, sport, dport uint16) []byte {
	a := addr.AsSlice()
	b := make([]byte, 0, len(a)+12)
	b = append(b, a...)
	b = append(b, proto, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, dport)
	return append(b, 0, 0)
}

func ifnameKey(name string) []byte {
	b := make([]byte, 16)
	copy(b, name)
	return b
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(a)*8; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}
