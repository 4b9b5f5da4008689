// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/contrail-go/contrail/internal/testutil/etcdtest"
)

// twoServers starts two API servers on one etcd; the second one uses its
// own etcd client, as another process would, and finds the defaults made
// by the first.
func twoServers(t *testing.T) (*testServer, *testServer) {
	t.Helper()
	st := etcdtest.Start(t)
	a := startServer(t, st, Config{})
	b := startServer(t, etcdtest.Connect(t, st), Config{SkipDefaults: true})
	return a, b
}

// synced waits until both servers' caches hold every committed write.
func synced(t *testing.T, servers ...*testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.srv.WaitSynced(ctx); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
}

type result struct {
	code int
	out  map[string]any
}

// parallel runs n calls, call i on servers[i%len(servers)], all released
// at once, and returns their results in order.
func parallel(n int, servers []*testServer, call func(i int, ts *testServer) result) []result {
	res := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res[i] = call(i, servers[i%len(servers)])
		}()
	}
	close(start)
	wg.Wait()
	return res
}

// doSafe is ts.do for goroutines other than the test's: it reports a
// transport error or an answer that is not JSON as code 0 instead of
// failing the test from another goroutine.
func (ts *testServer) doSafe(method, path string, body any) (int, map[string]any) {
	buf, _ := json.Marshal(body)
	if s, ok := body.(string); ok {
		buf = []byte(s)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		return 0, map[string]any{"error": map[string]any{"message": err.Error()}}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, map[string]any{"error": map[string]any{"message": err.Error()}}
	}
	defer resp.Body.Close()
	var out map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil && err != io.EOF {
		return 0, map[string]any{"error": map[string]any{"message": "answer is not JSON: " + err.Error()}}
	}
	return resp.StatusCode, out
}

// post is a POST by doSafe.
func (ts *testServer) post(path string, body any) result {
	code, out := ts.doSafe("POST", path, body)
	return result{code, out}
}

