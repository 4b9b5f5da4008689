// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"strconv"
	"strings"
)

// Item is one <item> of a publish IQ or an update message. In updates ID is
// the route's item id (the prefix, "10.1.1.1/32"; EVPN "[tag-]mac,ip/len");
// the agent's publish items carry no id. Entry is nil for an <item> without
// an <entry>.
type Item struct {
	ID    string
	Entry Entry
}

func (it *Item) appendTo(b []byte) []byte {
	b = append(b, "<item"...)
	if it.ID != "" {
		b = append(b, ` id="`...)
		b = appendAttrValue(b, it.ID)
		b = append(b, '"')
	}
	if it.Entry == nil {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = it.Entry.AppendMarshal(b)
	return append(b, "</item>"...)
}

// decodeItem decodes an <item>; ancestors are the elements above it, from
// the root down.
func decodeItem(fam Family, el *Element, ancestors ...*Element) (Item, error) {
	var it Item
	it.ID, _ = el.AttrValue("id")
	if e := el.Child("entry"); e != nil {
		entry, err := DecodeEntry(fam, e)
		if err != nil {
			return it, within("item", err)
		}
		if r, ok := entry.(*RawEntry); ok {
			r.Elem = detach(r.Elem, append(ancestors, el)...)
		}
		it.Entry = entry
	}
	return it, nil
}

// Publish is the first of the two IQs the agent sends per route change:
//
//	<iq type="set" from=F to=T id="pubsubN"><pubsub xmlns=".../pubsub">
//	<publish node="1/1/<vrf>/10.1.1.1/32"><item><entry>...</entry></item></publish></pubsub></iq>
//
// It is sent for deletes too (the collection says dissociate). A publish
// with no node and no item is the agent's End-of-RIB form.
type Publish struct {
	IQHeader
	Node  string
	Items []Item
}

// IsEndOfRib reports whether p is the empty End-of-RIB publish.
func (p *Publish) IsEndOfRib() bool { return p.Node == "" && len(p.Items) == 0 }

// Marshal returns the wire form.
func (p *Publish) Marshal() []byte { return p.AppendMarshal(nil) }

// AppendMarshal implements Stanza.
func (p *Publish) AppendMarshal(b []byte) []byte {
	b = p.appendOpen(b)
	b = append(b, pubsubOpen...)
	b = append(b, "<publish"...)
	if p.Node != "" {
		b = append(b, ` node="`...)
		b = appendAttrValue(b, p.Node)
		b = append(b, '"')
	}
	if len(p.Items) == 0 {
		b = append(b, "/>"...)
	} else {
		b = append(b, '>')
		for i := range p.Items {
			b = p.Items[i].appendTo(b)
		}
		b = append(b, "</publish>"...)
	}
	return append(b, "</pubsub></iq>"...)
}

// Unmarshal decodes an <iq> holding a publish. The family of the entries is
// taken from the node ("AF/SAFI/..."), or from each entry's nlri when the
// node has no family prefix.
func (p *Publish) Unmarshal(el *Element) error {
	*p = Publish{}
	pub, err := pubsubChild(el, "publish")
	if err != nil {
		return err
	}
	p.IQHeader.unmarshal(el)
	p.Node, _ = pub.AttrValue("node")
	fam, _ := nodeFamily(p.Node)
	for _, c := range pub.Children {
		if c.Name.Local != "item" {
			continue
		}
		it, err := decodeItem(fam, c, el, el.Child("pubsub"), pub)
		if err != nil {
			return within("iq/pubsub/publish", err)
		}
		p.Items = append(p.Items, it)
	}
	return nil
}

// Collection is the second IQ of a route change; it names the routing
// instance and repeats the publish node under <associate> (add or change)
// or <dissociate> (delete):
//
//	<iq type="set" from=F to=T id="collectionN"><pubsub xmlns=".../pubsub">
//	<collection node="<vrf>"><associate node="1/1/<vrf>/10.1.1.1/32"/></collection></pubsub></iq>
//
// An empty collection (no node, no child) follows the End-of-RIB publish.
type Collection struct {
	IQHeader
	Node       string // the routing instance
	ItemNode   string // the associate/dissociate node; equals the publish node
	Dissociate bool   // <dissociate> (delete) rather than <associate>
}

// IsEndOfRib reports whether c is the empty End-of-RIB collection.
func (c *Collection) IsEndOfRib() bool { return c.Node == "" && c.ItemNode == "" && !c.Dissociate }

// Marshal returns the wire form.
func (c *Collection) Marshal() []byte { return c.AppendMarshal(nil) }

// AppendMarshal implements Stanza.
func (c *Collection) AppendMarshal(b []byte) []byte {
	b = c.appendOpen(b)
	b = append(b, pubsubOpen...)
	b = append(b, "<collection"...)
	if c.Node != "" {
		b = append(b, ` node="`...)
		b = appendAttrValue(b, c.Node)
		b = append(b, '"')
	}
	if c.ItemNode == "" && !c.Dissociate {
		b = append(b, "/>"...)
	} else {
		b = append(b, '>')
		if c.Dissociate {
			b = append(b, `<dissociate node="`...)
		} else {
			b = append(b, `<associate node="`...)
		}
		b = appendAttrValue(b, c.ItemNode)
		b = append(b, `"/></collection>`...)
	}
	return append(b, "</pubsub></iq>"...)
}

// Unmarshal decodes an <iq> holding a collection. The first associate or
// dissociate child counts, as in the original.
func (c *Collection) Unmarshal(el *Element) error {
	*c = Collection{}
	col, err := pubsubChild(el, "collection")
	if err != nil {
		return err
	}
	c.IQHeader.unmarshal(el)
	c.Node, _ = col.AttrValue("node")
	for _, a := range col.Children {
		switch a.Name.Local {
		case "associate", "dissociate":
			c.ItemNode, _ = a.AttrValue("node")
			c.Dissociate = a.Name.Local == "dissociate"
			return nil
		}
	}
	return nil
}

// RouteNode returns the publish node of a unicast route:
// "AF/SAFI/<vrf>/<prefix>", e.g. "1/1/default-domain:p:vn1:vn1/10.1.1.1/32".
func RouteNode(fam Family, vrf, prefix string) string {
	return fam.String() + "/" + vrf + "/" + prefix
}

// EVPNRouteNode returns the publish node of an EVPN route:
// "25/242/<mac>,<ip/len>". It carries no routing instance; the collection
// node does.
func EVPNRouteNode(mac, prefix string) string {
	return FamilyEVPN.String() + "/" + mac + "," + prefix
}

// ItemsNode returns the node of an update message's <items>:
// "AF/SAFI/<vrf>".
func ItemsNode(fam Family, vrf string) string { return fam.String() + "/" + vrf }

// nodeFamily parses the "AF/SAFI/" prefix of a node and returns the rest.
func nodeFamily(node string) (Family, string) {
	i := strings.IndexByte(node, '/')
	if i < 0 {
		return Family{}, node
	}
	j := strings.IndexByte(node[i+1:], '/')
	if j < 0 {
		return Family{}, node
	}
	j += i + 1
	af, err1 := strconv.ParseUint(node[:i], 10, 16)
	safi, err2 := strconv.ParseUint(node[i+1:j], 10, 8)
	if err1 != nil || err2 != nil {
		return Family{}, node
	}
	return Family{uint16(af), uint8(safi)}, node[j+1:]
}

// ParseItemsNode splits an items node "AF/SAFI/<vrf>" (routing-instance
// names contain ':' but no '/'). For EndOfRibNode it returns the zero
// family and vrf "EndOfRib".
func ParseItemsNode(node string) (Family, string, error) {
	fam, rest := nodeFamily(node)
	if rest == node || rest == "" || strings.IndexByte(rest, '/') >= 0 {
		return Family{}, "", errAttr("items", "node", "expected AF/SAFI/<routing-instance>", node)
	}
	return fam, rest, nil
}

// ParseRouteNode splits a publish node. For unicast families it returns the
// routing instance and the prefix ("1/1/<vrf>/10.1.1.1/32", optionally
// followed by "/<primary-vrf-id>", which is left in key). For EVPN, whose
// node has no routing instance, vrf is "" and key is "<mac>,<ip/len>...".
func ParseRouteNode(node string) (fam Family, vrf, key string, err error) {
	fam, rest := nodeFamily(node)
	if rest == node || rest == "" {
		return Family{}, "", "", errAttr("publish", "node", "expected AF/SAFI/...", node)
	}
	if fam == FamilyEVPN {
		return fam, "", rest, nil
	}
	i := strings.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return Family{}, "", "", errAttr("publish", "node", "expected AF/SAFI/<routing-instance>/<prefix>", node)
	}
	return fam, rest[:i], rest[i+1:], nil
}

