// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fqID resolves an fq-name through /fqname-to-id.
func (ts *testServer) fqID(typ string, fq []string) string {
	ts.t.Helper()
	out := ts.mustDo("POST", "/fqname-to-id", map[string]any{"type": typ, "fq_name": fq})
	return out["uuid"].(string)
}

func TestDefaultObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, c := range []struct {
		typ string
		fq  []string
	}{
		{"global-system-config", []string{"default-global-system-config"}},
		{"global-vrouter-config", []string{"default-global-system-config", "default-global-vrouter-config"}},
		{"domain", []string{defDomain}},
		{"project", []string{defDomain, defProject}},
		{"namespace", []string{defDomain, "default-namespace"}},
		{"network-ipam", projFQ(defIPAM)},
		{"virtual-network", projFQ("default-virtual-network")},
		{"virtual-network", projFQ("ip-fabric")},
		{"routing-instance", append(projFQ("ip-fabric"), "__default__")},
		{"routing-instance", append(projFQ("ip-fabric"), "ip-fabric")},
		{"virtual-network", projFQ("__link_local__")},
		{"routing-instance", append(projFQ("__link_local__"), "__link_local__")},
		{"security-group", projFQ("__no_rule__")},
		{"policy-management", []string{"default-policy-management"}},
	} {
		ts.fqID(c.typ, c.fq)
	}
	gsc := ts.mustGet("global-system-config", ts.fqID("global-system-config", []string{"default-global-system-config"}))
	if as := num(t, gsc["autonomous_system"]); as != 64512 {
		t.Errorf("autonomous_system = %d, want 64512", as)
	}
	ipam := ts.mustGet("network-ipam", ts.fqID("network-ipam", projFQ(defIPAM)))
	if ga := num(t, dig(ipam, "perms2", "global_access")); ga != 5 {
		t.Errorf("default ipam global_access = %d, want 5", ga)
	}
	fabric := ts.mustGet("virtual-network", ts.fqID("virtual-network", projFQ("ip-fabric")))
	if fabric["is_provider_network"] != true {
		t.Errorf("ip-fabric is_provider_network = %v", fabric["is_provider_network"])
	}
	ris := linkUUIDs(fabric["routing_instances"])
	if len(ris) != 2 || !contains(ris, ts.fqID("routing-instance", append(projFQ("ip-fabric"), "__default__"))) {
		t.Errorf("ip-fabric routing instances = %v", fabric["routing_instances"])
	}
	sg := ts.mustGet("security-group", ts.fqID("security-group", projFQ("__no_rule__")))
	if n := len(dig(sg, "security_group_entries", "policy_rule").([]any)); n != 0 {
		t.Errorf("__no_rule__ has %d rules", n)
	}
	// The defaults are not created twice by a second start on the same store.
	before := ts.count("virtual-network")
	ts2 := startServer(t, ts.st, Config{})
	if after := ts2.count("virtual-network"); after != before {
		t.Errorf("virtual networks after a restart: %d, want %d", after, before)
	}
	checkConsistency(t, ts.st)
}

func TestFQNameUnique(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.mustCreate("virtual-network", vnBody("dup", "10.1.0.0", 24))
	e := ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": vnBody("dup", "10.2.0.0", 24)}, 409, "fq_name")
	if !strings.Contains(errMessage(e), id) {
		t.Errorf("409 message does not name the existing uuid %s: %v", id, errMessage(e))
	}
	// The same name is fine for another type or another parent.
	ts.mustCreate("network-ipam", map[string]any{"fq_name": projFQ("dup"), "parent_type": "project"})
	ts.mustCreate("project", map[string]any{"fq_name": []string{defDomain, "p2"}, "parent_type": "domain"})
	ts.mustCreate("virtual-network", map[string]any{"fq_name": []string{defDomain, "p2", "dup"}, "parent_type": "project"})
	if n := len(ts.list("virtual-network", "?fq_names=default-domain:default-project:dup")); n != 1 {
		t.Errorf("%d networks named dup in default-project", n)
	}
}