func TestRaceSameFQName(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	servers := []*testServer{a, b}
	res := parallel(20, servers, func(i int, ts *testServer) result {
		body := vnBody("contested", fmt.Sprintf("10.%d.0.0", i), 24)
		return ts.post("/virtual-networks", map[string]any{"virtual-network": body})
	})
	wins := 0
	var winner string
	for i, r := range res {
		switch r.code {
		case 200:
			wins++
			winner = dig(r.out, "virtual-network", "uuid").(string)
		case 409:
			if errField(r.out) != "fq_name" {
				t.Errorf("call %d: 409 with field %q: %v", i, errField(r.out), r.out)
			}
		default:
			t.Errorf("call %d: %d %v", i, r.code, r.out)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates of one fq_name succeeded", wins)
	}
	synced(t, a, b)
	for _, ts := range servers {
		got := uuidsOf(t, "virtual-network", ts.list("virtual-network", "?fq_names=default-domain:default-project:contested"))
		if len(got) != 1 || got[0] != winner {
			t.Errorf("server %s lists %v, want [%s]", ts.base, got, winner)
		}
		if n := len(ts.list("routing-instance", "?parent_id="+winner)); n != 1 {
			t.Errorf("server %s: %d routing instances of the winner", ts.base, n)
		}
	}
	if n := keyCount(t, a.st, "id/virtual-network/"); n != 5 {
		t.Errorf("%d network id keys, want 5 (4 defaults + the winner): losers leaked ids", n)
	}
	// The same with one client-chosen uuid and different names.
	id := uuid.NewString()
	res = parallel(10, servers, func(i int, ts *testServer) result {
		return ts.post("/network-ipams", map[string]any{"network-ipam": map[string]any{
			"fq_name": projFQ(fmt.Sprint("ipam-", i)), "parent_type": "project", "uuid": id}})
	})
	wins = 0
	for i, r := range res {
		if r.code == 200 {
			wins++
		} else if r.code != 409 || errField(r.out) != "uuid" {
			t.Errorf("uuid race call %d: %d %v", i, r.code, r.out)
		}
	}
	if wins != 1 {
		t.Errorf("%d creates with one uuid succeeded", wins)
	}
	checkConsistency(t, a.st)
}

func TestRaceAddressExhaustion(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	servers := []*testServer{a, b}
	vn := a.mustCreate("virtual-network", subnetVN("tiny", "10.9.0.0", 29, nil))
	// A /29 has 8 addresses; network .0, broadcast .7, gateway .6 and DNS .5
	// are reserved, so .1 to .4 can be allocated.
	p := netip.MustParsePrefix("10.9.0.0/29")
	usable := 0
	for x := p.Addr(); p.Contains(x); x = x.Next() {
		if s := x.String(); s != "10.9.0.0" && s != "10.9.0.7" && s != "10.9.0.6" && s != "10.9.0.5" {
			usable++
		}
	}
	if usable != 4 {
		t.Fatalf("usable = %d", usable)
	}
	res := parallel(20, servers, func(i int, ts *testServer) result {
		return ts.post("/instance-ips", map[string]any{"instance-ip": iipBody(fmt.Sprint("r", i), vn, "")})
	})
	var ids []string
	addrs := map[string]bool{}
	for i, r := range res {
		switch r.code {
		case 200:
			ids = append(ids, dig(r.out, "instance-ip", "uuid").(string))
			addr, _ := dig(r.out, "instance-ip", "instance_ip_address").(string)
			if addrs[addr] {
				t.Errorf("address %s handed out twice", addr)
			}
			addrs[addr] = true
			if a, err := netip.ParseAddr(addr); err != nil || !p.Contains(a) || a.As4()[3] < 1 || a.As4()[3] > 4 {
				t.Errorf("address %q is not usable in %s", addr, p)
			}
		case 409:
			if errField(r.out) != "instance_ip_address" || !strings.Contains(errMessage(r.out["error"].(map[string]any)), "exhausted") {
				t.Errorf("call %d: unclear refusal %v", i, r.out)
			}
		default:
			t.Errorf("call %d: %d %v", i, r.code, r.out)
		}
	}
	if len(ids) != usable {
		t.Errorf("%d instance-ips created in a /29, want %d", len(ids), usable)
	}
	synced(t, a, b)
	for _, ts := range servers {
		if n := ts.count("instance-ip"); n != len(ids) {
			t.Errorf("server %s counts %d instance-ips, want %d", ts.base, n, len(ids))
		}
	}
	if n := keyCount(t, a.st, "ip/"); n != int64(len(ids)) {
		t.Errorf("%d address keys for %d instance-ips", n, len(ids))
	}
	checkConsistency(t, a.st)
	// Delete them concurrently too, then the network.
	del := parallel(len(ids), servers, func(i int, ts *testServer) result {
		code, out := ts.doSafe("DELETE", "/instance-ip/"+ids[i], nil)
		return result{code, out}
	})
	for i, r := range del {
		if r.code != 200 {
			t.Errorf("delete %d: %d %v", i, r.code, r.out)
		}
	}
	if n := keyCount(t, a.st, "ip/"); n != 0 {
		t.Errorf("%d address keys leaked after deleting every instance-ip", n)
	}
	b.mustDelete("virtual-network", vn)
	if n := keyCount(t, a.st, "ip/"); n != 0 {
		t.Errorf("%d address keys after deleting the network", n)
	}
	checkConsistency(t, a.st)
}

func TestRaceNetworkIDs(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	servers := []*testServer{a, b}
	res := parallel(20, servers, func(i int, ts *testServer) result {
		return ts.post("/virtual-networks", map[string]any{"virtual-network": vnBody(fmt.Sprint("idnet", i), fmt.Sprintf("10.%d.0.0", i), 24)})
	})
	ids := map[int64]string{}
	for i, r := range res {
		if r.code != 200 {
			t.Errorf("create %d: %d %v", i, r.code, r.out)
			continue
		}
		id := num(t, dig(r.out, "virtual-network", "virtual_network_network_id"))
		if other, dup := ids[id]; dup {
			t.Errorf("network id %d given to %s and %v", id, other, dig(r.out, "virtual-network", "uuid"))
		}
		ids[id] = dig(r.out, "virtual-network", "uuid").(string)
	}
	synced(t, a, b)
	// What the servers show agrees with what the creates answered.
	for _, ts := range servers {
		for _, e := range ts.list("virtual-network", "?detail=true&fields=virtual_network_network_id") {
			vn := e.(map[string]any)["virtual-network"].(map[string]any)
			id := num(t, vn["virtual_network_network_id"])
			if u, ok := ids[id]; ok && u != vn["uuid"] {
				t.Errorf("server %s: id %d is on %v, the create answered %s", ts.base, id, vn["uuid"], u)
			}
		}
	}
	// Security group ids likewise.
	res = parallel(10, servers, func(i int, ts *testServer) result {
		return ts.post("/security-groups", map[string]any{"security-group": map[string]any{"fq_name": projFQ(fmt.Sprint("sg", i)), "parent_type": "project"}})
	})
	sgIDs := map[int64]bool{}
	for i, r := range res {
		if r.code != 200 {
			t.Errorf("sg create %d: %d %v", i, r.code, r.out)
			continue
		}
		u := dig(r.out, "security-group", "uuid").(string)
		id := num(t, b.mustGet("security-group", u)["security_group_id"])
		if sgIDs[id] || id < 8000000 {
			t.Errorf("security group id %d reused or out of range", id)
		}
		sgIDs[id] = true
	}
	checkConsistency(t, a.st)
}

// TestRaceMixedWorkload runs creates, updates, ref changes, address
// allocations and deletes on both servers at once, including operations
// that conflict with each other, and then checks that the indexes in etcd
// match the objects exactly.
func TestRaceMixedWorkload(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	servers := []*testServer{a, b}
	const workers = 8
	ipamA := a.mustCreate("network-ipam", map[string]any{"fq_name": projFQ("mix-ipam-a"), "parent_type": "project"})
	ipamB := b.mustCreate("network-ipam", map[string]any{"fq_name": projFQ("mix-ipam-b"), "parent_type": "project"})
	shared := a.mustCreate("virtual-network", subnetVN("mix-shared", "10.200.0.0", 24, nil))
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Sprintf(format, args...):
		default:
		}
	}
	ok := func(r result, allowed ...int) bool {
		if r.code == 200 {
			return true
		}
		for _, c := range allowed {
			if r.code == c {
				return false
			}
		}
		report("unexpected %d %v", r.code, r.out)
		return false
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := servers[w%2]
			other := servers[(w+1)%2]
			for i := range 4 {
				name := fmt.Sprintf("mix-%d-%d", w, i)
				r := ts.post("/virtual-networks", map[string]any{"virtual-network": subnetVN(name, fmt.Sprintf("10.%d.%d.0", w, i), 24, nil)})
				if !ok(r) {
					continue
				}
				vn := dig(r.out, "virtual-network", "uuid").(string)
				// An instance-ip on this network from the other server, one on the shared network.
				r = other.post("/instance-ips", map[string]any{"instance-ip": iipBody(name+"-ip", vn, "")})
				ok(r)
				iip, _ := dig(r.out, "instance-ip", "uuid").(string)
				r2 := ts.post("/instance-ips", map[string]any{"instance-ip": iipBody(name+"-sip", shared, "")})
				ok(r2, 409)
				// An interface referring to the network and a security group.
				sg := ts.post("/security-groups", map[string]any{"security-group": map[string]any{"fq_name": projFQ(name + "-sg"), "parent_type": "project"}})
				ok(sg)
				sgID, _ := dig(sg.out, "security-group", "uuid").(string)
				vmi := other.post("/virtual-machine-interfaces", map[string]any{"virtual-machine-interface": map[string]any{
					"fq_name": projFQ(name + "-vmi"), "parent_type": "project",
					"virtual_network_refs": []any{map[string]any{"uuid": vn}},
					"security_group_refs":  []any{map[string]any{"uuid": sgID}}}})
				ok(vmi)
				vmiID, _ := dig(vmi.out, "virtual-machine-interface", "uuid").(string)
				// Switch the network's IPAM refs around from both sides at once.
				var pw sync.WaitGroup
				for k, s := range servers {
					pw.Add(1)
					go func() {
						defer pw.Done()
						ipam := []string{ipamA, ipamB}[k]
						code, out := s.doSafe("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{
							"network_ipam_refs": []any{
								map[string]any{"to": projFQ(defIPAM), "attr": dig(subnetVN(name, fmt.Sprintf("10.%d.%d.0", w, i), 24, nil), "network_ipam_refs", 0, "attr")},
								map[string]any{"uuid": ipam},
							}}})
						ok(result{code, out})
					}()
				}
				pw.Wait()
				// ip-alloc and ip-free on the shared network.
				al := other.post("/virtual-network/"+shared+"/ip-alloc", map[string]any{"count": 1})
				if ok(al, 409) {
					ok(ts.post("/virtual-network/"+shared+"/ip-free", map[string]any{"ip_addr": al.out["ip_addr"]}))
				}
				// Relax the SG ref and delete the SG while the other server
				// deletes the network (which must fail: refs remain).
				ok(ts.post("/ref-relax-for-delete", map[string]any{"uuid": vmiID, "ref-uuid": sgID}))
				var dw sync.WaitGroup
				dw.Add(2)
				go func() {
					defer dw.Done()
					code, out := ts.doSafe("DELETE", "/security-group/"+sgID, nil)
					ok(result{code, out})
				}()
				go func() {
					defer dw.Done()
					code, out := other.doSafe("DELETE", "/virtual-network/"+vn, nil)
					if code != 409 {
						report("delete of a referred network: %d %v", code, out)
					}
				}()
				dw.Wait()
				if i%2 == 0 {
					// Tear everything down again, half from each side.
					code, out := other.doSafe("DELETE", "/virtual-machine-interface/"+vmiID, nil)
					ok(result{code, out})
					code, out = ts.doSafe("DELETE", "/instance-ip/"+iip, nil)
					ok(result{code, out})
					code, out = other.doSafe("DELETE", "/virtual-network/"+vn, nil)
					ok(result{code, out})
				}
				if id, _ := dig(r2.out, "instance-ip", "uuid").(string); id != "" && i%2 == 1 {
					code, out := other.doSafe("DELETE", "/instance-ip/"+id, nil)
					ok(result{code, out})
				}
			}
		}()
	}
	// Meanwhile, a network created and deleted in a loop while the other
	// server tries to refer to it: each ref either lands (and blocks the
	// delete) or is refused.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 6 {
			r := a.post("/virtual-networks", map[string]any{"virtual-network": vnBody(fmt.Sprint("flicker", i), "10.250.0.0", 24)})
			if !ok(r) {
				continue
			}
			vn := dig(r.out, "virtual-network", "uuid").(string)
			var fw sync.WaitGroup
			fw.Add(2)
			var vmiRes result
			go func() {
				defer fw.Done()
				vmiRes = b.post("/virtual-machine-interfaces", map[string]any{"virtual-machine-interface": map[string]any{
					"fq_name": projFQ(fmt.Sprint("flicker-vmi", i)), "parent_type": "project",
					"virtual_network_refs": []any{map[string]any{"uuid": vn}}}})
			}()
			var delCode int
			go func() {
				defer fw.Done()
				delCode, _ = a.doSafe("DELETE", "/virtual-network/"+vn, nil)
			}()
			fw.Wait()
			switch {
			case vmiRes.code == 200 && delCode == 409:
			case vmiRes.code == 404 && delCode == 200:
			default:
				report("flicker %d: interface create %d %v, network delete %d", i, vmiRes.code, vmiRes.out, delCode)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	synced(t, a, b)
	checkConsistency(t, a.st)
	// Both caches agree with the store.
	for _, typ := range []string{"virtual-network", "instance-ip", "virtual-machine-interface", "security-group", "routing-instance"} {
		resp, err := a.st.Client.Get(context.Background(), a.st.Keys.ObjectsOf(typ), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range servers {
			if n := ts.count(typ); int64(n) != resp.Count {
				t.Errorf("server %s counts %d %s, the store has %d", ts.base, n, typ, resp.Count)
			}
		}
	}
}

// TestCrossServerSequential plays a client that talks to two servers in
// turn (as behind a load balancer): every request follows the completion
// of the previous one, so each must see the other server's writes. A cache
// that lags the store must not turn into a wrong answer.
func TestCrossServerSequential(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	vn := a.mustCreate("virtual-network", subnetVN("seq-net", "10.3.0.0", 16, nil))
	must := func(what string, code int, out map[string]any) {
		t.Helper()
		if code != 200 {
			t.Errorf("%s: %d %v", what, code, out)
		}
	}
	for i := range 15 {
		// A name freed on one server is free on the other.
		id := a.mustCreate("network-ipam", map[string]any{"fq_name": projFQ(fmt.Sprint("seq-ipam", i)), "parent_type": "project"})
		a.mustDelete("network-ipam", id)
		code, out := b.do("POST", "/network-ipams", map[string]any{"network-ipam": map[string]any{"fq_name": projFQ(fmt.Sprint("seq-ipam", i)), "parent_type": "project"}})
		must("create of a name deleted on the other server", code, out)

		// A reference dropped on one server no longer blocks on the other.
		sg := a.mustCreate("security-group", map[string]any{"fq_name": projFQ(fmt.Sprint("seq-sg", i)), "parent_type": "project"})
		vmi := a.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ(fmt.Sprint("seq-vmi", i)), "parent_type": "project",
			"virtual_network_refs": []any{map[string]any{"uuid": vn}}, "security_group_refs": []any{map[string]any{"uuid": sg}}})
		a.mustDelete("virtual-machine-interface", vmi)
		code, out = b.do("DELETE", "/security-group/"+sg, nil)
		must("delete of an object unreferenced on the other server", code, out)

		// A child deleted on one server no longer blocks its parent on the other.
		p := a.mustCreate("project", map[string]any{"fq_name": []string{defDomain, fmt.Sprint("seq-p", i)}, "parent_type": "domain"})
		c := a.mustCreate("network-ipam", map[string]any{"fq_name": []string{defDomain, fmt.Sprint("seq-p", i), "c"}, "parent_type": "project"})
		a.mustDelete("network-ipam", c)
		code, out = b.do("DELETE", "/project/"+p, nil)
		must("delete of a parent whose child went on the other server", code, out)

		// An address freed on one server can be taken explicitly on the other.
		addr := fmt.Sprintf("10.3.1.%d", i+1)
		iip := a.mustCreate("instance-ip", iipBody(fmt.Sprint("seq-ip", i), vn, addr))
		a.mustDelete("instance-ip", iip)
		code, out = b.do("POST", "/instance-ips", map[string]any{"instance-ip": iipBody(fmt.Sprint("seq-ip", i), vn, addr)})
		must("explicit address freed on the other server", code, out)

		// Objects made on one server are usable by actions on the other.
		sg2 := a.mustCreate("security-group", map[string]any{"fq_name": projFQ(fmt.Sprint("seq-sg2-", i)), "parent_type": "project"})
		code, out = b.do("POST", "/id-to-fqname", map[string]any{"uuid": sg2})
		must("id-to-fqname", code, out)
		code, out = b.do("POST", "/chown", map[string]any{"uuid": sg2, "owner": "someone"})
		must("chown", code, out)
		code, out = b.do("GET", "/prop-collection-get?uuid="+sg2+"&fields=annotations", nil)
		must("prop-collection-get", code, out)
		code, out = b.do("POST", "/prop-collection-update", map[string]any{"uuid": sg2, "updates": []any{
			map[string]any{"field": "annotations", "operation": "add", "value": map[string]any{"key": "k", "value": "v"}}}})
		must("prop-collection-update", code, out)
		vmi2 := a.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ(fmt.Sprint("seq-vmi2-", i)), "parent_type": "project",
			"virtual_network_refs": []any{map[string]any{"uuid": vn}}})
		sg3 := a.mustCreate("security-group", map[string]any{"fq_name": projFQ(fmt.Sprint("seq-sg3-", i)), "parent_type": "project"})
		code, out = b.do("POST", "/ref-update", map[string]any{"type": "virtual-machine-interface", "uuid": vmi2,
			"ref-type": "security-group", "ref-uuid": sg3, "operation": "ADD"})
		must("ref-update", code, out)
		sg4 := a.mustCreate("security-group", map[string]any{"fq_name": projFQ(fmt.Sprint("seq-sg4-", i)), "parent_type": "project"})
		a.mustDo("POST", "/ref-update", map[string]any{"type": "virtual-machine-interface", "uuid": vmi2,
			"ref-type": "security-group", "ref-uuid": sg4, "operation": "ADD"})
		code, out = b.do("POST", "/ref-relax-for-delete", map[string]any{"uuid": vmi2, "ref-uuid": sg4})
		must("ref-relax-for-delete", code, out)
		tag := a.mustCreate("tag", map[string]any{"fq_name": projFQ(fmt.Sprint("label=seq", i)), "parent_type": "project",
			"tag_type_name": "label", "tag_value": fmt.Sprint("seq", i)})
		code, out = b.do("POST", "/set-tag", map[string]any{"obj_type": "virtual-machine-interface", "obj_uuid": vmi2,
			"label": map[string]any{"value": fmt.Sprint("seq", i)}})
		must("set-tag", code, out)
		_ = tag
		vn2 := a.mustCreate("virtual-network", subnetVN(fmt.Sprint("seq-net", i), fmt.Sprintf("10.4.%d.0", i), 24, nil))
		code, out = b.do("POST", "/virtual-network/"+vn2+"/ip-alloc", map[string]any{"count": 1})
		must("ip-alloc", code, out)
		code, out = b.do("POST", "/virtual-network/"+vn2+"/subnet-ip-count", map[string]any{"subnet_list": []string{fmt.Sprintf("10.4.%d.0/24", i)}})
		must("subnet-ip-count", code, out)
		code, out = b.do("GET", "/obj-perms?uuid="+vn2, nil)
		must("obj-perms", code, out)
	}
	synced(t, a, b)
	checkConsistency(t, a.st)
}

