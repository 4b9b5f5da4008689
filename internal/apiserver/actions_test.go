// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestFQNameAndIDActions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.mustCreate("virtual-network", vnBody("act", "10.1.0.0", 24))
	if got := ts.fqID("virtual-network", projFQ("act")); got != id {
		t.Errorf("fqname-to-id = %s, want %s", got, id)
	}
	out := ts.mustDo("POST", "/id-to-fqname", map[string]any{"uuid": id})
	if out["type"] != "virtual-network" || strings.Join(anyStrings(out["fq_name"]), ":") != "default-domain:default-project:act" {
		t.Errorf("id-to-fqname = %v", out)
	}
	out = ts.mustDo("POST", "/id-to-fqname", map[string]any{"uuid": strings.ToUpper(id)})
	if out["type"] != "virtual-network" {
		t.Errorf("id-to-fqname of upper-case uuid = %v", out)
	}
	ts.expectErr("POST", "/fqname-to-id", map[string]any{"type": "virtual-network", "fq_name": projFQ("nope")}, 404, "fq_name")
	// Right name, wrong type.
	ts.expectErr("POST", "/fqname-to-id", map[string]any{"type": "network-ipam", "fq_name": projFQ("act")}, 404, "fq_name")
	ts.expectErr("POST", "/fqname-to-id", map[string]any{"type": "no-such-type", "fq_name": projFQ("act")}, 404, "-")
	ts.expectErr("POST", "/id-to-fqname", map[string]any{"uuid": uuid.NewString()}, 404, "uuid")
	ts.expectErr("POST", "/id-to-fqname", map[string]any{"uuid": 5}, 400, "-")
	ts.expectErr("POST", "/fqname-to-id", "{", 400, "-")
}

func TestRefUpdate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", vnBody("ru", "10.1.0.0", 24))
	pol := ts.mustCreate("network-policy", map[string]any{"fq_name": projFQ("pol"), "parent_type": "project"})
	pol2 := ts.mustCreate("network-policy", map[string]any{"fq_name": projFQ("pol2"), "parent_type": "project"})
	ref := func(op, refUUID string, attr any) map[string]any {
		b := map[string]any{"type": "virtual-network", "uuid": vn, "ref-type": "network-policy", "operation": op}
		if refUUID != "" {
			b["ref-uuid"] = refUUID
		}
		if attr != nil {
			b["attr"] = attr
		}
		return b
	}
	seq := func(major int) map[string]any {
		return map[string]any{"sequence": map[string]any{"major": major, "minor": 0}}
	}
	out := ts.mustDo("POST", "/ref-update", ref("ADD", pol, seq(1)))
	if out["uuid"] != vn {
		t.Errorf("ref-update answer %v", out)
	}
	got := ts.mustGet("virtual-network", vn)
	if u := linkUUIDs(got["network_policy_refs"]); len(u) != 1 || u[0] != pol {
		t.Fatalf("refs after ADD: %v", got["network_policy_refs"])
	}
	if m := num(t, dig(got, "network_policy_refs", 0, "attr", "sequence", "major")); m != 1 {
		t.Errorf("attr after ADD: %v", dig(got, "network_policy_refs", 0, "attr"))
	}
	// The existing network_ipam_refs are untouched.
	if len(linkUUIDs(got["network_ipam_refs"])) != 1 {
		t.Errorf("ipam refs after ref-update: %v", got["network_ipam_refs"])
	}
	if br := linkUUIDs(ts.mustGet("network-policy", pol)["virtual_network_back_refs"]); len(br) != 1 || br[0] != vn {
		t.Errorf("policy back-refs %v", br)
	}
	// ADD of an existing ref updates its attr; ADD by fq-name.
	ts.mustDo("POST", "/ref-update", ref("ADD", pol, seq(5)))
	b := ref("ADD", "", seq(2))
	b["ref-fq-name"] = projFQ("pol2")
	ts.mustDo("POST", "/ref-update", b)
	got = ts.mustGet("virtual-network", vn)
	refs := got["network_policy_refs"].([]any)
	if len(refs) != 2 {
		t.Fatalf("refs = %v", refs)
	}
	for _, r := range refs {
		want := int64(5)
		if dig(r, "uuid") == pol2 {
			want = 2
		}
		if m := num(t, dig(r, "attr", "sequence", "major")); m != want {
			t.Errorf("ref %v: major %d, want %d", dig(r, "uuid"), m, want)
		}
	}
	// DELETE, also of a ref that is not there.
	ts.mustDo("POST", "/ref-update", ref("DELETE", pol, nil))
	ts.mustDo("POST", "/ref-update", ref("DELETE", pol, nil))
	if u := linkUUIDs(ts.mustGet("virtual-network", vn)["network_policy_refs"]); len(u) != 1 || u[0] != pol2 {
		t.Errorf("refs after DELETE: %v", u)
	}
	if br := ts.mustGet("network-policy", pol)["virtual_network_back_refs"]; br != nil {
		t.Errorf("back-refs after DELETE: %v", br)
	}
	ts.mustDelete("network-policy", pol)

	// Errors.
	ts.expectErr("POST", "/ref-update", ref("ADD", uuid.NewString(), nil), 404, "-")
	ts.expectErr("POST", "/ref-update", ref("MOVE", pol2, nil), 400, "operation")
	b = ref("ADD", pol2, nil)
	b["ref-type"] = "tag-type"
	ts.expectErr("POST", "/ref-update", b, 400, "ref-type")
	b = ref("ADD", "", nil)
	ts.expectErr("POST", "/ref-update", b, 400, "ref-uuid")
	b = ref("ADD", "", nil)
	b["ref-fq-name"] = projFQ("nope")
	ts.expectErr("POST", "/ref-update", b, 404, "ref-fq-name")
	b = ref("ADD", pol2, map[string]any{"sequence": map[string]any{"major": "x"}})
	ts.expectErr("POST", "/ref-update", b, 400, "network_policy_refs[0].attr.sequence.major")
	b = ref("ADD", pol2, nil)
	b["uuid"] = uuid.NewString()
	ts.expectErr("POST", "/ref-update", b, 404, "uuid")
	b = ref("ADD", pol2, nil)
	b["uuid"] = "bad"
	ts.expectErr("POST", "/ref-update", b, 400, "uuid")
	// A ref of the wrong target type, by uuid.
	ts.expectErr("POST", "/ref-update", ref("ADD", vn, nil), 400, "-")
	checkConsistency(t, ts.st)
}

func TestRefRelaxForDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", vnBody("rr", "10.1.0.0", 24))
	sg := ts.mustCreate("security-group", map[string]any{"fq_name": projFQ("sg"), "parent_type": "project"})
	sg2 := ts.mustCreate("security-group", map[string]any{"fq_name": projFQ("sg2"), "parent_type": "project"})
	vmi := ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("vmi"), "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": vn}},
		"security_group_refs":  []any{map[string]any{"uuid": sg}, map[string]any{"uuid": sg2}},
		"display_name":         "keep me",
	})
	ts.expectErr("DELETE", "/security-group/"+sg, nil, 409, "-")
	out := ts.mustDo("POST", "/ref-relax-for-delete", map[string]any{"uuid": vmi, "ref-uuid": sg})
	if out["uuid"] != vmi {
		t.Errorf("answer %v", out)
	}
	// The relaxed ref is still a ref until the target goes.
	if u := linkUUIDs(ts.mustGet("virtual-machine-interface", vmi)["security_group_refs"]); len(u) != 2 {
		t.Errorf("refs after relax: %v", u)
	}
	if br := linkUUIDs(ts.mustGet("security-group", sg)["virtual_machine_interface_back_refs"]); len(br) != 1 {
		t.Errorf("back-refs after relax: %v", br)
	}
	checkConsistency(t, ts.st)
	ts.mustDelete("security-group", sg)
	got := ts.mustGet("virtual-machine-interface", vmi)
	if u := linkUUIDs(got["security_group_refs"]); len(u) != 1 || u[0] != sg2 {
		t.Errorf("refs after the relaxed target went: %v", u)
	}
	if got["display_name"] != "keep me" {
		t.Errorf("referrer lost a property: %v", got["display_name"])
	}
	// The unrelaxed one still blocks.
	ts.expectErr("DELETE", "/security-group/"+sg2, nil, 409, "-")
	ts.expectErr("POST", "/ref-relax-for-delete", map[string]any{"uuid": vmi, "ref-uuid": uuid.NewString()}, 404, "ref-uuid")
	ts.expectErr("POST", "/ref-relax-for-delete", map[string]any{"uuid": uuid.NewString(), "ref-uuid": sg2}, 404, "uuid")
	// ref-update with relax_ref_for_delete.
	ts.mustDo("POST", "/ref-update", map[string]any{"type": "virtual-machine-interface", "uuid": vmi,
		"ref-type": "security-group", "ref-uuid": sg2, "operation": "ADD", "relax_ref_for_delete": true})
	ts.mustDelete("security-group", sg2)
	if refs := ts.mustGet("virtual-machine-interface", vmi)["security_group_refs"]; refs != nil {
		t.Errorf("refs after both targets went: %v", refs)
	}
	// The referrer can be deleted cleanly afterwards.
	ts.mustDelete("virtual-machine-interface", vmi)
	checkConsistency(t, ts.st)
}

