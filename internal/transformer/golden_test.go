// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contrail-go/contrail/internal/model"
	"github.com/contrail-go/contrail/pkg/client"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// goldenCase is a testdata/<name>.json file: steps that create, update
// and delete objects through the API, and checkpoints at which the
// derived graph is compared with testdata/<name>.golden.json.
type goldenCase struct {
	Steps []struct {
		Create string        `json:"create"`
		Update string        `json:"update"`
		Delete string        `json:"delete"`
		FQName []string      `json:"fq_name"`
		Body   client.Object `json:"body"`
		Check  string        `json:"check"`
	} `json:"steps"`
}

// TestGolden runs every testdata case against a real etcd, a real API
// server and a transformer, compares the derived graph at each checkpoint
// with the golden file, and at the end restarts the transformer and
// checks that the restart writes nothing and changes nothing.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			cases = append(cases, f)
		}
	}
	if len(cases) == 0 {
		t.Fatal("no test cases in testdata")
	}
	for _, f := range cases {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) { runGolden(t, f) })
	}
}

func runGolden(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var gc goldenCase
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&gc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	goldenFile := strings.TrimSuffix(file, ".json") + ".golden.json"
	want := map[string]json.RawMessage{}
	if !*update {
		b, err := os.ReadFile(goldenFile)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: %v", goldenFile, err)
		}
	}
	e := newEnv(t)
	in := e.start("golden", nil)
	ctx := context.Background()
	got := map[string]any{}
	var order []string
	for i, s := range gc.Steps {
		switch {
		case s.Create != "":
			e.mustCreate(s.Create, s.Body)
		case s.Update != "":
			if err := e.api.Update(ctx, s.Update, e.uuidOf(s.Update, s.FQName...), s.Body); err != nil {
				t.Fatalf("step %d: update %s %v: %v", i, s.Update, s.FQName, err)
			}
		case s.Delete != "":
			if err := e.api.Delete(ctx, s.Delete, e.uuidOf(s.Delete, s.FQName...)); err != nil {
				t.Fatalf("step %d: delete %s %v: %v", i, s.Delete, s.FQName, err)
			}
		case s.Check != "":
			e.settle(in)
			d := derivedDump(e.g)
			got[s.Check] = d
			order = append(order, s.Check)
			if !*update {
				compareDump(t, s.Check, want[s.Check], d)
			}
		}
	}
	// A restart must find everything right: no write, same graph.
	e.settle(in)
	before := derivedDump(e.g)
	in.stop()
	again := e.start("golden-restarted", nil)
	e.settle(again)
	if n := again.writes(); n != 0 {
		t.Errorf("restarted transformer made %v writes, want 0", n)
	}
	compareDump(t, "after restart", mustJSON(before), derivedDump(e.g))
	if *update {
		var b bytes.Buffer
		b.WriteString("{\n")
		for i, k := range order {
			kb, _ := json.Marshal(k)
			b.WriteString("  " + string(kb) + ": " + indentJSON(got[k], "  "))
			if i < len(order)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("}\n")
		if err := os.WriteFile(goldenFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// indentJSON renders v indented, without escaping <, > and &.
func indentJSON(v any, prefix string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func compareDump(t *testing.T, check string, want json.RawMessage, got map[string]any) {
	t.Helper()
	if want == nil {
		t.Errorf("checkpoint %q is not in the golden file (run with -update)", check)
		return
	}
	var w any
	json.Unmarshal(want, &w)
	var g any
	json.Unmarshal(mustJSON(got), &g)
	wb, gb := indentJSON(w, ""), indentJSON(g, "")
	if wb != gb {
		t.Errorf("checkpoint %q: derived graph differs\n--- want\n%s\n--- got\n%s", check, wb, gb)
	}
}

var _ = model.FQNameString