// TestRaceNoLostUpdates has both servers change one object at once, each
// request a different part of it: no change may be lost, and limits that
// span objects (quota) hold.
func TestRaceNoLostUpdates(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	servers := []*testServer{a, b}
	vn := a.mustCreate("virtual-network", vnBody("lost", "10.1.0.0", 24))
	vmi := a.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("lost-vmi"), "parent_type": "project",
		"virtual_network_refs": []any{map[string]any{"uuid": vn}}})
	var sgs []string
	for i := range 10 {
		sgs = append(sgs, a.mustCreate("security-group", map[string]any{"fq_name": projFQ(fmt.Sprint("lost-sg", i)), "parent_type": "project"}))
	}
	// Map entries, refs and a plain property, all on one object at once.
	res := parallel(30, servers, func(i int, ts *testServer) result {
		switch i % 3 {
		case 0:
			return ts.post("/prop-collection-update", map[string]any{"uuid": vmi, "updates": []any{map[string]any{
				"field": "annotations", "operation": "add", "value": map[string]any{"key": fmt.Sprint("k", i), "value": "v"}}}})
		case 1:
			return ts.post("/ref-update", map[string]any{"type": "virtual-machine-interface", "uuid": vmi,
				"ref-type": "security-group", "ref-uuid": sgs[i/3], "operation": "ADD"})
		default:
			return ts.post("/prop-collection-update", map[string]any{"uuid": vmi, "updates": []any{map[string]any{
				"field": "virtual_machine_interface_bindings", "operation": "add", "value": map[string]any{"key": fmt.Sprint("b", i), "value": "v"}}}})
		}
	})
	for i, r := range res {
		if r.code != 200 {
			t.Errorf("call %d: %d %v", i, r.code, r.out)
		}
	}
	synced(t, a, b)
	for _, ts := range servers {
		got := ts.mustGet("virtual-machine-interface", vmi)
		if n := len(linkUUIDs(got["security_group_refs"])); n != 10 {
			t.Errorf("server %s: %d security group refs, want 10", ts.base, n)
		}
		if l, _ := dig(got, "annotations", "key_value_pair").([]any); len(l) != 10 {
			t.Errorf("server %s: %d annotations, want 10", ts.base, len(l))
		}
		if l, _ := dig(got, "virtual_machine_interface_bindings", "key_value_pair").([]any); len(l) != 10 {
			t.Errorf("server %s: %d bindings, want 10", ts.base, len(l))
		}
		for _, sg := range sgs {
			if br := linkUUIDs(ts.mustGet("security-group", sg)["virtual_machine_interface_back_refs"]); len(br) != 1 {
				t.Errorf("server %s: sg %s back-refs %v", ts.base, sg, br)
			}
		}
	}

	// Quota across servers.
	pq := []string{defDomain, "race-quota"}
	a.mustCreate("project", map[string]any{"fq_name": pq, "parent_type": "domain", "quota": map[string]any{"virtual_network": 3}})
	res = parallel(12, servers, func(i int, ts *testServer) result {
		return ts.post("/virtual-networks", map[string]any{"virtual-network": map[string]any{
			"fq_name": append(append([]string(nil), pq...), fmt.Sprint("q", i)), "parent_type": "project"}})
	})
	wins := 0
	for i, r := range res {
		switch r.code {
		case 200:
			wins++
		case 412:
		default:
			t.Errorf("quota call %d: %d %v", i, r.code, r.out)
		}
	}
	if wins != 3 {
		t.Errorf("%d networks created under a quota of 3", wins)
	}

	// Deleting one object from everywhere at once: one delete wins.
	delSG := a.mustCreate("security-group", map[string]any{"fq_name": projFQ("race-del-sg"), "parent_type": "project"})
	res = parallel(8, servers, func(i int, ts *testServer) result {
		code, out := ts.doSafe("DELETE", "/security-group/"+delSG, nil)
		return result{code, out}
	})
	wins = 0
	for i, r := range res {
		switch r.code {
		case 200:
			wins++
		case 404:
		default:
			t.Errorf("delete call %d: %d %v", i, r.code, r.out)
		}
	}
	if wins != 1 {
		t.Errorf("%d deletes of one object succeeded", wins)
	}

	// A child created while its parent is deleted on the other server.
	for i := range 6 {
		p := a.mustCreate("project", map[string]any{"fq_name": []string{defDomain, fmt.Sprint("race-parent", i)}, "parent_type": "domain"})
		res = parallel(2, servers, func(j int, ts *testServer) result {
			if j == 0 {
				code, out := ts.doSafe("DELETE", "/project/"+p, nil)
				return result{code, out}
			}
			return ts.post("/network-ipams", map[string]any{"network-ipam": map[string]any{
				"fq_name": []string{defDomain, fmt.Sprint("race-parent", i), "child"}, "parent_type": "project"}})
		})
		del, child := res[0], res[1]
		if !(del.code == 200 && child.code == 400 && errField(child.out) == "parent_type" || del.code == 409 && child.code == 200) {
			t.Errorf("parent delete %d %v / child create %d %v", del.code, del.out, child.code, child.out)
		}
	}
	checkConsistency(t, a.st)
}

