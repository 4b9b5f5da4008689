// SPDX-License-Identifier: Apache-2.0

package uve

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	sd "github.com/contrail-go/contrail/internal/sandesh"
)

var (
	o1 = Origin{"h1", "Compute", "contrail-vrouter-agent", "0"}
	o2 = Origin{"h2", "Compute", "contrail-vrouter-agent", "0"}
)

func agg(a string) sd.Attr { return sd.Attr{Name: "aggtype", Value: a} }

func interVN(other string, pkts, bytes uint64) sd.Value {
	return sd.StructValue("UveInterVnStats",
		sd.F("other_vn", 1, sd.String(other), agg("listkey")),
		sd.F("tpkts", 2, sd.U64(pkts)),
		sd.F("bytes", 3, sd.U64(bytes)))
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAggregate(t *testing.T) {
	c := NewCache()
	c.Update(o1, "ObjectVNTable", "vn1", "UveVirtualNetworkAgent", []sd.Field{
		sd.F("name", 1, sd.String("vn1"), sd.Attr{Name: "key", Value: "ObjectVNTable"}),
		sd.F("interface_list", 4, sd.StringList("a", "b"), agg("union")),
		sd.F("associated_fip_count", 15, sd.I32(2), agg("sum")),
		sd.F("in_stats", 9, sd.ListValue(sd.TStruct, interVN("vn2", 10, 100), interVN("vn3", 1, 1)), agg("append")),
		sd.F("flow_rate", 30, sd.StructValue("Rate", sd.F("added", 1, sd.U64(3)), sd.F("unit", 2, sd.String("s"))), agg("sum")),
		sd.F("labels", 31, sd.MapValue(sd.TString, sd.TString, sd.MapEntry{Key: sd.String("x"), Value: sd.String("1")}), agg("union")),
		sd.F("mode", 32, sd.String("kernel")),
	}, 100)
	c.Update(o2, "ObjectVNTable", "vn1", "UveVirtualNetworkAgent", []sd.Field{
		sd.F("interface_list", 4, sd.StringList("b", "c"), agg("union")),
		sd.F("associated_fip_count", 15, sd.I32(5), agg("sum")),
		sd.F("in_stats", 9, sd.ListValue(sd.TStruct, interVN("vn2", 5, 50)), agg("append")),
		sd.F("flow_rate", 30, sd.StructValue("Rate", sd.F("added", 1, sd.U64(4)), sd.F("unit", 2, sd.String("s"))), agg("sum")),
		sd.F("labels", 31, sd.MapValue(sd.TString, sd.TString, sd.MapEntry{Key: sd.String("y"), Value: sd.String("2")}), agg("union")),
		sd.F("mode", 32, sd.String("dpdk")),
	}, 200)
	ctx := context.Background()
	v, ok, _ := c.Get(ctx, "virtual-network", "vn1", Filter{Flat: true})
	if !ok {
		t.Fatal("no uve")
	}
	a := v["UveVirtualNetworkAgent"].(map[string]any)
	checks := map[string]string{
		"interface_list":       `["a","b","c"]`,
		"associated_fip_count": `7`,
		"in_stats":             `[{"bytes":150,"other_vn":"vn2","tpkts":15},{"bytes":1,"other_vn":"vn3","tpkts":1}]`,
		"flow_rate":            `{"added":7,"unit":"s"}`,
		"labels":               `{"x":"1","y":"2"}`,
		"mode":                 `[["kernel","h1:Compute:contrail-vrouter-agent:0"],["dpdk","h2:Compute:contrail-vrouter-agent:0"]]`,
		"__T":                  `200`,
	}
	for k, want := range checks {
		if got := asJSON(t, a[k]); got != want {
			t.Errorf("%s: got %s want %s", k, got, want)
		}
	}
	if _, ok := a["name"]; ok {
		t.Error("the key field is not an attribute")
	}
	// cfilt on one attribute; mfilt that matches nobody.
	v, _, _ = c.Get(ctx, "ObjectVNTable", "vn1", Filter{Flat: true, CFilt: []string{"UveVirtualNetworkAgent:mode"}, SFilt: "h1"})
	if got := asJSON(t, v); got != `{"UveVirtualNetworkAgent":{"__T":100,"mode":"kernel"}}` {
		t.Fatalf("cfilt+sfilt: %s", got)
	}
	if _, ok, _ := c.Get(ctx, "virtual-network", "vn1", Filter{MFilt: "contrail-control"}); ok {
		t.Fatal("mfilt kept a UVE of another module")
	}
	// Delete and withdraw.
	c.Delete(o1, "ObjectVNTable", "vn1", "UveVirtualNetworkAgent")
	v, _, _ = c.Get(ctx, "virtual-network", "vn1", Filter{Flat: true})
	if got := asJSON(t, v["UveVirtualNetworkAgent"].(map[string]any)["mode"]); got != `"dpdk"` {
		t.Fatalf("after delete: %s", got)
	}
	if n := c.WithdrawOrigin(o2); n != 1 || c.Len() != 0 {
		t.Fatalf("withdraw %d, left %d", n, c.Len())
	}
	if ty, _ := c.Types(ctx); len(ty) != 0 {
		t.Fatalf("types left: %v", ty)
	}
}

func TestMatchKey(t *testing.T) {
	for _, tc := range []struct {
		pats []string
		key  string
		want bool
	}{
		{nil, "x", true},
		{[]string{"a:*"}, "a:b:c", true},
		{[]string{"*:c"}, "a:b:c", true},
		{[]string{"a*c*e"}, "abcde", true},
		{[]string{"a*c*e"}, "abcd", false},
		{[]string{"vn1"}, "vn10", false},
		{[]string{"vn1", "vn1*"}, "vn10", true},
	} {
		if got := MatchKey(tc.pats, tc.key); got != tc.want {
			t.Errorf("%v %q: got %v", tc.pats, tc.key, got)
		}
	}
}

// pages is a minimal Pages on a mux for the HTTP round trip.
type pages struct{ mux *http.ServeMux }

func (p pages) Handle(path, _ string, fn func(*http.Request) (any, error)) {
	p.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(v)
	})
}

