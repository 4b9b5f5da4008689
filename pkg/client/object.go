// SPDX-License-Identifier: Apache-2.0

package client

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Object is one API object as JSON: property, reference, back-reference
// and children fields by their JSON names ("fq_name", "id_perms",
// "network_ipam_refs", "virtual_machine_interface_back_refs", ...).
// Objects the client decodes keep numbers as json.Number, so 64-bit ids
// survive unchanged.
type Object map[string]any

// UUID returns the "uuid" field, or "".
func (o Object) UUID() string { return o.GetString("uuid") }

// FQName returns the "fq_name" field, or nil.
func (o Object) FQName() []string { return toStrings(o["fq_name"]) }

// Name returns the last element of the fq-name, else the "name" field.
func (o Object) Name() string {
	if fq := o.FQName(); len(fq) > 0 {
		return fq[len(fq)-1]
	}
	return o.GetString("name")
}

// ParentType returns the "parent_type" field, or "".
func (o Object) ParentType() string { return o.GetString("parent_type") }

// ParentUUID returns the "parent_uuid" field, or "".
func (o Object) ParentUUID() string { return o.GetString("parent_uuid") }

// Href returns the "href" field, or "".
func (o Object) Href() string { return o.GetString("href") }

// Get follows path through nested JSON objects and returns the value at
// its end, or nil if a step is missing or not an object. A step may also
// be a decimal index into a list.
func (o Object) Get(path ...string) any {
	var cur any = map[string]any(o)
	for _, step := range path {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[step]
		case Object:
			cur = v[step]
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// GetString returns the string at path, or "" if it is missing or not a
// string.
func (o Object) GetString(path ...string) string {
	s, _ := o.Get(path...).(string)
	return s
}

// GetInt returns the integer at path and whether there is one.
func (o Object) GetInt(path ...string) (int64, bool) {
	switch v := o.Get(path...).(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case float64:
		return int64(v), v == float64(int64(v))
	case int:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

// Ref is one entry of a reference, back-reference or children list.
type Ref struct {
	To   []string // fq-name of the other object
	UUID string
	Href string
	Attr any // the link's attribute (refs and back-refs), or nil
}

// Refs returns the entries of a reference, back-reference or children list
// field, such as "network_ipam_refs", "virtual_machine_interface_back_refs"
// or "virtual_networks".
func (o Object) Refs(field string) []Ref {
	list, _ := o[field].([]any)
	out := make([]Ref, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		r := Ref{To: toStrings(m["to"]), Attr: m["attr"]}
		r.UUID, _ = m["uuid"].(string)
		r.Href, _ = m["href"].(string)
		out = append(out, r)
	}
	return out
}

// toStrings converts a decoded JSON list of strings.
func toStrings(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				s = fmt.Sprint(e)
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}

// FQNameString joins an fq-name with ':', the API's text form
// ("default-domain:default-project:vn1").
func FQNameString(fq []string) string { return strings.Join(fq, ":") }

// ParseFQName splits the text form of an fq-name at ':'. It returns nil
// for "".
func ParseFQName(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ":")
}

// IsUUID reports whether s is a UUID in the canonical 8-4-4-4-12
// hexadecimal form the API uses for object ids.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
