// SPDX-License-Identifier: Apache-2.0

package security

import (
	"github.com/contrail-go/contrail/internal/testutil/nstest"
	"testing"

	"github.com/vishvananda/netlink"
)

func netlinkRule(t *testing.T, n *nstest.NS, prio int, mark uint32, table int) *netlink.Rule {
	t.Helper()
	r := netlink.NewRule()
	r.Priority, r.Mark, r.Table = prio, mark, table
	if err := n.H.RuleAdd(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func hasRule(t *testing.T, n *nstest.NS, want *netlink.Rule) bool {
	t.Helper()
	rules, err := n.H.RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Priority == want.Priority && r.Mark == want.Mark && r.Table == want.Table {
			return true
		}
	}
	return false
}

func countOwnedRules(t *testing.T, n *nstest.NS) int {
	t.Helper()
	rules, err := n.H.RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, r := range rules {
		if r.Priority >= RulePriority && r.Priority < RulePriority+1000 {
			k++
		}
	}
	return k
}
