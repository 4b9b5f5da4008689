// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "INFO", want: slog.LevelInfo},
		{in: "warn", want: slog.LevelWarn},
		{in: "warning", want: slog.LevelWarn},
		{in: "error", want: slog.LevelError},
		{in: " info+2 ", want: slog.LevelInfo + 2},
		{in: "SYS_EMERG", want: slog.LevelError},
		{in: "SYS_ALERT", want: slog.LevelError},
		{in: "SYS_CRIT", want: slog.LevelError},
		{in: "SYS_ERR", want: slog.LevelError},
		{in: "SYS_WARN", want: slog.LevelWarn},
		{in: "SYS_NOTICE", want: slog.LevelInfo},
		{in: "sys_info", want: slog.LevelInfo},
		{in: "SYS_DEBUG", want: slog.LevelDebug},
		{in: "", wantErr: true},
		{in: "SYS_UVE", wantErr: true},
		{in: "loud", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLevel(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseLevel(%q) = %v, want error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewLoggerJSONAndLevelVar(t *testing.T) {
	var buf bytes.Buffer
	lvl := new(slog.LevelVar)
	if err := SetLevel(lvl, "SYS_WARN"); err != nil {
		t.Fatal(err)
	}
	log := NewLogger(&buf, FormatJSON, lvl).With(KeyComponent, "test")
	log.Info("hidden")
	log.Warn("shown", "n", 1)
	lvl.Set(slog.LevelDebug)
	log.Debug("now shown")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %v: %s", err, lines[0])
	}
	if rec["msg"] != "shown" || rec["component"] != "test" || rec["level"] != "WARN" {
		t.Errorf("unexpected record %v", rec)
	}
}

func TestNewLoggerText(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, "text", nil).Info("hello", "k", "v")
	if got := buf.String(); !strings.Contains(got, "msg=hello") || !strings.Contains(got, "k=v") {
		t.Errorf("text output %q", got)
	}
	buf.Reset()
	NewLogger(&buf, "", nil).Debug("dropped at the default info level")
	if buf.Len() != 0 {
		t.Errorf("nil level let a debug record through: %q", buf.String())
	}
}

func TestCheckFormat(t *testing.T) {
	for _, f := range []string{"json", "text", "JSON"} {
		if err := CheckFormat(f); err != nil {
			t.Errorf("CheckFormat(%q) = %v", f, err)
		}
	}
	if err := CheckFormat("xml"); err == nil {
		t.Error("CheckFormat(xml) = nil")
	}
}
