// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/contrail-go/contrail/internal/agent/portapi"
	"github.com/contrail-go/contrail/internal/model"
)

// This file holds the port API hooks that answer from the agent's config:
// GET /vm/<vm-uuid> (describePort) and GET /vm-cfg/<name> (vmConfig), and
// the link state of ports (setPortLink).

// describePort returns p completed from the config: what the original's
// port IPC answers for a VM's interface (MakeJsonFromVmi): addresses,
// MAC, the subnet's prefix length, gateway and DNS server, network and
// project. ErrUnavailable until the VMI, its network and an address are
// in the config: the orchestrator retries, as with the original.
func (a *Agent) describePort(p portapi.Port) (portapi.Port, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := newResolver(a.db).port(p)
	if v.vmi == nil || v.vn == nil {
		return portapi.Port{}, fmt.Errorf("%w: virtual-machine-interface %s: not in this agent's config yet (%s); retry",
			portapi.ErrUnavailable, p.ID, v.err)
	}
	if v.mac != nil {
		p.MACAddress = v.mac.String()
	}
	if v.vn.obj != nil {
		p.VNID = v.vn.obj.UUID
	}
	if v.vmi.ParentType == "project" {
		p.VMProjectID = v.vmi.ParentUUID
	}
	if len(v.ips) > 0 {
		p.IPAddress = v.ips[0].String()
		if sn, ok := v.vn.subnetOf(v.ips[0]); ok {
			p.Plen = sn.prefix.Bits()
			if sn.gw.Is4() {
				p.Gateway = sn.gw.String()
			}
			if sn.dns.Is4() {
				p.DNSServer = sn.dns.String()
			}
		}
	}
	if len(v.ip6s) > 0 {
		p.IP6Address = v.ip6s[0].String()
	}
	if p.IPAddress == "" && p.IP6Address == "" && v.vn.mode != modeL2 {
		return portapi.Port{}, fmt.Errorf("%w: virtual-machine-interface %s: no instance-ip in this agent's config yet; retry",
			portapi.ErrUnavailable, p.ID)
	}
	return p, nil
}

// vmConfig returns the interfaces of the VM named name (its fq-name, its
// display_name or its uuid) as the agent's config has them.
func (a *Agent) vmConfig(name string) ([]portapi.VMIConfig, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var vm *model.Object
	for _, o := range a.db.byType("virtual-machine") {
		var display string
		o.Prop("display_name", &display)
		if o.FQNameString() == name || display == name || o.UUID == name {
			vm = o
			break
		}
	}
	if vm == nil {
		return nil, fmt.Errorf("%w: VM %q is not in the config of virtual-router %s", portapi.ErrNotFound, name, a.cfg.Hostname)
	}
	r := newResolver(a.db)
	out := []portapi.VMIConfig{}
	for _, vmi := range a.db.linked(vm, "virtual-machine-interface") {
		c := portapi.VMIConfig{ID: vmi.UUID, VMUUID: vm.UUID}
		v := r.port(portapi.Port{ID: vmi.UUID, InstanceID: vm.UUID})
		if v.vn != nil {
			c.VNName = v.vn.name
			if v.vn.obj != nil {
				c.VNID = v.vn.obj.UUID
			}
		}
		if v.mac != nil {
			c.MACAddress = v.mac.String()
		}
		if len(v.ips) > 0 {
			c.IPAddress = v.ips[0].String()
			if v.vn != nil {
				if sn, ok := v.vn.subnetOf(v.ips[0]); ok {
					c.Plen = sn.prefix.Bits()
					if sn.gw.Is4() {
						c.Gateway = sn.gw.String()
					}
					if sn.dns.Is4() {
						c.DNSServer = sn.dns.String()
					}
				}
			}
		}
		if len(v.ip6s) > 0 {
			c.IP6Address = v.ip6s[0].String()
		}
		var props struct {
			VLAN int `json:"sub_interface_vlan_tag"`
		}
		if vmi.Prop("virtual_machine_interface_properties", &props) && props.VLAN > 0 {
			c.SubInterface, c.VLANID = true, props.VLAN
		}
		var ann struct {
			KV []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"key_value_pair"`
		}
		if vmi.Prop("annotations", &ann) {
			for _, kv := range ann.KV {
				c.Annotations = append(c.Annotations, "{"+kv.Key+":"+kv.Value+"}")
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// setPortLink sets the host-side device of p down when the port is
// disabled, up when it is enabled: a disabled port passes no traffic even
// before the dataplane has withdrawn its routes. Remote ports have no
// device here; a missing device is not an error (the dataplane waits for
// it, and leaves a disabled port's device alone).
func (a *Agent) setPortLink(p portapi.Port) {
	if p.Type == portapi.TypeRemote {
		return
	}
	h := a.portLinks()
	l, err := h.LinkByName(p.SystemName)
	if err != nil {
		return
	}
	up := l.Attrs().Flags&net.FlagUp != 0
	switch {
	case p.Disabled && up:
		err = h.LinkSetDown(l)
	case !p.Disabled && !up:
		err = h.LinkSetUp(l)
	}
	if err != nil && !errors.Is(err, syscall.ENODEV) {
		a.log.Warn("cannot set port device link state", "port", p.ID, "device", p.SystemName, "disabled", p.Disabled, "err", err)
	}
}

// disabledReason is the state of a disabled port.
const disabledReason = "disabled (link-state 0): PUT /enable-port/<uuid> to enable"

// portLinks returns the port API's netlink handle, in the agent's
// namespace, opened on first use; the agent's own handle if that fails.
func (a *Agent) portLinks() *netlink.Handle {
	a.portNLOnce.Do(func() {
		h, err := netlink.NewHandleAt(a.ns)
		if err != nil {
			a.log.Warn("port API netlink socket not opened; sharing the dataplane's", "err", err)
			return
		}
		a.portNL = h
	})
	if a.portNL == nil {
		return a.nl
	}
	return a.portNL
}
