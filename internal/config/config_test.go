// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type logOptions struct {
	Level string `flag:"log-level" default:"SYS_NOTICE" usage:"log level"`
}

type testConfig struct {
	Listen    string        `flag:"listen" env:"CONTRAIL_API_LISTEN" ini:"DEFAULTS.listen_ip_port" default:"0.0.0.0:8082" usage:"REST API listen address"`
	DataDir   string        `flag:"data-dir" default:"./contrail-data" usage:"directory for the embedded etcd"`
	Endpoints []string      `flag:"etcd-endpoints" usage:"etcd cluster members"`
	Timeout   time.Duration `flag:"timeout" default:"5s" usage:"request timeout"`
	MaxBody   int64         `flag:"max-request-size" default:"1024000" usage:"largest request body in bytes"`
	Debug     bool          `flag:"debug" usage:"log debug records"`
	Workers   int           `flag:"workers" default:"4"`
	ASN       uint32        "flag:\"asn\" ini:\"BGP.asn\" default:\"64512\" usage:\"autonomous system `number`\""
	Ratio     float64       `flag:"ratio" default:"0.5"`
	Password  string        `flag:"admin-password" ini:"KEYSTONE.admin_password" default:"contrail123" secret:"true"`
	RouterID  netip.Addr    `flag:"router-id" env:"-"`
	Internal  string        `flag:"internal" ini:"-"`
	Log       logOptions
	Ignored   string // no tags: not an option
}

// env is a fake environment for WithLookupEnv.
type env map[string]string

