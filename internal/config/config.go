// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
)

// Names of the option that selects the config file.
const (
	ConfigFlag = "config"
	ConfigEnv  = "CONTRAIL_CONFIG"
)

// EnvPrefix and DefaultSection are used to derive the environment variable
// and the INI key of an option whose tags do not name them.
const (
	EnvPrefix      = "CONTRAIL_"
	DefaultSection = "DEFAULTS"
)

// ErrUnknownKey is wrapped by the *Error for a config-file key that no
// option reads.
var ErrUnknownKey = errors.New("unknown key")

// Sources of a value, in Error.Source.
const (
	SourceDefault = "default"
	SourceFile    = "file"
	SourceEnv     = "env"
	SourceFlag    = "flag"
)

// Error reports an option value that could not be used, or an unknown key in
// the config file, with where it came from.
type Error struct {
	Source string // SourceDefault, SourceFile, SourceEnv or SourceFlag
	File   string // config file, for SourceFile
	Line   int    // 1-based line in File
	Key    string // "SECTION.key" for files, the variable for env, the flag name otherwise
	Flag   string // the option's flag name, "" for an unknown key
	Value  string // the offending value; "***" for secret options
	Err    error
}

func (e *Error) Error() string {
	var where string
	switch e.Source {
	case SourceFile:
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	case SourceEnv:
		where = "env " + e.Key
	case SourceFlag:
		where = "flag -" + e.Key
	default:
		where = "default of -" + e.Key
	}
	if errors.Is(e.Err, ErrUnknownKey) {
		section, key, _ := strings.Cut(e.Key, ".")
		return fmt.Sprintf("config: %s: unknown key %q in section [%s]", where, key, section)
	}
	var what string
	if e.Source == SourceFile {
		section, key, _ := strings.Cut(e.Key, ".")
		what = fmt.Sprintf("[%s] %s: ", section, key)
	}
	msg := fmt.Sprintf("config: %s: %sinvalid value %q: %v", where, what, e.Value, e.Err)
	if e.Flag != "" && e.Source != SourceFlag && e.Source != SourceDefault {
		msg += " (option -" + e.Flag + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Validator is implemented by config structs that check themselves; Load
// calls Validate after all sources are applied.
type Validator interface {
	Validate() error
}

// Option changes how Load works.
type Option func(*options)

type options struct {
	lookupEnv   func(string) (string, bool)
	defaultFile string
	ignored     []string
	header      string
}

// WithLookupEnv replaces os.LookupEnv, for tests.
func WithLookupEnv(lookup func(key string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = lookup }
}

// WithDefaultFile names the config file read when neither -config nor
// CONTRAIL_CONFIG is given, such as "/etc/contrail/contrail-api.conf". Unlike
// a file named explicitly, it may be missing.
func WithDefaultFile(path string) Option {
	return func(o *options) { o.defaultFile = path }
}

// WithIgnoredKeys lets the config file contain keys no option reads without
// an error, so that a daemon can read one of the original's files that also
// configures things it does not do. Each key is "SECTION.key", or
// "SECTION.*" for a whole section.
func WithIgnoredKeys(keys ...string) Option {
	return func(o *options) { o.ignored = append(o.ignored, keys...) }
}

// WithUsageHeader sets the first line(s) -h prints before the options, such
// as "Usage: contrail api [options]".
func WithUsageHeader(header string) Option {
	return func(o *options) { o.header = header }
}

// Load fills cfg, a pointer to a struct, from (lowest precedence first) the
// default tags, the config file, the environment and the command line.
//
// It registers on fs one flag per option of cfg (see the package
// documentation for the tags) plus -config FILE, sets fs.Usage to print
// Usage, and parses args. When args ask for help, Load returns
// flag.ErrHelp after printing. After parsing, it applies:
//
//  1. the default tags (fields without one keep the value they had);
//  2. the config file named by -config, else $CONTRAIL_CONFIG, else
//     WithDefaultFile; an empty -config reads no file;
//  3. the environment variables; an empty variable counts as unset;
//  4. the flags given in args (found with fs.Visit).
//
// Finally it calls cfg.Validate if cfg implements Validator. Problems with
// the file or environment are returned together (errors.Join); each one is a
// *Error or *SyntaxError that names its source, key and line. Load panics
// only if fs is nil.
func Load(fs *flag.FlagSet, args []string, cfg any, opts ...Option) error {
	o := options{lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	fields, err := collect(cfg)
	if err != nil {
		return err
	}

	// Defaults.
	for _, f := range fields {
		if !f.hasDefault {
			continue
		}
		if err := setValue(f.value, f.Default); err != nil {
			return &Error{Source: SourceDefault, Key: f.Flag, Flag: f.Flag, Value: f.Default, Err: err}
		}
	}

	// Flags.
	if fs.Lookup(ConfigFlag) != nil {
		return fmt.Errorf("config: flag -%s is already defined", ConfigFlag)
	}
	flagVals := make(map[string]*flagValue, len(fields))
	for _, f := range fields {
		if fs.Lookup(f.Flag) != nil {
			return fmt.Errorf("config: flag -%s (field %s) is already defined", f.Flag, f.Name)
		}
		fv := &flagValue{field: f}
		flagVals[f.Flag] = fv
		fs.Var(fv, f.Flag, f.Usage)
	}
	configPath := &flagValue{}
	fs.Var(configPath, ConfigFlag, "read options from this INI `file`")
	fs.Usage = func() {
		out := fs.Output()
		if o.header != "" {
			fmt.Fprintln(out, strings.TrimRight(o.header, "\n"))
		}
		fmt.Fprint(out, Usage(fs, cfg))
	}
	if err := fs.Parse(args); err != nil {
		return err // flag.ErrHelp, or a message flag has already printed
	}

	// Config file.
	var errs []error
	path, explicit := o.defaultFile, false
	if v, ok := o.lookupEnv(ConfigEnv); ok && v != "" {
		path, explicit = v, true
	}
	if len(configPath.set) > 0 {
		path, explicit = configPath.set[len(configPath.set)-1], true
	}
	if path != "" {
		errs = append(errs, applyFile(path, explicit, fields, o.ignored)...)
	}

	// Environment.
	for _, f := range fields {
		if f.Env == "" {
			continue
		}
		s, ok := o.lookupEnv(f.Env)
		if !ok || s == "" {
			continue
		}
		if err := setValue(f.value, s); err != nil {
			errs = append(errs, &Error{Source: SourceEnv, Key: f.Env, Flag: f.Flag, Value: f.shown(s), Err: err})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// Flags given on the command line. Set has validated each value.
	var flagErr error
	fs.Visit(func(fl *flag.Flag) {
		fv, ok := flagVals[fl.Name]
		if !ok || flagErr != nil {
			return
		}
		if err := fv.apply(); err != nil {
			flagErr = err
		}
	})
	if flagErr != nil {
		return flagErr
	}

	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// applyFile reads the config file at path into fields. A missing file is an
// error only if it was named explicitly.
func applyFile(path string, explicit bool, fields []*field, ignored []string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return []error{fmt.Errorf("config: read config file: %w", err)}
	}
	entries, err := ParseINI(path, bytes.NewReader(data))
	if err != nil {
		return []error{err}
	}
	byKey := make(map[string]*field, len(fields))
	for _, f := range fields {
		if f.INI != "" {
			byKey[f.INI] = f
		}
	}
	var errs []error
	for _, e := range entries {
		key := e.Section + "." + e.Key
		f, ok := byKey[key]
		if !ok {
			if !isIgnored(ignored, e.Section, e.Key) {
				errs = append(errs, &Error{Source: SourceFile, File: path, Line: e.Line, Key: key, Err: ErrUnknownKey})
			}
			continue
		}
		if err := setValue(f.value, e.Value); err != nil {
			errs = append(errs, &Error{Source: SourceFile, File: path, Line: e.Line, Key: key, Flag: f.Flag, Value: f.shown(e.Value), Err: err})
		}
	}
	return errs
}

func isIgnored(ignored []string, section, key string) bool {
	return slices.Contains(ignored, section+"."+key) || slices.Contains(ignored, section+".*")
}

// flagValue is the flag.Value of one option. It only records what the
// command line says, after checking that it parses; Load copies it into the
// struct after the file and environment, so that flags win.
type flagValue struct {
	field *field   // nil for -config
	set   []string // values in command-line order
}

func (v *flagValue) String() string {
	// flag calls String on a zero flagValue to find out whether the default
	// is the zero value.
	switch {
	case v == nil:
		return ""
	case v.field != nil && v.field.Secret:
		return "" // keep secrets out of flag.PrintDefaults
	case len(v.set) > 0:
		return v.set[len(v.set)-1]
	case v.field != nil:
		return v.field.Default
	}
	return ""
}

func (v *flagValue) Set(s string) error {
	if v.field != nil {
		if err := setValue(reflect.New(v.field.value.Type()).Elem(), s); err != nil {
			return err
		}
	}
	v.set = append(v.set, s)
	return nil
}

// IsBoolFlag lets "-debug" stand for "-debug=true".
func (v *flagValue) IsBoolFlag() bool {
	return v != nil && v.field != nil && v.field.value.Kind() == reflect.Bool && !isText(v.field.value.Type())
}

// apply stores the command-line values in the field: the last one, or all of
// them for a list, so "-peers a,b -peers c" gives [a b c].
func (v *flagValue) apply() error {
	f := v.field
	if f.value.Kind() == reflect.Slice && !isText(f.value.Type()) {
		var all []string
		for _, s := range v.set {
			all = append(all, splitList(s)...)
		}
		if all == nil {
			all = []string{}
		}
		f.value.Set(reflect.ValueOf(all).Convert(f.value.Type()))
		return nil
	}
	s := v.set[len(v.set)-1]
	if err := setValue(f.value, s); err != nil {
		return &Error{Source: SourceFlag, Key: f.Flag, Flag: f.Flag, Value: f.shown(s), Err: err}
	}
	return nil
}