// RoutePublish describes one route add, change or delete as the agent sends
// it: a publish IQ and a collection IQ back to back.
type RoutePublish struct {
	From     string // the agent's host name
	To       string // "" means ControlNodeJID/bgp-peer
	Seq      uint64 // IQ ids are pubsub<Seq> and collection<Seq> (EVPN: pubsub_l2<Seq>, collection_l2<Seq>)
	VRF      string // routing instance: the collection node
	Node     string // publish node; "" derives it from Entry (RouteNode / EVPNRouteNode)
	Entry    Entry
	Withdraw bool // dissociate: the route is deleted (the entry is still sent)
}

// IQs returns the publish and collection IQs.
func (rp *RoutePublish) IQs() (*Publish, *Collection) {
	to := rp.To
	if to == "" {
		to = JID(ControlNodeJID, ResourceBGPPeer)
	}
	node := rp.Node
	pubID, colID := "pubsub", "collection"
	switch e := rp.Entry.(type) {
	case *UnicastEntry:
		if node == "" {
			node = RouteNode(e.EntryFamily(), rp.VRF, e.NLRI.Address)
		}
	case *EVPNEntry:
		if node == "" {
			node = EVPNRouteNode(e.NLRI.MAC, e.NLRI.Address)
		}
		pubID, colID = "pubsub_l2", "collection_l2"
	}
	seq := strconv.FormatUint(rp.Seq, 10)
	pub := &Publish{IQHeader: IQHeader{From: rp.From, To: to, ID: pubID + seq}, Node: node}
	if rp.Entry != nil {
		pub.Items = []Item{{Entry: rp.Entry}}
	}
	col := &Collection{IQHeader: IQHeader{From: rp.From, To: to, ID: colID + seq}, Node: rp.VRF, ItemNode: node, Dissociate: rp.Withdraw}
	return pub, col
}

