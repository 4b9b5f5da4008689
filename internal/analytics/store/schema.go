// SPDX-License-Identifier: Apache-2.0

package store

import (
	"sort"
	"strings"
	"time"
)

// Names of the static tables, as the original's viz.sandesh names them.
const (
	MessageTable    = "MessageTable"
	FlowRecordTable = "FlowRecordTable"
	FlowSeriesTable = "FlowSeriesTable"
	StatTablePrefix = "StatTable."
	// ConfigObjectTable holds the config audit log (config API changes).
	ConfigObjectTable = "ConfigObjectTable"
)

// Kind is the retention class of a table (the original's TtlType).
type Kind int

// Retention classes.
const (
	KindGlobal      Kind = iota // messages, object logs and anything else: 48 h
	KindFlow                    // flow records and flow series: 2 h
	KindStats                   // StatTable.*: 168 h
	KindConfigAudit             // ConfigObjectTable*: 2160 h
)

// String names the kind as the collector options do.
func (k Kind) String() string {
	switch k {
	case KindFlow:
		return "flow"
	case KindStats:
		return "statistics"
	case KindConfigAudit:
		return "config-audit"
	default:
		return "global"
	}
}

// DefaultTTL returns the original's default time to live of a kind
// (TtlValuesDefault: flow 2 h, statistics 168 h, config audit 2160 h,
// global 48 h).
func DefaultTTL(k Kind) time.Duration {
	switch k {
	case KindFlow:
		return 2 * time.Hour
	case KindStats:
		return 168 * time.Hour
	case KindConfigAudit:
		return 2160 * time.Hour
	default:
		return 48 * time.Hour
	}
}

// TableKind tells the retention class of a table by its name.
func TableKind(table string) Kind {
	switch {
	case table == FlowRecordTable, table == FlowSeriesTable,
		strings.HasPrefix(table, "Session"), table == "OverlayToUnderlayFlowMap":
		return KindFlow
	case strings.HasPrefix(table, StatTablePrefix):
		return KindStats
	case strings.HasPrefix(table, ConfigObjectTable):
		return KindConfigAudit
	default:
		return KindGlobal
	}
}

// IsFlowTable tells whether a table holds flows (and so takes the query's dir).
func IsFlowTable(table string) bool {
	return table == FlowRecordTable || table == FlowSeriesTable
}

// IsObjectTable tells whether a table is one of the object-log tables.
func IsObjectTable(table string) bool {
	return strings.HasPrefix(table, "Object") || strings.HasPrefix(table, ConfigObjectTable)
}

// IsStatTable tells whether a table is a StatTable.<struct>.<attr> table.
func IsStatTable(table string) bool {
	return strings.HasPrefix(table, StatTablePrefix) && len(table) > len(StatTablePrefix)
}

// ValidTableName tells whether a name can be a table: not empty, at most
// 256 bytes, printable ASCII without '/' or white space.
func ValidTableName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' || c == '%' {
			return false
		}
	}
	return name != "." && name != ".."
}

func col(name, typ string, index bool) Column {
	return Column{Name: name, Datatype: typ, Index: index}
}

var messageColumns = []Column{
	col("MessageTS", "int", false), col("Source", "string", true), col("Messagetype", "string", true),
	col("ModuleId", "string", true), col("IPAddress", "ipaddr", false), col("Pid", "int", false),
	col("Category", "string", false), col("Level", "int", false), col("NodeType", "string", false),
	col("InstanceId", "string", false), col("SequenceNum", "int", false), col("Type", "int", false),
	col("Xmlmessage", "string", false),
}

var objectColumns = []Column{
	col("MessageTS", "int", false), col("ObjectId", "string", true), col("Source", "string", true),
	col("ModuleId", "string", true), col("Messagetype", "string", true),
	col("ObjectLog", "string", false), col("SystemLog", "string", false),
}

var flowKeyColumns = []Column{
	col("vrouter", "string", true), col("sourcevn", "string", true), col("sourceip", "ipaddr", true),
	col("destvn", "string", true), col("destip", "ipaddr", true), col("protocol", "int", true),
	col("sport", "int", true), col("dport", "int", true), col("direction_ing", "int", true),
}

var flowRecordColumns = append(append([]Column(nil), flowKeyColumns...),
	col("UuidKey", "uuid", false), col("setup_time", "long", false), col("teardown_time", "long", false),
	col("agg-packets", "long", false), col("agg-bytes", "long", false), col("action", "string", false),
	col("sg_rule_uuid", "uuid", false), col("nw_ace_uuid", "uuid", false), col("vrouter_ip", "string", false),
	col("other_vrouter_ip", "string", false), col("underlay_proto", "int", false),
	col("underlay_source_port", "int", false), col("vmi", "string", false), col("drop_reason", "string", false),
)

var flowSeriesColumns = append(append([]Column(nil), flowKeyColumns...),
	col("flow_class_id", "int", false), col("T", "int", false), col("T=", "int", false),
	col("packets", "int", false), col("bytes", "int", false),
	col("SUM(packets)", "int", false), col("SUM(bytes)", "int", false),
	// Not in the original's schema list, but written by our collector and
	// selectable: the flow's record fields carried on each sample.
	col("setup_time", "long", false), col("teardown_time", "long", false),
	col("agg-packets", "long", false), col("agg-bytes", "long", false), col("action", "string", false),
	col("sg_rule_uuid", "uuid", false), col("nw_ace_uuid", "uuid", false), col("vrouter_ip", "string", false),
	col("other_vrouter_ip", "string", false), col("flowuuid", "uuid", false),
)

