// SPDX-License-Identifier: Apache-2.0

package xmpp

// UnicastEntry is the <entry> of an inet (1/1), inet6 (2/1) or inet-labeled
// (1/4) route: every element of EntryType in xmpp_unicast.xsd.
type UnicastEntry struct {
	NLRI            NLRI
	NextHops        []NextHop // <next-hops><next-hop>...
	Version         uint32    // always 1 in the original
	VirtualNetwork  string
	Mobility        Mobility
	SequenceNumber  uint32   // deprecated in favour of Mobility, still sent
	SecurityGroups  []uint32 // <security-group-list><security-group>...
	CommunityTags   []string // <community-tag-list><community-tag>...
	LocalPreference uint32
	MED             uint32
	LoadBalance     LoadBalance
	SubProtocol     string // interface, interface-static, service-interface, bgpaas
}

// NLRI is the <nlri> of a unicast entry (IPAddressType).
type NLRI struct {
	AF      uint16
	SAFI    uint8
	Address string // prefix with length, "10.1.1.1/32"
}

// NextHop is one <next-hop> of a unicast entry (NextHopType).
type NextHop struct {
	AF                  uint16
	Address             string // tunnel endpoint (vhost IP)
	MAC                 string
	Label               uint32 // MPLS label, or VNI with vxlan
	VNI                 uint32
	TunnelEncapsulation []string // gre, mpls, udp, vxlan (native in practice too)
	VirtualNetwork      string
	Tags                []uint32 // <tag-list><tag>...
	LocalSequenceNumber uint32
}

// LoadBalance is <load-balance> (LoadBalanceType).
type LoadBalance struct {
	Fields   []string // <load-balance-fields><load-balance-field-list>...: l3-source-address, ...
	Decision string   // field-hash or source-bias
}

// EntryFamily implements Entry.
func (e *UnicastEntry) EntryFamily() Family { return Family{e.NLRI.AF, e.NLRI.SAFI} }

// Marshal returns the <entry> element.
func (e *UnicastEntry) Marshal() []byte { return e.AppendMarshal(nil) }

// AppendMarshal implements Entry.
func (e *UnicastEntry) AppendMarshal(b []byte) []byte {
	b = append(b, "<entry><nlri>"...)
	b = appendUintElem(b, "af", uint64(e.NLRI.AF))
	b = appendUintElem(b, "safi", uint64(e.NLRI.SAFI))
	b = appendTextElem(b, "address", e.NLRI.Address)
	b = append(b, "</nlri>"...)
	if len(e.NextHops) > 0 {
		b = append(b, "<next-hops>"...)
		for i := range e.NextHops {
			b = e.NextHops[i].appendTo(b)
		}
		b = append(b, "</next-hops>"...)
	}
	b = appendOptUint(b, "version", uint64(e.Version))
	b = appendOptText(b, "virtual-network", e.VirtualNetwork)
	b = e.Mobility.appendTo(b)
	b = appendOptUint(b, "sequence-number", uint64(e.SequenceNumber))
	b = appendUintList(b, "security-group-list", "security-group", e.SecurityGroups)
	b = appendStringList(b, "community-tag-list", "community-tag", e.CommunityTags)
	b = appendOptUint(b, "local-preference", uint64(e.LocalPreference))
	b = appendOptUint(b, "med", uint64(e.MED))
	b = e.LoadBalance.appendTo(b)
	b = appendOptText(b, "sub-protocol", e.SubProtocol)
	return append(b, "</entry>"...)
}

func (nh *NextHop) appendTo(b []byte) []byte {
	b = append(b, "<next-hop>"...)
	b = appendUintElem(b, "af", uint64(nh.AF))
	b = appendTextElem(b, "address", nh.Address)
	b = appendOptText(b, "mac", nh.MAC)
	b = appendOptUint(b, "label", uint64(nh.Label))
	b = appendOptUint(b, "vni", uint64(nh.VNI))
	b = appendStringList(b, "tunnel-encapsulation-list", "tunnel-encapsulation", nh.TunnelEncapsulation)
	b = appendOptText(b, "virtual-network", nh.VirtualNetwork)
	b = appendUintList(b, "tag-list", "tag", nh.Tags)
	b = appendOptUint(b, "local-sequence-number", uint64(nh.LocalSequenceNumber))
	return append(b, "</next-hop>"...)
}

func (lb *LoadBalance) appendTo(b []byte) []byte {
	if len(lb.Fields) == 0 && lb.Decision == "" {
		return b
	}
	b = append(b, "<load-balance>"...)
	b = appendStringList(b, "load-balance-fields", "load-balance-field-list", lb.Fields)
	b = appendOptText(b, "load-balance-decision", lb.Decision)
	return append(b, "</load-balance>"...)
}

// Unmarshal decodes an <entry> element into e.
func (e *UnicastEntry) Unmarshal(el *Element) error {
	*e = UnicastEntry{}
	if err := e.unmarshal(el); err != nil {
		return within("entry", err)
	}
	return nil
}

func (e *UnicastEntry) unmarshal(el *Element) error {
	for _, c := range el.Children {
		var err error
		switch c.Name.Local {
		case "nlri":
			err = e.NLRI.unmarshal(c)
		case "next-hops":
			for _, n := range c.Children {
				if n.Name.Local != "next-hop" {
					continue
				}
				var nh NextHop
				if err = nh.unmarshal(n); err != nil {
					err = within("next-hops", err)
					break
				}
				e.NextHops = append(e.NextHops, nh)
			}
		case "version":
			e.Version, err = parseU32(c)
		case "virtual-network":
			e.VirtualNetwork = c.Text
		case "mobility":
			err = e.Mobility.unmarshal(c)
		case "sequence-number":
			e.SequenceNumber, err = parseU32(c)
		case "security-group-list":
			e.SecurityGroups, err = decodeUintList(c, "security-group", e.SecurityGroups)
		case "community-tag-list":
			e.CommunityTags = decodeStringList(c, "community-tag", e.CommunityTags)
		case "local-preference":
			e.LocalPreference, err = parseU32(c)
		case "med":
			e.MED, err = parseU32(c)
		case "load-balance":
			e.LoadBalance.unmarshal(c)
		case "sub-protocol":
			e.SubProtocol = c.Text
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (n *NLRI) unmarshal(el *Element) error {
	for _, c := range el.Children {
		var err error
		switch c.Name.Local {
		case "af":
			n.AF, err = parseU16(c)
		case "safi":
			n.SAFI, err = parseU8(c)
		case "address":
			n.Address = c.Text
		}
		if err != nil {
			return within("nlri", err)
		}
	}
	return nil
}

func (nh *NextHop) unmarshal(el *Element) error {
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
		case "vni":
			nh.VNI, err = parseU32(c)
		case "tunnel-encapsulation-list":
			nh.TunnelEncapsulation = decodeStringList(c, "tunnel-encapsulation", nh.TunnelEncapsulation)
		case "virtual-network":
			nh.VirtualNetwork = c.Text
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

func (lb *LoadBalance) unmarshal(el *Element) {
	for _, c := range el.Children {
		switch c.Name.Local {
		case "load-balance-fields":
			lb.Fields = decodeStringList(c, "load-balance-field-list", lb.Fields)
		case "load-balance-decision":
			lb.Decision = c.Text
		}
	}
}