func TestClientUUID(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	want := "3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d"
	b := vnBody("u1", "10.1.0.0", 24)
	b["uuid"] = strings.ToUpper(want)
	if got := ts.mustCreate("virtual-network", b); got != want {
		t.Errorf("uuid = %s, want %s", got, want)
	}
	ts.mustGet("virtual-network", want)
	// Used uuid, for the same type and for another one.
	b = vnBody("u2", "10.2.0.0", 24)
	b["uuid"] = want
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": b}, 409, "uuid")
	ts.expectErr("POST", "/network-ipams", map[string]any{"network-ipam": map[string]any{
		"fq_name": projFQ("ipam-u"), "parent_type": "project", "uuid": want}}, 409, "uuid")
	for _, bad := range []any{"not-a-uuid", "3a4b5c6d7e8f4a0b9c1d2e3f4a5b6c7d", "3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7g", 42} {
		b = vnBody("u3", "10.3.0.0", 24)
		b["uuid"] = bad
		ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": b}, 400, "uuid")
	}
	if n := len(ts.list("virtual-network", "?fq_names=default-domain:default-project:u2,default-domain:default-project:u3")); n != 0 {
		t.Errorf("refused creates left %d networks", n)
	}
	// Reads of a malformed or unknown uuid.
	ts.expectErr("GET", "/virtual-network/nope", nil, 400, "uuid")
	ts.expectErr("GET", "/virtual-network/"+uuid.NewString(), nil, 404, "uuid")
	// The object exists but is not a network.
	ts.expectErr("GET", "/network-ipam/"+want, nil, 404, "uuid")
}

func TestParents(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	projID := ts.fqID("project", []string{defDomain, defProject})

	// Missing parent.
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": map[string]any{
		"fq_name": []string{defDomain, "no-such-project", "vn"}, "parent_type": "project"}}, 400, "parent_type")
	// parent_type that is not a parent type of the resource.
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": map[string]any{
		"fq_name": projFQ("vn"), "parent_type": "domain"}}, 400, "parent_type")
	// A top-level type given a parent.
	ts.expectErr("POST", "/domains", map[string]any{"domain": map[string]any{
		"fq_name": []string{"d2"}, "parent_type": "project"}}, 400, "parent_type")
	// An fq_name without the parent's part.
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": map[string]any{
		"fq_name": []string{"vn"}}}, 400, "fq_name")

	// parent_type inferred: the only parent type of a virtual-network is project.
	id := ts.mustCreate("virtual-network", map[string]any{"fq_name": projFQ("inferred")})
	vn := ts.mustGet("virtual-network", id)
	if vn["parent_type"] != "project" || vn["parent_uuid"] != projID {
		t.Errorf("parent = %v %v, want project %s", vn["parent_type"], vn["parent_uuid"], projID)
	}
	if !strings.HasSuffix(vn["parent_href"].(string), "/project/"+projID) {
		t.Errorf("parent_href = %v", vn["parent_href"])
	}
	// Several parent types (floating-ip-pool, instance-ip): the existing one wins.
	poolID := ts.mustCreate("floating-ip-pool", map[string]any{"fq_name": append(projFQ("inferred"), "pool")})
	pool := ts.mustGet("floating-ip-pool", poolID)
	if pool["parent_type"] != "virtual-network" || pool["parent_uuid"] != id {
		t.Errorf("pool parent = %v %v", pool["parent_type"], pool["parent_uuid"])
	}
	// parent_uuid and name instead of fq_name.
	id2 := ts.mustCreate("network-ipam", map[string]any{"parent_uuid": projID, "name": "byparent"})
	ipam := ts.mustGet("network-ipam", id2)
	if got := strings.Join(anyStrings(ipam["fq_name"]), ":"); got != "default-domain:default-project:byparent" {
		t.Errorf("fq_name from parent_uuid = %s", got)
	}
	// Both, disagreeing.
	domID := ts.fqID("domain", []string{defDomain})
	ts.expectErr("POST", "/network-ipams", map[string]any{"network-ipam": map[string]any{
		"parent_uuid": domID, "fq_name": projFQ("mismatch"), "parent_type": "project"}}, 400, "parent_uuid")
	// Top-level objects take a one-element fq_name, with or without config-root.
	ts.mustCreate("domain", map[string]any{"fq_name": []string{"d2"}, "parent_type": "config-root"})
	ts.mustCreate("domain", map[string]any{"fq_name": []string{"d3"}})
	checkConsistency(t, ts.st)
}

func anyStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

