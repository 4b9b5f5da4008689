// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/contrail-go/contrail/internal/confgraph"
)

// Fixed rule uuids of the implicit rules of a network's ACL, as the
// original's (...-100000000001 allows traffic inside the network,
// ...-100000000002 denies everything no policy allowed).
const (
	implicitAllowUUID = "00000000-0000-0000-0000-100000000001"
	implicitDenyUUID  = "00000000-0000-0000-0000-100000000002"
)

// protocols maps protocol names of rules to the IP protocol numbers the
// ACLs carry.
var protocols = map[string]string{
	"icmp": "1", "igmp": "2", "tcp": "6", "udp": "17", "gre": "47", "esp": "50",
	"ah": "51", "icmp6": "58", "ipv6-icmp": "58", "ospf": "89", "pim": "103", "vrrp": "112", "sctp": "132",
}

// aclProtocol converts a rule's protocol for an ACL: "any" stays, names
// become numbers (icmp is 58 for IPv6), numbers 0-255 stay.
func aclProtocol(proto, ethertype string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(proto))
	switch {
	case p == "" || p == "any":
		return "any", nil
	case p == "icmp" && ethertype == "IPv6":
		return "58", nil
	}
	if n, ok := protocols[p]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
		return strconv.Itoa(n), nil
	}
	return "", fmt.Errorf("unknown protocol %q", proto)
}

func ethertypeOf(e string) string {
	if e == "" {
		return "IPv4"
	}
	return e
}

// policyCache keeps the decoded rules of each policy (and group) by uuid
// and revision, since every network that looks at a peer's policies would
// otherwise decode them again.
type policyCache struct {
	mu sync.Mutex
	m  map[string]cachedRules
}

type cachedRules struct {
	modRev int64
	rules  []policyRule
	err    error
}

func newPolicyCache() *policyCache { return &policyCache{m: map[string]cachedRules{}} }

// rules returns the decoded prop (network_policy_entries or
// security_group_entries) of n.
func (c *policyCache) rules(n *confgraph.Node, prop string) ([]policyRule, error) {
	c.mu.Lock()
	e, ok := c.m[n.Obj.UUID]
	c.mu.Unlock()
	if ok && e.modRev == n.ModRev {
		return e.rules, e.err
	}
	var pe policyEntries
	var err error
	if raw, ok := n.Obj.Props[prop]; ok && len(raw) > 0 && string(raw) != "null" {
		if uerr := json.Unmarshal(raw, &pe); uerr != nil {
			err = fmt.Errorf("%s: %v", prop, uerr)
		}
	}
	c.mu.Lock()
	c.m[n.Obj.UUID] = cachedRules{modRev: n.ModRev, rules: pe.PolicyRule, err: err}
	c.mu.Unlock()
	return pe.PolicyRule, err
}

func (c *policyCache) forget(uuid string) {
	c.mu.Lock()
	delete(c.m, uuid)
	c.mu.Unlock()
}

// projectFQ returns the fq-name of the project of an object under a
// project (policies, groups, networks).
func projectFQ(n *confgraph.Node) []string {
	fq := n.Obj.FQName
	if len(fq) < 2 {
		return nil
	}
	return fq[:len(fq)-1]
}

// attachedPolicies returns the policies of a network, in the order of the
// sequence on the refs (then by fq-name), as the original applies them.
func attachedPolicies(v *view, vn *confgraph.Node) []*confgraph.Node {
	type seqd struct {
		n            *confgraph.Node
		major, minor int
	}
	var list []seqd
	for _, r := range vn.Obj.Refs["network_policy_refs"] {
		n := v.get(r.UUID)
		if n == nil {
			continue
		}
		var attr struct {
			Sequence *struct {
				Major int `json:"major"`
				Minor int `json:"minor"`
			} `json:"sequence"`
		}
		if len(r.Attr) > 0 {
			_ = json.Unmarshal(r.Attr, &attr)
		}
		s := seqd{n: n}
		if attr.Sequence != nil {
			s.major, s.minor = attr.Sequence.Major, attr.Sequence.Minor
		}
		list = append(list, s)
	}
	slices.SortStableFunc(list, func(a, b seqd) int {
		if c := cmp.Compare(a.major, b.major); c != 0 {
			return c
		}
		if c := cmp.Compare(a.minor, b.minor); c != 0 {
			return c
		}
		return strings.Compare(a.n.Obj.FQNameString(), b.n.Obj.FQNameString())
	})
	out := make([]*confgraph.Node, len(list))
	for i, s := range list {
		out[i] = s.n
	}
	return out
}

// allowsConnection reports whether a rule can make networks talk: a pass
// action without services (service chains are built elsewhere).
func allowsConnection(r *policyRule) bool {
	if r.ActionList == nil {
		return false
	}
	if s, _ := r.ActionList["simple_action"].(string); s != "pass" {
		return false
	}
	if l, ok := r.ActionList["apply_service"].([]any); ok && len(l) > 0 {
		return false
	}
	return true
}

