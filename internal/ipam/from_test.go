// SPDX-License-Identifier: Apache-2.0

package ipam

import (
	"net/netip"
	"slices"
	"testing"
)

func collectSeq(seq func(func(netip.Addr) bool)) []string {
	var out []string
	seq(func(a netip.Addr) bool { out = append(out, a.String()); return true })
	return out
}

func TestCandidatesFromIsARotation(t *testing.T) {
	for _, tc := range []struct {
		fromStart bool
		unit      uint64
		prefix    string
		n         int
	}{
		{false, 1, "10.0.0.0/28", 12},
		{true, 1, "10.0.0.0/28", 12},
		{false, 4, "10.0.0.0/27", 6},
		{true, 4, "10.0.0.0/27", 6},
	} {
		fromStart := tc.fromStart
		s := &Subnet{Prefix: netip.MustParsePrefix(tc.prefix), AddrFromStart: fromStart, AllocUnit: tc.unit}
		s.Gateway = DefaultGateway(s.Prefix, fromStart)
		s.DNS = DefaultDNS(s.Prefix, fromStart)
		all := collectSeq(s.Candidates(nil))
		if len(all) != tc.n {
			t.Fatalf("fromStart=%v: %d candidates: %v", fromStart, len(all), all)
		}
		for i, start := range all {
			got := collectSeq(s.CandidatesFrom(netip.MustParseAddr(start), nil))
			want := append(slices.Clone(all[i:]), all[:i]...)
			if !slices.Equal(got, want) {
				t.Errorf("fromStart=%v from %s: got %v, want %v", fromStart, start, got, want)
			}
		}
		// A start on a reserved address begins at the next candidate.
		got := collectSeq(s.CandidatesFrom(s.Gateway, nil))
		if len(got) != len(all) {
			t.Errorf("from gateway: %v", got)
		}
	}
}
