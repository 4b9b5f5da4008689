// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultAgentURL is where RunPortControl finds the agent by default.
const DefaultAgentURL = "http://" + DefaultAddr

// flagOfField names the vrouter-port-control flag that sets a Port field,
// so that errors speak of what the user typed.
var flagOfField = map[string]string{
	FieldID:            "--uuid",
	FieldInstanceID:    "--instance_uuid",
	FieldVNID:          "--vn_uuid",
	FieldVMProjectID:   "--vm_project_uuid",
	FieldDisplayName:   "--vm_name",
	FieldIPAddress:     "--ip_address",
	FieldIP6Address:    "--ipv6_address",
	FieldType:          "--port_type",
	FieldSystemName:    "--tap_name",
	FieldMACAddress:    "--mac",
	FieldRxVLANID:      "--rx_vlan_id",
	FieldTxVLANID:      "--tx_vlan_id",
	FieldVhostUserMode: "--vhostuser_mode",
}

// portTypes maps the original script's --port_type names to types.
var portTypes = map[string]PortType{
	"novavmport":    TypeVM,
	"namespaceport": TypeNamespace,
	"esxiport":      TypeRemote,
	"remoteport":    TypeRemote,
}

func portControlUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: contrail vrouter-port-control --oper=add|delete|enable|disable --uuid=UUID [options]

Adds a port to, or deletes a port from, the vrouter agent's port API, or
sets its link state: a disabled port stays configured but passes no
traffic until it is enabled again.

Options:
  --oper=OPER             add, delete, enable or disable (required, unless
                          --enable or --disable is given)
  --enable, --disable     the same as --oper=enable and --oper=disable
  --uuid=UUID             virtual-machine-interface uuid (required)
  --instance_uuid=UUID    virtual-machine uuid (add: required)
  --vn_uuid=UUID          virtual-network uuid
  --vm_project_uuid=UUID  project uuid
  --ip_address=A          IPv4 address
  --ipv6_address=A        IPv6 address
  --vm_name=NAME          display name of the VM
  --mac=MAC               MAC address
  --tap_name=NAME         tap device name (add: required)
  --port_type=T           NovaVMPort (0), NameSpacePort (1) or ESXiPort (2); default NovaVMPort
  --tx_vlan_id=N          transmit VLAN id, -1 for none (default -1)
  --rx_vlan_id=N          receive VLAN id, -1 for none (default -1)
  --vhostuser_mode=N      0 client, 1 server (default 0)
  --vif_type, --vhostuser_socket, --vnic_type, --pci_dev
                          accepted for compatibility and ignored
  --agent=URL             agent port API (default `+DefaultAgentURL+`)
  --timeout=D             time limit of the request (default 30s)

