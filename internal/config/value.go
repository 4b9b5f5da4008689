// SPDX-License-Identifier: Apache-2.0

package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// isText reports whether values of t are set through encoding.TextUnmarshaler
// (net/netip addresses, slog.Level, ...).
func isText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// typeName returns the placeholder shown in usage for a value of type t, or
// "" if t is not a supported option type.
func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case isText(t):
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "list"
		}
	}
	return ""
}

// Errors for values that do not parse; they read well after "invalid value
// "x": ".
var (
	errBool     = errors.New("not a boolean (true/false, yes/no, on/off, 1/0)")
	errInt      = errors.New("not an integer")
	errUint     = errors.New("not a non-negative integer")
	errRange    = errors.New("out of range")
	errFloat    = errors.New("not a number")
	errDuration = errors.New(`not a duration (such as "5s", "1m30s", or a number of seconds)`)
)

// setValue parses s into v, which must be addressable and of a type for which
// typeName is not "".
func setValue(v reflect.Value, s string) error {
	t := v.Type()
	if isText(t) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	if t == durationType {
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := parseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return numError(err, errInt)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return numError(err, errUint)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return numError(err, errFloat)
		}
		v.SetFloat(f)
	case reflect.Slice:
		v.Set(reflect.ValueOf(splitList(s)))
	default:
		return fmt.Errorf("unsupported type %s", t)
	}
	return nil
}

func numError(err, syntax error) error {
	if errors.Is(err, strconv.ErrRange) {
		return errRange
	}
	return syntax
}

// parseBool accepts what Python's configparser getboolean accepts, which
// the original's files use ("True", "false", "yes", "on", "1"), case-
// insensitively.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, errBool
}

// parseDuration accepts Go durations ("1m30s") and, because the original's
// files give timeouts as plain numbers of seconds, a bare number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f { // reject NaN too
		return 0, errDuration
	}
	d := f * float64(time.Second)
	if d > float64(1<<63-1) || d < -float64(1<<63) {
		return 0, errRange
	}
	return time.Duration(d), nil
}

// splitList splits a list value at commas and white space (the original's
// files separate lists such as collectors with spaces) and drops empty
// items. The result is never nil, so an empty value clears the list.
func splitList(s string) []string {
	items := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if items == nil {
		items = []string{}
	}
	return items
}

// formatValue renders v the way setValue reads it back.
func formatValue(v reflect.Value) string {
	t := v.Type()
	if reflect.PointerTo(t).Implements(textMarshalerType) || t.Implements(textMarshalerType) {
		var m encoding.TextMarshaler
		if v.CanAddr() {
			m, _ = v.Addr().Interface().(encoding.TextMarshaler)
		}
		if m == nil {
			m, _ = v.Interface().(encoding.TextMarshaler)
		}
		if m != nil {
			if b, err := m.MarshalText(); err == nil {
				return string(b)
			}
		}
	}
	if t == durationType {
		return time.Duration(v.Int()).String()
	}
	switch t.Kind() {
	case reflect.Slice:
		items := make([]string, v.Len())
		for n := range items {
			items[n] = v.Index(n).String()
		}
		return strings.Join(items, ",")
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, t.Bits())
	}
	return fmt.Sprint(v.Interface())
}

// dumpValue returns v as a JSON-friendly Go value for Dump.
func dumpValue(v reflect.Value) any {
	t := v.Type()
	switch {
	case t == durationType, isText(t):
		return formatValue(v)
	case t.Kind() == reflect.Slice:
		out := make([]string, v.Len())
		for n := range out {
			out[n] = v.Index(n).String()
		}
		return out
	}
	return v.Interface()
}