func TestRefsResolveAndMissing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ipamID := ts.fqID("network-ipam", projFQ(defIPAM))
	other := ts.mustCreate("network-ipam", map[string]any{"fq_name": projFQ("ipam2"), "parent_type": "project"})

	// By uuid and by fq-name in one list.
	b := map[string]any{"fq_name": projFQ("r1"), "parent_type": "project", "network_ipam_refs": []any{
		map[string]any{"uuid": ipamID, "attr": map[string]any{"ipam_subnets": []any{}}},
		map[string]any{"to": projFQ("ipam2")},
	}}
	id := ts.mustCreate("virtual-network", b)
	vn := ts.mustGet("virtual-network", id)
	got := linkUUIDs(vn["network_ipam_refs"])
	if len(got) != 2 || got[0] != ipamID || got[1] != other {
		t.Errorf("refs = %v", vn["network_ipam_refs"])
	}
	if to := anyStrings(dig(vn, "network_ipam_refs", 1, "to")); strings.Join(to, ":") != "default-domain:default-project:ipam2" {
		t.Errorf("ref to = %v", to)
	}
	// Back-refs on the target.
	ip2 := ts.mustGet("network-ipam", other)
	if br := linkUUIDs(ip2["virtual_network_back_refs"]); len(br) != 1 || br[0] != id {
		t.Errorf("back refs = %v", ip2["virtual_network_back_refs"])
	}

	// Missing targets: 404 naming the list element.
	missing := []map[string]any{
		{"uuid": uuid.NewString()},
		{"to": projFQ("nope")},
	}
	for _, m := range missing {
		b := map[string]any{"fq_name": projFQ("r2"), "parent_type": "project", "network_ipam_refs": []any{
			map[string]any{"uuid": ipamID}, m}}
		ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": b}, 404, "network_ipam_refs[1]")
	}
	// A ref by uuid to an object of another type.
	b = map[string]any{"fq_name": projFQ("r3"), "parent_type": "project", "network_ipam_refs": []any{
		map[string]any{"uuid": id}}}
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": b}, 400, "network_ipam_refs[0]")
	// The same target twice.
	b = map[string]any{"fq_name": projFQ("r4"), "parent_type": "project", "network_ipam_refs": []any{
		map[string]any{"uuid": ipamID}, map[string]any{"to": projFQ(defIPAM)}}}
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": b}, 400, "network_ipam_refs[1]")
	// A PUT to a missing target changes nothing.
	ts.expectErr("PUT", "/virtual-network/"+id, map[string]any{"virtual-network": map[string]any{
		"network_ipam_refs": []any{map[string]any{"uuid": uuid.NewString()}}}}, 404, "network_ipam_refs[0]")
	if n := len(linkUUIDs(ts.mustGet("virtual-network", id)["network_ipam_refs"])); n != 2 {
		t.Errorf("refs after refused PUT: %d", n)
	}
	checkConsistency(t, ts.st)
}

func TestDeleteRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	proj := ts.mustCreate("project", map[string]any{"fq_name": []string{defDomain, "pd"}, "parent_type": "domain"})
	ipam := ts.mustCreate("network-ipam", map[string]any{"fq_name": []string{defDomain, "pd", "ipam"}, "parent_type": "project"})
	vn := ts.mustCreate("virtual-network", map[string]any{"fq_name": []string{defDomain, "pd", "vn"}, "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{"uuid": ipam}}})

	e := ts.expectErr("DELETE", "/project/"+proj, nil, 409, "-")
	if !strings.Contains(errMessage(e), "children") {
		t.Errorf("message %q does not mention children", errMessage(e))
	}
	e = ts.expectErr("DELETE", "/network-ipam/"+ipam, nil, 409, "-")
	if !strings.Contains(errMessage(e), "referred") || !strings.Contains(errMessage(e), vn) {
		t.Errorf("message %q does not name the referrer", errMessage(e))
	}
	ts.mustGet("network-ipam", ipam)
	// Dropping the ref with a PUT of an empty list unblocks the delete.
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"network_ipam_refs": []any{}}})
	if refs := ts.mustGet("virtual-network", vn)["network_ipam_refs"]; refs != nil {
		t.Errorf("refs after PUT []: %v", refs)
	}
	ts.mustDelete("network-ipam", ipam)
	ts.expectErr("GET", "/network-ipam/"+ipam, nil, 404, "uuid")
	ts.mustDelete("virtual-network", vn)
	ts.mustDelete("project", proj)
	ts.expectErr("DELETE", "/project/"+proj, nil, 404, "uuid")
	ts.expectErr("DELETE", "/project/bad-uuid", nil, 400, "uuid")
	checkConsistency(t, ts.st)
}

