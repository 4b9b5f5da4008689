// SPDX-License-Identifier: Apache-2.0

package xmpp

import "strconv"

// Stanza is a message that can be written to the stream. Every typed
// message of this package implements it, and so does *Element.
type Stanza interface {
	AppendMarshal(b []byte) []byte
}

// IQHeader holds the attributes of <iq>. Type "" is written as "set", the
// only type the original uses.
type IQHeader struct {
	Type, From, To, ID string
}

func (h *IQHeader) appendOpen(b []byte) []byte {
	typ := h.Type
	if typ == "" {
		typ = "set"
	}
	b = append(b, `<iq type="`...)
	b = appendAttrValue(b, typ)
	b = append(b, `" from="`...)
	b = appendAttrValue(b, h.From)
	b = append(b, `" to="`...)
	b = appendAttrValue(b, h.To)
	if h.ID != "" {
		b = append(b, `" id="`...)
		b = appendAttrValue(b, h.ID)
	}
	return append(b, `">`...)
}

func (h *IQHeader) unmarshal(el *Element) {
	*h = IQHeader{}
	for _, a := range el.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "type":
			h.Type = a.Value
		case "from":
			h.From = a.Value
		case "to":
			h.To = a.Value
		case "id":
			h.ID = a.Value
		}
	}
}

const pubsubOpen = `<pubsub xmlns="` + NSPubSub + `">`

// DecodeIQ decodes an <iq> into its typed form: *Subscribe, *Unsubscribe,
// *Publish or *Collection for a <pubsub> payload (dispatching on its first
// subscribe, unsubscribe, publish or collection child, as the original
// does), *Config for a <config> payload. Any other iq (another payload, a
// result or error iq) is returned as the *Element itself. The pubsub
// namespace is not checked.
func DecodeIQ(el *Element) (Stanza, error) {
	if el.Name.Local != "iq" {
		return nil, errAt(el.Name.Local, "expected iq", "")
	}
	for _, c := range el.Children {
		switch c.Name.Local {
		case "pubsub":
			for _, a := range c.Children {
				switch a.Name.Local {
				case "subscribe":
					s := &Subscribe{}
					return s, s.Unmarshal(el)
				case "unsubscribe":
					u := &Unsubscribe{}
					return u, u.Unmarshal(el)
				case "publish":
					p := &Publish{}
					return p, p.Unmarshal(el)
				case "collection":
					col := &Collection{}
					return col, col.Unmarshal(el)
				}
			}
			return el, nil
		case "config":
			cfg := &Config{}
			return cfg, cfg.Unmarshal(el)
		}
	}
	return el, nil
}

// pubsubChild returns the iq's <pubsub> and its first child named name.
func pubsubChild(el *Element, name string) (*Element, error) {
	if el.Name.Local != "iq" {
		return nil, errAt(el.Name.Local, "expected iq", "")
	}
	ps := el.Child("pubsub")
	if ps == nil {
		return nil, errAt("iq/pubsub", "missing", "")
	}
	c := ps.Child(name)
	if c == nil {
		return nil, errAt("iq/pubsub/"+name, "missing", "")
	}
	return c, nil
}

// SubscribeOptions is the <options> of a subscribe.
type SubscribeOptions struct {
	// InstanceID is the agent's local index of the routing instance
	// (VrfEntry::RDInstanceId); the control node builds the route
	// distinguisher of the agent's routes from it.
	InstanceID int
	// NoRibOut asks the control node not to send this instance's routes.
	NoRibOut bool
}

// Subscribe is a pubsub subscribe IQ. On the bgp-peer channel Node is a
// routing-instance name ("default-domain:admin:vn1:vn1") and Options carries
// the instance id; on the config channel Node is VirtualRouterNode(...) or
// VirtualMachineNode(...) and Options is nil.
type Subscribe struct {
	IQHeader
	Node    string
	Options *SubscribeOptions // nil: no <options> element
}

// NewSubscribe returns the subscribe the agent sends for routing instance
// node: from is the agent's host name, id the IQ id ("subscribe<N>").
func NewSubscribe(from, id, node string, instanceID int) *Subscribe {
	return &Subscribe{
		IQHeader: IQHeader{From: from, To: JID(ControlNodeJID, ResourceBGPPeer), ID: id},
		Node:     node,
		Options:  &SubscribeOptions{InstanceID: instanceID},
	}
}

