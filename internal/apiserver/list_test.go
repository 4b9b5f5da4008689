// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// listFixture is a project "lp" with seven networks, three of which refer
// to a second IPAM, and some display names to filter on.
type listFixture struct {
	ts      *testServer
	proj    string
	ipam    string
	vns     []string // in creation order, names n0..n6
	refIPAM []string // the networks that refer to ipam
}

func newListFixture(t *testing.T) *listFixture {
	ts := newTestServer(t)
	f := &listFixture{ts: ts}
	f.proj = ts.mustCreate("project", map[string]any{"fq_name": []string{defDomain, "lp"}, "parent_type": "domain"})
	f.ipam = ts.mustCreate("network-ipam", map[string]any{"fq_name": []string{defDomain, "lp", "lipam"}, "parent_type": "project"})
	for i := range 7 {
		b := map[string]any{"fq_name": []string{defDomain, "lp", fmt.Sprint("n", i)}, "parent_type": "project",
			"display_name": []string{"red", "green", "blue"}[i%3]}
		if i%2 == 0 {
			b["is_shared"] = true
		}
		if i < 3 {
			b["network_ipam_refs"] = []any{map[string]any{"uuid": f.ipam}}
		}
		id := ts.mustCreate("virtual-network", b)
		f.vns = append(f.vns, id)
		if i < 3 {
			f.refIPAM = append(f.refIPAM, id)
		}
	}
	return f
}

