// SPDX-License-Identifier: Apache-2.0

// Package model holds the stored form of a config object, shared by the API
// server (which writes it) and every consumer of the config watch (which reads it).
package model

import (
	"encoding/json"
	"strings"
)

// Ref is one reference from an object to another, with its optional attribute.
type Ref struct {
	To   []string        `json:"to"`
	UUID string          `json:"uuid"`
	Attr json.RawMessage `json:"attr,omitempty"`
	// Relaxed refs do not block deleting the referred object (see /ref-relax-for-delete).
	Relaxed bool `json:"relaxed,omitempty"`
}

// Object is a config object as it is stored in etcd. Derived data (back-refs,
// children, hrefs) is not stored in the object; it comes from the indexes.
type Object struct {
	Type       string                     `json:"type"`
	UUID       string                     `json:"uuid"`
	FQName     []string                   `json:"fq_name"`
	ParentType string                     `json:"parent_type,omitempty"`
	ParentUUID string                     `json:"parent_uuid,omitempty"`
	Props      map[string]json.RawMessage `json:"props,omitempty"`
	Refs       map[string][]Ref           `json:"refs,omitempty"`
}

// Name is the last element of the fq-name.
func (o *Object) Name() string {
	if len(o.FQName) == 0 {
		return ""
	}
	return o.FQName[len(o.FQName)-1]
}

// FQNameString joins the fq-name with ':' as the original's fq_name_str does.
func (o *Object) FQNameString() string { return FQNameString(o.FQName) }

// Prop decodes property name into v and reports whether it was present.
func (o *Object) Prop(name string, v any) bool {
	raw, ok := o.Props[name]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

// Clone returns a copy that can be changed without touching o. Raw JSON
// values are immutable by convention and are shared.
func (o *Object) Clone() *Object {
	c := *o
	c.FQName = append([]string(nil), o.FQName...)
	c.Props = make(map[string]json.RawMessage, len(o.Props))
	for k, v := range o.Props {
		c.Props[k] = v
	}
	c.Refs = make(map[string][]Ref, len(o.Refs))
	for k, v := range o.Refs {
		c.Refs[k] = append([]Ref(nil), v...)
	}
	return &c
}

// FQNameString joins an fq-name with ':'.
func FQNameString(fq []string) string { return strings.Join(fq, ":") }

// ParseFQNameString splits a ':'-joined fq-name.
func ParseFQNameString(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ":")
}
