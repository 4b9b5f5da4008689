// SPDX-License-Identifier: Apache-2.0

package portapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const (
	testVMI  = "11111111-2222-3333-4444-555555555555"
	testVM   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	testVN   = "0f0f0f0f-0000-1111-2222-333333333333"
	testProj = "99999999-8888-7777-6666-555555555555"
)

// validJSON is a request as vrouter-port-control sends it.
const validJSON = `{
  "id": "11111111-2222-3333-4444-555555555555",
  "instance-id": "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
  "vn-id": "0f0f0f0f-0000-1111-2222-333333333333",
  "vm-project-id": "99999999888877776666555555555555",
  "display-name": "vm1",
  "ip-address": "10.0.0.3",
  "ip6-address": "2001:DB8:0::3",
  "type": 0,
  "system-name": "tap11111111-22",
  "mac-address": "02:AA:BB:CC:DD:EE",
  "rx-vlan-id": -1,
  "tx-vlan-id": -1,
  "vhostuser-mode": 0,
  "link-state": 1
}`

func testPort(id, tap string) Port {
	return Port{
		ID: id, InstanceID: testVM, VNID: testVN, VMProjectID: testProj,
		DisplayName: "vm1", IPAddress: "10.0.0.3", Type: TypeVM,
		SystemName: tap, MACAddress: "02:00:00:00:00:01",
		RxVLANID: VLANNone, TxVLANID: VLANNone,
	}
}

