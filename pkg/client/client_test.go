// SPDX-License-Identifier: Apache-2.0

package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/contrail-go/contrail/pkg/client"
)

func TestCRUDVirtualNetwork(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)

	created := mustCreate(t, c, "virtual-network", vnObject(defaultProject, "vn1", "10.1.1.0", 24))
	id := created.UUID()
	if got, want := created.FQName(), []string{"default-domain", "default-project", "vn1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("created fq_name = %v, want %v", got, want)
	}
	if created.ParentType() != "project" || !client.IsUUID(created.ParentUUID()) {
		t.Errorf("created parent = %q %q", created.ParentType(), created.ParentUUID())
	}
	if _, ok := created.GetInt("virtual_network_network_id"); !ok {
		t.Errorf("create answer has no network id: %v", created)
	}

	vn, err := c.Read(ctx, "virtual-network", id)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if vn.UUID() != id || vn.Name() != "vn1" || vn.GetString("display_name") != "vn1" {
		t.Errorf("read: uuid %q name %q display_name %q", vn.UUID(), vn.Name(), vn.GetString("display_name"))
	}
	if _, ok := vn["virtual_network_network_id"].(json.Number); !ok {
		t.Errorf("network id is %T, want json.Number", vn["virtual_network_network_id"])
	}
	if got := subnetPrefixes(vn); !reflect.DeepEqual(got, []string{"10.1.1.0/24"}) {
		t.Errorf("subnets = %v", got)
	}
	if ris := vn.Refs("routing_instances"); len(ris) != 1 || !client.IsUUID(ris[0].UUID) {
		t.Errorf("routing_instances = %v", vn["routing_instances"])
	}
	if vn.GetString("id_perms", "uuid", "uuid_mslong") != "" {
		t.Errorf("GetString on a number should be empty")
	}
	// uuid_mslong is a uint64 above the int64 range: json.Number keeps it exact.
	if n, ok := vn.Get("id_perms", "uuid", "uuid_mslong").(json.Number); !ok || n.String() == "" {
		t.Errorf("id_perms.uuid.uuid_mslong = %#v, want a json.Number", vn.Get("id_perms", "uuid", "uuid_mslong"))
	}

	// Read options.
	only, err := c.Read(ctx, "virtual-network", id, client.ReadFields("display_name"), client.ExcludeChildren())
	if err != nil {
		t.Fatalf("read fields: %v", err)
	}
	if only["display_name"] != "vn1" || only["network_ipam_refs"] != nil || only["routing_instances"] != nil {
		t.Errorf("read with fields=display_name: %v", only)
	}
	noKids, err := c.Read(ctx, "virtual-network", id, client.ExcludeChildren(), client.ExcludeBackRefs(), client.ExcludeHrefs())
	if err != nil {
		t.Fatalf("read exclude: %v", err)
	}
	if noKids["routing_instances"] != nil || noKids.Href() != "" || noKids["network_ipam_refs"] == nil {
		t.Errorf("read exclude_children/exclude_hrefs: %v", noKids)
	}

	// Update: only the fields sent change.
	if err := c.Update(ctx, "virtual-network", id, client.Object{"display_name": "first network"}); err != nil {
		t.Fatalf("update: %v", err)
	}
	vn2, err := c.Read(ctx, "virtual-network", id)
	if err != nil {
		t.Fatalf("read after update: %v", err)
	}
	if vn2.GetString("display_name") != "first network" {
		t.Errorf("display_name after update = %v", vn2["display_name"])
	}
	if got := subnetPrefixes(vn2); !reflect.DeepEqual(got, []string{"10.1.1.0/24"}) {
		t.Errorf("subnets after update = %v", got)
	}
	// Read-modify-write of the whole object: json.Number values go back as
	// they came.
	vn2["display_name"] = "again"
	if err := c.Update(ctx, "virtual-network", id, vn2); err != nil {
		t.Fatalf("read-modify-write update: %v", err)
	}
	vn2b, err := c.Read(ctx, "virtual-network", id)
	if err != nil {
		t.Fatal(err)
	}
	if vn2b.GetString("display_name") != "again" ||
		!reflect.DeepEqual(vn2b["virtual_network_network_id"], vn2["virtual_network_network_id"]) ||
		!reflect.DeepEqual(vn2b.Get("id_perms", "uuid"), vn2.Get("id_perms", "uuid")) {
		t.Errorf("after read-modify-write: %v", vn2b)
	}

	// Replace the subnets through a PUT of the ref list.
	repl := vnObject(defaultProject, "vn1", "10.9.0.0", 16)
	if err := c.Update(ctx, "virtual-network", id, client.Object{"network_ipam_refs": repl["network_ipam_refs"]}); err != nil {
		t.Fatalf("update subnets: %v", err)
	}
	vn3, err := c.ReadByFQName(ctx, "virtual-network", []string{"default-domain", "default-project", "vn1"})
	if err != nil {
		t.Fatalf("read by fq-name: %v", err)
	}
	if got := subnetPrefixes(vn3); !reflect.DeepEqual(got, []string{"10.9.0.0/16"}) {
		t.Errorf("subnets after replace = %v", got)
	}

	if err := c.Delete(ctx, "virtual-network", id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = c.Read(ctx, "virtual-network", id)
	if !client.IsNotFound(err) {
		t.Fatalf("read after delete: %v, want 404", err)
	}
	if err := c.Delete(ctx, "virtual-network", id); !client.IsNotFound(err) {
		t.Errorf("second delete: %v, want 404", err)
	}
}

