// SPDX-License-Identifier: Apache-2.0

// Package services implements the services the vrouter agent gives to the
// VMs of its host, as the original agent's src/vnsw/agent/services does:
// a DHCPv4 server on every port, the metadata proxy for 169.254.169.254,
// and a DNS proxy for the virtual-DNS domain.
//
// Every service works on the host side of a port (the host end of a VM's
// veth pair or its tap device, the same name the dataplane package gets).
// Each constructor remembers the network namespace of the calling thread and
// opens every socket and nftables table there, whichever thread calls the
// methods later; the agent creates them in the host namespace, tests create
// them in a namespace of their own. All methods are safe for concurrent use.
//
// # DHCP
//
//	type HostRoute struct {
//		Prefix  netip.Prefix
//		NextHop netip.Addr
//	}
//	type PortInfo struct {
//		Name     string           // host-side interface name
//		MAC      net.HardwareAddr // the VM's MAC; frames from other MACs are ignored
//		Addr     netip.Prefix     // the VM's IPv4 address with its subnet length (10.1.1.3/24)
//		Gateway  netip.Addr       // router option and server identifier
//		DNS      []netip.Addr     // DNS servers (option 6); empty: none sent
//		Routes   []HostRoute      // host routes (options 121 and 249)
//		MTU      int              // option 26; 0: not sent
//		Hostname string           // option 12; empty: not sent
//		Domain   string           // option 15; empty: not sent
//		Lease    time.Duration    // option 51; 0: DefaultLease
//	}
//	func NewDHCP(log *slog.Logger) (*DHCP, error)
//	func (d *DHCP) SetPort(p PortInfo) error    // add or update a port; idempotent
//	func (d *DHCP) RemovePort(name string)      // stop serving a port; unknown names are ignored
//	func (d *DHCP) Ports() []string             // names being served, sorted
//	func (d *DHCP) Stats() DHCPStats            // counters summed over all ports, ever
//	func (d *DHCP) PortStats(name string) (DHCPStats, bool)
//	func (d *DHCP) Close() error
//
// The server opens one AF_PACKET socket per port, bound to the interface
// and filtered (classic BPF) to IPv4 UDP datagrams for port 67, so it serves
// a VM that has no address yet and needs no address on the host side. The
// interface must exist when SetPort is called (SetPort returns an error
// otherwise; call it again once the interface is there). After that the
// server follows the interface by itself: it keeps serving across link
// down/up, and when the interface is deleted and created again under the
// same name (a VM restart recreating its tap) it opens a new socket on the
// new interface without another SetPort. SetPort with a new PortInfo for
// a served port takes effect for the next packet. A frame is
// answered only when both its Ethernet source and the DHCP chaddr are
// PortInfo.MAC; other frames are counted in DHCPStats.ForeignMAC and
// dropped. Replies are built as whole Ethernet frames (source MAC: the
// host interface's, source IP: the gateway, port 67 to 68) and follow
// RFC 2131 section 4.1: NAKs are broadcast; a message with ciaddr set is
// unicast to ciaddr; with the broadcast flag the reply goes to
// 255.255.255.255 and ff:ff:ff:ff:ff:ff; otherwise it is unicast to yiaddr
// at the VM's MAC. Relayed messages (giaddr set) are dropped.
//
// Message handling (the address is fixed by configuration; nothing is
// allocated): DISCOVER gets an OFFER of PortInfo.Addr. REQUEST in the
// SELECTING state (server identifier present) is ignored when the server
// identifier is not the gateway, else ACKed if the requested address is
// the port's and NAKed otherwise; INIT-REBOOT (requested address, no ciaddr)
// and RENEWING/REBINDING (ciaddr) are ACKed for the port's address and
// NAKed for any other. RELEASE and DECLINE are counted and logged. INFORM
// gets an ACK without address or lease time. Options in OFFER and ACK:
// 1 subnet mask, 3 router, 6 DNS, 12 hostname, 15 domain, 26 MTU, 51 lease
// time, 54 server identifier, 58 renewal (T1 = lease/2), 59 rebinding
// (T2 = lease*7/8), 121 classless static routes (RFC 3442; when Routes is
// not empty, with a default route via the gateway added, since a client
// that gets option 121 ignores option 3) and 249 (the same, Microsoft's
// code) when the client asks for it in option 55. Malformed packets are
// counted (DHCPStats.Malformed) and never answered.
//
// # Metadata proxy
//
//	type MetadataConfig struct {
//		Listen   netip.AddrPort // where the proxy listens on the host; see below
//		Upstream string         // metadata server base URL (nova: http://host:8775)
//		Secret   string         // shared secret for X-Instance-ID-Signature
//		Log      *slog.Logger
//		Timeout  time.Duration  // per upstream request; 0: 30 s
//	}
//	func NewMetadata(cfg MetadataConfig) (*Metadata, error)
//	func (m *Metadata) SetPort(name, vmiUUID, vmUUID, tenantUUID string, vmIP netip.Addr) error
//	func (m *Metadata) RemovePort(name string)
//	func (m *Metadata) Stats() MetadataStats
//	func (m *Metadata) Close() error // removes the nftables table
//
// A VM reaches http://169.254.169.254/ through its default gateway, so its
// traffic arrives on the host side of its port. The package owns the
// nftables table "ip contrail_metadata" and, for each port, redirects TCP to
// 169.254.169.254:80 that arrives on the port to the proxy: "dnat to
// Listen", or "redirect to :Listen.Port" (the port's own address; the
// dataplane gives each port its gateway address) when Listen's address is
// unspecified. A DNAT target must be an address of the host (for example
// on lo or a dummy device). Each port gets its own listening socket, bound
// to the port with SO_BINDTODEVICE on Listen, so the proxy knows the port
// a connection came from without any per-port address, and its replies
// leave through that port even though the host has no route to VM
// addresses in its main table. Each port's metadata connections also get
// their own conntrack zone (MetadataZoneBase + n, 0xC001..0xFFFF, set at priority -250), so
// that two VMs with the same address and source port on different ports are
// two connections. (The original agent instead gives each port a link-local
// address and NATs the source to it; binding to the device does the same
// job here with no extra addresses or routes: a socket bound to a device
// routes its replies out of that device even when no route matches.)
//
// Like the DHCP server, the proxy notices (within a second) a port
// interface recreated under the same name and rebinds its listener.
//
// The proxy forwards the request (method, path, query, body) to Upstream and
// adds the headers nova's metadata service expects: X-Instance-ID (the VM
// uuid), X-Instance-ID-Signature (hex HMAC-SHA256 of the VM uuid keyed by
// Secret), X-Forwarded-For (the VM address), X-Tenant-ID (when known),
// X-VMI-ID (the port's uuid). The same headers from the VM are removed
// first. A connection whose source is not the port's VM address gets 403.
//
// # DNS proxy
//
//	type DNSConfig struct {
//		Listen   netip.AddrPort // as MetadataConfig.Listen (e.g. 0.0.0.0:5353)
//		Upstream []string       // "ip:port" resolvers, tried in order; empty: /etc/resolv.conf
//		TTL      uint32         // of local answers; 0: 60
//		Timeout  time.Duration  // per upstream exchange; 0: 2 s
//		Log      *slog.Logger
//	}
//	type DNSPort struct {
//		Name     string     // host-side interface
//		IP       netip.Addr // the VM's address (its A record, and the only accepted source)
//		Hostname string     // the VM's name; empty: no record
//		Domain   string     // the virtual-DNS domain (view) of the VM; empty: forward everything
//		Server   netip.Addr // the DNS server address the VM got by DHCP (option 6)
//	}
//	func NewDNS(cfg DNSConfig) (*DNS, error)
//	func (d *DNS) SetPort(p DNSPort) error
//	func (d *DNS) RemovePort(name string)
//	func (d *DNS) Stats() DNSStats
//	func (d *DNS) Close() error // removes the nftables table
//
// UDP and TCP to Server:53 arriving on a port are sent (table
// "ip contrail_dns", conntrack zones DNSZoneBase+n, 0x8001..0xBFFF) to a UDP and a TCP
// socket bound to the port, as for the metadata proxy. A query is answered
// in the view of its port's Domain: A for <hostname>.<domain> of any port
// with the same Domain (no data for other types, NXDOMAIN for unknown
// names, authoritative), PTR for the address of such a port; everything
// else is forwarded to Upstream over the protocol of the query (UDP
// answers truncated to the VM's buffer size). Queries from a source that is
// not the port's VM get REFUSED. The DNS server address must be answered
// for ARP on the port (a local address on it, or proxy ARP with a route).
//
// # Metrics
//
//	func NewCollector(ns string, d *DHCP, m *Metadata, dns *DNS) prometheus.Collector
//
// reads the three services' Stats when scraped (any may be nil); see
// metrics.go for the metric names.
//
// # Integration notes
//
// The proxies' listeners are local sockets, so an nftables input filter on
// the host must accept the redirected traffic (ct status dnat) from VM
// ports. DHCP uses packet sockets and is not affected by nftables filters.
// None of the services touches routes, rules or addresses. Suggested
// listeners for the agent: metadata 0.0.0.0:8097 (the original's port) and
// DNS 0.0.0.0:8053, both in redirect mode, which relies on the gateway
// address the dataplane puts on every port. VMs reach the DNS server
// address of their subnet only if the host answers ARP for it on the port
// (the dataplane does so for the gateway only); giving the VMs the gateway
// as DNS server (PortInfo.DNS and DNSPort.Server) avoids that.
//
// # DHCP client for tests
//
// Package dhcpclient (internal/agent/services/dhcpclient) is a small DHCP
// client for tests in other packages:
//
//	func Acquire(ctx context.Context, ifname string, opts ...Option) (Lease, error)
//	func New(ifname string, opts ...Option) (*Client, error) // then Acquire, Renew, Rebind, Release, Exchange, Apply, Close
//	options: Configure(), Broadcast(), Hostname(s), Params(codes...), HardwareAddr(mac)
//	type Lease struct { Addr netip.Prefix; Gateway netip.Addr; DNS []netip.Addr; Routes []Route; MTU int;
//		Hostname, Domain string; Duration, T1, T2 time.Duration; ServerID netip.Addr; ServerMAC net.HardwareAddr; ACK *dhcpwire.Message }
//
// dhcpclient.Acquire(ctx, ifname, opts)
// runs DISCOVER/OFFER/REQUEST/ACK over a packet socket in the network
// namespace of the calling thread and can configure the interface with the
// lease. Package dhcpwire holds the DHCP and frame codecs both sides use.
package services
