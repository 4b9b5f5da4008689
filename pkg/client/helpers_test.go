// SPDX-License-Identifier: Apache-2.0

package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/internal/testutil/apitest"
	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
	"github.com/contrail-go/contrail/pkg/client"
)

// startAPI runs a real API server on a real embedded etcd, on loopback,
// and returns its base URL.
func startAPI(t *testing.T) string {
	t.Helper()
	_, url := apitest.Start(t, etcdtest.Start(t), apiserver.Config{})
	return url
}

// newClient starts a server and returns a client of it.
func newClient(t *testing.T) *client.Client {
	t.Helper()
	return client.New(startAPI(t), client.WithTimeout(30*time.Second))
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var defaultProject = []string{"default-domain", "default-project"}

// vnObject is a virtual network under parent with one subnet on the
// default ipam.
func vnObject(parent []string, name, prefix string, plen int) client.Object {
	return client.Object{
		"fq_name":     append(append([]string(nil), parent...), name),
		"parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to": []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{
				"subnet": map[string]any{"ip_prefix": prefix, "ip_prefix_len": plen},
			}}},
		}},
	}
}

func mustCreate(t *testing.T, c *client.Client, typ string, obj client.Object) client.Object {
	t.Helper()
	out, err := c.Create(testCtx(t), typ, obj)
	if err != nil {
		t.Fatalf("create %s %v: %v", typ, obj["fq_name"], err)
	}
	if !client.IsUUID(out.UUID()) {
		t.Fatalf("create %s: answer has no uuid: %v", typ, out)
	}
	return out
}

// mustProject creates a project under default-domain.
func mustProject(t *testing.T, c *client.Client, name string) []string {
	t.Helper()
	fq := []string{"default-domain", name}
	mustCreate(t, c, "project", client.Object{"fq_name": fq, "parent_type": "domain"})
	return fq
}

func subnetPrefixes(vn client.Object) []string {
	var out []string
	for _, r := range vn.Refs("network_ipam_refs") {
		attr, _ := r.Attr.(map[string]any)
		subnets, _ := attr["ipam_subnets"].([]any)
		for _, s := range subnets {
			o := client.Object(s.(map[string]any))
			out = append(out, fmt.Sprintf("%s/%v", o.GetString("subnet", "ip_prefix"), o.Get("subnet", "ip_prefix_len")))
		}
	}
	return out
}
