// SPDX-License-Identifier: Apache-2.0

package ipam

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func mustParse(t testing.TB, s string) *Subnet {
	t.Helper()
	sn, err := ParseIpamSubnet("ipam_subnets[0]", decode(t, s))
	if err != nil {
		t.Fatalf("ParseIpamSubnet(%s): %v", s, err)
	}
	return sn
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func collect(s *Subnet, limit int, taken func(netip.Addr) bool) []string {
	var out []string
	for a := range s.Candidates(taken) {
		out = append(out, a.String())
		if len(out) == limit {
			break
		}
	}
	return out
}

func TestDefaults(t *testing.T) {
	const max = math.MaxUint64
	tests := []struct {
		name      string
		json      string
		gw, dns   string // "" = none
		first     []string
		capacity  uint64
		exhausted bool
	}{
		{"v4 /24", `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}}`,
			"10.0.0.254", "10.0.0.253", []string{"10.0.0.252", "10.0.0.251", "10.0.0.250"}, 252, false},
		{"v4 /24 addr_from_start", `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"addr_from_start":true}`,
			"10.0.0.1", "10.0.0.2", []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"}, 252, false},
		{"host bits masked", `{"subnet":{"ip_prefix":"10.0.0.77","ip_prefix_len":24}}`,
			"10.0.0.254", "10.0.0.253", []string{"10.0.0.252"}, 252, false},
		{"v4 /8", `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":8}}`,
			"10.255.255.254", "10.255.255.253", []string{"10.255.255.252"}, 1<<24 - 4, false},
		{"v4 /29", `{"subnet":{"ip_prefix":"192.168.1.0","ip_prefix_len":29}}`,
			"192.168.1.6", "192.168.1.5", []string{"192.168.1.4", "192.168.1.3", "192.168.1.2", "192.168.1.1"}, 4, false},
		{"v4 /30 top-down", `{"subnet":{"ip_prefix":"192.168.1.0","ip_prefix_len":30}}`,
			"192.168.1.2", "192.168.1.1", nil, 0, true},
		{"v4 /30 from start", `{"subnet":{"ip_prefix":"192.168.1.0","ip_prefix_len":30},"addr_from_start":true}`,
			"192.168.1.1", "192.168.1.2", nil, 0, true},
		{"v4 /30 no gateway", `{"subnet":{"ip_prefix":"192.168.1.0","ip_prefix_len":30},"default_gateway":"0.0.0.0"}`,
			"", "192.168.1.1", []string{"192.168.1.2"}, 1, false},
		{"explicit gateway", `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"10.0.0.1"}`,
			"10.0.0.1", "10.0.0.253", []string{"10.0.0.254", "10.0.0.252"}, 252, false},
		{"gateway 0.0.0.0", `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"0.0.0.0"}`,
			"", "10.0.0.253", []string{"10.0.0.254", "10.0.0.252"}, 253, false},
		{"gateway None string", `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"None","dns_server_address":""}`,
			"10.0.0.254", "10.0.0.253", []string{"10.0.0.252"}, 252, false},
		{"dns outside subnet", `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"dns_server_address":"8.8.8.8"}`,
			"10.0.0.254", "8.8.8.8", []string{"10.0.0.253", "10.0.0.252"}, 253, false},
		{"v6 /64", `{"subnet":{"ip_prefix":"2001:db8::","ip_prefix_len":64}}`,
			"2001:db8::ffff:ffff:ffff:fffe", "2001:db8::ffff:ffff:ffff:fffd",
			[]string{"2001:db8::ffff:ffff:ffff:fffc", "2001:db8::ffff:ffff:ffff:fffb"}, max - 3, false},
		{"v6 /64 from start", `{"subnet":{"ip_prefix":"2001:DB8::","ip_prefix_len":64},"addr_from_start":true}`,
			"2001:db8::1", "2001:db8::2", []string{"2001:db8::3", "2001:db8::4"}, max - 3, false},
		{"v6 /120", `{"subnet":{"ip_prefix":"fd00::100","ip_prefix_len":120}}`,
			"fd00::1fe", "fd00::1fd", []string{"fd00::1fc"}, 252, false},
		{"v6 gateway ::", `{"subnet":{"ip_prefix":"fd00::100","ip_prefix_len":120},"default_gateway":"::"}`,
			"", "fd00::1fd", []string{"fd00::1fe", "fd00::1fc"}, 253, false},
		{"v6 /48 saturates", `{"subnet":{"ip_prefix":"2001:db8::","ip_prefix_len":48}}`,
			"2001:db8:0:ffff:ffff:ffff:ffff:fffe", "2001:db8:0:ffff:ffff:ffff:ffff:fffd",
			[]string{"2001:db8:0:ffff:ffff:ffff:ffff:fffc"}, max, false},
		{"v6 ::/0", `{"subnet":{"ip_prefix":"::","ip_prefix_len":0},"addr_from_start":true}`,
			"::1", "::2", []string{"::3"}, max, false},
		{"built-in flat ipam v6", `{"subnet":{"ip_prefix":"::ffff","ip_prefix_len":104}}`,
			"::ff:fffe", "::ff:fffd", []string{"::ff:fffc"}, 1<<24 - 4, false},
		{"built-in flat ipam v4", `{"subnet":{"ip_prefix":"0.0.0.0","ip_prefix_len":8}}`,
			"0.255.255.254", "0.255.255.253", []string{"0.255.255.252"}, 1<<24 - 4, false},
		{"string prefix len", `{"subnet":{"ip_prefix":"10.1.0.0","ip_prefix_len":"16"}}`,
			"10.1.255.254", "10.1.255.253", []string{"10.1.255.252"}, 1<<16 - 4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.json)
			if got := addrString(s.Gateway); got != tc.gw {
				t.Errorf("gateway = %q, want %q", got, tc.gw)
			}
			if got := addrString(s.DNS); got != tc.dns {
				t.Errorf("dns = %q, want %q", got, tc.dns)
			}
			if got := collect(s, len(tc.first), nil); !slices.Equal(got, tc.first) {
				t.Errorf("candidates = %v, want %v", got, tc.first)
			}
			if got := s.Capacity(); got != tc.capacity {
				t.Errorf("capacity = %d, want %d", got, tc.capacity)
			}
			a, ok := s.Next(nil)
			if ok == tc.exhausted {
				t.Errorf("Next = %v, %v; exhausted want %v", a, ok, tc.exhausted)
			}
			if ok && a.String() != tc.first[0] {
				t.Errorf("Next = %v, want %v", a, tc.first[0])
			}
			if !s.EnableDHCP || s.AllocUnit != 1 {
				t.Errorf("EnableDHCP=%v AllocUnit=%d, want true 1", s.EnableDHCP, s.AllocUnit)
			}
		})
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// A /31 or /32 (v4) and /127 or /128 (v6) keep no allocatable address; the
// original refuses them at parse time. Hand-built subnets must still behave.
func TestTinyPrefixes(t *testing.T) {
	for _, p := range []string{"10.0.0.0/31", "10.0.0.1/32", "0.0.0.0/32", "255.255.255.255/32", "fd00::/127", "fd00::1/128", "::/128"} {
		pfx := netip.MustParsePrefix(p)
		for _, fromStart := range []bool{false, true} {
			js := `{"subnet":{"ip_prefix":"` + pfx.Addr().String() + `","ip_prefix_len":` + strconv.Itoa(pfx.Bits()) + `}`
			if fromStart {
				js += `,"addr_from_start":true`
			}
			js += `}`
			if _, err := ParseIpamSubnet("s", decode(t, js)); err == nil {
				t.Errorf("%s fromStart=%v: parse succeeded, want error", p, fromStart)
			} else if !strings.Contains(err.Error(), "no allocatable address") {
				t.Errorf("%s: unexpected error %v", p, err)
			}
			s := &Subnet{Prefix: pfx.Masked(), AddrFromStart: fromStart,
				Gateway: DefaultGateway(pfx, fromStart), DNS: DefaultDNS(pfx, fromStart)}
			if c := s.Capacity(); c != 0 {
				t.Errorf("%s: capacity %d, want 0", p, c)
			}
			if a, ok := s.Next(nil); ok {
				t.Errorf("%s: Next = %v, want none", p, a)
			}
			for _, u := range []uint64{2, 4, 1 << 20} {
				s.AllocUnit = u
				if a, ok := s.Next(nil); ok || s.Capacity() != 0 {
					t.Errorf("%s unit %d: Next = %v %v capacity %d", p, u, a, ok, s.Capacity())
				}
			}
		}
	}
	// Without gateway and DNS a /31 still has no address (network and last).
	s := &Subnet{Prefix: netip.MustParsePrefix("10.0.0.0/31")}
	if _, ok := s.Next(nil); ok || s.Capacity() != 0 {
		t.Error("bare /31 should be empty")
	}
	// The zero Subnet must not panic either.
	var z Subnet
	if _, ok := z.Next(nil); ok || z.Capacity() != 0 || z.Contains(addr("1.2.3.4")) || z.Reserved(addr("1.2.3.4")) {
		t.Error("zero Subnet misbehaves")
	}
}

func TestExhaust29(t *testing.T) {
	tests := []struct {
		json string
		want []string
	}{
		{`{"subnet":{"ip_prefix":"10.9.8.0","ip_prefix_len":29}}`,
			[]string{"10.9.8.4", "10.9.8.3", "10.9.8.2", "10.9.8.1"}},
		{`{"subnet":{"ip_prefix":"10.9.8.0","ip_prefix_len":29},"addr_from_start":true}`,
			[]string{"10.9.8.3", "10.9.8.4", "10.9.8.5", "10.9.8.6"}},
		{`{"subnet":{"ip_prefix":"10.9.8.0","ip_prefix_len":29},"default_gateway":"0.0.0.0","dns_server_address":"1.1.1.1"}`,
			[]string{"10.9.8.6", "10.9.8.5", "10.9.8.4", "10.9.8.3", "10.9.8.2", "10.9.8.1"}},
	}
	for _, tc := range tests {
		s := mustParse(t, tc.json)
		used := map[netip.Addr]bool{}
		taken := func(a netip.Addr) bool { return used[a] }
		var got []string
		for {
			a, ok := s.Next(taken)
			if !ok {
				break
			}
			if used[a] {
				t.Fatalf("Next returned taken address %v", a)
			}
			used[a] = true
			got = append(got, a.String())
			if len(got) > 10 {
				t.Fatal("too many addresses")
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: exhausted %v, want %v", tc.json, got, tc.want)
		}
		if c := s.Capacity(); c != uint64(len(tc.want)) {
			t.Errorf("capacity %d, want %d", c, len(tc.want))
		}
	}
}

func TestPools(t *testing.T) {
	const base = `"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}`
	tests := []struct {
		name     string
		json     string
		first    []string
		capacity uint64
	}{
		{"two pools top-down",
			`{` + base + `,"allocation_pools":[{"start":"10.0.0.10","end":"10.0.0.12"},{"start":"10.0.0.100","end":"10.0.0.101"}]}`,
			[]string{"10.0.0.101", "10.0.0.100", "10.0.0.12", "10.0.0.11", "10.0.0.10"}, 5},
		{"two pools bottom-up, unsorted input",
			`{` + base + `,"addr_from_start":true,"allocation_pools":[{"start":"10.0.0.100","end":"10.0.0.101"},{"start":"10.0.0.10","end":"10.0.0.12"}]}`,
			[]string{"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.100", "10.0.0.101"}, 5},
		{"pool covering reserved addresses",
			`{` + base + `,"allocation_pools":[{"start":"10.0.0.250","end":"10.0.0.255"},{"start":"10.0.0.0","end":"10.0.0.2"}]}`,
			[]string{"10.0.0.252", "10.0.0.251", "10.0.0.250", "10.0.0.2", "10.0.0.1"}, 5},
		{"single address pool",
			`{` + base + `,"allocation_pools":[{"start":"10.0.0.7","end":"10.0.0.7"}]}`,
			[]string{"10.0.0.7"}, 1},
		{"vrouter specific pools skipped",
			`{` + base + `,"allocation_pools":[{"start":"10.0.0.200","end":"10.0.0.201","vrouter_specific_pool":true},{"start":"10.0.0.10","end":"10.0.0.11","vrouter_specific_pool":false}]}`,
			[]string{"10.0.0.11", "10.0.0.10"}, 2},
		{"only vrouter specific pools",
			`{` + base + `,"allocation_pools":[{"start":"10.0.0.200","end":"10.0.0.201","vrouter_specific_pool":true}]}`,
			[]string{"10.0.0.201", "10.0.0.200"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.json)
			if got := collect(s, 100, nil); !slices.Equal(got, tc.first) {
				t.Errorf("candidates = %v, want %v", got, tc.first)
			}
			if c := s.Capacity(); c != tc.capacity {
				t.Errorf("capacity = %d, want %d", c, tc.capacity)
			}
			for _, a := range tc.first {
				if !s.InPools(addr(a)) {
					t.Errorf("InPools(%s) = false", a)
				}
			}
		})
	}
	s := mustParse(t, `{`+base+`,"allocation_pools":[{"start":"10.0.0.200","end":"10.0.0.201","vrouter_specific_pool":true},{"start":"10.0.0.10","end":"10.0.0.11"}]}`)
	if s.InPools(addr("10.0.0.200")) || s.InPools(addr("10.0.0.50")) || !s.InPools(addr("10.0.0.10")) {
		t.Error("InPools wrong for vrouter pools")
	}
	got := slices.Collect(s.CandidatesInPools([]Pool{s.Pools[0]}, nil))
	if want := []netip.Addr{addr("10.0.0.201"), addr("10.0.0.200")}; !slices.Equal(got, want) {
		t.Errorf("CandidatesInPools = %v, want %v", got, want)
	}
	// Hand-built overlapping/adjacent pools are merged: no duplicates.
	h := &Subnet{Prefix: netip.MustParsePrefix("10.0.0.0/24"), Pools: []Pool{
		{Start: addr("10.0.0.10"), End: addr("10.0.0.20")},
		{Start: addr("10.0.0.15"), End: addr("10.0.0.25")},
		{Start: addr("10.0.0.26"), End: addr("10.0.0.27")},
		{Start: addr("9.0.0.0"), End: addr("10.0.0.1")},    // clipped: only .1 left
		{Start: addr("fd00::1"), End: addr("fd00::2")},     // wrong family: ignored
		{Start: addr("10.0.1.0"), End: addr("10.0.1.255")}, // outside: ignored
	}}
	all := collect(h, 1000, nil)
	if len(all) != 19 || all[0] != "10.0.0.27" || all[len(all)-1] != "10.0.0.1" || h.Capacity() != 19 {
		t.Errorf("merged pools: %v (capacity %d)", all, h.Capacity())
	}
}

func TestAllocUnit(t *testing.T) {
	s := mustParse(t, `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"alloc_unit":4}`)
	if got, want := collect(s, 3, nil), []string{"10.0.0.248", "10.0.0.244", "10.0.0.240"}; !slices.Equal(got, want) {
		t.Errorf("top-down blocks = %v, want %v", got, want)
	}
	if c := s.Capacity(); c != 62 {
		t.Errorf("capacity = %d, want 62", c)
	}
	if err := s.CheckAddr(addr("10.0.0.6"), false); !errors.Is(err, ErrNotAligned) {
		t.Errorf("CheckAddr unaligned: %v", err)
	}
	if err := s.CheckAddr(addr("10.0.0.8"), false); err != nil {
		t.Errorf("CheckAddr aligned: %v", err)
	}
	s = mustParse(t, `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"alloc_unit":4,"addr_from_start":true}`)
	if got, want := collect(s, 2, nil), []string{"10.0.0.4", "10.0.0.8"}; !slices.Equal(got, want) {
		t.Errorf("bottom-up blocks = %v, want %v", got, want)
	}
	// taken is asked about block starts.
	a, ok := s.Next(func(a netip.Addr) bool { return a == addr("10.0.0.4") })
	if !ok || a != addr("10.0.0.8") {
		t.Errorf("Next with taken block = %v %v", a, ok)
	}
	s = mustParse(t, `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"alloc_unit":8,"allocation_pools":[{"start":"10.0.0.16","end":"10.0.0.31"}]}`)
	if got, want := collect(s, 5, nil), []string{"10.0.0.24", "10.0.0.16"}; !slices.Equal(got, want) || s.Capacity() != 2 {
		t.Errorf("pool blocks = %v capacity %d", got, s.Capacity())
	}
}

func TestFill(t *testing.T) {
	tests := []struct {
		in, want string
		uuid     string
	}{
		{`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}}`,
			`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"10.0.0.254","dns_server_address":"10.0.0.253","enable_dhcp":true,"subnet_uuid":"0b8a7d6e-1111-4222-8333-944455556666"}`,
			"0b8a7d6e-1111-4222-8333-944455556666"},
		{`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"0.0.0.0","enable_dhcp":false,"addr_from_start":true}`,
			`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"0.0.0.0","dns_server_address":"10.0.0.2","enable_dhcp":false,"addr_from_start":true}`,
			""},
		{`{"subnet":{"ip_prefix":"2001:DB8::","ip_prefix_len":64},"default_gateway":"2001:DB8::1","dns_server_address":null}`,
			`{"subnet":{"ip_prefix":"2001:DB8::","ip_prefix_len":64},"default_gateway":"2001:db8::1","dns_server_address":"2001:db8::ffff:ffff:ffff:fffd","enable_dhcp":true}`,
			""},
		{`{"subnet":{"ip_prefix":"2001:db8::","ip_prefix_len":64},"default_gateway":"None"}`,
			`{"subnet":{"ip_prefix":"2001:db8::","ip_prefix_len":64},"default_gateway":"2001:db8::ffff:ffff:ffff:fffe","dns_server_address":"2001:db8::ffff:ffff:ffff:fffd","enable_dhcp":true}`,
			""},
	}
	for _, tc := range tests {
		m := decode(t, tc.in)
		s, err := ParseIpamSubnet("", m)
		if err != nil {
			t.Fatal(err)
		}
		s.UUID = tc.uuid
		s.Fill(m)
		if !reflect.DeepEqual(m, decode(t, tc.want)) {
			got, _ := json.Marshal(m)
			t.Errorf("Fill(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
		// Filling is idempotent and re-parsing gives the same subnet.
		s2, err := ParseIpamSubnet("", m)
		if err != nil {
			t.Fatalf("re-parse after Fill: %v", err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Errorf("re-parse differs:\n%+v\n%+v", s, s2)
		}
	}
	// A hand-built v6 subnet without gateway fills "::".
	m := map[string]any{}
	(&Subnet{Prefix: netip.MustParsePrefix("fd00::/64"), EnableDHCP: true}).Fill(m)
	if m["default_gateway"] != "::" || m["enable_dhcp"] != true {
		t.Errorf("hand-built fill: %v", m)
	}
}

func TestParseErrors(t *testing.T) {
	const base = `"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}`
	tests := []struct {
		json string
		want string // full error text
	}{
		{`{}`, "ipam_subnets[1].subnet: required"},
		{`{"subnet":"10.0.0.0/24"}`, `ipam_subnets[1].subnet: "10.0.0.0/24" is not an object`},
		{`{"subnet":{"ip_prefix_len":24}}`, "ipam_subnets[1].subnet.ip_prefix: required"},
		{`{"subnet":{"ip_prefix":"10.0.0.0/24","ip_prefix_len":24}}`, "ipam_subnets[1].subnet.ip_prefix: 10.0.0.0/24 is not an IP address"},
		{`{"subnet":{"ip_prefix":"fe80::%eth0","ip_prefix_len":64}}`, "ipam_subnets[1].subnet.ip_prefix: fe80::%eth0 is not an IP address"},
		{`{"subnet":{"ip_prefix":10,"ip_prefix_len":24}}`, "ipam_subnets[1].subnet.ip_prefix: 10 is not a string"},
		{`{"subnet":{"ip_prefix":"10.0.0.0"}}`, "ipam_subnets[1].subnet.ip_prefix_len: required"},
		{`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":33}}`, "ipam_subnets[1].subnet.ip_prefix_len: 33 is out of range 0..32 for IPv4"},
		{`{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":129}}`, "ipam_subnets[1].subnet.ip_prefix_len: 129 is out of range 0..128 for IPv6"},
		{`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":-1}}`, "ipam_subnets[1].subnet.ip_prefix_len: -1 is out of range 0..32 for IPv4"},
		{`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24.5}}`, "ipam_subnets[1].subnet.ip_prefix_len: 24.5 is not an integer"},
		{`{` + base + `,"allocation_pools":[{"start":"10.0.0.10","end":"10.0.1.300"}]}`,
			"ipam_subnets[1].allocation_pools[0].end: 10.0.1.300 is not an IP address"},
		{`{` + base + `,"allocation_pools":[{"start":"10.0.0.10"}]}`,
			"ipam_subnets[1].allocation_pools[0].end: required"},
		{`{` + base + `,"allocation_pools":[{"start":"10.0.0.10","end":"10.0.0.20"},{"start":"10.0.1.1","end":"10.0.1.2"}]}`,
			"ipam_subnets[1].allocation_pools[1].start: 10.0.1.1 is outside subnet 10.0.0.0/24"},
		{`{` + base + `,"allocation_pools":[{"start":"10.0.0.20","end":"10.0.0.10"}]}`,
			"ipam_subnets[1].allocation_pools[0]: end 10.0.0.10 is before start 10.0.0.20"},
		{`{` + base + `,"allocation_pools":[{"start":"10.0.0.10","end":"10.0.0.20"},{"start":"10.0.0.20","end":"10.0.0.30"}]}`,
			"ipam_subnets[1].allocation_pools[1]: 10.0.0.20-10.0.0.30 overlaps allocation_pools[0] (10.0.0.10-10.0.0.20)"},
		{`{` + base + `,"allocation_pools":[{"start":"fd00::1","end":"fd00::2"}]}`,
			"ipam_subnets[1].allocation_pools[0].start: fd00::1 is outside subnet 10.0.0.0/24"},
		{`{` + base + `,"allocation_pools":{"start":"10.0.0.1"}}`, "ipam_subnets[1].allocation_pools: an object is not a list"},
		{`{` + base + `,"allocation_pools":[{"start":"10.0.0.10","end":"10.0.0.20","vrouter_specific_pool":"yes"}]}`,
			`ipam_subnets[1].allocation_pools[0].vrouter_specific_pool: "yes" is not a boolean`},
		{`{` + base + `,"default_gateway":"10.0.1.1"}`,
			"ipam_subnets[1].default_gateway: 10.0.1.1 is outside subnet 10.0.0.0/24 (must be between 10.0.0.1 and 10.0.0.254, or 0.0.0.0 for no gateway)"},
		{`{` + base + `,"default_gateway":"10.0.0.255"}`,
			"ipam_subnets[1].default_gateway: 10.0.0.255 is outside subnet 10.0.0.0/24 (must be between 10.0.0.1 and 10.0.0.254, or 0.0.0.0 for no gateway)"},
		{`{` + base + `,"default_gateway":"10.0.0.0"}`,
			"ipam_subnets[1].default_gateway: 10.0.0.0 is outside subnet 10.0.0.0/24 (must be between 10.0.0.1 and 10.0.0.254, or 0.0.0.0 for no gateway)"},
		{`{` + base + `,"default_gateway":"fd00::1"}`,
			"ipam_subnets[1].default_gateway: fd00::1 is outside subnet 10.0.0.0/24 (must be between 10.0.0.1 and 10.0.0.254, or 0.0.0.0 for no gateway)"},
		{`{` + base + `,"default_gateway":"gw"}`, "ipam_subnets[1].default_gateway: gw is not an IP address"},
		{`{` + base + `,"dns_server_address":"10.0.0.256"}`, "ipam_subnets[1].dns_server_address: 10.0.0.256 is not an IP address"},
		{`{` + base + `,"dns_nameservers":["8.8.8.8","dns.example"]}`, "ipam_subnets[1].dns_nameservers[1]: dns.example is not an IP address"},
		{`{` + base + `,"subnet_uuid":"not-a-uuid"}`, `ipam_subnets[1].subnet_uuid: "not-a-uuid" is not a UUID`},
		{`{` + base + `,"enable_dhcp":"true"}`, `ipam_subnets[1].enable_dhcp: "true" is not a boolean`},
		{`{` + base + `,"addr_from_start":1}`, `ipam_subnets[1].addr_from_start: 1 is not a boolean`},
		{`{` + base + `,"subnet_name":5}`, `ipam_subnets[1].subnet_name: 5 is not a string`},
		{`{` + base + `,"alloc_unit":3}`, "ipam_subnets[1].alloc_unit: 3 is not a power of two"},
		{`{` + base + `,"alloc_unit":-2}`, "ipam_subnets[1].alloc_unit: -2 is negative"},
		{`{` + base + `,"alloc_unit":512}`, "ipam_subnets[1].alloc_unit: 512 is larger than pool 10.0.0.0-10.0.0.255 (ipam_subnets[1].subnet)"},
		{`{` + base + `,"alloc_unit":4,"allocation_pools":[{"start":"10.0.0.2","end":"10.0.0.9"}]}`,
			"ipam_subnets[1].alloc_unit: 4 does not divide the start of pool 10.0.0.2-10.0.0.9 (ipam_subnets[1].allocation_pools[0])"},
		{`{` + base + `,"alloc_unit":4,"allocation_pools":[{"start":"10.0.0.4","end":"10.0.0.9"}]}`,
			"ipam_subnets[1].alloc_unit: 4 does not divide the size of pool 10.0.0.4-10.0.0.9 (ipam_subnets[1].allocation_pools[0])"},
		{`{` + base + `,"alloc_unit":256}`,
			"ipam_subnets[1].subnet: pool 10.0.0.0-10.0.0.255 has no allocatable address once network, broadcast, gateway and DNS addresses are reserved"},
		{`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":32}}`,
			"ipam_subnets[1].subnet: pool 10.0.0.0-10.0.0.0 has no allocatable address once network, broadcast, gateway and DNS addresses are reserved"},
		{`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":32},"default_gateway":"10.0.0.0"}`,
			"ipam_subnets[1].default_gateway: 10.0.0.0 is not usable: subnet 10.0.0.0/32 has no room for a gateway (use 0.0.0.0 for no gateway)"},
		{`{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":127}}`,
			"ipam_subnets[1].subnet: pool fd00::-fd00::1 has no allocatable address once network, broadcast, gateway and DNS addresses are reserved"},
		{`{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":120},"default_gateway":"fd00::1:1"}`,
			"ipam_subnets[1].default_gateway: fd00::1:1 is outside subnet fd00::/120 (must be between fd00::1 and fd00::fe, or :: for no gateway)"},
	}
	for _, tc := range tests {
		_, err := ParseIpamSubnet("ipam_subnets[1]", decode(t, tc.json))
		if err == nil {
			t.Errorf("%s: no error, want %q", tc.json, tc.want)
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %T is not a *FieldError", tc.json, err)
		}
		if err.Error() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.json, err.Error(), tc.want)
		}
	}
	if _, err := ParseIpamSubnet("x", nil); err == nil {
		t.Error("nil map accepted")
	}
}

func TestAcceptedEdgeCases(t *testing.T) {
	for _, js := range []string{
		// /30 passes the original's pool check although nothing is free.
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":30}}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"alloc_unit":0}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"alloc_unit":null,"allocation_pools":null,"dns_nameservers":null,"subnet_uuid":""}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"subnet_uuid":"0B8A7D6E11114222833394445555666F"}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"::"}`,
		`{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":64},"default_gateway":"0.0.0.0"}`,
		`{"subnet":{"ip_prefix":"0.0.0.0","ip_prefix_len":0}}`,
	} {
		if _, err := ParseIpamSubnet("", decode(t, js)); err != nil {
			t.Errorf("%s: %v", js, err)
		}
	}
	s := mustParse(t, `{"subnet":{"ip_prefix":"0.0.0.0","ip_prefix_len":0}}`)
	if c := s.Capacity(); c != 1<<32-4 {
		t.Errorf("0.0.0.0/0 capacity %d", c)
	}
	if a, _ := s.Next(nil); a != addr("255.255.255.252") {
		t.Errorf("0.0.0.0/0 first %v", a)
	}
}

func TestCheckRequested(t *testing.T) {
	v4 := mustParse(t, `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}}`)
	v6 := mustParse(t, `{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":120}}`)
	nogw := mustParse(t, `{"subnet":{"ip_prefix":"10.1.0.0","ip_prefix_len":24},"default_gateway":"0.0.0.0"}`)
	subnets := []*Subnet{v4, v6, nogw}
	tests := []struct {
		a        string
		allow    bool
		sub      *Subnet
		err      error
		contains string
	}{
		{"10.0.0.5", false, v4, nil, ""},
		{"10.0.0.254", false, v4, ErrReserved, "10.0.0.254 is the gateway address of subnet 10.0.0.0/24"},
		{"10.0.0.253", false, v4, ErrReserved, "DNS server address"},
		{"10.0.0.0", false, v4, ErrReserved, "network address"},
		{"10.0.0.255", false, v4, ErrReserved, "broadcast address"},
		{"10.0.0.254", true, v4, nil, ""},
		{"10.0.0.255", true, v4, nil, ""},
		{"fd00::ff", false, v6, ErrReserved, "last address"},
		{"fd00::fe", false, v6, ErrReserved, "gateway"},
		{"fd00::1", false, v6, nil, ""},
		{"10.1.0.254", false, nogw, nil, ""},
		{"10.2.0.1", false, nil, ErrNotInSubnet, "10.2.0.1"},
		{"::ffff:10.0.0.5", false, nil, ErrNotInSubnet, ""},
	}
	for _, tc := range tests {
		s, err := CheckRequested(subnets, addr(tc.a), tc.allow)
		if s != tc.sub {
			t.Errorf("%s: subnet %v, want %v", tc.a, s, tc.sub)
		}
		if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("%s: err %v, want %v", tc.a, err, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%s: err %q lacks %q", tc.a, err, tc.contains)
		}
	}
	if _, err := CheckRequested(subnets, netip.Addr{}, false); !errors.Is(err, ErrNotInSubnet) {
		t.Errorf("invalid addr: %v", err)
	}
}

func TestAllocate(t *testing.T) {
	a := mustParse(t, `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":29},"subnet_uuid":"aaaaaaaa-0000-0000-0000-000000000001"}`)
	b := mustParse(t, `{"subnet":{"ip_prefix":"10.0.1.0","ip_prefix_len":29},"subnet_uuid":"aaaaaaaa-0000-0000-0000-000000000002"}`)
	c := mustParse(t, `{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":120}}`)
	subnets := []*Subnet{a, b, c}
	used := map[netip.Addr]bool{}
	taken := func(x netip.Addr) bool { return used[x] }
	var got []string
	for {
		x, s, err := Allocate(subnets, FamilyV4, "", taken)
		if err != nil {
			if !errors.Is(err, ErrExhausted) {
				t.Fatalf("err %v", err)
			}
			break
		}
		if !s.Contains(x) {
			t.Fatalf("%v not in %v", x, s)
		}
		used[x] = true
		got = append(got, x.String())
	}
	want := []string{"10.0.0.4", "10.0.0.3", "10.0.0.2", "10.0.0.1", "10.0.1.4", "10.0.1.3", "10.0.1.2", "10.0.1.1"}
	if !slices.Equal(got, want) {
		t.Errorf("allocated %v, want %v", got, want)
	}
	if x, s, err := Allocate(subnets, FamilyV6, "", taken); err != nil || s != c || x != addr("fd00::fc") {
		t.Errorf("v6: %v %v %v", x, s, err)
	}
	if x, _, err := Allocate(subnets, FamilyAny, "", taken); err != nil || x != addr("fd00::fc") {
		t.Errorf("any: %v %v", x, err)
	}
	delete(used, addr("10.0.1.2"))
	if x, s, err := Allocate(subnets, FamilyAny, "aaaaaaaa-0000-0000-0000-000000000002", taken); err != nil || s != b || x != addr("10.0.1.2") {
		t.Errorf("by uuid: %v %v %v", x, s, err)
	}
	if _, _, err := Allocate(subnets, FamilyAny, "aaaaaaaa-0000-0000-0000-000000000001", taken); !errors.Is(err, ErrExhausted) {
		t.Errorf("exhausted by uuid: %v", err)
	}
	if _, _, err := Allocate(subnets, FamilyAny, "bbbbbbbb-0000-0000-0000-000000000001", taken); !errors.Is(err, ErrSubnetNotFound) {
		t.Errorf("unknown uuid: %v", err)
	}
	if _, _, err := Allocate(subnets[:2], FamilyV6, "", taken); !errors.Is(err, ErrNoSubnets) {
		t.Errorf("no v6 subnets: %v", err)
	}
	if _, _, err := Allocate(nil, FamilyAny, "", nil); !errors.Is(err, ErrNoSubnets) {
		t.Errorf("no subnets: %v", err)
	}
}

func TestOverlaps(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/24", "10.0.0.0/24", true},
		{"10.0.0.0/24", "10.0.0.128/25", true},
		{"10.0.0.0/8", "10.200.0.0/16", true},
		{"10.0.0.0/24", "10.0.1.0/24", false},
		{"10.0.0.5/24", "10.0.0.200/25", true}, // host bits ignored
		{"::/0", "10.0.0.0/8", false},
		{"fd00::/64", "fd00::1:0/112", true},
	}
	for _, tc := range tests {
		if got := Overlaps(p(tc.a), p(tc.b)); got != tc.want {
			t.Errorf("Overlaps(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
	if Overlaps(netip.Prefix{}, p("10.0.0.0/8")) {
		t.Error("invalid prefix overlaps")
	}
}

func TestParseVnSubnets(t *testing.T) {
	attr := decode(t, `{"ipam_subnets":[
		{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}},
		{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":64}},
		{"subnet":{"ip_prefix":"10.0.1.0","ip_prefix_len":24},"addr_from_start":true}
	],"host_routes":{"route":[]}}`)
	subnets, err := ParseVnSubnets("network_ipam_refs[0].attr", attr)
	if err != nil {
		t.Fatal(err)
	}
	if len(subnets) != 3 || subnets[1].Path != "network_ipam_refs[0].attr.ipam_subnets[1]" || subnets[2].Index != 2 {
		t.Fatalf("subnets %+v", subnets)
	}
	for i, s := range subnets {
		s.UUID = "00000000-0000-0000-0000-00000000000" + string(rune('1'+i))
	}
	FillVnSubnets(attr, subnets)
	list := attr["ipam_subnets"].([]any)
	if e := list[2].(map[string]any); e["default_gateway"] != "10.0.1.1" || e["subnet_uuid"] != "00000000-0000-0000-0000-000000000003" {
		t.Errorf("fill: %v", e)
	}

	// Overlap between entries names both paths.
	_, err = ParseVnSubnets("network_ipam_refs[0].attr", decode(t, `{"ipam_subnets":[
		{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":16}},
		{"subnet":{"ip_prefix":"192.168.0.0","ip_prefix_len":24}},
		{"subnet":{"ip_prefix":"10.0.3.0","ip_prefix_len":24}}]}`))
	var oe *OverlapError
	if !errors.As(err, &oe) || err.Error() != "Overlapping addresses: 10.0.0.0/16 (network_ipam_refs[0].attr.ipam_subnets[0]) and 10.0.3.0/24 (network_ipam_refs[0].attr.ipam_subnets[2])" {
		t.Errorf("overlap error: %v", err)
	}
	// Errors carry the full path.
	_, err = ParseVnSubnets("network_ipam_refs[2].attr", decode(t, `{"ipam_subnets":[
		{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}},
		{"subnet":{"ip_prefix":"10.0.1.0","ip_prefix_len":24},"allocation_pools":[{"start":"10.0.1.1","end":"10.0.1.300"}]}]}`))
	if err == nil || err.Error() != "network_ipam_refs[2].attr.ipam_subnets[1].allocation_pools[0].end: 10.0.1.300 is not an IP address" {
		t.Errorf("path error: %v", err)
	}
	// Duplicate subnet_uuid.
	_, err = ParseVnSubnets("a", decode(t, `{"ipam_subnets":[
		{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"subnet_uuid":"00000000-0000-0000-0000-000000000001"},
		{"subnet":{"ip_prefix":"10.0.1.0","ip_prefix_len":24},"subnet_uuid":"00000000-0000-0000-0000-000000000001"}]}`))
	if err == nil || !strings.HasPrefix(err.Error(), "a.ipam_subnets[1].subnet_uuid: ") {
		t.Errorf("duplicate uuid: %v", err)
	}
	// Flat-subnet link marker and empty attrs.
	subnets, err = ParseVnSubnets("a", decode(t, `{"ipam_subnets":[{"subnet_uuid":"00000000-0000-0000-0000-000000000001"}]}`))
	if err != nil || len(subnets) != 0 {
		t.Errorf("flat marker: %v %v", subnets, err)
	}
	subnets, err = ParseVnSubnets("a", decode(t, `{"ipam_subnets":[{"subnet":{}}],"host_routes":null}`))
	if err != nil || len(subnets) != 0 {
		t.Errorf("empty subnet marker: %v %v", subnets, err)
	}
	if s, err := ParseVnSubnets("a", nil); s != nil || err != nil {
		t.Errorf("nil attr: %v %v", s, err)
	}
	if _, err := ParseVnSubnets("a", decode(t, `{"ipam_subnets":{}}`)); err == nil || err.Error() != "a.ipam_subnets: an object is not a list" {
		t.Errorf("bad list: %v", err)
	}
	if _, err := ParseVnSubnets("a", decode(t, `{"ipam_subnets":[5]}`)); err == nil || err.Error() != "a.ipam_subnets[0]: 5 is not an object" {
		t.Errorf("bad entry: %v", err)
	}
	if _, err := ParseVnSubnets("a", decode(t, `{"ipam_subnets":[{"subnet":{"ip_prefix_len":24}}]}`)); err == nil || err.Error() != "a.ipam_subnets[0].subnet.ip_prefix: required" {
		t.Errorf("half prefix: %v", err)
	}

	// Flat-subnet IPAM property, including the built-in service-chain ipam.
	prop := decode(t, `{"subnets":[{"subnet":{"ip_prefix":"0.0.0.0","ip_prefix_len":8}},{"subnet":{"ip_prefix":"::ffff","ip_prefix_len":104}}]}`)
	subnets, err = ParseIpamSubnets("ipam_subnets", prop)
	if err != nil || len(subnets) != 2 || subnets[1].Path != "ipam_subnets.subnets[1]" || subnets[1].Key != "::ffff/104" {
		t.Fatalf("flat ipam: %v %v", subnets, err)
	}
	FillIpamSubnets(prop, subnets)
	if e := prop["subnets"].([]any)[1].(map[string]any); e["default_gateway"] != "::ff:fffe" {
		t.Errorf("flat fill: %v", e)
	}
}

func TestCheckOverlapsMany(t *testing.T) {
	var subnets []*Subnet
	for i := 0; i < 256; i++ {
		subnets = append(subnets, &Subnet{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)})
	}
	subnets = append(subnets, &Subnet{Prefix: netip.MustParsePrefix("fd00::/8")})
	if err := CheckOverlaps(subnets); err != nil {
		t.Fatal(err)
	}
	subnets = append(subnets, &Subnet{Prefix: netip.MustParsePrefix("10.77.128.0/17")})
	var oe *OverlapError
	if err := CheckOverlaps(subnets); !errors.As(err, &oe) || oe.A != subnets[77] || oe.B != subnets[len(subnets)-1] {
		t.Errorf("got %v", err)
	}
	dup := []*Subnet{{Prefix: netip.MustParsePrefix("fd00::/64")}, {Prefix: netip.MustParsePrefix("10.0.0.0/8")}, {Prefix: netip.MustParsePrefix("fd00::/64")}}
	if err := CheckOverlaps(dup); !errors.As(err, &oe) || oe.A != dup[0] || oe.B != dup[2] {
		t.Errorf("dup: %v", err)
	}
}

func TestSubnetIPCount(t *testing.T) {
	a := mustParse(t, `{"subnet":{"ip_prefix":"192.168.1.0","ip_prefix_len":30},"subnet_uuid":"00000000-0000-0000-0000-000000000001"}`)
	b := mustParse(t, `{"subnet":{"ip_prefix":"10.10.1.0","ip_prefix_len":29}}`)
	used := []netip.Addr{addr("10.10.1.4"), addr("10.10.1.3"), addr("10.10.1.3"), addr("10.10.1.6"), addr("8.8.8.8"), addr("192.168.1.1")}
	got := SubnetIPCount([]*Subnet{a, b}, []string{"192.168.1.0/30", "10.10.1.0/29", "00000000-0000-0000-0000-000000000001", "1.0.0.0/8"}, used)
	if want := []int{0, 2, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func TestMACFromUUID(t *testing.T) {
	tests := map[string]string{
		"8f2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d": "02:8f:2b:3c:4d:5e",
		"8F2B3C4D-5E6F-4A1B-9C2D-3E4F5A6B7C8D": "02:8f:2b:3c:4d:5e",
		"00000000-0000-0000-0000-000000000000": "02:00:00:00:00:00",
		"8f2b3c4d5e6f4a1b9c2d3e4f5a6b7c8d":     "02:8f:2b:3c:4d:5e",
		"8f2b3c4d-5":                           "",
		"zz2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d": "",
		"":                                     "",
	}
	for in, want := range tests {
		if got := MACFromUUID(in); got != want {
			t.Errorf("MACFromUUID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMAC(t *testing.T) {
	good := map[string]string{
		"00:1b:77:49:54:fd":  "00:1b:77:49:54:fd",
		"00:1B:77:49:54:FD":  "00:1b:77:49:54:fd",
		"0:1b:77:49:54:fd":   "00:1b:77:49:54:fd",
		"00-1B-77-49-54-FD":  "00:1b:77:49:54:fd",
		"001b.7749.54fd":     "00:1b:77:49:54:fd",
		"001B774954FD":       "00:1b:77:49:54:fd",
		" 02:00:00:00:00:01": "02:00:00:00:00:01",
	}
	for in, want := range good {
		if got, err := ParseMAC(in); err != nil || got != want {
			t.Errorf("ParseMAC(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "00:1b:77:49:54", "00:1b:77:49:54:fd:01", "00:1b:77:49:54:fg", "001:b:77:49:54:fd",
		"00:1b-77:49:54:fd", "00::1b:77:49:54", "001b.7749.54f", "001b774954f", "001b774954fdx", "00:1b:77:49:54:+f"} {
		if got, err := ParseMAC(in); err == nil {
			t.Errorf("ParseMAC(%q) = %q, want error", in, got)
		}
	}
}

// Next on a /8 with the first 100000 candidates taken must be quick: the
// walk is lazy and never materialises the address space.
func TestNextLargeFast(t *testing.T) {
	s := mustParse(t, `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":8}}`)
	const n = 100000
	takenSet := make(map[netip.Addr]struct{}, n)
	var want netip.Addr
	for a := range s.Candidates(nil) {
		if len(takenSet) == n {
			want = a
			break
		}
		takenSet[a] = struct{}{}
	}
	start := time.Now()
	got, ok := s.Next(func(a netip.Addr) bool { _, t := takenSet[a]; return t })
	el := time.Since(start)
	if !ok || got != want || want != addr("10.254.121.92") {
		t.Errorf("Next = %v %v, want %v", got, ok, want)
	}
	if el > 2*time.Second {
		t.Errorf("Next took %v", el)
	}
	// Large IPv6 prefixes likewise, in both directions.
	for _, fromStart := range []bool{false, true} {
		v6 := &Subnet{Prefix: netip.MustParsePrefix("2001:db8::/32"), AddrFromStart: fromStart}
		v6.Gateway, v6.DNS = DefaultGateway(v6.Prefix, fromStart), DefaultDNS(v6.Prefix, fromStart)
		count := 0
		a, ok := v6.Next(func(netip.Addr) bool { count++; return count <= n })
		if !ok || !v6.Contains(a) || v6.Reserved(a) || v6.Capacity() != math.MaxUint64 {
			t.Errorf("v6 fromStart=%v: %v %v", fromStart, a, ok)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	s := &Subnet{Prefix: netip.MustParsePrefix("10.0.0.0/8")}
	s.Gateway, s.DNS = DefaultGateway(s.Prefix, false), DefaultDNS(s.Prefix, false)
	b.Run("free", func(b *testing.B) {
		for b.Loop() {
			s.Next(nil)
		}
	})
	// A bitmap of the 4096 highest addresses taken: Next scans past them.
	b.Run("4096-taken", func(b *testing.B) {
		const taken = 4096
		_, last, _ := prefixBounds(s.Prefix)
		fn := func(a netip.Addr) bool {
			d, _ := last.sub(toU128(a))
			return d.hi == 0 && d.lo <= taken+3
		}
		for b.Loop() {
			s.Next(fn)
		}
	})
	b.Run("pools", func(b *testing.B) {
		p := mustParse(b, `{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":8},"allocation_pools":[
			{"start":"10.0.0.10","end":"10.0.0.100"},{"start":"10.1.0.0","end":"10.1.255.255"},{"start":"10.2.0.0","end":"10.2.0.10"}]}`)
		for b.Loop() {
			p.Next(nil)
		}
	})
}

// FuzzParseIpamSubnet feeds JSON objects to ParseIpamSubnet and checks the
// allocation invariants of every subnet that parses.
func FuzzParseIpamSubnet(f *testing.F) {
	for _, seed := range []string{
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24}}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":29},"addr_from_start":true}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":30},"default_gateway":"0.0.0.0"}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"allocation_pools":[{"start":"10.0.0.250","end":"10.0.0.255"},{"start":"10.0.0.0","end":"10.0.0.3"}]}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"alloc_unit":4,"default_gateway":"10.0.0.1","dns_server_address":"10.0.0.9"}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"alloc_unit":8,"allocation_pools":[{"start":"10.0.0.16","end":"10.0.0.31","vrouter_specific_pool":true},{"start":"10.0.0.248","end":"10.0.0.255"}]}`,
		`{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":64}}`,
		`{"subnet":{"ip_prefix":"fd00::","ip_prefix_len":126},"default_gateway":"::"}`,
		`{"subnet":{"ip_prefix":"::ffff","ip_prefix_len":104},"addr_from_start":true}`,
		`{"subnet":{"ip_prefix":"::","ip_prefix_len":0}}`,
		`{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":"24"},"dns_server_address":"10.0.0.254","default_gateway":"10.0.0.253"}`,
	} {
		f.Add([]byte(seed), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, takeMask uint16) {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil || m == nil {
			return
		}
		s, err := ParseIpamSubnet("f", m)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, "f") {
				t.Fatalf("error without path: %v", err)
			}
			return
		}
		capacity := s.Capacity()
		unit := s.unit()
		// taken pseudo-randomly rejects candidates according to takeMask,
		// for a bounded number of calls (a huge subnet that is all taken
		// would otherwise be scanned to the end).
		i := 0
		taken := func(netip.Addr) bool { i++; return i < 4096 && takeMask>>(i%16)&1 == 1 }
		seen := map[netip.Addr]bool{}
		var prev netip.Addr
		n := 0
		for a := range s.Candidates(taken) {
			if !s.Contains(a) || s.Reserved(a) || !s.InPools(a) {
				t.Fatalf("bad candidate %v (contains %v reserved %v inpools %v) for %s", a, s.Contains(a), s.Reserved(a), s.InPools(a), data)
			}
			if unit > 1 {
				last, _ := toU128(a).add64(unit - 1)
				if toU128(a).lo&(unit-1) != 0 || !s.InPools(last.addr(a.Is4())) {
					t.Fatalf("bad block %v unit %d", a, unit)
				}
				for _, r := range []netip.Addr{s.Gateway, s.DNS} {
					if r.IsValid() && s.Contains(r) && toU128(a).cmp(toU128(r)) <= 0 && toU128(r).cmp(last) <= 0 {
						t.Fatalf("block %v holds reserved %v", a, r)
					}
				}
			}
			if seen[a] {
				t.Fatalf("duplicate candidate %v", a)
			}
			seen[a] = true
			if prev.IsValid() && (prev.Less(a) != s.AddrFromStart) {
				t.Fatalf("order: %v after %v (fromStart %v)", a, prev, s.AddrFromStart)
			}
			if err := s.CheckAddr(a, false); err != nil {
				t.Fatalf("CheckAddr(%v): %v", a, err)
			}
			prev = a
			if n++; n == 64 {
				break
			}
		}
		// Without a taken function, a small subnet yields exactly Capacity
		// candidates.
		if capacity <= 512 {
			got := uint64(0)
			for range s.Candidates(nil) {
				if got++; got > capacity {
					break
				}
			}
			if got != capacity {
				t.Fatalf("capacity %d but %d candidates for %s", capacity, got, data)
			}
		} else if _, ok := s.Next(nil); !ok {
			t.Fatalf("capacity %d but Next fails", capacity)
		}
		// Fill then re-parse gives the same subnet.
		s.Fill(m)
		s2, err := ParseIpamSubnet("f", m)
		if err != nil {
			t.Fatalf("re-parse after Fill: %v (%v)", err, m)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", s, s2)
		}
	})
}
