// SPDX-License-Identifier: Apache-2.0

package xmpp

// EVPNEntry is the <entry> of an EVPN route (25/242): every element of
// EnetEntryType in xmpp_enet.xsd.
type EVPNEntry struct {
	NLRI                         EVPNNLRI
	NextHops                     []EVPNNextHop // <next-hops><next-hop>...
	OList                        []EVPNNextHop // <olist><next-hop>...: ingress-replication list of a BUM route
	VirtualNetwork               string
	Mobility                     Mobility
	SequenceNumber               uint32 // deprecated in favour of Mobility
	SecurityGroups               []uint32
	LocalPreference              uint32
	MED                          uint32
	EdgeReplicationNotSupported  bool
	AssistedReplicationSupported bool
	LeafOList                    []EVPNNextHop // <leaf-olist><next-hop>...
	ReplicatorAddress            string
	ETreeLeaf                    bool
}

// EVPNNLRI is the <nlri> of an EVPN entry (EnetAddressType).
type EVPNNLRI struct {
	AF          uint16
	SAFI        uint8
	EthernetTag uint32
	MAC         string
	Address     string // "10.1.1.1/32", "0.0.0.0/32" for MAC-only routes
	Group       string
	Source      string
	Flags       uint32
}

// EVPNNextHop is one <next-hop> of an EVPN entry, next-hop list or olist
// (EnetNextHopType).
type EVPNNextHop struct {
	AF                  uint16
	Address             string
	MAC                 string
	Label               uint32
	L3Label             uint32
	TunnelEncapsulation []string // gre, udp, vxlan
	Tags                []uint32
	LocalSequenceNumber uint32
}

// EntryFamily implements Entry.
func (e *EVPNEntry) EntryFamily() Family { return Family{e.NLRI.AF, e.NLRI.SAFI} }

// Marshal returns the <entry> element.
func (e *EVPNEntry) Marshal() []byte { return e.AppendMarshal(nil) }

// AppendMarshal implements Entry.
func (e *EVPNEntry) AppendMarshal(b []byte) []byte {
	n := &e.NLRI
	b = append(b, "<entry><nlri>"...)
	b = appendUintElem(b, "af", uint64(n.AF))
	b = appendUintElem(b, "safi", uint64(n.SAFI))
	b = appendOptUint(b, "ethernet-tag", uint64(n.EthernetTag))
	b = appendOptText(b, "mac", n.MAC)
	b = appendTextElem(b, "address", n.Address)
	b = appendOptText(b, "group", n.Group)
	b = appendOptText(b, "source", n.Source)
	b = appendOptUint(b, "flags", uint64(n.Flags))
	b = append(b, "</nlri>"...)
	b = appendEVPNNextHops(b, "next-hops", e.NextHops)
	b = appendEVPNNextHops(b, "olist", e.OList)
	b = appendOptText(b, "virtual-network", e.VirtualNetwork)
	b = e.Mobility.appendTo(b)
	b = appendOptUint(b, "sequence-number", uint64(e.SequenceNumber))
	b = appendUintList(b, "security-group-list", "security-group", e.SecurityGroups)
	b = appendOptUint(b, "local-preference", uint64(e.LocalPreference))
	b = appendOptUint(b, "med", uint64(e.MED))
	b = appendOptBool(b, "edge-replication-not-supported", e.EdgeReplicationNotSupported)
	b = appendOptBool(b, "assisted-replication-supported", e.AssistedReplicationSupported)
	b = appendEVPNNextHops(b, "leaf-olist", e.LeafOList)
	b = appendOptText(b, "replicator-address", e.ReplicatorAddress)
	b = appendOptBool(b, "etree-leaf", e.ETreeLeaf)
	return append(b, "</entry>"...)
}

func appendEVPNNextHops(b []byte, list string, nhs []EVPNNextHop) []byte {
	if len(nhs) == 0 {
		return b
	}
	b = append(b, '<')
	b = append(b, list...)
	b = append(b, '>')
	for i := range nhs {
		b = nhs[i].appendTo(b)
	}
	b = append(b, '<', '/')
	b = append(b, list...)
	return append(b, '>')
}

