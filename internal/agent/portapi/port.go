// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
)

// PortType is the "type" of a port (the original's PortType in
// port_ipc_handler.h).
type PortType int

// Port types.
const (
	TypeVM        PortType = 0 // a VM's tap device
	TypeNamespace PortType = 1 // a veth in a network namespace (containers)
	TypeRemote    PortType = 2 // a port on another host (ESXi/vCenter)
)

// VLANNone is the value of rx-vlan-id and tx-vlan-id when the port has no
// VLAN, and their value when a request leaves them out.
const VLANNone = -1

// vlanNoneAgent is how the original agent writes "no VLAN" (0xffff) in its
// port files; Normalize turns it into VLANNone.
const vlanNoneAgent = 0xffff

// maxTextLen bounds the free-text fields author and time.
const maxTextLen = 256

// MaxBodySize is the largest request body the server accepts, and the
// largest port file the Store reads. A port is a few hundred bytes.
const MaxBodySize = 64 << 10

// maxNameLen bounds system-name: a Linux interface name is at most
// IFNAMSIZ-1 = 15 bytes.
const maxNameLen = 15

// maxDisplayNameLen bounds display-name.
const maxDisplayNameLen = 1024

// Port is one port as the original's port IPC handler reads and writes it
// (port_ipc_handler.cc). The JSON keys are the original's.
type Port struct {
	ID            string   `json:"id"`            // VMI uuid
	InstanceID    string   `json:"instance-id"`   // VM uuid
	VNID          string   `json:"vn-id"`         // virtual-network uuid
	VMProjectID   string   `json:"vm-project-id"` // project uuid
	DisplayName   string   `json:"display-name"`  // VM name
	IPAddress     string   `json:"ip-address"`    // IPv4, "" if none
	IP6Address    string   `json:"ip6-address"`   // IPv6, "" if none
	Type          PortType `json:"type"`
	SystemName    string   `json:"system-name"` // tap device name
	MACAddress    string   `json:"mac-address"`
	RxVLANID      int      `json:"rx-vlan-id"`
	TxVLANID      int      `json:"tx-vlan-id"`
	VhostUserMode int      `json:"vhostuser-mode"` // 0 client, 1 server

	// Disabled is the port's link state, the original's "link-state"
	// key (0 disabled, 1 enabled; PUT /disable-port and /enable-port
	// set it). A disabled port stays stored but passes no traffic. In
	// JSON, link-state is always written; when a request leaves it out
	// a port is enabled, except a remote port (type 2), as in the
	// original. The Go zero value is an enabled port.
	Disabled bool `json:"-"`

	// Optional keys that the original's clients (the CNI plugin,
	// contrail-vcenter-manager) and the agent's own port files carry.
	Plen      int    `json:"plen,omitempty"`       // prefix length of ip-address
	DNSServer string `json:"dns-server,omitempty"` // IPv4
	Gateway   string `json:"gateway,omitempty"`    // IPv4
	Author    string `json:"author,omitempty"`     // program that made the request
	Time      string `json:"time,omitempty"`       // when, free text
}

// Field names of Port, as they appear in JSON and in FieldError.Field.
const (
	FieldID            = "id"
	FieldInstanceID    = "instance-id"
	FieldVNID          = "vn-id"
	FieldVMProjectID   = "vm-project-id"
	FieldDisplayName   = "display-name"
	FieldIPAddress     = "ip-address"
	FieldIP6Address    = "ip6-address"
	FieldType          = "type"
	FieldSystemName    = "system-name"
	FieldMACAddress    = "mac-address"
	FieldRxVLANID      = "rx-vlan-id"
	FieldTxVLANID      = "tx-vlan-id"
	FieldVhostUserMode = "vhostuser-mode"
	FieldLinkState     = "link-state"
	FieldPlen          = "plen"
	FieldDNSServer     = "dns-server"
	FieldGateway       = "gateway"
	FieldAuthor        = "author"
	FieldTime          = "time"
)

// Error codes of FieldError.Code and of the HTTP error body.
const (
	CodeMalformed    = "malformed"     // not JSON, or not one JSON object
	CodeTooLarge     = "too_large"     // body over MaxBodySize
	CodeUnknownField = "unknown_field" // a key Port does not have
	CodeRequired     = "required"      // a mandatory field is empty
	CodeInvalid      = "invalid"       // a field has a bad value
	CodeNotFound     = "not_found"     // no such port
	CodeRejected     = "rejected"      // the Validate hook said no
	CodeApplyFailed  = "apply_failed"  // the Apply or Remove hook failed
	CodeInternal     = "internal"      // anything else, e.g. a disk error
	CodeConflict     = "conflict"      // the port exists in another form (409)
	CodeUnavailable  = "unavailable"   // not possible yet, retry (503)
)

// ErrInvalidPort matches every *FieldError with errors.Is.
var ErrInvalidPort = errors.New("portapi: invalid port")

