// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// uveModules returns the module_id of every process_status of the
// NodeStatus UVE at url (flat), sorted.
func uveModules(url string) ([]string, error) {
	code, body, err := get(url)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("GET %s: %d", url, code)
	}
	ns, _ := body["NodeStatus"].(map[string]any)
	list, _ := ns["process_status"].([]any)
	var mods []string
	for _, ps := range list {
		m, _ := ps.(map[string]any)
		if id, ok := m["module_id"].(string); ok {
			mods = append(mods, id)
		}
	}
	sort.Strings(mods)
	return mods, nil
}

// waitModules polls until the NodeStatus UVE at url names every module.
func waitModules(t *testing.T, url string, want ...string) {
	t.Helper()
	var got []string
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got, err = uveModules(url)
		if err == nil && containsAll(got, want) {
			return
		}
	}
	t.Fatalf("NodeStatus at %s: modules %v (err %v), want %v", url, got, err, want)
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// TestAllInOneAnalytics: every daemon of all-in-one reports its NodeStatus
// to the embedded collector, the analytics API serves them, and the
// daemons' logs are queryable in MessageTable.
func TestAllInOneAnalytics(t *testing.T) {
	n := newNode(t)
	args := append(n.args("all-in-one"), "--log-level", "info", "--bgp-listen", "none")
	start(t, n.url()+"/", args...)
	an := "http://127.0.0.1:" + strconv.Itoa(n.analytics)
	host := hostnameT(t)

	waitModules(t, an+"/analytics/uves/config-node/"+host+"?flat", "contrail-api", "contrail-schema")
	waitModules(t, an+"/analytics/uves/control-node/"+host+"?flat", "contrail-control")
	waitModules(t, an+"/analytics/uves/analytics-node/"+host+"?flat", "contrail-analytics-api", "contrail-collector")
	// The query engine is on the analytics database node, as in later
	// releases of the original.
	waitModules(t, an+"/analytics/uves/database-node/"+host+"?flat", "contrail-query-engine")

	// The control node's own UVE and a virtual network's config UVE.
	code, bgp, err := get(an + "/analytics/uves/control-node/" + host + "?flat&cfilt=BgpRouterState")
	if err != nil || code != 200 {
		t.Fatalf("BgpRouterState: %d %v", code, err)
	}
	st, _ := bgp["BgpRouterState"].(map[string]any)
	if ri, _ := st["num_routing_instance"].(float64); ri < 1 {
		t.Fatalf("BgpRouterState without routing instances: %v", bgp)
	}
	vn := "default-domain:default-project:default-virtual-network"
	var vnUVE map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, vnUVE, err = get(an + "/analytics/uves/virtual-network/" + vn + "?flat"); err == nil && code == 200 && vnUVE["UveVirtualNetworkConfig"] != nil {
			break
		}
	}
	cfg, _ := vnUVE["UveVirtualNetworkConfig"].(map[string]any)
	if ris, _ := cfg["routing_instance_list"].([]any); len(ris) == 0 {
		t.Fatalf("virtual-network UVE: %v", vnUVE)
	}

	// Logs of the API server in MessageTable.
	q := map[string]any{
		"table": "MessageTable", "start_time": "now-10m", "end_time": "now",
		"select_fields": []string{"MessageTS", "ModuleId", "Messagetype", "Level", "Xmlmessage"},
		"where":         [][]map[string]any{{{"name": "ModuleId", "value": "contrail-api", "op": 1}, {"name": "Messagetype", "value": "SlogMessage", "op": 1}}},
		"limit":         50,
	}
	var rows []any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		code, out, err := post(an+"/analytics/query", q)
		if err != nil || code != 200 {
			t.Fatalf("query: %d %v %v", code, out, err)
		}
		if rows, _ = out["value"].([]any); len(rows) > 0 {
			break
		}
	}
	if len(rows) == 0 {
		t.Fatal("no log of contrail-api in MessageTable")
	}
	if msg, _ := rows[0].(map[string]any)["Xmlmessage"].(string); !strings.Contains(msg, "SlogMessage") {
		t.Fatalf("MessageTable row: %v", rows[0])
	}

	// An alarm rule created through the config API is evaluated over the
	// UVEs: no agent is connected, so the control node raises it.
	code, out, err := post(n.url()+"/alarms", map[string]any{"alarm": map[string]any{
		"fq_name": []string{"default-global-system-config", "no-agent"}, "parent_type": "global-system-config",
		"uve_keys": map[string]any{"uve_key": []string{"control-node"}}, "alarm_severity": 1,
		"alarm_rules": map[string]any{"or_list": []any{map[string]any{"and_list": []any{map[string]any{
			"operand1": "BgpRouterState.num_up_xmpp_peer", "operation": "==",
			"operand2": map[string]any{"json_value": "0"}}}}}},
	}})
	if err != nil || code != 200 {
		t.Fatalf("create alarm: %d %v %v", code, out, err)
	}
	var raised []any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && len(raised) == 0; time.Sleep(200 * time.Millisecond) {
		if _, all, err := get(an + "/analytics/alarms"); err == nil {
			raised, _ = all["control-node"].([]any)
		}
	}
	if len(raised) != 1 || raised[0].(map[string]any)["name"] != host {
		t.Fatalf("alarms: control-node %v", raised)
	}

	// A bad query gets a 4xx with the reason.
	code, out, _ = post(an+"/analytics/query", map[string]any{"table": "NoSuchTable", "start_time": "now-1m", "end_time": "now", "select_fields": []string{"T"}})
	if code != 404 && code != 400 {
		t.Fatalf("unknown table: %d %v", code, out)
	}
}

