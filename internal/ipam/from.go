// SPDX-License-Identifier: Apache-2.0

package ipam

import (
	"iter"
	"net/netip"
)

// CandidatesFrom is Candidates started at from (inclusive) in allocation
// order, wrapping around to the beginning after the end. An allocator that
// remembers where its last allocation was passes it here, so that a busy
// subnet is not scanned from the top for every allocation; the order of
// the wrapped sequence is still the subnet's allocation order. An invalid
// or out-of-subnet from gives plain Candidates.
func (s *Subnet) CandidatesFrom(from netip.Addr, taken func(netip.Addr) bool) iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		pl := s.plan(s.allocPools())
		if !from.IsValid() || !s.Contains(from) {
			pl.walk(s.AddrFromStart, taken, yield)
			return
		}
		f := toU128(from)
		head, tail := pl.split(f, s.AddrFromStart)
		stopped := false
		y := func(a netip.Addr) bool {
			if !yield(a) {
				stopped = true
				return false
			}
			return true
		}
		head.walk(s.AddrFromStart, taken, y)
		if !stopped {
			tail.walk(s.AddrFromStart, taken, y)
		}
	}
}

// split cuts the plan's spans at the alloc_unit block holding f: head
// holds that block and what follows it in allocation order (the block and
// everything below it when top-down, the block and everything above it
// when bottom-up), tail the rest.
func (pl *plan) split(f u128, fromStart bool) (head, tail *plan) {
	block := f.clearLow(pl.mask)
	// lowPart gets addresses <= cut, highPart addresses > cut.
	cut := block
	if fromStart {
		cut, _ = block.sub64(1) // the block starts the high part
	} else {
		cut, _ = block.add64(pl.mask) // the block ends the low part
	}
	var low, high []span
	for _, sp := range pl.spans {
		switch {
		case sp.hi.cmp(cut) <= 0:
			low = append(low, sp)
		case sp.lo.cmp(cut) > 0:
			high = append(high, sp)
		default:
			next, _ := cut.add64(1)
			low = append(low, span{sp.lo, cut})
			high = append(high, span{next, sp.hi})
		}
	}
	h, t := *pl, *pl
	if fromStart {
		h.spans, t.spans = high, low
	} else {
		h.spans, t.spans = low, high
	}
	return &h, &t
}
