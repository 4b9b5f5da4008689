// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/testutil/apitest"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/pkg/client"
)

// ctlServer runs a real API server on a real embedded etcd and returns its
// base URL.
func ctlServer(t *testing.T) string {
	t.Helper()
	_, url := apitest.Start(t, etcdtest.Start(t), apiserver.Config{})
	return url
}

// ctlRun runs `contrail ctl args...` and returns the exit code and output.
func ctlRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, append([]string{"ctl"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// ctlOK runs ctl with --api api and fails the test unless it succeeds.
func ctlOK(t *testing.T, api string, args ...string) string {
	t.Helper()
	code, out, errOut := ctlRun(t, append([]string{"--api", api}, args...)...)
	if code != 0 {
		t.Fatalf("ctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// ctlJSON runs ctl with -o json and decodes its output into v, a pointer,
// replacing what v held.
func ctlJSON(t *testing.T, api string, v any, args ...string) {
	t.Helper()
	out := ctlOK(t, api, append([]string{"-o", "json"}, args...)...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	dst := reflect.ValueOf(v).Elem()
	fresh := reflect.New(dst.Type())
	if err := dec.Decode(fresh.Interface()); err != nil {
		t.Fatalf("ctl %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	dst.Set(fresh.Elem())
}

// ctlWithStdin makes "-f -" read s for the rest of the test.
func ctlWithStdin(t *testing.T, s string) {
	old := ctlStdin
	ctlStdin = strings.NewReader(s)
	t.Cleanup(func() { ctlStdin = old })
}

func ctlWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ctlTableRows splits table output into rows of fields.
func ctlTableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func ctlVNJSON(name, prefix string) string {
	return `{
	"fq_name": ["default-domain", "default-project", "` + name + `"],
	"parent_type": "project",
	"network_ipam_refs": [{
		"to": ["default-domain", "default-project", "default-network-ipam"],
		"attr": {"ipam_subnets": [{"subnet": {"ip_prefix": "` + prefix + `", "ip_prefix_len": 24}}]}
	}]
}`
}

func TestCtlCRUD(t *testing.T) {
	api := ctlServer(t)

	// Create from a file, in the {"<type>": ...} envelope.
	file := ctlWriteFile(t, "vn-a.json", `{"virtual-network": `+ctlVNJSON("vn-a", "10.1.1.0")+`}`)
	out := ctlOK(t, api, "create", "virtual-network", "-f", file)
	rows := ctlTableRows(out)
	if len(rows) != 2 || !slices.Equal(rows[0], []string{"UUID", "FQ_NAME"}) || !client.IsUUID(rows[1][0]) ||
		rows[1][1] != "default-domain:default-project:vn-a" {
		t.Fatalf("create output:\n%s", out)
	}
	idA := rows[1][0]

	// Create from stdin, without the envelope, with JSON output.
	ctlWithStdin(t, ctlVNJSON("vn-b", "10.1.2.0"))
	var created map[string]any
	ctlJSON(t, api, &created, "create", "virtual-network", "-f", "-")
	idB, _ := created["uuid"].(string)
	if !client.IsUUID(idB) || created["virtual_network_network_id"] == nil {
		t.Fatalf("create -o json: %v", created)
	}

	// Get by fq-name (JSON is the default) and by uuid as a table.
	out = ctlOK(t, api, "get", "virtual-network", "default-domain:default-project:vn-a")
	var vn client.Object
	if err := json.Unmarshal([]byte(out), &vn); err != nil {
		t.Fatalf("get output is not JSON: %v\n%s", err, out)
	}
	if vn.UUID() != idA || vn.GetString("display_name") != "vn-a" {
		t.Errorf("get: %v", vn)
	}
	out = ctlOK(t, api, "get", "virtual-network", idA, "-o", "table")
	rows = ctlTableRows(out)
	if len(rows) != 2 || !slices.Equal(rows[0], []string{"UUID", "FQ_NAME", "DISPLAY_NAME", "NETWORK_ID", "SUBNETS"}) ||
		rows[1][0] != idA || rows[1][2] != "vn-a" || rows[1][4] != "10.1.1.0/24" {
		t.Errorf("get -o table:\n%s", out)
	}
	var only map[string]any
	ctlJSON(t, api, &only, "get", "virtual-network", idA, "--fields", "display_name")
	if only["display_name"] != "vn-a" || only["network_ipam_refs"] != nil {
		t.Errorf("get --fields display_name: %v", only)
	}

	// Update from a file; flags may come before the positionals.
	upd := ctlWriteFile(t, "upd.json", `{"virtual_network": {"display_name": "network A"}}`)
	out = ctlOK(t, api, "update", "-f", upd, "virtual-network", "default-domain:default-project:vn-a")
	if strings.TrimSpace(out) != "updated virtual-network "+idA {
		t.Errorf("update output: %q", out)
	}
	var updated map[string]any
	ctlJSON(t, api, &updated, "get", "virtual-network", idA)
	if updated["display_name"] != "network A" {
		t.Errorf("display_name after update = %v", updated["display_name"])
	}

	// List as a table: both networks, sorted by fq-name, with the network id.
	out = ctlOK(t, api, "list", "virtual-network", "--parent-fq-name", "default-domain:default-project")
	rows = ctlTableRows(out)
	if !slices.Equal(rows[0], []string{"UUID", "FQ_NAME", "NETWORK_ID"}) {
		t.Fatalf("list header: %v\n%s", rows[0], out)
	}
	var names []string
	for _, r := range rows[1:] {
		names = append(names, r[1])
		if r[2] == "-" {
			t.Errorf("list row without network id: %v", r)
		}
	}
	if !slices.Contains(names, "default-domain:default-project:vn-a") || !slices.Contains(names, "default-domain:default-project:vn-b") ||
		!slices.IsSorted(names) {
		t.Errorf("list names: %v", names)
	}
	// The rest of the list flags.
	var list []map[string]any
	ctlJSON(t, api, &list, "list", "virtual-network", "--filter", "name==vn-b", "--detail")
	if len(list) != 1 || list[0]["uuid"] != idB || list[0]["network_ipam_refs"] == nil {
		t.Errorf("list --filter name==vn-b --detail: %v", list)
	}
	ctlJSON(t, api, &list, "list", "virtual-network", "--filter", `display_name=="network A"`)
	if len(list) != 1 || list[0]["uuid"] != idA {
		t.Errorf("list --filter with a JSON string: %v", list)
	}
	out = ctlOK(t, api, "list", "virtual-network", "--filter", "name==vn-a", "--fields", "display_name,virtual_network_network_id")
	rows = ctlTableRows(out)
	if len(rows) != 2 || rows[0][2] != "DISPLAY_NAME" || rows[0][3] != "VIRTUAL_NETWORK_NETWORK_ID" || rows[1][2] != "network" {
		t.Errorf("list --fields:\n%s", out)
	}
	out = ctlOK(t, api, "list", "virtual-network", "--detail", "--parent-fq-name", "default-domain:default-project", "--page-limit", "1")
	if !strings.Contains(out, "SUBNETS") || !strings.Contains(out, "10.1.2.0/24") {
		t.Errorf("list --detail table:\n%s", out)
	}
	before := strings.TrimSpace(ctlOK(t, api, "list", "virtual-network", "--count"))
	var cnt map[string]int
	ctlJSON(t, api, &cnt, "list", "virtual-network", "--count", "--parent-fq-name", "default-domain:default-project")
	if before == "" || cnt["count"] < 2 {
		t.Errorf("list --count: %q, %v", before, cnt)
	}
	ctlJSON(t, api, &list, "list", "virtual-network", "--parent-fq-name", "default-domain:no-such-project")
	if len(list) != 0 {
		t.Errorf("list under a missing parent: %v", list)
	}

	// Delete by fq-name, then by uuid.
	out = ctlOK(t, api, "delete", "virtual-network", "default-domain:default-project:vn-a")
	if strings.TrimSpace(out) != "deleted virtual-network "+idA {
		t.Errorf("delete output: %q", out)
	}
	var gone map[string]string
	ctlJSON(t, api, &gone, "delete", "virtual-network", idB)
	if gone["uuid"] != idB {
		t.Errorf("delete -o json: %v", gone)
	}
	code, _, errOut := ctlRun(t, "--api", api, "get", "virtual-network", idA)
	if code != 1 || !strings.Contains(errOut, "404 Not Found") {
		t.Errorf("get after delete: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = ctlRun(t, "--api", api, "get", "virtual-network", "default-domain:default-project:vn-a")
	if code != 1 || !strings.Contains(errOut, "virtual-network default-domain:default-project:vn-a not found") {
		t.Errorf("get of a missing fq-name: exit %d, stderr %q", code, errOut)
	}
}

func TestCtlNamesAndRefs(t *testing.T) {
	api := ctlServer(t)
	ctlWithStdin(t, ctlVNJSON("vn-r", "10.2.0.0"))
	ctlOK(t, api, "create", "virtual-network", "-f", "-")
	ctlWithStdin(t, `{"network-policy": {"fq_name": ["default-domain", "default-project", "pol"], "parent_type": "project"}}`)
	ctlOK(t, api, "create", "network-policy", "-f", "-")

	id := strings.TrimSpace(ctlOK(t, api, "fqname-to-id", "virtual-network", "default-domain:default-project:vn-r"))
	if !client.IsUUID(id) {
		t.Fatalf("fqname-to-id: %q", id)
	}
	var m map[string]any
	ctlJSON(t, api, &m, "fqname-to-id", "virtual-network", "default-domain:default-project:vn-r")
	if m["uuid"] != id {
		t.Errorf("fqname-to-id -o json: %v", m)
	}
	out := ctlOK(t, api, "id-to-fqname", id)
	if rows := ctlTableRows(out); len(rows) != 2 || !slices.Equal(rows[1], []string{"virtual-network", "default-domain:default-project:vn-r"}) {
		t.Errorf("id-to-fqname:\n%s", out)
	}
	ctlJSON(t, api, &m, "id-to-fqname", strings.ToUpper(id))
	if m["type"] != "virtual-network" || len(m["fq_name"].([]any)) != 3 {
		t.Errorf("id-to-fqname -o json: %v", m)
	}

	// Refs by fq-name and by uuid, with an attr.
	out = ctlOK(t, api, "ref", "add", "virtual-network", "default-domain:default-project:vn-r",
		"network-policy", "default-domain:default-project:pol", "--attr", `{"sequence": {"major": 0, "minor": 0}}`)
	if !strings.HasPrefix(out, "added ref virtual-network "+id+" -> network-policy ") {
		t.Errorf("ref add output: %q", out)
	}
	var vn client.Object
	ctlJSON(t, api, &vn, "get", "virtual-network", id)
	refs := vn.Refs("network_policy_refs")
	if len(refs) != 1 || client.FQNameString(refs[0].To) != "default-domain:default-project:pol" || refs[0].Attr == nil {
		t.Fatalf("refs after add: %v", vn["network_policy_refs"])
	}
	polID := refs[0].UUID
	code, _, errOut := ctlRun(t, "--api", api, "delete", "network-policy", polID)
	if code != 1 || !strings.Contains(errOut, "409 Conflict") {
		t.Errorf("delete of a referred policy: exit %d, stderr %q", code, errOut)
	}
	ctlOK(t, api, "ref", "delete", "virtual-network", id, "network-policy", polID)
	var after client.Object
	ctlJSON(t, api, &after, "get", "virtual-network", id)
	if len(after.Refs("network_policy_refs")) != 0 || len(after.Refs("network_ipam_refs")) != 1 {
		t.Errorf("refs after delete: %v %v", after["network_policy_refs"], after["network_ipam_refs"])
	}
	ctlOK(t, api, "delete", "network-policy", polID)

	code, _, errOut = ctlRun(t, "--api", api, "fqname-to-id", "virtual-network", "default-domain:default-project:nope")
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("fqname-to-id of a missing name: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = ctlRun(t, "--api", api, "id-to-fqname", "00000000-0000-4000-8000-000000000000")
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("id-to-fqname of a missing uuid: exit %d, stderr %q", code, errOut)
	}
}

func TestCtlTypesAndEnv(t *testing.T) {
	api := ctlServer(t)
	t.Setenv("CONTRAIL_API", strings.TrimPrefix(api, "http://"))
	code, out, errOut := ctlRun(t, "types")
	if code != 0 {
		t.Fatalf("types with CONTRAIL_API: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !slices.Contains(lines, "virtual-network") || !slices.Contains(lines, "project") || !slices.IsSorted(lines) {
		t.Errorf("types: %v", lines)
	}
	var types []string
	ctlJSON(t, api, &types, "types")
	if !slices.Equal(types, lines) {
		t.Errorf("types -o json differs: %v", types)
	}
	// --api wins over the environment.
	code, _, errOut = ctlRun(t, "types", "--api", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "cannot reach the API server at http://127.0.0.1:1") {
		t.Errorf("types with an unreachable --api: exit %d, stderr %q", code, errOut)
	}
}

func TestCtlUsageAndErrors(t *testing.T) {
	api := ctlServer(t)
	ctlWithStdin(t, ctlVNJSON("dup", "10.3.0.0"))
	ctlOK(t, api, "create", "virtual-network", "-f", "-")
	bad := ctlWriteFile(t, "bad.json", `{"fq_name": [`)
	list := ctlWriteFile(t, "list.json", `[1, 2]`)

	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string // substring of stdout
		stderr string // substring of stderr
	}{
		{name: "help", args: []string{"-h"}, code: 0, stdout: "Verbs:"},
		{name: "help verb", args: []string{"help"}, code: 0, stdout: "fqname-to-id"},
		{name: "verb help", args: []string{"list", "-h"}, code: 0, stdout: "-parent-fq-name"},
		{name: "no verb", args: nil, code: 2, stderr: "missing verb"},
		{name: "unknown verb", args: []string{"frob"}, code: 2, stderr: `unknown verb "frob"`},
		{name: "unknown flag", args: []string{"--frob", "types"}, code: 2, stderr: "flag provided but not defined: -frob"},
		{name: "unknown verb flag", args: []string{"list", "virtual-network", "--frob"}, code: 2, stderr: "list: flag provided but not defined"},
		{name: "bad output", args: []string{"-o", "yaml", "types"}, code: 2, stderr: `-o "yaml"`},
		{name: "bad api", args: []string{"--api", "ftp://x", "types"}, code: 2, stderr: `--api "ftp://x"`},
		{name: "missing args", args: []string{"get", "virtual-network"}, code: 2, stderr: "usage: contrail ctl get <type>"},
		{name: "extra args", args: []string{"types", "x"}, code: 2, stderr: "usage: contrail ctl types"},
		{name: "create without -f", args: []string{"create", "virtual-network"}, code: 2, stderr: "-f file.json"},
		{name: "bad filter", args: []string{"list", "virtual-network", "--filter", "name=x"}, code: 2, stderr: `--filter "name=x"`},
		{name: "repeated filter", args: []string{"list", "virtual-network", "--filter", "name==a", "--filter", "name==b"}, code: 2, stderr: "given twice"},
		{name: "not a uuid", args: []string{"id-to-fqname", "xyz"}, code: 2, stderr: `"xyz" is not a uuid`},
		{name: "bad fq-name", args: []string{"get", "virtual-network", "a::b"}, code: 2, stderr: "neither a uuid nor an fq-name"},
		{name: "bad ref op", args: []string{"ref", "swap", "a", "b", "c", "d"}, code: 2, stderr: `"swap" is not add or delete`},
		{name: "bad attr", args: []string{"ref", "add", "virtual-network", "a:b:c", "network-policy", "a:b:d", "--attr", "{"}, code: 2, stderr: "--attr: not JSON"},
		{name: "missing file", args: []string{"create", "virtual-network", "-f", "/nonexistent.json"}, code: 1, stderr: "no such file"},
		{name: "malformed file", args: []string{"create", "virtual-network", "-f", bad}, code: 1, stderr: "not a JSON object"},
		{name: "file with a list", args: []string{"create", "virtual-network", "-f", list}, code: 1, stderr: "not a JSON object"},
		{name: "empty stdin", args: []string{"create", "virtual-network", "-f", "-"}, stdin: " ", code: 1, stderr: "stdin: empty body"},
		{name: "duplicate", args: []string{"create", "virtual-network", "-f", "-"}, stdin: ctlVNJSON("dup", "10.3.0.0"), code: 1, stderr: "409 Conflict: fq_name: virtual-network default-domain:default-project:dup already exists"},
		{name: "bad body", args: []string{"create", "virtual-network", "-f", "-"}, stdin: `{"fq_name": "x"}`, code: 1, stderr: "400 Bad Request"},
		{name: "unknown type", args: []string{"list", "frob"}, code: 1, stderr: "404 Not Found"},
		{name: "missing uuid", args: []string{"delete", "virtual-network", "00000000-0000-4000-8000-000000000000"}, code: 1, stderr: "404 Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctlWithStdin(t, tc.stdin)
			code, out, errOut := ctlRun(t, append([]string{"--api", api}, tc.args...)...)
			if tc.args == nil {
				code, out, errOut = ctlRun(t)
			}
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout ~ %q, stderr ~ %q", code, tc.code, out, errOut, tc.stdout, tc.stderr)
			}
			if code != 0 && !strings.HasPrefix(errOut, "contrail ctl: ") && tc.args != nil {
				t.Errorf("stderr does not start with the command name: %q", errOut)
			}
		})
	}
}
