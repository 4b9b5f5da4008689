// SPDX-License-Identifier: Apache-2.0

// Package ipam implements the address-management rules of the OpenContrail
// API server for subnets configured on virtual networks (the VnSubnetsType
// attribute of a virtual-network -> network-ipam reference) and on flat-subnet
// IPAMs: parsing and defaulting of IpamSubnetType objects, reserved addresses,
// allocation order, capacity, overlap checks and MAC address helpers.
//
// The package is pure: it does no I/O and keeps no allocation state. Callers
// supply a "taken" predicate describing addresses already in use and perform
// the atomic reservation of a chosen address themselves (retrying with the
// next candidate when the reservation loses a race).
package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
)

// Pool is an inclusive range of addresses inside a subnet from which
// addresses are allocated (AllocationPoolType).
type Pool struct {
	Start, End netip.Addr
	// VrouterSpecific marks a pool reserved for vrouter-specific allocation
	// (vrouter_specific_pool). Such pools are skipped by general allocation
	// as long as the subnet has at least one ordinary pool.
	VrouterSpecific bool
}

// Subnet is one parsed IpamSubnetType with its defaults filled in.
type Subnet struct {
	// Prefix is the masked subnet prefix.
	Prefix netip.Prefix
	// Key is the subnet's name in the original API server:
	// "<ip_prefix>/<ip_prefix_len>" exactly as the client wrote ip_prefix
	// (it may have host bits set, e.g. "::ffff/104").
	Key string
	// Gateway is the default gateway; the zero Addr means "no gateway"
	// (configured as "0.0.0.0" or "::").
	Gateway netip.Addr
	// DNS is the DNS/service address. It is reserved only when it lies
	// inside Prefix; the original accepts an address outside the subnet.
	DNS netip.Addr
	// DNSNameservers are the tenant DNS servers (dns_nameservers).
	DNSNameservers []netip.Addr
	// Pools restricts allocation; empty means the whole prefix.
	Pools []Pool
	// AddrFromStart allocates bottom-up instead of top-down.
	AddrFromStart bool
	// AllocUnit is the allocation block size, a power of two; 0 means 1.
	AllocUnit uint64
	UUID      string // subnet_uuid
	Name      string // subnet_name
	// EnableDHCP is enable_dhcp (default true).
	EnableDHCP bool

	// Path locates the subnet in the request for error messages, e.g.
	// "network_ipam_refs[0].attr.ipam_subnets[1]".
	Path string
	// Index is the position of the subnet in the JSON list it came from.
	Index int
}

// Errors reported by the address checks and allocation helpers. They are
// wrapped with details; test with errors.Is.
var (
	ErrNotInSubnet    = errors.New("address is not in any subnet of the network")
	ErrReserved       = errors.New("address is reserved")
	ErrNotAligned     = errors.New("address is not aligned to the subnet's alloc_unit")
	ErrNoSubnets      = errors.New("network has no subnets")
	ErrSubnetNotFound = errors.New("subnet not found")
	ErrExhausted      = errors.New("subnet exhausted")
)

// DefaultGateway returns the gateway the original assigns when none is
// configured: the last address minus one, or the first plus one when
// addrFromStart. It returns the zero Addr when that falls outside the prefix.
func DefaultGateway(p netip.Prefix, addrFromStart bool) netip.Addr {
	return defaultOffset(p, addrFromStart, 1)
}

// DefaultDNS returns the DNS/service address the original assigns when none
// is configured: the last address minus two, or the first plus two when
// addrFromStart. It returns the zero Addr when that falls outside the prefix.
func DefaultDNS(p netip.Prefix, addrFromStart bool) netip.Addr {
	return defaultOffset(p, addrFromStart, 2)
}

func defaultOffset(p netip.Prefix, fromStart bool, n uint64) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	first, last, is4 := prefixBounds(p)
	var x u128
	if fromStart {
		var c bool
		if x, c = first.add64(n); c || x.cmp(last) > 0 {
			return netip.Addr{}
		}
	} else {
		var b bool
		if x, b = last.sub64(n); b || x.cmp(first) < 0 {
			return netip.Addr{}
		}
	}
	return x.addr(is4)
}

func (s *Subnet) unit() uint64 {
	u := s.AllocUnit
	if u <= 1 || u&(u-1) != 0 {
		return 1
	}
	return u
}

func (s *Subnet) String() string {
	if s.Key != "" {
		return s.Key
	}
	return s.Prefix.String()
}

