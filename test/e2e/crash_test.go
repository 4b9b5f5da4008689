// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func post(url string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

func get(url string) (int, map[string]any, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// TestKillNineLosesNoAcknowledgedWrite kills the API server (and its
// embedded etcd) with SIGKILL in the middle of a write load, three times,
// and checks after each restart that every acknowledged create is there
// and that the store has no dangling index, ID or address.
func TestKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	n := newNode(t)
	p := start(t, n.url()+"/", n.args("api")...)
	base := n.url()
	code, out, err := post(base+"/virtual-networks", map[string]any{"virtual-network": map[string]any{
		"fq_name": []string{"default-domain", "default-project", "crash-vn"}, "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to":   []string{"default-domain", "default-project", "default-network-ipam"},
			"attr": map[string]any{"ipam_subnets": []any{map[string]any{"subnet": map[string]any{"ip_prefix": "10.9.0.0", "ip_prefix_len": 16}}}},
		}},
	}})
	if err != nil || code != 200 {
		t.Fatalf("create network: %d %v %v", code, out, err)
	}
	vn := out["virtual-network"].(map[string]any)["uuid"].(string)

	type acked struct{ typ, uuid, addr string }
	var mu sync.Mutex
	var all []acked
	var seq atomic.Int64
	for round := range 3 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					i := seq.Add(1)
					var typ string
					var body map[string]any
					if i%2 == 0 {
						typ = "instance-ip"
						body = map[string]any{"fq_name": []string{fmt.Sprintf("iip-%d-%d", round, i)},
							"virtual_network_refs": []any{map[string]any{"uuid": vn}}}
					} else {
						typ = "virtual-network"
						body = map[string]any{"fq_name": []string{"default-domain", "default-project", fmt.Sprintf("vn-%d-%d-%d", round, w, i)},
							"parent_type": "project"}
					}
					code, out, err := post(base+"/"+typ+"s", map[string]any{typ: body})
					if err != nil {
						return // the server is gone
					}
					if code == 200 {
						o := out[typ].(map[string]any)
						addr, _ := o["instance_ip_address"].(string)
						mu.Lock()
						all = append(all, acked{typ, o["uuid"].(string), addr})
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
		p.kill()
		close(stop)
		wg.Wait()
		p = start(t, n.url()+"/", n.args("api")...)

		mu.Lock()
		acks := append([]acked(nil), all...)
		mu.Unlock()
		seen := map[string]string{}
		for _, a := range acks {
			code, out, err := get(base + "/" + a.typ + "/" + a.uuid)
			if err != nil || code != 200 {
				t.Fatalf("round %d: acknowledged %s %s lost after kill -9: %d %v", round, a.typ, a.uuid, code, err)
			}
			if a.addr != "" {
				got := out[a.typ].(map[string]any)["instance_ip_address"]
				if got != a.addr {
					t.Fatalf("round %d: %s address %v, acknowledged %s", round, a.uuid, got, a.addr)
				}
				if other, dup := seen[a.addr]; dup {
					t.Fatalf("address %s given to %s and %s", a.addr, other, a.uuid)
				}
				seen[a.addr] = a.uuid
			}
		}
		code, out, err := get(base + "/db-check")
		if err != nil || code != 200 {
			t.Fatalf("db-check: %d %v", code, err)
		}
		if probs := out["problems"].([]any); len(probs) != 0 {
			t.Fatalf("round %d: store inconsistent after kill -9: %v", round, probs)
		}
		t.Logf("round %d: %d acknowledged writes survived, store consistent", round, len(acks))
	}
	if err := p.stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
}
