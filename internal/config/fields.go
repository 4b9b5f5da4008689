// SPDX-License-Identifier: Apache-2.0

package config

import (
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Field describes one option of a config struct, as Load sees it.
type Field struct {
	Name    string // Go field path, such as "Listen" or "Log.Level"
	Flag    string // flag name without the dash
	Env     string // environment variable, "" if disabled with env:"-"
	INI     string // "SECTION.key", "" if disabled with ini:"-"
	Default string // the default tag, or the field's value when there is none
	Usage   string
	Type    string // "string", "bool", "int", "uint", "float", "duration", "list" or "value"
	Secret  bool   // secret:"true": hidden in Dump, Usage and errors
}

// field is a Field bound to the struct field it sets.
type field struct {
	Field
	hasDefault bool
	value      reflect.Value
}

// shown returns s, or a placeholder if the option is secret.
func (f *field) shown(s string) string {
	if f.Secret {
		return "***"
	}
	return s
}

// Fields describes the options of cfg, a struct or a pointer to one, in
// struct order; nested structs without a flag tag are walked into.
func Fields(cfg any) ([]Field, error) {
	fields, err := inspect(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]Field, len(fields))
	for n, f := range fields {
		out[n] = f.Field
	}
	return out, nil
}

// collect returns the options of cfg, which must be a non-nil pointer to a
// struct so that they can be set.
func collect(cfg any) ([]*field, error) {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: need a non-nil pointer to a struct, got %T", cfg)
	}
	return inspect(cfg)
}

// inspect returns the options of cfg, a struct or a non-nil pointer to one.
func inspect(cfg any) ([]*field, error) {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: need a struct or a pointer to one, got %T", cfg)
	}
	var fields []*field
	if err := walk(rv, "", &fields); err != nil {
		return nil, err
	}
	flags := map[string]string{ConfigFlag: "the config file option"}
	envs := map[string]string{ConfigEnv: "the config file option"}
	keys := map[string]string{}
	for _, f := range fields {
		for _, u := range []struct {
			seen map[string]string
			name string
			what string
		}{{flags, f.Flag, "flag"}, {envs, f.Env, "env"}, {keys, f.INI, "ini"}} {
			if u.name == "" {
				continue
			}
			if other, dup := u.seen[u.name]; dup {
				return nil, fmt.Errorf("config: field %s: %s %q is also used by %s", f.Name, u.what, u.name, other)
			}
			u.seen[u.name] = "field " + f.Name
		}
	}
	return fields, nil
}

func walk(v reflect.Value, prefix string, out *[]*field) error {
	t := v.Type()
	for n := range t.NumField() {
		sf := t.Field(n)
		fv := v.Field(n)
		name := prefix + sf.Name
		flagName, tagged := sf.Tag.Lookup("flag")
		if flagName == "-" {
			continue
		}
		if !tagged {
			for _, k := range []string{"env", "ini", "default", "usage", "secret"} {
				if _, ok := sf.Tag.Lookup(k); ok {
					return fmt.Errorf("config: field %s has a %s tag but no flag tag", name, k)
				}
			}
			if sf.Type.Kind() == reflect.Struct && !isText(sf.Type) && (sf.IsExported() || sf.Anonymous) {
				if err := walk(fv, name+".", out); err != nil {
					return err
				}
			}
			continue
		}
		if !sf.IsExported() {
			return fmt.Errorf("config: field %s has a flag tag but is not exported", name)
		}
		typ := typeName(sf.Type)
		if typ == "" {
			return fmt.Errorf("config: field %s: unsupported type %s", name, sf.Type)
		}
		if flagName == "" || flagName[0] == '-' || strings.ContainsAny(flagName, "= \t\r\n") {
			return fmt.Errorf("config: field %s: invalid flag name %q", name, flagName)
		}
		f := &field{
			Field: Field{Name: name, Flag: flagName, Usage: sf.Tag.Get("usage"), Type: typ},
			value: fv,
		}

		switch env, ok := sf.Tag.Lookup("env"); {
		case !ok:
			f.Env = deriveEnv(flagName)
		case env == "-":
		case env == "" || strings.ContainsAny(env, "= \t\r\n"):
			return fmt.Errorf("config: field %s: invalid env tag %q", name, env)
		default:
			f.Env = env
		}

		switch key, ok := sf.Tag.Lookup("ini"); {
		case !ok:
			f.INI = DefaultSection + "." + strings.ReplaceAll(flagName, "-", "_")
		case key == "-":
		default:
			section, k, found := strings.Cut(key, ".")
			if !found || strings.TrimSpace(section) != section || section == "" ||
				strings.TrimSpace(k) != k || k == "" || strings.ContainsAny(key, "[]=:#;\r\n") {
				return fmt.Errorf("config: field %s: ini tag %q is not \"SECTION.key\"", name, key)
			}
			f.INI = key
		}

		if s, ok := sf.Tag.Lookup("secret"); ok {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("config: field %s: invalid secret tag %q", name, s)
			}
			f.Secret = b
		}

		if def, ok := sf.Tag.Lookup("default"); ok {
			if err := setValue(reflect.New(sf.Type).Elem(), def); err != nil {
				return fmt.Errorf("config: field %s: default %q: %w", name, def, err)
			}
			f.Default, f.hasDefault = def, true
		} else {
			f.Default = formatValue(fv)
		}
		*out = append(*out, f)
	}
	return nil
}