// Contains reports whether a is inside the subnet's prefix.
func (s *Subnet) Contains(a netip.Addr) bool {
	return s.Prefix.IsValid() && s.Prefix.Masked().Contains(a)
}

// Reserved reports whether a is one of the subnet's reserved addresses: the
// first address (network), the last address (broadcast; also excluded for
// IPv6 as in the original), the gateway or the DNS/service address.
func (s *Subnet) Reserved(a netip.Addr) bool {
	return s.reservedKind(a) != ""
}

func (s *Subnet) reservedKind(a netip.Addr) string {
	if !s.Contains(a) {
		return ""
	}
	first, last, _ := prefixBounds(s.Prefix)
	x := toU128(a)
	switch {
	case x == first:
		return "network"
	case x == last:
		if a.Is4() {
			return "broadcast"
		}
		return "last"
	case s.Gateway.IsValid() && a == s.Gateway:
		return "gateway"
	case s.DNS.IsValid() && a == s.DNS:
		return "DNS server"
	}
	return ""
}

// allocPools returns the pools used by general allocation: all pools that
// are not vrouter-specific, or every pool when all of them are.
func (s *Subnet) allocPools() []Pool {
	general := 0
	for _, p := range s.Pools {
		if !p.VrouterSpecific {
			general++
		}
	}
	if general == len(s.Pools) || general == 0 {
		return s.Pools
	}
	out := make([]Pool, 0, general)
	for _, p := range s.Pools {
		if !p.VrouterSpecific {
			out = append(out, p)
		}
	}
	return out
}

// InPools reports whether a is inside the prefix and inside the ranges used
// by general allocation (the whole prefix when there are no pools).
func (s *Subnet) InPools(a netip.Addr) bool {
	if !s.Contains(a) {
		return false
	}
	pools := s.allocPools()
	if len(pools) == 0 {
		return true
	}
	x := toU128(a)
	for _, p := range pools {
		if !p.Start.IsValid() || !p.End.IsValid() || p.Start.Is4() != a.Is4() || p.End.Is4() != a.Is4() {
			continue
		}
		if toU128(p.Start).cmp(x) <= 0 && x.cmp(toU128(p.End)) <= 0 {
			return true
		}
	}
	return false
}

// CheckAddr validates an address explicitly requested by a client: it must
// lie in the prefix, be aligned to the alloc_unit and, unless allowReserved,
// not be a reserved address. Membership in the allocation pools is not
// required (the original reserves explicit addresses anywhere in the
// subnet). Whether the address is already in use is the caller's business.
func (s *Subnet) CheckAddr(a netip.Addr, allowReserved bool) error {
	if !s.Contains(a) {
		return fmt.Errorf("%w: %s is outside subnet %s", ErrNotInSubnet, a, s)
	}
	if u := s.unit(); u > 1 && toU128(a).lo&(u-1) != 0 {
		return fmt.Errorf("%w: %s is not a multiple of alloc_unit %d in subnet %s", ErrNotAligned, a, u, s)
	}
	if !allowReserved {
		if k := s.reservedKind(a); k != "" {
			return fmt.Errorf("%w: %s is the %s address of subnet %s", ErrReserved, a, k, s)
		}
	}
	return nil
}

// span is an inclusive integer address range.
type span struct{ lo, hi u128 }

// plan is the precomputed allocation state of one Candidates/Capacity call.
type plan struct {
	is4      bool
	mask     uint64 // unit-1
	shift    uint   // log2(unit)
	spans    []span // ascending, disjoint, non-adjacent, inside the prefix
	reserved [4]u128
	nres     int
}