// ObjectTableNames are the object tables of the original (viz.sandesh
// _OBJECT_TABLES), always listed under /analytics/tables.
var ObjectTableNames = []string{
	"ConfigObjectTable", "ObjectVNTable", "ObjectVMTable", "ObjectVMITable", "ObjectSITable",
	"ObjectLBTable", "ObjectVRouter", "ObjectPRouter", "ObjectBgpPeer", "ObjectBgpRouter",
	"ObjectRoutingInstance", "ObjectXmppConnection", "ObjectXmppPeerInfo", "ObjectCollectorInfo",
	"ObjectAnalyticsAlarmInfo", "ObjectAnalyticsSNMPInfo", "ObjectDatabaseInfo",
	"ObjectConfigDatabaseInfo", "ObjectGeneratorInfo", "ObjectConfigNode", "ServiceChain", "ObjectDns",
	"ObjectQueryTable", "ObjectQueryQid", "ObjectPoolTable", "ObjectOsdTable", "ObjectDiskTable",
	"ObjectServerTable", "ConfigObjectTableByUser", "ObjectPhysicalInterfaceTable",
	"ObjectLogicalInterfaceTable", "ObjectStorageClusterTable", "UserDefinedLogStatTable",
	"ObjectKubernetesManagerNode", "ObjectTagTable", "ObjectProjectTable", "ObjectFirewallPolicyTable",
	"ObjectFirewallRuleTable", "ObjectAddressGroupTable", "ObjectServiceGroupTable",
	"ObjectApplicationPolicySetTable", "ObjectJobExecutionTable", "ObjectJobTemplateTable",
	"ObjectFabricTable",
}

// StaticTable returns the schema of a table whose columns are fixed
// (MessageTable, flow tables, object tables), false otherwise.
func StaticTable(name string) (Table, bool) {
	switch name {
	case MessageTable:
		return Table{Name: name, Columns: cloneCols(messageColumns)}, true
	case FlowRecordTable:
		return Table{Name: name, Columns: cloneCols(flowRecordColumns)}, true
	case FlowSeriesTable:
		return Table{Name: name, Columns: cloneCols(flowSeriesColumns)}, true
	}
	for _, o := range ObjectTableNames {
		if o == name {
			return Table{Name: name, Columns: cloneCols(objectColumns)}, true
		}
	}
	if IsObjectTable(name) {
		return Table{Name: name, Columns: cloneCols(objectColumns)}, true
	}
	return Table{}, false
}

func cloneCols(c []Column) []Column { return append([]Column(nil), c...) }

// StaticTables lists the schemas of every static table.
func StaticTables() []Table {
	out := []Table{}
	for _, n := range []string{MessageTable, FlowRecordTable, FlowSeriesTable} {
		t, _ := StaticTable(n)
		out = append(out, t)
	}
	for _, n := range ObjectTableNames {
		t, _ := StaticTable(n)
		out = append(out, t)
	}
	return out
}

// FieldType is the datatype a schema shows for a Go value of a field.
func FieldType(v any) string {
	switch v.(type) {
	case int64, int, int32, uint32, uint16, int16, int8, uint8, bool:
		return "int"
	case uint64, uint:
		return "long"
	case float64, float32:
		return "double"
	default:
		return "string"
	}
}

// BuildSchema combines a table's static schema with the fields seen in its
// rows (name -> datatype). StatTable.* tables get the original's extra
// query columns: T, T=, CLASS(T), UUID, COUNT(<attr>) and SUM/MAX/MIN of
// numeric attributes.
func BuildSchema(name string, seen map[string]string) Table {
	t, static := StaticTable(name)
	if !static {
		t = Table{Name: name}
	}
	have := map[string]bool{}
	for _, c := range t.Columns {
		have[c.Name] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if IsStatTable(name) {
		parts := strings.SplitN(strings.TrimPrefix(name, StatTablePrefix), ".", 2)
		attr := parts[len(parts)-1]
		base := []Column{
			col("Source", "string", true), col("T", "int", false), col("T=", "int", false),
			col("CLASS(T)", "int", false), col("UUID", "uuid", false), col("COUNT("+attr+")", "int", false),
			col("name", "string", true),
		}
		for _, c := range base {
			if !have[c.Name] {
				t.Columns = append(t.Columns, c)
				have[c.Name] = true
			}
		}
		for _, n := range names {
			if have[n] {
				continue
			}
			typ := seen[n]
			t.Columns = append(t.Columns, Column{Name: n, Datatype: typ, Index: typ == "string"})
			have[n] = true
		}
		for _, n := range names {
			if typ := seen[n]; typ == "int" || typ == "long" || typ == "double" {
				for _, agg := range []string{"SUM", "MAX", "MIN"} {
					cn := agg + "(" + n + ")"
					if !have[cn] {
						t.Columns = append(t.Columns, Column{Name: cn, Datatype: typ})
						have[cn] = true
					}
				}
			}
		}
		return t
	}
	for _, n := range names {
		if !have[n] {
			t.Columns = append(t.Columns, Column{Name: n, Datatype: seen[n]})
			have[n] = true
		}
	}
	return t
}
