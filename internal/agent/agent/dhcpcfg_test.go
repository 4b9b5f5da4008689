// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/agent/services"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// TestDHCPExtrasFromConfig feeds the config DB networks and IPAMs as the
// control node sends them and checks what the DHCP answers of a port
// carry: DNS servers by the IPAM's DNS method, host routes from the
// subnet (or the IPAM), the network's MTU, the virtual DNS domain, the
// subnet's DHCP options overriding those, and no answers at all where
// the subnet disables DHCP.
func TestDHCPExtrasFromConfig(t *testing.T) {
	const vmiID = "0a0b0c0d-0000-4000-8000-0000000000a1"
	type subnetCfg map[string]any
	cases := []struct {
		name   string
		vnProp map[string]any // extra network properties
		mgmt   map[string]any // network_ipam_mgmt of the IPAM
		subnet subnetCfg      // extra keys of the subnet
		vdns   bool           // a virtual-DNS linked to the IPAM
		want   dhcpExtras
	}{
		{name: "defaults", want: dhcpExtras{proxyDNS: true, dns: addrs("10.1.1.253")}},
		{
			name:   "mtu and subnet host routes",
			vnProp: map[string]any{"virtual_network_properties": map[string]any{"forwarding_mode": "l2_l3", "mtu": 1400}},
			subnet: subnetCfg{"host_routes": map[string]any{"route": []any{
				map[string]any{"prefix": "192.168.7.0/24", "next_hop": "10.1.1.9"},
				map[string]any{"prefix": "172.16.0.0/12", "next_hop": "203.0.113.1"}, // outside the subnet: via the gateway
			}}},
			want: dhcpExtras{proxyDNS: true, dns: addrs("10.1.1.253"), mtu: 1400, routes: []services.HostRoute{
				{Prefix: netip.MustParsePrefix("192.168.7.0/24"), NextHop: netip.MustParseAddr("10.1.1.9")},
				{Prefix: netip.MustParsePrefix("172.16.0.0/12"), NextHop: netip.MustParseAddr("10.1.1.254")},
			}},
		},
		{
			name:   "top-level mtu wins, IPAM host routes when the subnet has none",
			vnProp: map[string]any{"mtu": 9000, "virtual_network_properties": map[string]any{"mtu": 1400}},
			mgmt: map[string]any{"host_routes": map[string]any{"route": []any{
				map[string]any{"prefix": "10.200.0.0/16"}}}},
			want: dhcpExtras{proxyDNS: true, dns: addrs("10.1.1.253"), mtu: 9000, routes: []services.HostRoute{
				{Prefix: netip.MustParsePrefix("10.200.0.0/16"), NextHop: netip.MustParseAddr("10.1.1.254")}}},
		},
		{name: "no DNS", mgmt: map[string]any{"ipam_dns_method": "none"}, want: dhcpExtras{}},
		{
			name: "tenant DNS servers",
			mgmt: map[string]any{"ipam_dns_method": "tenant-dns-server", "ipam_dns_server": map[string]any{
				"tenant_dns_server_address": map[string]any{"ip_address": []any{"8.8.8.8", "1.1.1.1"}}}},
			want: dhcpExtras{dns: addrs("8.8.8.8", "1.1.1.1")},
		},
		{
			name: "virtual DNS domain",
			mgmt: map[string]any{"ipam_dns_method": "virtual-dns-server", "ipam_dns_server": map[string]any{
				"virtual_dns_server_name": "default-domain:vdns1"}},
			vdns: true,
			want: dhcpExtras{proxyDNS: true, dns: addrs("10.1.1.253"), domain: "tenant.example"},
		},
		{
			name:   "subnet DHCP options override",
			vnProp: map[string]any{"virtual_network_properties": map[string]any{"mtu": 1400}},
			subnet: subnetCfg{"dhcp_option_list": map[string]any{"dhcp_option": []any{
				map[string]any{"dhcp_option_name": "6", "dhcp_option_value": "9.9.9.9 149.112.112.112"},
				map[string]any{"dhcp_option_name": "interface-mtu", "dhcp_option_value": "1380"},
				map[string]any{"dhcp_option_name": "domain-name", "dhcp_option_value": "opt.example"},
			}}},
			want: dhcpExtras{proxyDNS: true, dns: addrs("9.9.9.9", "149.112.112.112"), mtu: 1380, domain: "opt.example"},
		},
		{name: "DHCP disabled", subnet: subnetCfg{"enable_dhcp": false}, want: dhcpExtras{disabled: true}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vn := fmt.Sprintf("default-domain:p:vn%d", i)
			ipam := fmt.Sprintf("default-domain:p:ipam%d", i)
			vmi := fmt.Sprintf("default-domain:p:vmi%d", i)
			attr := "attr(" + vn + "," + ipam + ")"
			sub := map[string]any{"subnet": map[string]any{"ip_prefix": "10.1.1.0", "ip_prefix_len": 24},
				"default_gateway": "10.1.1.254", "dns_server_address": "10.1.1.253"}
			for k, v := range c.subnet {
				sub[k] = v
			}
			vnProps := map[string]any{"virtual_network_network_id": 5}
			for k, v := range c.vnProp {
				vnProps[k] = v
			}
			var ipamProps map[string]any
			if c.mgmt != nil {
				ipamProps = map[string]any{"network_ipam_mgmt": c.mgmt}
			}
			nodes := []*xmpp.ConfigNode{
				jnode(t, "virtual-network", vn, fmt.Sprintf("0a0b0c0d-0000-4000-8000-0000000001%02d", i), vnProps),
				jnode(t, "network-ipam", ipam, "", ipamProps),
				jnode(t, "virtual-network-network-ipam", attr, "", map[string]any{"value": map[string]any{"ipam_subnets": []any{sub}}}),
				jnode(t, "virtual-machine-interface", vmi, vmiID, map[string]any{
					"virtual_machine_interface_mac_addresses": map[string]any{"mac_address": []any{"02:0a:0b:0c:0d:00"}}}),
				jnode(t, "instance-ip", fmt.Sprint("iip", i), "", map[string]any{"instance_ip_address": "10.1.1.3"}),
			}
			links := []*xmpp.ConfigLink{
				link("virtual-network", vn, "network-ipam", ipam),
				link("virtual-network", vn, "virtual-network-network-ipam", attr),
				link("virtual-network-network-ipam", attr, "network-ipam", ipam),
				link("virtual-machine-interface", vmi, "virtual-network", vn),
				link("instance-ip", fmt.Sprint("iip", i), "virtual-machine-interface", vmi),
			}
			if c.vdns {
				nodes = append(nodes, jnode(t, "virtual-DNS", "default-domain:vdns1", "", map[string]any{
					"virtual_DNS_data": map[string]any{"domain_name": "tenant.example", "record_order": "random"}}))
				links = append(links, link("network-ipam", ipam, "virtual-DNS", "default-domain:vdns1"))
			}
			db := newConfigDB()
			db.apply(configMsg(t, false, nodes, links))
			a := &Agent{db: db}
			v := newResolver(db).port(portapi.Port{ID: vmiID, SystemName: "tap1"})
			if !v.active() {
				t.Fatalf("port not active: %s", v.err)
			}
			sn, ok := v.vn.subnetOf(v.ips[0])
			if !ok {
				t.Fatal("no subnet")
			}
			got := a.dhcpExtrasFor(v.vn.obj, v.ips[0], sn)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}
