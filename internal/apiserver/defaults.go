// SPDX-License-Identifier: Apache-2.0

package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/contrail-go/contrail/internal/schema"
)

// defaultObject is one object the server makes sure exists at start-up,
// as the original's _db_init_entries and create_default_children do.
type defaultObject struct {
	typ    string
	fields string // JSON of the object body; fq_name is required
}

func (s *Server) defaultObjects() []defaultObject {
	gsc := fmt.Sprintf(`{"fq_name":["default-global-system-config"],"autonomous_system":%d,"config_version":"1.0"}`, s.cfg.AutonomousSystem)
	proj := `"default-domain","default-project"`
	return []defaultObject{
		{"global-system-config", gsc},
		{"global-vrouter-config", `{"fq_name":["default-global-system-config","default-global-vrouter-config"],"parent_type":"global-system-config"}`},
		{"global-qos-config", `{"fq_name":["default-global-system-config","default-global-qos-config"],"parent_type":"global-system-config"}`},
		{"fabric", `{"fq_name":["default-global-system-config","default-fabric"],"parent_type":"global-system-config"}`},
		{"discovery-service-assignment", `{"fq_name":["default-discovery-service-assignment"]}`},
		{"policy-management", `{"fq_name":["default-policy-management"]}`},
		{"application-policy-set", `{"fq_name":["default-policy-management","default-application-policy-set"],"parent_type":"policy-management","all_applications":true}`},
		{"domain", `{"fq_name":["default-domain"]}`},
		{"namespace", `{"fq_name":["default-domain","default-namespace"],"parent_type":"domain"}`},
		{"project", `{"fq_name":[` + proj + `],"parent_type":"domain"}`},
		{"network-ipam", `{"fq_name":[` + proj + `,"default-network-ipam"],"parent_type":"project","perms2":{"owner":"cloud-admin","owner_access":7,"global_access":5,"share":[]}}`},
		{"virtual-network", `{"fq_name":[` + proj + `,"default-virtual-network"],"parent_type":"project"}`},
		{"virtual-network", `{"fq_name":[` + proj + `,"ip-fabric"],"parent_type":"project","is_provider_network":true}`},
		{"routing-instance", `{"fq_name":[` + proj + `,"ip-fabric","__default__"],"parent_type":"virtual-network"}`},
		{"virtual-network", `{"fq_name":[` + proj + `,"__link_local__"],"parent_type":"project"}`},
		{"virtual-network", `{"fq_name":[` + proj + `,"dci-network"],"parent_type":"project"}`},
		{"routing-instance", `{"fq_name":[` + proj + `,"dci-network","__default__"],"parent_type":"virtual-network"}`},
		{"security-group", `{"fq_name":[` + proj + `,"__no_rule__"],"parent_type":"project","perms2":{"owner":"cloud-admin","owner_access":7,"global_access":5,"share":[]},"security_group_entries":{"policy_rule":[]}}`},
		{"network-ipam", `{"fq_name":[` + proj + `,"service-chain-flat-ipam"],"parent_type":"project","ipam_subnet_method":"flat-subnet",` +
			`"ipam_subnets":{"subnets":[{"subnet":{"ip_prefix":"0.0.0.0","ip_prefix_len":8}},{"subnet":{"ip_prefix":"::ffff","ip_prefix_len":104}}]}}`},
		{"tag-type", `{"fq_name":["label"],"tag_type_id":"0x0000"}`},
		{"tag-type", `{"fq_name":["application"],"tag_type_id":"0x0001"}`},
		{"tag-type", `{"fq_name":["tier"],"tag_type_id":"0x0002"}`},
		{"tag-type", `{"fq_name":["deployment"],"tag_type_id":"0x0003"}`},
		{"tag-type", `{"fq_name":["site"],"tag_type_id":"0x0004"}`},
	}
}

// ensureDefaults creates the start-up objects that do not exist yet. Several
// servers may race at start-up; losing the race for an object is success.
func (s *Server) ensureDefaults(ctx context.Context) error {
	for _, d := range s.defaultObjects() {
		res := schema.Lookup(d.typ)
		if res == nil {
			s.log.Warn("default object type not in schema, skipped", "type", d.typ)
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(d.fields), &fields); err != nil {
			return fmt.Errorf("default %s: %w", d.typ, err)
		}
		var fq []string
		json.Unmarshal(fields["fq_name"], &fq)
		s.cache.RLock()
		_, exists := s.cache.LookupFQ(d.typ, fq)
		s.cache.RUnlock()
		if exists {
			continue
		}
		if _, err := s.create(ctx, res, fields, true); err != nil {
			if errors.Is(err, ErrConflict) {
				continue
			}
			return fmt.Errorf("default %s %v: %w", d.typ, fq, err)
		}
	}
	return nil
}

// childTypes lists the child types of a resource type.
func (s *Server) childTypes(typ string) []string {
	res := schema.Lookup(typ)
	if res == nil {
		return nil
	}
	out := make([]string, 0, len(res.Children))
	for _, l := range res.Children {
		out = append(out, l.To)
	}
	return out
}