func TestPutReplacesRefList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.mustCreate("network-ipam", map[string]any{"fq_name": projFQ("ipam-a"), "parent_type": "project"})
	b := ts.mustCreate("network-ipam", map[string]any{"fq_name": projFQ("ipam-b"), "parent_type": "project"})
	vn := ts.mustCreate("virtual-network", map[string]any{"fq_name": projFQ("vn"), "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{"uuid": a}}, "is_shared": true})
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{
		"network_ipam_refs": []any{map[string]any{"uuid": b}}}})
	got := ts.mustGet("virtual-network", vn)
	if refs := linkUUIDs(got["network_ipam_refs"]); len(refs) != 1 || refs[0] != b {
		t.Errorf("refs after PUT = %v", got["network_ipam_refs"])
	}
	// Fields not in the PUT body keep their value.
	if got["is_shared"] != true {
		t.Errorf("is_shared = %v after a PUT of the refs only", got["is_shared"])
	}
	if br := ts.mustGet("network-ipam", a)["virtual_network_back_refs"]; br != nil {
		t.Errorf("old target still has back-refs: %v", br)
	}
	if br := linkUUIDs(ts.mustGet("network-ipam", b)["virtual_network_back_refs"]); len(br) != 1 || br[0] != vn {
		t.Errorf("new target back-refs = %v", br)
	}
	// The old target can go now, the new one cannot.
	ts.mustDelete("network-ipam", a)
	ts.expectErr("DELETE", "/network-ipam/"+b, nil, 409, "-")
	// A PUT of a property set to null removes it.
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"is_shared": nil}})
	if v, ok := ts.mustGet("virtual-network", vn)["is_shared"]; ok {
		t.Errorf("is_shared = %v after PUT null", v)
	}
	// null for a ref list removes the refs.
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"network_ipam_refs": nil}})
	ts.mustDelete("network-ipam", b)
	// Identity cannot change.
	ts.expectErr("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"fq_name": projFQ("other")}}, 400, "fq_name")
	ts.expectErr("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"uuid": uuid.NewString()}}, 400, "uuid")
	ts.expectErr("PUT", "/virtual-network/"+uuid.NewString(), map[string]any{"virtual-network": map[string]any{}}, 404, "uuid")
	checkConsistency(t, ts.st)
}

func TestPermsAndDisplayName(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	projID := ts.fqID("project", []string{defDomain, defProject})
	id := ts.mustCreate("virtual-network", vnBody("perm", "10.1.0.0", 24))
	vn := ts.mustGet("virtual-network", id)
	if vn["display_name"] != "perm" || vn["name"] != "perm" {
		t.Errorf("display_name %v name %v", vn["display_name"], vn["name"])
	}
	u := uuid.MustParse(id)
	ms := dig(vn, "id_perms", "uuid", "uuid_mslong").(json.Number).String()
	ls := dig(vn, "id_perms", "uuid", "uuid_lslong").(json.Number).String()
	if want := strconv.FormatUint(binary.BigEndian.Uint64(u[:8]), 10); ms != want {
		t.Errorf("uuid_mslong %s, want %s", ms, want)
	}
	if want := strconv.FormatUint(binary.BigEndian.Uint64(u[8:]), 10); ls != want {
		t.Errorf("uuid_lslong %s, want %s", ls, want)
	}
	if dig(vn, "id_perms", "enable") != true || dig(vn, "id_perms", "user_visible") != true {
		t.Errorf("id_perms = %v", vn["id_perms"])
	}
	created, _ := dig(vn, "id_perms", "created").(string)
	modified, _ := dig(vn, "id_perms", "last_modified").(string)
	const layout = "2006-01-02T15:04:05.000000"
	ct, err := time.Parse(layout, created)
	if err != nil || time.Since(ct) > time.Minute || time.Since(ct) < -time.Minute {
		t.Errorf("created = %q (%v)", created, err)
	}
	if modified != created {
		t.Errorf("last_modified %q != created %q on a new object", modified, created)
	}
	if got := dig(vn, "perms2", "owner"); got != strings.ReplaceAll(projID, "-", "") {
		t.Errorf("perms2.owner = %v, want project %s", got, projID)
	}
	if num(t, dig(vn, "perms2", "owner_access")) != 7 || num(t, dig(vn, "perms2", "global_access")) != 0 {
		t.Errorf("perms2 = %v", vn["perms2"])
	}
	if s, ok := dig(vn, "perms2", "share").([]any); !ok || len(s) != 0 {
		t.Errorf("perms2.share = %v", dig(vn, "perms2", "share"))
	}
	// A PUT touches last_modified, keeps created and the system parts.
	time.Sleep(2 * time.Millisecond)
	ts.mustDo("PUT", "/virtual-network/"+id, map[string]any{"virtual-network": map[string]any{
		"display_name": "Perm Net", "id_perms": map[string]any{"description": "d", "created": "1999-01-01T00:00:00.000000"}}})
	vn = ts.mustGet("virtual-network", id)
	if vn["display_name"] != "Perm Net" || dig(vn, "id_perms", "description") != "d" {
		t.Errorf("after PUT: display_name %v id_perms %v", vn["display_name"], vn["id_perms"])
	}
	if dig(vn, "id_perms", "created") != created {
		t.Errorf("created changed: %v", dig(vn, "id_perms", "created"))
	}
	if m, _ := dig(vn, "id_perms", "last_modified").(string); m <= created {
		t.Errorf("last_modified %q not after %q", m, created)
	}
	if dig(vn, "id_perms", "uuid", "uuid_mslong").(json.Number).String() != ms {
		t.Errorf("uuid_mslong changed")
	}
	// A display_name given on create is kept.
	b := vnBody("perm2", "10.2.0.0", 24)
	b["display_name"] = "Second"
	if dn := ts.mustGet("virtual-network", ts.mustCreate("virtual-network", b))["display_name"]; dn != "Second" {
		t.Errorf("display_name = %v", dn)
	}
	// The create answer carries the identity and the system fields.
	code, out := ts.do("POST", "/virtual-networks", map[string]any{"virtual-network": vnBody("perm3", "10.3.0.0", 24)})
	if code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	c := out["virtual-network"].(map[string]any)
	for _, f := range []string{"uuid", "fq_name", "name", "href", "parent_type", "parent_uuid", "parent_href", "virtual_network_network_id"} {
		if c[f] == nil {
			t.Errorf("create answer lacks %s: %v", f, c)
		}
	}
}

func TestSystemFieldsRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := vnBody("sys", "10.1.0.0", 24)
	b["virtual_network_network_id"] = 77
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": b}, 403, "virtual_network_network_id")
	ts.expectErr("POST", "/security-groups", map[string]any{"security-group": map[string]any{
		"fq_name": projFQ("sg"), "parent_type": "project", "security_group_id": 8000123}}, 403, "security_group_id")
	if n := len(ts.list("virtual-network", "?fq_names=default-domain:default-project:sys")); n != 0 {
		t.Errorf("refused create left %d networks", n)
	}
	id := ts.mustCreate("virtual-network", vnBody("sys", "10.1.0.0", 24))
	vnID := num(t, ts.mustGet("virtual-network", id)["virtual_network_network_id"])
	ts.expectErr("PUT", "/virtual-network/"+id, map[string]any{"virtual-network": map[string]any{
		"virtual_network_network_id": vnID + 1}}, 403, "virtual_network_network_id")
	// Echoing the current value back is fine.
	ts.mustDo("PUT", "/virtual-network/"+id, map[string]any{"virtual-network": map[string]any{
		"virtual_network_network_id": vnID}})
	sg := ts.mustCreate("security-group", map[string]any{"fq_name": projFQ("sg"), "parent_type": "project"})
	sgID := num(t, ts.mustGet("security-group", sg)["security_group_id"])
	ts.expectErr("PUT", "/security-group/"+sg, map[string]any{"security-group": map[string]any{
		"security_group_id": sgID + 1}}, 403, "security_group_id")
}

func TestRoutingInstanceLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.mustCreate("virtual-network", vnBody("rivn", "10.1.0.0", 24))
	riFQ := append(projFQ("rivn"), "rivn")
	riID := ts.fqID("routing-instance", riFQ)
	ri := ts.mustGet("routing-instance", riID)
	if ri["routing_instance_is_default"] != true || ri["parent_uuid"] != id || ri["parent_type"] != "virtual-network" {
		t.Errorf("routing instance = %v", ri)
	}
	if got := linkUUIDs(ts.mustGet("virtual-network", id)["routing_instances"]); len(got) != 1 || got[0] != riID {
		t.Errorf("network's routing_instances = %v", got)
	}
	// Only the server makes a default routing instance; other instances are fine.
	ts.expectErr("POST", "/routing-instances", map[string]any{"routing-instance": map[string]any{
		"fq_name": append(projFQ("rivn"), "second"), "parent_type": "virtual-network", "routing_instance_is_default": true}},
		403, "routing_instance_is_default")
	user := ts.mustCreate("routing-instance", map[string]any{"fq_name": append(projFQ("rivn"), "user-ri"), "parent_type": "virtual-network"})
	ts.expectErr("DELETE", "/virtual-network/"+id, nil, 409, "-")
	ts.mustDelete("routing-instance", user)
	// A user child (floating-ip-pool) blocks the delete; the RI does not.
	pool := ts.mustCreate("floating-ip-pool", map[string]any{"fq_name": append(projFQ("rivn"), "pool"), "parent_type": "virtual-network"})
	ts.expectErr("DELETE", "/virtual-network/"+id, nil, 409, "-")
	ts.mustDelete("floating-ip-pool", pool)
	ts.mustDelete("virtual-network", id)
	ts.expectErr("GET", "/routing-instance/"+riID, nil, 404, "uuid")
	ts.expectErr("POST", "/fqname-to-id", map[string]any{"type": "routing-instance", "fq_name": riFQ}, 404, "fq_name")
	// The name is free again, with a new routing instance.
	id2 := ts.mustCreate("virtual-network", vnBody("rivn", "10.1.0.0", 24))
	if ts.fqID("routing-instance", riFQ) == riID || id2 == id {
		t.Error("re-created network reuses old uuids")
	}
	checkConsistency(t, ts.st)
}

