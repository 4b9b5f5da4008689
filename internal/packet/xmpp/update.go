// SPDX-License-Identifier: Apache-2.0

package xmpp

// Update is a route update from the control node to an agent:
//
//	<message from="network-control@contrailsystems.com" to="<host>/bgp-peer">
//	<event xmlns="http://jabber.org/protocol/pubsub"><items node="1/1/<vrf>">
//	<item id="10.1.1.1/32"><entry>...</entry></item>... <retract id="10.1.1.2/32"/>...
//	</items></event></message>
//
// The original puts either reach items or retracts in one message, never
// both (UpdateBuilder does the same); decoding accepts a mix. Node
// EndOfRibNode with no items is the End-of-RIB marker.
type Update struct {
	From, To string
	Node     string // "AF/SAFI/<vrf>" or EndOfRibNode
	Items    []Item
	Retracts []string // item ids
}

// NewEndOfRib returns the control node's End-of-RIB marker for agent host.
func NewEndOfRib(host string) *Update {
	return &Update{From: ControlNodeJID, To: JID(host, ResourceBGPPeer), Node: EndOfRibNode}
}

// IsEndOfRib reports whether u is the End-of-RIB marker.
func (u *Update) IsEndOfRib() bool { return u.Node == EndOfRibNode }

// Marshal returns the wire form.
func (u *Update) Marshal() []byte { return u.AppendMarshal(nil) }

// AppendMarshal implements Stanza.
func (u *Update) AppendMarshal(b []byte) []byte {
	b = appendMessageOpen(b, u.From, u.To)
	b = u.AppendEvent(b)
	return append(b, "</message>"...)
}

// AppendEvent appends only the <event> element, the part of the message
// that is the same for every agent. A sender fanning one update out to many
// agents encodes it once and frames it per agent with AppendMessage, as the
// original patches only the <message> start tag per peer.
func (u *Update) AppendEvent(b []byte) []byte {
	b = append(b, `<event xmlns="`+NSPubSub+`"><items node="`...)
	b = appendAttrValue(b, u.Node)
	b = append(b, `">`...)
	for i := range u.Items {
		b = u.Items[i].appendTo(b)
	}
	for _, id := range u.Retracts {
		b = append(b, `<retract id="`...)
		b = appendAttrValue(b, id)
		b = append(b, `"/>`...)
	}
	return append(b, "</items></event>"...)
}

// AppendMessage appends <message from=.. to=..>, event, </message>; event is
// the output of Update.AppendEvent.
func AppendMessage(b []byte, from, to string, event []byte) []byte {
	b = appendMessageOpen(b, from, to)
	b = append(b, event...)
	return append(b, "</message>"...)
}

func appendMessageOpen(b []byte, from, to string) []byte {
	b = append(b, `<message from="`...)
	b = appendAttrValue(b, from)
	b = append(b, `" to="`...)
	b = appendAttrValue(b, to)
	return append(b, `">`...)
}

// DecodeMessage decodes a <message> holding a pubsub event.
func DecodeMessage(el *Element) (*Update, error) {
	u := &Update{}
	if err := u.Unmarshal(el); err != nil {
		return nil, err
	}
	return u, nil
}

// Unmarshal decodes a <message> holding a pubsub event. The entries'
// family comes from the items node; for a node without an AF/SAFI prefix
// it comes from each entry's nlri.
func (u *Update) Unmarshal(el *Element) error {
	*u = Update{}
	if el.Name.Local != "message" {
		return errAt(el.Name.Local, "expected message", "")
	}
	u.From, _ = el.AttrValue("from")
	u.To, _ = el.AttrValue("to")
	ev := el.Child("event")
	if ev == nil {
		return errAt("message/event", "missing", "")
	}
	items := ev.Child("items")
	if items == nil {
		return errAt("message/event/items", "missing", "")
	}
	var ok bool
	if u.Node, ok = items.AttrValue("node"); !ok {
		return errAttr("message/event/items", "node", "missing", "")
	}
	fam, _ := nodeFamily(u.Node)
	for _, c := range items.Children {
		switch c.Name.Local {
		case "item":
			it, err := decodeItem(fam, c, el, ev, items)
			if err != nil {
				return within("message/event/items", err)
			}
			u.Items = append(u.Items, it)
		case "retract":
			id, ok := c.AttrValue("id")
			if !ok {
				return errAttr("message/event/items/retract", "id", "missing", "")
			}
			u.Retracts = append(u.Retracts, id)
		}
	}
	return nil
}

// UpdateBuilder splits route changes for one items node into update
// messages of at most MaxItems reach items or MaxRetracts retracts, never
// mixing the two, as the original's BgpXmppMessage does.
type UpdateBuilder struct {
	From        string // "" means ControlNodeJID
	To          string // "<host>/bgp-peer"
	MaxItems    int    // 0 means DefaultMaxItems
	MaxRetracts int    // 0 means DefaultMaxRetracts
}

// Build returns the messages for node: the reach items first, in order, then
// the retracts. An id must not be in both. No changes give no messages.
func (ub *UpdateBuilder) Build(node string, items []Item, retracts []string) []*Update {
	from := ub.From
	if from == "" {
		from = ControlNodeJID
	}
	maxItems, maxRetracts := ub.MaxItems, ub.MaxRetracts
	if maxItems <= 0 {
		maxItems = DefaultMaxItems
	}
	if maxRetracts <= 0 {
		maxRetracts = DefaultMaxRetracts
	}
	n := (len(items)+maxItems-1)/maxItems + (len(retracts)+maxRetracts-1)/maxRetracts
	out := make([]*Update, 0, n)
	for len(items) > 0 {
		k := min(len(items), maxItems)
		out = append(out, &Update{From: from, To: ub.To, Node: node, Items: items[:k:k]})
		items = items[k:]
	}
	for len(retracts) > 0 {
		k := min(len(retracts), maxRetracts)
		out = append(out, &Update{From: from, To: ub.To, Node: node, Retracts: retracts[:k:k]})
		retracts = retracts[k:]
	}
	return out
}
