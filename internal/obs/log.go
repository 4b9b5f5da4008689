// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Log formats accepted by NewLogger.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// Attribute keys shared by all daemons. Use these rather than string literals
// so that logs stay greppable across components.
const (
	KeyComponent = "component"
	KeyErr       = "err"
)

// NewLogger returns a logger writing to w in the given format ("json" or
// "text"; anything else, including "", gives JSON, the default of every
// daemon). The level is read from level on every record, so changing it with
// level.Set takes effect at once; a nil level means slog.LevelInfo.
func NewLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{}
	if level != nil {
		opts.Level = level
	}
	var h slog.Handler
	if strings.EqualFold(format, FormatText) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h)
}

// CheckFormat returns an error unless format is one NewLogger knows, so that
// a daemon can reject a typo in its configuration instead of silently
// logging JSON.
func CheckFormat(format string) error {
	switch strings.ToLower(format) {
	case FormatJSON, FormatText:
		return nil
	}
	return fmt.Errorf("obs: unknown log format %q (want %q or %q)", format, FormatJSON, FormatText)
}

// DiscardLogger returns a logger that drops everything. Constructors use it
// when given a nil logger, so tests need no setup.
func DiscardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// ParseLevel parses a log level. It accepts slog's names ("debug", "info",
// "warn", "error", also with an offset such as "info+2"), "warning", and the
// original's Sandesh level names (SandeshLevel in sandesh.sandesh, syslog
// numbering), all case-insensitively. Our code logs only at slog's four
// levels, so the eight Sandesh levels fold onto them:
//
//	SYS_EMERG, SYS_ALERT, SYS_CRIT, SYS_ERR -> error
//	SYS_WARN                                -> warn
//	SYS_NOTICE, SYS_INFO                    -> info
//	SYS_DEBUG                               -> debug
//
// SYS_NOTICE, the default log_level of the original's .conf files, thus keeps
// info records; folding it between info and warn would hide them.
func ParseLevel(s string) (slog.Level, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	switch name {
	case "SYS_EMERG", "SYS_ALERT", "SYS_CRIT", "SYS_ERR", "ERR":
		return slog.LevelError, nil
	case "SYS_WARN", "WARNING":
		return slog.LevelWarn, nil
	case "SYS_NOTICE", "SYS_INFO", "NOTICE":
		return slog.LevelInfo, nil
	case "SYS_DEBUG":
		return slog.LevelDebug, nil
	case "":
		return 0, fmt.Errorf("obs: empty log level")
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return 0, fmt.Errorf("obs: unknown log level %q", s)
	}
	return l, nil
}

// SetLevel parses s with ParseLevel and stores the result in v.
func SetLevel(v *slog.LevelVar, s string) error {
	l, err := ParseLevel(s)
	if err != nil {
		return err
	}
	v.Set(l)
	return nil
}