func TestDecodePortNormalizes(t *testing.T) {
	p, err := DecodePort(strings.NewReader(validJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := Port{
		ID: testVMI, InstanceID: testVM, VNID: testVN, VMProjectID: testProj,
		DisplayName: "vm1", IPAddress: "10.0.0.3", IP6Address: "2001:db8::3",
		Type: TypeVM, SystemName: "tap11111111-22", MACAddress: "02:aa:bb:cc:dd:ee",
		RxVLANID: -1, TxVLANID: -1,
	}
	if p != want {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func TestDecodePortDefaultsVLAN(t *testing.T) {
	p, err := DecodePort(strings.NewReader(`{"id":"` + testVMI + `","instance-id":"` + testVM + `","system-name":"tap0"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.RxVLANID != VLANNone || p.TxVLANID != VLANNone {
		t.Errorf("vlan ids = %d, %d; want -1, -1", p.RxVLANID, p.TxVLANID)
	}
}

func TestDecodePortErrors(t *testing.T) {
	set := func(key, val string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(validJSON), &m); err != nil {
			t.Fatal(err)
		}
		if val == "" {
			delete(m, key)
		} else {
			var v any
			if err := json.Unmarshal([]byte(val), &v); err != nil {
				t.Fatal(err)
			}
			m[key] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name  string
		body  string
		code  string
		field string
	}{
		{name: "empty", body: "", code: CodeMalformed},
		{name: "not json", body: "hello", code: CodeMalformed},
		{name: "array", body: "[]", code: CodeMalformed},
		{name: "truncated", body: `{"id":`, code: CodeMalformed},
		{name: "trailing data", body: validJSON + "{}", code: CodeMalformed},
		{name: "too large", body: `{"display-name":"` + strings.Repeat("x", MaxBodySize) + `"}`, code: CodeTooLarge},
		{name: "unknown field", body: set("colour", `"red"`), code: CodeUnknownField, field: "colour"},
		{name: "missing id", body: set("id", ""), code: CodeRequired, field: FieldID},
		{name: "bad id", body: set("id", `"not-a-uuid"`), code: CodeInvalid, field: FieldID},
		{name: "id wrong type", body: set("id", `42`), code: CodeInvalid, field: FieldID},
		{name: "missing instance", body: set("instance-id", ""), code: CodeRequired, field: FieldInstanceID},
		{name: "bad vn", body: set("vn-id", `"0f0f0f0f-0000-1111-2222-33333333333g"`), code: CodeInvalid, field: FieldVNID},
		{name: "bad project", body: set("vm-project-id", `"x"`), code: CodeInvalid, field: FieldVMProjectID},
		{name: "bad ip", body: set("ip-address", `"10.0.0.300"`), code: CodeInvalid, field: FieldIPAddress},
		{name: "v6 in ip-address", body: set("ip-address", `"2001:db8::1"`), code: CodeInvalid, field: FieldIPAddress},
		{name: "v4 in ip6-address", body: set("ip6-address", `"10.0.0.1"`), code: CodeInvalid, field: FieldIP6Address},
		{name: "bad type", body: set("type", `3`), code: CodeInvalid, field: FieldType},
		{name: "type as string", body: set("type", `"0"`), code: CodeInvalid, field: FieldType},
		{name: "missing system-name", body: set("system-name", ""), code: CodeRequired, field: FieldSystemName},
		{name: "long system-name", body: set("system-name", `"tap0123456789abcdef"`), code: CodeInvalid, field: FieldSystemName},
		{name: "slash in system-name", body: set("system-name", `"tap/0"`), code: CodeInvalid, field: FieldSystemName},
		{name: "bad mac", body: set("mac-address", `"02:aa:bb:cc:dd"`), code: CodeInvalid, field: FieldMACAddress},
		{name: "long mac", body: set("mac-address", `"02:aa:bb:cc:dd:ee:ff:00"`), code: CodeInvalid, field: FieldMACAddress},
		{name: "bad rx vlan", body: set("rx-vlan-id", `4096`), code: CodeInvalid, field: FieldRxVLANID},
		{name: "bad tx vlan", body: set("tx-vlan-id", `-2`), code: CodeInvalid, field: FieldTxVLANID},
		{name: "fractional vlan", body: set("tx-vlan-id", `1.5`), code: CodeInvalid, field: FieldTxVLANID},
		{name: "bad vhostuser", body: set("vhostuser-mode", `2`), code: CodeInvalid, field: FieldVhostUserMode},
		{name: "bad link-state", body: set("link-state", `7`), code: CodeInvalid, field: FieldLinkState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePort(strings.NewReader(tt.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Code != tt.code || fe.Field != tt.field {
				t.Errorf("code, field = %q, %q; want %q, %q (%v)", fe.Code, fe.Field, tt.code, tt.field, err)
			}
			if !errors.Is(err, ErrInvalidPort) {
				t.Error("errors.Is(err, ErrInvalidPort) = false")
			}
		})
	}
}

// TestDecodePortOriginalClients decodes bodies in the shape the original's
// clients and port files have: extra keys, 65535 for "no VLAN", "None" for
// no IPv6 and a uuid as system-name of a remote port.
func TestDecodePortOriginalClients(t *testing.T) {
	vcenter := `{"id": "` + testVMI + `", "instance-id": "` + testVM + `", "display-name": "vm1",
		"ip-address": "11.0.0.11", "ip6-address": "None", "vn-id": "` + testVN + `",
		"vm-project-id": "00000000-0000-0000-0000-000000000000", "mac-address": "02:75:3a:65:ef:91",
		"system-name": "` + testVMI + `", "type": 2, "rx-vlan-id": 1999, "tx-vlan-id": 2000,
		"vhostuser-mode": 0, "link-state": 0, "author": "contrail-vcenter-manager",
		"time": "2026-11-25 17:00:00.000000"}`
	p, err := DecodePort(strings.NewReader(vcenter))
	if err != nil {
		t.Fatal(err)
	}
	if p.IP6Address != "" || p.Type != TypeRemote || p.SystemName != testVMI || p.RxVLANID != 1999 || p.Author != "contrail-vcenter-manager" {
		t.Errorf("vcenter port decoded as %+v", p)
	}
	agentFile := `{"id": "` + testVMI + `", "instance-id": "` + testVM + `", "vn-id": "` + testVN + `",
		"vm-project-id": "00000000-0000-0000-0000-000000000000", "mac-address": "02:9c:78:db:f6:ef",
		"system-name": "tapeth0-820841", "rx-vlan-id": 65535, "tx-vlan-id": 65535,
		"vhostuser-mode": 0, "ip-address": "10.232.67.3", "plen": 18, "dns-server": "10.232.64.1",
		"gateway": "10.232.64.1", "author": "/contrail-vrouter-agent", "time": "460818:14:49.935126"}`
	p, err = DecodePort(strings.NewReader(agentFile))
	if err != nil {
		t.Fatal(err)
	}
	if p.RxVLANID != VLANNone || p.TxVLANID != VLANNone || p.Plen != 18 || p.Gateway != "10.232.64.1" || p.DNSServer != "10.232.64.1" {
		t.Errorf("agent file decoded as %+v", p)
	}
	for _, tt := range []struct{ key, val, field string }{
		{key: "plen", val: "33", field: FieldPlen},
		{key: "gateway", val: `"10.0.0"`, field: FieldGateway},
		{key: "dns-server", val: `"::1"`, field: FieldDNSServer},
		{key: "author", val: `"` + strings.Repeat("a", 300) + `"`, field: FieldAuthor},
		{key: "system-name", val: `"` + strings.Repeat("a", 16) + `"`, field: FieldSystemName}, // type 0
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(agentFile), &m); err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal([]byte(tt.val), &v); err != nil {
			t.Fatal(err)
		}
		m[tt.key] = v
		b, _ := json.Marshal(m)
		body := string(b)
		_, err := DecodePort(strings.NewReader(body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s=%s: err %v, want a FieldError on %s", tt.key, tt.val, err, tt.field)
		}
	}
}

func TestParseUUID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{in: testVMI, want: testVMI, ok: true},
		{in: strings.ToUpper(testVM), want: testVM, ok: true},
		{in: strings.ReplaceAll(testVN, "-", ""), want: testVN, ok: true},
		{in: "", ok: false},
		{in: "{" + testVMI + "}", ok: false},
		{in: "11111111-2222-3333-4444_555555555555", ok: false},
		{in: "1111111122223333444455555555555z", ok: false},
	}
	for _, tt := range tests {
		got, ok := ParseUUID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseUUID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzDecodePort checks that decoding never panics, that what it accepts
// is valid and that normalization is a fixed point: the accepted port
// encodes and decodes to itself.
func FuzzDecodePort(f *testing.F) {
	f.Add([]byte(validJSON))
	f.Add([]byte(`{"id":"` + testVMI + `","instance-id":"` + testVM + `","system-name":"tap0"}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`{"ip-address":"::ffff:10.0.0.1","id":"` + testVMI + `"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"id":"` + testVMI + `"} x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePort(bytes.NewReader(data))
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			return
		}
		if _, err := p.Normalize(); err != nil {
			t.Fatalf("accepted port does not validate: %v", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := DecodePort(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if q != p {
			t.Fatalf("round trip changed the port:\n%+v\n%+v", p, q)
		}
	})
}
