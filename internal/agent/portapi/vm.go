// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
)

// VMPort is a "VM-style" port, the body of POST /vm (the original's
// VmVnPortSubscribeEntry, port_ipc_handler.cc AddVmVnPort): the
// orchestrator, typically the Kubernetes CNI plugin, names the VM, the
// VMI and the host-side interface, and the agent learns the rest (MAC,
// addresses, network, project) from its config. The JSON keys are the
// original's. It is kept in the Store under vm/<vm-uuid>/<vmi-uuid>.
type VMPort struct {
	VMUUID      string `json:"vm-uuid"`      // virtual-machine uuid
	VMIUUID     string `json:"vmi-uuid"`     // virtual-machine-interface uuid
	VNUUID      string `json:"vn-uuid"`      // virtual-network uuid; "" lets the config say
	VMID        string `json:"vm-id"`        // the orchestrator's id of the VM (pod uid, ...)
	VMName      string `json:"vm-name"`      // the VM's name (GET /vm-cfg/<name>)
	HostIfname  string `json:"host-ifname"`  // host end of the VM's interface (tap, veth)
	VMIfname    string `json:"vm-ifname"`    // the interface's name inside the VM
	VMNamespace string `json:"vm-namespace"` // network namespace of a container; "" for a VM

	Author string `json:"author,omitempty"`
	Time   string `json:"time,omitempty"`

	// Disabled is the link state set by PUT /disable-port/<vmi-uuid>
	// (see Port.Disabled); written as "link-state" only when disabled,
	// a key the original's VM ports do not have.
	Disabled bool `json:"-"`
}

// Field names of VMPort.
const (
	FieldVMUUID      = "vm-uuid"
	FieldVMIUUID     = "vmi-uuid"
	FieldVNUUID      = "vn-uuid"
	FieldVMID        = "vm-id"
	FieldVMName      = "vm-name"
	FieldHostIfname  = "host-ifname"
	FieldVMIfname    = "vm-ifname"
	FieldVMNamespace = "vm-namespace"
)

// vmFields is VMPort without its methods.
type vmFields VMPort

type vmWire struct {
	vmFields
	LinkState *int `json:"link-state,omitempty"`
}

