// SPDX-License-Identifier: Apache-2.0

package ipam

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// FieldError is a validation error naming the offending JSON field, e.g.
// "ipam_subnets[1].allocation_pools[0].end: 10.0.1.300 is not an IP address".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func joinPath(base, field string) string {
	if base == "" {
		return field
	}
	if field == "" {
		return base
	}
	return base + "." + field
}

func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

func fieldErr(path, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// describe renders a JSON value for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprint(v)
}

// present reports whether key is set to a non-null value.
func present(m map[string]any, key string) bool {
	v, ok := m[key]
	return ok && v != nil
}

// ParseAddr parses an IP address as written in the API (no zones).
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s is not an IP address", s)
	}
	return a, nil
}

func parseAddrField(path string, v any) (netip.Addr, error) {
	s, ok := v.(string)
	if !ok {
		return netip.Addr{}, fieldErr(path, "%s is not an IP address string", describe(v))
	}
	a, err := ParseAddr(s)
	if err != nil {
		return netip.Addr{}, &FieldError{Path: path, Msg: err.Error()}
	}
	return a, nil
}

// toInt converts a decoded JSON number (json.Number, float64 or a Go integer)
// or a decimal string to an int64.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err == nil {
			return n, true
		}
		f, err := x.Float64()
		if err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func boolField(m map[string]any, path, key string, def bool) (bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fieldErr(joinPath(path, key), "%s is not a boolean", describe(v))
	}
	return b, nil
}

func stringField(m map[string]any, path, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, fieldErr(joinPath(path, key), "%s is not a string", describe(v))
	}
	return s, true, nil
}

