// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
)

// TestTwoAPIProcessesOneEtcd runs two API server processes on one etcd
// (the second uses the first one's embedded etcd as an external cluster)
// and races them for one fq-name and for the last addresses of a /29.
func TestTwoAPIProcessesOneEtcd(t *testing.T) {
	n := newNode(t)
	start(t, n.url()+"/", n.args("all-in-one")...)
	api2 := freePort(t)
	base2 := "http://127.0.0.1:" + strconv.Itoa(api2)
	start(t, base2+"/", "api", "--etcd-endpoints", "http://127.0.0.1:"+strconv.Itoa(n.etcd),
		"--listen", "127.0.0.1:"+strconv.Itoa(api2), "--introspect", "", "--log-level", "warn")
	bases := []string{n.url(), base2}

	// (a) 16 creates of one fq-name, split over both servers: one winner.
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, err := post(bases[i%2]+"/virtual-networks", map[string]any{"virtual-network": map[string]any{
				"fq_name": []string{"default-domain", "default-project", "contended"}, "parent_type": "project",
				"network_ipam_refs": []any{map[string]any{
					"to":   []string{"default-domain", "default-project", "default-network-ipam"},
					"attr": map[string]any{"ipam_subnets": []any{map[string]any{"subnet": map[string]any{"ip_prefix": "192.0.2.0", "ip_prefix_len": 29}}}},
				}},
			}})
			if err != nil {
				t.Error(err)
			}
			codes[i] = code
		}()
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case 200:
			won++
		case 409:
		default:
			t.Fatalf("unexpected status %d", c)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates of one fq-name succeeded, want 1 (%v)", won, codes)
	}
	code, out, _ := post(bases[1]+"/fqname-to-id", map[string]any{"type": "virtual-network", "fq_name": []string{"default-domain", "default-project", "contended"}})
	if code != 200 {
		t.Fatalf("fqname-to-id on the other server: %d", code)
	}
	vn := out["uuid"].(string)

	// (b) a /29 has 8 addresses: network, broadcast, gateway (.6) and DNS (.5) are
	// reserved, so 4 can be allocated. 12 racing creates: exactly 4 win.
	var mu sync.Mutex
	var addrs []string
	fails := 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, err := post(bases[i%2]+"/instance-ips", map[string]any{"instance-ip": map[string]any{
				"fq_name": []string{fmt.Sprintf("race-iip-%d", i)}, "virtual_network_refs": []any{map[string]any{"uuid": vn}},
			}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if code == 200 {
				addrs = append(addrs, out["instance-ip"].(map[string]any)["instance_ip_address"].(string))
			} else {
				fails++
				if code != 409 {
					t.Errorf("exhausted subnet answered %d %v", code, out)
				}
			}
		}()
	}
	wg.Wait()
	sort.Strings(addrs)
	want := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}
	if fmt.Sprint(addrs) != fmt.Sprint(want) {
		t.Fatalf("allocated %v, want %v (%d failed)", addrs, want, fails)
	}
	for _, b := range bases {
		code, out, _ := get(b + "/db-check")
		if code != http.StatusOK || len(out["problems"].([]any)) != 0 {
			t.Fatalf("db-check on %s: %d %v", b, code, out)
		}
	}
}