// TestCollectorRestartUVEsBack: daemons report to a separate collector;
// after the collector is killed and started again, their UVEs are back.
func TestCollectorRestartUVEsBack(t *testing.T) {
	dir := t.TempDir()
	col, colIntro := freePort(t), freePort(t)
	colArgs := []string{"collector", "--listen", "127.0.0.1:" + strconv.Itoa(col),
		"--introspect", "127.0.0.1:" + strconv.Itoa(colIntro),
		"--analytics-data-dir", filepath.Join(dir, "analytics"), "--log-level", "warn"}
	intro := "http://127.0.0.1:" + strconv.Itoa(colIntro)
	c := start(t, intro+"/", colArgs...)

	apiPort, anIntro := freePort(t), freePort(t)
	anArgs := []string{"analytics-api", "--listen", "127.0.0.1:" + strconv.Itoa(apiPort),
		"--introspect", "127.0.0.1:" + strconv.Itoa(anIntro), "--collector-url", intro,
		"--analytics-data-dir", filepath.Join(dir, "api-store"), "--log-level", "warn"}
	an := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	start(t, an+"/analytics", anArgs...)

	n := newNode(t)
	args := append(n.args("all-in-one"), "--no-analytics", "--collectors", "127.0.0.1:"+strconv.Itoa(col), "--bgp-listen", "none")
	start(t, n.url()+"/", args...)
	host := hostnameT(t)
	url := an + "/analytics/uves/config-node/" + host + "?flat"
	waitModules(t, url, "contrail-api", "contrail-schema")

	c.kill()
	// With the collector gone its UVEs are gone too.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url); err != nil || resp.StatusCode != 200 {
			if resp != nil {
				resp.Body.Close()
			}
			break
		} else {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("UVEs still served with the collector killed")
		}
	}
	start(t, intro+"/", colArgs...)
	// The generators reconnect (backoff up to 30 s) and resend every UVE.
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if mods, err := uveModules(url); err == nil && containsAll(mods, []string{"contrail-api", "contrail-schema"}) {
			return
		}
	}
	mods, err := uveModules(url)
	t.Fatalf("after the collector restart: modules %v, %v", mods, err)
}

func hostnameT(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sseUpdate is the data of an update event of the analytics streams.
type sseUpdate struct {
	Key   string          `json:"key"`
	Type  *string         `json:"type"`
	Value json.RawMessage `json:"value"`
}

// openSSE opens a Server-Sent Events stream and returns its update
// events; the stream ends with the test.
func openSSE(t *testing.T, url string) <-chan sseUpdate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("%s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseUpdate, 1000)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "update":
				var u sseUpdate
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &u) == nil {
					out <- u
				}
			case line == "":
				event = ""
			}
		}
	}()
	return out
}

