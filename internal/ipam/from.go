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

// split cuts the plan's spans at f: head holds the addresses from f on in
// allocation order (f and below when top-down, f and above when
// bottom-up), tail the rest.
func (pl *plan) split(f u128, fromStart bool) (head, tail *plan) {
	h, t := *pl, *pl
	h.spans, t.spans = nil, nil
	for _, sp := range pl.spans {
		var below, above []span // below: addresses <= f; above: > f
		switch {
		case sp.hi.cmp(f) <= 0:
			below = []span{sp}
		case sp.lo.cmp(f) > 0:
			above = []span{sp}
		default:
			next, _ := f.add64(1)
			below = []span{{sp.lo, f}}
			above = []span{{next, sp.hi}}
		}
		if fromStart {
			// Bottom-up from f: f itself belongs to the head.
			if len(below) == 1 && below[0].hi.cmp(f) == 0 {
				last := below[0]
				if last.lo.cmp(f) < 0 {
					prev, _ := f.sub64(1)
					t.spans = append(t.spans, span{last.lo, prev})
				}
				h.spans = append(h.spans, span{f, f})
			} else {
				t.spans = append(t.spans, below...)
			}
			h.spans = append(h.spans, above...)
			continue
		}
		h.spans = append(h.spans, below...)
		t.spans = append(t.spans, above...)
	}
	return &h, &t
}
