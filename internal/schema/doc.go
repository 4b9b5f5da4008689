// SPDX-License-Identifier: Apache-2.0

// Package schema describes the config schema of the controller: the resource
// types (virtual-network, project, ...), their properties, their parent/child
// and reference links, and the XSD types of property values and reference
// attributes. It mirrors the OpenContrail / Tungsten Fabric config schema
// (all_cfg.xsd and the files it includes).
//
// The data lives in zz_generated.go, which is generated from the XSD files by
// the program in ./gen and committed, so that building needs nothing outside
// the repository. Regenerate it with
//
//	go generate ./internal/schema
//
// which reads the schema from ../shared/reference/schema next to the
// repository (see the -schema flag of ./gen). TestGeneratedUpToDate in ./gen
// fails when the committed file differs from what the generator produces.
//
// Names: resource types use hyphenated names ("virtual-network") in URLs and
// as top-level JSON keys, and their collections are Name+"s"
// ("network-policys", as in the original). Property, field and link JSON names
// replace '-' by '_' ("virtual_network_properties"); references are stored
// under "<to>_refs", back references under "<from>_back_refs" and children
// under "<child>s" (see RefsField, BackRefsField, ChildrenField).
//
// Lookups: Lookup, LookupPlural, LookupJSON, All and LookupType. The registry
// is built at package initialization and is read-only afterwards, so it is
// safe for concurrent use; callers must not modify the returned values.
//
// Validation: Property.Validate, Link.ValidateAttr and Type.Validate check
// values decoded by encoding/json with Decoder.UseNumber (objects are
// map[string]any, arrays []any, numbers json.Number; float64 and Go integers
// are accepted too). Errors are *FieldError values naming the offending field
// by its path, e.g.
// "network_ipam_refs[0].attr.ipam_subnets[2].subnet.ip_prefix_len".
package schema

//go:generate go run ./gen -schema ../../../shared/reference/schema -out zz_generated.go