func (s *Subnet) plan(pools []Pool) *plan {
	pl := &plan{}
	if !s.Prefix.IsValid() {
		return pl
	}
	first, last, is4 := prefixBounds(s.Prefix)
	pl.is4 = is4
	u := s.unit()
	pl.mask = u - 1
	for v := u; v > 1; v >>= 1 {
		pl.shift++
	}
	if len(pools) == 0 {
		pl.spans = []span{{first, last}}
	} else {
		spans := make([]span, 0, len(pools))
		for _, p := range pools {
			if !p.Start.IsValid() || !p.End.IsValid() || p.Start.Is4() != is4 || p.End.Is4() != is4 {
				continue
			}
			lo, hi := toU128(p.Start), toU128(p.End)
			if lo.cmp(first) < 0 {
				lo = first
			}
			if hi.cmp(last) > 0 {
				hi = last
			}
			if lo.cmp(hi) > 0 {
				continue
			}
			spans = append(spans, span{lo, hi})
		}
		slices.SortFunc(spans, func(a, b span) int { return a.lo.cmp(b.lo) })
		merged := spans[:0]
		for _, sp := range spans {
			if n := len(merged); n > 0 {
				next, c := merged[n-1].hi.add64(1)
				if c || sp.lo.cmp(next) <= 0 {
					if sp.hi.cmp(merged[n-1].hi) > 0 {
						merged[n-1].hi = sp.hi
					}
					continue
				}
			}
			merged = append(merged, sp)
		}
		pl.spans = merged
	}
	pl.addReserved(first)
	pl.addReserved(last)
	if s.Gateway.IsValid() && s.Contains(s.Gateway) {
		pl.addReserved(toU128(s.Gateway))
	}
	if s.DNS.IsValid() && s.Contains(s.DNS) {
		pl.addReserved(toU128(s.DNS))
	}
	return pl
}

func (pl *plan) addReserved(x u128) {
	pl.reserved[pl.nres] = x
	pl.nres++
}

// blockFree reports whether the block starting at a contains no reserved
// address.
func (pl *plan) blockFree(a u128) bool {
	for _, r := range pl.reserved[:pl.nres] {
		if d, b := r.sub(a); !b && d.hi == 0 && d.lo <= pl.mask {
			return false
		}
	}
	return true
}

// blockRange returns the first and last aligned block start inside sp, and
// false when sp holds no whole block.
func (pl *plan) blockRange(sp span) (lo, hi u128, ok bool) {
	if d, _ := sp.hi.sub(sp.lo); d.hi == 0 && d.lo < pl.mask {
		return lo, hi, false // span shorter than one block
	}
	up, c := sp.lo.add64(pl.mask)
	if c {
		return lo, hi, false
	}
	lo = up.clearLow(pl.mask)
	top, _ := sp.hi.sub64(pl.mask) // no borrow: hi >= lo+mask
	hi = top.clearLow(pl.mask)
	if lo.cmp(hi) > 0 {
		return lo, hi, false
	}
	return lo, hi, true
}

// walk yields free block starts in allocation order until yield returns
// false.
func (pl *plan) walk(fromStart bool, taken func(netip.Addr) bool, yield func(netip.Addr) bool) {
	step := pl.mask + 1
	if fromStart {
		for _, sp := range pl.spans {
			a, end, ok := pl.blockRange(sp)
			if !ok {
				continue
			}
			for {
				if pl.blockFree(a) {
					ip := a.addr(pl.is4)
					if (taken == nil || !taken(ip)) && !yield(ip) {
						return
					}
				}
				if a == end {
					break
				}
				a, _ = a.add64(step)
			}
		}
		return
	}
	for i := len(pl.spans) - 1; i >= 0; i-- {
		start, a, ok := pl.blockRange(pl.spans[i])
		if !ok {
			continue
		}
		for {
			if pl.blockFree(a) {
				ip := a.addr(pl.is4)
				if (taken == nil || !taken(ip)) && !yield(ip) {
					return
				}
			}
			if a == start {
				break
			}
			a, _ = a.sub64(step)
		}
	}
}

// Candidates returns the free addresses of the subnet in allocation order:
// top-down (highest first) unless AddrFromStart, restricted to the general
// allocation pools, skipping reserved addresses and those for which taken
// returns true (taken may be nil). With an alloc_unit above one, candidates
// are the first addresses of aligned blocks and a block is skipped when it
// holds a reserved address; taken is asked about the block's first address.
// The sequence is lazy: addresses are produced on demand, so it is cheap to
// stop early even on a /8 or an IPv6 /64.
func (s *Subnet) Candidates(taken func(netip.Addr) bool) iter.Seq[netip.Addr] {
	return s.CandidatesInPools(s.allocPools(), taken)
}

// CandidatesInPools is Candidates restricted to the given pools instead of
// the subnet's own (for example the vrouter-specific pools of a virtual
// router). Pools are clipped to the prefix; an empty list means the whole
// prefix.
func (s *Subnet) CandidatesInPools(pools []Pool, taken func(netip.Addr) bool) iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		s.plan(pools).walk(s.AddrFromStart, taken, yield)
	}
}

