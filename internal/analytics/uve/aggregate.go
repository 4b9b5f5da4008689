// SPDX-License-Identifier: Apache-2.0

package uve

import (
	"encoding/json"
	"sort"

	"github.com/contrail-go/contrail/internal/sandesh"
)

// Part is one generator's state of one UVE struct.
type Part struct {
	Origin Origin
	Attrs  []sandesh.Field
	T      int64
}

// Aggregate combines the parts of one UVE (struct name -> one part per
// generator) into the analytics API's object: struct name -> attribute ->
// value, plus "__T", the newest update time (µs). Each attribute is
// combined across generators by its aggtype annotation, as the original's
// analytics API does:
//
//   - sum: integers and doubles are added; structs are added field by
//     field (their numeric fields; others come from the first generator);
//   - union: lists become the set union of their elements (first-seen
//     order), maps the merge of their entries;
//   - append: lists are concatenated, then elements with the same value of
//     the element struct's listkey field are consolidated into one whose
//     numeric fields are summed;
//   - none (default): identical values are de-duplicated and the result is
//     a list of [value, origin, origin...] entries; with f.Flat and a
//     single distinct value, just that value.
//
// Values are plain JSON-ready Go data (see sandesh.Value.Go); f.CFilt
// entries "Struct:attr" restrict the attributes returned.
func Aggregate(parts map[string][]Part, f Filter) map[string]any {
	out := make(map[string]any, len(parts))
	for name, ps := range parts {
		// Stable origin order makes the default aggregation deterministic.
		sort.Slice(ps, func(i, j int) bool { return ps[i].Origin.String() < ps[j].Origin.String() })
		attrs := map[string]any{}
		var newest int64
		order := []string{}
		byAttr := map[string][]originField{}
		for _, p := range ps {
			newest = max(newest, p.T)
			for i := range p.Attrs {
				a := &p.Attrs[i]
				if !attrWanted(f.CFilt, name, a.Name) {
					continue
				}
				if _, ok := byAttr[a.Name]; !ok {
					order = append(order, a.Name)
				}
				byAttr[a.Name] = append(byAttr[a.Name], originField{p.Origin, a})
			}
		}
		for _, an := range order {
			attrs[an] = aggregateAttr(byAttr[an], f.Flat)
		}
		attrs["__T"] = newest
		out[name] = attrs
	}
	return out
}

type originField struct {
	origin Origin
	field  *sandesh.Field
}

func aggregateAttr(vals []originField, flat bool) any {
	agg, _ := vals[0].field.Attr("aggtype")
	switch agg {
	case "sum":
		return sumValues(vals)
	case "union":
		return unionValues(vals)
	case "append":
		return appendValues(vals)
	}
	return defaultAgg(vals, flat)
}

// canon is a value's identity for de-duplication.
func canon(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func defaultAgg(vals []originField, flat bool) any {
	type group struct {
		value   any
		origins []any
	}
	var groups []*group
	seen := map[string]*group{}
	for _, v := range vals {
		g := v.field.Value.Go()
		k := canon(g)
		if gr, ok := seen[k]; ok {
			gr.origins = append(gr.origins, v.origin.String())
			continue
		}
		gr := &group{value: g, origins: []any{v.origin.String()}}
		seen[k] = gr
		groups = append(groups, gr)
	}
	if flat && len(groups) == 1 {
		return groups[0].value
	}
	out := make([]any, len(groups))
	for i, g := range groups {
		out[i] = append([]any{g.value}, g.origins...)
	}
	return out
}

func sumValues(vals []originField) any {
	first := vals[0].field.Value
	if first.Type == sandesh.TStruct {
		structs := make([]*sandesh.Struct, 0, len(vals))
		for _, v := range vals {
			if v.field.Struct != nil {
				structs = append(structs, v.field.Struct)
			}
		}
		return sumStructs(structs)
	}
	return sumScalars(func(yield func(sandesh.Value) bool) {
		for _, v := range vals {
			if !yield(v.field.Value) {
				return
			}
		}
	}, first)
}

// sumScalars adds numbers of the first value's kind.
func sumScalars(seq func(func(sandesh.Value) bool), first sandesh.Value) any {
	var i int64
	var u uint64
	var f float64
	seq(func(v sandesh.Value) bool {
		switch {
		case v.Type == sandesh.TDouble:
			f += v.Float
		case v.Type == sandesh.TU16 || v.Type == sandesh.TU32 || v.Type == sandesh.TU64:
			u += v.Uint
		default:
			i += v.Int
		}
		return true
	})
	switch first.Type {
	case sandesh.TDouble:
		return f + float64(i) + float64(u)
	case sandesh.TU16, sandesh.TU32, sandesh.TU64:
		return u + uint64(i)
	case sandesh.TByte, sandesh.TI16, sandesh.TI32, sandesh.TI64:
		return i + int64(u)
	}
	return first.Go()
}

// sumStructs adds structs field by field: numeric fields are summed,
// other fields come from the first struct that has them.
func sumStructs(structs []*sandesh.Struct) map[string]any {
	out := map[string]any{}
	seen := map[string]bool{}
	for _, s := range structs {
		for _, f := range s.Fields {
			if seen[f.Name] {
				continue
			}
			seen[f.Name] = true
			if _, ok := f.Value.Number(); !ok {
				out[f.Name] = f.Value.Go()
				continue
			}
			name := f.Name
			out[name] = sumScalars(func(yield func(sandesh.Value) bool) {
				for _, s2 := range structs {
					if g := s2.Field(name); g != nil {
						if !yield(g.Value) {
							return
						}
					}
				}
			}, f.Value)
		}
	}
	return out
}

func unionValues(vals []originField) any {
	first := vals[0].field.Value
	if first.Type == sandesh.TMap {
		out := map[string]any{}
		for _, v := range vals {
			if v.field.Map == nil {
				continue
			}
			for _, e := range v.field.Map.Entries {
				out[e.Key.Text()] = e.Value.Go()
			}
		}
		return out
	}
	if first.Type != sandesh.TList && first.Type != sandesh.TSet {
		return defaultAgg(vals, true)
	}
	out := []any{}
	seen := map[string]bool{}
	for _, v := range vals {
		if v.field.List == nil {
			continue
		}
		for _, it := range v.field.List.Items {
			g := it.Go()
			k := canon(g)
			if !seen[k] {
				seen[k] = true
				out = append(out, g)
			}
		}
	}
	return out
}

func appendValues(vals []originField) any {
	var items []sandesh.Value
	for _, v := range vals {
		if v.field.List != nil {
			items = append(items, v.field.List.Items...)
		}
	}
	// The element struct's listkey field, if any.
	listkey := ""
	for _, it := range items {
		if it.Struct == nil {
			break
		}
		for _, f := range it.Struct.Fields {
			if a, _ := f.Attr("aggtype"); a == "listkey" {
				listkey = f.Name
			}
		}
		break
	}
	if listkey == "" {
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = it.Go()
		}
		return out
	}
	var order []string
	groups := map[string][]*sandesh.Struct{}
	for _, it := range items {
		if it.Struct == nil {
			continue
		}
		k := ""
		if f := it.Struct.Field(listkey); f != nil {
			k = f.Value.Text()
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], it.Struct)
	}
	out := make([]any, 0, len(order))
	for _, k := range order {
		out = append(out, sumStructs(groups[k]))
	}
	return out
}
