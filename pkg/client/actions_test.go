// SPDX-License-Identifier: Apache-2.0

package client_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/contrail-go/contrail/pkg/client"
)

func TestUserAgentKV(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	if err := c.UserAgentKVStore(ctx, "host1/port", `{"vlan": 5}`); err != nil {
		t.Fatalf("store: %v", err)
	}
	v, err := c.UserAgentKVRetrieve(ctx, "host1/port")
	if err != nil || v != `{"vlan": 5}` {
		t.Fatalf("retrieve = %q %v", v, err)
	}
	if err := c.UserAgentKVDelete(ctx, "host1/port"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.UserAgentKVRetrieve(ctx, "host1/port"); !client.IsNotFound(err) {
		t.Errorf("retrieve after delete: %v, want 404", err)
	}
	if err := c.UserAgentKVStore(ctx, "", "x"); !client.IsBadRequest(err) {
		t.Errorf("empty key: %v, want 400", err)
	}
}

func TestPropCollection(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	vn := mustCreate(t, c, "virtual-network", vnObject(defaultProject, "vn-props", "10.30.0.0", 24))
	id := vn.UUID()
	err := c.PropCollectionUpdate(ctx, id, []client.PropUpdate{
		{Field: "annotations", Operation: client.PropAdd, Value: map[string]any{"key": "owner", "value": "alice"}},
		{Field: "annotations", Operation: client.PropAdd, Value: map[string]any{"key": "env", "value": "test"}},
	})
	if err != nil {
		t.Fatalf("prop-collection-update add: %v", err)
	}
	got, err := c.PropCollectionGet(ctx, id, []string{"annotations"}, "")
	if err != nil {
		t.Fatalf("prop-collection-get: %v", err)
	}
	var keys []string
	for _, it := range got["annotations"] {
		keys = append(keys, it.Position)
	}
	if !reflect.DeepEqual(keys, []string{"owner", "env"}) {
		t.Errorf("annotations positions = %v (%v)", keys, got)
	}
	err = c.PropCollectionUpdate(ctx, id, []client.PropUpdate{
		{Field: "annotations", Operation: client.PropModify, Position: "owner", Value: map[string]any{"key": "owner", "value": "bob"}},
		{Field: "annotations", Operation: client.PropDelete, Position: "env"},
	})
	if err != nil {
		t.Fatalf("prop-collection-update modify/delete: %v", err)
	}
	got, err = c.PropCollectionGet(ctx, id, []string{"annotations"}, "owner")
	if err != nil {
		t.Fatal(err)
	}
	items := got["annotations"]
	if len(items) != 1 || client.Object(items[0].Value.(map[string]any)).GetString("value") != "bob" {
		t.Errorf("annotations after modify = %v", items)
	}
	// The whole object shows the same.
	obj, err := c.Read(ctx, "virtual-network", id, client.ReadFields("annotations"))
	if err != nil {
		t.Fatal(err)
	}
	if pairs, _ := obj.Get("annotations", "key_value_pair").([]any); len(pairs) != 1 {
		t.Errorf("annotations = %v", obj["annotations"])
	}
	err = c.PropCollectionUpdate(ctx, id, []client.PropUpdate{{Field: "annotations", Operation: client.PropDelete, Position: "nope"}})
	if !client.IsNotFound(err) {
		t.Errorf("delete at a missing position: %v, want 404", err)
	}
	err = c.PropCollectionUpdate(ctx, id, []client.PropUpdate{{Field: "display_name", Operation: client.PropAdd, Value: "x"}})
	if !client.IsBadRequest(err) {
		t.Errorf("update of a plain property: %v, want 400", err)
	}
}

func TestPermsAndTags(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	vn := mustCreate(t, c, "virtual-network", vnObject(defaultProject, "vn-perms", "10.40.0.0", 24))
	id := vn.UUID()
	proj, err := c.FQNameToID(ctx, "project", defaultProject)
	if err != nil {
		t.Fatal(err)
	}

	if err := c.Chown(ctx, id, proj); err != nil {
		t.Fatalf("chown: %v", err)
	}
	access, global := 6, 5
	share := []client.Share{{Tenant: "tenant:" + proj, TenantAccess: 4}}
	if err := c.Chmod(ctx, id, client.PermsChange{OwnerAccess: &access, GlobalAccess: &global, Share: &share}); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	perms, err := c.ObjPerms(ctx, id)
	if err != nil {
		t.Fatalf("obj-perms: %v", err)
	}
	if n, _ := perms.GetInt("perms2", "owner_access"); n != 6 {
		t.Errorf("owner_access = %v", perms.Get("perms2", "owner_access"))
	}
	if n, _ := perms.GetInt("perms2", "global_access"); n != 5 {
		t.Errorf("global_access = %v", perms.Get("perms2", "global_access"))
	}
	if perms.GetString("perms2", "share", "0", "tenant") != "tenant:"+proj {
		t.Errorf("share = %v", perms.Get("perms2", "share"))
	}
	if owner := perms.GetString("perms2", "owner"); owner == "" {
		t.Errorf("owner missing: %v", perms["perms2"])
	}
	// An empty share list clears it; nil fields stay.
	none := []client.Share{}
	if err := c.Chmod(ctx, id, client.PermsChange{Share: &none}); err != nil {
		t.Fatalf("chmod share=[]: %v", err)
	}
	obj, err := c.Read(ctx, "virtual-network", id, client.ReadFields("perms2"))
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := obj.Get("perms2", "share").([]any); len(l) != 0 {
		t.Errorf("share after clearing = %v", l)
	}
	if n, _ := obj.GetInt("perms2", "global_access"); n != 5 {
		t.Errorf("global_access changed to %v", obj.Get("perms2", "global_access"))
	}
	if err := c.Chown(ctx, "00000000-0000-4000-8000-000000000000", proj); !client.IsNotFound(err) {
		t.Errorf("chown of a missing object: %v", err)
	}

	// Tags.
	for _, v := range []string{"web", "db"} {
		mustCreate(t, c, "tag", client.Object{
			"fq_name": []string{"application=" + v}, "tag_type_name": "application", "tag_value": v,
		})
	}
	tagged := func() []string {
		t.Helper()
		o, err := c.Read(ctx, "virtual-network", id, client.ReadFields("tag_refs"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range o.Refs("tag_refs") {
			names = append(names, client.FQNameString(r.To))
		}
		slices.Sort(names)
		return names
	}
	if err := c.SetTag(ctx, "virtual-network", id, map[string]*client.TagChange{"application": {Value: "web", IsGlobal: true}}); err != nil {
		t.Fatalf("set-tag: %v", err)
	}
	if got := tagged(); !reflect.DeepEqual(got, []string{"application=web"}) {
		t.Errorf("tags = %v", got)
	}
	if err := c.SetTag(ctx, "virtual-network", id, map[string]*client.TagChange{"application": {Value: "db", IsGlobal: true}}); err != nil {
		t.Fatalf("set-tag again: %v", err)
	}
	if got := tagged(); !reflect.DeepEqual(got, []string{"application=db"}) {
		t.Errorf("tags after replace = %v", got)
	}
	if err := c.SetTag(ctx, "virtual-network", id, map[string]*client.TagChange{"application": nil}); err != nil {
		t.Fatalf("unset tag: %v", err)
	}
	if got := tagged(); len(got) != 0 {
		t.Errorf("tags after unset = %v", got)
	}
	err = c.SetTag(ctx, "virtual-network", id, map[string]*client.TagChange{"application": {Value: "nope", IsGlobal: true}})
	if !client.IsNotFound(err) {
		t.Errorf("set a missing tag: %v, want 404", err)
	}
}

func TestResourceTypes(t *testing.T) {
	c := newClient(t)
	types, err := c.ResourceTypes(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"virtual-network", "project", "network-ipam", "instance-ip"} {
		if !slices.Contains(types, want) {
			t.Errorf("types lack %s: %v", want, types)
		}
	}
	if slices.Contains(types, "config-root") || !slices.IsSorted(types) {
		t.Errorf("types = %v", types)
	}
	links, err := c.Links(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range links {
		if l.Rel == "action" && l.Name == "fqname-to-id" && l.Method == "POST" {
			found = true
		}
	}
	if !found {
		t.Errorf("no fqname-to-id action link in %d links", len(links))
	}
}
