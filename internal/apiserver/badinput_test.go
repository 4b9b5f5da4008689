// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const smallLimit = 4096

// storeState is what a refused request must leave as it was.
type storeState struct {
	rev    int64
	counts map[string]int
}

func (ts *testServer) state() storeState {
	ts.t.Helper()
	st := storeState{rev: ts.storeRev(), counts: map[string]int{}}
	for _, typ := range []string{"virtual-network", "network-ipam", "instance-ip", "project", "routing-instance", "virtual-machine-interface"} {
		st.counts[typ] = ts.count(typ)
	}
	return st
}

// unchanged checks that nothing was written since before and that the
// server still answers.
func (ts *testServer) unchanged(what string, before storeState) {
	ts.t.Helper()
	after := ts.state()
	if after.rev != before.rev {
		ts.t.Errorf("%s: the store was written (revision %d -> %d)", what, before.rev, after.rev)
	}
	for typ, n := range before.counts {
		if after.counts[typ] != n {
			ts.t.Errorf("%s: %s count %d -> %d", what, typ, n, after.counts[typ])
		}
	}
	if code, _ := ts.raw("GET", "/", nil); code != 200 {
		ts.t.Errorf("%s: server answers GET / with %d", what, code)
	}
}

func TestBadCreateBodies(t *testing.T) {
	t.Parallel()
	ts := startWith(t, Config{MaxRequestBytes: smallLimit})
	vnID := ts.mustCreate("virtual-network", vnBody("existing", "10.1.0.0", 24))
	good := `{"fq_name":["default-domain","default-project","x"],"parent_type":"project"}`
	cases := []struct {
		name  string
		path  string
		body  string
		code  int
		field string // "-": not checked
	}{
		{"malformed JSON", "/virtual-networks", `{"virtual-network": {"fq_name": [}`, 400, ""},
		{"truncated", "/virtual-networks", `{"virtual-network": ` + good[:20], 400, ""},
		{"empty body", "/virtual-networks", ``, 400, ""},
		{"whitespace body", "/virtual-networks", "  \n ", 400, ""},
		{"null body", "/virtual-networks", `null`, 400, "-"},
		{"array body", "/virtual-networks", `[` + good + `]`, 400, "-"},
		{"string body", "/virtual-networks", `"virtual-network"`, 400, "-"},
		{"wrong envelope key", "/virtual-networks", `{"network-ipam": ` + good + `}`, 400, ""},
		{"underscored envelope of another type", "/virtual-networks", `{"network_ipam": ` + good + `}`, 400, ""},
		{"two envelope keys", "/virtual-networks", `{"virtual-network": ` + good + `, "x": 1}`, 400, ""},
		{"inner null", "/virtual-networks", `{"virtual-network": null}`, 400, "-"},
		{"inner array", "/virtual-networks", `{"virtual-network": []}`, 400, "-"},
		{"inner string", "/virtual-networks", `{"virtual-network": "vn"}`, 400, "-"},
		{"trailing garbage", "/virtual-networks", `{"virtual-network": ` + good + `} xyz`, 400, ""},
		{"trailing brace", "/virtual-networks", `{"virtual-network": ` + good + `}}`, 400, ""},
		{"trailing bracket", "/virtual-networks", `{"virtual-network": ` + good + `}]`, 400, ""},
		{"second value", "/virtual-networks", `{"virtual-network": ` + good + `} {"virtual-network": ` + good + `}`, 400, ""},
		{"unknown field", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"colour":"red"}}`, 400, "colour"},
		{"unknown nested field", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"virtual_network_properties":{"colour":1}}}`, 400, "virtual_network_properties.colour"},
		{"wrong property type", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"virtual_network_properties":{"vxlan_network_identifier":"abc"}}}`, 400, "virtual_network_properties.vxlan_network_identifier"},
		{"out of range", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"virtual_network_properties":{"vxlan_network_identifier":99999999}}}`, 400, "virtual_network_properties.vxlan_network_identifier"},
		{"huge number", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"mtu":1e400}}`, 400, "mtu"},
		{"fraction for integer", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"mtu":1500.5}}`, 400, "mtu"},
		{"enum violation", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"virtual_network_properties":{"forwarding_mode":"l9"}}}`, 400, "virtual_network_properties.forwarding_mode"},
		{"top-level enum violation", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"address_allocation_mode":"random"}}`, 400, "address_allocation_mode"},
		{"string for boolean", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"is_shared":"yes"}}`, 400, "is_shared"},
		{"fq_name not a list", "/virtual-networks", `{"virtual-network": {"fq_name":"default-domain:default-project:x"}}`, 400, "fq_name"},
		{"fq_name of numbers", "/virtual-networks", `{"virtual-network": {"fq_name":[1,2,3]}}`, 400, "fq_name"},
		{"fq_name empty element", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","","x"]}}`, 400, "fq_name[1]"},
		{"no fq_name", "/virtual-networks", `{"virtual-network": {"parent_type":"project"}}`, 400, "fq_name"},
		{"uuid number", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"uuid":12}}`, 400, "uuid"},
		{"parent_type number", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"parent_type":7}}`, 400, "parent_type"},
		{"refs not a list", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"network_ipam_refs":{"to":["a"]}}}`, 400, "network_ipam_refs"},
		{"ref without target", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"network_ipam_refs":[{"attr":null}]}}`, 400, "network_ipam_refs[0]"},
		{"ref bad uuid", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"network_ipam_refs":[{"uuid":"zz"}]}}`, 400, "network_ipam_refs[0].uuid"},
		{"ref attr wrong type", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"network_ipam_refs":[{"to":["default-domain","default-project","default-network-ipam"],"attr":{"ipam_subnets":[{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":"x"}}]}}]}}`, 400, "network_ipam_refs[0].attr.ipam_subnets[0].subnet.ip_prefix_len"},
		{"ref attr bad prefix", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"network_ipam_refs":[{"to":["default-domain","default-project","default-network-ipam"],"attr":{"ipam_subnets":[{"subnet":{"ip_prefix":"10.0.0.300","ip_prefix_len":24}}]}}]}}`, 400, "network_ipam_refs[0].attr.ipam_subnets[0].subnet.ip_prefix"},
		{"ref attr prefix length", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"network_ipam_refs":[{"to":["default-domain","default-project","default-network-ipam"],"attr":{"ipam_subnets":[{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":33}}]}}]}}`, 400, "network_ipam_refs[0].attr.ipam_subnets[0].subnet.ip_prefix_len"},
		{"ref attr gateway outside", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"network_ipam_refs":[{"to":["default-domain","default-project","default-network-ipam"],"attr":{"ipam_subnets":[{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":24},"default_gateway":"10.9.0.1"}]}}]}}`, 400, "network_ipam_refs[0].attr.ipam_subnets[0].default_gateway"},
		{"unknown collection", "/foo-bars", `{"foo-bar": {"fq_name":["x"]}}`, 404, "-"},
		{"config-root collection", "/config-roots", `{"config-root": {"fq_name":["x"]}}`, 404, "-"},
		{"unknown collection, bad body", "/foo-bars", `}{`, 404, "-"},
		{"invalid UTF-8 in name", "/virtual-networks", "{\"virtual-network\": {\"fq_name\":[\"default-domain\",\"default-project\",\"\xff\xfe\"],\"mtu\":\"x\"}}", 400, "mtu"},
		{"deep nesting", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"annotations":` + strings.Repeat("[", 1500) + strings.Repeat("]", 1500) + `}}`, 400, "annotations"},
	}
	for _, c := range cases {
		before := ts.state()
		code, out := ts.do("POST", c.path, c.body)
		if code != c.code {
			t.Errorf("%s: status %d, want %d: %v", c.name, code, c.code, out)
		} else if e, ok := out["error"].(map[string]any); !ok {
			t.Errorf("%s: no error object: %v", c.name, out)
		} else {
			if num(t, e["code"]) != int64(c.code) || errMessage(e) == "" {
				t.Errorf("%s: error body %v", c.name, e)
			}
			if f, _ := e["field"].(string); c.field != "-" && f != c.field {
				t.Errorf("%s: field %v, want %q (%s)", c.name, e["field"], c.field, errMessage(e))
			}
		}
		ts.unchanged(c.name, before)
	}
	// The unknown field's name is in the message too.
	_, out := ts.do("POST", "/virtual-networks", `{"virtual-network": {"fq_name":["default-domain","default-project","x"],"colour":"red"}}`)
	if e := out["error"].(map[string]any); !strings.Contains(errMessage(e), "colour") {
		t.Errorf("unknown field message %q", errMessage(e))
	}

	// The same on PUT.
	puts := []struct {
		name, body, field string
		code              int
	}{
		{"malformed", `{"virtual-network": {`, "", 400},
		{"trailing", `{"virtual-network": {}}}`, "", 400},
		{"unknown field", `{"virtual-network": {"colour": 1}}`, "colour", 400},
		{"wrong type", `{"virtual-network": {"virtual_network_properties":{"vxlan_network_identifier":"abc"}}}`, "virtual_network_properties.vxlan_network_identifier", 400},
		{"enum", `{"virtual-network": {"virtual_network_properties":{"forwarding_mode":"l9"}}}`, "virtual_network_properties.forwarding_mode", 400},
		{"wrong envelope", `{"network-ipam": {}}`, "", 400},
	}
	for _, c := range puts {
		before := ts.state()
		code, out := ts.do("PUT", "/virtual-network/"+vnID, c.body)
		if code != c.code || errField(out) != c.field {
			t.Errorf("PUT %s: %d %v, want %d field %q", c.name, code, out, c.code, c.field)
		}
		ts.unchanged("PUT "+c.name, before)
	}
	// Unknown types on the object paths.
	ts.expectErr("GET", "/foo-bar/"+vnID, nil, 404, "-")
	ts.expectErr("PUT", "/foo-bar/"+vnID, map[string]any{"foo-bar": map[string]any{}}, 404, "-")
	ts.expectErr("DELETE", "/foo-bar/"+vnID, nil, 404, "-")
	ts.expectErr("PUT", "/virtual-network/not-a-uuid", map[string]any{"virtual-network": map[string]any{}}, 400, "uuid")
	ts.mustGet("virtual-network", vnID)
	checkConsistency(t, ts.st)
}

func TestRequestSizeLimit(t *testing.T) {
	t.Parallel()
	ts := startWith(t, Config{MaxRequestBytes: smallLimit})
	vnID := ts.mustCreate("virtual-network", vnBody("existing", "10.1.0.0", 24))
	big := `{"virtual-network": {"fq_name":["default-domain","default-project","big"],"display_name":"` + strings.Repeat("a", smallLimit) + `"}}`
	// Just under the limit is fine.
	fits := `{"virtual-network": {"fq_name":["default-domain","default-project","fits"],"display_name":"` + strings.Repeat("a", smallLimit-200) + `"}}`
	before := ts.state()
	ts.expectErr("POST", "/virtual-networks", big, 413, "-")
	ts.unchanged("413 create", before)
	ts.expectErr("PUT", "/virtual-network/"+vnID, big, 413, "-")
	ts.unchanged("413 update", before)
	ts.expectErr("POST", "/list-bulk-collection", `{"type":"virtual-network","obj_uuids":["`+strings.Repeat("x", smallLimit)+`"]}`, 413, "-")
	ts.unchanged("413 action", before)
	// Without a Content-Length (chunked), the limit applies while reading.
	req, _ := http.NewRequest("POST", ts.base+"/virtual-networks", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversize body: %d", resp.StatusCode)
	}
	ts.unchanged("413 chunked", before)
	ts.mustCreate("virtual-network", mustJSONMap(t, fits)["virtual-network"].(map[string]any))
	// The default limit is the original's 1024000 bytes.
	if New(ts.st, Config{}).cfg.MaxRequestBytes != 1024000 {
		t.Error("default MaxRequestBytes is not 1024000")
	}
}

func TestBadActionBodies(t *testing.T) {
	t.Parallel()
	ts := startWith(t, Config{MaxRequestBytes: smallLimit})
	vn := ts.mustCreate("virtual-network", vnBody("act", "10.1.0.0", 24))
	for _, c := range []struct{ path, body string }{
		{"/fqname-to-id", `{"type":"virtual-network","fq_name":"x"}`},
		{"/fqname-to-id", `{"type":"virtual-network","fq_name":["a"],"extra":1}`},
		{"/id-to-fqname", `[]`},
		{"/ref-update", `{"type":"virtual-network","uuid":"` + vn + `","ref-type":"network-ipam","operation":"ADD","ref-uuid":"` + uuid.NewString() + `"} trailing`},
		{"/ref-update", ``},
		{"/ref-relax-for-delete", `{"uuid":1}`},
		{"/prop-collection-update", `{"uuid":"` + vn + `","updates":{}}`},
		{"/useragent-kv", `{"operation":"STORE","key":"k","value":{}}`},
		{"/chmod", `{"uuid":"` + vn + `","share":"all"}`},
		{"/chown", `{"uuid":"` + vn + `","owner":5}`},
		{"/set-tag", `{"obj_type":"virtual-network","obj_uuid":"` + vn + `"`},
		{"/virtual-network/" + vn + "/ip-alloc", `{"count":"two"}`},
		{"/virtual-network/" + vn + "/ip-free", `{"ip_addr":"10.1.0.5"}`},
		{"/virtual-network/" + vn + "/subnet-ip-count", `{"subnet_list":["bogus"]}`},
		{"/list-bulk-collection", `{"type":"virtual-network","detail":"yes"}`},
	} {
		before := ts.state()
		code, out := ts.do("POST", c.path, c.body)
		if code != 400 {
			t.Errorf("POST %s %s: %d %v", c.path, c.body, code, out)
		}
		ts.unchanged(c.path, before)
	}
}

func mustJSONMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatal(err)
	}
	return out
}
