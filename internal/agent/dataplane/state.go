package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Reserved kernel resources. Everything the dataplane owns is recognised by
// these markers, and nothing outside them is ever modified or deleted.
const (
	// DevicePrefix starts the name of every VXLAN device the dataplane owns;
	// the rest of the name is the decimal VNI ("vx100").
	DevicePrefix = "vx"
	// TableBase and TableSpan define the reserved routing table range
	// [TableBase, TableBase+TableSpan).
	TableBase = 1000
	TableSpan = 100000
	// BridgePrefix starts the name of the bridge of each l2 network; the
	// rest is the decimal VNI ("cbr100").
	BridgePrefix = "cbr"
	// RulePriority is the priority of every policy rule the dataplane owns.
	RulePriority = 20000
	// VXLANPort is the UDP destination port of the tunnels.
	VXLANPort = 4789
	// ProxyProtocol is the protocol (NDA_PROTOCOL) of the IPv6 proxy
	// neighbor entries ("ip -6 neigh add proxy <addr> dev <port> protocol
	// 222") the dataplane adds: it marks them as owned.
	ProxyProtocol = 222
	// unreachableMetric is the metric of the catch-all route that closes
	// each network table, so lookups never fall through to the main table.
	unreachableMetric = 0x7fffffff
	// metric6 is the metric of the IPv6 unicast routes: the kernel gives
	// IPv6 routes added without one 1024, so they are added with it
	// explicitly and recognised by it.
	metric6 = 1024
)

// State is the desired dataplane of one compute host.
type State struct {
	TunnelIP    netip.Addr // IPv4 source of the VXLAN tunnels (the underlay is IPv4)
	UnderlayDev string     // device the tunnels are sent on
	Networks    []Network
	Ports       []Port
	Remote      []RemoteRoute
	RemoteMACs  []RemoteMAC
}

// RemoteMAC is a MAC address of an l2 network behind a VXLAN tunnel to
// another host.
type RemoteMAC struct {
	Network        string
	MAC            net.HardwareAddr
	TunnelEndpoint netip.Addr
}

// Network is one virtual network (one routing instance).
type Network struct {
	Name    string // fully qualified name
	VNI     uint32 // 1..16777215
	Subnets []Subnet
	// L2 makes the network bridged (forwarding_mode l2): a bridge
	// BridgeName(VNI) holds the network's ports and its VXLAN device,
	// remote MACs are FDB entries of the VXLAN device and broadcasts are
	// replicated to every tunnel endpoint of the network. There is no
	// routing table, gateway or proxy ARP; ports need no address.
	L2 bool
}

// Subnet is an IPv4 or IPv6 subnet of a network and the gateway address
// (of the same family, inside the subnet) the dataplane answers for on
// the network's ports.
type Subnet struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
	// Service, if set, is one more address of the subnet (IPv4, not the
	// gateway) that each port of the subnet gets like the gateway: the
	// DNS service address, where the agent's DNS proxy listens.
	Service netip.Addr
}

// Port is a local VM interface. Name is the host side of a veth or a tap
// device, created by someone else before it appears in the state. A port
// of an L3 network needs IP, IP6 or both (dual stack), each inside a
// subnet of the network of its family.
type Port struct {
	Name string
	MAC  net.HardwareAddr // informational; the dataplane does not program it
	IP   netip.Addr       // IPv4 address, or the zero Addr
	IP6  netip.Addr       // IPv6 address, or the zero Addr
	// Extra are further addresses of the port (either family, each in a
	// subnet of the network): routed to the port like IP and IP6. DHCP
	// and the gateways go with IP and IP6 only.
	Extra   []netip.Addr
	Network string
}

