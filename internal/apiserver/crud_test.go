// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"testing"
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