// Next returns the first candidate address (see Candidates), or false when
// the subnet is exhausted.
func (s *Subnet) Next(taken func(netip.Addr) bool) (netip.Addr, bool) {
	var out netip.Addr
	found := false
	s.plan(s.allocPools()).walk(s.AddrFromStart, taken, func(a netip.Addr) bool {
		out, found = a, true
		return false
	})
	return out, found
}

// Capacity returns how many allocations the subnet can hold: the number of
// addresses (or alloc_unit blocks) of the general allocation pools minus
// the reserved ones. It saturates at the maximum uint64 for large IPv6
// subnets.
func (s *Subnet) Capacity() uint64 {
	pl := s.plan(s.allocPools())
	var total u128
	saturated := false
	for _, sp := range pl.spans {
		lo, hi, ok := pl.blockRange(sp)
		if !ok {
			continue
		}
		d, _ := hi.sub(lo)
		n, c := d.shr(pl.shift).add64(1)
		if c {
			saturated = true
			continue
		}
		if total, c = total.add(n); c {
			saturated = true
		}
	}
	if saturated {
		return ^uint64(0)
	}
	// Subtract each distinct block holding a reserved address, when that
	// block is one the walk would otherwise produce.
	var seen [4]u128
	nseen := 0
next:
	for _, r := range pl.reserved[:pl.nres] {
		b := r.clearLow(pl.mask)
		for _, v := range seen[:nseen] {
			if v == b {
				continue next
			}
		}
		seen[nseen] = b
		nseen++
		for _, sp := range pl.spans {
			lo, hi, ok := pl.blockRange(sp)
			if ok && lo.cmp(b) <= 0 && b.cmp(hi) <= 0 {
				total, _ = total.sub64(1)
				break
			}
		}
	}
	return total.saturate()
}

// Find returns the first subnet containing a, or nil.
func Find(subnets []*Subnet, a netip.Addr) *Subnet {
	for _, s := range subnets {
		if s.Contains(a) {
			return s
		}
	}
	return nil
}

// FindUUID returns the subnet with the given subnet_uuid, or nil.
func FindUUID(subnets []*Subnet, uuid string) *Subnet {
	for _, s := range subnets {
		if s.UUID != "" && s.UUID == uuid {
			return s
		}
	}
	return nil
}

// CheckRequested validates an address explicitly requested for an
// instance-ip or floating-ip: it must be inside one of the subnets (the
// first containing subnet is returned) and pass Subnet.CheckAddr.
func CheckRequested(subnets []*Subnet, a netip.Addr, allowReserved bool) (*Subnet, error) {
	if !a.IsValid() {
		return nil, fmt.Errorf("%w: invalid address", ErrNotInSubnet)
	}
	s := Find(subnets, a)
	if s == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotInSubnet, a)
	}
	if err := s.CheckAddr(a, allowReserved); err != nil {
		return s, err
	}
	return s, nil
}

// Family selects the address family of an allocation.
type Family int

// Families: FamilyAny accepts either.
const (
	FamilyAny Family = 0
	FamilyV4  Family = 4
	FamilyV6  Family = 6
)

func (f Family) match(p netip.Prefix) bool {
	switch f {
	case FamilyV4:
		return p.Addr().Is4()
	case FamilyV6:
		return p.Addr().Is6()
	}
	return true
}

// Allocate picks the next free address from the subnets, trying them in
// order as the original does. Only subnets of the given family are
// considered and, when subnetUUID is not empty, only the subnet with that
// subnet_uuid. It returns ErrNoSubnets when no subnet qualifies by family,
// ErrSubnetNotFound when subnetUUID matches none, and ErrExhausted when every
// qualifying subnet is full. The caller must still reserve the address
// atomically and call Allocate again (with the address now taken) if it
// loses a race.
func Allocate(subnets []*Subnet, family Family, subnetUUID string, taken func(netip.Addr) bool) (netip.Addr, *Subnet, error) {
	tried := 0
	uuidFound := false
	for _, s := range subnets {
		if subnetUUID != "" {
			if s.UUID != subnetUUID {
				continue
			}
			uuidFound = true
		}
		if !family.match(s.Prefix) {
			continue
		}
		tried++
		if a, ok := s.Next(taken); ok {
			return a, s, nil
		}
	}
	switch {
	case subnetUUID != "" && !uuidFound:
		return netip.Addr{}, nil, fmt.Errorf("%w: no subnet with subnet_uuid %s", ErrSubnetNotFound, subnetUUID)
	case tried == 0:
		return netip.Addr{}, nil, ErrNoSubnets
	}
	return netip.Addr{}, nil, ErrExhausted
}