// RemoteRoute is a prefix reachable through a VXLAN tunnel to another host.
// The prefix is IPv4 or IPv6; the tunnel endpoint is IPv4.
type RemoteRoute struct {
	Network        string
	Prefix         netip.Prefix
	TunnelEndpoint netip.Addr
	// VNI is the VNI the route's next hop advertised; 0 means the
	// network's. A different VNI is a route leaked from another network
	// (policy, route targets): it is routed in this network's table out of
	// the VXLAN device of that VNI, so that the remote host decapsulates
	// it into the other network. Such a device is created when no local
	// network has the VNI (a transit device: its own table holds only the
	// unreachable default, so traffic arriving on it goes nowhere).
	//
	// A route whose TunnelEndpoint is State.TunnelIP (another local
	// network's VM leaked into this network) is routed to the local port
	// of that VNI with the prefix's address (it must be a /32 or /128 of
	// one).
	VNI uint32
	// MAC is the inner destination MAC address. The zero value means
	// RouterMAC(TunnelEndpoint), the MAC this dataplane gives its own VXLAN
	// devices, which is what a peer running this package accepts. A remote
	// VM's own MAC only works towards an L2 (bridged) VTEP.
	MAC net.HardwareAddr
}

// TableForVNI is the routing table of the network with the given VNI.
func TableForVNI(vni uint32) int { return TableBase + int(vni%TableSpan) }

// DeviceName is the name of the VXLAN device of the network with the given VNI.
func DeviceName(vni uint32) string { return fmt.Sprintf("%s%d", DevicePrefix, vni) }

// BridgeName is the name of the bridge of the l2 network with the given VNI.
func BridgeName(vni uint32) string { return fmt.Sprintf("%s%d", BridgePrefix, vni) }