// FieldError is a port that failed decoding or validation. Field is the
// JSON key at fault, "" when the body as a whole is.
type FieldError struct {
	Code    string
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "portapi: " + e.Message
	}
	return "portapi: " + e.Field + ": " + e.Message
}

// Is makes errors.Is(err, ErrInvalidPort) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidPort }

func invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func required(field string) *FieldError {
	return &FieldError{Code: CodeRequired, Field: field, Message: "required"}
}

// portFields is Port without its methods, so that portWire can embed it.
type portFields Port

// portWire is the JSON form of a Port: its fields and "link-state".
type portWire struct {
	portFields
	LinkState *int `json:"link-state,omitempty"`
}

// Link states of the "link-state" key.
const (
	LinkDown = 0
	LinkUp   = 1
)

// LinkState returns the port's "link-state": LinkUp or LinkDown.
func (p Port) LinkState() int {
	if p.Disabled {
		return LinkDown
	}
	return LinkUp
}

// MarshalJSON writes the port with the original's keys, link-state
// included.
func (p Port) MarshalJSON() ([]byte, error) {
	ls := p.LinkState()
	return json.Marshal(portWire{portFields: portFields(p), LinkState: &ls})
}

// UnmarshalJSON reads a port as MarshalJSON writes it, tolerating unknown
// keys (DecodePort is the strict reader of requests and files).
func (p *Port) UnmarshalJSON(data []byte) error {
	w := portWire{portFields: portFields{RxVLANID: VLANNone, TxVLANID: VLANNone}}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	q, err := w.port()
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// port applies link-state, or its default, to the decoded fields.
func (w portWire) port() (Port, error) {
	p := Port(w.portFields)
	switch {
	case w.LinkState == nil:
		p.Disabled = p.Type == TypeRemote // the original's default
	case *w.LinkState == LinkDown:
		p.Disabled = true
	case *w.LinkState == LinkUp:
		p.Disabled = false
	default:
		return Port{}, invalid(FieldLinkState, "%d is not 0 (down) or 1 (up)", *w.LinkState)
	}
	return p, nil
}

// DecodePort reads one JSON port from r, refusing unknown keys, trailing
// data and bodies over MaxBodySize, and returns it normalized. Left-out
// VLAN ids default to VLANNone. Every error is a *FieldError.
func DecodePort(r io.Reader) (Port, error) {
	data, err := readBody(r)
	if err != nil {
		return Port{}, err
	}
	return decodePortBytes(data)
}

func decodePortBytes(data []byte) (Port, error) {
	w := portWire{portFields: portFields{RxVLANID: VLANNone, TxVLANID: VLANNone}}
	if err := decodeStrict(data, &w); err != nil {
		return Port{}, err
	}
	p, err := w.port()
	if err != nil {
		return Port{}, err
	}
	return p.Normalize()
}

// decodeStrict decodes one JSON value from data into v, refusing unknown
// keys and trailing data. Every error is a *FieldError.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &FieldError{Code: CodeMalformed, Message: "empty body"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Code: CodeMalformed, Message: "data after the JSON value"}
	}
	return nil
}

// readBody reads a request body or file of at most MaxBodySize bytes.
func readBody(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodySize+1))
	if err != nil {
		return nil, &FieldError{Code: CodeMalformed, Message: "reading body: " + err.Error()}
	}
	if len(data) > MaxBodySize {
		return nil, &FieldError{Code: CodeTooLarge, Message: fmt.Sprintf("body larger than %d bytes", MaxBodySize)}
	}
	return data, nil
}

// jsonError turns an encoding/json error into a *FieldError.
func jsonError(err error) *FieldError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return &FieldError{Code: CodeMalformed, Message: "the body must be a JSON object, not " + te.Value}
		}
		// encoding/json names a promoted field through its embedded
		// struct (portFields.id): the client knows it as "id".
		field := strings.TrimPrefix(strings.TrimPrefix(te.Field, "portFields."), "vmFields.")
		return invalid(field, "must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return &FieldError{Code: CodeMalformed, Message: fmt.Sprintf("bad JSON at byte %d: %v", se.Offset, err)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &FieldError{Code: CodeMalformed, Message: "truncated JSON"}
	}
	// encoding/json has no type for an unknown key; its message is
	// `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &FieldError{Code: CodeUnknownField, Field: strings.Trim(name, `"`), Message: "unknown field"}
	}
	return &FieldError{Code: CodeMalformed, Message: err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64":
		return "integer"
	}
	return goKind
}

