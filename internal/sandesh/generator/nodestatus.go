// SPDX-License-Identifier: Apache-2.0

package generator

import (
	"sort"
	"strings"

	"github.com/contrail-go/contrail/internal/sandesh"
)

// Connection status names of process_info.sandesh ConnectionStatusNames.
const (
	StatusInit = "Initializing"
	StatusDown = "Down"
	StatusUp   = "Up"
)

// Process states of process_info.sandesh ProcessStateNames.
const (
	StateFunctional    = "Functional"
	StateNonFunctional = "Non-Functional"
)

// ConnectionInfo is one connection a process reports in its
// process_status (process_info.sandesh ConnectionInfo). Type is one of the
// original's ConnectionTypeNames: "Collector", "XMPP", "Database",
// "ApiServer", "Zookeeper", "Redis-UVE", ...
type ConnectionInfo struct {
	Type        string   `sandesh:"type,id=1"`
	Name        string   `sandesh:"name,id=2"`
	ServerAddrs []string `sandesh:"server_addrs,id=3"`
	Status      string   `sandesh:"status,id=4"`
	Description string   `sandesh:"description,id=5,omitempty"`
}

// ProcessStatus is process_info.sandesh ProcessStatus.
type ProcessStatus struct {
	ModuleID        string           `sandesh:"module_id,id=1"`
	InstanceID      string           `sandesh:"instance_id,id=2"`
	State           string           `sandesh:"state,id=3"`
	ConnectionInfos []ConnectionInfo `sandesh:"connection_infos,id=4"`
	Description     string           `sandesh:"description,id=6,omitempty"`
}

type connKey struct{ typ, name string }

// SetConnection records the state of one of the process's connections
// (keyed by Type and Name) and sends the NodeStatus UVE with the
// process_status this gives: Functional when every connection is Up,
// Non-Functional otherwise with a description naming those that are not.
// The generator reports its own collector connection this way.
func (g *Generator) SetConnection(ci ConnectionInfo) {
	g.mu.Lock()
	g.conns[connKey{ci.Type, ci.Name}] = ci
	g.mu.Unlock()
	g.sendProcessStatus()
}

// RemoveConnection forgets a connection given to SetConnection.
func (g *Generator) RemoveConnection(typ, name string) {
	g.mu.Lock()
	delete(g.conns, connKey{typ, name})
	g.mu.Unlock()
	g.sendProcessStatus()
}

// ProcessStatus returns the process_status the generator reports.
func (g *Generator) ProcessStatus() ProcessStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.processStatusLocked()
}

func (g *Generator) processStatusLocked() ProcessStatus {
	ps := ProcessStatus{ModuleID: g.cfg.Module, InstanceID: g.cfg.InstanceID, State: StateFunctional}
	keys := make([]connKey, 0, len(g.conns))
	for k := range g.conns {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].typ != keys[j].typ {
			return keys[i].typ < keys[j].typ
		}
		return keys[i].name < keys[j].name
	})
	var bad []string
	for _, k := range keys {
		ci := g.conns[k]
		ps.ConnectionInfos = append(ps.ConnectionInfos, ci)
		if ci.Status != StatusUp {
			n := ci.Type
			if ci.Name != "" {
				n += ":" + ci.Name
			}
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		ps.State = StateNonFunctional
		ps.Description = strings.Join(bad, ", ") + " connection down"
	}
	return ps
}

func (g *Generator) sendProcessStatus() {
	ps := g.ProcessStatus()
	_ = g.UVE(g.cfg.NodeStatusTable, g.cfg.Source, "NodeStatus", []sandesh.Field{
		processStatusField(ps),
	}, false)
}

func processStatusField(ps ProcessStatus) sandesh.Field {
	v, _ := sandesh.ToValue(ps)
	v.Struct.Name = "ProcessStatus"
	for i := range v.Struct.Fields {
		if f := &v.Struct.Fields[i]; f.Name == "connection_infos" {
			for j := range f.List.Items {
				f.List.Items[j].Struct.Name = "ConnectionInfo"
			}
		}
	}
	return sandesh.F("process_status", 4, sandesh.ListValue(sandesh.TStruct, v), sandesh.Attr{Name: "aggtype", Value: "union"})
}

// NodeTypeOfModule gives the node type of a module name, as the
// original's Module2NodeType does.
func NodeTypeOfModule(module string) string {
	switch {
	case module == "contrail-control" || module == "contrail-dns" || strings.HasPrefix(module, "contrail-control-"):
		return "Control"
	case module == "contrail-vrouter-agent" || strings.HasPrefix(module, "contrail-vrouter-") || module == "contrail-tor-agent":
		return "Compute"
	case module == "contrail-collector" || module == "contrail-analytics-api" || strings.HasPrefix(module, "contrail-analytics-"):
		return "Analytics"
	case module == "contrail-query-engine" || strings.HasPrefix(module, "contrail-database-"):
		return "Database"
	}
	return "Config"
}

