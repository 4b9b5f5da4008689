// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"encoding/json"
	"hash/fnv"
	"strings"

	"github.com/contrail-go/contrail/internal/model"
)

// JSON shapes of the schema types the transformer reads and writes
// (vnc_cfg.xsd: PolicyRuleType, AclRuleType, MatchConditionType, ...;
// bgp_schema.xsd: StaticRouteType, InstanceTargetType). Field names are the
// JSON names of the schema.

type subnet struct {
	IPPrefix    string `json:"ip_prefix"`
	IPPrefixLen int    `json:"ip_prefix_len"`
}

// address is AddressType: at most one of its fields is set; none means any.
type address struct {
	Subnet         *subnet  `json:"subnet,omitempty"`
	VirtualNetwork string   `json:"virtual_network,omitempty"`
	SecurityGroup  string   `json:"security_group,omitempty"`
	NetworkPolicy  string   `json:"network_policy,omitempty"`
	SubnetList     []subnet `json:"subnet_list,omitempty"`
}

// portRange is PortType. Missing ends take the schema defaults 0 and 65535.
type portRange struct {
	StartPort int `json:"start_port"`
	EndPort   int `json:"end_port"`
}

// UnmarshalJSON applies the schema defaults of PortType.
func (p *portRange) UnmarshalJSON(b []byte) error {
	var raw struct {
		Start *int `json:"start_port"`
		End   *int `json:"end_port"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.StartPort, p.EndPort = 0, 65535
	if raw.Start != nil {
		p.StartPort = *raw.Start
	}
	if raw.End != nil {
		p.EndPort = *raw.End
	}
	return nil
}

var anyPort = portRange{StartPort: 0, EndPort: 65535}

// policyRule is PolicyRuleType, the rule of network policies and security
// groups.
type policyRule struct {
	RuleUUID     string         `json:"rule_uuid,omitempty"`
	Direction    string         `json:"direction"`
	Protocol     string         `json:"protocol"`
	SrcAddresses []address      `json:"src_addresses"`
	SrcPorts     []portRange    `json:"src_ports"`
	DstAddresses []address      `json:"dst_addresses"`
	DstPorts     []portRange    `json:"dst_ports"`
	ActionList   map[string]any `json:"action_list"`
	Ethertype    string         `json:"ethertype"`
}

type policyEntries struct {
	PolicyRule []policyRule `json:"policy_rule"`
}

// matchCondition is MatchConditionType.
type matchCondition struct {
	Protocol   string    `json:"protocol"`
	SrcAddress address   `json:"src_address"`
	SrcPort    portRange `json:"src_port"`
	DstAddress address   `json:"dst_address"`
	DstPort    portRange `json:"dst_port"`
	Ethertype  string    `json:"ethertype"`
}

// aclRule is AclRuleType.
type aclRule struct {
	MatchCondition matchCondition `json:"match_condition"`
	ActionList     map[string]any `json:"action_list"`
	RuleUUID       string         `json:"rule_uuid,omitempty"`
	Direction      string         `json:"direction,omitempty"`
}

// aclEntries is AclEntriesType, the access_control_list_entries property.
type aclEntries struct {
	Dynamic bool      `json:"dynamic"`
	ACLRule []aclRule `json:"acl_rule"`
}

// hash is the access_control_list_hash of the entries: FNV-64a of their
// JSON, kept below 2^63 so that every JSON reader takes it as an integer.
// The transformer compares it to decide whether an ACL needs a write.
func (e *aclEntries) hash() uint64 {
	if e.ACLRule == nil {
		e.ACLRule = []aclRule{}
	}
	b, _ := json.Marshal(e)
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64() & (1<<63 - 1)
}

// staticRoute is StaticRouteType, one entry of a routing instance's
// static_route_entries.
type staticRoute struct {
	Prefix      string   `json:"prefix"`
	NextHop     string   `json:"next_hop"`
	RouteTarget []string `json:"route_target,omitempty"`
	Community   []string `json:"community,omitempty"`
}

type staticRouteEntries struct {
	Route []staticRoute `json:"route"`
}

// routeTableRoutes is RouteTableType, the routes of a route-table.
type routeTableRoutes struct {
	Route []struct {
		Prefix              string `json:"prefix"`
		NextHop             string `json:"next_hop"`
		NextHopType         string `json:"next_hop_type"`
		CommunityAttributes *struct {
			CommunityAttribute []string `json:"community_attribute"`
		} `json:"community_attributes"`
	} `json:"route"`
}

// routeTargetList is RouteTargetList (route_target_list and friends).
type routeTargetList struct {
	RouteTarget []string `json:"route_target"`
}

type keyValuePair struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type keyValuePairs struct {
	KeyValuePair []keyValuePair `json:"key_value_pair"`
}

// Annotation keys the transformer writes on objects.
const (
	// ErrorAnnotation holds, on a user's object, why the transformer could
	// not derive all of it; it is removed once the object is fine.
	ErrorAnnotation = "schema-transformer-error"
	// OwnedAnnotation marks objects the transformer created and may
	// garbage-collect (route targets named in a network's lists).
	OwnedAnnotation = "schema-transformer-owned"
)

// annotation returns the value of an annotation key of o.
func annotation(o *model.Object, key string) (string, bool) {
	var kv keyValuePairs
	if !o.Prop("annotations", &kv) {
		return "", false
	}
	for _, p := range kv.KeyValuePair {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// Directions of a route target on a routing instance (InstanceTargetType).
const (
	rtImport = 1
	rtExport = 2
	rtBoth   = rtImport | rtExport
)

// rtDir decodes the attr of a route_target_refs entry: no import_export
// means both.
func rtDir(attr json.RawMessage) int {
	var a struct {
		ImportExport string `json:"import_export"`
	}
	if len(attr) > 0 {
		_ = json.Unmarshal(attr, &a)
	}
	switch a.ImportExport {
	case "import":
		return rtImport
	case "export":
		return rtExport
	}
	return rtBoth
}

// rtAttr encodes a direction as the attr of a route_target_refs entry.
func rtAttr(dir int) map[string]any {
	switch dir {
	case rtImport:
		return map[string]any{"import_export": "import"}
	case rtExport:
		return map[string]any{"import_export": "export"}
	}
	return map[string]any{}
}

// fqString joins an fq-name.
func fqString(fq []string) string { return strings.Join(fq, ":") }

// fqOf resolves a name given in a rule: a full fq-name ("d:p:vn") as is, a
// short one relative to the project of the object that holds the rule.
func fqOf(name string, projectFQ []string) string {
	if strings.Contains(name, ":") || len(projectFQ) == 0 {
		return name
	}
	return fqString(projectFQ) + ":" + name
}