// MarshalJSON writes the original's keys, and "link-state": 0 when the
// port is disabled.
func (v VMPort) MarshalJSON() ([]byte, error) {
	w := vmWire{vmFields: vmFields(v)}
	if v.Disabled {
		down := LinkDown
		w.LinkState = &down
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes, tolerating unknown keys.
func (v *VMPort) UnmarshalJSON(data []byte) error {
	var w vmWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	q, err := w.vmPort()
	if err != nil {
		return err
	}
	*v = q
	return nil
}

func (w vmWire) vmPort() (VMPort, error) {
	v := VMPort(w.vmFields)
	if w.LinkState != nil {
		switch *w.LinkState {
		case LinkDown:
			v.Disabled = true
		case LinkUp:
		default:
			return VMPort{}, invalid(FieldLinkState, "%d is not 0 (down) or 1 (up)", *w.LinkState)
		}
	}
	return v, nil
}

// DecodeVMPort reads one JSON VM port, refusing unknown keys, and returns
// it normalized. Every error is a *FieldError.
func DecodeVMPort(r io.Reader) (VMPort, error) {
	data, err := readBody(r)
	if err != nil {
		return VMPort{}, err
	}
	return decodeVMPortBytes(data)
}

func decodeVMPortBytes(data []byte) (VMPort, error) {
	var w vmWire
	if err := decodeStrict(data, &w); err != nil {
		return VMPort{}, err
	}
	v, err := w.vmPort()
	if err != nil {
		return VMPort{}, err
	}
	return v.Normalize()
}

// Normalize checks v and returns it with canonical uuids. vm-uuid,
// vmi-uuid, vm-name and host-ifname are required (as in the original).
func (v VMPort) Normalize() (VMPort, error) {
	var err error
	if v.VMUUID, err = normUUID(FieldVMUUID, v.VMUUID, true); err != nil {
		return VMPort{}, err
	}
	if v.VMIUUID, err = normUUID(FieldVMIUUID, v.VMIUUID, true); err != nil {
		return VMPort{}, err
	}
	if v.VNUUID, err = normUUID(FieldVNUUID, v.VNUUID, false); err != nil {
		return VMPort{}, err
	}
	if v.VMName == "" {
		return VMPort{}, required(FieldVMName)
	}
	if len(v.VMName) > maxDisplayNameLen {
		return VMPort{}, invalid(FieldVMName, "longer than %d bytes", maxDisplayNameLen)
	}
	if err := checkName(v.HostIfname, TypeVM); err != nil {
		fe := err.(*FieldError)
		fe.Field = FieldHostIfname
		return VMPort{}, fe
	}
	if v.VMIfname != "" {
		if err := checkName(v.VMIfname, TypeVM); err != nil {
			fe := err.(*FieldError)
			fe.Field = FieldVMIfname
			return VMPort{}, fe
		}
	}
	for _, f := range []struct{ name, val string }{
		{FieldVMID, v.VMID}, {FieldVMNamespace, v.VMNamespace}, {FieldAuthor, v.Author}, {FieldTime, v.Time},
	} {
		if len(f.val) > maxTextLen {
			return VMPort{}, invalid(f.name, "longer than %d bytes", maxTextLen)
		}
	}
	return v, nil
}

// Port is the port the agent programs for v: the VMI on host-ifname, a
// namespace port when v names a namespace. Addresses and MAC are left
// empty: the agent takes them from the VMI's config.
func (v VMPort) Port() Port {
	t := TypeVM
	if v.VMNamespace != "" {
		t = TypeNamespace
	}
	return Port{ID: v.VMIUUID, InstanceID: v.VMUUID, VNID: v.VNUUID, DisplayName: v.VMName,
		Type: t, SystemName: v.HostIfname, RxVLANID: VLANNone, TxVLANID: VLANNone,
		Author: v.Author, Time: v.Time, Disabled: v.Disabled}
}

// VMIConfig is one interface of a VM as the agent's config has it, the
// answer of GET /vm-cfg/<name> (the original's MakeJsonFromVmiConfig keys,
// plus the addresses).
type VMIConfig struct {
	ID           string   `json:"id"`      // VMI uuid
	VMUUID       string   `json:"vm-uuid"` // VM uuid
	VNID         string   `json:"vn-id"`   // network uuid
	VNName       string   `json:"vn-name"` // network fq-name
	MACAddress   string   `json:"mac-address"`
	IPAddress    string   `json:"ip-address,omitempty"`
	IP6Address   string   `json:"ip6-address,omitempty"`
	Plen         int      `json:"plen,omitempty"`
	Gateway      string   `json:"gateway,omitempty"`
	DNSServer    string   `json:"dns-server,omitempty"`
	SubInterface bool     `json:"sub-interface"`
	VLANID       int      `json:"vlan-id"`
	Annotations  []string `json:"annotations,omitempty"` // "{key:value}", as the original
}

// Gateway is one element of POST /gateway, the original's virtual
// gateway (VirtualGatewayInfo): interface gives routing-instance access
// to the fabric for subnets, with routes.
type Gateway struct {
	Interface       string          `json:"interface"`
	RoutingInstance string          `json:"routing-instance"`
	Subnets         []GatewaySubnet `json:"subnets"`
	Routes          []GatewaySubnet `json:"routes"`
}

// GatewaySubnet is a prefix of a Gateway.
type GatewaySubnet struct {
	IPAddress string `json:"ip-address"`
	PrefixLen *int   `json:"prefix-len"`
}

// Field names of Gateway.
const (
	FieldInterface       = "interface"
	FieldRoutingInstance = "routing-instance"
	FieldSubnets         = "subnets"
	FieldRoutes          = "routes"
)

// decodeGateways reads the body of POST /gateway (del false) or DELETE
// /gateway (del true): a JSON array of gateways, of which DELETE needs
// only "interface". Field names in errors are indexed: [1].subnets[0].prefix-len.
func decodeGateways(r io.Reader, del bool) ([]Gateway, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var gws []Gateway
	if err := decodeStrict(data, &gws); err != nil {
		return nil, err
	}
	if len(gws) == 0 {
		return nil, &FieldError{Code: CodeMalformed, Message: "an array of at least one gateway is required"}
	}
	for i, g := range gws {
		at := func(f string) string { return "[" + itoa(i) + "]." + f }
		if err := checkName(g.Interface, TypeVM); err != nil {
			fe := err.(*FieldError)
			fe.Field = at(FieldInterface)
			return nil, fe
		}
		if del {
			continue
		}
		if g.RoutingInstance == "" {
			return nil, required(at(FieldRoutingInstance))
		}
		if g.Subnets == nil {
			return nil, required(at(FieldSubnets))
		}
		if g.Routes == nil {
			return nil, required(at(FieldRoutes))
		}
		for _, l := range []struct {
			name string
			s    []GatewaySubnet
		}{{FieldSubnets, g.Subnets}, {FieldRoutes, g.Routes}} {
			for j, s := range l.s {
				f := at(l.name + "[" + itoa(j) + "]")
				a, err := netip.ParseAddr(s.IPAddress)
				if err != nil || !a.Is4() {
					return nil, invalid(f+".ip-address", "%q is not an IPv4 address", s.IPAddress)
				}
				if s.PrefixLen == nil {
					return nil, required(f + ".prefix-len")
				}
				if *s.PrefixLen < 0 || *s.PrefixLen > 32 {
					return nil, invalid(f+".prefix-len", "%d is not an IPv4 prefix length", *s.PrefixLen)
				}
			}
		}
	}
	return gws, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
