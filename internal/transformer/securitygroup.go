// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"context"
	"fmt"

	"github.com/contrail-go/contrail/internal/confgraph"
	"github.com/contrail-go/contrail/internal/model"
)

// Names of the two ACL children of a security group, as the original's.
const (
	ingressACLName = "ingress-access-control-list"
	egressACLName  = "egress-access-control-list"
)

// isLocal reports whether an address of a group rule is the group itself.
func isLocal(addrs []address) bool {
	for _, a := range addrs {
		if a.SecurityGroup == "local" {
			return true
		}
	}
	return false
}

// groupACLs converts a security group's rules into its ingress and egress
// ACL entries. A rule whose destination is the group ("local") is an
// ingress rule matching traffic from its source; one whose source is the
// group is an egress rule matching traffic to its destination. Other
// groups named in a rule become their security_group_id.
func (t *Transformer) groupACLs(v *view, sg *confgraph.Node) (ingress, egress *aclEntries, problems []string) {
	ingress = &aclEntries{ACLRule: []aclRule{}}
	egress = &aclEntries{ACLRule: []aclRule{}}
	rules, err := t.policies.rules(sg, "security_group_entries")
	if err != nil {
		return ingress, egress, []string{err.Error()}
	}
	pass := map[string]any{"simple_action": "pass"}
	for i := range rules {
		r := &rules[i]
		prefix := fmt.Sprintf("rule %d: ", i)
		et := ethertypeOf(r.Ethertype)
		proto, err := aclProtocol(r.Protocol, et)
		if err != nil {
			problems = append(problems, prefix+err.Error())
			continue
		}
		var ps []string
		var list *aclEntries
		var srcs, dsts []address
		switch {
		case isLocal(r.DstAddresses):
			list = ingress
			srcs = resolveAddresses(v, r.SrcAddresses, sg, nil, &ps)
			dsts = []address{{}}
		case isLocal(r.SrcAddresses):
			list = egress
			srcs = []address{{}}
			dsts = resolveAddresses(v, r.DstAddresses, sg, nil, &ps)
		default:
			problems = append(problems, prefix+"neither source nor destination is the group (local)")
			continue
		}
		for _, s := range ps {
			problems = append(problems, prefix+s)
		}
		for _, s := range srcs {
			for _, sp := range portsOrAny(r.SrcPorts) {
				for _, d := range dsts {
					for _, dp := range portsOrAny(r.DstPorts) {
						list.ACLRule = append(list.ACLRule, aclRule{
							MatchCondition: matchCondition{Protocol: proto, SrcAddress: s, SrcPort: sp, DstAddress: d, DstPort: dp, Ethertype: et},
							ActionList:     pass, RuleUUID: r.RuleUUID, Direction: ">",
						})
					}
				}
			}
		}
	}
	return ingress, egress, problems
}

// reconcileGroup derives a security group's ingress and egress ACLs. The
// groups its rules name are dependencies, so the ACLs follow when one of
// them appears, goes or changes.
func (tm *term) reconcileGroup(ctx context.Context, r *rec, uuid string) (result, error) {
	t := tm.t
	t.g.RLock()
	v := newView(t.g)
	sg := v.get(uuid)
	if sg == nil {
		t.g.RUnlock()
		t.policies.forget(uuid)
		return result{gone: true}, nil
	}
	ingress, egress, problems := t.groupACLs(v, sg)
	var in, eg *model.Object
	for _, acl := range v.children(sg, "access-control-list") {
		switch acl.Obj.Name() {
		case ingressACLName:
			in = acl.Obj
		case egressACLName:
			eg = acl.Obj
		}
	}
	obj := sg.Obj
	t.deps.set(r.key, v)
	t.g.RUnlock()
	if err := r.syncACL(ctx, obj, "security-group", ingressACLName, in, ingress); err != nil {
		return result{}, err
	}
	if err := r.syncACL(ctx, obj, "security-group", egressACLName, eg, egress); err != nil {
		return result{}, err
	}
	tm.noteProblems(r, obj, problems)
	return result{}, r.syncError(ctx, obj, errorText(problems))
}
