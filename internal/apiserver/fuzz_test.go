// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

// fuzzCollections are the create endpoints FuzzCreateBody aims at; the
// fuzzer picks one with its first input.
var fuzzCollections = []string{
	"virtual-network", "instance-ip", "virtual-machine-interface", "network-ipam",
	"security-group", "project", "floating-ip", "tag", "routing-instance", "no-such-type",
}

// FuzzCreateBody posts arbitrary bytes as a create body to a running server
// (through its handler, in-process) and checks that no request fails with
// a 5xx other than 503, that every answer is well-formed, and that the
// server keeps answering reads.
//
//	go test -run '^$' -fuzz FuzzCreateBody -fuzztime 30s ./internal/apiserver/
func FuzzCreateBody(f *testing.F) {
	st := etcdtest.Start(f)
	srv := runServer(f, st, Config{MaxRequestBytes: 16 << 10})
	h := srv.Handler()

	call := func(method, path string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// A network with a subnet for the instance-ips, interfaces and pools.
	net := `{"virtual-network":{"fq_name":["default-domain","default-project","fuzz-net"],"parent_type":"project",` +
		`"network_ipam_refs":[{"to":["default-domain","default-project","default-network-ipam"],` +
		`"attr":{"ipam_subnets":[{"subnet":{"ip_prefix":"10.99.0.0","ip_prefix_len":16}}]}}]}}`
	rec := call("POST", "/virtual-networks", []byte(net))
	if rec.Code != 200 {
		f.Fatalf("create fuzz-net: %d %s", rec.Code, rec.Body)
	}
	var created map[string]map[string]any
	json.Unmarshal(rec.Body.Bytes(), &created)
	netURL := "/virtual-network/" + created["virtual-network"]["uuid"].(string)
	if rec := call("POST", "/floating-ip-pools", []byte(`{"floating-ip-pool":{"fq_name":["default-domain","default-project","fuzz-net","pool"]}}`)); rec.Code != 200 {
		f.Fatalf("create pool: %d %s", rec.Code, rec.Body)
	}

	seeds := []struct {
		sel  uint8
		body string
	}{
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s1"],"parent_type":"project"}}`},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s2"],"network_ipam_refs":[{"to":["default-domain","default-project","default-network-ipam"],"attr":{"ipam_subnets":[{"subnet":{"ip_prefix":"10.1.0.0","ip_prefix_len":24},"addr_from_start":true,"allocation_pools":[{"start":"10.1.0.10","end":"10.1.0.20"}]}]}}]}}`},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s3"],"virtual_network_properties":{"vxlan_network_identifier":"x","forwarding_mode":"l9"}}}`},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s4"],"network_ipam_refs":[{"uuid":"00000000-0000-0000-0000-000000000000"}]}}`},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s5"],"virtual_network_network_id":5}}`},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s6"],"uuid":"not-a-uuid"}}`},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s7"]}}}`},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s8"],"network_ipam_refs":[{"to":["default-domain","default-project","default-network-ipam"],"attr":{"ipam_subnets":[{"subnet":{"ip_prefix":"::ffff","ip_prefix_len":104}},{"subnet":{"ip_prefix":"10.0.0.0","ip_prefix_len":31}}]}}]}}`},
		{1, `{"instance-ip":{"fq_name":["fi1"],"virtual_network_refs":[{"to":["default-domain","default-project","fuzz-net"]}]}}`},
		{1, `{"instance-ip":{"fq_name":["fi2"],"instance_ip_address":"10.99.0.5","virtual_network_refs":[{"to":["default-domain","default-project","fuzz-net"]}]}}`},
		{1, `{"instance-ip":{"fq_name":["fi3"],"instance_ip_address":"10.99.255.254","virtual_network_refs":[{"to":["default-domain","default-project","fuzz-net"]}]}}`},
		{1, `{"instance-ip":{"fq_name":["fi4"],"instance_ip_family":"v6","virtual_network_refs":[{"to":["default-domain","default-project","fuzz-net"]}]}}`},
		{2, `{"virtual-machine-interface":{"fq_name":["default-domain","default-project","fv1"],"virtual_network_refs":[{"to":["default-domain","default-project","fuzz-net"]}],"virtual_machine_interface_mac_addresses":{"mac_address":["0:1:2:3:4:5"]}}}`},
		{2, `{"virtual-machine-interface":{"fq_name":["default-domain","default-project","fv2"]}}`},
		{3, `{"network-ipam":{"fq_name":["default-domain","default-project","fipam"],"ipam_subnet_method":"flat-subnet","ipam_subnets":{"subnets":[{"subnet":{"ip_prefix":"172.16.0.0","ip_prefix_len":12}}]}}}`},
		{4, `{"security-group":{"fq_name":["default-domain","default-project","fsg"],"configured_security_group_id":-3}}`},
		{5, `{"project":{"fq_name":["default-domain","fp"],"quota":{"virtual_network":"many"}}}`},
		{6, `{"floating-ip":{"fq_name":["default-domain","default-project","fuzz-net","pool","ff1"]}}`},
		{7, `{"tag":{"fq_name":["label=x"],"tag_type_name":"label","tag_value":"x"}}`},
		{8, `{"routing-instance":{"fq_name":["default-domain","default-project","fuzz-net","ri"],"routing_instance_is_default":true}}`},
		{9, `{"no-such-type":{}}`},
		{0, ``},
		{0, `null`},
		{0, `[]`},
		{0, `{"virtual-network":null}`},
		{0, "{\"virtual-network\":{\"fq_name\":[\"\xff\"]}}"},
		{0, `{"virtual-network":{"fq_name":["default-domain","default-project","s9"],"annotations":{"key_value_pair":[{"key":"a","value":"b"}]},"id_perms":{"enable":false,"uuid":{"uuid_mslong":1,"uuid_lslong":2}},"perms2":{"owner":"x","owner_access":7,"global_access":0,"share":[]}}}`},
	}
	for _, s := range seeds {
		f.Add(s.sel, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		typ := fuzzCollections[int(sel)%len(fuzzCollections)]
		rec := call("POST", "/"+typ+"s", body)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST /%ss %q: %d %s", typ, body, rec.Code, rec.Body)
		}
		var out map[string]any
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil {
			t.Fatalf("POST /%ss %q: answer is not JSON: %v: %s", typ, body, err, rec.Body)
		}
		if rec.Code == 200 {
			if u, _ := dig(out, typ, "uuid").(string); u == "" {
				t.Fatalf("POST /%ss %q: 200 without a uuid: %s", typ, body, rec.Body)
			}
		} else {
			code, _ := dig(out, "error", "code").(json.Number)
			msg, _ := dig(out, "error", "message").(string)
			if code.String() != strconv.Itoa(rec.Code) || msg == "" {
				t.Fatalf("POST /%ss %q: %d with error body %s", typ, body, rec.Code, rec.Body)
			}
		}
		// The server still answers.
		if rec := call("GET", netURL+"?fields=display_name", nil); rec.Code != 200 {
			t.Fatalf("after POST /%ss %q: read answers %d %s", typ, body, rec.Code, rec.Body)
		}
	})
}
