// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/contrail-go/contrail/internal/analytics/store"
	"github.com/contrail-go/contrail/internal/sandesh"
)

// Table and column names of the original's viz.sandesh.
const (
	TableMessage     = "MessageTable"
	TableFlowRecord  = "FlowRecordTable"
	TableFlowSeries  = "FlowSeriesTable"
	StatTablePrefix  = "StatTable."
	colObjectID      = "ObjectId"
	colObjectLog     = "ObjectLog"
	colSystemLog     = "SystemLog"
	colXMLMessage    = "Xmlmessage"
	colMessageType   = "Messagetype"
	colMessageTS     = "MessageTS"
	colSource        = "Source"
	colModule        = "ModuleId"
	colKeyAnnotation = "key"
)

// boxes keeps the interface values of the header strings of a session's
// last message: a generator repeats its Source, Module, ... in every
// message, and boxing a string into an interface allocates.
type boxes struct {
	keys [8]string
	vals [8]any
}

func (b *boxes) box(slot int, s string) any {
	if b == nil {
		return s
	}
	if b.vals[slot] != nil && b.keys[slot] == s {
		return b.vals[slot]
	}
	v := any(s)
	b.keys[slot], b.vals[slot] = s, v
	return v
}

// messageRow is the MessageTable row of a message.
func messageRow(m *sandesh.Message, t int64, b *boxes) store.Row {
	h := &m.Header
	f := make(map[string]any, 13)
	f[colMessageTS] = h.Timestamp
	f[colSource] = b.box(0, h.Source)
	f[colMessageType] = b.box(1, m.Name)
	f[colModule] = b.box(2, h.Module)
	f["IPAddress"] = b.box(3, h.IPAddress)
	f["Pid"] = b.box64(4, int64(h.Pid))
	f["Category"] = b.box(5, h.Category)
	f["Level"] = int64(h.Level)
	f["NodeType"] = b.box(6, h.NodeType)
	f["InstanceId"] = b.box(7, h.InstanceID)
	f["SequenceNum"] = int64(h.SequenceNum)
	f["Type"] = int64(h.Type)
	f[colXMLMessage] = m.XML
	return store.Row{Table: TableMessage, T: t, Fields: f}
}

// box64 is box for an int64 (the pid) in its own slot.
func (b *boxes) box64(slot int, n int64) any {
	if b == nil {
		return n
	}
	if v, ok := b.vals[slot].(int64); ok && v == n {
		return b.vals[slot]
	}
	v := any(n)
	b.vals[slot] = v
	return v
}

// objectKey is one object a message is about: a field annotated
// key="<ObjectTable>".
type objectKey struct{ table, id string }

// objectKeys finds the key-annotated fields among the message's fields and
// the fields of its top-level structs.
func objectKeys(fields []sandesh.Field) []objectKey {
	var out []objectKey
	for i := range fields {
		f := &fields[i]
		if t, ok := f.Attr(colKeyAnnotation); ok && t != "" && t != "none" {
			out = append(out, objectKey{t, f.Value.Text()})
		}
		if f.Type == sandesh.TStruct && f.Struct != nil {
			for j := range f.Struct.Fields {
				g := &f.Struct.Fields[j]
				if t, ok := g.Attr(colKeyAnnotation); ok && t != "" && t != "none" {
					out = append(out, objectKey{t, g.Value.Text()})
				}
			}
		}
	}
	return out
}

// objectRow is the row of an Object* table for a message about key.
func objectRow(m *sandesh.Message, k objectKey, t int64) store.Row {
	logCol := colObjectLog
	if m.Header.Type == sandesh.TypeSystem {
		logCol = colSystemLog
	}
	return store.Row{Table: k.table, T: t, Fields: map[string]any{
		colMessageTS:   m.Header.Timestamp,
		colObjectID:    k.id,
		colSource:      m.Header.Source,
		colModule:      m.Header.Module,
		colMessageType: m.Name,
		logCol:         m.XML,
	}}
}