func TestPropCollection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", vnBody("pc", "10.1.0.0", 24))
	vmi := ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("vmi"), "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": vn}}})
	upd := func(updates ...map[string]any) {
		t.Helper()
		ts.mustDo("POST", "/prop-collection-update", map[string]any{"uuid": vmi, "updates": updates})
	}
	get := func(q string) map[string]any {
		t.Helper()
		return ts.mustDo("GET", "/prop-collection-get?uuid="+vmi+q, nil)
	}
	const ff = "virtual_machine_interface_fat_flow_protocols"
	// List property: add, add, modify at position, delete at position.
	upd(map[string]any{"field": ff, "operation": "add", "value": map[string]any{"protocol": "tcp", "port": 80}},
		map[string]any{"field": ff, "operation": "add", "value": map[string]any{"protocol": "udp", "port": 53}})
	out := get("&fields=" + ff)
	items := out[ff].([]any)
	if len(items) != 2 || dig(items, 0, 1) != "0" || dig(items, 1, 1) != "1" || dig(items, 1, 0, "protocol") != "udp" {
		t.Fatalf("list after add: %v", items)
	}
	// The object shows the list property.
	if l := dig(ts.mustGet("virtual-machine-interface", vmi), ff, "fat_flow_protocol").([]any); len(l) != 2 {
		t.Errorf("object property %v", l)
	}
	upd(map[string]any{"field": ff, "operation": "modify", "position": "0", "value": map[string]any{"protocol": "tcp", "port": 443}})
	if p := num(t, dig(get("&fields="+ff), ff, 0, 0, "port")); p != 443 {
		t.Errorf("port after modify = %d", p)
	}
	upd(map[string]any{"field": ff, "operation": "delete", "position": "0"})
	items = get("&fields=" + ff)[ff].([]any)
	if len(items) != 1 || dig(items, 0, 0, "protocol") != "udp" {
		t.Errorf("list after delete: %v", items)
	}
	// Map property: add by key, replace by key, delete by key, get one position.
	const an = "annotations"
	upd(map[string]any{"field": an, "operation": "add", "value": map[string]any{"key": "a", "value": "1"}},
		map[string]any{"field": an, "operation": "add", "value": map[string]any{"key": "b", "value": "2"}})
	upd(map[string]any{"field": an, "operation": "modify", "position": "a", "value": map[string]any{"key": "a", "value": "10"}},
		map[string]any{"field": an, "operation": "add", "value": map[string]any{"key": "b", "value": "20"}})
	out = get("&fields=" + an)
	items = out[an].([]any)
	if len(items) != 2 {
		t.Fatalf("map = %v", items)
	}
	for _, it := range items {
		k := dig(it, 1)
		want := map[any]string{"a": "10", "b": "20"}[k]
		if dig(it, 0, "value") != want {
			t.Errorf("map item %v, want value %s", it, want)
		}
	}
	one := get("&fields=" + an + "&position=b")[an].([]any)
	if len(one) != 1 || dig(one, 0, 0, "value") != "20" {
		t.Errorf("position=b: %v", one)
	}
	upd(map[string]any{"field": an, "operation": "delete", "position": "a"})
	if items := get("&fields=" + an)[an].([]any); len(items) != 1 || dig(items, 0, 1) != "b" {
		t.Errorf("map after delete: %v", items)
	}
	// Without fields: every collection property of the type.
	out = get("")
	for _, f := range []string{ff, an, "virtual_machine_interface_bindings"} {
		if _, ok := out[f]; !ok {
			t.Errorf("prop-collection-get without fields lacks %s: %v", f, out)
		}
	}
	// Errors.
	ts.expectErr("POST", "/prop-collection-update", map[string]any{"uuid": vmi, "updates": []any{
		map[string]any{"field": "display_name", "operation": "add", "value": "x"}}}, 400, "updates[0].field")
	ts.expectErr("POST", "/prop-collection-update", map[string]any{"uuid": vmi, "updates": []any{
		map[string]any{"field": ff, "operation": "delete", "position": "7"}}}, 404, "updates[0].position")
	ts.expectErr("POST", "/prop-collection-update", map[string]any{"uuid": vmi, "updates": []any{
		map[string]any{"field": ff, "operation": "shuffle"}}}, 400, "updates[0].operation")
	ts.expectErr("POST", "/prop-collection-update", map[string]any{"uuid": vmi, "updates": []any{
		map[string]any{"field": ff, "operation": "add", "value": map[string]any{"port": "eighty"}}}}, 400, ff+".fat_flow_protocol[1].port")
	ts.expectErr("POST", "/prop-collection-update", map[string]any{"uuid": uuid.NewString(), "updates": []any{}}, 404, "uuid")
	ts.expectErr("GET", "/prop-collection-get?uuid="+uuid.NewString(), nil, 404, "uuid")
	ts.expectErr("GET", "/prop-collection-get?uuid="+vmi+"&fields=display_name", nil, 400, "fields")
	// A refused update changed nothing.
	if items := get("&fields=" + ff)[ff].([]any); len(items) != 1 {
		t.Errorf("list after refused updates: %v", items)
	}
}

