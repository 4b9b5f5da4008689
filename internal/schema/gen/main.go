// SPDX-License-Identifier: Apache-2.0

// Command gen generates internal/schema/zz_generated.go from the config
// schema XSD files (all_cfg.xsd and the files it includes).
//
// Usage (normally through go generate ./internal/schema):
//
//	go run ./internal/schema/gen [-schema dir] [-out file] [-v]
//
// -schema defaults to ../shared/reference/schema relative to the repository
// root (the directory holding go.mod), -out to internal/schema/zz_generated.go
// under the repository root. -v prints the schema notes and a summary.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const rootSchemaFile = "all_cfg.xsd"

func main() {
	schemaDir := flag.String("schema", "", "directory with "+rootSchemaFile+" (default: <repo>/../shared/reference/schema)")
	out := flag.String("out", "", "output file (default: <repo>/internal/schema/zz_generated.go)")
	verbose := flag.Bool("v", false, "print schema notes and a summary to stderr")
	flag.Parse()
	if *schemaDir == "" || *out == "" {
		root, err := repoRoot()
		if err != nil {
			fatal(err)
		}
		if *schemaDir == "" {
			*schemaDir = filepath.Join(root, "..", "shared", "reference", "schema")
		}
		if *out == "" {
			*out = filepath.Join(root, "internal", "schema", "zz_generated.go")
		}
	}
	src, m, err := generate(*schemaDir)
	if err != nil {
		fatal(err)
	}
	for _, n := range m.notes.list {
		if *verbose || isWarning(n) {
			fmt.Fprintln(os.Stderr, "gen: note:", n)
		}
	}
	if *verbose {
		fmt.Fprint(os.Stderr, m.summary())
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, src) {
		return
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fatal(err)
	}
}

// isWarning says whether a note is printed even without -v: the ones the
// brief asks to be warned about (two ref links to the same target).
func isWarning(n string) bool {
	return strings.Contains(n, "share the JSON field")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}

// generate reads the schema in dir and returns the formatted Go source of
// zz_generated.go together with the model (for notes and the summary).
func generate(dir string) ([]byte, *model, error) {
	nt := &notes{}
	x, err := loadSchema(dir, rootSchemaFile, nt)
	if err != nil {
		return nil, nil, err
	}
	m := newModel(x)
	m.buildTypes()
	if err := m.buildResources(); err != nil {
		return nil, m, err
	}
	m.decideEnforcement()
	src, err := m.emit()
	return src, m, err
}

// repoRoot finds the directory holding go.mod, starting at the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory; pass -schema and -out")
		}
		dir = parent
	}
}