func TestListDetailCountPaging(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	proj := mustProject(t, c, "list-proj")
	var ids []string
	for i := range 25 {
		o := mustCreate(t, c, "virtual-network", vnObject(proj, fmt.Sprintf("net-%02d", i), fmt.Sprintf("10.%d.0.0", i), 24))
		ids = append(ids, o.UUID())
	}
	sort.Strings(ids)
	q := client.ListQuery{ParentFQName: proj}

	// Plain list.
	res, err := c.List(ctx, "virtual-network", q)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if res.Count != 25 || len(res.Objects) != 25 || res.Marker != "" {
		t.Fatalf("list: count %d, %d objects, marker %q", res.Count, len(res.Objects), res.Marker)
	}
	for i, o := range res.Objects {
		if o.UUID() != ids[i] || len(o.FQName()) != 3 || o.Href() == "" {
			t.Errorf("entry %d = %v, want uuid %s", i, o, ids[i])
		}
		if o["display_name"] != nil {
			t.Errorf("non-detail entry has display_name: %v", o)
		}
	}

	// Count.
	cq := q
	cq.Count = true
	res, err = c.List(ctx, "virtual-network", cq)
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	if res.Count != 25 || res.Objects != nil {
		t.Errorf("count = %d objects %v", res.Count, res.Objects)
	}
	all, err := c.List(ctx, "virtual-network", client.ListQuery{Count: true})
	if err != nil || all.Count < 25+1 {
		t.Errorf("count of all networks = %v, %v; want more than 25 (default networks exist)", all, err)
	}

	// Detail and fields.
	dq := q
	dq.Detail = true
	res, err = c.List(ctx, "virtual-network", dq)
	if err != nil {
		t.Fatalf("detail: %v", err)
	}
	if len(res.Objects) != 25 {
		t.Fatalf("detail: %d objects", len(res.Objects))
	}
	for _, o := range res.Objects {
		if _, ok := o.GetInt("virtual_network_network_id"); !ok || o.GetString("display_name") != o.Name() {
			t.Errorf("detail entry lacks properties: %v", o)
			break
		}
		if len(subnetPrefixes(o)) != 1 {
			t.Errorf("detail entry lacks subnets: %v", o)
			break
		}
	}
	fq := q
	fq.Fields = []string{"display_name"}
	res, err = c.List(ctx, "virtual-network", fq)
	if err != nil {
		t.Fatalf("fields: %v", err)
	}
	if res.Objects[0].GetString("display_name") == "" {
		t.Errorf("list with fields=display_name: %v", res.Objects[0])
	}

	// Pages of 10: 10, 10, 5.
	pq := q
	pq.PageLimit = 10
	var paged []string
	var sizes []int
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		res, err := c.List(ctx, "virtual-network", pq)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		sizes = append(sizes, len(res.Objects))
		for _, o := range res.Objects {
			paged = append(paged, o.UUID())
		}
		if res.Marker == "" {
			break
		}
		if res.Marker != res.Objects[len(res.Objects)-1].UUID() {
			t.Errorf("page %d: marker %s is not the last uuid", page, res.Marker)
		}
		pq.PageMarker = res.Marker
	}
	if !reflect.DeepEqual(sizes, []int{10, 10, 5}) || !reflect.DeepEqual(paged, ids) {
		t.Errorf("pages %v, uuids %v, want [10 10 5] and %v", sizes, paged, ids)
	}

	// ListAll with a small page and with the default one.
	for _, limit := range []int{0, 7, 25} {
		lq := q
		lq.PageLimit = limit
		lq.Detail = true
		objs, err := c.ListAll(ctx, "virtual-network", lq)
		if err != nil {
			t.Fatalf("ListAll(limit %d): %v", limit, err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.UUID())
		}
		if !reflect.DeepEqual(got, ids) {
			t.Errorf("ListAll(limit %d) = %d uuids, want %d", limit, len(got), len(ids))
		}
	}
	if _, err := c.ListAll(ctx, "virtual-network", cq); err == nil {
		t.Error("ListAll of a count query: no error")
	}

	// Selectors.
	res, err = c.List(ctx, "virtual-network", client.ListQuery{Filters: map[string]any{"name": "net-07"}})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].Name() != "net-07" {
		t.Errorf("filter name==net-07: %v %v", res, err)
	}
	res, err = c.List(ctx, "virtual-network", client.ListQuery{ParentFQName: proj, Filters: map[string]any{"display_name": "nope"}})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("filter display_name==nope: %v %v", res, err)
	}
	res, err = c.List(ctx, "virtual-network", client.ListQuery{ObjUUIDs: ids[3:5]})
	if err != nil || len(res.Objects) != 2 || res.Objects[0].UUID() != ids[3] {
		t.Errorf("obj_uuids: %v %v", res, err)
	}
	res, err = c.List(ctx, "virtual-network", client.ListQuery{FQNames: [][]string{append(slices.Clone(proj), "net-24")}})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].Name() != "net-24" {
		t.Errorf("fq_names: %v %v", res, err)
	}
	parent, err := c.FQNameToID(ctx, "project", proj)
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.List(ctx, "virtual-network", client.ListQuery{ParentIDs: []string{parent}, Count: true})
	if err != nil || res.Count != 25 {
		t.Errorf("parent_id count: %v %v", res, err)
	}
	ri := mustCreate(t, c, "network-policy", client.Object{"fq_name": append(slices.Clone(proj), "pol"), "parent_type": "project"})
	if err := c.RefUpdate(ctx, "virtual-network", ids[0], "network-policy", ri.UUID(), client.RefAdd, nil); err != nil {
		t.Fatal(err)
	}
	res, err = c.List(ctx, "virtual-network", client.ListQuery{BackRefIDs: []string{ri.UUID()}})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].UUID() != ids[0] {
		t.Errorf("back_ref_id: %v %v", res, err)
	}

	// A uuid list too long for a URL goes through /list-bulk-collection.
	long := slices.Clone(ids)
	for i := range 150 {
		long = append(long, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	res, err = c.List(ctx, "virtual-network", client.ListQuery{ObjUUIDs: long, PageLimit: 20})
	if err != nil {
		t.Fatalf("bulk list: %v", err)
	}
	if len(res.Objects) != 20 || res.Marker == "" {
		t.Errorf("bulk list page: %d objects, marker %q", len(res.Objects), res.Marker)
	}
	objs, err := c.ListAll(ctx, "virtual-network", client.ListQuery{ObjUUIDs: long, PageLimit: 20})
	if err != nil || len(objs) != 25 {
		t.Errorf("bulk ListAll: %d objects, %v", len(objs), err)
	}
	res, err = c.List(ctx, "virtual-network", client.ListQuery{ObjUUIDs: long, Count: true})
	if err != nil || res.Count != 25 {
		t.Errorf("bulk count: %v %v", res, err)
	}

	// Bad input.
	if _, err := c.List(ctx, "virtual-network", client.ListQuery{Filters: map[string]any{"name": "a,b"}}); err == nil {
		t.Error("filter value with a comma: no error")
	}
	if _, err := c.List(ctx, "no-such-type", client.ListQuery{}); !client.IsNotFound(err) {
		t.Errorf("list of an unknown type: %v, want 404", err)
	}
}

func TestFQNameRoundTrip(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	fq := []string{"default-domain", "default-project", "default-network-ipam"}
	id, err := c.FQNameToID(ctx, "network-ipam", fq)
	if err != nil || !client.IsUUID(id) {
		t.Fatalf("fqname-to-id: %q %v", id, err)
	}
	gotFQ, typ, err := c.IDToFQName(ctx, id)
	if err != nil || typ != "network-ipam" || !reflect.DeepEqual(gotFQ, fq) {
		t.Fatalf("id-to-fqname = %v %q %v", gotFQ, typ, err)
	}
	ipam, err := c.ReadByFQName(ctx, "network-ipam", fq, client.ExcludeBackRefs())
	if err != nil || ipam.UUID() != id {
		t.Fatalf("read by fq-name: %v %v", ipam, err)
	}
	if client.FQNameString(fq) != "default-domain:default-project:default-network-ipam" ||
		!reflect.DeepEqual(client.ParseFQName(client.FQNameString(fq)), fq) {
		t.Error("FQNameString/ParseFQName do not round-trip")
	}

	_, err = c.FQNameToID(ctx, "network-ipam", []string{"default-domain", "default-project", "nope"})
	if !client.IsNotFound(err) {
		t.Errorf("fqname-to-id of a missing name: %v, want 404", err)
	}
	_, _, err = c.IDToFQName(ctx, "00000000-0000-4000-8000-000000000001")
	if !client.IsNotFound(err) {
		t.Errorf("id-to-fqname of a missing uuid: %v, want 404", err)
	}
	if _, err := c.ReadByFQName(ctx, "network-ipam", []string{"x", "y", "z"}); !client.IsNotFound(err) {
		t.Errorf("read by missing fq-name: %v", err)
	}
	if _, err := c.FQNameToID(ctx, "network-ipam", nil); err == nil {
		t.Error("fqname-to-id of an empty fq-name: no error")
	}
}

func TestRefUpdate(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	vn := mustCreate(t, c, "virtual-network", vnObject(defaultProject, "vn-ref", "10.5.0.0", 24))
	pol := mustCreate(t, c, "network-policy", client.Object{
		"fq_name": []string{"default-domain", "default-project", "pol1"}, "parent_type": "project",
	})
	attr := map[string]any{"sequence": map[string]any{"major": 1, "minor": 0}}
	if err := c.RefUpdate(ctx, "virtual-network", vn.UUID(), "network-policy", pol.UUID(), client.RefAdd, attr); err != nil {
		t.Fatalf("ref add: %v", err)
	}
	got, err := c.Read(ctx, "virtual-network", vn.UUID())
	if err != nil {
		t.Fatal(err)
	}
	refs := got.Refs("network_policy_refs")
	if len(refs) != 1 || refs[0].UUID != pol.UUID() || !reflect.DeepEqual(refs[0].To, pol.FQName()) {
		t.Fatalf("network_policy_refs = %v", got["network_policy_refs"])
	}
	if major := client.Object(refs[0].Attr.(map[string]any)).Get("sequence", "major"); major != json.Number("1") {
		t.Errorf("ref attr major = %#v", major)
	}
	if len(subnetPrefixes(got)) != 1 {
		t.Errorf("ref-update touched other refs: %v", got["network_ipam_refs"])
	}
	p, err := c.Read(ctx, "network-policy", pol.UUID())
	if err != nil {
		t.Fatal(err)
	}
	if br := p.Refs("virtual_network_back_refs"); len(br) != 1 || br[0].UUID != vn.UUID() {
		t.Errorf("policy back refs = %v", p["virtual_network_back_refs"])
	}

	// A referred object cannot go.
	err = c.Delete(ctx, "network-policy", pol.UUID())
	if !client.IsConflict(err) {
		t.Fatalf("delete of a referred policy: %v, want 409", err)
	}

	if err := c.RefUpdate(ctx, "virtual-network", vn.UUID(), "network-policy", pol.UUID(), client.RefDelete, nil); err != nil {
		t.Fatalf("ref delete: %v", err)
	}
	got, err = c.Read(ctx, "virtual-network", vn.UUID())
	if err != nil {
		t.Fatal(err)
	}
	if refs := got.Refs("network_policy_refs"); len(refs) != 0 {
		t.Errorf("refs after delete = %v", refs)
	}

	// Relaxed refs do not block the delete.
	if err := c.RefUpdate(ctx, "virtual-network", vn.UUID(), "network-policy", pol.UUID(), client.RefAdd, attr); err != nil {
		t.Fatal(err)
	}
	if err := c.RefRelaxForDelete(ctx, vn.UUID(), pol.UUID()); err != nil {
		t.Fatalf("ref-relax-for-delete: %v", err)
	}
	if err := c.Delete(ctx, "network-policy", pol.UUID()); err != nil {
		t.Errorf("delete of a policy with only relaxed refs: %v", err)
	}

	// Bad input.
	if err := c.RefUpdate(ctx, "virtual-network", vn.UUID(), "network-policy", pol.UUID(), "SWAP", nil); err == nil {
		t.Error("unknown operation: no error")
	}
	err = c.RefUpdate(ctx, "virtual-network", vn.UUID(), "no-such-type", pol.UUID(), client.RefAdd, nil)
	if !client.IsBadRequest(err) {
		t.Errorf("ref to an unknown type: %v, want 400", err)
	}
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Field != "ref-type" {
		t.Errorf("error field = %+v, want ref-type", ae)
	}
	err = c.RefUpdate(ctx, "virtual-network", "00000000-0000-4000-8000-000000000009", "network-policy", pol.UUID(), client.RefAdd, nil)
	if !client.IsNotFound(err) {
		t.Errorf("ref-update of a missing object: %v, want 404", err)
	}
}

func TestErrors(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)

	_, err := c.Read(ctx, "virtual-network", "00000000-0000-4000-8000-000000000000")
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("read of a missing uuid: %T %v, want *client.Error", err, err)
	}
	if ae.StatusCode != 404 || ae.Field != "uuid" || ae.Message == "" || ae.Method != "GET" {
		t.Errorf("404 error = %+v", ae)
	}
	if !client.IsNotFound(fmt.Errorf("wrapped: %w", err)) {
		t.Error("IsNotFound does not see through wrapping")
	}
	if client.IsConflict(err) || client.StatusCode(err) != 404 {
		t.Errorf("IsConflict(404) or StatusCode = %d", client.StatusCode(err))
	}

	obj := vnObject(defaultProject, "dup", "10.7.0.0", 24)
	first := mustCreate(t, c, "virtual-network", obj)
	_, err = c.Create(ctx, "virtual-network", obj)
	if !client.IsConflict(err) {
		t.Fatalf("duplicate fq_name: %v, want 409", err)
	}
	if !errors.As(err, &ae) || ae.Field != "fq_name" {
		t.Errorf("409 error = %+v, want field fq_name", ae)
	}
	if want := first.UUID(); !strings.Contains(ae.Message, want) {
		t.Errorf("409 message %q does not name the existing uuid %s", ae.Message, want)
	}

	// A client-chosen uuid, then the same uuid again.
	withID := vnObject(defaultProject, "own-id", "10.8.0.0", 24)
	withID["uuid"] = "11111111-2222-4333-8444-555555555555"
	if o := mustCreate(t, c, "virtual-network", withID); o.UUID() != withID["uuid"] {
		t.Errorf("uuid = %s, want the one sent", o.UUID())
	}
	again := vnObject(defaultProject, "own-id-2", "10.8.1.0", 24)
	again["uuid"] = withID["uuid"]
	if _, err := c.Create(ctx, "virtual-network", again); !client.IsConflict(err) {
		t.Errorf("duplicate uuid: %v, want 409", err)
	}

	// 400s: a missing parent, a malformed uuid, a bad property.
	orphan := vnObject([]string{"default-domain", "no-such-project"}, "x", "10.9.0.0", 24)
	if _, err := c.Create(ctx, "virtual-network", orphan); !client.IsBadRequest(err) {
		t.Errorf("missing parent: %v, want 400", err)
	}
	if _, err := c.Read(ctx, "virtual-network", "not-a-uuid"); !client.IsBadRequest(err) {
		t.Errorf("malformed uuid: %v, want 400", err)
	}
	bad := vnObject(defaultProject, "bad", "10.10.0.0", 24)
	bad["virtual_network_properties"] = "not an object"
	if _, err := c.Create(ctx, "virtual-network", bad); !client.IsBadRequest(err) {
		t.Errorf("bad property: %v, want 400", err)
	}
	// 403: a property only the server sets.
	forb := vnObject(defaultProject, "forb", "10.11.0.0", 24)
	forb["virtual_network_network_id"] = 77
	if _, err := c.Create(ctx, "virtual-network", forb); !client.IsForbidden(err) {
		t.Errorf("setting virtual_network_network_id: %v, want 403", err)
	}
	// Unknown type.
	if _, err := c.Create(ctx, "no-such-type", client.Object{"fq_name": []string{"x"}}); !client.IsNotFound(err) {
		t.Errorf("create of an unknown type: %v, want 404", err)
	}
	// A project with children cannot go.
	pid, err := c.FQNameToID(ctx, "project", defaultProject)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "project", pid); !client.IsConflict(err) {
		t.Errorf("delete of a project with networks: %v, want 409", err)
	}
	// Client-side checks.
	if _, err := c.Read(ctx, "", "x"); err == nil || client.StatusCode(err) != 0 {
		t.Errorf("empty type: %v", err)
	}
	if err := c.Delete(ctx, "virtual-network", ""); err == nil {
		t.Error("empty uuid: no error")
	}
}

