// SPDX-License-Identifier: Apache-2.0

package security

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/contrail-go/contrail/internal/model"
)

// Action is what a rule does with the connections it matches.
type Action int

// Actions of a rule.
const (
	Pass Action = iota
	Deny
)

func (a Action) String() string {
	if a == Deny {
		return "deny"
	}
	return "pass"
}

// PortRange is an inclusive range of transport ports. The zero value means
// any port.
type PortRange struct{ Min, Max int }

// bounds returns the range to match, with the zero value and the schema's
// -1 both meaning any port.
func (p PortRange) bounds() (uint16, uint16) {
	lo, hi := p.Min, p.Max
	if (lo == 0 && hi == 0) || lo < 0 || hi < 0 {
		return 0, 65535
	}
	if hi > 65535 {
		hi = 65535
	}
	if lo > hi {
		return 1, 0 // empty
	}
	return uint16(lo), uint16(hi)
}

// Endpoint is one side of a rule. With nothing set it matches any address.
type Endpoint struct {
	Any      bool
	Prefixes []netip.Prefix
	SGID     int
	VN       string
}

// Rule is one entry of an access-control list.
type Rule struct {
	UUID               string
	Ethertype          string
	Protocol           int
	Src, Dst           Endpoint
	SrcPorts, DstPorts PortRange
	Action             Action
	Direction          string
	Ingress            bool
}

func (r *Rule) ipv6() bool { return strings.EqualFold(r.Ethertype, "IPv6") }

// FloatingIP is a floating address of a port.
type FloatingIP struct {
	Floating, Fixed netip.Addr
	FloatingTable   int
	PortTable       int
	FloatingDev     string
}

// Port is the desired enforcement at one port.
type Port struct {
	Name          string
	VN            string
	IPs           []netip.Addr
	PolicyEnabled bool
	HasSGs        bool
	SGRules       []Rule
	VNRules       []Rule
	FloatingIPs   []FloatingIP
}

// State is everything Reconcile enforces.
type State struct {
	Ports      []Port
	SGMembers  map[int][]netip.Prefix
	VNPrefixes map[string][]netip.Prefix
}

// RuleCounter is the traffic one rule of one port has allowed (or, for the
// deny kinds, the packets no rule allowed).
type RuleCounter struct {
	Port           string
	Kind           string
	RuleUUID       string
	Action         Action
	Packets, Bytes uint64
}

// Counter kinds.
const (
	KindSGIngress   = "sg-ingress"
	KindSGEgress    = "sg-egress"
	KindVNIngress   = "vn-ingress"
	KindVNEgress    = "vn-egress"
	KindDenyIngress = "deny-ingress"
	KindDenyEgress  = "deny-egress"
)

// JSON shapes of AclEntriesType as the schema transformer writes them.
type aclSubnet struct {
	IPPrefix    string `json:"ip_prefix"`
	IPPrefixLen int    `json:"ip_prefix_len"`
}

type aclAddress struct {
	Subnet         *aclSubnet  `json:"subnet"`
	VirtualNetwork string      `json:"virtual_network"`
	SecurityGroup  string      `json:"security_group"`
	NetworkPolicy  string      `json:"network_policy"`
	SubnetList     []aclSubnet `json:"subnet_list"`
}

type aclPort struct {
	Start *int `json:"start_port"`
	End   *int `json:"end_port"`
}

type aclEntry struct {
	MatchCondition struct {
		Protocol   string     `json:"protocol"`
		SrcAddress aclAddress `json:"src_address"`
		SrcPort    *aclPort   `json:"src_port"`
		DstAddress aclAddress `json:"dst_address"`
		DstPort    *aclPort   `json:"dst_port"`
		Ethertype  string     `json:"ethertype"`
	} `json:"match_condition"`
	ActionList map[string]json.RawMessage `json:"action_list"`
	RuleUUID   string                     `json:"rule_uuid"`
	Direction  string                     `json:"direction"`
}

// RulesFromACL decodes the access_control_list_entries of an
// access-control-list object. Entries it cannot enforce are skipped and
// named in the returned error; the rules returned are usable either way.
func RulesFromACL(obj *model.Object) ([]Rule, error) {
	if obj == nil {
		return nil, errors.New("security: nil access-control-list")
	}
	var entries struct {
		ACLRule []aclEntry `json:"acl_rule"`
	}
	raw, ok := obj.Props["access_control_list_entries"]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("security: %s: access_control_list_entries: %w", obj.FQNameString(), err)
	}
	ingress := obj.Name() == "ingress-access-control-list"
	var out []Rule
	var problems []string
	for i, e := range entries.ACLRule {
		r, err := ruleFromEntry(&e)
		if err != nil {
			problems = append(problems, fmt.Sprintf("entry %d: %v", i, err))
			continue
		}
		r.Ingress = ingress
		out = append(out, r)
	}
	if len(problems) > 0 {
		return out, fmt.Errorf("security: %s: %s", obj.FQNameString(), strings.Join(problems, "; "))
	}
	return out, nil
}