func TestUserAgentKV(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	kv := func(op, key, value string) (int, map[string]any) {
		b := map[string]any{"operation": op, "key": key}
		if value != "" {
			b["value"] = value
		}
		return ts.do("POST", "/useragent-kv", b)
	}
	for _, k := range []string{"plain", "with/slash:colon%pct"} {
		if code, out := kv("STORE", k, "v1"); code != 200 {
			t.Fatalf("STORE: %d %v", code, out)
		}
		code, out := kv("RETRIEVE", k, "")
		if code != 200 || out["value"] != "v1" {
			t.Errorf("RETRIEVE %s: %d %v", k, code, out)
		}
		kv("STORE", k, "v2")
		if _, out := kv("RETRIEVE", k, ""); out["value"] != "v2" {
			t.Errorf("RETRIEVE after overwrite: %v", out)
		}
		if code, _ := kv("DELETE", k, ""); code != 200 {
			t.Errorf("DELETE: %d", code)
		}
		ts.expectErr("POST", "/useragent-kv", map[string]any{"operation": "RETRIEVE", "key": k}, 404, "key")
	}
	ts.expectErr("POST", "/useragent-kv", map[string]any{"operation": "FROB", "key": "k"}, 400, "operation")
	ts.expectErr("POST", "/useragent-kv", map[string]any{"operation": "STORE"}, 400, "key")
	// The kv store is not config: no object appears, and reads right after a
	// STORE do not wait for the config watch.
	kv("STORE", "x", "y")
	ts.mustGet("virtual-network", ts.fqID("virtual-network", projFQ("default-virtual-network")))
	ts.expectErr("GET", "/virtual-network/"+uuid.NewString(), nil, 404, "uuid")
	checkConsistency(t, ts.st)
}

func TestChownChmod(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", vnBody("perm", "10.1.0.0", 24))
	owner := uuid.NewString()
	ts.mustDo("POST", "/chown", map[string]any{"uuid": vn, "owner": owner})
	if got := dig(ts.mustGet("virtual-network", vn), "perms2", "owner"); got != strings.ReplaceAll(owner, "-", "") {
		t.Errorf("owner after chown = %v", got)
	}
	ts.mustDo("POST", "/chmod", map[string]any{"uuid": vn, "global_access": 5, "owner_access": 6,
		"share": []any{map[string]any{"tenant": "tenant:" + owner, "tenant_access": 4}}})
	p2 := ts.mustGet("virtual-network", vn)["perms2"]
	if num(t, dig(p2, "global_access")) != 5 || num(t, dig(p2, "owner_access")) != 6 ||
		dig(p2, "share", 0, "tenant") != "tenant:"+owner || num(t, dig(p2, "share", 0, "tenant_access")) != 4 {
		t.Errorf("perms2 after chmod: %v", p2)
	}
	out := ts.mustDo("GET", "/obj-perms?uuid="+vn, nil)
	if num(t, dig(out, "perms2", "global_access")) != 5 {
		t.Errorf("obj-perms = %v", out)
	}
	// A chmod that leaves out a field keeps it.
	ts.mustDo("POST", "/chmod", map[string]any{"uuid": vn, "global_access": 0})
	p2 = ts.mustGet("virtual-network", vn)["perms2"]
	if num(t, dig(p2, "owner_access")) != 6 || len(dig(p2, "share").([]any)) != 1 {
		t.Errorf("perms2 after partial chmod: %v", p2)
	}
	ts.expectErr("POST", "/chmod", map[string]any{"uuid": vn, "share": []any{map[string]any{"tenant_access": 4}}}, 400, "share[0].tenant")
	ts.expectErr("POST", "/chmod", map[string]any{"uuid": vn, "owner_access": 9}, 400, "perms2.owner_access")
	ts.expectErr("POST", "/chown", map[string]any{"uuid": vn}, 400, "owner")
	ts.expectErr("POST", "/chown", map[string]any{"uuid": uuid.NewString(), "owner": owner}, 404, "uuid")
	ts.expectErr("GET", "/obj-perms?uuid="+uuid.NewString(), nil, 404, "uuid")
	// perms2 cannot be changed by a PUT (it is echoed and ignored).
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"perms2": map[string]any{"owner": "x", "owner_access": 7, "global_access": 7}}})
	if dig(ts.mustGet("virtual-network", vn), "perms2", "owner") == "x" {
		t.Error("PUT changed perms2")
	}
}