// waitSSE reads events until one satisfies ok, failing after d.
func waitSSE(t *testing.T, ch <-chan sseUpdate, d time.Duration, what string, ok func(sseUpdate) bool) sseUpdate {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case u, open := <-ch:
			if !open {
				t.Fatalf("stream ended waiting for %s", what)
			}
			if ok(u) {
				return u
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

// TestAnalyticsStreams: the analytics API's uve-stream follows the UVEs
// of the collector, in the same process (all-in-one) and through the
// collector's change stream (analytics-api --collector-url).
func TestAnalyticsStreams(t *testing.T) {
	host := hostnameT(t)
	isNodeStatus := func(key string) func(sseUpdate) bool {
		return func(u sseUpdate) bool {
			return u.Key == key && u.Type != nil && *u.Type == "NodeStatus" && len(u.Value) > 0 && string(u.Value) != "null"
		}
	}

	t.Run("remote", func(t *testing.T) {
		dir := t.TempDir()
		col, colIntro := freePort(t), freePort(t)
		intro := "http://127.0.0.1:" + strconv.Itoa(colIntro)
		cp := start(t, intro+"/", "collector", "--listen", "127.0.0.1:"+strconv.Itoa(col),
			"--introspect", "127.0.0.1:"+strconv.Itoa(colIntro),
			"--analytics-data-dir", filepath.Join(dir, "analytics"), "--log-level", "warn")
		apiPort, anIntro := freePort(t), freePort(t)
		an := "http://127.0.0.1:" + strconv.Itoa(apiPort)
		ap := start(t, an+"/analytics", "analytics-api", "--listen", "127.0.0.1:"+strconv.Itoa(apiPort),
			"--introspect", "127.0.0.1:"+strconv.Itoa(anIntro), "--collector-url", intro,
			"--analytics-data-dir", filepath.Join(dir, "api-store"), "--log-level", "warn")

		// Opened before any generator: what follows are updates.
		events := openSSE(t, an+"/analytics/uve-stream?tablefilt=config-node")
		n := newNode(t)
		p := start(t, n.url()+"/", append(n.args("all-in-one"), "--no-analytics",
			"--collectors", "127.0.0.1:"+strconv.Itoa(col), "--bgp-listen", "none")...)
		key := "ObjectConfigNode:" + host
		waitSSE(t, events, 20*time.Second, "NodeStatus update of "+key, isNodeStatus(key))
		// The generators go: the UVE is deleted.
		p.kill()
		waitSSE(t, events, 20*time.Second, "deletion of "+key, func(u sseUpdate) bool {
			return u.Key == key && u.Type == nil && string(u.Value) == "null"
		})
		// Open streams do not hold up a clean shutdown: the API's event
		// stream, and the collector's change stream (opened here directly,
		// as the API's own goes when the API stops).
		wctx, wcancel := context.WithCancel(context.Background())
		defer wcancel()
		wreq, _ := http.NewRequestWithContext(wctx, "GET", intro+"/uve-source/watch", nil)
		wresp, err := http.DefaultClient.Do(wreq)
		if err != nil || wresp.StatusCode != 200 {
			t.Fatalf("collector change stream: %v %v", wresp, err)
		}
		defer wresp.Body.Close()
		for _, p := range []*proc{ap, cp} {
			t0 := time.Now()
			if err := p.stop(); err != nil {
				t.Fatalf("stop with a stream open: %v\n%s", err, p.out)
			}
			if d := time.Since(t0); d > 4*time.Second {
				t.Errorf("stop took %v with a stream open", d)
			}
		}
	})

	t.Run("all-in-one", func(t *testing.T) {
		n := newNode(t)
		start(t, n.url()+"/", append(n.args("all-in-one"), "--bgp-listen", "none")...)
		an := "http://127.0.0.1:" + strconv.Itoa(n.analytics)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if code, _, err := get(an + "/analytics/uve-types"); err == nil && code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("analytics API not serving")
			}
		}
		events := openSSE(t, an+"/analytics/uve-stream?tablefilt=analytics-node&cfilt=NodeStatus")
		key := "ObjectCollectorInfo:" + host
		u := waitSSE(t, events, 20*time.Second, "NodeStatus of "+key, isNodeStatus(key))
		var ns struct {
			ProcessStatus []struct {
				ModuleID string `json:"module_id"`
			} `json:"process_status"`
		}
		if err := json.Unmarshal(u.Value, &ns); err != nil || len(ns.ProcessStatus) == 0 {
			t.Fatalf("NodeStatus value %s: %v", u.Value, err)
		}
	})
}
