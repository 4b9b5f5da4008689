// SPDX-License-Identifier: Apache-2.0

package xmpp

import (
	"bytes"
	"strconv"
	"testing"
)

// benchUpdate is a full update message: 32 inet routes shaped like the
// control node's (one next hop with two encapsulations, a tag, a security
// group, local preference, MED, mobility).
func benchUpdate() *Update {
	u := &Update{From: ControlNodeJID, To: "compute-17/bgp-peer", Node: ItemsNode(FamilyInet, "default-domain:admin:vn-frontend:vn-frontend")}
	for i := 0; i < DefaultMaxItems; i++ {
		prefix := "10.20." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + "/32"
		u.Items = append(u.Items, Item{ID: prefix, Entry: &UnicastEntry{
			NLRI: NLRI{AF: AFIPv4, SAFI: SAFIUnicast, Address: prefix},
			NextHops: []NextHop{{AF: AFIPv4, Address: "192.168.100." + strconv.Itoa(i%250+1), Label: uint32(16 + i),
				TunnelEncapsulation: []string{"gre", "udp"}, VirtualNetwork: "default-domain:admin:vn-frontend",
				Tags: []uint32{0x00040001}}},
			Version:         1,
			VirtualNetwork:  "default-domain:admin:vn-frontend",
			Mobility:        Mobility{Seqno: 1},
			SecurityGroups:  []uint32{8000002},
			LocalPreference: 100,
			MED:             200,
		}})
	}
	return u
}

func BenchmarkEncodeUpdate32(b *testing.B) {
	u := benchUpdate()
	buf := u.AppendMarshal(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = u.AppendMarshal(buf[:0])
	}
}

// The control node encodes the event once and frames it per agent.
func BenchmarkEncodeUpdate32PerPeerFrame(b *testing.B) {
	u := benchUpdate()
	ev := u.AppendEvent(nil)
	buf := AppendMessage(nil, u.From, u.To, ev)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], u.From, "compute-18/bgp-peer", ev)
	}
}

func BenchmarkDecodeUpdate32(b *testing.B) {
	raw := benchUpdate().Marshal()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		el, err := ParseElement(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeMessage(el); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseElementUpdate32(b *testing.B) {
	raw := benchUpdate().Marshal()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseElement(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderUpdate32 reads a stream of update messages with keepalives
// between them through a Reader: framing, parsing and typed decoding.
func BenchmarkReaderUpdate32(b *testing.B) {
	raw := benchUpdate().Marshal()
	const perStream = 64
	var stream []byte
	for i := 0; i < perStream; i++ {
		stream = append(stream, raw...)
		stream = append(stream, Keepalive...)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var r *Reader
	n := 0
	for b.Loop() {
		if n%perStream == 0 {
			r = NewReader(bytes.NewReader(stream), 0)
		}
		for {
			f, err := r.Next()
			if err != nil {
				b.Fatal(err)
			}
			if f.Kind == FrameMessage {
				if _, err := DecodeMessage(f.Elem); err != nil {
					b.Fatal(err)
				}
				break
			}
		}
		n++
	}
}

func BenchmarkEncodeRoutePublish(b *testing.B) {
	rp := &RoutePublish{From: "compute-17", Seq: 1, VRF: "default-domain:admin:vn-frontend:vn-frontend", Entry: benchUpdate().Items[0].Entry}
	buf := rp.AppendMarshal(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = rp.AppendMarshal(buf[:0])
	}
}

func BenchmarkEncodeConfigFromJSON(b *testing.B) {
	props := decodeJSON(b, `{
		"virtual_network_properties": {"forwarding_mode": "l2_l3", "vxlan_network_identifier": 5001, "allow_transit": false, "rpf": "enable"},
		"route_target_list": {"route_target": ["target:64512:1", "target:64512:2"]},
		"id_perms": {"enable": true, "uuid": {"uuid_mslong": 1, "uuid_lslong": 2}, "created": "2026-01-01T00:00:00.000000",
		             "permissions": {"owner": "cloud-admin", "owner_access": 7, "group": "cloud-admin-group", "group_access": 7, "other_access": 7}},
		"virtual_network_network_id": 5, "display_name": "vn1"}`)
	buf, _ := AppendJSONPropsAsXML(nil, props)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendJSONPropsAsXML(buf[:0], props); err != nil {
			b.Fatal(err)
		}
	}
}

// The typed step alone, from a parsed element.
func BenchmarkUnmarshalUpdate32(b *testing.B) {
	el, err := ParseElement(benchUpdate().Marshal())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMessage(el); err != nil {
			b.Fatal(err)
		}
	}
}