// TestRaceSubnetRemovalVsAllocation removes a subnet on one server while
// the other allocates in it: either the removal is refused (the address
// landed first) or the allocation is (the subnet went first), never both
// succeed.
func TestRaceSubnetRemovalVsAllocation(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	servers := []*testServer{a, b}
	for i := range 12 {
		name := fmt.Sprint("shrink", i)
		body := subnetVN(name, fmt.Sprintf("10.%d.1.0", 100+i), 24, nil)
		attr := dig(body, "network_ipam_refs", 0, "attr").(map[string]any)
		attr["ipam_subnets"] = append(attr["ipam_subnets"].([]any),
			map[string]any{"subnet": map[string]any{"ip_prefix": fmt.Sprintf("10.%d.2.0", 100+i), "ip_prefix_len": 24}})
		vn := a.mustCreate("virtual-network", body)
		second, _ := dig(a.mustGet("virtual-network", vn), "network_ipam_refs", 0, "attr", "ipam_subnets", 1, "subnet_uuid").(string)
		synced(t, a, b)
		res := parallel(2, []*testServer{servers[i%2], servers[(i+1)%2]}, func(j int, ts *testServer) result {
			if j == 0 {
				code, out := ts.doSafe("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{
					"network_ipam_refs": subnetVN(name, fmt.Sprintf("10.%d.1.0", 100+i), 24, nil)["network_ipam_refs"]}})
				return result{code, out}
			}
			b := iipBody(name+"-ip", vn, "")
			b["subnet_uuid"] = second
			return ts.post("/instance-ips", map[string]any{"instance-ip": b})
		})
		put, iip := res[0], res[1]
		switch {
		case put.code == 409 && iip.code == 200:
		case put.code == 200 && (iip.code == 400 || iip.code == 409):
		default:
			t.Errorf("round %d: subnet removal %d %v, allocation in it %d %v", i, put.code, put.out, iip.code, iip.out)
		}
	}
	synced(t, a, b)
	// Every instance-ip's address lies in a subnet of its network.
	for _, e := range a.list("instance-ip", "?detail=true") {
		iip := e.(map[string]any)["instance-ip"].(map[string]any)
		vn := a.mustGet("virtual-network", dig(iip, "virtual_network_refs", 0, "uuid").(string))
		found := false
		for _, sn := range dig(vn, "network_ipam_refs", 0, "attr", "ipam_subnets").([]any) {
			if dig(sn, "subnet_uuid") == iip["subnet_uuid"] {
				found = true
			}
		}
		if !found {
			t.Errorf("instance-ip %v holds %v in subnet %v, which network %v no longer has", iip["uuid"], iip["instance_ip_address"], iip["subnet_uuid"], vn["uuid"])
		}
	}
	checkConsistency(t, a.st)
}