// NewConfigSubscribe returns a subscribe on the config channel; node is
// VirtualRouterNode(...) or VirtualMachineNode(...).
func NewConfigSubscribe(from, id, node string) *Subscribe {
	return &Subscribe{IQHeader: IQHeader{From: from, To: JID(ControlNodeJID, ResourceConfig), ID: id}, Node: node}
}

// VirtualRouterNode is the config subscribe node of a virtual router:
// "virtual-router:" + its fq-name ("default-global-system-config:host1").
func VirtualRouterNode(fqName string) string { return "virtual-router:" + fqName }

// VirtualMachineNode is the config subscribe node of a virtual machine:
// "virtual-machine:" + its uuid.
func VirtualMachineNode(uuid string) string { return "virtual-machine:" + uuid }

// Marshal returns the wire form.
func (s *Subscribe) Marshal() []byte { return s.AppendMarshal(nil) }

// AppendMarshal implements Stanza.
func (s *Subscribe) AppendMarshal(b []byte) []byte {
	b = s.appendOpen(b)
	b = append(b, pubsubOpen...)
	b = append(b, `<subscribe node="`...)
	b = appendAttrValue(b, s.Node)
	b = append(b, `"/>`...)
	if o := s.Options; o != nil {
		b = append(b, "<options><instance-id>"...)
		b = strconv.AppendInt(b, int64(o.InstanceID), 10)
		b = append(b, "</instance-id>"...)
		if o.NoRibOut {
			b = append(b, "<no-ribout>true</no-ribout>"...)
		}
		b = append(b, "</options>"...)
	}
	return append(b, "</pubsub></iq>"...)
}

// Unmarshal decodes an <iq> holding a subscribe.
func (s *Subscribe) Unmarshal(el *Element) error {
	*s = Subscribe{}
	sub, err := pubsubChild(el, "subscribe")
	if err != nil {
		return err
	}
	s.IQHeader.unmarshal(el)
	node, ok := sub.AttrValue("node")
	if !ok {
		return errAttr("iq/pubsub/subscribe", "node", "missing", "")
	}
	s.Node = node
	opts := el.Child("pubsub").Child("options")
	if opts == nil {
		return nil
	}
	s.Options = &SubscribeOptions{}
	for _, c := range opts.Children {
		switch c.Name.Local {
		case "instance-id":
			v, err := strconv.ParseInt(trimSpace(c.Text), 10, 32)
			if err != nil && trimSpace(c.Text) != "" {
				return errAt("iq/pubsub/options/instance-id", "invalid integer", c.Text)
			}
			s.Options.InstanceID = int(v)
		case "no-ribout":
			v, ok := parseBool(c.Text)
			if !ok {
				return errAt("iq/pubsub/options/no-ribout", "invalid boolean", c.Text)
			}
			s.Options.NoRibOut = v
		}
	}
	return nil
}

// Unsubscribe is a pubsub unsubscribe IQ (no options).
type Unsubscribe struct {
	IQHeader
	Node string
}

// NewUnsubscribe returns the unsubscribe the agent sends for a routing
// instance; for the config channel set To to JID(ControlNodeJID, ResourceConfig).
func NewUnsubscribe(from, id, node string) *Unsubscribe {
	return &Unsubscribe{IQHeader: IQHeader{From: from, To: JID(ControlNodeJID, ResourceBGPPeer), ID: id}, Node: node}
}

// Marshal returns the wire form.
func (u *Unsubscribe) Marshal() []byte { return u.AppendMarshal(nil) }

// AppendMarshal implements Stanza.
func (u *Unsubscribe) AppendMarshal(b []byte) []byte {
	b = u.appendOpen(b)
	b = append(b, pubsubOpen...)
	b = append(b, `<unsubscribe node="`...)
	b = appendAttrValue(b, u.Node)
	return append(b, `"/></pubsub></iq>`...)
}

// Unmarshal decodes an <iq> holding an unsubscribe.
func (u *Unsubscribe) Unmarshal(el *Element) error {
	*u = Unsubscribe{}
	sub, err := pubsubChild(el, "unsubscribe")
	if err != nil {
		return err
	}
	u.IQHeader.unmarshal(el)
	node, ok := sub.AttrValue("node")
	if !ok {
		return errAttr("iq/pubsub/unsubscribe", "node", "missing", "")
	}
	u.Node = node
	return nil
}

func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t' || s[j-1] == '\r' || s[j-1] == '\n') {
		j--
	}
	return s[i:j]
}