// statRows turns the tagged attributes (tags= annotation) of struct s into
// StatTable.<struct>.<attr> rows: one per element of a list, one per entry
// of a map (with <attr>.__key, and <attr>.__value for scalar values), one
// for a struct or scalar. Each row has Source and name (the struct's key).
func statRows(dst []store.Row, s *sandesh.Struct, source string, t int64) []store.Row {
	if s == nil {
		return dst
	}
	name := ""
	for i := range s.Fields {
		if _, ok := s.Fields[i].Attr(colKeyAnnotation); ok {
			name = s.Fields[i].Value.Text()
			break
		}
	}
	if name == "" {
		if f := s.Field("name"); f != nil {
			name = f.Value.Text()
		}
	}
	for i := range s.Fields {
		f := &s.Fields[i]
		if _, ok := f.Attr("tags"); !ok {
			continue
		}
		table := StatTablePrefix + s.Name + "." + f.Name
		base := func() map[string]any {
			return map[string]any{colSource: source, "name": name}
		}
		switch f.Type {
		case sandesh.TList, sandesh.TSet:
			if f.List == nil {
				continue
			}
			for _, it := range f.List.Items {
				r := base()
				flatten(r, f.Name, &it)
				dst = append(dst, store.Row{Table: table, T: t, Fields: r})
			}
		case sandesh.TMap:
			if f.Map == nil {
				continue
			}
			for _, e := range f.Map.Entries {
				r := base()
				r[f.Name+".__key"] = e.Key.Text()
				if e.Value.Type == sandesh.TStruct {
					flatten(r, f.Name, &e.Value)
				} else {
					flatten(r, f.Name+".__value", &e.Value)
				}
				dst = append(dst, store.Row{Table: table, T: t, Fields: r})
			}
		default:
			r := base()
			flatten(r, f.Name, &f.Value)
			dst = append(dst, store.Row{Table: table, T: t, Fields: r})
		}
	}
	return dst
}

// flatten puts v into r: scalars under prefix, struct fields under
// prefix.field (recursively). Lists and maps inside a sample are kept as
// their JSON-ready form.
func flatten(r map[string]any, prefix string, v *sandesh.Value) {
	switch v.Type {
	case sandesh.TStruct:
		if v.Struct == nil {
			return
		}
		for i := range v.Struct.Fields {
			f := &v.Struct.Fields[i]
			flatten(r, prefix+"."+f.Name, &f.Value)
		}
	case sandesh.TList, sandesh.TSet, sandesh.TMap:
		r[prefix] = v.Go()
	default:
		r[prefix] = scalar(v)
	}
}

// scalar converts a value to the store's column types: string, int64,
// float64 or bool.
func scalar(v *sandesh.Value) any {
	switch v.Type {
	case sandesh.TBool:
		return v.Int != 0
	case sandesh.TByte, sandesh.TI16, sandesh.TI32, sandesh.TI64:
		return v.Int
	case sandesh.TU16, sandesh.TU32, sandesh.TU64:
		return int64(v.Uint)
	case sandesh.TDouble:
		return v.Float
	}
	return v.Str
}

// flowRows turns one FlowLogData into its FlowRecordTable and
// FlowSeriesTable rows, with the columns of viz.sandesh: the record holds
// the flow's identity and aggregate counters (agg-bytes, agg-packets),
// the series row the counters since the previous sample (bytes, packets).
func flowRows(dst []store.Row, s *sandesh.Struct, h *sandesh.Header, t int64) []store.Row {
	rec := make(map[string]any, 24)
	ser := make(map[string]any, 14)
	for i := range s.Fields {
		f := &s.Fields[i]
		v := scalar(&f.Value)
		switch f.Name {
		case "flowuuid":
			rec["UuidKey"] = v
			ser["UuidKey"] = v
		case "vrouter", "sourcevn", "sourceip", "destvn", "destip", "protocol", "sport", "dport", "direction_ing":
			rec[f.Name] = v
			ser[f.Name] = v
		case "bytes":
			rec["agg-bytes"] = v
		case "packets":
			rec["agg-packets"] = v
		case "diff_bytes":
			ser["bytes"] = v
		case "diff_packets":
			ser["packets"] = v
		case "setup_time", "teardown_time", "action", "sg_rule_uuid", "nw_ace_uuid", "vrouter_ip",
			"other_vrouter_ip", "underlay_proto", "underlay_source_port", "vmi", "drop_reason",
			"reverse_uuid", "vm", "tos", "tcp_flags":
			rec[f.Name] = v
		}
	}
	if _, ok := rec["vrouter"]; !ok {
		rec["vrouter"] = h.Source
		ser["vrouter"] = h.Source
	}
	dst = append(dst, store.Row{Table: TableFlowRecord, T: t, Fields: rec})
	return append(dst, store.Row{Table: TableFlowSeries, T: t, Fields: ser})
}