// TestRaceHotObject has many writers add a ref to one object at once, as
// an orchestrator does when it starts VMs on one compute host (each VM
// becomes a ref of the host's virtual-router): every write succeeds, none
// is lost, however many lose the first races.
func TestRaceHotObject(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	servers := []*testServer{a, b}
	vr := a.mustCreate("virtual-router", map[string]any{"fq_name": []string{"default-global-system-config", "hot-vr"},
		"parent_type": "global-system-config", "virtual_router_ip_address": "192.0.2.1"})
	const n = 200
	vms := make([]string, n)
	for i := range vms {
		vms[i] = a.mustCreate("virtual-machine", map[string]any{"fq_name": []string{fmt.Sprint("hot-vm-", i)}})
	}
	res := parallel(n, servers, func(i int, ts *testServer) result {
		return ts.post("/ref-update", map[string]any{"type": "virtual-router", "uuid": vr,
			"ref-type": "virtual-machine", "ref-uuid": vms[i], "operation": "ADD"})
	})
	for i, r := range res {
		if r.code != 200 {
			t.Errorf("ref-update %d: %d %v", i, r.code, r.out)
		}
	}
	synced(t, a, b)
	for _, ts := range servers {
		if got := linkUUIDs(ts.mustGet("virtual-router", vr)["virtual_machine_refs"]); len(got) != n {
			t.Errorf("server %s: %d virtual-machine refs, want %d", ts.base, len(got), n)
		}
	}
}
