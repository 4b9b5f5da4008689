// SPDX-License-Identifier: Apache-2.0

// Package config loads a daemon's options from, in increasing order of
// precedence, defaults, a config file, the environment and command-line
// flags.
//
// A daemon declares its options as a struct whose fields carry tags:
//
//	type APIConfig struct {
//		Listen    string        `flag:"listen" env:"CONTRAIL_API_LISTEN" ini:"DEFAULTS.listen_ip_port" default:"0.0.0.0:8082" usage:"REST API listen address"`
//		Endpoints []string      `flag:"etcd-endpoints" usage:"etcd cluster members"`
//		Timeout   time.Duration `flag:"timeout" default:"5s"`
//		Password  string        `flag:"admin-password" ini:"KEYSTONE.admin_password" secret:"true"`
//		Debug     bool          `flag:"debug"`
//	}
//
//	var cfg APIConfig
//	fs := flag.NewFlagSet("contrail api", flag.ContinueOnError)
//	err := config.Load(fs, os.Args[2:], &cfg, config.WithDefaultFile("/etc/contrail/contrail-api.conf"))
//	if errors.Is(err, flag.ErrHelp) { exit 0 }
//
// The tags:
//
//   - flag: the flag name; a field without it is not an option (nested
//     structs without it are walked into, so options can be grouped and
//     shared). flag:"-" skips the field.
//   - env: the environment variable. Without the tag it is "CONTRAIL_" and
//     the flag name in upper case with '-' turned into '_'
//     (etcd-endpoints -> CONTRAIL_ETCD_ENDPOINTS); env:"-" disables it.
//   - ini: the config-file key as "SECTION.key". Without the tag it is
//     "DEFAULTS." and the flag name with '-' turned into '_'
//     (etcd-endpoints -> [DEFAULTS] etcd_endpoints); ini:"-" disables it.
//   - default: the default value, in the syntax of the other sources. A
//     field without it keeps the value it has when Load is called, so a
//     daemon can compute a default (such as the host name) first.
//   - usage: the help text; a `back-quoted` word names the value in -h.
//   - secret:"true": the value is replaced by "***" in Dump, -h and errors.
//
// Field types: string, bool, signed and unsigned integers, float32/64,
// time.Duration, []string, and any type whose pointer implements
// encoding.TextUnmarshaler (net/netip addresses, slog.Level). Values are
// read the same way from every source: integers in decimal; booleans as
// true/false, yes/no, on/off, 1/0 in any case, as the original's
// configparser did; durations as Go durations ("1m30s") or a plain number
// of seconds, the unit the original's files use; lists split at commas and
// white space ("a,b", "a b"), with repeated flags adding to the list.
//
// The config file is named by -config FILE, else $CONTRAIL_CONFIG, else
// WithDefaultFile. Its format is the INI dialect of the original's
// /etc/contrail/*.conf, described at ParseINI. A key no option reads is an
// error naming file, line and key, unless allowed with WithIgnoredKeys.
//
// Every error names where the bad value came from: "flag -timeout",
// "env CONTRAIL_API_TIMEOUT", or "api.conf:12: [DEFAULTS] timeout". Usage
// prints every option with its default, variable and key, and Dump gives
// the effective values for the introspect server.
package config
