// SPDX-License-Identifier: Apache-2.0

package xmpp

// Config is a config push from the control node to an agent (the original's
// IFMapMessage):
//
//	<iq type="set" from="network-control@contrailsystems.com" to="<host>/config">
//	<config><update><node type="virtual-network"><name>dom:proj:vn</name>...properties...</node>
//	<link><node type="A"><name>a</name></node><node type="B"><name>b</name></node><metadata type="a-b"/></link>
//	</update><delete>...</delete></config></iq>
//
// Blocks keep their order: the original opens a new <update> or <delete>
// each time the operation changes, so one message can hold
// update, delete, update. There is no pubsub wrapper and no end-of-config
// marker (the agent infers the end from inactivity). The original sets no id.
type Config struct {
	IQHeader
	Blocks []ConfigBlock
}

// ConfigBlock is one <update> or <delete> element.
type ConfigBlock struct {
	Delete  bool
	Objects []ConfigObject
}

// ConfigObject is a node or a link; exactly one of the two is set.
type ConfigObject struct {
	Node *ConfigNode
	Link *ConfigLink
}

// ConfigNode is a <node>: an object of the config graph (IF-MAP identifier)
// with its properties. Deletes carry only Type and Name.
//
// The properties are child elements after <name>, named as in the schema's
// XSD ("id-perms", "virtual-network-properties"), with complex types as
// nested elements and lists as repeated elements (see the JSON mapping in
// the package documentation). When RawProps is set it is written verbatim
// instead of Props: the control node encodes each object once (e.g. with
// AppendJSONAsXML) and reuses the bytes for every agent. Decoding fills
// Props and leaves RawProps nil.
type ConfigNode struct {
	Type     string
	Name     string // fq-name joined with ':'
	Props    []*Element
	RawProps []byte // well-formed property elements, written as is
}

// NodeRef names a node inside a <link>.
type NodeRef struct {
	Type, Name string
}

// ConfigLink is a <link> between two nodes. Metadata is the link's name
// ("virtual-network-network-ipam"); the original writes <metadata type=..>
// with no content: link attributes travel as nodes of their own.
type ConfigLink struct {
	Left, Right NodeRef
	Metadata    string
}

// NewConfigNodeJSON returns a node whose RawProps are the XML form of props,
// a property map with JSON names as the config store keeps it, in sorted
// order; null values are left out (see AppendJSONAsXML).
func NewConfigNodeJSON(typ, name string, props map[string]any) (*ConfigNode, error) {
	raw, err := AppendJSONPropsAsXML(nil, props)
	if err != nil {
		return nil, err
	}
	return &ConfigNode{Type: typ, Name: name, RawProps: raw}, nil
}

// PropsJSON returns the node's properties in their JSON form (see
// ElementsToJSON).
func (n *ConfigNode) PropsJSON(shape Shape) (map[string]any, error) {
	return ElementsToJSON(n.Props, shape)
}

// Marshal returns the wire form.
func (c *Config) Marshal() []byte { return c.AppendMarshal(nil) }

// AppendMarshal implements Stanza.
func (c *Config) AppendMarshal(b []byte) []byte {
	b = c.appendOpen(b)
	b = append(b, "<config>"...)
	for i := range c.Blocks {
		blk := &c.Blocks[i]
		tag := "update"
		if blk.Delete {
			tag = "delete"
		}
		b = append(b, '<')
		b = append(b, tag...)
		b = append(b, '>')
		for _, o := range blk.Objects {
			switch {
			case o.Node != nil:
				b = o.Node.appendTo(b)
			case o.Link != nil:
				b = o.Link.appendTo(b)
			}
		}
		b = append(b, '<', '/')
		b = append(b, tag...)
		b = append(b, '>')
	}
	return append(b, "</config></iq>"...)
}

func appendNodeOpen(b []byte, typ, name string) []byte {
	b = append(b, `<node type="`...)
	b = appendAttrValue(b, typ)
	b = append(b, `"><name>`...)
	b = appendText(b, name)
	return append(b, "</name>"...)
}

func (n *ConfigNode) appendTo(b []byte) []byte {
	b = appendNodeOpen(b, n.Type, n.Name)
	if n.RawProps != nil {
		b = append(b, n.RawProps...)
	} else {
		for _, p := range n.Props {
			b = p.AppendMarshal(b)
		}
	}
	return append(b, "</node>"...)
}

func (l *ConfigLink) appendTo(b []byte) []byte {
	b = append(b, "<link>"...)
	b = appendNodeOpen(b, l.Left.Type, l.Left.Name)
	b = append(b, "</node>"...)
	b = appendNodeOpen(b, l.Right.Type, l.Right.Name)
	b = append(b, "</node>"...)
	if l.Metadata != "" {
		b = append(b, `<metadata type="`...)
		b = appendAttrValue(b, l.Metadata)
		b = append(b, `"/>`...)
	}
	return append(b, "</link>"...)
}

