// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAllInOneServesAPIAndIntrospect starts `contrail all-in-one` on a
// fresh data dir and checks the default objects, the introspect pages and
// a clean shutdown on SIGTERM.
func TestAllInOneServesAPIAndIntrospect(t *testing.T) {
	n := newNode(t)
	p := start(t, n.url()+"/", n.args("all-in-one")...)
	code, out, err := post(n.url()+"/fqname-to-id", map[string]any{"type": "global-system-config", "fq_name": []string{"default-global-system-config"}})
	if err != nil || code != 200 {
		t.Fatalf("default-global-system-config: %d %v", code, err)
	}
	code, gsc, _ := get(n.url() + "/global-system-config/" + out["uuid"].(string))
	if code != 200 || gsc["global-system-config"].(map[string]any)["autonomous_system"].(float64) != 64512 {
		t.Fatalf("global system config: %d %v", code, gsc)
	}
	intro := "http://127.0.0.1:" + strconv.Itoa(n.introspect)
	for path, want := range map[string]string{
		"/":                   "/Snh_ApiServerState",
		"/healthz":            "ok",
		"/readyz":             "ok",
		"/metrics":            "contrail_api_requests_total",
		"/Snh_ApiServerState": `"virtual-network": 4`,
		"/config":             `"listen"`,
	} {
		resp, err := http.Get(intro + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("introspect %s: %d, want %q in:\n%.400s", path, resp.StatusCode, want, body)
		}
	}
	ctl := "http://127.0.0.1:" + strconv.Itoa(n.ctlIntro)
	for path, want := range map[string]string{
		"/":                           "/Snh_BgpNeighborReq",
		"/Snh_ShowRoutingInstanceReq": "default-domain:default-project:default-virtual-network:default-virtual-network",
		"/Snh_BgpNeighborReq":         "",
		"/healthz":                    "ok",
	} {
		// The control node derives its instances from the config shortly
		// after start; poll.
		var body []byte
		var code int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get(ctl + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if code = resp.StatusCode; code == 200 && strings.Contains(string(body), want) {
				break
			}
		}
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("control introspect %s: %d, want %q in:\n%.400s", path, code, want, body)
		}
	}
	if err := p.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.out)
	}
}
