// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleUnicast() *UnicastEntry {
	return &UnicastEntry{
		NLRI: NLRI{AF: AFIPv4, SAFI: SAFIUnicast, Address: "10.1.1.1/32"},
		NextHops: []NextHop{
			{AF: 1, Address: "192.0.2.1", MAC: "02:00:00:00:00:01", Label: 16, VNI: 4096,
				TunnelEncapsulation: []string{"gre", "udp"}, VirtualNetwork: "default-domain:p:vn1",
				Tags: []uint32{0x00010001, 0x00020005}, LocalSequenceNumber: 7},
			{AF: 1, Address: "192.0.2.2", Label: 5001, VNI: 5001,
				TunnelEncapsulation: []string{"vxlan"}, VirtualNetwork: "default-domain:p:vn2"},
		},
		Version:         1,
		VirtualNetwork:  "default-domain:p:vn1",
		Mobility:        Mobility{Seqno: 3, Sticky: true},
		SequenceNumber:  3,
		SecurityGroups:  []uint32{8000001, 8000002},
		CommunityTags:   []string{"no-reoriginate", "64512:100"},
		LocalPreference: 200,
		MED:             100,
		LoadBalance: LoadBalance{
			Fields:   []string{"l3-source-address", "l3-destination-address", "l4-protocol", "l4-source-port", "l4-destination-port"},
			Decision: "source-bias",
		},
		SubProtocol: "interface-static",
	}
}

func sampleEVPN() *EVPNEntry {
	nh := func(a string) EVPNNextHop {
		return EVPNNextHop{AF: 1, Address: a, MAC: "02:00:00:00:00:aa", Label: 20, L3Label: 21,
			TunnelEncapsulation: []string{"vxlan", "gre"}, Tags: []uint32{1, 2}, LocalSequenceNumber: 9}
	}
	return &EVPNEntry{
		NLRI: EVPNNLRI{AF: AFL2VPN, SAFI: SAFIEnet, EthernetTag: 5001, MAC: "02:00:00:00:00:01",
			Address: "10.1.1.1/32", Group: "239.1.1.1", Source: "10.0.0.1", Flags: 2},
		NextHops:                     []EVPNNextHop{nh("192.0.2.1")},
		OList:                        []EVPNNextHop{nh("192.0.2.2"), nh("192.0.2.3")},
		VirtualNetwork:               "default-domain:p:vn1",
		Mobility:                     Mobility{Seqno: 1},
		SequenceNumber:               1,
		SecurityGroups:               []uint32{8000003},
		LocalPreference:              100,
		MED:                          200,
		EdgeReplicationNotSupported:  true,
		AssistedReplicationSupported: true,
		LeafOList:                    []EVPNNextHop{nh("192.0.2.4")},
		ReplicatorAddress:            "192.0.2.9",
		ETreeLeaf:                    true,
	}
}

func sampleConfig() *Config {
	vn := &ConfigNode{Type: "virtual-network", Name: "default-domain:p:vn1", Props: []*Element{
		NewElement("virtual-network-properties", "").Add(
			NewElement("forwarding-mode", "l2_l3"),
			NewElement("vxlan-network-identifier", "5001")),
		NewElement("route-target-list", "").Add(
			NewElement("route-target", "target:64512:1"),
			NewElement("route-target", "target:64512:2")),
		NewElement("display-name", "vn <one> & \"two\""),
	}}
	return &Config{
		IQHeader: IQHeader{From: ControlNodeJID, To: "host1/config"},
		Blocks: []ConfigBlock{
			{Objects: []ConfigObject{
				{Node: vn},
				{Link: &ConfigLink{Left: NodeRef{"virtual-network", "default-domain:p:vn1"}, Right: NodeRef{"routing-instance", "default-domain:p:vn1:vn1"}, Metadata: "virtual-network-routing-instance"}},
			}},
			{Delete: true, Objects: []ConfigObject{
				{Node: &ConfigNode{Type: "virtual-machine", Name: "7a6b0e5c-0000-4000-8000-000000000001"}},
				{Link: &ConfigLink{Left: NodeRef{"a", "x"}, Right: NodeRef{"b", "y"}}},
			}},
			{Objects: []ConfigObject{{Node: &ConfigNode{Type: "tag", Name: "t"}}}},
		},
	}
}