func TestSetTag(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", vnBody("tagged", "10.1.0.0", 24))
	tag := func(fq []string, typ, value string) string {
		b := map[string]any{"fq_name": fq, "tag_type_name": typ, "tag_value": value}
		if len(fq) > 1 {
			b["parent_type"] = "project"
		}
		return ts.mustCreate("tag", b)
	}
	web := tag(projFQ("label=web"), "label", "web")
	db := tag(projFQ("label=db"), "label", "db")
	app := tag([]string{"application=shop"}, "application", "shop")
	tagRefs := func() []string {
		return sortedStrings(linkUUIDs(ts.mustGet("virtual-network", vn)["tag_refs"]))
	}
	ts.mustDo("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": vn,
		"label":       map[string]any{"value": "web"},
		"application": map[string]any{"value": "shop", "is_global": true}})
	if got, want := tagRefs(), sortedStrings([]string{web, app}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
	if br := linkUUIDs(ts.mustGet("tag", web)["virtual_network_back_refs"]); len(br) != 1 || br[0] != vn {
		t.Errorf("tag back-refs %v", br)
	}
	// value replaces the tag of that type; add_values / delete_values.
	ts.mustDo("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": vn,
		"label": map[string]any{"value": "db"}})
	if got, want := tagRefs(), sortedStrings([]string{db, app}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tags after replace = %v, want %v", got, want)
	}
	ts.mustDo("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": vn,
		"label": map[string]any{"add_values": []string{"web"}}})
	if got := tagRefs(); len(got) != 3 {
		t.Errorf("tags after add_values = %v", got)
	}
	ts.mustDo("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": vn,
		"label": map[string]any{"delete_values": []string{"db"}}})
	if got, want := tagRefs(), sortedStrings([]string{web, app}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tags after delete_values = %v, want %v", got, want)
	}
	// null removes every tag of the type.
	ts.mustDo("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": vn, "label": nil})
	if got := tagRefs(); len(got) != 1 || got[0] != app {
		t.Errorf("tags after null = %v", got)
	}
	// Errors change nothing.
	ts.expectErr("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": vn,
		"label": map[string]any{"value": "nope"}}, 404, "label")
	ts.expectErr("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": uuid.NewString(),
		"label": map[string]any{"value": "web"}}, 404, "obj_uuid")
	ts.expectErr("POST", "/set-tag", map[string]any{"obj_type": "no-such", "obj_uuid": vn}, 400, "obj_type")
	ts.expectErr("POST", "/set-tag", map[string]any{"obj_type": "virtual-network", "obj_uuid": vn, "label": "web"}, 400, "label")
	if got := tagRefs(); len(got) != 1 || got[0] != app {
		t.Errorf("tags after refused set-tag = %v", got)
	}
	// A tagged tag cannot go; an untagged one can.
	ts.expectErr("DELETE", "/tag/"+app, nil, 409, "-")
	ts.mustDelete("tag", db)
	checkConsistency(t, ts.st)
}

func TestAaaModeAndUnknownAction(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	out := ts.mustDo("GET", "/aaa-mode", nil)
	if out["aaa-mode"] == nil {
		t.Errorf("aaa-mode = %v", out)
	}
	ts.expectErr("POST", "/no-such-action", map[string]any{}, 404, "-")
	code, _ := ts.do("GET", "/fqname-to-id", nil)
	if code != 405 && code != 404 {
		t.Errorf("GET of a POST action: %d", code)
	}
}