// Unmarshal decodes an <iq> holding a <config>. Children of <config> other
// than update and delete, and of those other than node and link, are
// ignored.
func (c *Config) Unmarshal(el *Element) error {
	*c = Config{}
	if el.Name.Local != "iq" {
		return errAt(el.Name.Local, "expected iq", "")
	}
	cfg := el.Child("config")
	if cfg == nil {
		return errAt("iq/config", "missing", "")
	}
	c.IQHeader.unmarshal(el)
	for _, blkEl := range cfg.Children {
		var blk ConfigBlock
		switch blkEl.Name.Local {
		case "update":
		case "delete":
			blk.Delete = true
		default:
			continue
		}
		for _, o := range blkEl.Children {
			switch o.Name.Local {
			case "node":
				n, err := decodeConfigNode(o)
				if err != nil {
					return within("iq/config/"+blkEl.Name.Local, err)
				}
				for i, p := range n.Props {
					n.Props[i] = detach(p, el, cfg, blkEl, o)
				}
				blk.Objects = append(blk.Objects, ConfigObject{Node: n})
			case "link":
				l, err := decodeConfigLink(o)
				if err != nil {
					return within("iq/config/"+blkEl.Name.Local, err)
				}
				blk.Objects = append(blk.Objects, ConfigObject{Link: l})
			}
		}
		c.Blocks = append(c.Blocks, blk)
	}
	return nil
}

func decodeNodeRef(el *Element) (NodeRef, []*Element, error) {
	var r NodeRef
	var ok bool
	if r.Type, ok = el.AttrValue("type"); !ok {
		return r, nil, errAttr("node", "type", "missing", "")
	}
	var props []*Element
	named := false
	for _, c := range el.Children {
		if c.Name.Local == "name" && !named {
			r.Name = c.Text
			named = true
			continue
		}
		props = append(props, c)
	}
	if !named {
		return r, nil, errAt("node/name", "missing", "")
	}
	return r, props, nil
}

func decodeConfigNode(el *Element) (*ConfigNode, error) {
	ref, props, err := decodeNodeRef(el)
	if err != nil {
		return nil, err
	}
	return &ConfigNode{Type: ref.Type, Name: ref.Name, Props: props}, nil
}

func decodeConfigLink(el *Element) (*ConfigLink, error) {
	l := &ConfigLink{}
	nodes := 0
	for _, c := range el.Children {
		switch c.Name.Local {
		case "node":
			ref, _, err := decodeNodeRef(c)
			if err != nil {
				return nil, within("link", err)
			}
			switch nodes {
			case 0:
				l.Left = ref
			case 1:
				l.Right = ref
			default:
				return nil, errAt("link/node", "more than two nodes in a link", "")
			}
			nodes++
		case "metadata":
			l.Metadata, _ = c.AttrValue("type")
		}
	}
	if nodes != 2 {
		return nil, errAt("link/node", "a link needs two nodes", "")
	}
	return l, nil
}

// ConfigChange is one object to send, as an update or a delete.
type ConfigChange struct {
	Delete bool
	ConfigObject
}

// ConfigBuilder splits config changes into messages of at most MaxObjects
// nodes and links. Consecutive changes of the same kind share an <update>
// or <delete> block; the order of changes is kept. (The original's
// IFMapMessage counts a link twice against its limit of 16; this builder
// counts every object once.)
type ConfigBuilder struct {
	From       string // "" means ControlNodeJID
	To         string // "<host>/config"
	MaxObjects int    // 0 means DefaultConfigObjects
}

// Build returns the messages for changes; no changes give no messages.
func (cb *ConfigBuilder) Build(changes []ConfigChange) []*Config {
	from := cb.From
	if from == "" {
		from = ControlNodeJID
	}
	limit := cb.MaxObjects
	if limit <= 0 {
		limit = DefaultConfigObjects
	}
	var out []*Config
	var cur *Config
	count := 0
	for _, ch := range changes {
		if cur == nil || count == limit {
			cur = &Config{IQHeader: IQHeader{From: from, To: cb.To}}
			out = append(out, cur)
			count = 0
		}
		n := len(cur.Blocks)
		if n == 0 || cur.Blocks[n-1].Delete != ch.Delete {
			cur.Blocks = append(cur.Blocks, ConfigBlock{Delete: ch.Delete})
			n++
		}
		cur.Blocks[n-1].Objects = append(cur.Blocks[n-1].Objects, ch.ConfigObject)
		count++
	}
	return out
}