// Normalize checks p and returns it in canonical form: lower-case uuids
// with dashes, lower-case colon-separated MAC, canonical IP text. The
// error, if any, is a *FieldError naming the first bad field.
func (p Port) Normalize() (Port, error) {
	var err error
	if p.ID, err = normUUID(FieldID, p.ID, true); err != nil {
		return Port{}, err
	}
	if p.InstanceID, err = normUUID(FieldInstanceID, p.InstanceID, true); err != nil {
		return Port{}, err
	}
	if p.VNID, err = normUUID(FieldVNID, p.VNID, false); err != nil {
		return Port{}, err
	}
	if p.VMProjectID, err = normUUID(FieldVMProjectID, p.VMProjectID, false); err != nil {
		return Port{}, err
	}
	if len(p.DisplayName) > maxDisplayNameLen {
		return Port{}, invalid(FieldDisplayName, "longer than %d bytes", maxDisplayNameLen)
	}
	if p.IPAddress, err = normIP(FieldIPAddress, p.IPAddress, false); err != nil {
		return Port{}, err
	}
	if p.IP6Address, err = normIP(FieldIP6Address, p.IP6Address, true); err != nil {
		return Port{}, err
	}
	switch p.Type {
	case TypeVM, TypeNamespace, TypeRemote:
	default:
		return Port{}, invalid(FieldType, "%d is not a port type (0 VM, 1 namespace, 2 remote)", p.Type)
	}
	if err := checkName(p.SystemName, p.Type); err != nil {
		return Port{}, err
	}
	if p.MACAddress, err = normMAC(p.MACAddress); err != nil {
		return Port{}, err
	}
	if p.RxVLANID, err = normVLAN(FieldRxVLANID, p.RxVLANID); err != nil {
		return Port{}, err
	}
	if p.TxVLANID, err = normVLAN(FieldTxVLANID, p.TxVLANID); err != nil {
		return Port{}, err
	}
	if p.VhostUserMode != 0 && p.VhostUserMode != 1 {
		return Port{}, invalid(FieldVhostUserMode, "%d is not 0 (client) or 1 (server)", p.VhostUserMode)
	}
	if p.Plen < 0 || p.Plen > 32 {
		return Port{}, invalid(FieldPlen, "%d is not an IPv4 prefix length", p.Plen)
	}
	if p.DNSServer, err = normIP(FieldDNSServer, p.DNSServer, false); err != nil {
		return Port{}, err
	}
	if p.Gateway, err = normIP(FieldGateway, p.Gateway, false); err != nil {
		return Port{}, err
	}
	if len(p.Author) > maxTextLen {
		return Port{}, invalid(FieldAuthor, "longer than %d bytes", maxTextLen)
	}
	if len(p.Time) > maxTextLen {
		return Port{}, invalid(FieldTime, "longer than %d bytes", maxTextLen)
	}
	return p, nil
}

// ParseUUID returns s as a canonical uuid (lower case, 8-4-4-4-12), also
// accepting upper case and the 32-digit form without dashes.
func ParseUUID(s string) (string, bool) {
	var hex []byte
	switch len(s) {
	case 36:
		for i := 0; i < 36; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if s[i] != '-' {
					return "", false
				}
				continue
			}
			hex = append(hex, s[i])
		}
	case 32:
		hex = []byte(s)
	default:
		return "", false
	}
	for i, c := range hex {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			hex[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	h := string(hex)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], true
}

func normUUID(field, s string, mandatory bool) (string, error) {
	if s == "" {
		if mandatory {
			return "", required(field)
		}
		return "", nil
	}
	u, ok := ParseUUID(s)
	if !ok {
		return "", invalid(field, "%q is not a uuid", s)
	}
	return u, nil
}

// normIP checks an address of the given family; "" means none. The
// original's clients also send "None" (Python's None as text), which
// becomes "", and 0.0.0.0 or ::, which are kept.
func normIP(field, s string, v6 bool) (string, error) {
	if s == "" || s == "None" {
		return "", nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", invalid(field, "%q is not an IP address", s)
	}
	if v6 && !a.Is6() {
		return "", invalid(field, "%q is not an IPv6 address", s)
	}
	if !v6 {
		a = a.Unmap()
		if !a.Is4() {
			return "", invalid(field, "%q is not an IPv4 address", s)
		}
	}
	return a.String(), nil
}

func normMAC(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", invalid(FieldMACAddress, "%q is not a 48-bit MAC address", s)
	}
	return hw.String(), nil
}

// checkName checks system-name: a Linux interface name for VM and
// namespace ports; for a remote port, whose name is not a local device
// (vCenter uses the VMI uuid), the same characters but up to 255 bytes.
func checkName(s string, t PortType) error {
	if s == "" {
		return required(FieldSystemName)
	}
	limit := maxNameLen
	if t == TypeRemote {
		limit = 255
	}
	if len(s) > limit {
		return invalid(FieldSystemName, "%q is longer than %d bytes", s, limit)
	}
	if s == "." || s == ".." {
		return invalid(FieldSystemName, "%q is not an interface name", s)
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '/' || c == ':' {
			return invalid(FieldSystemName, "%q is not an interface name", s)
		}
	}
	return nil
}

func normVLAN(field string, v int) (int, error) {
	if v == vlanNoneAgent {
		return VLANNone, nil
	}
	if v < VLANNone || v > 4095 {
		return 0, invalid(field, "%d is not a VLAN id (0-4095, or -1 or 65535 for none)", v)
	}
	return v, nil
}