func TestETag(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.mustCreate("virtual-network", vnBody("etag", "10.1.0.0", 24))
	resp, body := ts.request("GET", "/virtual-network/"+id, nil, nil)
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || tag == "" {
		t.Fatalf("GET: %d etag %q", resp.StatusCode, tag)
	}
	resp, body = ts.request("GET", "/virtual-network/"+id, nil, map[string]string{"If-None-Match": tag})
	if resp.StatusCode != 304 || len(body) != 0 {
		t.Fatalf("If-None-Match current: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("ETag") != tag {
		t.Errorf("304 etag %q, want %q", resp.Header.Get("ETag"), tag)
	}
	// A new back-ref changes what the GET shows, so the tag.
	ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("vmi"), "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": id}}})
	resp, body = ts.request("GET", "/virtual-network/"+id, nil, map[string]string{"If-None-Match": tag})
	if resp.StatusCode != 200 {
		t.Fatalf("If-None-Match after back-ref: %d %s", resp.StatusCode, body)
	}
	tag2 := resp.Header.Get("ETag")
	if tag2 == tag || tag2 == "" {
		t.Errorf("etag did not change with a new back-ref: %q", tag2)
	}
	if !strings.Contains(string(body), "virtual_machine_interface_back_refs") {
		t.Errorf("no back-ref in %s", body)
	}
	// A PUT changes it too; a GET of another object does not change this one.
	ts.mustDo("PUT", "/virtual-network/"+id, map[string]any{"virtual-network": map[string]any{"display_name": "x"}})
	resp, _ = ts.request("GET", "/virtual-network/"+id, nil, map[string]string{"If-None-Match": tag2})
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == tag2 {
		t.Errorf("after PUT: %d etag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	tag3 := resp.Header.Get("ETag")
	ts.mustCreate("virtual-network", vnBody("other", "10.2.0.0", 24))
	resp, _ = ts.request("GET", "/virtual-network/"+id, nil, map[string]string{"If-None-Match": tag3})
	if resp.StatusCode != 304 {
		t.Errorf("unrelated write changed the etag: %d", resp.StatusCode)
	}
}

func TestReadViews(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id := ts.mustCreate("virtual-network", vnBody("views", "10.1.0.0", 24))
	ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("vmi"), "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": id}}})

	full := ts.mustGet("virtual-network", id)
	for _, f := range []string{"routing_instances", "virtual_machine_interface_back_refs", "network_ipam_refs", "id_perms", "href"} {
		if full[f] == nil {
			t.Errorf("full view lacks %s", f)
		}
	}
	v := ts.getQ("virtual-network", id, "?fields=display_name,network_ipam_refs")
	if v["display_name"] != "views" || v["network_ipam_refs"] == nil {
		t.Errorf("fields view lacks asked fields: %v", v)
	}
	for _, f := range []string{"id_perms", "routing_instances", "virtual_machine_interface_back_refs", "virtual_network_network_id"} {
		if _, ok := v[f]; ok {
			t.Errorf("fields view has %s", f)
		}
	}
	if v["uuid"] != id || v["fq_name"] == nil {
		t.Errorf("fields view lacks identity: %v", v)
	}
	v = ts.getQ("virtual-network", id, "?fields=virtual_machine_interface_back_refs,routing_instances")
	if v["virtual_machine_interface_back_refs"] == nil || v["routing_instances"] == nil || v["display_name"] != nil {
		t.Errorf("fields of back-refs and children: %v", v)
	}
	v = ts.getQ("virtual-network", id, "?exclude_back_refs=true")
	if v["virtual_machine_interface_back_refs"] != nil || v["routing_instances"] == nil {
		t.Errorf("exclude_back_refs: %v", v)
	}
	v = ts.getQ("virtual-network", id, "?exclude_children=true")
	if v["routing_instances"] != nil || v["virtual_machine_interface_back_refs"] == nil {
		t.Errorf("exclude_children: %v", v)
	}
	_, raw := ts.raw("GET", "/virtual-network/"+id+"?exclude_hrefs=true", nil)
	if strings.Contains(string(raw), "href") {
		t.Errorf("exclude_hrefs still shows hrefs: %s", raw)
	}
	_, raw = ts.raw("GET", "/virtual-network/"+id, nil)
	if !strings.Contains(string(raw), `"href":"`+ts.base+"/virtual-network/"+id+`"`) {
		t.Errorf("href is not %s/virtual-network/%s: %s", ts.base, id, raw)
	}
}