func TestIPAllocFree(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	vn := mustCreate(t, c, "virtual-network", vnObject(defaultProject, "vn-ip", "10.20.0.0", 24))
	addrs, err := c.IPAlloc(ctx, vn.UUID(), 3, "", "")
	if err != nil {
		t.Fatalf("ip-alloc: %v", err)
	}
	if len(addrs) != 3 {
		t.Fatalf("ip-alloc returned %v", addrs)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] || len(a) < len("10.20.0.1") || a[:6] != "10.20." {
			t.Errorf("address %q is a duplicate or outside 10.20.0.0/24", a)
		}
		seen[a] = true
	}
	one, err := c.IPAlloc(ctx, vn.UUID(), 1, "10.20.0.0/24", "v4")
	if err != nil || len(one) != 1 || seen[one[0]] {
		t.Fatalf("ip-alloc in a subnet: %v %v", one, err)
	}
	counts, err := c.SubnetIPCount(ctx, vn.UUID(), []string{"10.20.0.0/24", "192.168.0.0/24"})
	if err != nil {
		t.Fatalf("subnet-ip-count: %v", err)
	}
	if !reflect.DeepEqual(counts, []int64{4, 0}) {
		t.Errorf("subnet-ip-count = %v, want [4 0]", counts)
	}
	if err := c.IPFree(ctx, vn.UUID(), append(addrs, one...)); err != nil {
		t.Fatalf("ip-free: %v", err)
	}
	counts, err = c.SubnetIPCount(ctx, vn.UUID(), []string{"10.20.0.0/24"})
	if err != nil || !reflect.DeepEqual(counts, []int64{0}) {
		t.Errorf("subnet-ip-count after free = %v %v, want [0]", counts, err)
	}
	if _, err := c.IPAlloc(ctx, vn.UUID(), 1, "172.16.0.0/24", ""); !client.IsBadRequest(err) {
		t.Errorf("ip-alloc from a foreign subnet: %v, want 400", err)
	}
	if _, err := c.IPAlloc(ctx, "00000000-0000-4000-8000-000000000000", 1, "", ""); !client.IsNotFound(err) {
		t.Errorf("ip-alloc on a missing network: %v, want 404", err)
	}
}