// roundTrip encodes s, parses the bytes, decodes them with DecodeIQ or
// DecodeMessage and returns the result.
func roundTrip(t *testing.T, s Stanza) Stanza {
	t.Helper()
	b := s.AppendMarshal(nil)
	el, err := ParseElement(b)
	if err != nil {
		t.Fatalf("parse %s: %v", b, err)
	}
	var got Stanza
	switch el.Name.Local {
	case "iq":
		got, err = DecodeIQ(el)
	case "message":
		got, err = DecodeMessage(el)
	default:
		t.Fatalf("root %s", el.Name.Local)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if again := got.AppendMarshal(nil); string(again) != string(b) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, again)
	}
	return got
}

func TestRoundTripMessages(t *testing.T) {
	rp := &RoutePublish{From: "host1", Seq: 7, VRF: "default-domain:p:vn1:vn1", Entry: sampleUnicast()}
	pub, col := rp.IQs()
	epub, ecol := (&RoutePublish{From: "host1", Seq: 8, VRF: "default-domain:p:vn1:vn1", Entry: sampleEVPN(), Withdraw: true}).IQs()
	eorPub, eorCol := EndOfRibIQs("host1", 9)
	inet6 := sampleUnicast()
	inet6.NLRI = NLRI{AF: AFIPv6, SAFI: SAFIUnicast, Address: "2001:db8::1/128"}
	inet6.NextHops[0].AF = AFIPv6
	inet6.NextHops[0].Address = "2001:db8:ffff::1"
	labeled := sampleUnicast()
	labeled.NLRI.SAFI = SAFIMPLS
	tests := []struct {
		name string
		s    Stanza
	}{
		{"subscribe", NewSubscribe("host1", "subscribe1", "default-domain:p:vn1:vn1", 4)},
		{"subscribe no-ribout", &Subscribe{IQHeader: IQHeader{From: "h", To: "t", ID: "i"}, Node: "n", Options: &SubscribeOptions{InstanceID: 0, NoRibOut: true}}},
		{"config subscribe vr", NewConfigSubscribe("host1", "cfg1", VirtualRouterNode("default-global-system-config:host1"))},
		{"config subscribe vm", NewConfigSubscribe("host1", "", VirtualMachineNode("7a6b0e5c-0000-4000-8000-000000000001"))},
		{"unsubscribe", NewUnsubscribe("host1", "unsubscribe2", "default-domain:p:vn1:vn1")},
		{"publish inet", pub},
		{"collection associate", col},
		{"publish inet6", &Publish{IQHeader: IQHeader{From: "h", To: "t"}, Node: RouteNode(FamilyInet6, "v", "2001:db8::1/128"), Items: []Item{{Entry: inet6}}}},
		{"publish inet-labeled", &Publish{IQHeader: IQHeader{From: "h", To: "t"}, Node: RouteNode(FamilyInetLabeled, "v", "10.1.1.1/32"), Items: []Item{{Entry: labeled}}}},
		{"publish evpn", epub},
		{"collection dissociate", ecol},
		{"publish eor", eorPub},
		{"collection eor", eorCol},
		{"publish item without entry", &Publish{IQHeader: IQHeader{Type: "set", From: "h", To: "t", ID: "x"}, Node: "1/1/v/p", Items: []Item{{ID: "a"}}}},
		{"update inet", &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: ItemsNode(FamilyInet, "default-domain:p:vn1:vn1"),
			Items: []Item{{ID: "10.1.1.1/32", Entry: sampleUnicast()}, {ID: "10.1.1.2/32", Entry: &UnicastEntry{NLRI: NLRI{AF: 1, SAFI: 1, Address: "10.1.1.2/32"}}}}}},
		{"update inet6", &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: ItemsNode(FamilyInet6, "v"), Items: []Item{{ID: "2001:db8::1/128", Entry: inet6}}}},
		{"update evpn", &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: ItemsNode(FamilyEVPN, "v"), Items: []Item{{ID: "5001-02:00:00:00:00:01,10.1.1.1/32", Entry: sampleEVPN()}}}},
		{"update retracts", &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: ItemsNode(FamilyInet, "v"), Retracts: []string{"10.1.1.1/32", "10.1.1.2/32"}}},
		{"update mixed", &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: ItemsNode(FamilyInet, "v"), Items: []Item{{ID: "a", Entry: sampleUnicast()}}, Retracts: []string{"b"}}},
		{"end of rib", NewEndOfRib("host1")},
		{"config", sampleConfig()},
		{"config empty", &Config{IQHeader: IQHeader{From: ControlNodeJID, To: "h/config"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.s)
			want := tt.s
			if c, ok := want.(*Config); ok {
				// Decoding yields parsed elements: compare through bytes (done
				// in roundTrip) and structure.
				gc := got.(*Config)
				if len(gc.Blocks) != len(c.Blocks) {
					t.Fatalf("blocks %d", len(gc.Blocks))
				}
				return
			}
			if h, ok := iqHeader(want); ok && h.Type == "" {
				h.Type = "set" // decoding reads the written default
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func iqHeader(s Stanza) (*IQHeader, bool) {
	switch x := s.(type) {
	case *Subscribe:
		return &x.IQHeader, true
	case *Unsubscribe:
		return &x.IQHeader, true
	case *Publish:
		return &x.IQHeader, true
	case *Collection:
		return &x.IQHeader, true
	case *Config:
		return &x.IQHeader, true
	}
	return nil, false
}

func TestGoldenEncodings(t *testing.T) {
	tests := []struct {
		name string
		s    Stanza
		want string
	}{
		{"subscribe", NewSubscribe("host1", "subscribe1", "default-domain:p:vn1:vn1", 4),
			`<iq type="set" from="host1" to="network-control@contrailsystems.com/bgp-peer" id="subscribe1"><pubsub xmlns="http://jabber.org/protocol/pubsub"><subscribe node="default-domain:p:vn1:vn1"/><options><instance-id>4</instance-id></options></pubsub></iq>`},
		{"no-ribout", &Subscribe{IQHeader: IQHeader{From: "h", To: "t", ID: "i"}, Node: "n", Options: &SubscribeOptions{InstanceID: 1, NoRibOut: true}},
			`<iq type="set" from="h" to="t" id="i"><pubsub xmlns="http://jabber.org/protocol/pubsub"><subscribe node="n"/><options><instance-id>1</instance-id><no-ribout>true</no-ribout></options></pubsub></iq>`},
		{"config subscribe", NewConfigSubscribe("host1", "", VirtualRouterNode("default-global-system-config:host1")),
			`<iq type="set" from="host1" to="network-control@contrailsystems.com/config"><pubsub xmlns="http://jabber.org/protocol/pubsub"><subscribe node="virtual-router:default-global-system-config:host1"/></pubsub></iq>`},
		{"unsubscribe", NewUnsubscribe("host1", "u1", "blue"),
			`<iq type="set" from="host1" to="network-control@contrailsystems.com/bgp-peer" id="u1"><pubsub xmlns="http://jabber.org/protocol/pubsub"><unsubscribe node="blue"/></pubsub></iq>`},
		{"route publish", &RoutePublish{From: "host1", Seq: 3, VRF: "blue", Entry: &UnicastEntry{
			NLRI: NLRI{AF: 1, SAFI: 1, Address: "10.1.1.1/32"}, Version: 1, VirtualNetwork: "vn",
			NextHops: []NextHop{{AF: 1, Address: "192.0.2.1", Label: 16, TunnelEncapsulation: []string{"gre"}}}}},
			`<iq type="set" from="host1" to="network-control@contrailsystems.com/bgp-peer" id="pubsub3"><pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="1/1/blue/10.1.1.1/32"><item><entry><nlri><af>1</af><safi>1</safi><address>10.1.1.1/32</address></nlri><next-hops><next-hop><af>1</af><address>192.0.2.1</address><label>16</label><tunnel-encapsulation-list><tunnel-encapsulation>gre</tunnel-encapsulation></tunnel-encapsulation-list></next-hop></next-hops><version>1</version><virtual-network>vn</virtual-network></entry></item></publish></pubsub></iq>` +
				`<iq type="set" from="host1" to="network-control@contrailsystems.com/bgp-peer" id="collection3"><pubsub xmlns="http://jabber.org/protocol/pubsub"><collection node="blue"><associate node="1/1/blue/10.1.1.1/32"/></collection></pubsub></iq>`},
		{"evpn route withdraw", &RoutePublish{From: "host1", Seq: 4, VRF: "blue", Withdraw: true, Entry: &EVPNEntry{
			NLRI: EVPNNLRI{AF: 25, SAFI: 242, MAC: "02:00:00:00:00:01", Address: "10.1.1.1/32"}}},
			`<iq type="set" from="host1" to="network-control@contrailsystems.com/bgp-peer" id="pubsub_l24"><pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="25/242/02:00:00:00:00:01,10.1.1.1/32"><item><entry><nlri><af>25</af><safi>242</safi><mac>02:00:00:00:00:01</mac><address>10.1.1.1/32</address></nlri></entry></item></publish></pubsub></iq>` +
				`<iq type="set" from="host1" to="network-control@contrailsystems.com/bgp-peer" id="collection_l24"><pubsub xmlns="http://jabber.org/protocol/pubsub"><collection node="blue"><dissociate node="25/242/02:00:00:00:00:01,10.1.1.1/32"/></collection></pubsub></iq>`},
		{"end of rib publish", stanzas(EndOfRibIQs("h", 1)),
			`<iq type="set" from="h" to="network-control@contrailsystems.com/bgp-peer" id="pubsub1"><pubsub xmlns="http://jabber.org/protocol/pubsub"><publish/></pubsub></iq>` +
				`<iq type="set" from="h" to="network-control@contrailsystems.com/bgp-peer" id="collection1"><pubsub xmlns="http://jabber.org/protocol/pubsub"><collection/></pubsub></iq>`},
		{"update", &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: "1/1/blue",
			Items: []Item{{ID: "10.1.1.1/32", Entry: &UnicastEntry{NLRI: NLRI{AF: 1, SAFI: 1, Address: "10.1.1.1/32"}, Mobility: Mobility{Seqno: 2}}}}},
			`<message from="network-control@contrailsystems.com" to="host1/bgp-peer"><event xmlns="http://jabber.org/protocol/pubsub"><items node="1/1/blue"><item id="10.1.1.1/32"><entry><nlri><af>1</af><safi>1</safi><address>10.1.1.1/32</address></nlri><mobility seqno="2" sticky="false"/></entry></item></items></event></message>`},
		{"retract", &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: "1/1/blue", Retracts: []string{"10.1.1.1/32"}},
			`<message from="network-control@contrailsystems.com" to="host1/bgp-peer"><event xmlns="http://jabber.org/protocol/pubsub"><items node="1/1/blue"><retract id="10.1.1.1/32"/></items></event></message>`},
		{"end of rib", NewEndOfRib("host1"),
			`<message from="network-control@contrailsystems.com" to="host1/bgp-peer"><event xmlns="http://jabber.org/protocol/pubsub"><items node="0/0/EndOfRib"></items></event></message>`},
		{"config", &Config{IQHeader: IQHeader{From: ControlNodeJID, To: "host1/config"}, Blocks: []ConfigBlock{
			{Objects: []ConfigObject{{Node: &ConfigNode{Type: "foo", Name: "testfoo", Props: []*Element{NewElement("id-perms", "").Add(NewElement("enable", "true"))}}},
				{Link: &ConfigLink{Left: NodeRef{"foo", "testfoo"}, Right: NodeRef{"bar", "testbar"}, Metadata: "foo-bar"}}}},
			{Delete: true, Objects: []ConfigObject{{Node: &ConfigNode{Type: "bar", Name: "testbar"}}}}}},
			`<iq type="set" from="network-control@contrailsystems.com" to="host1/config"><config><update><node type="foo"><name>testfoo</name><id-perms><enable>true</enable></id-perms></node><link><node type="foo"><name>testfoo</name></node><node type="bar"><name>testbar</name></node><metadata type="foo-bar"/></link></update><delete><node type="bar"><name>testbar</name></node></delete></config></iq>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.s.AppendMarshal(nil)); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

type stanzaList []Stanza

func (l stanzaList) AppendMarshal(b []byte) []byte {
	for _, s := range l {
		b = s.AppendMarshal(b)
	}
	return b
}

func stanzas(p *Publish, c *Collection) Stanza { return stanzaList{p, c} }

func TestUpdateBuilder(t *testing.T) {
	var items []Item
	for i := 0; i < 70; i++ {
		items = append(items, Item{ID: string(rune('a' + i%26)), Entry: sampleUnicast()})
	}
	retracts := make([]string, 600)
	for i := range retracts {
		retracts[i] = "r"
	}
	ub := &UpdateBuilder{To: "host1/bgp-peer"}
	msgs := ub.Build("1/1/blue", items, retracts)
	var sizes []int
	for _, m := range msgs {
		if len(m.Items) > 0 && len(m.Retracts) > 0 {
			t.Fatal("mixed message")
		}
		if m.From != ControlNodeJID || m.To != "host1/bgp-peer" || m.Node != "1/1/blue" {
			t.Fatalf("header %+v", m)
		}
		sizes = append(sizes, len(m.Items)+len(m.Retracts))
	}
	if !reflect.DeepEqual(sizes, []int{32, 32, 6, 256, 256, 88}) {
		t.Fatalf("sizes %v", sizes)
	}
	// Appending to one message's items must not overwrite the next one's.
	msgs[0].Items = append(msgs[0].Items, Item{ID: "zz"})
	if msgs[1].Items[0].ID == "zz" {
		t.Fatal("messages share backing arrays")
	}
	small := (&UpdateBuilder{MaxItems: 2, MaxRetracts: 3}).Build("n", items[:5], retracts[:4])
	sizes = sizes[:0]
	for _, m := range small {
		sizes = append(sizes, len(m.Items)+len(m.Retracts))
	}
	if !reflect.DeepEqual(sizes, []int{2, 2, 1, 3, 1}) {
		t.Fatalf("configured sizes %v", sizes)
	}
	if got := ub.Build("n", nil, nil); len(got) != 0 {
		t.Fatalf("empty build: %d", len(got))
	}
}

func TestAppendEventShared(t *testing.T) {
	u := &Update{From: ControlNodeJID, To: "host1/bgp-peer", Node: "1/1/v", Items: []Item{{ID: "x", Entry: sampleUnicast()}}}
	ev := u.AppendEvent(nil)
	if got := string(AppendMessage(nil, u.From, u.To, ev)); got != string(u.Marshal()) {
		t.Fatalf("AppendMessage differs:\n%s\n%s", got, u.Marshal())
	}
}

func TestConfigBuilder(t *testing.T) {
	var changes []ConfigChange
	node := func(i int) ConfigObject {
		return ConfigObject{Node: &ConfigNode{Type: "t", Name: strings.Repeat("n", i+1)}}
	}
	// 10 updates, 10 deletes, 20 updates.
	for i := 0; i < 40; i++ {
		changes = append(changes, ConfigChange{Delete: i >= 10 && i < 20, ConfigObject: node(i)})
	}
	msgs := (&ConfigBuilder{To: "host1/config"}).Build(changes)
	type blk struct {
		del bool
		n   int
	}
	var got [][]blk
	total := 0
	for _, m := range msgs {
		if m.From != ControlNodeJID || m.To != "host1/config" {
			t.Fatalf("header %+v", m.IQHeader)
		}
		var bs []blk
		for _, b := range m.Blocks {
			bs = append(bs, blk{b.Delete, len(b.Objects)})
			for _, o := range b.Objects {
				if len(o.Node.Name) != total+1 {
					t.Fatalf("order broken at %d", total)
				}
				total++
			}
		}
		got = append(got, bs)
	}
	want := [][]blk{{{false, 10}, {true, 6}}, {{true, 4}, {false, 12}}, {{false, 8}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("blocks %v", got)
	}
	if len((&ConfigBuilder{MaxObjects: 5}).Build(changes)) != 8 {
		t.Fatal("MaxObjects not honoured")
	}
}

func TestPairer(t *testing.T) {
	rp := &RoutePublish{From: "host1", Seq: 1, VRF: "blue", Entry: sampleUnicast()}
	pub, col := rp.IQs()
	var p Pairer
	if rc, err := p.Collection(col); rc != nil || err == nil {
		t.Fatal("collection without publish accepted")
	}
	if p.Publish(pub) != nil {
		t.Fatal("nothing to replace")
	}
	rc, err := p.Collection(col)
	if err != nil {
		t.Fatal(err)
	}
	if rc.VRF != "blue" || rc.Node != "1/1/blue/10.1.1.1/32" || rc.Withdraw || rc.EndOfRib || len(rc.Items) != 1 || rc.From != "host1" {
		t.Fatalf("change %+v", rc)
	}
	if p.Pending() != nil {
		t.Fatal("publish still pending")
	}
	// Mismatched nodes: error, and the pending publish is dropped.
	p.Publish(pub)
	other := *col
	other.ItemNode = "1/1/blue/10.9.9.9/32"
	_, err = p.Collection(&other)
	var de *DecodeError
	if !errors.As(err, &de) || de.Fatal || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatch: %v", err)
	}
	if p.Pending() != nil {
		t.Fatal("mismatch kept the publish")
	}
	// A second publish replaces the first.
	p.Publish(pub)
	pub2, _ := (&RoutePublish{From: "host1", Seq: 2, VRF: "blue", Entry: sampleUnicast()}).IQs()
	if p.Publish(pub2) != pub {
		t.Fatal("replaced publish not returned")
	}
	// End of RIB.
	ep, ec := EndOfRibIQs("host1", 3)
	p = Pairer{}
	p.Publish(ep)
	rc, err = p.Collection(ec)
	if err != nil || !rc.EndOfRib {
		t.Fatalf("eor: %+v %v", rc, err)
	}
}

func TestNodes(t *testing.T) {
	fam, vrf, key, err := ParseRouteNode("1/1/default-domain:p:vn1:vn1/10.1.1.1/32")
	if err != nil || fam != FamilyInet || vrf != "default-domain:p:vn1:vn1" || key != "10.1.1.1/32" {
		t.Fatalf("inet: %v %q %q %v", fam, vrf, key, err)
	}
	fam, vrf, key, err = ParseRouteNode("2/1/v/2001:db8::/64/3")
	if err != nil || fam != FamilyInet6 || vrf != "v" || key != "2001:db8::/64/3" {
		t.Fatalf("inet6: %v %q %q %v", fam, vrf, key, err)
	}
	fam, vrf, key, err = ParseRouteNode(EVPNRouteNode("02:00:00:00:00:01", "10.1.1.1/32"))
	if err != nil || fam != FamilyEVPN || vrf != "" || key != "02:00:00:00:00:01,10.1.1.1/32" {
		t.Fatalf("evpn: %v %q %q %v", fam, vrf, key, err)
	}
	for _, bad := range []string{"", "blue", "1/1", "1/1/", "x/1/v/p", "1/1/vrf-only", "1/1//p", "1/1/v/"} {
		if _, _, _, err := ParseRouteNode(bad); err == nil {
			t.Errorf("ParseRouteNode(%q) accepted", bad)
		}
	}
	fam, vrf, err = ParseItemsNode(ItemsNode(FamilyEVPN, "default-domain:p:vn1:vn1"))
	if err != nil || fam != FamilyEVPN || vrf != "default-domain:p:vn1:vn1" {
		t.Fatalf("items: %v %q %v", fam, vrf, err)
	}
	if fam, vrf, err = ParseItemsNode(EndOfRibNode); err != nil || fam != (Family{}) || vrf != "EndOfRib" {
		t.Fatalf("eor node: %v %q %v", fam, vrf, err)
	}
	if _, _, err := ParseItemsNode("1/1/a/b"); err == nil {
		t.Fatal("items node with a slash in the vrf accepted")
	}
	if JID(ControlNodeJID, ResourceBGPPeer) != "network-control@contrailsystems.com/bgp-peer" || JID("a", "") != "a" {
		t.Fatal("JID")
	}
	if FamilyEVPN.String() != "25/242" || !FamilyInetLabeled.Unicast() || FamilyEVPN.Unicast() {
		t.Fatal("Family")
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		path   string
		attr   string
		reason string
		value  string
	}{
		{"bad label", `<message from="a" to="b"><event><items node="1/1/v"><item id="x"><entry><nlri><af>1</af><safi>1</safi><address>a</address></nlri><next-hops><next-hop><af>1</af><label>sixteen</label></next-hop></next-hops></entry></item></items></event></message>`,
			"message/event/items/item/entry/next-hops/next-hop/label", "", "invalid integer", "sixteen"},
		{"label out of range", `<message><event><items node="1/1/v"><item><entry><nlri/><next-hops><next-hop><label>4294967296</label></next-hop></next-hops></entry></item></items></event></message>`,
			"message/event/items/item/entry/next-hops/next-hop/label", "", "integer out of range", "4294967296"},
		{"bad af", `<iq><pubsub><publish node="1/1/v/p"><item><entry><nlri><af>x</af></nlri></entry></item></publish></pubsub></iq>`,
			"iq/pubsub/publish/item/entry/nlri/af", "", "invalid integer", "x"},
		{"bad seqno", `<message><event><items node="1/1/v"><item><entry><mobility seqno="-1"/></entry></item></items></event></message>`,
			"message/event/items/item/entry/mobility", "seqno", "invalid integer", "-1"},
		{"bad etree", `<message><event><items node="25/242/v"><item><entry><etree-leaf>maybe</etree-leaf></entry></item></items></event></message>`,
			"message/event/items/item/entry/etree-leaf", "", "invalid boolean", "maybe"},
		{"evpn olist", `<message><event><items node="25/242/v"><item><entry><olist><next-hop><l3-label>q</l3-label></next-hop></olist></entry></item></items></event></message>`,
			"message/event/items/item/entry/olist/next-hop/l3-label", "", "invalid integer", "q"},
		{"no items", `<message><event/></message>`, "message/event/items", "", "missing", ""},
		{"no node", `<message><event><items/></event></message>`, "message/event/items", "node", "missing", ""},
		{"retract without id", `<message><event><items node="n"><retract/></items></event></message>`, "message/event/items/retract", "id", "missing", ""},
		{"subscribe without node", `<iq><pubsub><subscribe/></pubsub></iq>`, "iq/pubsub/subscribe", "node", "missing", ""},
		{"bad instance id", `<iq><pubsub><subscribe node="n"/><options><instance-id>one</instance-id></options></pubsub></iq>`, "iq/pubsub/options/instance-id", "", "invalid integer", "one"},
		{"unsubscribe without node", `<iq><pubsub><unsubscribe/></pubsub></iq>`, "iq/pubsub/unsubscribe", "node", "missing", ""},
		{"config node without type", `<iq><config><update><node><name>x</name></node></update></config></iq>`, "iq/config/update/node", "type", "missing", ""},
		{"config node without name", `<iq><config><delete><node type="t"/></delete></config></iq>`, "iq/config/delete/node/name", "", "missing", ""},
		{"config link with one node", `<iq><config><update><link><node type="t"><name>a</name></node></link></update></config></iq>`, "iq/config/update/link/node", "", "a link needs two nodes", ""},
		{"config link node without name", `<iq><config><update><link><node type="t"/><node type="u"><name>b</name></node></link></update></config></iq>`, "iq/config/update/link/node/name", "", "missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			el := mustParse(t, tt.in)
			var err error
			if el.Name.Local == "iq" {
				_, err = DecodeIQ(el)
			} else {
				_, err = DecodeMessage(el)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v", err)
			}
			if de.Element != tt.path || de.Attr != tt.attr || de.Reason != tt.reason || de.Value != tt.value || de.Fatal {
				t.Fatalf("got %+v", de)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestDecodeIQOther(t *testing.T) {
	for _, in := range []string{`<iq type="result" id="1"/>`, `<iq><pubsub><items node="x"/></pubsub></iq>`, `<iq><query xmlns="jabber:iq:version"/></iq>`} {
		el := mustParse(t, in)
		s, err := DecodeIQ(el)
		if err != nil || s != Stanza(el) {
			t.Fatalf("%s: %v %v", in, s, err)
		}
	}
	if _, err := DecodeIQ(mustParse(t, "<message/>")); err == nil {
		t.Fatal("message accepted as iq")
	}
	if _, err := DecodeMessage(mustParse(t, "<iq/>")); err == nil {
		t.Fatal("iq accepted as message")
	}
}

func TestEntryTolerance(t *testing.T) {
	in := `<entry xmlns="http://www.contrailsystems.com/bgp-l3vpn-unicast-cfg.xsd">
	<nlri><af> 1 </af><address>10.1.1.1/32</address></nlri>
	<peers><peer>x</peer></peers>
	<med></med><med>5</med>
	<next-hops><comment-ish/><next-hop><af>1</af><address>a</address><label/></next-hop></next-hops>
	<mobility seqno="" sticky="1" other="x"/>
	</entry>`
	e, err := DecodeEntry(Family{}, mustParse(t, in))
	if err != nil {
		t.Fatal(err)
	}
	u, ok := e.(*UnicastEntry)
	if !ok {
		t.Fatalf("%T", e)
	}
	want := &UnicastEntry{NLRI: NLRI{AF: 1, Address: "10.1.1.1/32"}, MED: 5,
		NextHops: []NextHop{{AF: 1, Address: "a"}}, Mobility: Mobility{Sticky: true}}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("got %+v", u)
	}
	// Families: from nlri, EVPN, and unknown ones kept raw.
	ev, err := DecodeEntry(Family{}, mustParse(t, `<entry><nlri><af>25</af><safi>242</safi></nlri></entry>`))
	if _, ok := ev.(*EVPNEntry); !ok || err != nil {
		t.Fatalf("evpn: %T %v", ev, err)
	}
	raw := mustParse(t, `<entry><nlri><af>1</af><safi>241</safi><group>224.1.1.1</group></nlri></entry>`)
	re, err := DecodeEntry(Family{}, raw)
	if r, ok := re.(*RawEntry); !ok || err != nil || r.Family != FamilyErmVPN || r.EntryFamily() != FamilyErmVPN || string(r.AppendMarshal(nil)) != string(raw.Marshal()) {
		t.Fatalf("raw: %#v %v", re, err)
	}
	if _, err := DecodeEntry(Family{}, mustParse(t, `<entry/>`)); err == nil {
		t.Fatal("entry without nlri accepted with no family")
	}
	if _, err := DecodeEntry(FamilyInet, mustParse(t, `<item/>`)); err == nil {
		t.Fatal("non-entry accepted")
	}
}

// Subtrees kept on their own (config properties, raw entries) must encode
// to the same tree even when an ancestor declared the namespaces they use;
// decoding must not modify the parsed stanza.
func TestNamespacedSubtrees(t *testing.T) {
	for _, in := range []string{
		`<iq xmlns="jabber:client"><config><update><node type="t"><name>n</name><p a="1"><q/></p></node></update></config></iq>`,
		`<iq xmlns:z="urn:z"><config><update><node type="t"><name>n</name><p z:a="1"><z:q/><r xmlns=""/></p></node></update></config></iq>`,
		`<iq xmlns:z="urn:z"><pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="1/241/v"><item><entry z:a="1"><nlri/></entry></item></publish></pubsub></iq>`,
		`<message xmlns="jabber:client"><event xmlns="http://jabber.org/protocol/pubsub"><items node="1/5/v"><item id="i"><entry><nlri xmlns="urn:n"/></entry></item></items></event></message>`,
	} {
		el := mustParse(t, in)
		before := el.String()
		checkStanzaRoundTrip(t, el)
		if el.String() != before {
			t.Fatalf("decoding changed the stanza:\n%s\n%s", before, el.String())
		}
	}
	// The default namespace inherited from <iq> is dropped from properties.
	el := mustParse(t, `<iq xmlns="jabber:client"><config><update><node type="t"><name>n</name><p/></node></update></config></iq>`)
	st, err := DecodeIQ(el)
	if err != nil {
		t.Fatal(err)
	}
	if p := st.(*Config).Blocks[0].Objects[0].Node.Props[0]; p.Name.Space != "" || p.String() != "<p/>" {
		t.Fatalf("prop %#v", p.Name)
	}
}