// deriveEnv turns a flag name into its environment variable:
// "etcd-endpoints" -> "CONTRAIL_ETCD_ENDPOINTS".
func deriveEnv(flagName string) string {
	return EnvPrefix + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, flagName)
}

// Usage returns the help text for the options of cfg and any other flags
// defined on fs (fs may be nil), sorted by flag name. Each option shows its
// default, environment variable and config-file key, so the text can go into
// a README as it is. Load makes -h print it.
func Usage(fs *flag.FlagSet, cfg any) string {
	fields, err := inspect(cfg)
	if err != nil {
		return err.Error() + "\n"
	}
	type entry struct {
		name, placeholder, usage, def, sources string
	}
	var entries []entry
	known := map[string]bool{}
	for _, f := range fields {
		known[f.Flag] = true
		placeholder, usage := splitUsage(f.Usage, f.Type)
		e := entry{name: f.Flag, placeholder: placeholder, usage: usage}
		if !f.Secret && !isZeroDefault(f) {
			e.def = f.Default
			if f.Type == "string" || f.Type == "value" {
				e.def = strconv.Quote(f.Default)
			}
		}
		var src []string
		if f.Env != "" {
			src = append(src, "env "+f.Env)
		}
		if f.INI != "" {
			section, key, _ := strings.Cut(f.INI, ".")
			src = append(src, "ini ["+section+"] "+key)
		}
		if f.Type == "list" {
			src = append(src, "comma-separated")
		}
		e.sources = strings.Join(src, ", ")
		entries = append(entries, e)
	}
	known[ConfigFlag] = true
	entries = append(entries, entry{
		name: ConfigFlag, placeholder: "file",
		usage:   "read options from this INI file (sections as in /etc/contrail/*.conf)",
		sources: "env " + ConfigEnv,
	})
	if fs != nil {
		fs.VisitAll(func(fl *flag.Flag) {
			if known[fl.Name] {
				return
			}
			placeholder, usage := flag.UnquoteUsage(fl)
			e := entry{name: fl.Name, placeholder: placeholder, usage: usage}
			switch fl.DefValue {
			case "", "0", "false", "0s", "[]":
			default:
				e.def = fl.DefValue
			}
			entries = append(entries, e)
		})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })

	var sb strings.Builder
	sb.WriteString("Options (a flag overrides the environment, which overrides the config file):\n")
	for _, e := range entries {
		fmt.Fprintf(&sb, "  -%s", e.name)
		if e.placeholder != "" {
			fmt.Fprintf(&sb, " %s", e.placeholder)
		}
		sb.WriteString("\n")
		usage := e.usage
		if e.def != "" {
			usage = strings.TrimSpace(usage + " (default " + e.def + ")")
		}
		if usage != "" {
			sb.WriteString("    \t")
			sb.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
			sb.WriteString("\n")
		}
		if e.sources != "" {
			sb.WriteString("    \t")
			sb.WriteString(e.sources)
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

// splitUsage takes the placeholder from a back-quoted word in usage, as the
// flag package does ("listen `address`"), else uses the type name; bools
// have none.
func splitUsage(usage, typ string) (placeholder, text string) {
	if start := strings.IndexByte(usage, '`'); start >= 0 {
		if end := strings.IndexByte(usage[start+1:], '`'); end >= 0 {
			name := usage[start+1 : start+1+end]
			return name, usage[:start] + name + usage[start+2+end:]
		}
	}
	if typ == "bool" {
		return "", usage
	}
	return typ, usage
}

// isZeroDefault reports whether f's default is its type's zero value, which
// usage leaves out.
func isZeroDefault(f *field) bool {
	v := reflect.New(f.value.Type()).Elem()
	if err := setValue(v, f.Default); err != nil {
		return false
	}
	if v.Kind() == reflect.Slice {
		return v.Len() == 0
	}
	return v.IsZero()
}

// Dump returns the effective options of cfg (a struct or a pointer to one)
// keyed by flag name, for an introspect page: durations and text values as
// strings, lists as []string, other values as they are. Secret options show
// "***" when set. If cfg is not a config struct, Dump returns a map with the
// single key "error".
func Dump(cfg any) map[string]any {
	fields, err := inspect(cfg)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		switch {
		case f.Secret && f.value.IsZero():
			out[f.Flag] = ""
		case f.Secret:
			out[f.Flag] = "***"
		default:
			out[f.Flag] = dumpValue(f.value)
		}
	}
	return out
}
