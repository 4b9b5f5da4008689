// SPDX-License-Identifier: Apache-2.0

package schema

import "strings"

// Kind is the JSON shape a schema type takes on the wire.
type Kind uint8

// Kinds of schema types. Integer covers xsd:integer, int, long, unsignedLong,
// unsignedInt, short and byte; Number covers xsd:double, float and decimal.
const (
	KindAny Kind = iota
	KindString
	KindInteger
	KindNumber
	KindBoolean
	KindDateTime // xsd:dateTime, carried as a string
	KindTime     // xsd:time, carried as a string
	KindComplex  // a JSON object with the type's fields
)

// Type describes one schema type: a built-in, an XSD simpleType (a restriction
// with an enum or a range) or an XSD complexType (an object with fields).
type Type struct {
	Name   string // XSD name, "" for anonymous built-ins
	Kind   Kind
	Enum   []string // allowed values for restricted strings
	HasMin bool
	Min    int64
	HasMax bool
	Max    int64
	Fields []*Field // complex types only, in schema order

	// Base is the XSD built-in type this type is or derives from, e.g.
	// "string" or "unsignedLong"; "" for complex types and unions.
	Base string
	// Unsigned marks integer types whose values range over uint64
	// (xsd:unsignedLong and its kin): values are parsed as uint64 and Min/Max,
	// when set, still apply.
	Unsigned bool

	fieldIndex map[string]*Field
}

// Field is one element of a complex type.
type Field struct {
	Name     string // JSON name: the XSD element name with '-' replaced by '_'
	Type     *Type
	List     bool   // maxOccurs > 1 or unbounded: a JSON array
	Required bool   // required='true' in the XSD
	Default  string // XSD default value, "" when none

	// Enforce is set when Validate rejects a missing or null value: Required,
	// no Default, and the containing type is not exempted (see the header of
	// zz_generated.go for the exempted types).
	Enforce bool
}

// PropKind says how a resource property is stored and updated.
type PropKind uint8

// Property kinds of the IFMAP-SEMANTICS-IDL: Property, ListProperty, MapProperty.
const (
	PropPlain PropKind = iota
	PropList
	PropMap
)

// Property is a property of a resource type.
type Property struct {
	Name       string // JSON name, e.g. "virtual_network_properties"
	Type       *Type
	Kind       PropKind
	MapKey     string // for MapProperty: the JSON name of the key field of the list element
	Required   string // "required", "optional", "system-only"
	Operations string // "CRUD", "CRD", "R", ...
	Default    string // XSD default value, "" when none
}

// Link is a Link statement of the IFMAP-SEMANTICS-IDL: either a parent-child
// ("has") or a reference ("ref") between two resource types.
type Link struct {
	Name       string // XSD element name, e.g. "virtual-network-network-ipam"
	From, To   string // resource type names (hyphenated)
	Has        bool   // parent-child link
	Ref        bool   // reference link
	Derived    bool   // created by the system, not the user
	Attr       *Type  // attribute type of the reference, nil when it carries none
	Required   string
	Operations string
}

// Resource is one resource type of the config schema.
type Resource struct {
	Name     string // hyphenated, e.g. "virtual-network"
	Plural   string // hyphenated collection name, e.g. "virtual-networks"
	JSONName string // underscored, e.g. "virtual_network"

	// Root is set only on "config-root", the implicit root of the tree: it
	// is the parent of the top-level types but is not itself a stored resource.
	Root bool

	Props    []*Property // in schema order, including the common ones (id_perms, perms2, annotations, display_name)
	Parents  []*Link     // Has links whose To is this type; From may be "config-root"
	Children []*Link     // Has links whose From is this type
	Refs     []*Link     // Ref links whose From is this type
	BackRefs []*Link     // Ref links whose To is this type

	propIndex map[string]*Property
	refIndex  map[string]*Link // by JSON field name "<to>_refs"
}

// Prop returns the property with JSON name n, or nil.
func (r *Resource) Prop(n string) *Property { return r.propIndex[n] }

// RefField returns the ref link stored under JSON field n (e.g. "network_ipam_refs"), or nil.
func (r *Resource) RefField(n string) *Link { return r.refIndex[n] }

// Field returns the field with JSON name n, or nil.
func (t *Type) Field(n string) *Field { return t.fieldIndex[n] }

// JSON turns a hyphenated schema name into its JSON form.
func JSON(name string) string { return strings.ReplaceAll(name, "-", "_") }

// RefsField is the JSON field that holds refs of resource type to.
func RefsField(to string) string { return JSON(to) + "_refs" }

// BackRefsField is the JSON field that holds back-refs from resource type from.
func BackRefsField(from string) string { return JSON(from) + "_back_refs" }

// ChildrenField is the JSON field that holds children of resource type child.
func ChildrenField(child string) string { return JSON(child) + "s" }
