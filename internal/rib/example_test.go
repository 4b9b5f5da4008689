// SPDX-License-Identifier: Apache-2.0

package rib_test

import (
	"fmt"
	"net/netip"

	"github.com/contrail-go/contrail/internal/rib"
)

// Two virtual networks connected by a shared route target: a route that an
// agent publishes in one is exported to bgp.l3vpn.0 with the agent's RD and
// imported into the other. The control node then drains the changes to
// build its XMPP updates (and BGP updates for the VPN table).
func Example() {
	r := rib.New()
	shared := rib.MustParseRouteTarget("target:64512:8000001")
	for _, vn := range []string{"default-domain:admin:red:red", "default-domain:admin:blue:blue"} {
		r.SetInstance(rib.InstanceConfig{Name: vn,
			ImportTargets: []rib.RouteTarget{shared}, ExportTargets: []rib.RouteTarget{shared}})
	}

	vhost := netip.MustParseAddr("192.168.0.1")
	agent, _ := r.AddPeer(rib.PeerInfo{Kind: rib.PeerXMPP, Name: "compute-1", Addr: vhost})

	// <publish node="1/1/default-domain:admin:red:red/10.1.1.3/32"> from an
	// agent subscribed to red with instance-id 4, label 16.
	err := r.AddPath("default-domain:admin:red:red", rib.Inet,
		rib.PrefixKey(netip.MustParsePrefix("10.1.1.3/32")), agent, 16,
		&rib.Attrs{
			NextHop:        vhost,
			Encap:          rib.EncapGRE | rib.EncapUDP,
			VirtualNetwork: "default-domain:admin:red",
			LocalPref:      100,
			MED:            rib.DefaultMED(100),
			SourceRD:       rib.RDFromAddr(vhost, 4),
		})
	if err != nil {
		fmt.Println(err)
	}

	r.Drain(0, func(inst string, fam rib.Family, key rib.Key, best []*rib.Path) {
		fmt.Printf("%s %s\n", rib.TableName(inst, fam), key)
		for _, nh := range rib.NextHops(best) {
			fmt.Printf("  next-hop %s label %d encap %s\n", nh.Addr, nh.Label, nh.Encap)
		}
	})

	// The agent's session drops: its paths go, everywhere.
	r.DeletePeerPaths(agent)
	r.Drain(0, func(inst string, fam rib.Family, key rib.Key, best []*rib.Path) {
		fmt.Printf("withdraw %s %s (%d paths)\n", rib.TableName(inst, fam), key.ItemID(), len(best))
	})

	// Output:
	// default-domain:admin:red:red.inet.0 10.1.1.3/32
	//   next-hop 192.168.0.1 label 16 encap gre,udp
	// bgp.l3vpn.0 192.168.0.1:4:10.1.1.3/32
	//   next-hop 192.168.0.1 label 16 encap gre,udp
	// default-domain:admin:blue:blue.inet.0 10.1.1.3/32
	//   next-hop 192.168.0.1 label 16 encap gre,udp
	// withdraw default-domain:admin:blue:blue.inet.0 10.1.1.3/32 (0 paths)
	// withdraw bgp.l3vpn.0 10.1.1.3/32 (0 paths)
	// withdraw default-domain:admin:red:red.inet.0 10.1.1.3/32 (0 paths)
}

// Keys print as the original's XMPP item ids, or as its BGP table keys
// when they carry an RD.
func ExampleKey_String() {
	mac, _ := rib.ParseMAC("02:4a:1f:00:00:07")
	ip := netip.MustParseAddr("10.1.1.7")
	rd := rib.RDFromAddr(netip.MustParseAddr("192.168.0.1"), 4)
	for _, k := range []rib.Key{
		rib.PrefixKey(netip.MustParsePrefix("10.1.1.7/32")),
		rib.VPNKey(rd, netip.MustParsePrefix("10.1.1.7/32")),
		rib.PrefixKey(netip.MustParsePrefix("2001:db8::7/128")),
		rib.EVPNMACKey(0, mac, ip),
		rib.EVPNMACKey(100, mac, ip),
		rib.EVPNMACKey(0, mac, netip.Addr{}),
		rib.EVPNMACKey(0, mac, ip).WithRD(rd),
		rib.EVPNMulticastKey(rd, 5001, netip.MustParseAddr("192.168.0.1")),
	} {
		fmt.Println(k)
	}
	// Output:
	// 10.1.1.7/32
	// 192.168.0.1:4:10.1.1.7/32
	// 2001:db8::7/128
	// 02:4a:1f:00:00:07,10.1.1.7/32
	// 100-02:4a:1f:00:00:07,10.1.1.7/32
	// 02:4a:1f:00:00:07,0.0.0.0/32
	// 2-192.168.0.1:4-0-02:4a:1f:00:00:07,10.1.1.7
	// 3-192.168.0.1:4-5001-192.168.0.1
}
