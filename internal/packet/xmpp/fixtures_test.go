// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// Golden tests against the upstream fixtures in testdata/ (see
// testdata/SOURCES.md for their caveats).

func readFrames(t *testing.T, b []byte) []Frame {
	t.Helper()
	r := NewReader(bytes.NewReader(b), 0)
	var out []Frame
	for {
		f, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, f)
	}
}

func TestFixtureSubscribe(t *testing.T) {
	frames := readFrames(t, readFixture(t, "bgp_testdata_pubsub_sub.xml"))
	if len(frames) != 1 || frames[0].Kind != FrameIQ {
		t.Fatalf("frames %+v", frames)
	}
	st, err := DecodeIQ(frames[0].Elem)
	if err != nil {
		t.Fatal(err)
	}
	want := &Subscribe{
		IQHeader: IQHeader{Type: "set", From: "agent@vnsw.contrailsystems.com", To: "bgp.contrail.com/bgp-peer", ID: "sub1_blue"},
		Node:     "blue",
		Options:  &SubscribeOptions{InstanceID: 1},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("got %+v", st)
	}
}

func TestFixtureUnsubscribe(t *testing.T) {
	frames := readFrames(t, readFixture(t, "bgp_testdata_pubsub_usub.xml"))
	st, err := DecodeIQ(frames[0].Elem)
	if err != nil {
		t.Fatal(err)
	}
	want := &Unsubscribe{IQHeader: IQHeader{Type: "set", From: "agent@vnsw.contrailsystems.com", To: "bgp.contrail.com/bgp-peer", ID: "sub1"}, Node: "blue"}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("got %+v", st)
	}
}

// pubsub_pub.xml: a publish and its collection; comments ending in "--->".
func TestFixturePublishAssociate(t *testing.T) {
	rc := pairFixture(t, "bgp_testdata_pubsub_pub.xml")
	if rc.VRF != "blue" || rc.Node != "1/1/10.1.2.1" || rc.Withdraw || rc.EndOfRib || rc.From != "agent@vnsw.contrailsystems.com" {
		t.Fatalf("change %+v", rc)
	}
	want := &UnicastEntry{
		NLRI: NLRI{AF: 1, SAFI: 1, Address: "10.1.2.1/32"},
		NextHops: []NextHop{{AF: 1, Address: "20.1.2.1", Label: 10000,
			TunnelEncapsulation: []string{"gre"}}}, // <safi>, <version> inside next-hop are not schema: ignored
		SecurityGroups: []uint32{1, 2},
	}
	if len(rc.Items) != 1 || !reflect.DeepEqual(rc.Items[0].Entry, want) {
		t.Fatalf("items %+v", rc.Items)
	}
	// The old short publish node has no routing instance.
	fam, _ := nodeFamily(rc.Node)
	if fam != FamilyInet {
		t.Fatalf("family %v", fam)
	}
	if _, _, _, err := ParseRouteNode(rc.Node); err == nil {
		t.Fatal("old short node form parsed as AF/SAFI/vrf/prefix")
	}
}

// pubsub_dis.xml: the pre-next-hops flat layout decodes to no next hops.
func TestFixturePublishDissociate(t *testing.T) {
	rc := pairFixture(t, "bgp_testdata_pubsub_dis.xml")
	if rc.VRF != "blue" || !rc.Withdraw || rc.Node != "1/1/10.1.2.1" {
		t.Fatalf("change %+v", rc)
	}
	want := &UnicastEntry{NLRI: NLRI{AF: 1, SAFI: 1, Address: "10.1.2.1/32"}, Version: 1}
	if len(rc.Items) != 1 || !reflect.DeepEqual(rc.Items[0].Entry, want) {
		t.Fatalf("items %+v", rc.Items[0].Entry)
	}
}

func pairFixture(t *testing.T, name string) *RouteChange {
	t.Helper()
	frames := readFrames(t, readFixture(t, name))
	if len(frames) != 2 {
		t.Fatalf("%d frames", len(frames))
	}
	var p Pairer
	var rc *RouteChange
	for i, f := range frames {
		st, err := DecodeIQ(f.Elem)
		if err != nil {
			t.Fatalf("iq %d: %v", i, err)
		}
		switch x := st.(type) {
		case *Publish:
			p.Publish(x)
		case *Collection:
			if rc, err = p.Collection(x); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("iq %d: %T", i, st)
		}
	}
	if rc == nil {
		t.Fatal("no route change")
	}
	return rc
}

// message.xml is historical and malformed: the Reader frames it, reports a
// non-fatal error, and the stream stays usable.
func TestFixtureHistoricalMessage(t *testing.T) {
	in := append(readFixture(t, "xmpp_testdata_message.xml"), Proceed...)
	r := NewReader(bytes.NewReader(in), 0)
	f, err := r.Next()
	var de *DecodeError
	if !errors.As(err, &de) || de.Fatal || de.Reason != "syntax error" || len(f.Raw) == 0 {
		t.Fatalf("got %+v %v", f, err)
	}
	if f, err := r.Next(); err != nil || f.Kind != FrameProceed {
		t.Fatalf("next: %+v %v", f, err)
	}
}

