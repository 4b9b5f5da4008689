// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func vnBody(name, prefix string, plen int) map[string]any {
	return map[string]any{
		"fq_name":     []string{"default-domain", "default-project", name},
		"parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to": []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
				"subnet": map[string]any{"ip_prefix": prefix, "ip_prefix_len": plen},
			}}},
		}},
	}
}

func TestCreateReadDelete(t *testing.T) {
	ts := newTestServer(t)
	id := ts.mustCreate("virtual-network", vnBody("vn1", "10.1.1.0", 24))
	vn := ts.mustGet("virtual-network", id)
	if vn["display_name"] != "vn1" {
		t.Errorf("display_name = %v", vn["display_name"])
	}
	if vn["virtual_network_network_id"] == nil {
		t.Errorf("no network id: %v", vn)
	}
	ris, _ := vn["routing_instances"].([]any)
	if len(ris) != 1 {
		t.Fatalf("routing instances = %v", vn["routing_instances"])
	}
	code, out := ts.do("DELETE", "/virtual-network/"+id, nil)
	if code != 200 {
		t.Fatalf("delete: %d %v", code, out)
	}
	code, _ = ts.do("GET", "/virtual-network/"+id, nil)
	if code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
}

func TestFencedWritesFailOnceTheLeaseIsGone(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	key := ts.st.Keys.Prefix + "election/test/leader"
	lease, err := ts.st.Client.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.st.Client.Put(ctx, key, "me", clientv3.WithLease(lease.ID))
	if err != nil {
		t.Fatal(err)
	}
	fence := fmt.Sprintf("%s@%d", key, resp.Header.Revision)
	create := func(name string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]any{"virtual-network": map[string]any{
			"fq_name": []string{"default-domain", "default-project", name}, "parent_type": "project"}})
		req, _ := http.NewRequest("POST", ts.base+"/virtual-networks", bytes.NewReader(body))
		req.Header.Set(FenceHeader, fence)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var out map[string]any
		json.NewDecoder(r.Body).Decode(&out)
		return r.StatusCode, out
	}
	if code, out := create("fenced-1"); code != 200 {
		t.Fatalf("write with a held fence: %d %v", code, out)
	}
	if _, err := ts.st.Client.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	code, out := create("fenced-2")
	if code != 412 || errField(out) != FenceHeader {
		t.Fatalf("write with a lost fence: %d %v", code, out)
	}
	if code, _ := ts.do("POST", "/fqname-to-id", map[string]any{"type": "virtual-network",
		"fq_name": []string{"default-domain", "default-project", "fenced-2"}}); code != 404 {
		t.Fatalf("fenced write left an object: %d", code)
	}
}