// AppendMarshal appends both IQs.
func (rp *RoutePublish) AppendMarshal(b []byte) []byte {
	pub, col := rp.IQs()
	b = pub.AppendMarshal(b)
	return col.AppendMarshal(b)
}

// Marshal returns both IQs.
func (rp *RoutePublish) Marshal() []byte { return rp.AppendMarshal(nil) }

// EndOfRibIQs returns the agent's End-of-RIB: an empty publish and an empty
// collection, as the control node's test agent sends it
// (network_agent_mock.cc AddEorMarker). The production agent sends a
// <message> with items node EndOfRibNode instead, which the original control
// node does not parse; accept both.
func EndOfRibIQs(from string, seq uint64) (*Publish, *Collection) {
	to := JID(ControlNodeJID, ResourceBGPPeer)
	s := strconv.FormatUint(seq, 10)
	return &Publish{IQHeader: IQHeader{From: from, To: to, ID: "pubsub" + s}},
		&Collection{IQHeader: IQHeader{From: from, To: to, ID: "collection" + s}}
}

// RouteChange is a publish merged with the collection that follows it: what
// the control node acts on.
type RouteChange struct {
	From     string
	VRF      string // the collection node
	Node     string // the publish node (equal to the collection's item node)
	Withdraw bool   // dissociate
	EndOfRib bool   // empty publish and empty collection
	Items    []Item // the publish's items (normally one)
}

// Pairer merges each publish IQ with the collection IQ that follows it, as
// the original's XmppConnection does: a publish is held until the next
// collection; a second publish replaces the first; a collection with no held
// publish, or whose item node differs from the held publish's node, is an
// error and drops the held publish. The zero Pairer is ready to use; use
// one per session.
type Pairer struct {
	pending *Publish
}

// Publish holds p until the next collection. It returns the publish it
// replaces, if any (the original drops it silently).
func (pr *Pairer) Publish(p *Publish) (replaced *Publish) {
	replaced, pr.pending = pr.pending, p
	return replaced
}

// Pending returns the held publish, or nil.
func (pr *Pairer) Pending() *Publish { return pr.pending }

// Collection pairs c with the held publish. Errors are non-fatal
// *DecodeError values (the original logs and drops the pair).
func (pr *Pairer) Collection(c *Collection) (*RouteChange, error) {
	p := pr.pending
	pr.pending = nil
	if p == nil {
		return nil, errAttr("iq/pubsub/collection", "node", "collection without a preceding publish", c.ItemNode)
	}
	if p.Node != c.ItemNode {
		return nil, errAttr("iq/pubsub/collection", "node", "does not match the publish node "+strconv.Quote(shorten(p.Node)), c.ItemNode)
	}
	return &RouteChange{
		From:     p.From,
		VRF:      c.Node,
		Node:     p.Node,
		Withdraw: c.Dissociate,
		EndOfRib: p.IsEndOfRib() && c.IsEndOfRib(),
		Items:    p.Items,
	}, nil
}
