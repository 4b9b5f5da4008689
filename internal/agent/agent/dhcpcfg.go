// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"

	"github.com/contrail-go/contrail/internal/agent/services"
	"github.com/contrail-go/contrail/internal/model"
)

// What a port's DHCP answers carry beyond its address and gateway, from
// the config as the original agent reads it:
//
//   - enable_dhcp of the port's subnet (default true): false means the
//     agent does not answer the port at all;
//   - DNS servers by the IPAM's ipam_dns_method: none gives no option 6;
//     tenant-dns-server gives the IPAM's tenant_dns_server_address (or the
//     subnet's dns_nameservers); default-dns-server and virtual-dns-server
//     give the subnet's DNS service address; virtual-dns-server also gives
//     the virtual-DNS's domain_name as option 15; with these two the
//     agent's DNS proxy answers the service address (VMs of this host in
//     the virtual DNS domain by name, the rest forwarded);
//   - host routes (option 121) from the subnet's host_routes, else the
//     IPAM's network_ipam_mgmt.host_routes; a route's next hop is its own
//     when that lies in the subnet, the gateway otherwise;
//   - the interface MTU (option 26) from the network's mtu (the top-level
//     property, else virtual_network_properties.mtu);
//   - the dhcp_option_list of the subnet (else of the IPAM) overrides
//     these for the options it names: 6 / domain-name-servers, 15 /
//     domain-name, 26 / interface-mtu; others are not served.
type dhcpExtras struct {
	disabled bool
	// proxyDNS: the VMs' DNS service address is answered by the agent's
	// DNS proxy (default-dns-server and virtual-dns-server).
	proxyDNS bool
	dns      []netip.Addr
	routes   []services.HostRoute
	mtu      int
	domain   string
}

type ipamSubnetCfg struct {
	Subnet struct {
		Prefix string      `json:"ip_prefix"`
		Len    json.Number `json:"ip_prefix_len"`
	} `json:"subnet"`
	EnableDHCP     *bool           `json:"enable_dhcp"`
	DNSNameservers []string        `json:"dns_nameservers"`
	HostRoutes     *routeTableCfg  `json:"host_routes"`
	DHCPOptions    *dhcpOptionsCfg `json:"dhcp_option_list"`
}

type routeTableCfg struct {
	Route []struct {
		Prefix  string `json:"prefix"`
		NextHop string `json:"next_hop"`
	} `json:"route"`
}

type dhcpOptionsCfg struct {
	Option []struct {
		Name  string `json:"dhcp_option_name"`
		Value string `json:"dhcp_option_value"`
	} `json:"dhcp_option"`
}

type ipamMgmtCfg struct {
	DNSMethod string `json:"ipam_dns_method"`
	DNSServer struct {
		Tenant struct {
			IP []string `json:"ip_address"`
		} `json:"tenant_dns_server_address"`
		VirtualDNS string `json:"virtual_dns_server_name"`
	} `json:"ipam_dns_server"`
	DHCPOptions *dhcpOptionsCfg `json:"dhcp_option_list"`
	HostRoutes  *routeTableCfg  `json:"host_routes"`
}

