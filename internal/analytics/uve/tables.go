// SPDX-License-Identifier: Apache-2.0

package uve

import "sort"

// typeTables is the original's UVE_MAP (viz.sandesh): the analytics API's
// UVE type names and the object table that holds their keys.
var typeTables = map[string]string{
	"virtual-network":            "ObjectVNTable",
	"virtual-machine":            "ObjectVMTable",
	"virtual-machine-interface":  "ObjectVMITable",
	"service-instance":           "ObjectSITable",
	"loadbalancer":               "ObjectLBTable",
	"vrouter":                    "ObjectVRouter",
	"control-node":               "ObjectBgpRouter",
	"bgp-peer":                   "ObjectBgpPeer",
	"routing-instance":           "ObjectRoutingInstance",
	"xmpp-peer":                  "ObjectXmppPeerInfo",
	"analytics-node":             "ObjectCollectorInfo",
	"analytics-alarm-node":       "ObjectAnalyticsAlarmInfo",
	"analytics-snmp-node":        "ObjectAnalyticsSNMPInfo",
	"database-node":              "ObjectDatabaseInfo",
	"config-database-node":       "ObjectConfigDatabaseInfo",
	"generator":                  "ObjectGeneratorInfo",
	"config-node":                "ObjectConfigNode",
	"service-chain":              "ServiceChain",
	"dns-node":                   "ObjectDns",
	"storage-pool":               "ObjectPoolTable",
	"storage-osd":                "ObjectOsdTable",
	"storage-disk":               "ObjectDiskTable",
	"server":                     "ObjectServerTable",
	"prouter":                    "ObjectPRouter",
	"physical-interface":         "ObjectPhysicalInterfaceTable",
	"logical-interface":          "ObjectLogicalInterfaceTable",
	"storage-cluster":            "ObjectStorageClusterTable",
	"user-defined-log-statistic": "UserDefinedLogStatTable",
	"kubernetes-manager-node":    "ObjectKubernetesManagerNode",
	"tag":                        "ObjectTagTable",
	"project":                    "ObjectProjectTable",
	"firewall-policy":            "ObjectFirewallPolicyTable",
	"firewall-rule":              "ObjectFirewallRuleTable",
	"address-group":              "ObjectAddressGroupTable",
	"service-group":              "ObjectServiceGroupTable",
	"application-policy-set":     "ObjectApplicationPolicySetTable",
	"job-execution":              "ObjectJobExecutionTable",
}

var tableTypes = func() map[string]string {
	m := make(map[string]string, len(typeTables))
	for t, tab := range typeTables {
		m[tab] = t
	}
	return m
}()

// TableOf returns the object table of a UVE type ("virtual-network" ->
// "ObjectVNTable"). A name that is already a table, or unknown, is
// returned as it is.
func TableOf(typ string) string {
	if t, ok := typeTables[typ]; ok {
		return t
	}
	return typ
}

// TypeOf returns the UVE type of an object table ("ObjectVNTable" ->
// "virtual-network"); a table outside the map is its own type.
func TypeOf(table string) string {
	if t, ok := tableTypes[table]; ok {
		return t
	}
	return table
}

// KnownTypes lists the UVE types of the original's UVE_MAP, sorted.
func KnownTypes() []string {
	out := make([]string, 0, len(typeTables))
	for t := range typeTables {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
