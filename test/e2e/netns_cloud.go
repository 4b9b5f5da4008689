// SPDX-License-Identifier: Apache-2.0

package e2e

// Provisioning through the VNC REST API only, the way the original's
// provision scripts and Nova/Neutron plugins do it, and the port API call
// a compute host's Nova driver makes.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/contrail-go/contrail/pkg/client"
)

// Cloud provisions objects through the API.
type Cloud struct {
	API *client.Client
	// vrMu serializes the ref updates of virtual-routers: the API server
	// answers 503 ("write kept losing races") to many concurrent
	// ref-updates of one object.
	vrMu sync.Mutex
}

// NewCloud returns a Cloud talking to the API at url from inside ns.
func NewCloud(ns *NS, url string) *Cloud {
	return &Cloud{API: client.New(url, client.WithHTTPClient(ns.HTTPClient(30*time.Second)), client.WithTimeout(30*time.Second))}
}

// Project creates default-domain:<name> (or finds it).
func (c *Cloud) Project(ctx context.Context, name string) (string, error) {
	fq := []string{"default-domain", name}
	o, err := c.API.Create(ctx, "project", client.Object{"fq_name": fq, "parent_type": "domain"})
	if client.IsConflict(err) {
		return c.API.FQNameToID(ctx, "project", fq)
	}
	if err != nil {
		return "", fmt.Errorf("create project %s: %w", name, err)
	}
	return o.UUID(), nil
}

// VirtualRouter creates the virtual-router of a compute host.
func (c *Cloud) VirtualRouter(ctx context.Context, host, ip string) (string, error) {
	o, err := c.API.Create(ctx, "virtual-router", client.Object{
		"fq_name":                   []string{"default-global-system-config", host},
		"parent_type":               "global-system-config",
		"virtual_router_ip_address": ip,
		"virtual_router_type":       "embedded",
	})
	if err != nil {
		return "", fmt.Errorf("create virtual-router %s: %w", host, err)
	}
	return o.UUID(), nil
}

// BGPRouter creates the bgp-router of a control node (as the original's
// provision_control does); the schema transformer meshes them.
func (c *Cloud) BGPRouter(ctx context.Context, name, ip string) (string, error) {
	o, err := c.API.Create(ctx, "bgp-router", client.Object{
		"fq_name":     []string{"default-domain", "default-project", "ip-fabric", "__default__", name},
		"parent_type": "routing-instance",
		"bgp_router_parameters": map[string]any{
			"vendor": "contrail", "router_type": "control-node", "autonomous_system": 64512,
			"identifier": ip, "address": ip, "port": 179, "hold_time": 90,
			"address_families": map[string]any{"family": []string{"route-target", "inet-vpn", "e-vpn", "erm-vpn", "inet6-vpn"}},
		},
	})
	if err != nil {
		return "", fmt.Errorf("create bgp-router %s: %w", name, err)
	}
	return o.UUID(), nil
}

// Network is a virtual network with one IPv4 subnet.
type Network struct {
	UUID    string
	FQ      []string
	Prefix  string
	Plen    int
	Gateway string
	DNS     string
}

// FQString is the network's fq-name joined with colons.
func (n Network) FQString() string { return strings.Join(n.FQ, ":") }

// Network creates a virtual network in a project with one subnet
// ("10.1.1.0/24") of the project's default IPAM (default-network-ipam).
func (c *Cloud) Network(ctx context.Context, project, name, cidr string, extra client.Object) (Network, error) {
	return c.NetworkWithSubnet(ctx, project, name, cidr, nil, extra)
}

// NetworkWithSubnet is Network with more keys of the subnet (IpamSubnetType:
// host_routes, dhcp_option_list, enable_dhcp, ...).
func (c *Cloud) NetworkWithSubnet(ctx context.Context, project, name, cidr string, subnet, extra client.Object) (Network, error) {
	return c.NetworkInIPAM(ctx, project, name, cidr, []string{"default-domain", "default-project", "default-network-ipam"}, subnet, extra)
}