func ruleFromEntry(e *aclEntry) (Rule, error) {
	mc := &e.MatchCondition
	r := Rule{UUID: e.RuleUUID, Direction: e.Direction, Ethertype: mc.Ethertype, Protocol: -1}
	if r.Ethertype == "" {
		r.Ethertype = "IPv4"
	}
	switch p := strings.ToLower(strings.TrimSpace(mc.Protocol)); p {
	case "", "any":
	default:
		n, err := strconv.Atoi(p)
		if err != nil {
			named := map[string]int{"icmp": 1, "tcp": 6, "udp": 17, "icmp6": 58, "ipv6-icmp": 58, "sctp": 132}
			v, ok := named[p]
			if !ok {
				return r, fmt.Errorf("unknown protocol %q", mc.Protocol)
			}
			n = v
			if p == "icmp" && r.ipv6() {
				n = 58
			}
		}
		if n < 0 || n > 255 {
			return r, fmt.Errorf("protocol %d out of range", n)
		}
		r.Protocol = n
	}
	var err error
	if r.Src, err = endpointOf(mc.SrcAddress); err != nil {
		return r, fmt.Errorf("src_address: %w", err)
	}
	if r.Dst, err = endpointOf(mc.DstAddress); err != nil {
		return r, fmt.Errorf("dst_address: %w", err)
	}
	r.SrcPorts = portsOf(mc.SrcPort)
	r.DstPorts = portsOf(mc.DstPort)
	var simple string
	if a, ok := e.ActionList["simple_action"]; ok {
		_ = json.Unmarshal(a, &simple)
	}
	switch simple {
	case "pass":
		r.Action = Pass
	case "deny", "":
		r.Action = Deny
	default:
		return r, fmt.Errorf("unknown simple_action %q", simple)
	}
	if a, ok := e.ActionList["apply_service"]; ok {
		var l []string
		if json.Unmarshal(a, &l) == nil && len(l) > 0 {
			return r, errors.New("service chains (apply_service) are not enforced")
		}
	}
	return r, nil
}

func endpointOf(a aclAddress) (Endpoint, error) {
	switch {
	case a.VirtualNetwork == "any":
		return Endpoint{Any: true}, nil
	case a.VirtualNetwork != "" && a.VirtualNetwork != "local":
		return Endpoint{VN: a.VirtualNetwork}, nil
	case a.SecurityGroup != "" && a.SecurityGroup != "local" && a.SecurityGroup != "any":
		id, err := strconv.Atoi(a.SecurityGroup)
		if err != nil {
			return Endpoint{}, fmt.Errorf("security_group %q is not a security_group_id", a.SecurityGroup)
		}
		return Endpoint{SGID: id}, nil
	case a.NetworkPolicy != "":
		return Endpoint{}, fmt.Errorf("network_policy %q is not resolved to networks", a.NetworkPolicy)
	case a.Subnet != nil:
		p, err := prefixOf(*a.Subnet)
		if err != nil {
			return Endpoint{}, err
		}
		return Endpoint{Prefixes: []netip.Prefix{p}}, nil
	case len(a.SubnetList) > 0:
		var ps []netip.Prefix
		for _, s := range a.SubnetList {
			p, err := prefixOf(s)
			if err != nil {
				return Endpoint{}, err
			}
			ps = append(ps, p)
		}
		return Endpoint{Prefixes: ps}, nil
	}
	return Endpoint{}, nil
}

func prefixOf(s aclSubnet) (netip.Prefix, error) {
	a, err := netip.ParseAddr(s.IPPrefix)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet %q: %w", s.IPPrefix, err)
	}
	p, err := a.Prefix(s.IPPrefixLen)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet %s/%d: %w", s.IPPrefix, s.IPPrefixLen, err)
	}
	return p, nil
}

func portsOf(p *aclPort) PortRange {
	if p == nil {
		return PortRange{0, 65535}
	}
	r := PortRange{0, 65535}
	if p.Start != nil {
		r.Min = *p.Start
	}
	if p.End != nil {
		r.Max = *p.End
	}
	if r.Min < 0 || r.Max < 0 {
		return PortRange{0, 65535}
	}
	return r
}

// isAny reports whether e matches any address.
func (e Endpoint) isAny() bool {
	return e.Any || (len(e.Prefixes) == 0 && e.SGID == 0 && e.VN == "")
}

// resolve returns the prefixes of family v6 an endpoint stands for; any is
// the whole family.
func (s *State) resolve(e Endpoint, v6 bool) []netip.Prefix {
	if e.isAny() {
		if v6 {
			return []netip.Prefix{netip.MustParsePrefix("::/0")}
		}
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	}
	var in []netip.Prefix
	in = append(in, e.Prefixes...)
	if e.SGID != 0 {
		in = append(in, s.SGMembers[e.SGID]...)
	}
	if e.VN != "" {
		in = append(in, s.VNPrefixes[e.VN]...)
	}
	var out []netip.Prefix
	for _, p := range in {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Addr().Is6() == v6 {
			out = append(out, p)
		}
	}
	return out
}