func isOwnedBridgeName(name string) bool {
	rest, ok := strings.CutPrefix(name, BridgePrefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RouterMAC is the MAC address of the dataplane's VXLAN devices on the host
// with the given tunnel IP: 02:00 followed by the four IPv4 bytes.
func RouterMAC(tunnelIP netip.Addr) net.HardwareAddr {
	b := tunnelIP.As4()
	return net.HardwareAddr{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

func isOwnedTable(t int) bool { return t >= TableBase && t < TableBase+TableSpan }

func isOwnedDeviceName(name string) bool {
	rest, ok := strings.CutPrefix(name, DevicePrefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// plan is the validated, flattened form of a State.
type plan struct {
	tunnelIP netip.Addr
	underlay string
	nets     map[string]*netPlan // by network name
	ports    []portPlan
	// v6 is set when the state has IPv6 (a subnet, port address or
	// route): IPv6 forwarding and proxy NDP are then turned on.
	v6 bool
	// proxies are the IPv6 addresses each port answers neighbor
	// solicitations for, by port name.
	proxies map[string][]netip.Addr
}

type netPlan struct {
	name    string
	vni     uint32
	table   int
	dev     string
	transit bool // a device for leaked routes' VNI only, no local network
	l2      bool
	bridge  string    // l2 only
	fdb     []fdbPair // l2 only: remote MACs and broadcast replication
	subnets []netip.Prefix
	remote  []remotePlan // routes in this network's table
}

// transitKey is the key in plan.nets of the transit device of a VNI; it
// cannot clash with a network name as names never start with '#'.
func transitKey(vni uint32) string { return fmt.Sprintf("#vni%d", vni) }

type fdbPair struct {
	mac string
	ep  netip.Addr
}

type portPlan struct {
	name     string
	ip       netip.Addr
	gateway  netip.Addr
	service  netip.Addr // the subnet's service address, if any
	ip6      netip.Addr
	gateway6 netip.Addr
	subnet6  netip.Prefix // the subnet of ip6
	extra    []netip.Addr
	net      *netPlan
}

// addrs are the port's addresses: ip, ip6 and the extra ones.
func (pt *portPlan) addrs() []netip.Addr {
	out := make([]netip.Addr, 0, 2+len(pt.extra))
	for _, a := range []netip.Addr{pt.ip, pt.ip6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return append(out, pt.extra...)
}

type remotePlan struct {
	prefix   netip.Prefix
	nexthop  netip.Addr // neighbor address used as onlink gateway
	endpoint netip.Addr
	mac      net.HardwareAddr
	dev      string // VXLAN device the route leaves by
	port     string // set instead for a route to a local port of another network
}

// compile validates desired and flattens it. An empty state (no networks,
// ports or routes) needs no tunnel IP or underlay device.
func compile(s State) (*plan, error) {
	p := &plan{tunnelIP: s.TunnelIP, underlay: s.UnderlayDev, nets: map[string]*netPlan{}, proxies: map[string][]netip.Addr{}}
	if len(s.Networks) > 0 {
		if !s.TunnelIP.Is4() {
			return nil, fmt.Errorf("tunnel IP %v: must be an IPv4 address", s.TunnelIP)
		}
		if s.UnderlayDev == "" {
			return nil, fmt.Errorf("underlay device: name is empty")
		}
	}
	tables := map[int]string{}
	vnis := map[uint32]string{}
	subnets := map[string][]Subnet{}
	for _, n := range s.Networks {
		if n.Name == "" {
			return nil, fmt.Errorf("network with VNI %d: empty name", n.VNI)
		}
		if _, dup := p.nets[n.Name]; dup {
			return nil, fmt.Errorf("network %q: listed twice", n.Name)
		}
		if n.VNI == 0 || n.VNI >= 1<<24 {
			return nil, fmt.Errorf("network %q: VNI %d out of range 1..16777215", n.Name, n.VNI)
		}
		if other, dup := vnis[n.VNI]; dup {
			return nil, fmt.Errorf("network %q: VNI %d already used by network %q", n.Name, n.VNI, other)
		}
		t := TableForVNI(n.VNI)
		if other, dup := tables[t]; dup && !n.L2 {
			return nil, fmt.Errorf("network %q: table %d already used by network %q", n.Name, t, other)
		}
		if !n.L2 {
			tables[t] = n.Name
		}
		for _, sn := range n.Subnets {
			a := sn.Prefix.Addr()
			if !sn.Prefix.IsValid() || a.Is4In6() || !sn.Gateway.IsValid() || sn.Gateway.Is4() != a.Is4() || !sn.Prefix.Contains(sn.Gateway) {
				return nil, fmt.Errorf("network %q: subnet %v gateway %v: need a gateway of the subnet's family inside the subnet", n.Name, sn.Prefix, sn.Gateway)
			}
			if sn.Service.IsValid() && (!sn.Service.Is4() || !a.Is4() || !sn.Prefix.Contains(sn.Service) || sn.Service == sn.Gateway) {
				return nil, fmt.Errorf("network %q: subnet %v service address %v: need another IPv4 address of the subnet", n.Name, sn.Prefix, sn.Service)
			}
			if a.Is6() && !n.L2 {
				p.v6 = true
			}
		}
		subnets[n.Name] = n.Subnets
		vnis[n.VNI] = n.Name
		np := &netPlan{name: n.Name, vni: n.VNI, table: t, dev: DeviceName(n.VNI), l2: n.L2}
		if n.L2 {
			np.bridge = BridgeName(n.VNI)
		}
		for _, sn := range n.Subnets {
			np.subnets = append(np.subnets, sn.Prefix.Masked())
		}
		p.nets[n.Name] = np
	}
	seenPort := map[string]bool{}
	for _, pt := range s.Ports {
		np, ok := p.nets[pt.Network]
		if !ok {
			return nil, fmt.Errorf("port %q: unknown network %q", pt.Name, pt.Network)
		}
		if pt.Name == "" || seenPort[pt.Name] {
			return nil, fmt.Errorf("port %q: empty or duplicate name", pt.Name)
		}
		seenPort[pt.Name] = true
		if np.l2 {
			p.ports = append(p.ports, portPlan{name: pt.Name, ip: pt.IP, net: np})
			continue
		}
		if !pt.IP.IsValid() && !pt.IP6.IsValid() {
			return nil, fmt.Errorf("port %q: no address", pt.Name)
		}
		if pt.IP.IsValid() && !pt.IP.Is4() {
			return nil, fmt.Errorf("port %q: IP %v is not IPv4", pt.Name, pt.IP)
		}
		if pt.IP6.IsValid() && (!pt.IP6.Is6() || pt.IP6.Is4In6()) {
			return nil, fmt.Errorf("port %q: IP6 %v is not IPv6", pt.Name, pt.IP6)
		}
		pp := portPlan{name: pt.Name, ip: pt.IP, ip6: pt.IP6, net: np}
		for _, sn := range subnets[pt.Network] {
			if pt.IP.IsValid() && !pp.gateway.IsValid() && sn.Prefix.Contains(pt.IP) {
				pp.gateway, pp.service = sn.Gateway, sn.Service
			}
			if pt.IP6.IsValid() && !pp.gateway6.IsValid() && sn.Prefix.Contains(pt.IP6) {
				pp.gateway6, pp.subnet6 = sn.Gateway, sn.Prefix.Masked()
			}
		}
		if pt.IP.IsValid() && !pp.gateway.IsValid() {
			return nil, fmt.Errorf("port %q: IP %v is in no subnet of network %q", pt.Name, pt.IP, pt.Network)
		}
		if pt.IP6.IsValid() && !pp.gateway6.IsValid() {
			return nil, fmt.Errorf("port %q: IP6 %v is in no subnet of network %q", pt.Name, pt.IP6, pt.Network)
		}
		for _, a := range pt.Extra {
			in := false
			for _, sn := range subnets[pt.Network] {
				in = in || sn.Prefix.Contains(a)
			}
			switch {
			case !a.IsValid() || a.Is4In6():
				return nil, fmt.Errorf("port %q: extra address %v is not IPv4 or IPv6", pt.Name, a)
			case !in:
				return nil, fmt.Errorf("port %q: extra address %v is in no subnet of network %q", pt.Name, a, pt.Network)
			case a.Is4() && !pt.IP.IsValid() || a.Is6() && !pt.IP6.IsValid():
				// the gateway and the ARP or NDP settings come with it
				return nil, fmt.Errorf("port %q: extra address %v without a first address of its family", pt.Name, a)
			case a == pt.IP || a == pt.IP6 || slices.Contains(pp.extra, a):
				return nil, fmt.Errorf("port %q: address %v listed twice", pt.Name, a)
			}
			pp.extra = append(pp.extra, a)
		}
		p.ports = append(p.ports, pp)
	}
	for _, r := range s.Remote {
		np, ok := p.nets[r.Network]
		if !ok {
			return nil, fmt.Errorf("remote route %v: unknown network %q", r.Prefix, r.Network)
		}
		if np.l2 {
			return nil, fmt.Errorf("remote route %v: network %q is l2", r.Prefix, r.Network)
		}
		if !r.Prefix.IsValid() || r.Prefix.Addr().Is4In6() || !r.TunnelEndpoint.Is4() {
			return nil, fmt.Errorf("remote route %v in %q: need an IPv4 or IPv6 prefix and an IPv4 tunnel endpoint (%v)", r.Prefix, r.Network, r.TunnelEndpoint)
		}
		if r.Prefix.Addr().Is6() {
			p.v6 = true
		}
		if r.VNI >= 1<<24 {
			return nil, fmt.Errorf("remote route %v in %q: VNI %d out of range", r.Prefix, r.Network, r.VNI)
		}
		if r.TunnelEndpoint == p.tunnelIP {
			// A route of another local network leaked into this one:
			// routed straight to the port that has the address.
			vni := r.VNI
			if vni == 0 {
				vni = np.vni
			}
			port := ""
			for _, pt := range p.ports {
				if a := r.Prefix.Addr(); pt.net.vni == vni && r.Prefix.IsSingleIP() && slices.Contains(pt.addrs(), a) {
					port = pt.name
				}
			}
			if port == "" {
				return nil, fmt.Errorf("remote route %v in %q: tunnel endpoint is this host but no local port of VNI %d has the address", r.Prefix, r.Network, vni)
			}
			if vni == np.vni {
				continue // the port's own route is there already
			}
			np.remote = append(np.remote, remotePlan{prefix: r.Prefix.Masked(), port: port})
			continue
		}
		dev := np.dev
		if r.VNI != 0 && r.VNI != np.vni {
			dev = DeviceName(r.VNI)
			if _, local := vnis[r.VNI]; !local {
				k := transitKey(r.VNI)
				if _, ok := p.nets[k]; !ok {
					t := TableForVNI(r.VNI)
					if other, dup := tables[t]; dup {
						return nil, fmt.Errorf("remote route %v in %q: table %d of VNI %d already used by %q", r.Prefix, r.Network, t, r.VNI, other)
					}
					tables[t] = k
					p.nets[k] = &netPlan{name: fmt.Sprintf("transit VNI %d", r.VNI), vni: r.VNI, table: t, dev: dev, transit: true}
				}
			}
		}
		mac := r.MAC
		if len(mac) == 0 {
			mac = RouterMAC(r.TunnelEndpoint)
		}
		pfx := r.Prefix.Masked()
		np.remote = append(np.remote, remotePlan{prefix: pfx, nexthop: pfx.Addr(), endpoint: r.TunnelEndpoint, mac: mac, dev: dev})
	}
	for _, m := range s.RemoteMACs {
		np, ok := p.nets[m.Network]
		if !ok || !np.l2 {
			return nil, fmt.Errorf("remote MAC %v: %q is not an l2 network", m.MAC, m.Network)
		}
		if len(m.MAC) != 6 || !m.TunnelEndpoint.Is4() {
			return nil, fmt.Errorf("remote MAC %v in %q: need a 48-bit MAC and an IPv4 tunnel endpoint", m.MAC, m.Network)
		}
		np.fdb = append(np.fdb, fdbPair{mac: m.MAC.String(), ep: m.TunnelEndpoint})
	}
	p.planProxies()
	// Broadcasts of each l2 network go to every endpoint that has its MACs.
	for _, np := range p.nets {
		seen := map[netip.Addr]bool{}
		for _, f := range slices.Clone(np.fdb) {
			if !seen[f.ep] {
				seen[f.ep] = true
				np.fdb = append(np.fdb, fdbPair{mac: "00:00:00:00:00:00", ep: f.ep})
			}
		}
	}
	return p, nil
}

// planProxies lists, for each port with an IPv6 address, the addresses it
// answers neighbor solicitations for: the other addresses of its IPv6
// subnet that the network's table routes elsewhere, that is the IPv6
// addresses of the network's other local ports and the /128 routes of
// the network (remote VMs, leaked local ports). The gateway is an address
// of the port and needs no entry.
func (p *plan) planProxies() {
	byNet := map[*netPlan][]netip.Addr{}
	for _, pt := range p.ports {
		for _, a := range pt.addrs() {
			if a.Is6() {
				p.v6 = true
				byNet[pt.net] = append(byNet[pt.net], a)
			}
		}
	}
	for _, n := range p.nets {
		for _, r := range n.remote {
			if a := r.prefix.Addr(); a.Is6() && r.prefix.IsSingleIP() {
				byNet[n] = append(byNet[n], a)
			}
		}
	}
	for _, pt := range p.ports {
		if !pt.ip6.IsValid() {
			continue
		}
		seen := map[netip.Addr]bool{pt.gateway6: true}
		for _, a := range pt.addrs() {
			seen[a] = true
		}
		var out []netip.Addr
		for _, a := range byNet[pt.net] {
			if !seen[a] && pt.subnet6.Contains(a) {
				seen[a] = true
				out = append(out, a)
			}
		}
		slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
		p.proxies[pt.name] = out
	}
}
