// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/contrail-go/contrail/internal/ipam"
)

func TestNetworkIDs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// The first network created, default-virtual-network, has id 1.
	def := ts.mustGet("virtual-network", ts.fqID("virtual-network", projFQ("default-virtual-network")))
	if id := num(t, def["virtual_network_network_id"]); id != 1 {
		t.Errorf("default-virtual-network id = %d, want 1", id)
	}
	var created []string
	for i := range 5 {
		created = append(created, ts.mustCreate("virtual-network", vnBody(fmt.Sprintf("n%d", i), fmt.Sprintf("10.%d.0.0", i), 16)))
	}
	seen := map[int64]string{}
	for _, e := range ts.list("virtual-network", "?detail=true") {
		vn := e.(map[string]any)["virtual-network"].(map[string]any)
		id := num(t, vn["virtual_network_network_id"])
		if id < 1 || id >= 1<<24 {
			t.Errorf("%v: network id %d out of range", vn["fq_name"], id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("network id %d held by %s and %s", id, other, vn["uuid"])
		}
		seen[id] = vn["uuid"].(string)
	}
	if len(seen) != 5+4 {
		t.Errorf("%d networks with ids, want 9", len(seen))
	}
	// The create answer carries the id.
	_, out := ts.do("POST", "/virtual-networks", map[string]any{"virtual-network": vnBody("n9", "10.9.0.0", 16)})
	if id := num(t, dig(out, "virtual-network", "virtual_network_network_id")); seen[id] != "" {
		t.Errorf("new network got used id %d", id)
	}
	// Deleting a network frees its id key.
	ts.mustDelete("virtual-network", created[0])
	checkConsistency(t, ts.st)
}

func TestNetworkIDsFromOne(t *testing.T) {
	t.Parallel()
	ts := startWith(t, Config{SkipDefaults: true})
	ts.mustCreate("domain", map[string]any{"fq_name": []string{"d"}})
	ts.mustCreate("project", map[string]any{"fq_name": []string{"d", "p"}})
	for want := int64(1); want <= 3; want++ {
		id := ts.mustCreate("virtual-network", map[string]any{"fq_name": []string{"d", "p", fmt.Sprint("v", want)}})
		if got := num(t, ts.mustGet("virtual-network", id)["virtual_network_network_id"]); got != want {
			t.Errorf("network %d has id %d", want, got)
		}
	}
}

func TestSecurityGroupIDs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	noRule := ts.mustGet("security-group", ts.fqID("security-group", projFQ("__no_rule__")))
	if id := num(t, noRule["security_group_id"]); id != 8000000 {
		t.Errorf("first security group id = %d, want 8000000", id)
	}
	seen := map[int64]bool{8000000: true}
	for i := range 3 {
		id := ts.mustCreate("security-group", map[string]any{"fq_name": projFQ(fmt.Sprint("sg", i)), "parent_type": "project"})
		n := num(t, ts.mustGet("security-group", id)["security_group_id"])
		if n <= 8000000 || seen[n] {
			t.Errorf("security group id %d (seen %v)", n, seen)
		}
		seen[n] = true
	}
	// configured_security_group_id overrides the allocation.
	id := ts.mustCreate("security-group", map[string]any{"fq_name": projFQ("conf"), "parent_type": "project",
		"configured_security_group_id": 42})
	if n := num(t, ts.mustGet("security-group", id)["security_group_id"]); n != 42 {
		t.Errorf("configured id: security_group_id = %d", n)
	}
	checkConsistency(t, ts.st)
}