func TestHomepage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	out := ts.mustDo("GET", "/", nil)
	links, _ := out["links"].([]any)
	rels := map[string]int{}
	names := map[string]bool{}
	for _, l := range links {
		rels[dig(l, "link", "rel").(string)]++
		names[dig(l, "link", "rel").(string)+" "+dig(l, "link", "name").(string)] = true
	}
	if rels["root"] != 1 || rels["collection"] == 0 || rels["resource-base"] == 0 || rels["action"] == 0 {
		t.Errorf("rels = %v", rels)
	}
	for _, n := range []string{"collection virtual-network", "resource-base virtual-network", "action fqname-to-id", "action ref-update"} {
		if !names[n] {
			t.Errorf("homepage lacks %s", n)
		}
	}
}

// TestPutEchoOfGet plays a read-modify-write client: it PUTs back what a
// GET returned (hrefs, back-refs, children, system fields and all) with one
// change. That must be accepted and change only that field.
func TestPutEchoOfGet(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", subnetVN("echo", "10.1.0.0", 24, nil))
	projID := ts.fqID("project", []string{defDomain, defProject})
	objs := map[string]string{
		"virtual-network": vn,
		"virtual-machine-interface": ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("echo-vmi"), "parent_type": "project",
			"virtual_network_refs": []any{map[string]any{"uuid": vn}}}),
		"instance-ip":      ts.mustCreate("instance-ip", iipBody("echo-ip", vn, "")),
		"security-group":   ts.mustCreate("security-group", map[string]any{"fq_name": projFQ("echo-sg"), "parent_type": "project"}),
		"project":          projID,
		"network-ipam":     ts.fqID("network-ipam", projFQ(defIPAM)),
		"routing-instance": ts.fqID("routing-instance", append(projFQ("echo"), "echo")),
	}
	pool := ts.mustCreate("floating-ip-pool", map[string]any{"fq_name": append(projFQ("echo"), "pool"), "parent_type": "virtual-network"})
	objs["floating-ip"] = ts.mustCreate("floating-ip", map[string]any{"fq_name": append(projFQ("echo"), "pool", "fip"), "parent_type": "floating-ip-pool",
		"project_refs": []any{map[string]any{"uuid": projID}}})
	objs["floating-ip-pool"] = pool
	for typ, id := range objs {
		before := ts.mustGet(typ, id)
		body := map[string]any{}
		for k, v := range before {
			body[k] = v
		}
		body["display_name"] = "echoed"
		code, out := ts.do("PUT", "/"+typ+"/"+id, map[string]any{typ: body})
		if code != 200 {
			t.Errorf("PUT of the GET body of %s: %d %v", typ, code, out)
			continue
		}
		after := ts.mustGet(typ, id)
		if after["display_name"] != "echoed" {
			t.Errorf("%s: display_name %v", typ, after["display_name"])
		}
		for k, v := range before {
			if k == "display_name" || k == "id_perms" {
				continue
			}
			if !jsonSame(v, after[k]) {
				t.Errorf("%s: %s changed from %v to %v", typ, k, v, after[k])
			}
		}
		if dig(before, "id_perms", "created") != dig(after, "id_perms", "created") {
			t.Errorf("%s: id_perms.created changed", typ)
		}
	}
	checkConsistency(t, ts.st)
}

