// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// FieldError reports an invalid value. Field is the path of the value from
// the property (or the prefix given to ValidateAttr / Type.Validate), with
// object fields joined by '.' and array elements as [i], e.g.
// "network_ipam_refs[0].attr.ipam_subnets[2].subnet.ip_prefix_len".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Validate checks a property value as decoded from JSON (see the package
// documentation). Error paths start with the property name. The value of a
// ListProperty or MapProperty is its wrapper object, as in resource bodies;
// to check one element of the list, use p.ListField().Type.Validate.
//
// Validation rules, applied recursively:
//   - null (nil) is accepted anywhere and means absent, except for fields
//     with Enforce set, which must be present and non-null;
//   - objects may only hold the fields of their type ("unknown field");
//   - list fields must be arrays; each element is checked;
//   - integers must be integral and in the type's range (int64 for
//     xsd:integer, uint64 for xsd:unsignedLong, the restriction's bounds
//     otherwise);
//   - strings with an enumeration must hold one of its values;
//   - booleans must be JSON booleans;
//   - dateTime and time values must be strings in ISO 8601 form (zone and
//     fractional seconds optional);
//   - values of KindAny types are not checked.
func (p *Property) Validate(v any) error {
	if e := p.Type.validate(v); e != nil {
		return e.finish(p.Name)
	}
	return nil
}

// ValidateAttr checks the attribute ("attr") of a reference of this link.
// prefix is the path to report errors under, typically
// "network_ipam_refs[0].attr". When the link carries no attribute type
// (Attr is nil) any value is accepted, as the original API server ignores it.
func (l *Link) ValidateAttr(prefix string, v any) error {
	if l.Attr == nil {
		return nil
	}
	if e := l.Attr.validate(v); e != nil {
		return e.finish(prefix)
	}
	return nil
}

// Validate checks v against the type; errors are reported under the path
// prefix (which may be empty). The rules are those of Property.Validate.
func (t *Type) Validate(prefix string, v any) error {
	if e := t.validate(v); e != nil {
		return e.finish(prefix)
	}
	return nil
}

// verr is an error being returned up the recursion: the path to the value
// is collected while unwinding (innermost element first), so that the happy
// path does no bookkeeping and allocates nothing.
type verr struct {
	msg  string
	segs []pathSeg // innermost first
}

type pathSeg struct {
	name  string // field name; "" for an array element
	index int
}

func (e *verr) field(name string) *verr {
	e.segs = append(e.segs, pathSeg{name: name})
	return e
}

func (e *verr) elem(i int) *verr {
	e.segs = append(e.segs, pathSeg{index: i})
	return e
}