func (e env) lookup(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load runs Load on a fresh flag set; file, when not empty, is written to a
// temporary file named by CONTRAIL_CONFIG.
func load(t *testing.T, args []string, e env, file string, opts ...Option) (*testConfig, string, error) {
	t.Helper()
	if e == nil {
		e = env{}
	}
	if file != "" {
		e[ConfigEnv] = writeFile(t, file)
	}
	fs := flag.NewFlagSet("contrail api", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	cfg := &testConfig{}
	err := Load(fs, args, cfg, append([]Option{WithLookupEnv(e.lookup)}, opts...)...)
	return cfg, out.String(), err
}

func TestDefaults(t *testing.T) {
	cfg, _, err := load(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := &testConfig{
		Listen: "0.0.0.0:8082", DataDir: "./contrail-data", Timeout: 5 * time.Second,
		MaxBody: 1024000, Workers: 4, ASN: 64512, Ratio: 0.5, Password: "contrail123",
		Log: logOptions{Level: "SYS_NOTICE"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestFieldWithoutDefaultKeepsValue(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg := &testConfig{Internal: "computed", Endpoints: []string{"http://127.0.0.1:2379"}}
	if err := Load(fs, nil, cfg, WithLookupEnv(env{}.lookup)); err != nil {
		t.Fatal(err)
	}
	if cfg.Internal != "computed" || len(cfg.Endpoints) != 1 {
		t.Errorf("preset values lost: %+v", cfg)
	}
}

func TestPrecedence(t *testing.T) {
	file := `[DEFAULTS]
listen_ip_port = 10.0.0.1:8082
timeout = 10
workers = 8
debug = True
data_dir = /from/file
etcd_endpoints = http://a:2379, http://b:2379
log_level = SYS_DEBUG
[BGP]
asn = 65000
`
	e := env{
		"CONTRAIL_TIMEOUT":   "20s",
		"CONTRAIL_WORKERS":   "16",
		"CONTRAIL_DATA_DIR":  "", // empty counts as unset
		"CONTRAIL_LOG_LEVEL": "info",
	}
	args := []string{"-workers", "32", "-debug=false", "-log-level", "warn", "pos"}
	cfg, _, err := load(t, args, e, file)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen (file)", cfg.Listen, "10.0.0.1:8082"},
		{"data-dir (file, empty env)", cfg.DataDir, "/from/file"},
		{"asn (file)", cfg.ASN, uint32(65000)},
		{"endpoints (file)", cfg.Endpoints, []string{"http://a:2379", "http://b:2379"}},
		{"timeout (env over file)", cfg.Timeout, 20 * time.Second},
		{"workers (flag over env and file)", cfg.Workers, 32},
		{"debug (flag false over file true)", cfg.Debug, false},
		{"log-level (flag in nested struct)", cfg.Log.Level, "warn"},
		{"max-request-size (default)", cfg.MaxBody, int64(1024000)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestDerivedNames(t *testing.T) {
	fields, err := Fields(testConfig{})
	if err != nil {
		t.Fatal(err)
	}
	byFlag := map[string]Field{}
	for _, f := range fields {
		byFlag[f.Flag] = f
	}
	tests := []struct {
		flag, name, env, ini string
	}{
		{"listen", "Listen", "CONTRAIL_API_LISTEN", "DEFAULTS.listen_ip_port"},
		{"data-dir", "DataDir", "CONTRAIL_DATA_DIR", "DEFAULTS.data_dir"},
		{"etcd-endpoints", "Endpoints", "CONTRAIL_ETCD_ENDPOINTS", "DEFAULTS.etcd_endpoints"},
		{"max-request-size", "MaxBody", "CONTRAIL_MAX_REQUEST_SIZE", "DEFAULTS.max_request_size"},
		{"asn", "ASN", "CONTRAIL_ASN", "BGP.asn"},
		{"router-id", "RouterID", "", "DEFAULTS.router_id"},
		{"internal", "Internal", "CONTRAIL_INTERNAL", ""},
		{"log-level", "Log.Level", "CONTRAIL_LOG_LEVEL", "DEFAULTS.log_level"},
	}
	for _, tt := range tests {
		f, ok := byFlag[tt.flag]
		if !ok {
			t.Errorf("no option -%s", tt.flag)
			continue
		}
		if f.Name != tt.name || f.Env != tt.env || f.INI != tt.ini {
			t.Errorf("-%s: name %q env %q ini %q, want %q %q %q", tt.flag, f.Name, f.Env, f.INI, tt.name, tt.env, tt.ini)
		}
	}
	if len(fields) != 13 {
		t.Errorf("got %d options, want 13 (untagged fields are not options)", len(fields))
	}
}

// allTypes has one option of every supported type.
type allTypes struct {
	S   string         `flag:"s"`
	B   bool           `flag:"b"`
	I   int            `flag:"i"`
	I8  int8           `flag:"i8"`
	I64 int64          `flag:"i64"`
	U   uint           `flag:"u"`
	U32 uint32         `flag:"u32"`
	F32 float32        `flag:"f32"`
	F64 float64        `flag:"f64"`
	D   time.Duration  `flag:"d"`
	L   []string       `flag:"l"`
	A   netip.AddrPort `flag:"a"`
}

func TestEveryFieldType(t *testing.T) {
	want := allTypes{
		S: "x y", B: true, I: -3, I8: -128, I64: 1 << 40, U: 7, U32: 4294967295,
		F32: 1.5, F64: -2.25, D: 90 * time.Second, L: []string{"a", "b", "c"},
		A: netip.MustParseAddrPort("[::1]:53"),
	}
	values := map[string]string{
		"s": "x y", "b": "yes", "i": "-3", "i8": "-128", "i64": "1099511627776", "u": "7",
		"u32": "4294967295", "f32": "1.5", "f64": "-2.25", "d": "1m30s", "l": "a, b c", "a": "[::1]:53",
	}
	t.Run("file", func(t *testing.T) {
		var sb strings.Builder
		sb.WriteString("[DEFAULTS]\n")
		for k, v := range values {
			sb.WriteString(k + " = " + v + "\n")
		}
		var got allTypes
		e := env{ConfigEnv: writeFile(t, sb.String())}
		if err := Load(flag.NewFlagSet("x", flag.ContinueOnError), nil, &got, WithLookupEnv(e.lookup)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("env", func(t *testing.T) {
		e := env{}
		for k, v := range values {
			e[deriveEnv(k)] = v
		}
		var got allTypes
		if err := Load(flag.NewFlagSet("x", flag.ContinueOnError), nil, &got, WithLookupEnv(e.lookup)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("flags", func(t *testing.T) {
		var args []string
		for k, v := range values {
			if k == "b" {
				args = append(args, "-b") // a bool flag needs no value
				continue
			}
			if k == "l" {
				args = append(args, "-l", "a,b", "--l=c") // repeated lists add up
				continue
			}
			args = append(args, "-"+k, v)
		}
		var got allTypes
		if err := Load(flag.NewFlagSet("x", flag.ContinueOnError), args, &got, WithLookupEnv(env{}.lookup)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})
}

func TestValueSyntax(t *testing.T) {
	tests := []struct {
		typ  any
		in   string
		want any
		ok   bool
	}{
		{false, "True", true, true},
		{false, "off", false, true},
		{false, "maybe", nil, false},
		{0, "08", 8, true},
		{0, "0x10", nil, false},
		{int8(0), "128", nil, false},
		{uint32(0), "-1", nil, false},
		{time.Duration(0), "30", 30 * time.Second, true},
		{time.Duration(0), "0.5", 500 * time.Millisecond, true},
		{time.Duration(0), "abc", nil, false},
		{time.Duration(0), "1e300", nil, false},
		{time.Duration(0), "NaN", nil, false},
		{[]string(nil), "", []string{}, true},
		{[]string(nil), " a ,, b\tc ", []string{"a", "b", "c"}, true},
		{1.0, "1e3", 1000.0, true},
		{1.0, "x", nil, false},
	}
	for _, tt := range tests {
		v := reflect.New(reflect.TypeOf(tt.typ)).Elem()
		err := setValue(v, tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("setValue(%T, %q) error = %v, want ok=%v", tt.typ, tt.in, err, tt.ok)
			continue
		}
		if tt.ok && !reflect.DeepEqual(v.Interface(), tt.want) {
			t.Errorf("setValue(%T, %q) = %#v, want %#v", tt.typ, tt.in, v.Interface(), tt.want)
		}
	}
}

func TestFileErrors(t *testing.T) {
	file := `[DEFAULTS]
# comment
timeout = abc
listen_ip_port = 1.2.3.4:1
colour = blue
[KEYSTONE]
admin_password = hunter2
admin_tenant = x
[BGP]
asn = -5
`
	_, _, err := load(t, nil, nil, file)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`test.conf:3: [DEFAULTS] timeout: invalid value "abc": not a duration`,
		`(option -timeout)`,
		`test.conf:5: unknown key "colour" in section [DEFAULTS]`,
		`test.conf:8: unknown key "admin_tenant" in section [KEYSTONE]`,
		`test.conf:10: [BGP] asn: invalid value "-5": not a non-negative integer`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != SourceFile || ce.Line != 3 || ce.Key != "DEFAULTS.timeout" {
		t.Errorf("first *Error = %+v", ce)
	}
	if !errors.Is(err, ErrUnknownKey) {
		t.Error("errors.Is(err, ErrUnknownKey) = false")
	}
}

func TestSecretValueNotInErrors(t *testing.T) {
	type secretConfig struct {
		Key int `flag:"key" secret:"true"`
	}
	e := env{"CONTRAIL_KEY": "s3cr3t", ConfigEnv: writeFile(t, "[DEFAULTS]\nkey = t0p\n")}
	err := Load(flag.NewFlagSet("x", flag.ContinueOnError), nil, &secretConfig{}, WithLookupEnv(e.lookup))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "t0p") {
		t.Errorf("secret value in error: %v", err)
	}
	if !strings.Contains(err.Error(), "env CONTRAIL_KEY") || !strings.Contains(err.Error(), "test.conf:2") {
		t.Errorf("error does not name both sources: %v", err)
	}
}

func TestMalformedFile(t *testing.T) {
	for name, tt := range map[string]struct {
		content string
		want    string
	}{
		"no section":  {"listen_ip_port = x\n", "test.conf:1: key \"listen_ip_port\" is outside any [section]"},
		"garbage":     {"[DEFAULTS]\nworkers = 2\n}{ not ini\n", "test.conf:3: expected"},
		"binary":      {"[DEFAULTS]\n\x00\x01\x02\n", "test.conf:2:"},
		"bad section": {"[DEFAULTS\n", "test.conf:1: section header"},
		"duplicate":   {"[DEFAULTS]\nworkers = 1\nworkers = 2\n", "test.conf:3: duplicate key \"workers\""},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := load(t, nil, nil, tt.content)
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want *SyntaxError containing %q", err, tt.want)
			}
		})
	}
}

func TestEnvError(t *testing.T) {
	_, _, err := load(t, nil, env{"CONTRAIL_API_LISTEN": "ok", "CONTRAIL_MAX_REQUEST_SIZE": "1MB"}, "")
	want := `config: env CONTRAIL_MAX_REQUEST_SIZE: invalid value "1MB": not an integer (option -max-request-size)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestFlagError(t *testing.T) {
	_, out, err := load(t, []string{"-timeout", "abc"}, nil, "")
	if err == nil || !strings.Contains(err.Error(), `invalid value "abc" for flag -timeout: not a duration`) {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(out, "-timeout") {
		t.Errorf("flag error output lacks usage:\n%s", out)
	}
	_, _, err = load(t, []string{"-no-such-flag"}, nil, "")
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("unknown flag: err = %v", err)
	}
}

func TestHelp(t *testing.T) {
	_, out, err := load(t, []string{"-h"}, nil, "", WithUsageHeader("Usage: contrail api [options]"))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"Usage: contrail api [options]\n",
		"  -listen string\n    \tREST API listen address (default \"0.0.0.0:8082\")\n    \tenv CONTRAIL_API_LISTEN, ini [DEFAULTS] listen_ip_port\n",
		"  -asn number\n    \tautonomous system number (default 64512)\n    \tenv CONTRAIL_ASN, ini [BGP] asn\n",
		"  -debug\n    \tlog debug records\n    \tenv CONTRAIL_DEBUG, ini [DEFAULTS] debug\n",
		"  -etcd-endpoints list\n",
		"env CONTRAIL_ETCD_ENDPOINTS, ini [DEFAULTS] etcd_endpoints, comma-separated",
		"  -timeout duration\n    \trequest timeout (default 5s)\n",
		"  -config file\n",
		"env CONTRAIL_CONFIG",
		"  -router-id value\n    \tini [DEFAULTS] router_id\n",
		"  -internal string\n    \tenv CONTRAIL_INTERNAL\n",
		"env CONTRAIL_LOG_LEVEL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "contrail123") {
		t.Error("help shows a secret default")
	}
	if strings.Index(out, "-asn") > strings.Index(out, "-workers") {
		t.Error("help is not sorted by flag name")
	}
}

func TestUsageIncludesOtherFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("extra", 3, "an extra `count`")
	got := Usage(fs, &testConfig{})
	if !strings.Contains(got, "  -extra count\n    \tan extra count (default 3)\n") {
		t.Errorf("usage lacks the extra flag:\n%s", got)
	}
	if !strings.Contains(got, "(default \"0.0.0.0:8082\")") {
		t.Errorf("usage before Load lacks tag defaults:\n%s", got)
	}
}

func TestConfigFileSelection(t *testing.T) {
	dir := t.TempDir()
	write := func(name, listen string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("[DEFAULTS]\nlisten_ip_port = "+listen+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	def, envFile, flagFile := write("def.conf", "def"), write("env.conf", "env"), write("flag.conf", "flag")
	missing := filepath.Join(dir, "missing.conf")

	tests := []struct {
		name    string
		args    []string
		env     env
		def     string
		want    string
		wantErr bool
	}{
		{name: "default file", def: def, want: "def"},
		{name: "missing default file is fine", def: missing, want: "0.0.0.0:8082"},
		{name: "env over default", env: env{ConfigEnv: envFile}, def: def, want: "env"},
		{name: "flag over env", args: []string{"-config", flagFile}, env: env{ConfigEnv: envFile}, def: def, want: "flag"},
		{name: "empty flag reads no file", args: []string{"-config="}, env: env{ConfigEnv: envFile}, def: def, want: "0.0.0.0:8082"},
		{name: "missing explicit file", args: []string{"--config", missing}, wantErr: true},
		{name: "missing env file", env: env{ConfigEnv: missing}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = env{}
			}
			cfg := &testConfig{}
			err := Load(flag.NewFlagSet("x", flag.ContinueOnError), tt.args, cfg, WithLookupEnv(e.lookup), WithDefaultFile(tt.def))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "missing.conf") {
					t.Errorf("err = %v, want an error naming the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tt.want {
				t.Errorf("listen = %q, want %q", cfg.Listen, tt.want)
			}
		})
	}
}

func TestIgnoredKeys(t *testing.T) {
	file := "[DEFAULTS]\nlisten_ip_port = x\nzk_server_ip = 1.2.3.4\n[SANDESH]\nsandesh_ssl_enable = false\n[IFMAP]\nx = 1\n"
	_, _, err := load(t, nil, nil, file, WithIgnoredKeys("DEFAULTS.zk_server_ip", "SANDESH.*"))
	if err == nil || !strings.Contains(err.Error(), `test.conf:7: unknown key "x" in section [IFMAP]`) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "zk_server_ip") || strings.Contains(err.Error(), "sandesh") {
		t.Errorf("ignored keys reported: %v", err)
	}
}

type validated struct {
	Port int `flag:"port" default:"80"`
}

func (v *validated) Validate() error {
	if v.Port <= 0 || v.Port > 65535 {
		return errors.New("port out of range")
	}
	return nil
}

func TestValidate(t *testing.T) {
	err := Load(flag.NewFlagSet("x", flag.ContinueOnError), []string{"-port", "70000"}, &validated{}, WithLookupEnv(env{}.lookup))
	if err == nil || err.Error() != "config: port out of range" {
		t.Errorf("err = %v", err)
	}
}

func TestBadConfigStructs(t *testing.T) {
	type unsupported struct {
		M map[string]string `flag:"m"`
	}
	type dupFlag struct {
		A string `flag:"a"`
		B string `flag:"a"`
	}
	type dupEnv struct {
		A string `flag:"a" env:"X"`
		B string `flag:"b" env:"X"`
	}
	type dupINI struct {
		A string `flag:"a-b"`
		B string `flag:"b" ini:"DEFAULTS.a_b"`
	}
	type badDefault struct {
		D time.Duration `flag:"d" default:"soon"`
	}
	type tagWithoutFlag struct {
		A string `env:"A"`
	}
	type unexported struct {
		a string `flag:"a"`
	}
	type badINI struct {
		A string `flag:"a" ini:"nodot"`
	}
	type reserved struct {
		C string `flag:"config"`
	}
	type badFlag struct {
		A string `flag:"a b"`
	}
	tests := []struct {
		name string
		cfg  any
		want string
	}{
		{"not a pointer", testConfig{}, "need a non-nil pointer to a struct"},
		{"nil", (*testConfig)(nil), "need a non-nil pointer"},
		{"unsupported", &unsupported{}, "field M: unsupported type map[string]string"},
		{"duplicate flag", &dupFlag{}, `flag "a" is also used by field A`},
		{"duplicate env", &dupEnv{}, `env "X" is also used by field A`},
		{"duplicate ini", &dupINI{}, `ini "DEFAULTS.a_b" is also used by field A`},
		{"bad default", &badDefault{}, `field D: default "soon": not a duration`},
		{"tag without flag", &tagWithoutFlag{}, "field A has a env tag but no flag tag"},
		{"unexported", &unexported{a: ""}, "field a has a flag tag but is not exported"},
		{"bad ini", &badINI{}, `ini tag "nodot"`},
		{"reserved flag", &reserved{}, `flag "config" is also used by the config file option`},
		{"bad flag", &badFlag{}, `invalid flag name "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Load(flag.NewFlagSet("x", flag.ContinueOnError), nil, tt.cfg, WithLookupEnv(env{}.lookup))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}

	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("listen", "", "")
	if err := Load(fs, nil, &testConfig{}); err == nil || !strings.Contains(err.Error(), "flag -listen (field Listen) is already defined") {
		t.Errorf("flag clash: err = %v", err)
	}
}

func TestDump(t *testing.T) {
	cfg, _, err := load(t, []string{"-etcd-endpoints", "a,b", "-router-id", "10.1.1.1"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	d := Dump(cfg)
	checks := map[string]any{
		"listen":           "0.0.0.0:8082",
		"timeout":          "5s",
		"max-request-size": int64(1024000),
		"etcd-endpoints":   []string{"a", "b"},
		"router-id":        "10.1.1.1",
		"admin-password":   "***",
		"log-level":        "SYS_NOTICE",
		"debug":            false,
	}
	for k, want := range checks {
		if !reflect.DeepEqual(d[k], want) {
			t.Errorf("Dump[%q] = %#v, want %#v", k, d[k], want)
		}
	}
	if len(d) != 13 {
		t.Errorf("Dump has %d keys, want 13", len(d))
	}
	if _, err := json.Marshal(d); err != nil {
		t.Errorf("Dump is not JSON-encodable: %v", err)
	}
	if d := Dump(42); d["error"] == nil {
		t.Errorf("Dump(42) = %v", d)
	}
	var empty struct {
		P string `flag:"p" secret:"true"`
	}
	if got := Dump(empty)["p"]; got != "" {
		t.Errorf("unset secret dumps as %q", got)
	}
}
