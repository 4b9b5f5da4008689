// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const sampleConf = "\uFEFF# contrail-api.conf as the original ships it\n" +
	"[DEFAULTS]\n" +
	"listen_ip_addr = 0.0.0.0\n" +
	"listen_port=8082\n" +
	"log_file: /var/log/contrail/contrail-api.log\n" +
	"   ; indented comment\n" +
	"cassandra_server_list = 10.0.0.1:9160 10.0.0.2:9160\n" +
	"empty =\n" +
	"url = http://example.com:5000/v2.0 # not a comment\r\n" +
	"\n" +
	"[KEYSTONE]   # trailing comment\n" +
	"  auth_host = 127.0.0.1  \n" +
	"Admin_Password = a=b:c\n" +
	"[DEFAULTS]\n" +
	"reopened = yes\n"

func TestParseINI(t *testing.T) {
	got, err := ParseINI("api.conf", strings.NewReader(sampleConf))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{"DEFAULTS", "listen_ip_addr", "0.0.0.0", 3},
		{"DEFAULTS", "listen_port", "8082", 4},
		{"DEFAULTS", "log_file", "/var/log/contrail/contrail-api.log", 5},
		{"DEFAULTS", "cassandra_server_list", "10.0.0.1:9160 10.0.0.2:9160", 7},
		{"DEFAULTS", "empty", "", 8},
		{"DEFAULTS", "url", "http://example.com:5000/v2.0 # not a comment", 9},
		{"KEYSTONE", "auth_host", "127.0.0.1", 12},
		{"KEYSTONE", "Admin_Password", "a=b:c", 13},
		{"DEFAULTS", "reopened", "yes", 15},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseINI =\n%v\nwant\n%v", got, want)
	}
}

func TestParseINIErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"no section", "key = v\n", 1, `key "key" is outside any [section]`},
		{"no delimiter", "[S]\n\njust words\n", 3, `expected "key = value"`},
		{"empty key", "[S]\n = v\n", 2, "missing key"},
		{"unclosed section", "[S]\na = 1\n[T\n", 3, "lacks a closing ']'"},
		{"empty section", "[ ]\n", 1, "empty section name"},
		{"text after section", "[S] x\n", 1, `unexpected text "x"`},
		{"duplicate key", "[S]\na = 1\n[T]\na = 2\n[S]\na = 3\n", 6, "first set on line 2"},
		{"long line", "[S]\na = " + strings.Repeat("x", maxLineLen) + "\n", 2, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseINI("x.conf", strings.NewReader(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			if se.File != "x.conf" || se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("err = %v, want x.conf line %d with %q", err, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "config: x.conf:") {
				t.Errorf("message %q does not start with the file and line", err)
			}
		})
	}
}

func TestWriteINIRoundTrip(t *testing.T) {
	entries, err := ParseINI("api.conf", strings.NewReader(sampleConf))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteINI(&buf, entries); err != nil {
		t.Fatal(err)
	}
	again, err := ParseINI("out", &buf)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, buf.String())
	}
	if !sameEntries(entries, again) {
		t.Errorf("round trip changed entries:\n%v\n%v", entries, again)
	}
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for n := range a {
		if a[n].Section != b[n].Section || a[n].Key != b[n].Key || a[n].Value != b[n].Value {
			return false
		}
	}
	return true
}

// FuzzParseINI checks that ParseINI never panics, that what it returns is
// well formed, and that writing it out and parsing again gives the same
// entries.
func FuzzParseINI(f *testing.F) {
	for _, s := range []string{
		sampleConf,
		"",
		"[S]\na=b\n",
		"[S]\na:b=c\n[[x]\n]k = v\n",
		"[S]\n\t a \t=\t b \t\r\n",
		"[S]\na = 1\na = 2\n",
		"[S] ; c\n#x\n;y\nk\n",
		"[\xff]\n\xfe = \x00\n",
		"[S]\nk = \u0085v\u00a0\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseINI("fuzz", bytes.NewReader(data))
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error %v is not a *SyntaxError with a line", err)
			}
			if entries != nil {
				t.Fatal("entries returned with an error")
			}
			return
		}
		seen := map[[2]string]bool{}
		last := 0
		for _, e := range entries {
			if e.Section == "" || e.Key == "" {
				t.Fatalf("entry with an empty section or key: %+v", e)
			}
			if strings.TrimSpace(e.Key) != e.Key || strings.TrimSpace(e.Value) != e.Value || strings.TrimSpace(e.Section) != e.Section {
				t.Fatalf("untrimmed entry %+v", e)
			}
			if strings.ContainsAny(e.Key, "=:\n") || strings.ContainsAny(e.Value, "\n") {
				t.Fatalf("delimiter or newline inside entry %+v", e)
			}
			if e.Line <= last {
				t.Fatalf("line numbers not increasing: %+v after %d", e, last)
			}
			last = e.Line
			k := [2]string{e.Section, e.Key}
			if seen[k] {
				t.Fatalf("duplicate %v returned", k)
			}
			seen[k] = true
		}
		var buf bytes.Buffer
		if err := WriteINI(&buf, entries); err != nil {
			t.Fatal(err)
		}
		again, err := ParseINI("again", bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("re-parse of written entries: %v\n%q", err, buf.String())
		}
		if !sameEntries(entries, again) {
			t.Fatalf("round trip changed entries:\n%q\n%+v\n%+v", buf.String(), entries, again)
		}
	})
}