func TestVMIMac(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", vnBody("macnet", "10.1.0.0", 24))
	vmiUUID := "8f2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"
	id := ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("vmi1"), "parent_type": "project",
		"uuid": vmiUUID, "virtual_network_refs": []any{map[string]any{"uuid": vn}}})
	vmi := ts.mustGet("virtual-machine-interface", id)
	macs := dig(vmi, "virtual_machine_interface_mac_addresses", "mac_address").([]any)
	if len(macs) != 1 || macs[0] != "02:8f:2b:3c:4d:5e" {
		t.Errorf("mac = %v, want [02:8f:2b:3c:4d:5e]", macs)
	}
	if ipam.MACFromUUID(vmiUUID) != "02:8f:2b:3c:4d:5e" {
		t.Error("ipam.MACFromUUID disagrees")
	}
	// A given MAC is kept (normalised).
	id = ts.mustCreate("virtual-machine-interface", map[string]any{"fq_name": projFQ("vmi2"), "parent_type": "project",
		"virtual_network_refs":                    []any{map[string]any{"to": projFQ("macnet")}},
		"virtual_machine_interface_mac_addresses": map[string]any{"mac_address": []any{"00-1B-77-49-54-FD"}}})
	vmi = ts.mustGet("virtual-machine-interface", id)
	if m := dig(vmi, "virtual_machine_interface_mac_addresses", "mac_address", 0); m != "00:1b:77:49:54:fd" {
		t.Errorf("given mac = %v", m)
	}
	ts.expectErr("POST", "/virtual-machine-interfaces", map[string]any{"virtual-machine-interface": map[string]any{
		"fq_name": projFQ("vmi3"), "parent_type": "project",
		"virtual_network_refs":                    []any{map[string]any{"uuid": vn}},
		"virtual_machine_interface_mac_addresses": map[string]any{"mac_address": []any{"zz:zz"}}}},
		400, "virtual_machine_interface_mac_addresses.mac_address[0]")
	// No network: 400.
	ts.expectErr("POST", "/virtual-machine-interfaces", map[string]any{"virtual-machine-interface": map[string]any{
		"fq_name": projFQ("vmi4"), "parent_type": "project"}}, 400, "virtual_network_refs")
	ts.expectErr("POST", "/virtual-machine-interfaces", map[string]any{"virtual-machine-interface": map[string]any{
		"fq_name": projFQ("vmi4"), "parent_type": "project", "virtual_network_refs": []any{}}}, 400, "virtual_network_refs")
	// The MAC cannot change.
	ts.expectErr("PUT", "/virtual-machine-interface/"+id, map[string]any{"virtual-machine-interface": map[string]any{
		"virtual_machine_interface_mac_addresses": map[string]any{"mac_address": []any{"00:00:00:00:00:01"}}}},
		403, "virtual_machine_interface_mac_addresses")
	if n := ts.count("virtual-machine-interface"); n != 2 {
		t.Errorf("%d interfaces, want 2", n)
	}
}

func iipAddr(t *testing.T, ts *testServer, id string) string {
	t.Helper()
	a, _ := ts.mustGet("instance-ip", id)["instance_ip_address"].(string)
	return a
}