func (e *verr) finish(prefix string) *FieldError {
	var b strings.Builder
	b.WriteString(prefix)
	for i := len(e.segs) - 1; i >= 0; i-- {
		sg := e.segs[i]
		if sg.name == "" {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(sg.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(sg.name)
	}
	return &FieldError{Field: b.String(), Msg: e.msg}
}

func errf(format string, a ...any) *verr {
	return &verr{msg: fmt.Sprintf(format, a...), segs: make([]pathSeg, 0, 4)}
}

// jsonKind names the JSON kind of a decoded value for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

var kindNames = [...]string{
	KindAny:      "any value",
	KindString:   "string",
	KindInteger:  "integer",
	KindNumber:   "number",
	KindBoolean:  "boolean",
	KindDateTime: "dateTime string",
	KindTime:     "time string",
	KindComplex:  "object",
}

func wrongKind(want string, v any) *verr {
	return errf("expected %s, got %s", want, jsonKind(v))
}

func (t *Type) validate(v any) *verr {
	if v == nil {
		return nil
	}
	switch t.Kind {
	case KindAny:
		return nil
	case KindString:
		s, ok := v.(string)
		if !ok {
			return wrongKind("string", v)
		}
		if len(t.Enum) > 0 && !t.inEnum(s) {
			return errf("%q is not one of %v", s, t.Enum)
		}
		return nil
	case KindInteger:
		return t.checkInteger(v)
	case KindNumber:
		switch n := v.(type) {
		case json.Number:
			if _, err := strconv.ParseFloat(string(n), 64); err != nil && !isRangeErr(err) {
				return errf("invalid number %q", string(n))
			}
			return nil
		case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			return nil
		}
		return wrongKind("number", v)
	case KindBoolean:
		if _, ok := v.(bool); !ok {
			return wrongKind("boolean", v)
		}
		return nil
	case KindDateTime, KindTime:
		s, ok := v.(string)
		if !ok {
			return wrongKind(kindNames[t.Kind], v)
		}
		if t.Kind == KindDateTime && !isDateTime(s) {
			return errf("%q is not a valid dateTime (want YYYY-MM-DDThh:mm:ss[.frac][zone])", s)
		}
		if t.Kind == KindTime && !isTime(s) {
			return errf("%q is not a valid time (want hh:mm:ss[.frac][zone])", s)
		}
		return nil
	case KindComplex:
		obj, ok := v.(map[string]any)
		if !ok {
			return wrongKind("object", v)
		}
		return t.validateObject(obj)
	}
	return nil
}

func (t *Type) inEnum(s string) bool {
	for _, e := range t.Enum {
		if e == s {
			return true
		}
	}
	return false
}

func (t *Type) validateObject(obj map[string]any) *verr {
	present := 0
	for _, f := range t.Fields {
		fv, ok := obj[f.Name]
		if ok {
			present++
		}
		if fv == nil {
			if f.Enforce {
				return errf("required field is missing").field(f.Name)
			}
			continue
		}
		if !f.List {
			if e := f.Type.validate(fv); e != nil {
				return e.field(f.Name)
			}
			continue
		}
		arr, ok := fv.([]any)
		if !ok {
			return wrongKind("array", fv).field(f.Name)
		}
		for i, ev := range arr {
			if e := f.Type.validate(ev); e != nil {
				return e.elem(i).field(f.Name)
			}
		}
	}
	if present < len(obj) {
		var unknown []string
		for k := range obj {
			if t.fieldIndex[k] == nil {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		return errf("unknown field").field(unknown[0])
	}
	return nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// checkInteger checks an integer value against the type's range. The fast
// path parses plain integer literals; the slow path (integralLiteral) handles
// fractions, exponents and values beyond 64 bits exactly.
func (t *Type) checkInteger(v any) *verr {
	switch n := v.(type) {
	case json.Number:
		s := string(n)
		if t.Unsigned {
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return t.checkUint(u, s)
			}
		} else if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return t.checkInt(i, s)
		}
		return t.checkLiteral(s)
	case float64:
		return t.checkFloat(n)
	case float32:
		return t.checkFloat(float64(n))
	case int:
		return t.checkSigned(int64(n))
	case int8:
		return t.checkSigned(int64(n))
	case int16:
		return t.checkSigned(int64(n))
	case int32:
		return t.checkSigned(int64(n))
	case int64:
		return t.checkSigned(n)
	case uint:
		return t.checkUnsigned(uint64(n))
	case uint8:
		return t.checkUnsigned(uint64(n))
	case uint16:
		return t.checkUnsigned(uint64(n))
	case uint32:
		return t.checkUnsigned(uint64(n))
	case uint64:
		return t.checkUnsigned(n)
	}
	return wrongKind("integer", v)
}

func (t *Type) checkFloat(f float64) *verr {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errf("expected integer, got %v", f)
	}
	return t.checkLiteral(strconv.FormatFloat(f, 'g', -1, 64))
}

func (t *Type) checkSigned(i int64) *verr {
	if t.Unsigned && i >= 0 {
		return t.checkUint(uint64(i), "")
	}
	return t.checkInt(i, "")
}

func (t *Type) checkUnsigned(u uint64) *verr {
	if !t.Unsigned && u > math.MaxInt64 {
		return t.rangeErr(strconv.FormatUint(u, 10))
	}
	if t.Unsigned {
		return t.checkUint(u, "")
	}
	return t.checkInt(int64(u), "")
}

// checkInt checks a signed value; lit is its literal for messages ("" to format i).
func (t *Type) checkInt(i int64, lit string) *verr {
	if t.Unsigned && i < 0 || t.HasMin && i < t.Min || t.HasMax && i > t.Max {
		if lit == "" {
			lit = strconv.FormatInt(i, 10)
		}
		return t.rangeErr(lit)
	}
	return nil
}

func (t *Type) checkUint(u uint64, lit string) *verr {
	if t.HasMin && t.Min > 0 && u < uint64(t.Min) || t.HasMax && (t.Max < 0 || u > uint64(t.Max)) {
		if lit == "" {
			lit = strconv.FormatUint(u, 10)
		}
		return t.rangeErr(lit)
	}
	return nil
}

func (t *Type) bounds() (lo, hi string) {
	switch {
	case t.HasMin:
		lo = strconv.FormatInt(t.Min, 10)
	case t.Unsigned:
		lo = "0"
	default:
		lo = strconv.FormatInt(math.MinInt64, 10)
	}
	switch {
	case t.HasMax:
		hi = strconv.FormatInt(t.Max, 10)
	case t.Unsigned:
		hi = strconv.FormatUint(math.MaxUint64, 10)
	default:
		hi = strconv.FormatInt(math.MaxInt64, 10)
	}
	return lo, hi
}

func (t *Type) rangeErr(lit string) *verr {
	lo, hi := t.bounds()
	return errf("value %s is out of range [%s, %s]", lit, lo, hi)
}

// checkLiteral handles number literals the fast path could not parse.
func (t *Type) checkLiteral(s string) *verr {
	neg, digits, ok, integral := integralLiteral(s)
	switch {
	case !ok:
		return errf("invalid number %q", s)
	case !integral:
		return errf("expected integer, got %s", s)
	case digits == "":
		return t.checkInt(0, s)
	case len(digits) > 20: // beyond any 64-bit value
		return t.rangeErr(s)
	}
	if neg {
		i, err := strconv.ParseInt("-"+digits, 10, 64)
		if err != nil {
			return t.rangeErr(s)
		}
		return t.checkInt(i, s)
	}
	u, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return t.rangeErr(s)
	}
	if t.Unsigned {
		return t.checkUint(u, s)
	}
	if u > math.MaxInt64 {
		return t.rangeErr(s)
	}
	return t.checkInt(int64(u), s)
}

// integralLiteral decodes a JSON number literal exactly, without big-number
// arithmetic: ok reports a well-formed literal, integral whether its value is
// a whole number, and then digits holds its magnitude in decimal without
// leading zeros ("" for zero). Values with more than 21 digits are returned
// as a string of 21 nines, which is enough for the range checks.
func integralLiteral(s string) (neg bool, digits string, ok, integral bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[start:i]
	if intPart == "" {
		return
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
		if frac == "" {
			return
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if exp < 1e6 { // saturate: far beyond any 64-bit value either way
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if i == es {
			return
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return
	}
	ok = true
	// value = 0.D * 10^point, with D = intPart+frac
	d := intPart + frac
	point := len(intPart) + exp
	for len(d) > 0 && d[0] == '0' {
		d = d[1:]
		point--
	}
	d = strings.TrimRight(d, "0")
	if d == "" {
		return neg, "", true, true
	}
	if len(d) > point {
		return neg, "", true, false
	}
	if point > 21 {
		return neg, "999999999999999999999", true, true
	}
	return neg, d + strings.Repeat("0", point-len(d)), true, true
}

// isDateTime accepts YYYY-MM-DD[T ]hh:mm[:ss[.frac]][zone].
func isDateTime(s string) bool {
	if len(s) < 11 || !digits(s[0:4]) || s[4] != '-' || !digits(s[5:7]) || s[7] != '-' || !digits(s[8:10]) {
		return false
	}
	if s[10] != 'T' && s[10] != 't' && s[10] != ' ' {
		return false
	}
	return isTime(s[11:])
}

// isTime accepts hh:mm[:ss[.frac]][Z|±hh[:]mm|±hh].
func isTime(s string) bool {
	if len(s) < 5 || !digits(s[0:2]) || s[2] != ':' || !digits(s[3:5]) {
		return false
	}
	s = s[5:]
	if len(s) >= 3 && s[0] == ':' && digits(s[1:3]) {
		s = s[3:]
		if len(s) >= 2 && s[0] == '.' {
			n := 1
			for n < len(s) && s[n] >= '0' && s[n] <= '9' {
				n++
			}
			if n == 1 {
				return false
			}
			s = s[n:]
		}
	}
	switch {
	case s == "", s == "Z", s == "z":
		return true
	case s[0] == '+' || s[0] == '-':
		z := s[1:]
		switch len(z) {
		case 2:
			return digits(z)
		case 4:
			return digits(z)
		case 5:
			return digits(z[0:2]) && z[2] == ':' && digits(z[3:5])
		}
	}
	return false
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}
