// SPDX-License-Identifier: Apache-2.0

package xmpp_test

import (
	"bytes"
	"fmt"

	"github.com/contrail-go/contrail/internal/packet/xmpp"
)

// An agent's side of a session start, with the server's bytes read back
// through a Reader.
func Example() {
	// What the agent writes.
	var out []byte
	out = (&xmpp.StreamHeader{From: "compute-1", To: xmpp.ControlNodeJID}).AppendEncode(out)
	out = xmpp.NewSubscribe("compute-1", "subscribe1", "default-domain:admin:vn1:vn1", 2).AppendMarshal(out)
	out = append(out, xmpp.Keepalive...)
	fmt.Println(len(out) > 0)

	// What the control node answers.
	var in []byte
	in = (&xmpp.StreamHeader{From: xmpp.ControlNodeJID, To: "compute-1", ID: "++123"}).AppendEncode(in)
	in = append(in, xmpp.Keepalive...)
	in = xmpp.NewEndOfRib("compute-1").AppendMarshal(in)
	in = append(in, xmpp.StreamClose...)

	r := xmpp.NewReader(bytes.NewReader(in), 0)
	for {
		f, err := r.Next()
		if err != nil {
			fmt.Println("end:", err)
			return
		}
		switch f.Kind {
		case xmpp.FrameHeader:
			fmt.Println("header from", f.Header.From, "id", f.Header.ID)
		case xmpp.FrameKeepalive:
			fmt.Println("keepalive x", f.Keepalives)
		case xmpp.FrameMessage:
			u, err := xmpp.DecodeMessage(f.Elem)
			if err != nil {
				fmt.Println("bad message:", err)
				continue
			}
			fmt.Println("end of rib:", u.IsEndOfRib())
		case xmpp.FrameClose:
			fmt.Println("close")
		}
	}
	// Output:
	// true
	// header from network-control@contrailsystems.com id ++123
	// keepalive x 1
	// end of rib: true
	// close
	// end: EOF
}

// The control node turns a stored object's properties into the XML the agent
// receives, and the agent turns them back into JSON.
func ExampleNewConfigNodeJSON() {
	props := map[string]any{
		"id_perms":          map[string]any{"enable": true},
		"route_target_list": map[string]any{"route_target": []any{"target:64512:1", "target:64512:2"}},
		"display_name":      "vn1",
		"is_shared":         nil, // left out
	}
	node, _ := xmpp.NewConfigNodeJSON("virtual-network", "default-domain:admin:vn1", props)
	msgs := (&xmpp.ConfigBuilder{To: "compute-1/config"}).Build([]xmpp.ConfigChange{
		{ConfigObject: xmpp.ConfigObject{Node: node}},
		{ConfigObject: xmpp.ConfigObject{Link: &xmpp.ConfigLink{
			Left:     xmpp.NodeRef{Type: "virtual-network", Name: "default-domain:admin:vn1"},
			Right:    xmpp.NodeRef{Type: "routing-instance", Name: "default-domain:admin:vn1:vn1"},
			Metadata: "virtual-network-routing-instance"}}},
	})
	fmt.Println(string(msgs[0].Marshal()))

	// Agent side: without a Shape, leaves come back as strings.
	el, _ := xmpp.ParseElement(msgs[0].Marshal())
	st, _ := xmpp.DecodeIQ(el)
	got, _ := st.(*xmpp.Config).Blocks[0].Objects[0].Node.PropsJSON(nil)
	fmt.Println(got)
	// Output:
	// <iq type="set" from="network-control@contrailsystems.com" to="compute-1/config"><config><update><node type="virtual-network"><name>default-domain:admin:vn1</name><display-name>vn1</display-name><id-perms><enable>true</enable></id-perms><route-target-list><route-target>target:64512:1</route-target><route-target>target:64512:2</route-target></route-target-list></node><link><node type="virtual-network"><name>default-domain:admin:vn1</name></node><node type="routing-instance"><name>default-domain:admin:vn1:vn1</name></node><metadata type="virtual-network-routing-instance"/></link></update></config></iq>
	// map[display_name:vn1 id_perms:map[enable:true] route_target_list:map[route_target:[target:64512:1 target:64512:2]]]
}