// The link fixtures are bare <config> payloads; the real message wraps them
// in an iq. They carry no <metadata>.
func TestFixtureConfigLinks(t *testing.T) {
	add := configFixture(t, "vnsw_agent_testdata_test_link_add_cfg.xml")
	ref := func(typ, name string) NodeRef { return NodeRef{typ, name} }
	link := ConfigObject{Link: &ConfigLink{Left: ref("foo", "testfoo"), Right: ref("bar", "testbar")}}
	want := []ConfigBlock{{Objects: []ConfigObject{
		{Node: &ConfigNode{Type: "foo", Name: "testfoo"}},
		{Node: &ConfigNode{Type: "bar", Name: "testbar"}},
		link, link,
	}}}
	if !reflect.DeepEqual(add.Blocks, want) {
		t.Fatalf("add: %s", add.Marshal())
	}
	del := configFixture(t, "vnsw_agent_testdata_test_link_del_cfg.xml")
	if !reflect.DeepEqual(del.Blocks, []ConfigBlock{{Delete: true, Objects: []ConfigObject{link}}}) {
		t.Fatalf("del: %s", del.Marshal())
	}
	if add.From != ControlNodeJID || add.To != "agent1/config" {
		t.Fatalf("header %+v", add.IQHeader)
	}
}

// configFixture reads a bare <config> fixture, wraps it in the iq the
// control node sends, encodes that and decodes it back.
func configFixture(t *testing.T, name string) *Config {
	t.Helper()
	return configPayload(t, readFixture(t, name))
}

func configPayload(t *testing.T, b []byte) *Config {
	t.Helper()
	el, err := ParseElement(b)
	if err != nil {
		t.Fatal(err)
	}
	if el.Name.Local != "config" {
		t.Fatalf("root %s", el.Name.Local)
	}
	iq := NewElement("iq", "").SetAttr("type", "set").SetAttr("from", ControlNodeJID).SetAttr("to", "agent1/config").Add(el)
	var c Config
	if err := c.Unmarshal(iq); err != nil {
		t.Fatal(err)
	}
	// Encode and decode again: same structure, byte-stable.
	enc := c.Marshal()
	var c2 Config
	if err := c2.Unmarshal(mustParse(t, string(enc))); err != nil {
		t.Fatal(err)
	}
	if string(c2.Marshal()) != string(enc) {
		t.Fatalf("re-encoding differs:\n%s\n%s", enc, c2.Marshal())
	}
	return &c2
}

// The ACL fixture: an escaped declaration first and a stray </iq> last.
func TestFixtureACLThroughReader(t *testing.T) {
	r := NewReader(bytes.NewReader(readFixture(t, "vnsw_agent_filter_test_acl_cfg_test.xml")), 0)
	f, err := r.Next()
	if err != nil || f.Kind != FrameElement || f.Elem.Name.Local != "config" {
		t.Fatalf("got %+v %v", f.Kind, err)
	}
	_, err = r.Next()
	var de *DecodeError
	if !errors.As(err, &de) || !de.Fatal || de.Element != "iq" {
		t.Fatalf("stray </iq>: %v", err)
	}
}

// aclPayload returns the ACL fixture without its stray trailing </iq>.
func aclPayload(t testing.TB) []byte {
	raw := bytes.TrimRight(readFixture(t, "vnsw_agent_filter_test_acl_cfg_test.xml"), "\n")
	b, ok := bytes.CutSuffix(raw, []byte("</iq>"))
	if !ok {
		t.Fatal("the ACL fixture no longer ends in a stray </iq>")
	}
	return b
}

func TestFixtureACLConfig(t *testing.T) {
	c := configPayload(t, aclPayload(t))
	if len(c.Blocks) != 1 || len(c.Blocks[0].Objects) != 3 {
		t.Fatalf("blocks %+v", c.Blocks)
	}
	n := c.Blocks[0].Objects[0].Node
	if n.Type != "access-control-list" || n.Name != "default-domain:b859ddbabe3d4c4dba8402084831e6fe:vn1:access-control-list:default-domain:b859ddbabe3d4c4dba8402084831e6fe:vn1" {
		t.Fatalf("node %s %s", n.Type, n.Name)
	}
	var names []string
	for _, p := range n.Props {
		names = append(names, p.Name.Local)
	}
	if !reflect.DeepEqual(names, []string{"access-control-list-entries", "id-perms"}) {
		t.Fatalf("props %v", names)
	}
	rules := n.Props[0].Children
	if len(rules) != 2 || rules[0].Child("action-list").Child("gateway-name").Text != "" ||
		rules[0].Child("match-condition").Child("dst-address").Child("virtual-network").Text != "vn2" {
		t.Fatalf("rules %s", n.Props[0].Marshal())
	}
}

// The schema's sample entry: codegen xmlns on <entry>, no <safi>.
func TestFixtureSchemaEntry(t *testing.T) {
	el, err := ParseElement(readFixture(t, "schema_testdata_bgp_l3vpn_unicast_1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := DecodeEntry(Family{}, el)
	if err != nil {
		t.Fatal(err)
	}
	want := &UnicastEntry{NLRI: NLRI{AF: 1, Address: "10.1.2.1/32"}, Version: 1,
		NextHops: []NextHop{{AF: 1, Address: "infrastructure-ip-address", Label: 10000}}}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %+v", e)
	}
	// Our encoding carries no namespace.
	if bytes.Contains(e.AppendMarshal(nil), []byte("xmlns")) {
		t.Fatal("namespace on the wire")
	}
	nhEl, err := ParseElement(readFixture(t, "schema_testdata_bgp_l3vpn_unicast_nh.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var nh NextHop
	if err := nh.unmarshal(nhEl); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(nh, NextHop{AF: 1, Address: "10.1.2.2", Label: 10000, TunnelEncapsulation: []string{"gre", "udp"}}) {
		t.Fatalf("next hop %+v", nh)
	}
}