// SubnetIPCount supports the /virtual-network/<id>/subnet-ip-count action.
// Each selector names a subnet by subnet_uuid, by its Key or by its
// canonical prefix; the result holds, per selector, how many of the used
// addresses (instance-ip, floating-ip and alias-ip addresses the caller
// collected) lie in that subnet and are not reserved addresses. Unknown
// selectors count 0, as in the original. Duplicate addresses count once.
func SubnetIPCount(subnets []*Subnet, selectors []string, used []netip.Addr) []int {
	uniq := slices.Clone(used)
	slices.SortFunc(uniq, netip.Addr.Compare)
	uniq = slices.Compact(uniq)
	out := make([]int, len(selectors))
	for i, sel := range selectors {
		var s *Subnet
		for _, c := range subnets {
			if (c.UUID != "" && c.UUID == sel) || c.Key == sel || (c.Prefix.IsValid() && c.Prefix.String() == sel) {
				s = c
				break
			}
		}
		if s == nil {
			continue
		}
		for _, a := range uniq {
			if s.Contains(a) && !s.Reserved(a) {
				out[i]++
			}
		}
	}
	return out
}

// Overlaps reports whether two prefixes share any address. Prefixes of
// different families never overlap.
func Overlaps(a, b netip.Prefix) bool {
	return a.IsValid() && b.IsValid() && a.Masked().Overlaps(b.Masked())
}

// OverlapError reports two overlapping subnets of one network or IPAM.
type OverlapError struct {
	A, B *Subnet // A comes first in the input
}

func (e *OverlapError) Error() string {
	where := func(s *Subnet) string {
		if s.Path != "" {
			return fmt.Sprintf("%s (%s)", s.Prefix, s.Path)
		}
		return s.Prefix.String()
	}
	return fmt.Sprintf("Overlapping addresses: %s and %s", where(e.A), where(e.B))
}

// CheckOverlaps returns an *OverlapError naming one pair of overlapping
// subnets (also exact duplicates), or nil. It runs in O(n log n).
func CheckOverlaps(subnets []*Subnet) error {
	type item struct {
		idx         int
		first, last u128
		is4         bool
	}
	items := make([]item, 0, len(subnets))
	for i, s := range subnets {
		if !s.Prefix.IsValid() {
			continue
		}
		f, l, is4 := prefixBounds(s.Prefix)
		items = append(items, item{i, f, l, is4})
	}
	// Sort by family, then start, then size (largest first). CIDR blocks
	// either nest or are disjoint, so if any pair overlaps, some element
	// overlaps its successor.
	slices.SortFunc(items, func(a, b item) int {
		if a.is4 != b.is4 {
			if a.is4 {
				return -1
			}
			return 1
		}
		if c := a.first.cmp(b.first); c != 0 {
			return c
		}
		if c := b.last.cmp(a.last); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	best := [2]int{-1, -1}
	for k := 1; k < len(items); k++ {
		p, q := items[k-1], items[k]
		if p.is4 != q.is4 || q.first.cmp(p.last) > 0 {
			continue
		}
		i, j := min(p.idx, q.idx), max(p.idx, q.idx)
		// Of the pairs found, report the one whose later member comes
		// first in the input (deterministic, and usually the first
		// offending entry).
		if best[0] < 0 || j < best[1] || (j == best[1] && i < best[0]) {
			best = [2]int{i, j}
		}
	}
	if best[0] >= 0 {
		return &OverlapError{A: subnets[best[0]], B: subnets[best[1]]}
	}
	return nil
}

// CheckSubnetList checks the subnets of one network or IPAM: no two may
// overlap and no two may share a subnet_uuid.
func CheckSubnetList(subnets []*Subnet) error {
	if err := CheckOverlaps(subnets); err != nil {
		return err
	}
	seen := make(map[string]*Subnet, len(subnets))
	for _, s := range subnets {
		if s.UUID == "" {
			continue
		}
		if o, ok := seen[s.UUID]; ok {
			return &FieldError{Path: joinPath(s.Path, "subnet_uuid"),
				Msg: fmt.Sprintf("%s is also used by subnet %s", s.UUID, o)}
		}
		seen[s.UUID] = s
	}
	return nil
}