func TestInstanceIPAllocation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", subnetVN("ipnet", "10.0.0.0", 24, nil))
	subnetUUID, _ := dig(ts.mustGet("virtual-network", vn), "network_ipam_refs", 0, "attr", "ipam_subnets", 0, "subnet_uuid").(string)

	first := ts.mustCreate("instance-ip", iipBody("ip1", vn, ""))
	iip := ts.mustGet("instance-ip", first)
	if iip["instance_ip_address"] != "10.0.0.252" {
		t.Errorf("first address %v, want 10.0.0.252 (top-down)", iip["instance_ip_address"])
	}
	if iip["subnet_uuid"] != subnetUUID || iip["instance_ip_family"] != "v4" {
		t.Errorf("subnet_uuid %v (want %s) family %v", iip["subnet_uuid"], subnetUUID, iip["instance_ip_family"])
	}
	second := ts.mustCreate("instance-ip", iipBody("ip2", vn, ""))
	if a := iipAddr(t, ts, second); a != "10.0.0.251" {
		t.Errorf("second address %s, want 10.0.0.251", a)
	}
	// The create answer carries the address.
	_, out := ts.do("POST", "/instance-ips", map[string]any{"instance-ip": iipBody("ip3", vn, "10.0.0.100")})
	if a := dig(out, "instance-ip", "instance_ip_address"); a != "10.0.0.100" {
		t.Errorf("explicit address answered %v", a)
	}
	e := ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": iipBody("ip4", vn, "10.0.0.100")}, 409, "instance_ip_address")
	if !strings.Contains(errMessage(e), "10.0.0.100") {
		t.Errorf("conflict message %q", errMessage(e))
	}
	for _, bad := range []string{"10.9.9.9", "10.0.0.254", "10.0.0.253", "10.0.0.0", "10.0.0.255", "not-an-ip", "fd00::1"} {
		ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": iipBody("ip5", vn, bad)}, 400, "instance_ip_address")
	}
	// A v6 request on a v4-only network.
	b := iipBody("ip6", vn, "")
	b["instance_ip_family"] = "v6"
	ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": b}, 400, "instance_ip_address")
	// A subnet that is not the network's.
	b = iipBody("ip6", vn, "")
	b["subnet_uuid"] = uuid.NewString()
	ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": b}, 400, "subnet_uuid")
	// No network.
	ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": map[string]any{"fq_name": []string{"ip7"}}}, 400, "virtual_network_refs")
	// The address cannot change.
	ts.expectErr("PUT", "/instance-ip/"+first, map[string]any{"instance-ip": map[string]any{"instance_ip_address": "10.0.0.9"}}, 403, "instance_ip_address")
	if n := ts.count("instance-ip"); n != 3 {
		t.Errorf("%d instance-ips, want 3", n)
	}
	// A freed explicit address can be taken again.
	ts.mustDelete("instance-ip", ts.fqID("instance-ip", []string{"ip3"}))
	ts.mustCreate("instance-ip", iipBody("ip3", vn, "10.0.0.100"))

	// addr_from_start: gateway .1, DNS .2, first address .3.
	vn2 := ts.mustCreate("virtual-network", subnetVN("fromstart", "10.0.1.0", 24, map[string]any{"addr_from_start": true}))
	sn := dig(ts.mustGet("virtual-network", vn2), "network_ipam_refs", 0, "attr", "ipam_subnets", 0).(map[string]any)
	if sn["default_gateway"] != "10.0.1.1" || sn["dns_server_address"] != "10.0.1.2" {
		t.Errorf("addr_from_start gateway %v dns %v", sn["default_gateway"], sn["dns_server_address"])
	}
	p := netip.MustParsePrefix("10.0.1.0/24")
	if g := ipam.DefaultGateway(p, true); g.String() != "10.0.1.1" {
		t.Errorf("ipam.DefaultGateway = %s", g)
	}
	for _, want := range []string{"10.0.1.3", "10.0.1.4"} {
		if a := iipAddr(t, ts, ts.mustCreate("instance-ip", iipBody("fs-"+want, vn2, ""))); a != want {
			t.Errorf("addr_from_start address %s, want %s", a, want)
		}
	}
	ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": iipBody("fs-gw", vn2, "10.0.1.1")}, 400, "instance_ip_address")
	checkConsistency(t, ts.st)
}

// TestAddressReuse fills a /29 (4 usable addresses: .0 network, .7
// broadcast, .6 gateway, .5 DNS), checks exhaustion, and that a freed
// address is handed out again.
func TestAddressReuse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", subnetVN("small", "10.5.0.0", 29, nil))
	var ids []string
	var got []string
	for i := range 4 {
		id := ts.mustCreate("instance-ip", iipBody(fmt.Sprint("s", i), vn, ""))
		ids = append(ids, id)
		got = append(got, iipAddr(t, ts, id))
	}
	want := []string{"10.5.0.4", "10.5.0.3", "10.5.0.2", "10.5.0.1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("addresses %v, want %v", got, want)
	}
	e := ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": iipBody("s5", vn, "")}, 409, "instance_ip_address")
	if !strings.Contains(errMessage(e), "exhausted") {
		t.Errorf("exhaustion message %q", errMessage(e))
	}
	ts.mustDelete("instance-ip", ids[1])
	if a := iipAddr(t, ts, ts.mustCreate("instance-ip", iipBody("s6", vn, ""))); a != "10.5.0.3" {
		t.Errorf("after freeing 10.5.0.3 the next address is %s", a)
	}
	for _, id := range ids {
		if id != ids[1] {
			ts.mustDelete("instance-ip", id)
		}
	}
	ts.mustDelete("instance-ip", ts.fqID("instance-ip", []string{"s6"}))
	if n := keyCount(t, ts.st, "ip/"); n != 0 {
		t.Errorf("%d address keys left after deleting every instance-ip", n)
	}
	checkConsistency(t, ts.st)
}

