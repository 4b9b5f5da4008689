// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file converts config properties between the JSON form the config
// store and REST API use and the XML form the agent receives. The mapping is
// described in the package documentation ("Config properties as JSON").

// ValueKind is the JSON kind a Shape assigns to an element.
type ValueKind uint8

// Value kinds for Shape.
const (
	KindAuto   ValueKind = iota // decide from the XML: child elements make an object, else a string
	KindString                  // the element's text
	KindNumber                  // json.Number; an empty element is null
	KindBool                    // true/false (also 1/0); an empty element is null
	KindObject                  // an object of the child elements, {} when there are none
)

// Shape tells ElementsToJSON what XML alone cannot: whether a leaf is a
// string, number or boolean, whether a field is a list when it occurs once
// (or a childless element is an empty object). path holds JSON names: the
// property first, then field names down to the element ("access_control_list_entries",
// "acl_rule", "match_condition", "src_port", "start_port"); elements of a
// list share the path of the list field. The slice is reused; do not keep
// it. A nil Shape, or KindAuto with list false, falls back to the XML
// structure. A schema-driven Shape (built from internal/schema) makes
// ElementsToJSON return exactly the shape the API stores.
type Shape func(path []string) (kind ValueKind, list bool)

// ErrJSONValue is matched (errors.Is) by errors about JSON values that have
// no XML form.
var ErrJSONValue = errors.New("xmpp: JSON value has no XML form")

func jsonErr(path []string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrJSONValue, strings.Join(path, "."), fmt.Sprintf(format, args...))
}

// AppendJSONPropsAsXML appends the XML form of each property of props
// (JSON names) in sorted order; null properties are left out.
func AppendJSONPropsAsXML(b []byte, props map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var err error
	for _, k := range keys {
		if b, err = AppendJSONAsXML(b, k, props[k]); err != nil {
			return b, err
		}
	}
	return b, nil
}

// AppendJSONAsXML appends the XML form of the JSON value v named name (a
// JSON name such as "id_perms"; underscores become hyphens). v is what
// encoding/json decodes into an any, preferably with UseNumber:
// map[string]any, []any, string, json.Number, float64, bool, nil. Go
// integers, float32, []string, []map[string]any and json.RawMessage (decoded
// with UseNumber) are accepted too. Errors wrap ErrJSONValue.
func AppendJSONAsXML(b []byte, name string, v any) ([]byte, error) {
	path := make([]string, 0, 8)
	return appendJSON(b, name, v, path, false)
}

func xmlName(jsonName string, path []string) (string, error) {
	n := strings.ReplaceAll(jsonName, "_", "-")
	if !validName(n) {
		return "", jsonErr(path, "key %q is not a valid element name", jsonName)
	}
	return n, nil
}

