// SPDX-License-Identifier: Apache-2.0

package schema

// Lookup returns the resource type with the hyphenated name (e.g.
// "virtual-network"), or nil. "config-root" is found too; its Root is set.
func Lookup(name string) *Resource { return resourceByName[name] }

// LookupPlural returns the resource type whose collection name is plural
// (e.g. "virtual-networks"), or nil.
func LookupPlural(plural string) *Resource { return resourceByPlural[plural] }

// LookupJSON returns the resource type with the underscored name (e.g.
// "virtual_network", the top-level key of a resource in JSON bodies), or nil.
func LookupJSON(jsonName string) *Resource { return resourceByJSON[jsonName] }

// All returns every resource type sorted by name, config-root included
// (check Resource.Root). The slice is a fresh copy; the resources are shared.
func All() []*Resource {
	out := make([]*Resource, len(resourceList))
	copy(out, resourceList)
	return out
}

// LookupType returns the named XSD type (e.g. "VnSubnetsType",
// "IpAddressType"), or nil. The built-in XSD types in use by the schema are
// found under their prefixed name, e.g. "xsd:string".
func LookupType(name string) *Type { return typeByName[name] }

// ListField returns the list field of the wrapper type of a ListProperty or
// MapProperty: the property value on the wire is an object with that single
// array field (for virtual_machine_interface_fat_flow_protocols, type
// FatFlowProtocols, it is "fat_flow_protocol"). It returns nil for plain
// properties.
func (p *Property) ListField() *Field {
	if p.Kind == PropPlain || p.Type == nil {
		return nil
	}
	for _, f := range p.Type.Fields {
		if f.List {
			return f
		}
	}
	return nil
}