func jsonSame(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestAwkwardNames uses names with the characters that separate fq-name
// components and index keys (':' '/' '%'), and non-ASCII ones. Names whose
// ':'-joined forms are equal are still different objects.
func TestAwkwardNames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.mustCreate("project", map[string]any{"fq_name": []string{defDomain, "p:q"}, "parent_type": "domain"})
	ts.mustCreate("project", map[string]any{"fq_name": []string{defDomain, "p"}, "parent_type": "domain"})
	a := ts.mustCreate("virtual-network", map[string]any{"fq_name": []string{defDomain, "p:q", "r"}, "parent_type": "project"})
	b := ts.mustCreate("virtual-network", map[string]any{"fq_name": []string{defDomain, "p", "q:r"}, "parent_type": "project"})
	if got := ts.fqID("virtual-network", []string{defDomain, "p:q", "r"}); got != a {
		t.Errorf("fqname-to-id [p:q r] = %s, want %s", got, a)
	}
	if got := ts.fqID("virtual-network", []string{defDomain, "p", "q:r"}); got != b {
		t.Errorf("fqname-to-id [p q:r] = %s, want %s", got, b)
	}
	// A ref by fq-name finds the right one.
	vmi := ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": []string{defDomain, "p", "vmi"}, "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"to": []string{defDomain, "p", "q:r"}}}})
	if got := linkUUIDs(ts.mustGet("virtual-machine-interface", vmi)["virtual_network_refs"]); len(got) != 1 || got[0] != b {
		t.Errorf("ref by fq-name resolved to %v, want %s", got, b)
	}
	odd := []string{defDomain, "p", "x/y%z é\"<&>"}
	c := ts.mustCreate("virtual-network", map[string]any{"fq_name": odd, "parent_type": "project"})
	if got := ts.mustGet("virtual-network", c); got["name"] != odd[2] || got["display_name"] != odd[2] {
		t.Errorf("name %q display_name %q", got["name"], got["display_name"])
	}
	if got := ts.fqID("virtual-network", odd); got != c {
		t.Errorf("fqname-to-id of %q = %s", odd[2], got)
	}
	// One-component names with ':' (route targets).
	rt := ts.mustCreate("route-target", map[string]any{"fq_name": []string{"target:64512:8000123"}})
	if got := ts.fqID("route-target", []string{"target:64512:8000123"}); got != rt {
		t.Errorf("route target lookup = %s", got)
	}
	ts.expectErr("POST", "/route-targets", map[string]any{"route-target": map[string]any{"fq_name": []string{"target:64512"}}}, 400, "fq_name")
	checkConsistency(t, ts.st)
	ts.mustDelete("virtual-machine-interface", vmi)
	ts.mustDelete("virtual-network", a)
	if got := ts.fqID("virtual-network", []string{defDomain, "p", "q:r"}); got != b {
		t.Errorf("after deleting [p:q r], [p q:r] = %s", got)
	}
	checkConsistency(t, ts.st)
}