func appendJSON(b []byte, name string, v any, path []string, inList bool) ([]byte, error) {
	path = append(path, name)
	if len(path) > MaxDepth-8 {
		return b, jsonErr(path, "nested too deep")
	}
	el, err := xmlName(name, path)
	if err != nil {
		return b, err
	}
	open := func(b []byte) []byte {
		b = append(b, '<')
		b = append(b, el...)
		return append(b, '>')
	}
	closeTag := func(b []byte) []byte {
		b = append(b, '<', '/')
		b = append(b, el...)
		return append(b, '>')
	}
	leaf := func(b []byte, text string) []byte {
		if text == "" {
			b = append(b, '<')
			b = append(b, el...)
			return append(b, '/', '>')
		}
		return closeTag(appendText(open(b), text))
	}
	switch x := v.(type) {
	case nil:
		if inList {
			return leaf(b, ""), nil
		}
		return b, nil
	case string:
		return leaf(b, x), nil
	case json.Number:
		return leaf(b, x.String()), nil
	case bool:
		return leaf(b, strconv.FormatBool(x)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, jsonErr(path, "%v is not a JSON number", x)
		}
		return leaf(b, strconv.FormatFloat(x, 'f', -1, 64)), nil
	case float32:
		return appendJSON(b, name, float64(x), path[:len(path)-1], inList)
	case int:
		return leaf(b, strconv.FormatInt(int64(x), 10)), nil
	case int32:
		return leaf(b, strconv.FormatInt(int64(x), 10)), nil
	case int64:
		return leaf(b, strconv.FormatInt(x, 10)), nil
	case uint:
		return leaf(b, strconv.FormatUint(uint64(x), 10)), nil
	case uint32:
		return leaf(b, strconv.FormatUint(uint64(x), 10)), nil
	case uint64:
		return leaf(b, strconv.FormatUint(x, 10)), nil
	case json.RawMessage:
		d := json.NewDecoder(bytes.NewReader(x))
		d.UseNumber()
		var y any
		if err := d.Decode(&y); err != nil {
			return b, jsonErr(path, "invalid JSON: %v", err)
		}
		return appendJSON(b, name, y, path[:len(path)-1], inList)
	case map[string]any:
		if len(x) == 0 {
			return leaf(b, ""), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		start := len(b)
		b = open(b)
		inner := len(b)
		for _, k := range keys {
			var err error
			if b, err = appendJSON(b, k, x[k], path, false); err != nil {
				return b, err
			}
		}
		if len(b) == inner { // only nulls and empty lists
			return leaf(b[:start], ""), nil
		}
		return closeTag(b), nil
	case []any:
		if inList {
			return b, jsonErr(path, "a list inside a list has no XML form")
		}
		for _, item := range x {
			var err error
			if b, err = appendJSON(b, name, item, path[:len(path)-1], true); err != nil {
				return b, err
			}
		}
		return b, nil
	case []string:
		if inList {
			return b, jsonErr(path, "a list inside a list has no XML form")
		}
		for _, s := range x {
			b = leaf(b, s)
		}
		return b, nil
	case []map[string]any:
		if inList {
			return b, jsonErr(path, "a list inside a list has no XML form")
		}
		for _, m := range x {
			var err error
			if b, err = appendJSON(b, name, m, path[:len(path)-1], true); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	return b, jsonErr(path, "unsupported type %T", v)
}

// JSONToElements returns the XML form of the JSON value v named name as
// elements: none for null, several for a list, one otherwise. It is
// AppendJSONAsXML producing a tree.
func JSONToElements(name string, v any) ([]*Element, error) {
	b, err := AppendJSONAsXML(nil, name, v)
	if err != nil || len(b) == 0 {
		return nil, err
	}
	// Wrap to parse a sequence of elements as one document.
	doc := make([]byte, 0, len(b)+7)
	doc = append(doc, "<x>"...)
	doc = append(doc, b...)
	doc = append(doc, "</x>"...)
	root, err := ParseElement(doc)
	if err != nil {
		return nil, err
	}
	return root.Children, nil
}

// ElementsToJSON converts property elements (a config node's Props) to a
// JSON property map: element names become JSON names (hyphens to
// underscores); an element that occurs more than once, or that shape marks
// as a list, becomes a []any; see Shape for the leaves. Attributes are
// ignored (the config schema has none) and so is text beside child elements.
// Errors are *DecodeError naming the element and value.
func ElementsToJSON(els []*Element, shape Shape) (map[string]any, error) {
	path := make([]string, 0, 16)
	return childrenToJSON(els, shape, path)
}

func childrenToJSON(els []*Element, shape Shape, path []string) (map[string]any, error) {
	out := make(map[string]any, len(els))
	for i, c := range els {
		key := strings.ReplaceAll(c.Name.Local, "-", "_")
		if _, done := out[key]; done {
			continue
		}
		p := append(path, key)
		kind, list := KindAuto, false
		if shape != nil {
			kind, list = shape(p)
		}
		if !list {
			for _, d := range els[i+1:] {
				if sameKey(d.Name.Local, key) {
					list = true
					break
				}
			}
		}
		if !list {
			v, err := elementToJSON(c, kind, shape, p)
			if err != nil {
				return nil, err
			}
			out[key] = v
			continue
		}
		var items []any
		for _, d := range els[i:] {
			if !sameKey(d.Name.Local, key) {
				continue
			}
			v, err := elementToJSON(d, kind, shape, p)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		out[key] = items
	}
	return out, nil
}

func elementToJSON(el *Element, kind ValueKind, shape Shape, path []string) (any, error) {
	if kind == KindAuto {
		kind = KindString
		if len(el.Children) > 0 {
			kind = KindObject
		}
	}
	switch kind {
	case KindObject:
		m, err := childrenToJSON(el.Children, shape, path)
		if err != nil {
			return nil, err
		}
		return m, nil
	case KindNumber, KindBool:
		if len(el.Children) > 0 {
			return nil, errAt(strings.Join(path, "/"), "expected a value, found child elements", "")
		}
		t := trimSpace(el.Text)
		if t == "" {
			return nil, nil
		}
		if kind == KindBool {
			v, ok := parseBool(t)
			if !ok {
				return nil, errAt(strings.Join(path, "/"), "invalid boolean", el.Text)
			}
			return v, nil
		}
		if !json.Valid([]byte(t)) || !isJSONNumber(t) {
			return nil, errAt(strings.Join(path, "/"), "invalid number", el.Text)
		}
		return json.Number(t), nil
	default:
		if len(el.Children) > 0 {
			return nil, errAt(strings.Join(path, "/"), "expected text, found child elements", "")
		}
		return el.Text, nil
	}
}

// sameKey reports whether element name maps to JSON name key.
func sameKey(name, key string) bool {
	if len(name) != len(key) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' {
			c = '_'
		}
		if c != key[i] {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether s (already valid JSON) is a number literal.
func isJSONNumber(s string) bool {
	c := s[0]
	return c == '-' || (c >= '0' && c <= '9')
}
