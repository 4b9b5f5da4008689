// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// schemaDir locates the shared schema the way the generator's default does.
func schemaDir(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "..", "shared", "reference", "schema")
	if _, err := os.Stat(filepath.Join(dir, rootSchemaFile)); err != nil {
		t.Skipf("schema directory %s not available (%v); cannot check zz_generated.go", dir, err)
	}
	return dir
}

// TestGeneratedUpToDate runs the generator in-process and compares its output
// with the committed file byte for byte.
func TestGeneratedUpToDate(t *testing.T) {
	dir := schemaDir(t)
	got, _, err := generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "zz_generated.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("zz_generated.go is stale (run go generate ./internal/schema); first difference at line %d:\n got: %s\nwant: %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("zz_generated.go is stale (run go generate ./internal/schema): %d lines generated, %d committed", len(gl), len(wl))
	}
}

// TestDeterministic generates twice and expects identical output.
func TestDeterministic(t *testing.T) {
	dir := schemaDir(t)
	a, _, err := generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two runs of the generator produced different output")
	}
}

func TestParseIDL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // fn:arg|arg|... with lists as [a,b] and parts joined by +
	}{
		{"simple", ` Property('a-b', 'x', 'optional', 'CRUD', 'desc, with comma') `,
			[]string{"Property:a-b|x|optional|CRUD|desc, with comma"}},
		{"multi line and two statements", "\n Link('l', 'a', 'b',\n ['has', 'derived'], 'system-only', 'CRUD',\n 'one \"quoted\" word'); Property('p', 'a')",
			[]string{`Link:l|a|b|[has,derived]|system-only|CRUD|one "quoted" word`, "Property:p|a"}},
		{"adjacent literals", ` Link('l', 'a', 'b', ['ref'], 'optional' 'CRUD', 'd')`,
			[]string{"Link:l|a|b|[ref]|optional+CRUD|d"}},
		{"escaped quote and trailing comma", ` Property('p', 'a', 'optional', 'R', 'it\'s',)`,
			[]string{"Property:p|a|optional|R|it's"}},
		{"keyword", ` ListProperty('p', 'a', 'optional', 'CRUD', description='List of IP prefix')`,
			[]string{"ListProperty:p|a|optional|CRUD|description=List of IP prefix"}},
		{"list description", ` Property('p', 'a', 'optional', 'CRUD', ['x', ' y'])`,
			[]string{"Property:p|a|optional|CRUD|[x, y]"}},
		{"empty list", ` Link('binding', 'c', 'r', [])`, []string{"Link:binding|c|r|[]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stmts, err := parseIDL(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range stmts {
				var args []string
				for _, a := range st.args {
					if a.isList {
						args = append(args, "["+strings.Join(a.list, ",")+"]")
					} else {
						args = append(args, strings.Join(a.parts, "+"))
					}
				}
				for _, k := range sortedKeys(st.kw) {
					args = append(args, k+"="+st.kw[k].str())
				}
				got = append(got, st.fn+":"+strings.Join(args, "|"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseIDLErrors(t *testing.T) {
	for _, in := range []string{
		` Property('p', 'a'`,
		` Property('p, 'a')`,
		` Property(p, 'a')`,
		` Property 'p'`,
	} {
		if _, err := parseIDL(in); err == nil {
			t.Errorf("parseIDL(%q): no error", in)
		}
	}
}

func TestGoIdent(t *testing.T) {
	for in, want := range map[string]string{
		"virtual-network":    "VirtualNetwork",
		"virtual-DNS-record": "VirtualDNSRecord",
		"node_type":          "NodeType",
		"IpamSubnetType":     "IpamSubnetType",
		"bgp:SequenceType":   "BgpSequenceType",
	} {
		if got := goIdent(in); got != want {
			t.Errorf("goIdent(%q) = %q, want %q", in, got, want)
		}
	}
}