func TestSubnetDefaultsAndRemoval(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", subnetVN("defs", "10.0.0.0", 24, nil))
	sn := dig(ts.mustGet("virtual-network", vn), "network_ipam_refs", 0, "attr", "ipam_subnets", 0).(map[string]any)
	if sn["default_gateway"] != "10.0.0.254" || sn["dns_server_address"] != "10.0.0.253" || sn["enable_dhcp"] != true {
		t.Errorf("subnet defaults: %v", sn)
	}
	su, _ := sn["subnet_uuid"].(string)
	if _, err := uuid.Parse(su); err != nil {
		t.Errorf("subnet_uuid %q: %v", su, err)
	}
	// A PUT that keeps the prefix keeps the subnet uuid; one that adds a
	// subnet keeps the first and gives the second its own.
	body := subnetVN("defs", "10.0.0.0", 24, nil)
	attr := dig(body, "network_ipam_refs", 0, "attr").(map[string]any)
	attr["ipam_subnets"] = append(attr["ipam_subnets"].([]any),
		map[string]any{"subnet": map[string]any{"ip_prefix": "10.0.9.0", "ip_prefix_len": 24}})
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"network_ipam_refs": body["network_ipam_refs"]}})
	subs := dig(ts.mustGet("virtual-network", vn), "network_ipam_refs", 0, "attr", "ipam_subnets").([]any)
	if len(subs) != 2 || dig(subs, 0, "subnet_uuid") != su || dig(subs, 1, "subnet_uuid") == su || dig(subs, 1, "subnet_uuid") == nil {
		t.Errorf("subnets after PUT: %v", subs)
	}
	// Overlapping subnets are refused.
	body = subnetVN("defs", "10.0.0.0", 24, nil)
	attr = dig(body, "network_ipam_refs", 0, "attr").(map[string]any)
	attr["ipam_subnets"] = append(attr["ipam_subnets"].([]any),
		map[string]any{"subnet": map[string]any{"ip_prefix": "10.0.0.128", "ip_prefix_len": 25}})
	ts.expectErr("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"network_ipam_refs": body["network_ipam_refs"]}},
		400, "network_ipam_refs[0].attr.ipam_subnets[1].subnet")

	iip := ts.mustCreate("instance-ip", iipBody("held", vn, ""))
	e := ts.expectErr("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"network_ipam_refs": []any{}}}, 409, "network_ipam_refs")
	if !strings.Contains(errMessage(e), "10.0.0.0/24") {
		t.Errorf("message %q does not name the subnet", errMessage(e))
	}
	// Nor may it change its prefix under the same subnet uuid.
	ts.expectErr("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{
		"network_ipam_refs": subnetVN("defs", "10.0.4.0", 24, map[string]any{"subnet_uuid": su})["network_ipam_refs"]}}, 409, "network_ipam_refs")
	// Removing only the other, empty subnet is fine.
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"network_ipam_refs": subnetVN("defs", "10.0.0.0", 24, nil)["network_ipam_refs"]}})
	if n := len(dig(ts.mustGet("virtual-network", vn), "network_ipam_refs", 0, "attr", "ipam_subnets").([]any)); n != 1 {
		t.Errorf("%d subnets after removing one", n)
	}
	ts.mustDelete("instance-ip", iip)
	ts.mustDo("PUT", "/virtual-network/"+vn, map[string]any{"virtual-network": map[string]any{"network_ipam_refs": []any{}}})
	checkConsistency(t, ts.st)
}