func (nh *EVPNNextHop) appendTo(b []byte) []byte {
	b = append(b, "<next-hop>"...)
	b = appendUintElem(b, "af", uint64(nh.AF))
	b = appendTextElem(b, "address", nh.Address)
	b = appendOptText(b, "mac", nh.MAC)
	b = appendOptUint(b, "label", uint64(nh.Label))
	b = appendOptUint(b, "l3-label", uint64(nh.L3Label))
	b = appendStringList(b, "tunnel-encapsulation-list", "tunnel-encapsulation", nh.TunnelEncapsulation)
	b = appendUintList(b, "tag-list", "tag", nh.Tags)
	b = appendOptUint(b, "local-sequence-number", uint64(nh.LocalSequenceNumber))
	return append(b, "</next-hop>"...)
}

// Unmarshal decodes an <entry> element into e.
func (e *EVPNEntry) Unmarshal(el *Element) error {
	*e = EVPNEntry{}
	if err := e.unmarshal(el); err != nil {
		return within("entry", err)
	}
	return nil
}

func (e *EVPNEntry) unmarshal(el *Element) error {
	for _, c := range el.Children {
		var err error
		switch c.Name.Local {
		case "nlri":
			err = e.NLRI.unmarshal(c)
		case "next-hops":
			e.NextHops, err = decodeEVPNNextHops(c, e.NextHops)
		case "olist":
			e.OList, err = decodeEVPNNextHops(c, e.OList)
		case "leaf-olist":
			e.LeafOList, err = decodeEVPNNextHops(c, e.LeafOList)
		case "virtual-network":
			e.VirtualNetwork = c.Text
		case "mobility":
			err = e.Mobility.unmarshal(c)
		case "sequence-number":
			e.SequenceNumber, err = parseU32(c)
		case "security-group-list":
			e.SecurityGroups, err = decodeUintList(c, "security-group", e.SecurityGroups)
		case "local-preference":
			e.LocalPreference, err = parseU32(c)
		case "med":
			e.MED, err = parseU32(c)
		case "edge-replication-not-supported":
			e.EdgeReplicationNotSupported, err = parseElemBool(c)
		case "assisted-replication-supported":
			e.AssistedReplicationSupported, err = parseElemBool(c)
		case "replicator-address":
			e.ReplicatorAddress = c.Text
		case "etree-leaf":
			e.ETreeLeaf, err = parseElemBool(c)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (n *EVPNNLRI) unmarshal(el *Element) error {
	for _, c := range el.Children {
		var err error
		switch c.Name.Local {
		case "af":
			n.AF, err = parseU16(c)
		case "safi":
			n.SAFI, err = parseU8(c)
		case "ethernet-tag":
			n.EthernetTag, err = parseU32(c)
		case "mac":
			n.MAC = c.Text
		case "address":
			n.Address = c.Text
		case "group":
			n.Group = c.Text
		case "source":
			n.Source = c.Text
		case "flags":
			n.Flags, err = parseU32(c)
		}
		if err != nil {
			return within("nlri", err)
		}
	}
	return nil
}

func decodeEVPNNextHops(list *Element, dst []EVPNNextHop) ([]EVPNNextHop, error) {
	for _, n := range list.Children {
		if n.Name.Local != "next-hop" {
			continue
		}
		var nh EVPNNextHop
		if err := nh.unmarshal(n); err != nil {
			return dst, within(list.Name.Local, err)
		}
		dst = append(dst, nh)
	}
	return dst, nil
}

func (nh *EVPNNextHop) unmarshal(el *Element) error {
	for _, c := range el.Children {
		var err error
		switch c.Name.Local {
		case "af":
			nh.AF, err = parseU16(c)
		case "address":
			nh.Address = c.Text
		case "mac":
			nh.MAC = c.Text
		case "label":
			nh.Label, err = parseU32(c)
		case "l3-label":
			nh.L3Label, err = parseU32(c)
		case "tunnel-encapsulation-list":
			nh.TunnelEncapsulation = decodeStringList(c, "tunnel-encapsulation", nh.TunnelEncapsulation)
		case "tag-list":
			nh.Tags, err = decodeUintList(c, "tag", nh.Tags)
		case "local-sequence-number":
			nh.LocalSequenceNumber, err = parseU32(c)
		}
		if err != nil {
			return within("next-hop", err)
		}
	}
	return nil
}