// validUUID accepts the canonical 8-4-4-4-12 form and 32 bare hex digits.
func validUUID(s string) bool {
	switch len(s) {
	case 32:
		return isHex(s)
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return false
		}
		return isHex(s[:8]) && isHex(s[9:13]) && isHex(s[14:18]) && isHex(s[19:23]) && isHex(s[24:])
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// autoValue reports whether a gateway/DNS value asks for the default: absent,
// null, empty or the string "None" (which the original treats as unset).
func autoValue(m map[string]any, key string) bool {
	v, ok := m[key]
	if !ok || v == nil {
		return true
	}
	s, isStr := v.(string)
	return isStr && (s == "" || s == "None")
}

// isUnspecified reports whether a is 0.0.0.0 or ::, which as a gateway means
// "no gateway" in either family.
func isUnspecified(a netip.Addr) bool { return a.IsValid() && a.IsUnspecified() }

// ParseIpamSubnet builds a Subnet from the JSON object of an IpamSubnetType
// (as decoded by encoding/json, preferably with UseNumber), fills the
// defaults of the original API server and validates it. Errors are
// *FieldError values whose path starts with path, e.g.
// "ipam_subnets[1].allocation_pools[0].end".
//
// Rules (vnc_addr_mgmt.py): the prefix is masked (the original accepts host
// bits, e.g. the built-in "::ffff/104"); allocation pools must lie in the
// prefix, have start <= end and not overlap; the gateway, unless "0.0.0.0" or
// "::" (no gateway), must lie between first+1 and last-1; the DNS/service
// address must be an IP address (it may lie outside the subnet, in which case
// it reserves nothing); dns_nameservers must be IP addresses; subnet_uuid must
// be a UUID; alloc_unit must be a power of two, pools must start on and span
// multiples of it, and every pool must keep at least one allocatable unit
// after the network, broadcast, gateway and DNS addresses are blocked (so an
// IPv4 /31 or /32 is refused, as in the original).
func ParseIpamSubnet(path string, m map[string]any) (*Subnet, error) {
	if m == nil {
		return nil, fieldErr(path, "subnet object required")
	}
	s := &Subnet{Path: path, EnableDHCP: true, AllocUnit: 1}

	// subnet {ip_prefix, ip_prefix_len}
	sp := joinPath(path, "subnet")
	sv, ok := m["subnet"]
	if !ok || sv == nil {
		return nil, fieldErr(sp, "required")
	}
	sm, ok := sv.(map[string]any)
	if !ok {
		return nil, fieldErr(sp, "%s is not an object", describe(sv))
	}
	prefixStr, ok, err := stringField(sm, sp, "ip_prefix")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fieldErr(joinPath(sp, "ip_prefix"), "required")
	}
	addr, err := parseAddrField(joinPath(sp, "ip_prefix"), prefixStr)
	if err != nil {
		return nil, err
	}
	lv, ok := sm["ip_prefix_len"]
	if !ok || lv == nil {
		return nil, fieldErr(joinPath(sp, "ip_prefix_len"), "required")
	}
	plen, ok := toInt(lv)
	if !ok {
		return nil, fieldErr(joinPath(sp, "ip_prefix_len"), "%s is not an integer", describe(lv))
	}
	if plen < 0 || plen > int64(addr.BitLen()) {
		fam := "IPv6"
		if addr.Is4() {
			fam = "IPv4"
		}
		return nil, fieldErr(joinPath(sp, "ip_prefix_len"), "%d is out of range 0..%d for %s", plen, addr.BitLen(), fam)
	}
	s.Prefix = netip.PrefixFrom(addr, int(plen)).Masked()
	s.Key = prefixStr + "/" + strconv.FormatInt(plen, 10)
	first, last, is4 := prefixBounds(s.Prefix)

	// scalar fields
	if s.AddrFromStart, err = boolField(m, path, "addr_from_start", false); err != nil {
		return nil, err
	}
	if s.EnableDHCP, err = boolField(m, path, "enable_dhcp", true); err != nil {
		return nil, err
	}
	if s.Name, _, err = stringField(m, path, "subnet_name"); err != nil {
		return nil, err
	}
	if u, ok, err := stringField(m, path, "subnet_uuid"); err != nil {
		return nil, err
	} else if ok && u != "" {
		if !validUUID(u) {
			return nil, fieldErr(joinPath(path, "subnet_uuid"), "%q is not a UUID", u)
		}
		s.UUID = u
	}
	if v, ok := m["alloc_unit"]; ok && v != nil {
		n, ok := toInt(v)
		switch {
		case !ok:
			return nil, fieldErr(joinPath(path, "alloc_unit"), "%s is not an integer", describe(v))
		case n < 0:
			return nil, fieldErr(joinPath(path, "alloc_unit"), "%d is negative", n)
		case n == 0:
			// the original treats 0 like unset
		case n&(n-1) != 0:
			return nil, fieldErr(joinPath(path, "alloc_unit"), "%d is not a power of two", n)
		default:
			s.AllocUnit = uint64(n)
		}
	}

	// allocation_pools
	pp := joinPath(path, "allocation_pools")
	if v, ok := m["allocation_pools"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fieldErr(pp, "%s is not a list", describe(v))
		}
		for i, e := range list {
			ep := indexPath(pp, i)
			pm, ok := e.(map[string]any)
			if !ok {
				return nil, fieldErr(ep, "%s is not an object", describe(e))
			}
			var pool Pool
			for _, k := range [...]string{"start", "end"} {
				kv, ok := pm[k]
				if !ok || kv == nil {
					return nil, fieldErr(joinPath(ep, k), "required")
				}
				a, err := parseAddrField(joinPath(ep, k), kv)
				if err != nil {
					return nil, err
				}
				if !s.Prefix.Contains(a) {
					return nil, fieldErr(joinPath(ep, k), "%s is outside subnet %s", a, s.Prefix)
				}
				if k == "start" {
					pool.Start = a
				} else {
					pool.End = a
				}
			}
			if pool.End.Less(pool.Start) {
				return nil, fieldErr(ep, "end %s is before start %s", pool.End, pool.Start)
			}
			if pool.VrouterSpecific, err = boolField(pm, ep, "vrouter_specific_pool", false); err != nil {
				return nil, err
			}
			for j, o := range s.Pools {
				if !pool.End.Less(o.Start) && !o.End.Less(pool.Start) {
					return nil, fieldErr(ep, "%s-%s overlaps %s (%s-%s)", pool.Start, pool.End, indexPath("allocation_pools", j), o.Start, o.End)
				}
			}
			s.Pools = append(s.Pools, pool)
		}
	}

	// default_gateway
	gp := joinPath(path, "default_gateway")
	if autoValue(m, "default_gateway") {
		s.Gateway = DefaultGateway(s.Prefix, s.AddrFromStart)
	} else {
		g, err := parseAddrField(gp, m["default_gateway"])
		if err != nil {
			return nil, err
		}
		if !isUnspecified(g) {
			lo, _ := first.add64(1)
			hi, _ := last.sub64(1)
			x := toU128(g)
			if !s.Prefix.Contains(g) || x.cmp(lo) < 0 || x.cmp(hi) > 0 {
				none := "::"
				if is4 {
					none = "0.0.0.0"
				}
				if d, _ := last.sub(first); d.hi == 0 && d.lo < 2 {
					return nil, fieldErr(gp, "%s is not usable: subnet %s has no room for a gateway (use %s for no gateway)", g, s.Prefix, none)
				}
				return nil, fieldErr(gp, "%s is outside subnet %s (must be between %s and %s, or %s for no gateway)",
					g, s.Prefix, lo.addr(is4), hi.addr(is4), none)
			}
			s.Gateway = g
		}
	}

	// dns_server_address
	if autoValue(m, "dns_server_address") {
		s.DNS = DefaultDNS(s.Prefix, s.AddrFromStart)
	} else {
		d, err := parseAddrField(joinPath(path, "dns_server_address"), m["dns_server_address"])
		if err != nil {
			return nil, err
		}
		s.DNS = d
	}

	// dns_nameservers
	np := joinPath(path, "dns_nameservers")
	if v, ok := m["dns_nameservers"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fieldErr(np, "%s is not a list", describe(v))
		}
		for i, e := range list {
			a, err := parseAddrField(indexPath(np, i), e)
			if err != nil {
				return nil, err
			}
			s.DNSNameservers = append(s.DNSNameservers, a)
		}
	}

	if err := s.checkUnits(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkUnits applies the original's alloc_unit rules to every pool (or to
// the whole prefix when there are none): pools start on a multiple of the
// unit, span a multiple of it, hold at least one unit, and keep more units
// than the network, broadcast, gateway and DNS addresses block. The
// blocked-unit count follows the original's heuristic exactly, including
// its quirks (a /30 passes although it has no free address).
func (s *Subnet) checkUnits() error {
	first, last, is4 := prefixBounds(s.Prefix)
	u := s.AllocUnit
	mask := u - 1
	unitU := u128{0, u}
	type rng struct {
		lo, hi u128
		path   string
	}
	var ranges []rng
	if len(s.Pools) == 0 {
		ranges = []rng{{first, last, joinPath(s.Path, "subnet")}}
	} else {
		pp := joinPath(s.Path, "allocation_pools")
		for i, p := range s.Pools {
			ranges = append(ranges, rng{toU128(p.Start), toU128(p.End), indexPath(pp, i)})
		}
	}
	var gw, dns u128
	hasGW := s.Gateway.IsValid() && !s.Gateway.IsUnspecified() && s.Gateway.Is4() == is4
	hasDNS := s.DNS.IsValid() && !s.DNS.IsUnspecified() && s.DNS.Is4() == is4
	if hasGW {
		gw = toU128(s.Gateway)
	}
	if hasDNS {
		dns = toU128(s.DNS)
	}
	// atLeastUnit reports whether b-a >= u, given a <= b.
	atLeastUnit := func(a, b u128) bool {
		d, _ := b.sub(a)
		return d.cmp(unitU) >= 0
	}
	unitPath := joinPath(s.Path, "alloc_unit")
	for _, r := range ranges {
		desc := fmt.Sprintf("%s-%s", r.lo.addr(is4), r.hi.addr(is4))
		if u > 1 && r.lo.lo&mask != 0 {
			return fieldErr(unitPath, "%d does not divide the start of pool %s (%s)", u, desc, r.path)
		}
		d, _ := r.hi.sub(r.lo)
		size, overflow := d.add64(1) // overflow only for ::/0, whose size is a multiple of any unit
		if !overflow {
			if size.cmp(unitU) < 0 {
				return fieldErr(unitPath, "%d is larger than pool %s (%s)", u, desc, r.path)
			}
			if size.lo&mask != 0 {
				return fieldErr(unitPath, "%d does not divide the size of pool %s (%s)", u, desc, r.path)
			}
		}
		blocked := uint64(0)
		if r.lo == first {
			blocked++
			if r.hi == last && atLeastUnit(r.lo, r.hi) {
				blocked++
			}
		} else if r.hi == last {
			blocked++
		}
		gwIn := hasGW && r.lo.cmp(gw) <= 0 && gw.cmp(r.hi) <= 0
		if gwIn && atLeastUnit(r.lo, gw) && atLeastUnit(gw, r.hi) {
			blocked++
		}
		if hasDNS && r.lo.cmp(dns) <= 0 && dns.cmp(r.hi) <= 0 &&
			atLeastUnit(r.lo, dns) && atLeastUnit(dns, r.hi) {
			far := true
			if hasGW {
				var diff u128
				if gw.cmp(dns) >= 0 {
					diff, _ = gw.sub(dns)
				} else {
					diff, _ = dns.sub(gw)
				}
				far = diff.cmp(unitU) > 0
			}
			if far {
				blocked++
			}
		}
		// units = size / u; refuse when units <= blocked.
		var units u128
		if overflow {
			units = u128{^uint64(0), ^uint64(0)}
		} else {
			var shift uint
			for v := u; v > 1; v >>= 1 {
				shift++
			}
			units = size.shr(shift)
		}
		if units.cmp(u128{0, blocked}) <= 0 {
			return fieldErr(r.path, "pool %s has no allocatable address once network, broadcast, gateway and DNS addresses are reserved", desc)
		}
	}
	return nil
}

// Fill writes the defaulted fields back into the IpamSubnetType JSON object
// m, as the original returns them on GET: default_gateway (the gateway, or
// the configured "0.0.0.0"/"::" when there is none), dns_server_address,
// subnet_uuid (when s.UUID is set; the caller generates it) and enable_dhcp
// when absent. Addresses are written in canonical form. Other fields are
// left as the client sent them.
func (s *Subnet) Fill(m map[string]any) {
	if m == nil {
		return
	}
	if s.Gateway.IsValid() {
		m["default_gateway"] = s.Gateway.String()
	} else if g, ok := m["default_gateway"].(string); !ok || g == "" || g == "None" {
		if s.Prefix.Addr().Is4() {
			m["default_gateway"] = "0.0.0.0"
		} else {
			m["default_gateway"] = "::"
		}
	} else if a, err := ParseAddr(g); err == nil {
		m["default_gateway"] = a.String()
	}
	if s.DNS.IsValid() {
		m["dns_server_address"] = s.DNS.String()
	}
	if s.UUID != "" {
		m["subnet_uuid"] = s.UUID
	}
	if !present(m, "enable_dhcp") {
		m["enable_dhcp"] = s.EnableDHCP
	}
}

// isFlatLinkMarker reports whether an ipam_subnets entry carries no prefix:
// on a virtual-network -> flat-subnet IPAM ref the original stores a single
// entry holding only a subnet_uuid, and ignores it for address management.
func isFlatLinkMarker(e map[string]any) bool {
	sv, ok := e["subnet"]
	if !ok || sv == nil {
		return true
	}
	sm, ok := sv.(map[string]any)
	return ok && !present(sm, "ip_prefix") && !present(sm, "ip_prefix_len")
}

func parseSubnetList(path string, v any) ([]*Subnet, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fieldErr(path, "%s is not a list", describe(v))
	}
	var out []*Subnet
	for i, e := range list {
		ep := indexPath(path, i)
		em, ok := e.(map[string]any)
		if !ok {
			return nil, fieldErr(ep, "%s is not an object", describe(e))
		}
		if isFlatLinkMarker(em) {
			continue
		}
		s, err := ParseIpamSubnet(ep, em)
		if err != nil {
			return nil, err
		}
		s.Index = i
		out = append(out, s)
	}
	if err := CheckSubnetList(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseVnSubnets parses a VnSubnetsType object (the attr of a
// virtual-network -> network-ipam ref): {"ipam_subnets": [...],
// "host_routes": ...}. path names the attr, e.g. "network_ipam_refs[0].attr";
// subnets get paths like "network_ipam_refs[0].attr.ipam_subnets[1]".
// Entries without a prefix (the flat-subnet link marker) are skipped. The
// subnets are checked for overlaps and duplicate subnet_uuids. A nil attr
// yields no subnets.
func ParseVnSubnets(path string, attr map[string]any) ([]*Subnet, error) {
	if attr == nil {
		return nil, nil
	}
	return parseSubnetList(joinPath(path, "ipam_subnets"), attr["ipam_subnets"])
}

// ParseIpamSubnets parses the ipam_subnets property of a flat-subnet
// network-ipam (IpamSubnets: {"subnets": [...]}). path names the property,
// normally "ipam_subnets".
func ParseIpamSubnets(path string, prop map[string]any) ([]*Subnet, error) {
	if prop == nil {
		return nil, nil
	}
	return parseSubnetList(joinPath(path, "subnets"), prop["subnets"])
}

func fillList(v any, subnets []*Subnet) {
	list, _ := v.([]any)
	for _, s := range subnets {
		if s.Index >= 0 && s.Index < len(list) {
			if em, ok := list[s.Index].(map[string]any); ok {
				s.Fill(em)
			}
		}
	}
}

// FillVnSubnets calls Fill for each subnet returned by ParseVnSubnets on
// its entry of attr["ipam_subnets"].
func FillVnSubnets(attr map[string]any, subnets []*Subnet) {
	if attr != nil {
		fillList(attr["ipam_subnets"], subnets)
	}
}

// FillIpamSubnets calls Fill for each subnet returned by ParseIpamSubnets on
// its entry of prop["subnets"].
func FillIpamSubnets(prop map[string]any, subnets []*Subnet) {
	if prop != nil {
		fillList(prop["subnets"], subnets)
	}
}