func TestFloatingIP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", subnetVN("public", "192.168.10.0", 24, nil))
	projID := ts.fqID("project", []string{defDomain, defProject})
	pool := ts.mustCreate("floating-ip-pool", map[string]any{"fq_name": append(projFQ("public"), "pool"), "parent_type": "virtual-network"})
	fipBody := func(name, addr string) map[string]any {
		b := map[string]any{"fq_name": append(projFQ("public"), "pool", name), "parent_type": "floating-ip-pool",
			"project_refs": []any{map[string]any{"uuid": projID}}}
		if addr != "" {
			b["floating_ip_address"] = addr
		}
		return b
	}
	f1 := ts.mustCreate("floating-ip", fipBody("f1", ""))
	fip := ts.mustGet("floating-ip", f1)
	if fip["floating_ip_address"] != "192.168.10.252" || fip["floating_ip_address_family"] != "v4" {
		t.Errorf("floating ip %v %v", fip["floating_ip_address"], fip["floating_ip_address_family"])
	}
	// Addresses are shared with the network's instance-ips.
	if a := iipAddr(t, ts, ts.mustCreate("instance-ip", iipBody("i1", vn, ""))); a != "192.168.10.251" {
		t.Errorf("instance-ip after a floating ip: %s", a)
	}
	ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": iipBody("i2", vn, "192.168.10.252")}, 409, "instance_ip_address")
	ts.mustCreate("floating-ip", fipBody("f2", "192.168.10.7"))
	ts.expectErr("POST", "/floating-ips", map[string]any{"floating-ip": fipBody("f3", "192.168.10.7")}, 409, "floating_ip_address")
	ts.expectErr("POST", "/floating-ips", map[string]any{"floating-ip": fipBody("f3", "10.1.1.1")}, 400, "floating_ip_address")
	ts.expectErr("PUT", "/floating-ip/"+f1, map[string]any{"floating-ip": map[string]any{"floating_ip_address": "192.168.10.8"}}, 403, "floating_ip_address")
	// Delete frees the address.
	ts.mustDelete("floating-ip", f1)
	ts.mustCreate("instance-ip", iipBody("i3", vn, "192.168.10.252"))
	// The pool and the network cannot go while they hold floating ips.
	ts.expectErr("DELETE", "/floating-ip-pool/"+pool, nil, 409, "-")
	checkConsistency(t, ts.st)
}

func TestQuota(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	pq := []string{defDomain, "quota-project"}
	ts.mustCreate("project", map[string]any{"fq_name": pq, "parent_type": "domain", "quota": map[string]any{"virtual_network": 2}})
	vn := func(n string) map[string]any {
		return map[string]any{"fq_name": append(append([]string(nil), pq...), n), "parent_type": "project"}
	}
	a := ts.mustCreate("virtual-network", vn("a"))
	ts.mustCreate("virtual-network", vn("b"))
	e := ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": vn("c")}, 412, "quota")
	if !strings.Contains(errMessage(e), "quota") {
		t.Errorf("message %q", errMessage(e))
	}
	// Other types and other projects are not limited.
	ts.mustCreate("network-ipam", map[string]any{"fq_name": append(append([]string(nil), pq...), "i1"), "parent_type": "project"})
	ts.mustCreate("virtual-network", vnBody("c", "10.1.0.0", 24))
	// A delete makes room.
	ts.mustDelete("virtual-network", a)
	ts.mustCreate("virtual-network", vn("c"))
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": vn("d")}, 412, "quota")
	if n := len(ts.list("virtual-network", "?parent_fq_name_str=default-domain:quota-project")); n != 2 {
		t.Errorf("%d networks in the project, want 2", n)
	}
	// Raising the quota by a PUT takes effect; -1 is unlimited.
	proj := ts.fqID("project", pq)
	ts.mustDo("PUT", "/project/"+proj, map[string]any{"project": map[string]any{"quota": map[string]any{"virtual_network": -1}}})
	ts.mustCreate("virtual-network", vn("d"))
	ts.mustCreate("virtual-network", vn("e"))
}

