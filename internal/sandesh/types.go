// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"strconv"
)

// Type is the type of a Sandesh field or container element as written in
// the type="..." attribute of the XML encoding.
type Type uint8

// Field types. The names are those of the XML encoding (TXMLProtocol).
const (
	TInvalid Type = iota
	TBool
	TByte
	TI16
	TI32
	TI64
	TU16
	TU32
	TU64
	TDouble
	TString
	TStruct
	TMap
	TSet
	TList
	TXML
	TUUID
	TIPAddr
	TIPv4
	TSandesh // the type of the message element itself
)

var typeNames = [...]string{
	TInvalid: "invalid",
	TBool:    "bool",
	TByte:    "byte",
	TI16:     "i16",
	TI32:     "i32",
	TI64:     "i64",
	TU16:     "u16",
	TU32:     "u32",
	TU64:     "u64",
	TDouble:  "double",
	TString:  "string",
	TStruct:  "struct",
	TMap:     "map",
	TSet:     "set",
	TList:    "list",
	TXML:     "xml",
	TUUID:    "uuid_t",
	TIPAddr:  "ipaddr",
	TIPv4:    "ipv4",
	TSandesh: "sandesh",
}

// String returns the type's name as the XML encoding writes it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType maps an XML type name to its Type; ok is false for unknown names.
func ParseType(s string) (t Type, ok bool) {
	switch s {
	case "bool":
		return TBool, true
	case "byte", "i8":
		return TByte, true
	case "i16":
		return TI16, true
	case "i32":
		return TI32, true
	case "i64":
		return TI64, true
	case "u16":
		return TU16, true
	case "u32":
		return TU32, true
	case "u64":
		return TU64, true
	case "double":
		return TDouble, true
	case "string", "static_const_string":
		return TString, true
	case "struct":
		return TStruct, true
	case "map":
		return TMap, true
	case "set":
		return TSet, true
	case "list":
		return TList, true
	case "xml":
		return TXML, true
	case "uuid_t":
		return TUUID, true
	case "ipaddr":
		return TIPAddr, true
	case "ipv4":
		return TIPv4, true
	case "sandesh":
		return TSandesh, true
	}
	return TInvalid, false
}

// IsContainer reports whether values of t hold other values.
func (t Type) IsContainer() bool { return t == TStruct || t == TMap || t == TSet || t == TList }

// isSigned reports whether t keeps its value in Value.Int.
func (t Type) isSigned() bool { return t == TByte || t == TI16 || t == TI32 || t == TI64 }

// isUnsigned reports whether t keeps its value in Value.Uint.
func (t Type) isUnsigned() bool { return t == TU16 || t == TU32 || t == TU64 }

// isText reports whether t keeps its value in Value.Str.
func (t Type) isText() bool {
	return t == TString || t == TXML || t == TUUID || t == TIPAddr || t == TIPv4
}

// IsNumeric reports whether t is an integer or double type.
func (t Type) IsNumeric() bool { return t.isSigned() || t.isUnsigned() || t == TDouble }

// Value is one typed Sandesh value. Which member is meaningful depends on
// Type: Str for string, xml, uuid_t, ipaddr and ipv4; Int for bool (0/1),
// byte, i16, i32 and i64; Uint for u16, u32 and u64; Float for double;
// Struct, List (list and set) or Map for containers.
type Value struct {
	Type   Type
	Str    string
	Int    int64
	Uint   uint64
	Float  float64
	Struct *Struct
	List   *List
	Map    *Map
}

// Field is a named, numbered member of a struct or message, with its
// annotations (the IDL's key=, aggtype=, tags=, ... written as XML
// attributes next to type= and identifier=).
type Field struct {
	Name  string
	ID    int
	Attrs []Attr
	Value
}

// Attr is one annotation of a field.
type Attr struct {
	Name, Value string
}