// NetworkInIPAM is NetworkWithSubnet with the subnet in the IPAM ipam.
func (c *Cloud) NetworkInIPAM(ctx context.Context, project, name, cidr string, ipam []string, subnet, extra client.Object) (Network, error) {
	pfx, plenS, ok := strings.Cut(cidr, "/")
	plen, err := strconv.Atoi(plenS)
	if !ok || err != nil {
		return Network{}, fmt.Errorf("network %s: bad cidr %q", name, cidr)
	}
	fq := []string{"default-domain", project, name}
	sub := map[string]any{"subnet": map[string]any{"ip_prefix": pfx, "ip_prefix_len": plen}}
	for k, v := range subnet {
		sub[k] = v
	}
	body := client.Object{
		"fq_name":     fq,
		"parent_type": "project",
		"network_ipam_refs": []any{map[string]any{
			"to":   ipam,
			"attr": map[string]any{"ipam_subnets": []any{sub}},
		}},
	}
	for k, v := range extra {
		body[k] = v
	}
	o, err := c.API.Create(ctx, "virtual-network", body)
	if err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", name, err)
	}
	vn, err := c.API.Read(ctx, "virtual-network", o.UUID())
	if err != nil {
		return Network{}, err
	}
	n := Network{UUID: o.UUID(), FQ: fq, Prefix: pfx, Plen: plen}
	if refs, _ := vn["network_ipam_refs"].([]any); len(refs) > 0 {
		attr := client.Object(refs[0].(map[string]any))
		if subs, _ := attr.Get("attr", "ipam_subnets").([]any); len(subs) > 0 {
			s := client.Object(subs[0].(map[string]any))
			n.Gateway, n.DNS = s.GetString("default_gateway"), s.GetString("dns_server_address")
		}
	}
	if n.Gateway == "" {
		return n, fmt.Errorf("network %s: the API gave the subnet no default_gateway: %v", name, vn["network_ipam_refs"])
	}
	return n, nil
}

// Port is one VM port: the API objects behind it and what the port API
// and the VM need.
type Port struct {
	Name      string // VM name, also the namespace name and display-name
	Host      string // virtual-router name
	Tap       string // system-name
	VM        string // virtual-machine uuid
	VMI       string // virtual-machine-interface uuid
	IIP       string // instance-ip uuid
	VN        string // virtual-network uuid
	Project   string // project uuid
	IP        string
	Plen      int
	Gateway   string
	MAC       string
	VMIFQ     []string
	NetworkFQ string
}

// Port creates a VM, its interface in net (with the given security
// groups, nil for none) and its instance-ip (fixedIP, or allocated when
// ""), and links the VM to the host's virtual-router (unless vrUUID is
// "": the caller links them).
func (c *Cloud) Port(ctx context.Context, projectUUID string, net Network, host, vrUUID, name, fixedIP string, sgs []string) (Port, error) {
	p := Port{Name: name, Host: host, VN: net.UUID, Project: projectUUID, Plen: net.Plen, Gateway: net.Gateway, NetworkFQ: net.FQString()}
	p.Tap = "tap" + name
	if len(p.Tap) > 15 {
		p.Tap = p.Tap[:15]
	}
	vm, err := c.API.Create(ctx, "virtual-machine", client.Object{"fq_name": []string{name}, "display_name": name})
	if err != nil {
		return p, fmt.Errorf("create virtual-machine %s: %w", name, err)
	}
	p.VM = vm.UUID()
	p.VMIFQ = []string{net.FQ[0], net.FQ[1], name + "-eth0"}
	vmiBody := client.Object{
		"fq_name":              p.VMIFQ,
		"parent_type":          "project",
		"virtual_machine_refs": []any{map[string]any{"uuid": p.VM}},
		"virtual_network_refs": []any{map[string]any{"uuid": net.UUID}},
	}
	if sgs != nil {
		refs := []any{}
		for _, sg := range sgs {
			refs = append(refs, map[string]any{"uuid": sg})
		}
		vmiBody["security_group_refs"] = refs
	}
	vmi, err := c.API.Create(ctx, "virtual-machine-interface", vmiBody)
	if err != nil {
		return p, fmt.Errorf("create virtual-machine-interface %s: %w", name, err)
	}
	p.VMI = vmi.UUID()
	vmi, err = c.API.Read(ctx, "virtual-machine-interface", p.VMI)
	if err != nil {
		return p, err
	}
	if macs, _ := vmi.Get("virtual_machine_interface_mac_addresses", "mac_address").([]any); len(macs) > 0 {
		p.MAC, _ = macs[0].(string)
	}
	if p.MAC == "" {
		return p, fmt.Errorf("virtual-machine-interface %s: no MAC from the API", name)
	}
	iipBody := client.Object{
		"fq_name":                        []string{name + "-iip"},
		"virtual_machine_interface_refs": []any{map[string]any{"uuid": p.VMI}},
		"virtual_network_refs":           []any{map[string]any{"uuid": net.UUID}},
		"instance_ip_family":             "v4",
	}
	if fixedIP != "" {
		iipBody["instance_ip_address"] = fixedIP
	}
	iip, err := c.API.Create(ctx, "instance-ip", iipBody)
	if err != nil {
		return p, fmt.Errorf("create instance-ip %s: %w", name, err)
	}
	p.IIP = iip.UUID()
	iip, err = c.API.Read(ctx, "instance-ip", p.IIP)
	if err != nil {
		return p, err
	}
	p.IP = iip.GetString("instance_ip_address")
	if p.IP == "" {
		return p, fmt.Errorf("instance-ip %s: no address from the API", name)
	}
	if vrUUID == "" {
		return p, nil
	}
	c.vrMu.Lock()
	err = c.API.RefUpdate(ctx, "virtual-router", vrUUID, "virtual-machine", p.VM, client.RefAdd, nil)
	c.vrMu.Unlock()
	if err != nil {
		return p, fmt.Errorf("virtual-router %s -> virtual-machine %s: %w", host, name, err)
	}
	return p, nil
}