func TestIPAllocAction(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	vn := ts.mustCreate("virtual-network", subnetVN("alloc", "10.7.0.0", 24, nil))
	out := ts.mustDo("POST", "/virtual-network/"+vn+"/ip-alloc", map[string]any{"count": 2})
	got := fmt.Sprint(out["ip_addr"])
	if got != "[10.7.0.252 10.7.0.251]" {
		t.Errorf("ip-alloc = %s", got)
	}
	count := func() int64 {
		out := ts.mustDo("POST", "/virtual-network/"+vn+"/subnet-ip-count", map[string]any{"subnet_list": []string{"10.7.0.0/24", "10.8.0.0/24"}})
		l := out["ip_count_list"].([]any)
		if len(l) != 2 || num(t, l[1]) != 0 {
			t.Fatalf("subnet-ip-count = %v", out)
		}
		return num(t, l[0])
	}
	if n := count(); n != 2 {
		t.Errorf("count after ip-alloc = %d", n)
	}
	// Instance-ips skip the addresses taken by ip-alloc.
	iip := ts.mustCreate("instance-ip", iipBody("a1", vn, ""))
	if a := iipAddr(t, ts, iip); a != "10.7.0.250" {
		t.Errorf("instance-ip after ip-alloc got %s", a)
	}
	ts.expectErr("POST", "/instance-ips", map[string]any{"instance-ip": iipBody("a2", vn, "10.7.0.252")}, 409, "instance_ip_address")
	if n := count(); n != 3 {
		t.Errorf("count = %d, want 3", n)
	}
	// A specific subnet; and one that is not the network's.
	out = ts.mustDo("POST", "/virtual-network/"+vn+"/ip-alloc", map[string]any{"subnet": "10.7.0.0/24"})
	if l := out["ip_addr"].([]any); len(l) != 1 || l[0] != "10.7.0.249" {
		t.Errorf("ip-alloc in subnet = %v", l)
	}
	ts.expectErr("POST", "/virtual-network/"+vn+"/ip-alloc", map[string]any{"subnet": "10.99.0.0/24"}, 400, "subnet")
	ts.expectErr("POST", "/virtual-network/"+vn+"/ip-alloc", map[string]any{"count": -1}, 400, "count")
	ts.expectErr("POST", "/virtual-network/"+uuid.NewString()+"/ip-alloc", map[string]any{}, 404, "uuid")
	// ip-free releases only ip-alloc addresses.
	ts.mustDo("POST", "/virtual-network/"+vn+"/ip-free", map[string]any{"ip_addr": []string{"10.7.0.252", "10.7.0.251", "10.7.0.250"}})
	if n := count(); n != 2 {
		t.Errorf("count after ip-free = %d, want 2 (the instance-ip's address and 10.7.0.249 stay)", n)
	}
	ts.mustGet("instance-ip", iip)
	ts.mustCreate("instance-ip", iipBody("a3", vn, "10.7.0.252"))
	ts.expectErr("POST", "/virtual-network/"+vn+"/ip-free", map[string]any{"ip_addr": []string{"bogus"}}, 400, "ip_addr")
	// Deleting the network releases what ip-alloc still holds.
	ts.mustDelete("instance-ip", iip)
	ts.mustDelete("instance-ip", ts.fqID("instance-ip", []string{"a3"}))
	ts.mustDelete("virtual-network", vn)
	if n := keyCount(t, ts.st, "ip/"); n != 0 {
		t.Errorf("%d address keys left after the network was deleted", n)
	}
	checkConsistency(t, ts.st)
}