// ruleNetworks returns the networks (by uuid) an address list of a policy
// rule names, seen from network self: "local" is self, names are looked
// up relative to the policy's project, a network_policy address stands for
// every network that policy is attached to. "any", subnets and groups name
// no network.
func ruleNetworks(v *view, addrs []address, policy, self *confgraph.Node) map[string]bool {
	out := map[string]bool{}
	for _, a := range addrs {
		switch {
		case a.VirtualNetwork == "local":
			out[self.Obj.UUID] = true
		case a.VirtualNetwork != "" && a.VirtualNetwork != "any":
			if n := v.lookup("virtual-network", fqOf(a.VirtualNetwork, projectFQ(policy))); n != nil {
				out[n.Obj.UUID] = true
			}
		case a.NetworkPolicy != "":
			if p := v.lookup("network-policy", fqOf(a.NetworkPolicy, projectFQ(policy))); p != nil {
				for _, vn := range v.backRefs(p, "virtual-network") {
					out[vn.Obj.UUID] = true
				}
			}
		}
	}
	return out
}

// wantedPeers returns the networks that vn's own policies allow it to
// talk to. A connection is made only when both sides want it.
func (t *Transformer) wantedPeers(v *view, vn *confgraph.Node) map[string]bool {
	out := map[string]bool{}
	for _, p := range attachedPolicies(v, vn) {
		rules, _ := t.policies.rules(p, "network_policy_entries")
		for i := range rules {
			r := &rules[i]
			if !allowsConnection(r) {
				continue
			}
			src := ruleNetworks(v, r.SrcAddresses, p, vn)
			dst := ruleNetworks(v, r.DstAddresses, p, vn)
			if src[vn.Obj.UUID] {
				maps.Copy(out, dst)
			}
			if r.Direction == "<>" && dst[vn.Obj.UUID] {
				maps.Copy(out, src)
			}
		}
	}
	delete(out, vn.Obj.UUID)
	return out
}

// resolveAddress turns a rule address into the ACL addresses it stands
// for, seen from network self (nil self: from a security group). It
// returns a problem text for names that do not resolve; such an address
// matches nothing and is left out.
func resolveAddress(v *view, a address, holder, self *confgraph.Node) ([]address, string) {
	proj := projectFQ(holder)
	switch {
	case a.VirtualNetwork == "any":
		return []address{{VirtualNetwork: "any"}}, ""
	case a.VirtualNetwork == "local":
		if self == nil {
			return []address{{}}, ""
		}
		return []address{{VirtualNetwork: self.Obj.FQNameString()}}, ""
	case a.VirtualNetwork != "":
		fq := fqOf(a.VirtualNetwork, proj)
		if v.lookup("virtual-network", fq) == nil {
			return nil, fmt.Sprintf("virtual network %s does not exist", fq)
		}
		return []address{{VirtualNetwork: fq}}, ""
	case a.SecurityGroup == "local" || a.SecurityGroup == "any":
		return []address{{}}, ""
	case a.SecurityGroup != "":
		fq := fqOf(a.SecurityGroup, proj)
		sg := v.lookup("security-group", fq)
		if sg == nil {
			return nil, fmt.Sprintf("security group %s does not exist", fq)
		}
		var id json.Number
		if !sg.Obj.Prop("security_group_id", &id) {
			return nil, fmt.Sprintf("security group %s has no id yet", fq)
		}
		return []address{{SecurityGroup: id.String()}}, ""
	case a.NetworkPolicy != "":
		fq := fqOf(a.NetworkPolicy, proj)
		p := v.lookup("network-policy", fq)
		if p == nil {
			return nil, fmt.Sprintf("network policy %s does not exist", fq)
		}
		var out []address
		for _, vn := range v.backRefs(p, "virtual-network") {
			out = append(out, address{VirtualNetwork: vn.Obj.FQNameString()})
		}
		slices.SortFunc(out, func(a, b address) int { return strings.Compare(a.VirtualNetwork, b.VirtualNetwork) })
		return out, ""
	case a.Subnet != nil:
		return []address{{Subnet: a.Subnet}}, ""
	case len(a.SubnetList) > 0:
		return []address{{SubnetList: a.SubnetList}}, ""
	}
	return []address{{}}, ""
}

// resolveAddresses resolves a list of addresses; problems are collected.
func resolveAddresses(v *view, addrs []address, holder, self *confgraph.Node, problems *[]string) []address {
	var out []address
	for _, a := range addrs {
		res, p := resolveAddress(v, a, holder, self)
		if p != "" {
			*problems = append(*problems, p)
		}
		out = append(out, res...)
	}
	return out
}

func portsOrAny(p []portRange) []portRange {
	if len(p) == 0 {
		return []portRange{anyPort}
	}
	return p
}

// copyAction returns the action list of an ACL rule: the rule's, as is.
func copyAction(a map[string]any) map[string]any {
	if a == nil {
		return map[string]any{"simple_action": "deny"}
	}
	return a
}