// dhcpExtrasFor returns what the config adds to the DHCP answers of a
// port with address ip in network vn, whose subnet is sn.
func (a *Agent) dhcpExtrasFor(vn *model.Object, ip netip.Addr, sn subnetView) dhcpExtras {
	var x dhcpExtras
	var sub *ipamSubnetCfg
	var ipam *model.Object
	for _, ref := range vn.Refs["network_ipam_refs"] {
		var attr struct {
			Subnets []ipamSubnetCfg `json:"ipam_subnets"`
		}
		if len(ref.Attr) == 0 || json.Unmarshal(ref.Attr, &attr) != nil {
			continue
		}
		for i := range attr.Subnets {
			if p, ok := subnetPrefix(&attr.Subnets[i]); ok && p.Contains(ip) {
				sub = &attr.Subnets[i]
				break
			}
		}
		if sub != nil {
			ipam = a.db.getUUID(ref.UUID)
			if ipam == nil {
				ipam = a.db.get("network-ipam", strings.Join(ref.To, ":"))
			}
			break
		}
	}
	var mgmt ipamMgmtCfg
	if ipam != nil {
		ipam.Prop("network_ipam_mgmt", &mgmt)
	}
	if sub != nil && sub.EnableDHCP != nil && !*sub.EnableDHCP {
		x.disabled = true
		return x
	}

	switch mgmt.DNSMethod {
	case "none":
	case "tenant-dns-server":
		addrs := mgmt.DNSServer.Tenant.IP
		if sub != nil && len(sub.DNSNameservers) > 0 {
			addrs = sub.DNSNameservers
		}
		x.dns = parseAddrs4(addrs)
	default: // default-dns-server, virtual-dns-server
		x.proxyDNS = true
		if sn.dns.Is4() {
			x.dns = []netip.Addr{sn.dns}
		}
		if mgmt.DNSMethod == "virtual-dns-server" {
			x.domain = a.virtualDNSDomain(ipam, mgmt.DNSServer.VirtualDNS)
		}
	}

	rt := mgmt.HostRoutes
	if sub != nil && sub.HostRoutes != nil && len(sub.HostRoutes.Route) > 0 {
		rt = sub.HostRoutes
	}
	if rt != nil {
		for _, r := range rt.Route {
			p, err := netip.ParsePrefix(r.Prefix)
			if err != nil || !p.Addr().Is4() {
				continue
			}
			nh, err := netip.ParseAddr(r.NextHop)
			if err != nil || !nh.Is4() || !sn.prefix.Contains(nh) {
				nh = sn.gw
			}
			x.routes = append(x.routes, services.HostRoute{Prefix: p.Masked(), NextHop: nh})
		}
	}

	x.mtu = networkMTU(vn)

	opts := mgmt.DHCPOptions
	if sub != nil && sub.DHCPOptions != nil && len(sub.DHCPOptions.Option) > 0 {
		opts = sub.DHCPOptions
	}
	if opts != nil {
		for _, o := range opts.Option {
			switch strings.ToLower(strings.TrimSpace(o.Name)) {
			case "6", "domain-name-servers":
				x.dns = parseAddrs4(strings.FieldsFunc(o.Value, isListSep))
			case "15", "domain-name":
				x.domain = strings.TrimSpace(o.Value)
			case "26", "interface-mtu":
				if n, err := strconv.Atoi(strings.TrimSpace(o.Value)); err == nil && n >= 68 && n <= 65535 {
					x.mtu = n
				}
			}
		}
	}
	return x
}

func subnetPrefix(s *ipamSubnetCfg) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(s.Subnet.Prefix)
	if err != nil {
		return netip.Prefix{}, false
	}
	l, err := strconv.Atoi(s.Subnet.Len.String())
	if err != nil {
		return netip.Prefix{}, false
	}
	p, err := a.Prefix(l)
	return p, err == nil
}

// networkMTU is the network's configured MTU, 0 if none (or out of range).
func networkMTU(vn *model.Object) int {
	var mtu int
	if !vn.Prop("mtu", &mtu) || mtu == 0 {
		var props struct {
			MTU int `json:"mtu"`
		}
		vn.Prop("virtual_network_properties", &props)
		mtu = props.MTU
	}
	if mtu < 68 || mtu > 65535 {
		return 0
	}
	return mtu
}

// virtualDNSDomain is the domain of the IPAM's virtual DNS server: the
// virtual-DNS it refers to, else the one named in its DNS settings.
func (a *Agent) virtualDNSDomain(ipam *model.Object, name string) string {
	var vdns *model.Object
	if ipam != nil {
		if l := a.db.linked(ipam, "virtual-DNS"); len(l) > 0 {
			vdns = l[0]
		}
	}
	if vdns == nil && name != "" {
		vdns = a.db.get("virtual-DNS", name)
	}
	if vdns == nil {
		return ""
	}
	var data struct {
		Domain string `json:"domain_name"`
	}
	vdns.Prop("virtual_DNS_data", &data)
	return data.Domain
}

func parseAddrs4(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

func isListSep(r rune) bool { return r == ',' || r == ' ' || r == ';' }
