// SPDX-License-Identifier: Apache-2.0

package ipam

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an unsigned 128-bit integer used for address arithmetic. IPv4
// addresses occupy the low 32 bits; IPv6 addresses (including IPv4-mapped
// ones) use all 128 bits.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// addr converts x back to an address of the given family. For IPv4 only the
// low 32 bits are used.
func (x u128) addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

func (x u128) cmp(y u128) int {
	switch {
	case x.hi < y.hi:
		return -1
	case x.hi > y.hi:
		return 1
	case x.lo < y.lo:
		return -1
	case x.lo > y.lo:
		return 1
	}
	return 0
}

func (x u128) isZero() bool { return x.hi == 0 && x.lo == 0 }

// add returns x+y and whether the sum overflowed 128 bits.
func (x u128) add(y u128) (u128, bool) {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c := bits.Add64(x.hi, y.hi, c)
	return u128{hi, lo}, c != 0
}

// add64 returns x+n and whether the sum overflowed 128 bits.
func (x u128) add64(n uint64) (u128, bool) { return x.add(u128{0, n}) }

// sub returns x-y and whether it borrowed (x < y).
func (x u128) sub(y u128) (u128, bool) {
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	hi, b := bits.Sub64(x.hi, y.hi, b)
	return u128{hi, lo}, b != 0
}

// sub64 returns x-n and whether it borrowed.
func (x u128) sub64(n uint64) (u128, bool) { return x.sub(u128{0, n}) }

// shr shifts x right by n bits, 0 <= n < 128.
func (x u128) shr(n uint) u128 {
	switch {
	case n == 0:
		return x
	case n >= 64:
		return u128{0, x.hi >> (n - 64)}
	}
	return u128{x.hi >> n, x.lo>>n | x.hi<<(64-n)}
}

// clearLow clears the bits of mask (a value below 2^64) in x, i.e. rounds x
// down to a multiple of mask+1 when mask+1 is a power of two.
func (x u128) clearLow(mask uint64) u128 { return u128{x.hi, x.lo &^ mask} }

// saturate returns x as a uint64, or the maximum uint64 when it does not fit.
func (x u128) saturate() uint64 {
	if x.hi != 0 {
		return ^uint64(0)
	}
	return x.lo
}

// prefixBounds returns the first and last address of p (which need not be
// masked) as integers, and whether p is IPv4.
func prefixBounds(p netip.Prefix) (first, last u128, is4 bool) {
	p = p.Masked()
	first = toU128(p.Addr())
	hostBits := uint(p.Addr().BitLen() - p.Bits())
	var mask u128
	switch {
	case hostBits >= 128:
		mask = u128{^uint64(0), ^uint64(0)}
	case hostBits >= 64:
		mask = u128{^uint64(0) >> (128 - hostBits), ^uint64(0)}
	case hostBits > 0:
		mask = u128{0, ^uint64(0) >> (64 - hostBits)}
	}
	last = u128{first.hi | mask.hi, first.lo | mask.lo}
	return first, last, p.Addr().Is4()
}
