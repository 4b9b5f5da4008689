// SPDX-License-Identifier: Apache-2.0

package sandesh

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ToFields converts the fields of a message or struct given as Go data:
//
//   - []Field is used as it is (an ID of 0 becomes the field's position);
//   - map[string]any gives one field per key, in key order, each value
//     converted by ToValue;
//   - a struct (or pointer to one) gives one field per exported field,
//     named and annotated by its `sandesh` tag:
//     `sandesh:"process_status,id=4,aggtype=union"`; "-" skips a field,
//     "omitempty" skips zero values, nil pointers and nil slices/maps are
//     always skipped (the IDL's optional fields), and any other key=value
//     becomes an annotation (aggtype, tags, key, ...).
func ToFields(v any) ([]Field, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []Field:
		out := make([]Field, len(x))
		copy(out, x)
		for i := range out {
			if out[i].ID == 0 {
				out[i].ID = i + 1
			}
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]Field, 0, len(keys))
		for i, k := range keys {
			if x[k] == nil {
				continue
			}
			val, err := ToValue(x[k])
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", k, err)
			}
			out = append(out, Field{Name: k, ID: i + 1, Value: val})
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("sandesh: cannot make fields of %T", v)
	}
	s, err := structValue(rv)
	if err != nil {
		return nil, err
	}
	return s.Fields, nil
}

// ToValue converts Go data to a Value: Value itself, string, bool, the
// sized integers (int and int64 give i64, uint and uint64 u64, uint8 byte),
// float32/64 (double), slices (list), maps (map, keys as text), structs
// (struct named after the Go type, fields as in ToFields) and pointers.
func ToValue(v any) (Value, error) {
	if x, ok := v.(Value); ok {
		return x, nil
	}
	return toValue(reflect.ValueOf(v))
}

var valueType = reflect.TypeFor[Value]()

func toValue(rv reflect.Value) (Value, error) {
	if !rv.IsValid() {
		return Value{}, fmt.Errorf("sandesh: nil value")
	}
	if rv.Type() == valueType {
		return rv.Interface().(Value), nil
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return Value{}, fmt.Errorf("sandesh: nil value")
		}
		return toValue(rv.Elem())
	case reflect.String:
		return String(rv.String()), nil
	case reflect.Bool:
		return Bool(rv.Bool()), nil
	case reflect.Int, reflect.Int64:
		return I64(rv.Int()), nil
	case reflect.Int32:
		return I32(int32(rv.Int())), nil
	case reflect.Int16:
		return Value{Type: TI16, Int: rv.Int()}, nil
	case reflect.Int8:
		return Value{Type: TByte, Int: rv.Int()}, nil
	case reflect.Uint8:
		return Value{Type: TByte, Int: int64(rv.Uint())}, nil
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return U64(rv.Uint()), nil
	case reflect.Uint32:
		return U32(uint32(rv.Uint())), nil
	case reflect.Uint16:
		return U16(uint16(rv.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return Double(rv.Float()), nil
	case reflect.Slice, reflect.Array:
		et := typeOf(rv.Type().Elem())
		l := &List{Elem: et, Items: make([]Value, 0, rv.Len())}
		for i := 0; i < rv.Len(); i++ {
			it, err := toValue(rv.Index(i))
			if err != nil {
				return Value{}, err
			}
			l.Items = append(l.Items, it)
		}
		return Value{Type: TList, List: l}, nil
	case reflect.Map:
		m := &Map{Key: typeOf(rv.Type().Key()), Elem: typeOf(rv.Type().Elem())}
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			kv, err := toValue(k)
			if err != nil {
				return Value{}, err
			}
			vv, err := toValue(rv.MapIndex(k))
			if err != nil {
				return Value{}, err
			}
			m.Entries = append(m.Entries, MapEntry{kv, vv})
		}
		return Value{Type: TMap, Map: m}, nil
	case reflect.Struct:
		s, err := structValue(rv)
		if err != nil {
			return Value{}, err
		}
		return Value{Type: TStruct, Struct: s}, nil
	}
	return Value{}, fmt.Errorf("sandesh: cannot encode a %s", rv.Type())
}

// typeOf gives the Sandesh type of a Go type, for empty containers.
func typeOf(t reflect.Type) Type {
	if t == valueType {
		return TString // unknown until a value is seen; string is the common case
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeOf(t.Elem())
	case reflect.String:
		return TString
	case reflect.Bool:
		return TBool
	case reflect.Int, reflect.Int64:
		return TI64
	case reflect.Int32:
		return TI32
	case reflect.Int16:
		return TI16
	case reflect.Int8, reflect.Uint8:
		return TByte
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return TU64
	case reflect.Uint32:
		return TU32
	case reflect.Uint16:
		return TU16
	case reflect.Float32, reflect.Float64:
		return TDouble
	case reflect.Slice, reflect.Array:
		return TList
	case reflect.Map:
		return TMap
	case reflect.Struct:
		return TStruct
	}
	return TString
}

type structField struct {
	index     int
	name      string
	id        int
	omitEmpty bool
	attrs     []Attr
}

var structCache sync.Map // reflect.Type -> []structField

func fieldsOf(t reflect.Type) []structField {
	if c, ok := structCache.Load(t); ok {
		return c.([]structField)
	}
	var out []structField
	pos := 0
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		pos++
		f := structField{index: i, name: sf.Name, id: pos}
		if tag, ok := sf.Tag.Lookup("sandesh"); ok {
			if tag == "-" {
				continue
			}
			parts := strings.Split(tag, ",")
			if parts[0] != "" {
				f.name = parts[0]
			}
			for _, p := range parts[1:] {
				k, v, _ := strings.Cut(p, "=")
				switch k {
				case "omitempty":
					f.omitEmpty = true
				case "id":
					if n, err := strconv.Atoi(v); err == nil {
						f.id = n
					}
				case "":
				default:
					f.attrs = append(f.attrs, Attr{k, v})
				}
			}
		}
		out = append(out, f)
	}
	structCache.Store(t, out)
	return out
}

func structValue(rv reflect.Value) (*Struct, error) {
	t := rv.Type()
	s := &Struct{Name: t.Name()}
	if n, ok := rv.Interface().(interface{ SandeshName() string }); ok {
		s.Name = n.SandeshName()
	}
	for _, sf := range fieldsOf(t) {
		fv := rv.Field(sf.index)
		switch fv.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			if fv.IsNil() {
				continue
			}
		}
		if sf.omitEmpty && fv.IsZero() {
			continue
		}
		v, err := toValue(fv)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", s.Name, sf.name, err)
		}
		s.Fields = append(s.Fields, Field{Name: sf.name, ID: sf.id, Attrs: sf.attrs, Value: v})
	}
	return s, nil
}