func TestListParameters(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	ts := f.ts
	total := ts.count("virtual-network")
	if total != 7+4 {
		t.Errorf("count = %d, want 11 (7 + the 4 default networks)", total)
	}
	plain := ts.list("virtual-network", "")
	if len(plain) != total {
		t.Errorf("list has %d entries, count says %d", len(plain), total)
	}
	for _, e := range plain {
		m := e.(map[string]any)
		if len(m) != 3 || m["href"] == nil || m["fq_name"] == nil || m["uuid"] == nil {
			t.Errorf("plain entry %v is not {href, fq_name, uuid}", m)
			break
		}
	}
	same := func(what string, got []string, want []string) {
		t.Helper()
		if !reflect.DeepEqual(sortedStrings(got), sortedStrings(want)) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	same("parent_id", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_id="+f.proj)), f.vns)
	same("parent_fq_name_str", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_fq_name_str=default-domain:lp")), f.vns)
	same("parent_fq_name_str+parent_type", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_fq_name_str=default-domain:lp&parent_type=project")), f.vns)
	same("unknown parent", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_id="+uuid.NewString())), nil)
	same("back_ref_id", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?back_ref_id="+f.ipam)), f.refIPAM)
	same("obj_uuids", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?obj_uuids="+f.vns[1]+","+f.vns[4]+","+uuid.NewString())), []string{f.vns[1], f.vns[4]})
	same("fq_names", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?fq_names=default-domain:lp:n2,default-domain:lp:n5,default-domain:lp:nope")), []string{f.vns[2], f.vns[5]})
	same("filters string", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_id="+f.proj+"&filters=display_name==red")), []string{f.vns[0], f.vns[3], f.vns[6]})
	same("filters JSON value", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_id="+f.proj+"&filters=is_shared==true")), []string{f.vns[0], f.vns[2], f.vns[4], f.vns[6]})
	same("filters two values of one key", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_id="+f.proj+"&filters="+url.QueryEscape("display_name==red,display_name==blue"))),
		[]string{f.vns[0], f.vns[2], f.vns[3], f.vns[5], f.vns[6]})
	same("filters two keys", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?parent_id="+f.proj+"&filters="+url.QueryEscape("display_name==red,is_shared==true"))),
		[]string{f.vns[0], f.vns[6]})
	same("filters on name", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?filters=name==n3")), []string{f.vns[3]})
	same("filters no match", uuidsOf(t, "virtual-network", ts.list("virtual-network", "?filters=display_name==purple")), nil)

	// count with a filter.
	out := ts.mustDo("GET", "/virtual-networks?count=true&parent_id="+f.proj+"&filters=display_name==green", nil)
	if n := num(t, dig(out, "virtual-networks", "count")); n != 2 {
		t.Errorf("filtered count = %d, want 2", n)
	}
	out = ts.mustDo("GET", "/virtual-networks?count=true&back_ref_id="+f.ipam, nil)
	if n := num(t, dig(out, "virtual-networks", "count")); n != 3 {
		t.Errorf("back_ref_id count = %d, want 3", n)
	}

	// detail.
	det := ts.list("virtual-network", "?detail=true&parent_id="+f.proj)
	if len(det) != 7 {
		t.Fatalf("detail has %d entries", len(det))
	}
	for _, e := range det {
		vn, ok := e.(map[string]any)["virtual-network"].(map[string]any)
		if !ok || vn["id_perms"] == nil || vn["virtual_network_network_id"] == nil || vn["routing_instances"] == nil || vn["display_name"] == nil {
			t.Errorf("detail entry %v", e)
			break
		}
	}
	// fields in the plain form.
	for _, e := range ts.list("virtual-network", "?parent_id="+f.proj+"&fields=display_name,is_shared") {
		m := e.(map[string]any)
		if m["display_name"] == nil || m["uuid"] == nil || m["id_perms"] != nil {
			t.Errorf("fields entry %v", m)
			break
		}
	}
	// fields may name refs, back-refs and children too, as in the original
	// (clients list e.g. interfaces with fields=instance_ip_back_refs).
	for _, e := range ts.list("virtual-network", "?parent_id="+f.proj+"&fields=network_ipam_refs,routing_instances") {
		m := e.(map[string]any)
		refs := linkUUIDs(m["network_ipam_refs"])
		if contains(f.refIPAM, m["uuid"].(string)) != (len(refs) == 1 && refs[0] == f.ipam) {
			t.Errorf("fields=network_ipam_refs entry %v", m)
		}
		if len(linkUUIDs(m["routing_instances"])) != 1 || m["display_name"] != nil {
			t.Errorf("fields=routing_instances entry %v", m)
		}
	}
	ipams := ts.list("network-ipam", "?obj_uuids="+f.ipam+"&fields=virtual_network_back_refs")
	if len(ipams) != 1 || !reflect.DeepEqual(sortedStrings(linkUUIDs(dig(ipams, 0, "virtual_network_back_refs"))), sortedStrings(f.refIPAM)) {
		t.Errorf("fields=virtual_network_back_refs: %v", ipams)
	}
	// fields in the detail form restrict it.
	for _, e := range ts.list("virtual-network", "?detail=true&parent_id="+f.proj+"&fields=display_name") {
		vn := e.(map[string]any)["virtual-network"].(map[string]any)
		if vn["display_name"] == nil || vn["id_perms"] != nil || vn["routing_instances"] != nil {
			t.Errorf("detail+fields entry %v", vn)
			break
		}
	}
	// exclude_hrefs.
	_, raw := ts.raw("GET", "/virtual-networks?detail=true&exclude_hrefs=true", nil)
	if strings.Contains(string(raw), "href") {
		t.Errorf("exclude_hrefs detail list shows hrefs")
	}
	_, raw = ts.raw("GET", "/virtual-networks?exclude_hrefs=true", nil)
	if strings.Contains(string(raw), "href") {
		t.Errorf("exclude_hrefs list shows hrefs")
	}
	// Bad parameters.
	ts.expectErr("GET", "/virtual-networks?filters=display_name", nil, 400, "filters")
	ts.expectErr("GET", "/virtual-networks?page_limit=x", nil, 400, "page_limit")
	ts.expectErr("GET", "/virtual-networks?page_limit=-2", nil, 400, "page_limit")
	ts.expectErr("GET", "/no-such-things", nil, 404, "-")
	// A collection of another type is not mixed in.
	for _, e := range ts.list("network-ipam", "?parent_id="+f.proj) {
		if u := e.(map[string]any)["uuid"]; u != f.ipam {
			t.Errorf("ipam list has %v", u)
		}
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	ts := f.ts
	all := uuidsOf(t, "virtual-network", ts.list("virtual-network", ""))
	for _, limit := range []int{1, 3, 4, 11, 50} {
		seen := map[string]int{}
		marker := ""
		pages := 0
		for {
			q := fmt.Sprintf("?page_limit=%d", limit)
			if marker != "" {
				q += "&page_marker=" + marker
			}
			out := ts.mustDo("GET", "/virtual-networks"+q, nil)
			page, _ := out["virtual-networks"].([]any)
			if len(page) > limit {
				t.Fatalf("page of %d entries with limit %d", len(page), limit)
			}
			for _, u := range uuidsOf(t, "virtual-network", page) {
				seen[u]++
			}
			pages++
			m, present := out["marker"]
			if !present {
				t.Fatalf("paged answer has no marker: %v", out)
			}
			if m == nil {
				break
			}
			marker = m.(string)
			if pages > len(all)+2 {
				t.Fatal("paging does not end")
			}
		}
		if len(seen) != len(all) {
			t.Errorf("limit %d: saw %d of %d objects", limit, len(seen), len(all))
		}
		for u, n := range seen {
			if n != 1 {
				t.Errorf("limit %d: %s seen %d times", limit, u, n)
			}
		}
		if want := (len(all) + limit - 1) / limit; pages != want && !(len(all)%limit == 0 && pages == want+1) {
			t.Errorf("limit %d: %d pages for %d objects", limit, pages, len(all))
		}
	}
	// "None" as the original's first marker; paging composes with filters.
	out := ts.mustDo("GET", "/virtual-networks?page_limit=2&page_marker=None&filters=display_name==red", nil)
	page := uuidsOf(t, "virtual-network", out["virtual-networks"].([]any))
	if len(page) != 2 || out["marker"] == nil {
		t.Fatalf("filtered first page %v marker %v", page, out["marker"])
	}
	out = ts.mustDo("GET", "/virtual-networks?page_limit=2&filters=display_name==red&page_marker="+out["marker"].(string), nil)
	page = append(page, uuidsOf(t, "virtual-network", out["virtual-networks"].([]any))...)
	if out["marker"] != nil || !reflect.DeepEqual(sortedStrings(page), sortedStrings([]string{f.vns[0], f.vns[3], f.vns[6]})) {
		t.Errorf("filtered pages %v, marker %v", page, out["marker"])
	}
	// Paging the detail form.
	out = ts.mustDo("GET", "/virtual-networks?detail=true&page_limit=5", nil)
	if n := len(out["virtual-networks"].([]any)); n != 5 || out["marker"] == nil {
		t.Errorf("detail page: %d entries, marker %v", n, out["marker"])
	}
}

func TestListBulkCollection(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	ts := f.ts
	cases := []struct {
		query string
		body  map[string]any
	}{
		{"", map[string]any{}},
		{"?detail=true", map[string]any{"detail": true}},
		{"?count=true", map[string]any{"count": true}},
		{"?parent_id=" + f.proj, map[string]any{"parent_id": []string{f.proj}}},
		{"?back_ref_id=" + f.ipam, map[string]any{"back_ref_id": []string{f.ipam}}},
		{"?obj_uuids=" + strings.Join(f.vns[:4], ","), map[string]any{"obj_uuids": f.vns[:4]}},
		{"?obj_uuids=" + strings.Join(f.vns[:4], ",") + "&detail=true&fields=display_name", map[string]any{"obj_uuids": f.vns[:4], "detail": true, "fields": []string{"display_name"}}},
		{"?parent_id=" + f.proj + "&filters=display_name==blue", map[string]any{"parent_id": []string{f.proj}, "filters": "display_name==blue"}},
		{"?fields=is_shared", map[string]any{"fields": []string{"is_shared"}}},
		{"?exclude_hrefs=true", map[string]any{"exclude_hrefs": true}},
		{"?page_limit=4", map[string]any{"page_limit": 4}},
		{"?page_limit=4&page_marker=" + f.vns[2], map[string]any{"page_limit": 4, "page_marker": f.vns[2]}},
	}
	for _, c := range cases {
		get := ts.mustDo("GET", "/virtual-networks"+c.query, nil)
		c.body["type"] = "virtual-network"
		post := ts.mustDo("POST", "/list-bulk-collection", c.body)
		if !reflect.DeepEqual(get, post) {
			g, _ := json.Marshal(get)
			p, _ := json.Marshal(post)
			t.Errorf("GET %s != POST %v:\n%s\n%s", c.query, c.body, g, p)
		}
	}
	ts.expectErr("POST", "/list-bulk-collection", map[string]any{"type": "no-such-type"}, 404, "-")
	ts.expectErr("POST", "/list-bulk-collection", map[string]any{"type": "virtual-network", "filters": "bad"}, 400, "filters")
	ts.expectErr("POST", "/list-bulk-collection", map[string]any{"type": "virtual-network", "bogus": 1}, 400, "-")
	// Many uuids, the reason the bulk form exists.
	many := append([]string(nil), f.vns...)
	for range 500 {
		many = append(many, uuid.NewString())
	}
	out := ts.mustDo("POST", "/list-bulk-collection", map[string]any{"type": "virtual-network", "obj_uuids": many, "count": true})
	if n := num(t, dig(out, "virtual-networks", "count")); n != 7 {
		t.Errorf("bulk count of many uuids = %d", n)
	}
}