// sortedStrings is a sorted copy.
func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// TestSubnetUUIDs checks that a subnet uuid, which scopes the addresses
// allocated in the subnet, belongs to one network or IPAM only, and that
// flat-subnet IPAMs keep their subnets' uuids and addresses across updates.
func TestSubnetUUIDs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	su := "11111111-2222-4333-8444-555555555555"
	a := ts.mustCreate("virtual-network", subnetVN("sa", "10.0.0.0", 24, map[string]any{"subnet_uuid": su}))
	if got := dig(ts.mustGet("virtual-network", a), "network_ipam_refs", 0, "attr", "ipam_subnets", 0, "subnet_uuid"); got != su {
		t.Errorf("given subnet_uuid not kept: %v", got)
	}
	ts.expectErr("POST", "/virtual-networks", map[string]any{"virtual-network": subnetVN("sb", "10.0.0.0", 24, map[string]any{"subnet_uuid": su})},
		409, "network_ipam_refs[0].attr.ipam_subnets[0].subnet_uuid")
	ts.expectErr("POST", "/network-ipams", map[string]any{"network-ipam": map[string]any{"fq_name": projFQ("fi"), "parent_type": "project",
		"ipam_subnet_method": "flat-subnet", "ipam_subnets": map[string]any{"subnets": []any{
			map[string]any{"subnet": map[string]any{"ip_prefix": "10.8.0.0", "ip_prefix_len": 24}, "subnet_uuid": su}}}}},
		409, "ipam_subnets.subnets[0].subnet_uuid")
	// The network itself may send its subnet uuid again.
	ts.mustDo("PUT", "/virtual-network/"+a, map[string]any{"virtual-network": map[string]any{
		"network_ipam_refs": subnetVN("sa", "10.0.0.0", 24, map[string]any{"subnet_uuid": su})["network_ipam_refs"]}})
	// Deleting the network frees the uuid.
	ts.mustDelete("virtual-network", a)
	b := ts.mustCreate("virtual-network", subnetVN("sb", "10.0.0.0", 24, map[string]any{"subnet_uuid": su}))

	// A flat-subnet IPAM: networks that refer to it allocate from its subnets.
	flatBody := func(prefixes ...string) map[string]any {
		var subs []any
		for _, p := range prefixes {
			subs = append(subs, map[string]any{"subnet": map[string]any{"ip_prefix": p, "ip_prefix_len": 24}})
		}
		return map[string]any{"ipam_subnet_method": "flat-subnet", "ipam_subnets": map[string]any{"subnets": subs}}
	}
	fb := flatBody("192.168.7.0")
	fb["fq_name"], fb["parent_type"] = projFQ("flat"), "project"
	flat := ts.mustCreate("network-ipam", fb)
	flatSubnet := func() string {
		s, _ := dig(ts.mustGet("network-ipam", flat), "ipam_subnets", "subnets", 0, "subnet_uuid").(string)
		return s
	}
	fsu := flatSubnet()
	if fsu == "" {
		t.Fatal("flat subnet has no uuid")
	}
	fv := ts.mustCreate("virtual-network", map[string]any{"fq_name": projFQ("fv"), "parent_type": "project",
		"network_ipam_refs": []any{map[string]any{"uuid": flat}}})
	iip := ts.mustCreate("instance-ip", iipBody("flat-ip", fv, ""))
	if got := ts.mustGet("instance-ip", iip); got["instance_ip_address"] != "192.168.7.252" || got["subnet_uuid"] != fsu {
		t.Errorf("flat instance-ip %v in %v", got["instance_ip_address"], got["subnet_uuid"])
	}
	// ipam_subnets is CRD: a PUT may echo it but not change it.
	stored := ts.mustGet("network-ipam", flat)["ipam_subnets"]
	ts.expectErr("PUT", "/network-ipam/"+flat, map[string]any{"network-ipam": flatBody("192.168.7.0", "192.168.8.0")}, 403, "ipam_subnets")
	ts.mustDo("PUT", "/network-ipam/"+flat, map[string]any{"network-ipam": map[string]any{"ipam_subnets": stored}})
	if got := flatSubnet(); got != fsu {
		t.Errorf("flat subnet uuid changed from %s to %s", fsu, got)
	}
	if a := iipAddr(t, ts, ts.mustCreate("instance-ip", iipBody("flat-ip2", fv, ""))); a != "192.168.7.251" {
		t.Errorf("second flat address %s, want 192.168.7.251", a)
	}
	// Subnets that hold addresses cannot go.
	ts.expectErr("PUT", "/network-ipam/"+flat, map[string]any{"network-ipam": map[string]any{"ipam_subnets": nil}}, 409, "ipam_subnets")
	// Addresses taken by ip-alloc in the flat subnet go with the IPAM.
	ts.mustDo("POST", "/virtual-network/"+fv+"/ip-alloc", map[string]any{"count": 2})
	ts.mustDelete("instance-ip", iip)
	ts.mustDelete("instance-ip", ts.fqID("instance-ip", []string{"flat-ip2"}))
	ts.mustDelete("virtual-network", fv)
	if n := keyCount(t, ts.st, "ip/"+fsu+"/"); n != 2 {
		t.Errorf("%d ip-alloc addresses in the flat subnet, want 2", n)
	}
	ts.mustDelete("network-ipam", flat)
	if n := keyCount(t, ts.st, "ip/"+fsu+"/"); n != 0 {
		t.Errorf("%d addresses left in the deleted IPAM's subnet", n)
	}
	if n := keyCount(t, ts.st, "id/subnet/"+fsu); n != 0 {
		t.Errorf("the deleted IPAM's subnet uuid is still held")
	}
	_ = b
	checkConsistency(t, ts.st)
}