// NodeStatusTableOf gives the object table of a node type's NodeStatus.
func NodeStatusTableOf(nodeType string) string {
	switch nodeType {
	case "Control":
		return "ObjectBgpRouter"
	case "Compute":
		return "ObjectVRouter"
	case "Analytics":
		return "ObjectCollectorInfo"
	case "Database":
		return "ObjectDatabaseInfo"
	case "ConfigDatabase":
		return "ObjectConfigDatabaseInfo"
	}
	return "ObjectConfigNode"
}

// FlowLogData is one flow record of the vrouter agent, with the field
// names of the original's FlowRecordNames. Zero values of optional fields
// are not sent.
type FlowLogData struct {
	FlowUUID           string
	DirectionIng       int8 // 1 ingress, 0 egress
	SourceVN           string
	SourceIP           string
	DestVN             string
	DestIP             string
	Protocol           int8
	SPort              uint16
	DPort              uint16
	TOS                int16
	TCPFlags           int16
	VM                 string
	ReverseUUID        string
	SetupTime          int64 // µs
	TeardownTime       int64 // µs
	Bytes              int64 // aggregate since setup
	Packets            int64
	DiffBytes          int64 // since the previous record of this flow
	DiffPackets        int64
	VRouter            string // default: the generator's Source (set by the collector)
	Action             string
	SGRuleUUID         string
	NwACEUUID          string
	VRouterIP          string
	OtherVRouterIP     string
	UnderlayProto      uint16
	UnderlaySourcePort uint16
	VMI                string
	DropReason         string
}

func (f *FlowLogData) value() sandesh.Value {
	fs := make([]sandesh.Field, 0, 24)
	str := func(name string, id int, s string) {
		if s != "" {
			fs = append(fs, sandesh.F(name, id, sandesh.String(s)))
		}
	}
	i64 := func(name string, id int, v int64) {
		if v != 0 {
			fs = append(fs, sandesh.F(name, id, sandesh.I64(v)))
		}
	}
	fs = append(fs, sandesh.F("flowuuid", 1, sandesh.String(f.FlowUUID)),
		sandesh.F("direction_ing", 2, sandesh.Value{Type: sandesh.TByte, Int: int64(f.DirectionIng)}))
	str("sourcevn", 3, f.SourceVN)
	str("sourceip", 4, f.SourceIP)
	str("destvn", 5, f.DestVN)
	str("destip", 6, f.DestIP)
	fs = append(fs, sandesh.F("protocol", 7, sandesh.Value{Type: sandesh.TByte, Int: int64(f.Protocol)}),
		sandesh.F("sport", 8, sandesh.U16(f.SPort)), sandesh.F("dport", 9, sandesh.U16(f.DPort)))
	if f.TOS != 0 {
		fs = append(fs, sandesh.F("tos", 10, sandesh.Value{Type: sandesh.TI16, Int: int64(f.TOS)}))
	}
	if f.TCPFlags != 0 {
		fs = append(fs, sandesh.F("tcp_flags", 11, sandesh.Value{Type: sandesh.TI16, Int: int64(f.TCPFlags)}))
	}
	str("vm", 12, f.VM)
	str("reverse_uuid", 16, f.ReverseUUID)
	i64("setup_time", 17, f.SetupTime)
	i64("teardown_time", 18, f.TeardownTime)
	fs = append(fs, sandesh.F("bytes", 23, sandesh.I64(f.Bytes)), sandesh.F("packets", 24, sandesh.I64(f.Packets)))
	str("vrouter", 26, f.VRouter)
	fs = append(fs, sandesh.F("diff_bytes", 27, sandesh.I64(f.DiffBytes)), sandesh.F("diff_packets", 28, sandesh.I64(f.DiffPackets)))
	str("action", 31, f.Action)
	str("sg_rule_uuid", 32, f.SGRuleUUID)
	str("nw_ace_uuid", 33, f.NwACEUUID)
	str("vrouter_ip", 34, f.VRouterIP)
	str("other_vrouter_ip", 35, f.OtherVRouterIP)
	if f.UnderlayProto != 0 {
		fs = append(fs, sandesh.F("underlay_proto", 36, sandesh.U16(f.UnderlayProto)))
	}
	if f.UnderlaySourcePort != 0 {
		fs = append(fs, sandesh.F("underlay_source_port", 37, sandesh.U16(f.UnderlaySourcePort)))
	}
	str("vmi", 38, f.VMI)
	str("drop_reason", 39, f.DropReason)
	return sandesh.Value{Type: sandesh.TStruct, Struct: &sandesh.Struct{Name: "FlowLogData", Fields: fs}}
}

// FlowValue returns the FlowLogData struct value Flow sends for f.
func FlowValue(f FlowLogData) sandesh.Value { return f.value() }
