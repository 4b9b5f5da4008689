// SPDX-License-Identifier: Apache-2.0

package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/contrail-go/contrail/pkg/client"
)

// This example creates a virtual network with one subnet, reads it back
// and lists the networks of its project. It needs a running API server,
// so it has no output to check.
func Example() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8082", client.WithTimeout(10*time.Second), client.WithRetry(3, 100*time.Millisecond))

	created, err := c.Create(ctx, "virtual-network", client.Object{
		"fq_name":     []string{"default-domain", "default-project", "blue"},
		"parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to": []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
				"subnet": map[string]any{"ip_prefix": "10.1.1.0", "ip_prefix_len": 24},
			}}},
		}},
	})
	switch {
	case client.IsConflict(err):
		fmt.Println("blue exists already")
		return
	case err != nil:
		fmt.Println("create:", err)
		return
	}

	vn, err := c.Read(ctx, "virtual-network", created.UUID(), client.ExcludeBackRefs())
	if err != nil {
		fmt.Println("read:", err)
		return
	}
	id, _ := vn.GetInt("virtual_network_network_id")
	fmt.Println(client.FQNameString(vn.FQName()), "has network id", id)

	nets, err := c.ListAll(ctx, "virtual-network", client.ListQuery{
		ParentFQName: []string{"default-domain", "default-project"},
		PageLimit:    100,
	})
	if err != nil {
		fmt.Println("list:", err)
		return
	}
	for _, n := range nets {
		fmt.Println(n.UUID(), client.FQNameString(n.FQName()))
	}
}

// Errors of the server carry its status code and the field it is about.
func ExampleError() {
	// A stand-in for the API server that refuses every create.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"error": {"code": 409, "field": "fq_name", "message": "fq_name: virtual-network default-domain:default-project:blue already exists"}}`)
	}))
	defer srv.Close()

	c := client.New(srv.URL)
	_, err := c.Create(context.Background(), "virtual-network", client.Object{
		"fq_name": []string{"default-domain", "default-project", "blue"}, "parent_type": "project",
	})
	fmt.Println(client.IsConflict(err), client.IsNotFound(err))
	if e, ok := err.(*client.Error); ok {
		fmt.Println(e.StatusCode, e.Field)
	}
	// Output:
	// true false
	// 409 fq_name
}

// Object helpers read the common fields and references of a decoded object.
func ExampleObject_Refs() {
	var vn client.Object
	dec := json.NewDecoder(strings.NewReader(`{
		"uuid": "5f3ad0d4-6a1c-4b36-9b51-0d6c3d2b8f10",
		"fq_name": ["default-domain", "default-project", "blue"],
		"virtual_network_network_id": 5,
		"network_ipam_refs": [{
			"to": ["default-domain", "default-project", "default-network-ipam"],
			"uuid": "0b3a1f7e-2a0c-4e1b-8f59-8d1f6a3c2e11",
			"attr": {"ipam_subnets": [{"subnet": {"ip_prefix": "10.1.1.0", "ip_prefix_len": 24}}]}
		}]
	}`))
	dec.UseNumber()
	if err := dec.Decode(&vn); err != nil {
		panic(err)
	}
	id, _ := vn.GetInt("virtual_network_network_id")
	fmt.Println(vn.Name(), id)
	for _, r := range vn.Refs("network_ipam_refs") {
		attr := client.Object(r.Attr.(map[string]any))
		fmt.Println(client.FQNameString(r.To), attr.GetString("ipam_subnets", "0", "subnet", "ip_prefix"))
	}
	// Output:
	// blue 5
	// default-domain:default-project:default-network-ipam 10.1.1.0
}