// Attr returns the value of the annotation called name and whether the
// field has it.
func (f *Field) Attr(name string) (string, bool) {
	for _, a := range f.Attrs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// Struct is a struct value: its type name and fields in wire order.
type Struct struct {
	Name   string
	Fields []Field
}

// Field returns the field called name, or nil.
func (s *Struct) Field(name string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// List is a list or set value.
type List struct {
	Elem  Type
	Items []Value
}

// Map is a map value; entries keep their wire order.
type Map struct {
	Key, Elem Type
	Entries   []MapEntry
}

// MapEntry is one key/value pair of a Map.
type MapEntry struct {
	Key, Value Value
}

// String returns a string value.
func String(s string) Value { return Value{Type: TString, Str: s} }

// Bool returns a bool value.
func Bool(b bool) Value {
	if b {
		return Value{Type: TBool, Int: 1}
	}
	return Value{Type: TBool}
}

// I32 returns an i32 value.
func I32(v int32) Value { return Value{Type: TI32, Int: int64(v)} }

// I64 returns an i64 value.
func I64(v int64) Value { return Value{Type: TI64, Int: v} }

// U16 returns a u16 value.
func U16(v uint16) Value { return Value{Type: TU16, Uint: uint64(v)} }

// U32 returns a u32 value.
func U32(v uint32) Value { return Value{Type: TU32, Uint: uint64(v)} }

// U64 returns a u64 value.
func U64(v uint64) Value { return Value{Type: TU64, Uint: v} }

// Double returns a double value.
func Double(v float64) Value { return Value{Type: TDouble, Float: v} }

// StructValue returns a struct value.
func StructValue(name string, fields ...Field) Value {
	return Value{Type: TStruct, Struct: &Struct{Name: name, Fields: fields}}
}

// ListValue returns a list value of elements of type elem.
func ListValue(elem Type, items ...Value) Value {
	return Value{Type: TList, List: &List{Elem: elem, Items: items}}
}

// StringList returns a list<string> value.
func StringList(ss ...string) Value {
	items := make([]Value, len(ss))
	for i, s := range ss {
		items[i] = String(s)
	}
	return ListValue(TString, items...)
}

// MapValue returns a map value.
func MapValue(key, elem Type, entries ...MapEntry) Value {
	return Value{Type: TMap, Map: &Map{Key: key, Elem: elem, Entries: entries}}
}

// F builds a field; id 0 is replaced by the field's position when the
// struct is encoded through the generator.
func F(name string, id int, v Value, attrs ...Attr) Field {
	return Field{Name: name, ID: id, Value: v, Attrs: attrs}
}

// Bool returns the value of a bool.
func (v Value) Bool() bool { return v.Int != 0 }

// Text returns the value as the text the XML encoding carries (not
// escaped); containers give "".
func (v Value) Text() string {
	switch {
	case v.Type.isText():
		return v.Str
	case v.Type == TBool:
		if v.Int != 0 {
			return "true"
		}
		return "false"
	case v.Type.isSigned():
		return strconv.FormatInt(v.Int, 10)
	case v.Type.isUnsigned():
		return strconv.FormatUint(v.Uint, 10)
	case v.Type == TDouble:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	}
	return ""
}

// Number returns the value of an integer or double as float64 and whether
// it is one.
func (v Value) Number() (float64, bool) {
	switch {
	case v.Type.isSigned():
		return float64(v.Int), true
	case v.Type.isUnsigned():
		return float64(v.Uint), true
	case v.Type == TDouble:
		return v.Float, true
	}
	return 0, false
}

// Go returns the value as plain Go data, the shape the analytics API shows
// as JSON: string, int64, uint64, float64, bool, map[string]any for structs
// and maps, []any for lists and sets.
func (v Value) Go() any {
	switch {
	case v.Type.isText():
		return v.Str
	case v.Type == TBool:
		return v.Int != 0
	case v.Type.isSigned():
		return v.Int
	case v.Type.isUnsigned():
		return v.Uint
	case v.Type == TDouble:
		return v.Float
	case v.Type == TStruct:
		if v.Struct == nil {
			return map[string]any{}
		}
		m := make(map[string]any, len(v.Struct.Fields))
		for _, f := range v.Struct.Fields {
			m[f.Name] = f.Value.Go()
		}
		return m
	case v.Type == TList || v.Type == TSet:
		if v.List == nil {
			return []any{}
		}
		out := make([]any, len(v.List.Items))
		for i, it := range v.List.Items {
			out[i] = it.Go()
		}
		return out
	case v.Type == TMap:
		m := map[string]any{}
		if v.Map != nil {
			for _, e := range v.Map.Entries {
				m[e.Key.Text()] = e.Value.Go()
			}
		}
		return m
	}
	return nil
}

// SandeshType is the kind of a message (the header's Type).
type SandeshType int32

// Message kinds of the enum SandeshType.
const (
	TypeInvalid     SandeshType = 0
	TypeSystem      SandeshType = 1
	TypeRequest     SandeshType = 2
	TypeResponse    SandeshType = 3
	TypeTrace       SandeshType = 4
	TypeBuffer      SandeshType = 5
	TypeUVE         SandeshType = 6
	TypeObject      SandeshType = 7
	TypeFlow        SandeshType = 8
	TypeTraceObject SandeshType = 9
	TypeSyslog      SandeshType = 10
	TypeAlarm       SandeshType = 11
	TypeSession     SandeshType = 12
)

// Levels of the enum SandeshLevel (syslog severities).
const (
	LevelUVE    int32 = -100
	LevelEmerg  int32 = 0
	LevelAlert  int32 = 1
	LevelCrit   int32 = 2
	LevelErr    int32 = 3
	LevelWarn   int32 = 4
	LevelNotice int32 = 5
	LevelInfo   int32 = 6
	LevelDebug  int32 = 7
)

// Header hint bits.
const (
	HintKey     int32 = 0x1
	HintControl int32 = 0x2
	HintSync    int32 = 0x4
)

// Header is the SandeshHeader that precedes every message.
type Header struct {
	Namespace   string
	Timestamp   int64 // microseconds since the Unix epoch
	Module      string
	Source      string
	Context     string
	SequenceNum int32
	VersionSig  int32
	Type        SandeshType
	Hints       int32
	Level       int32
	Category    string
	NodeType    string
	InstanceID  string
	IPAddress   string // optional: written only when not empty
	Pid         int32  // optional: written only when not 0
}
