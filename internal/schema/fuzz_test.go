// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzValidate decodes arbitrary JSON and validates it against a few property
// and attribute types. It must never panic, must report errors as
// *FieldError, and must give the same answer twice.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		vncIdPerms, vncIdPermsRead, vncPerms2, vncVNProps, vncSGRules, vncPolicyRules, vncVnSubnets(2),
		`null`, `{}`, `[]`, `"x"`, `1e999`, `-0.0`, `18446744073709551616`,
		`{"ipam_subnets": [{"subnet": {"ip_prefix_len": 1.5e300}}]}`,
		`{"policy_rule": [null, {"src_ports": [{"start_port": "0"}]}]}`,
		`{"key_value_pair": [{"key": null, "value": {"nested": true}}]}`,
		`{"uuid": {"uuid_mslong": 1e19, "uuid_lslong": -1}, "created": "2024-01-02T03:04:05+01:00"}`,
	} {
		f.Add([]byte(s))
	}
	targets := []struct {
		prefix string
		typ    *Type
	}{
		{"id_perms", LookupType("IdPermsType")},
		{"perms2", LookupType("PermType2")},
		{"virtual_network_properties", LookupType("VirtualNetworkType")},
		{"network_ipam_refs[0].attr", LookupType("VnSubnetsType")},
		{"security_group_entries", LookupType("PolicyEntriesType")},
		{"annotations", LookupType("KeyValuePairs")},
		{"virtual_DNS_data", LookupType("VirtualDnsType")},
		{"autonomous_system", LookupType("AutonomousSystemType")},
		{"uuid", LookupType("xsd:unsignedLong")},
		{"created", LookupType("xsd:dateTime")},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return
		}
		for _, tg := range targets {
			err1 := tg.typ.Validate(tg.prefix, v)
			err2 := tg.typ.Validate(tg.prefix, v)
			if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
				t.Fatalf("%s: nondeterministic result: %v / %v", tg.prefix, err1, err2)
			}
			if err1 == nil {
				continue
			}
			var fe *FieldError
			if !errors.As(err1, &fe) {
				t.Fatalf("%s: error %T is not a *FieldError", tg.prefix, err1)
			}
			if fe.Msg == "" {
				t.Fatalf("%s: empty message", tg.prefix)
			}
		}
	})
}