func TestRemote(t *testing.T) {
	c := NewCache()
	c.Update(o1, "ObjectVRouter", "h1", "VrouterAgent", []sd.Field{sd.F("mode", 1, sd.String("kernel")), sd.F("n", 2, sd.U64(1<<60), agg("sum"))}, 5)
	mux := http.NewServeMux()
	RegisterPages(pages{mux}, c, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r := NewRemote(srv.URL + "/")
	ctx := context.Background()
	for _, src := range []Source{c, r} {
		ty, err := src.Types(ctx)
		if err != nil || !reflect.DeepEqual(ty, []string{"vrouter"}) {
			t.Fatalf("types %v %v", ty, err)
		}
		k, err := src.Keys(ctx, "vrouter", Filter{SFilt: "h1"})
		if err != nil || !reflect.DeepEqual(k, []string{"h1"}) {
			t.Fatalf("keys %v %v", k, err)
		}
		v, ok, err := src.Get(ctx, "vrouter", "h1", Filter{Flat: true})
		if err != nil || !ok || asJSON(t, v) != `{"VrouterAgent":{"__T":5,"mode":"kernel","n":1152921504606846976}}` {
			t.Fatalf("get %s %v %v", asJSON(t, v), ok, err)
		}
		if _, ok, err := src.Get(ctx, "vrouter", "h2", Filter{}); ok || err != nil {
			t.Fatalf("missing key: %v %v", ok, err)
		}
	}
	if _, err := r.Keys(ctx, "", Filter{}); err == nil {
		t.Fatal("keys without a type should fail")
	}
}