Exit status: 0 on success, 1 when the request fails, 2 on bad usage.`)
}

// RunPortControl is the vrouter-port-control command: it parses args (the
// original script's flag names, with - or --; a single argument holding
// all the options, as nova passes them, is split on spaces) and calls the
// agent's port API. It returns the exit code: 0 on success, 1 if the request fails, 2
// on bad usage.
func RunPortControl(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var (
		oper, id, vmID, vnID, projID, ip4, ip6, name, mac, tap, ptype, agent string
		txVLAN, rxVLAN, vhostMode                                            int
		timeout                                                              time.Duration
		enable, disable                                                      bool
	)
	fs := flag.NewFlagSet("vrouter-port-control", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&oper, "oper", "", "")
	fs.BoolVar(&enable, "enable", false, "")
	fs.BoolVar(&disable, "disable", false, "")
	fs.StringVar(&id, "uuid", "", "")
	fs.StringVar(&vmID, "instance_uuid", "", "")
	fs.StringVar(&vnID, "vn_uuid", "", "")
	fs.StringVar(&projID, "vm_project_uuid", "", "")
	fs.StringVar(&ip4, "ip_address", "", "")
	fs.StringVar(&ip6, "ipv6_address", "", "")
	fs.StringVar(&name, "vm_name", "", "")
	fs.StringVar(&mac, "mac", "", "")
	fs.StringVar(&tap, "tap_name", "", "")
	fs.StringVar(&ptype, "port_type", "NovaVMPort", "")
	fs.IntVar(&txVLAN, "tx_vlan_id", VLANNone, "")
	fs.IntVar(&rxVLAN, "rx_vlan_id", VLANNone, "")
	fs.IntVar(&vhostMode, "vhostuser_mode", 0, "")
	// Flags the original's callers (nova, os-vif) pass that have no port
	// key: accepted and ignored, as the original's agent ignores them.
	var ignored string
	for _, name := range []string{"vif_type", "vhostuser_socket", "vnic_type", "pci_dev"} {
		fs.StringVar(&ignored, name, "", "")
	}
	fs.StringVar(&agent, "agent", DefaultAgentURL, "")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "")

	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vrouter-port-control: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'vrouter-port-control -h' for usage.")
		return 2
	}
	// nova's processutils.execute("vrouter-port-control", cmd_args) gives
	// all the options as one argument; the original splits it on spaces.
	if len(args) == 1 && strings.HasPrefix(args[0], "-") && strings.ContainsAny(args[0], " \t") {
		args = strings.Fields(args[0])
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			portControlUsage(stdout)
			return 0
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	base, err := url.Parse(agent)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usageErr("--agent %q is not an http:// URL", agent)
	}
	for _, f := range []struct {
		set  bool
		name string
	}{{enable, "enable"}, {disable, "disable"}} {
		if !f.set {
			continue
		}
		if oper != "" && oper != f.name {
			return usageErr("--%s contradicts --oper=%s", f.name, oper)
		}
		oper = f.name
	}
	if id == "" {
		return usageErr("--uuid is required")
	}
	cid, ok := ParseUUID(id)
	if !ok {
		return usageErr("invalid --uuid %q: not a uuid", id)
	}

	var method, path string
	var body []byte
	switch oper {
	case "add":
		t, ok := parsePortType(ptype)
		if !ok {
			return usageErr("invalid --port_type %q: want NovaVMPort, NameSpacePort, ESXiPort or 0-2", ptype)
		}
		p := Port{
			ID: id, InstanceID: vmID, VNID: vnID, VMProjectID: projID,
			DisplayName: name, IPAddress: ip4, IP6Address: ip6, Type: t,
			SystemName: tap, MACAddress: mac, RxVLANID: rxVLAN, TxVLANID: txVLAN,
			VhostUserMode: vhostMode,
		}
		p, err := p.Normalize()
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && flagOfField[fe.Field] != "" {
				if fe.Code == CodeRequired {
					return usageErr("%s is required", flagOfField[fe.Field])
				}
				return usageErr("invalid %s: %s", flagOfField[fe.Field], fe.Message)
			}
			return usageErr("%v", err)
		}
		body, _ = json.Marshal(p) // a Port always encodes
		method, path = http.MethodPost, "/port"
	case "delete":
		method, path = http.MethodDelete, "/port/"+cid
	case "enable", "disable":
		method, path = http.MethodPut, "/"+oper+"-port/"+cid
	case "":
		return usageErr("--oper is required")
	default:
		return usageErr("invalid --oper %q: want add, delete, enable or disable", oper)
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := strings.TrimRight(base.String(), "/") + path
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "vrouter-port-control: %v\n", err)
		return 1
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "vrouter-port-control: cannot reach the agent at %s: %v\n", base, err)
		return 1
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "vrouter-port-control: %s %s: %s\n", oper, cid, describeError(resp.StatusCode, data))
		return 1
	}
	return 0
}

func parsePortType(s string) (PortType, bool) {
	if t, ok := portTypes[strings.ToLower(s)]; ok {
		return t, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < int(TypeVM) || n > int(TypeRemote) {
		return 0, false
	}
	return PortType(n), true
}

// describeError renders an error answer of the API for a human.
func describeError(status int, data []byte) string {
	var eb errorBody
	if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Message == "" {
		msg := strings.TrimSpace(string(data))
		if msg == "" {
			return http.StatusText(status)
		}
		return fmt.Sprintf("%s: %s", http.StatusText(status), msg)
	}
	d := eb.Error
	if d.Field != "" {
		if f := flagOfField[d.Field]; f != "" {
			return fmt.Sprintf("%s (%s): %s: %s", http.StatusText(status), d.Code, f, d.Message)
		}
		return fmt.Sprintf("%s (%s): %s: %s", http.StatusText(status), d.Code, d.Field, d.Message)
	}
	return fmt.Sprintf("%s (%s): %s", http.StatusText(status), d.Code, d.Message)
}
