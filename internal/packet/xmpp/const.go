// SPDX-License-Identifier: Apache-2.0

package xmpp

import "strconv"

// Well-known JIDs and resources. The agent uses its host name as its bare JID
// (not AgentJID) and appends a resource to the control node's JID to pick the
// logical channel; the control node matches the channel by the resource.
const (
	ControlNodeJID = "network-control@contrailsystems.com"
	DNSJID         = "network-dns@contrailsystems.com"
	AgentJID       = "agent@contrailsystems.com"

	ResourceBGPPeer = "bgp-peer" // routes (subscribe, publish, updates)
	ResourceConfig  = "config"   // config subscribe and config pushes
	ResourceDNSPeer = "dns-peer" // DNS records
)

// XML namespaces used on the wire.
const (
	NSPubSub  = "http://jabber.org/protocol/pubsub"
	NSStreams = "http://etherx.jabber.org/streams"
	NSTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsXML     = "http://www.w3.org/XML/1998/namespace"
)

// Keepalive is the whitespace keepalive of the original: the UTF-8 encoding
// of U+0200 (bytes 0xC8 0x80), not an ASCII space. Write it as is; several
// may arrive back to back.
const Keepalive = "\xc8\x80"

// DefaultPort is the control node's XMPP port.
const DefaultPort = 5269

// Limits and batch sizes. The batch sizes are the original's
// (xmpp_message_builder kMaxReachCount / kMaxUnreachCount, ifmap_encoder
// kObjectsPerMessage).
const (
	// DefaultMaxStanza is the stanza size limit NewReader uses when given 0.
	// The original grows its read buffer without bound; a config push of 16
	// large objects (ACLs with thousands of rules) can run to megabytes.
	DefaultMaxStanza = 16 << 20
	// DefaultMaxItems is the number of reach items per update message.
	DefaultMaxItems = 32
	// DefaultMaxRetracts is the number of retracts per update message.
	DefaultMaxRetracts = 256
	// DefaultConfigObjects is the number of nodes and links per config message.
	DefaultConfigObjects = 16
	// MaxDepth is the deepest element nesting the decoder accepts. Config
	// objects nest about ten levels below <iq>; anything near this limit is
	// an attack on the decoder, not a message.
	MaxDepth = 128
)

// EndOfRibNode is the items node of the control node's End-of-RIB marker
// message (an <items> element with no children).
const EndOfRibNode = "0/0/EndOfRib"

// Address family and subsequent address family numbers used in pubsub nodes
// and in <nlri> (src/net/bgp_af.h of the original).
const (
	AFIPv4  uint16 = 1
	AFIPv6  uint16 = 2
	AFL2VPN uint16 = 25

	SAFIUnicast uint8 = 1
	SAFIMPLS    uint8 = 4   // inet-labeled
	SAFIMVPN    uint8 = 5   // multicast VPN
	SAFIMcast   uint8 = 241 // ErmVPN
	SAFIEnet    uint8 = 242 // EVPN
)

// Family is an AF/SAFI pair as it appears at the start of a pubsub node
// ("1/1/...").
type Family struct {
	AF   uint16
	SAFI uint8
}

// Families the control node dispatches on (bgp_xmpp_channel ReceiveUpdate).
var (
	FamilyInet        = Family{AFIPv4, SAFIUnicast}
	FamilyInet6       = Family{AFIPv6, SAFIUnicast}
	FamilyInetLabeled = Family{AFIPv4, SAFIMPLS}
	FamilyEVPN        = Family{AFL2VPN, SAFIEnet}
	FamilyErmVPN      = Family{AFIPv4, SAFIMcast}
	FamilyMVPN        = Family{AFIPv4, SAFIMVPN}
)

// String returns "AF/SAFI", the form used in pubsub nodes.
func (f Family) String() string {
	return strconv.FormatUint(uint64(f.AF), 10) + "/" + strconv.FormatUint(uint64(f.SAFI), 10)
}

// Unicast reports whether entries of f use the unicast schema
// (xmpp_unicast.xsd): inet, inet6 and inet-labeled.
func (f Family) Unicast() bool {
	return f == FamilyInet || f == FamilyInet6 || f == FamilyInetLabeled
}

// JID joins a bare JID and a resource: JID(ControlNodeJID, ResourceBGPPeer)
// is "network-control@contrailsystems.com/bgp-peer".
func JID(bare, resource string) string {
	if resource == "" {
		return bare
	}
	return bare + "/" + resource
}