// networkACL builds the ACL entries of network vn from its policies: every
// rule resolved (names to fq-names, groups to their ids, policies to their
// networks) and expanded to one ACL rule per address and port pair, a
// reverse rule for "<>", then the implicit rules. Problems with a rule
// belong to its policy (reconcilePolicy reports them); here the rule is
// just left out.
func (t *Transformer) networkACL(v *view, vn *confgraph.Node, policies []*confgraph.Node) *aclEntries {
	e := &aclEntries{ACLRule: []aclRule{}}
	var problems []string
	for _, p := range policies {
		rules, err := t.policies.rules(p, "network_policy_entries")
		if err != nil {
			continue
		}
		for i := range rules {
			r := &rules[i]
			et := ethertypeOf(r.Ethertype)
			proto, err := aclProtocol(r.Protocol, et)
			if err != nil {
				continue
			}
			srcs := resolveAddresses(v, r.SrcAddresses, p, vn, &problems)
			dsts := resolveAddresses(v, r.DstAddresses, p, vn, &problems)
			action := copyAction(r.ActionList)
			for _, s := range srcs {
				for _, sp := range portsOrAny(r.SrcPorts) {
					for _, d := range dsts {
						for _, dp := range portsOrAny(r.DstPorts) {
							e.ACLRule = append(e.ACLRule, aclRule{
								MatchCondition: matchCondition{Protocol: proto, SrcAddress: s, SrcPort: sp, DstAddress: d, DstPort: dp, Ethertype: et},
								ActionList:     action, RuleUUID: r.RuleUUID, Direction: r.Direction,
							})
							if r.Direction == "<>" {
								e.ACLRule = append(e.ACLRule, aclRule{
									MatchCondition: matchCondition{Protocol: proto, SrcAddress: d, SrcPort: dp, DstAddress: s, DstPort: sp, Ethertype: et},
									ActionList:     action, RuleUUID: r.RuleUUID, Direction: r.Direction,
								})
							}
						}
					}
				}
			}
		}
	}
	self := address{VirtualNetwork: vn.Obj.FQNameString()}
	for _, et := range []string{"IPv4", "IPv6"} {
		e.ACLRule = append(e.ACLRule, aclRule{
			MatchCondition: matchCondition{Protocol: "any", SrcAddress: self, SrcPort: anyPort, DstAddress: self, DstPort: anyPort, Ethertype: et},
			ActionList:     map[string]any{"simple_action": "pass"}, RuleUUID: implicitAllowUUID,
		})
	}
	for _, et := range []string{"IPv4", "IPv6"} {
		e.ACLRule = append(e.ACLRule, aclRule{
			MatchCondition: matchCondition{Protocol: "any", SrcAddress: address{VirtualNetwork: "any"}, SrcPort: anyPort,
				DstAddress: address{VirtualNetwork: "any"}, DstPort: anyPort, Ethertype: et},
			ActionList: map[string]any{"simple_action": "deny"}, RuleUUID: implicitDenyUUID,
		})
	}
	return e
}

// policyProblems checks the rules of a policy for bad input: names of
// networks, groups and policies that do not exist, unknown protocols,
// port ranges out of order.
func (t *Transformer) policyProblems(v *view, p *confgraph.Node) []string {
	rules, err := t.policies.rules(p, "network_policy_entries")
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for i := range rules {
		r := &rules[i]
		prefix := fmt.Sprintf("rule %d: ", i)
		if _, err := aclProtocol(r.Protocol, ethertypeOf(r.Ethertype)); err != nil {
			problems = append(problems, prefix+err.Error())
		}
		var ps []string
		resolveAddresses(v, r.SrcAddresses, p, nil, &ps)
		resolveAddresses(v, r.DstAddresses, p, nil, &ps)
		for _, s := range ps {
			problems = append(problems, prefix+s)
		}
		for _, pr := range append(slices.Clone(r.SrcPorts), r.DstPorts...) {
			if pr.StartPort > pr.EndPort && pr.EndPort != -1 {
				problems = append(problems, fmt.Sprintf("%sport range %d-%d is empty", prefix, pr.StartPort, pr.EndPort))
			}
		}
	}
	return problems
}

// reconcilePolicy keeps the error state of a network policy: the ACLs and
// connections it gives are derived per network (reconcileNetwork), which
// reads the policy and so runs again when it changes.
func (tm *term) reconcilePolicy(ctx context.Context, r *rec, uuid string) (result, error) {
	t := tm.t
	t.g.RLock()
	v := newView(t.g)
	p := v.get(uuid)
	if p == nil {
		t.g.RUnlock()
		t.policies.forget(uuid)
		return result{gone: true}, nil
	}
	problems := t.policyProblems(v, p)
	obj := p.Obj
	t.deps.set(r.key, v)
	t.g.RUnlock()
	tm.noteProblems(r, obj, problems)
	return result{}, r.syncError(ctx, obj, errorText(problems))
}