// PortJSON is the body of POST /port for p, with the original's keys.
func (p Port) PortJSON() map[string]any {
	return map[string]any{
		"id":             p.VMI,
		"instance-id":    p.VM,
		"vn-id":          p.VN,
		"vm-project-id":  p.Project,
		"display-name":   p.Name,
		"ip-address":     p.IP,
		"ip6-address":    "",
		"type":           0,
		"system-name":    p.Tap,
		"mac-address":    p.MAC,
		"rx-vlan-id":     -1,
		"tx-vlan-id":     -1,
		"vhostuser-mode": 0,
		"link-state":     1,
		"author":         "contrail-e2e",
	}
}

// PortAPIAdd posts p to the agent's port API at addr ("127.0.0.1:9091")
// from inside the host namespace.
func PortAPIAdd(ctx context.Context, host *NS, addr string, p Port) error {
	return portAPI(ctx, host, http.MethodPost, "http://"+addr+"/port", p.PortJSON())
}

// PortAPIDelete deletes the port of VMI uuid from the agent's port API.
func PortAPIDelete(ctx context.Context, host *NS, addr, vmi string) error {
	return portAPI(ctx, host, http.MethodDelete, "http://"+addr+"/port/"+vmi, nil)
}

func portAPI(ctx context.Context, host *NS, method, url string, body any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := host.HTTPClient(15 * time.Second)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s in %s: %w", method, url, host.Full, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s in %s: %d %s", method, url, host.Full, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	return nil
}

// SecurityGroup creates a security group in the project with the given
// rules (policy_rule entries).
func (c *Cloud) SecurityGroup(ctx context.Context, project, name string, rules []any) (string, error) {
	o, err := c.API.Create(ctx, "security-group", client.Object{
		"fq_name":                []string{"default-domain", project, name},
		"parent_type":            "project",
		"security_group_entries": map[string]any{"policy_rule": rules},
	})
	if err != nil {
		return "", fmt.Errorf("create security-group %s: %w", name, err)
	}
	return o.UUID(), nil
}

// SGRule is one security-group rule: direction ">" from src to dst, where
// "local" means the group itself and anything else is a CIDR; proto is
// "any", "icmp", "tcp", "udp"; ports 0..0 mean any.
func SGRule(src, dst, proto string, dstPortMin, dstPortMax int) map[string]any {
	addr := func(s string) []any {
		if s == "local" {
			return []any{map[string]any{"security_group": "local"}}
		}
		pfx, plen, _ := strings.Cut(s, "/")
		l, _ := strconv.Atoi(plen)
		return []any{map[string]any{"subnet": map[string]any{"ip_prefix": pfx, "ip_prefix_len": l}}}
	}
	if dstPortMax == 0 {
		dstPortMin, dstPortMax = 0, 65535
	}
	return map[string]any{
		"direction":     ">",
		"protocol":      proto,
		"ethertype":     "IPv4",
		"src_addresses": addr(src),
		"src_ports":     []any{map[string]any{"start_port": 0, "end_port": 65535}},
		"dst_addresses": addr(dst),
		"dst_ports":     []any{map[string]any{"start_port": dstPortMin, "end_port": dstPortMax}},
	}
}

// NetworkPolicy creates a network policy with one bidirectional pass rule
// between two networks (fq-name strings).
func (c *Cloud) NetworkPolicy(ctx context.Context, project, name, netA, netB string) (string, error) {
	rule := map[string]any{
		"direction": "<>", "protocol": "any", "ethertype": "IPv4",
		"src_addresses": []any{map[string]any{"virtual_network": netA}}, "src_ports": []any{map[string]any{"start_port": -1, "end_port": -1}},
		"dst_addresses": []any{map[string]any{"virtual_network": netB}}, "dst_ports": []any{map[string]any{"start_port": -1, "end_port": -1}},
		"action_list": map[string]any{"simple_action": "pass"},
	}
	o, err := c.API.Create(ctx, "network-policy", client.Object{
		"fq_name":                []string{"default-domain", project, name},
		"parent_type":            "project",
		"network_policy_entries": map[string]any{"policy_rule": []any{rule}},
	})
	if err != nil {
		return "", fmt.Errorf("create network-policy %s: %w", name, err)
	}
	return o.UUID(), nil
}

// AttachPolicy adds (or with del removes) the network's ref to a policy.
func (c *Cloud) AttachPolicy(ctx context.Context, vn, policy string, del bool) error {
	op := client.RefAdd
	var attr any = map[string]any{"sequence": map[string]any{"major": 0, "minor": 0}}
	if del {
		op, attr = client.RefDelete, nil
	}
	return c.API.RefUpdate(ctx, "virtual-network", vn, "network-policy", policy, op, attr)
}
