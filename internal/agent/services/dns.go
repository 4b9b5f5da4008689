// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/agent/services/internal/nsutil"
)

// Conntrack zones of DNS proxy traffic: port n (from 1) uses
// DNSZoneBase+n, up to DNSZoneBase+DNSMaxPorts.
const (
	DNSZoneBase = 0x8000
	DNSMaxPorts = 0x3FFF
	// DNSTable is the nftables table (family ip) the DNS proxy owns.
	DNSTable = "contrail_dns"
)

// DNSConfig configures the DNS proxy.
type DNSConfig struct {
	// Listen is where the per-port UDP and TCP sockets bind, as
	// MetadataConfig.Listen: a host address (DNAT) or 0.0.0.0 (redirect to
	// the port's own address). Its port must not be 0.
	//
	// The zero Listen is the direct mode: each port's sockets bind the
	// port's DNS server address, port 53, on the port's device. That
	// address must be local on the port (the agent's dataplane adds it
	// like the gateway); no nftables table or conntrack zone is used, so
	// the proxy adds nothing to the path of other packets.
	Listen netip.AddrPort
	// Upstream lists the resolvers queries outside the virtual-DNS domains
	// go to ("ip:port"), tried in order. Empty: the nameservers of
	// /etc/resolv.conf when NewDNS runs.
	Upstream []string
	// TTL of local answers; 0 means 60 s.
	TTL uint32
	// Timeout of one upstream exchange; 0 means 2 s.
	Timeout time.Duration
	Log     *slog.Logger
}

// DNSPort is one VM as the DNS proxy sees it.
type DNSPort struct {
	Name     string     // host-side interface
	IP       netip.Addr // the VM's address: its A record and the source its queries must come from
	Hostname string     // the VM's name in Domain; empty: no record
	Domain   string     // the virtual-DNS domain (the view) the VM resolves in; empty: forward everything
	Server   netip.Addr // the DNS server address the VM was given (DHCP option 6)
}

// DNSStats counts the proxy's queries.
type DNSStats struct {
	Queries   uint64 // queries received from VMs
	Local     uint64 // answered from the ports' records (including NXDOMAIN in a local domain)
	Forwarded uint64 // answered by an upstream resolver
	Failed    uint64 // SERVFAIL: no upstream answered
	Rejected  uint64 // REFUSED: unknown port or source address not the port's VM
}

// DNS is the DNS proxy: it answers A and PTR queries for the VMs known to
// it and forwards everything else.
//
// A VM's query to its DNS server address arrives on its port and is
// DNATed (UDP and TCP port 53) to a per-port listener bound to the port,
// as for the metadata proxy. The view of a query is the Domain of the port
// it came in on: names under that domain are answered from the ports with
// the same Domain (A for hostname.domain, no data for other types,
// NXDOMAIN for unknown names, authoritative); PTR queries for an address
// of such a port are answered with its name; the rest is forwarded to the
// upstream resolvers over the protocol the query came in on.
type DNS struct {
	cfg      DNSConfig
	log      *slog.Logger
	ns       *nsutil.NS
	nft      *interceptNFT
	upstream []string

	mu     sync.Mutex
	ports  map[string]*dnsPort
	zones  map[uint16]bool
	closed bool
	stop   chan struct{} // closed by Close: stops the interface watch
	wdone  chan struct{}

	queries, local, forwarded, failed, rejected atomic.Uint64
}

type dnsPort struct {
	info     DNSPort
	zone     uint16
	udp, tcp *dns.Server
	ifindex  int // of the interface the servers' sockets are bound to
}

// NewDNS starts a DNS proxy with no ports in the network namespace of the
// calling thread.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 60
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Listen.IsValid() && (!cfg.Listen.Addr().Is4() || cfg.Listen.Port() == 0) {
		return nil, fmt.Errorf("services: dns: listen address %v is not IPv4 with a port", cfg.Listen)
	}
	up := cfg.Upstream
	if len(up) == 0 {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("services: dns: no upstream given and %w", err)
		}
		for _, s := range cc.Servers {
			up = append(up, net.JoinHostPort(s, cc.Port))
		}
	}
	for _, u := range up {
		if _, err := netip.ParseAddrPort(u); err != nil {
			return nil, fmt.Errorf("services: dns: upstream %q: %w", u, err)
		}
	}
	ns, err := nsutil.Current()
	if err != nil {
		return nil, fmt.Errorf("services: dns: %w", err)
	}
	d := &DNS{
		cfg:      cfg,
		log:      cfg.Log.With("component", "dns"),
		ns:       ns,
		upstream: up,
		ports:    map[string]*dnsPort{},
		zones:    map[uint16]bool{},
		stop:     make(chan struct{}),
		wdone:    make(chan struct{}),
	}
	d.nft = &interceptNFT{ns: ns, table: DNSTable, listen: cfg.Listen, protos: []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP}}
	if !cfg.Listen.IsValid() {
		// Direct mode: a table of an earlier redirecting run goes.
		err := d.nft.remove()
		d.nft = nil
		if err != nil {
			ns.Close()
			return nil, err
		}
	} else if err := d.nft.apply(nil); err != nil {
		ns.Close()
		return nil, err
	}
	every := watchInterval
	go func() {
		defer close(d.wdone)
		watchLoop(d.stop, every, d.rebindMoved)
	}()
	return d, nil
}

// rebindMoved gives new sockets to every port whose interface was
// recreated under the same name since its sockets were bound.
func (d *DNS) rebindMoved() {
	idx := ifindexes(d.ns)
	var old []*dnsPort
	defer func() { shutdownAll(old) }() // after the unlock: see shutdownAll
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || idx == nil {
		return
	}
	for name, dp := range d.ports {
		if cur, ok := idx[name]; !ok || cur == dp.ifindex {
			continue
		}
		np := &dnsPort{info: dp.info, zone: dp.zone}
		if err := d.listen(np); err != nil {
			d.log.Warn("rebinding a recreated port failed", "port", name, "err", err)
			continue
		}
		old = append(old, dp)
		d.ports[name] = np
		d.log.Info("port interface recreated; sockets rebound", "port", name, "ifindex", np.ifindex)
	}
}

func normDomain(s string) string { return strings.ToLower(strings.Trim(s, ".")) }

// SetPort starts or updates the proxy on p.Name. The interface must exist.
func (d *DNS) SetPort(p DNSPort) error {
	if p.Name == "" || len(p.Name) >= unix.IFNAMSIZ {
		return fmt.Errorf("services: dns: bad port name %q", p.Name)
	}
	if !p.IP.Is4() || !p.Server.Is4() {
		return fmt.Errorf("services: dns: port %s: VM %v and server %v must be IPv4", p.Name, p.IP, p.Server)
	}
	p.Domain = normDomain(p.Domain)
	p.Hostname = strings.ToLower(strings.Trim(p.Hostname, "."))
	var failed []*dnsPort
	defer func() { shutdownAll(failed) }()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if old, ok := d.ports[p.Name]; ok {
		if old.info.Server != p.Server && d.nft == nil {
			// Direct mode: the sockets are bound to the old address.
			np := &dnsPort{info: p, zone: old.zone}
			if err := d.listen(np); err != nil {
				return fmt.Errorf("services: dns: port %s: %w", p.Name, err)
			}
			failed = append(failed, old) // shut down after the unlock
			d.ports[p.Name] = np
			return nil
		}
		if old.info.Server != p.Server {
			ics := d.interceptsLocked(p.Name, intercept{port: p.Name, zone: old.zone, daddr: p.Server, dport: 53})
			if err := d.nft.apply(ics); err != nil {
				return err
			}
		}
		np := *old
		np.info = p
		d.ports[p.Name] = &np
		return nil
	}
	var zone uint16
	for z := uint16(DNSZoneBase + 1); z <= DNSZoneBase+DNSMaxPorts; z++ {
		if !d.zones[z] {
			zone = z
			break
		}
	}
	if zone == 0 {
		return fmt.Errorf("services: dns: more than %d ports", DNSMaxPorts)
	}
	dp := &dnsPort{info: p, zone: zone}
	if err := d.listen(dp); err != nil {
		return fmt.Errorf("services: dns: port %s: %w", p.Name, err)
	}
	if d.nft != nil {
		if err := d.nft.apply(d.interceptsLocked("", intercept{port: p.Name, zone: zone, daddr: p.Server, dport: 53})); err != nil {
			failed = append(failed, dp)
			return err
		}
	}
	d.ports[p.Name] = dp
	d.zones[zone] = true
	d.log.Info("dns proxy on port", "port", p.Name, "name", p.Hostname+"."+p.Domain, "server", p.Server.String())
	return nil
}

// interceptsLocked lists the current ports' traffic, without skip, plus extra.
func (d *DNS) interceptsLocked(skip string, extra ...intercept) []intercept {
	out := make([]intercept, 0, len(d.ports)+len(extra))
	for name, p := range d.ports {
		if name != skip {
			out = append(out, intercept{port: name, zone: p.zone, daddr: p.info.Server, dport: 53})
		}
	}
	return append(out, extra...)
}

// listen opens the port's UDP and TCP sockets and starts their servers.
func (d *DNS) listen(dp *dnsPort) error {
	name := dp.info.Name
	lc := deviceListenConfig(name)
	bind := d.cfg.Listen
	if !bind.IsValid() {
		bind = netip.AddrPortFrom(dp.info.Server, 53)
		lc = freebind(lc) // the address may come a moment after the port
	}
	var pc net.PacketConn
	var ln net.Listener
	link, err := d.ns.LinkByName(name)
	if err != nil {
		return err
	}
	dp.ifindex = link.Index
	err = d.ns.Do(func() (err error) {
		if pc, err = lc.ListenPacket(context.Background(), "udp4", bind.String()); err != nil {
			return err
		}
		if ln, err = lc.Listen(context.Background(), "tcp4", bind.String()); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return err
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { d.serve(name, w, r) })
	dp.udp = &dns.Server{PacketConn: pc, Handler: h}
	dp.tcp = &dns.Server{Listener: ln, Handler: h}
	for i, s := range []*dns.Server{dp.udp, dp.tcp} {
		started := make(chan struct{})
		failed := make(chan error, 1)
		s.NotifyStartedFunc = func() { close(started) }
		go func() { failed <- s.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			if i == 1 {
				dp.udp.Shutdown()
			}
			pc.Close()
			ln.Close()
			return fmt.Errorf("start server: %w", err)
		}
	}
	return nil
}

// RemovePort stops the proxy on name; unknown names are ignored.
func (d *DNS) RemovePort(name string) {
	var removed []*dnsPort
	defer func() { shutdownAll(removed) }()
	d.mu.Lock()
	defer d.mu.Unlock()
	dp, ok := d.ports[name]
	if !ok || d.closed {
		return
	}
	removed = append(removed, dp)
	delete(d.ports, name)
	delete(d.zones, dp.zone)
	if d.nft == nil {
		return
	}
	if err := d.nft.apply(d.interceptsLocked("")); err != nil {
		d.log.Warn("nftables update failed", "err", err)
	}
}

// shutdownAll stops the servers of ports. It must run without d.mu held:
// a server's shutdown waits for its running handlers, which take d.mu.
func shutdownAll(ports []*dnsPort) {
	for _, dp := range ports {
		dp.udp.Shutdown()
		dp.tcp.Shutdown()
	}
}

// Stats returns the query counters.
func (d *DNS) Stats() DNSStats {
	return DNSStats{Queries: d.queries.Load(), Local: d.local.Load(), Forwarded: d.forwarded.Load(),
		Failed: d.failed.Load(), Rejected: d.rejected.Load()}
}

// Close deletes the nftables table and stops every port's servers.
func (d *DNS) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	ports := d.ports
	d.ports = nil
	d.mu.Unlock()
	close(d.stop)
	<-d.wdone
	var err error
	if d.nft != nil {
		err = d.nft.remove()
	}
	for _, dp := range ports {
		shutdownAll([]*dnsPort{dp})
	}
	d.ns.Close()
	return err
}

func (d *DNS) serve(port string, w dns.ResponseWriter, r *dns.Msg) {
	d.queries.Add(1)
	d.mu.Lock()
	dp, ok := d.ports[port]
	var view []DNSPort
	var me DNSPort
	if ok {
		me = dp.info
		for _, p := range d.ports {
			if me.Domain != "" && p.info.Domain == me.Domain {
				view = append(view, p.info)
			}
		}
	}
	d.mu.Unlock()
	src, _ := netip.ParseAddrPort(w.RemoteAddr().String())
	if !ok || src.Addr().Unmap() != me.IP {
		d.rejected.Add(1)
		m := new(dns.Msg).SetRcode(r, dns.RcodeRefused)
		_ = w.WriteMsg(m)
		return
	}
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		d.local.Add(1)
		_ = w.WriteMsg(new(dns.Msg).SetRcode(r, dns.RcodeFormatError))
		return
	}
	if m := d.answerLocal(r, me, view); m != nil {
		d.local.Add(1)
		_ = w.WriteMsg(m)
		return
	}
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if m := d.forward(r, tcp); m != nil {
		d.forwarded.Add(1)
		if !tcp {
			// The VM may not take more than it asked for over UDP.
			size := dns.MinMsgSize
			if opt := r.IsEdns0(); opt != nil {
				size = max(int(opt.UDPSize()), dns.MinMsgSize)
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
		return
	}
	d.failed.Add(1)
	_ = w.WriteMsg(new(dns.Msg).SetRcode(r, dns.RcodeServerFailure))
}

// answerLocal answers from the view, or returns nil to forward.
func (d *DNS) answerLocal(r *dns.Msg, me DNSPort, view []DNSPort) *dns.Msg {
	q := r.Question[0]
	name := normDomain(q.Name)
	if q.Qclass != dns.ClassINET {
		return nil
	}
	if q.Qtype == dns.TypePTR && strings.HasSuffix(name, ".in-addr.arpa") {
		ip, ok := parseReverse(strings.TrimSuffix(name, ".in-addr.arpa"))
		if !ok {
			return nil
		}
		for _, p := range view {
			if p.IP == ip && p.Hostname != "" {
				m := new(dns.Msg).SetReply(r)
				m.Authoritative = true
				m.Answer = append(m.Answer, &dns.PTR{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: d.cfg.TTL},
					Ptr: dns.Fqdn(p.Hostname + "." + p.Domain),
				})
				return m
			}
		}
		return nil
	}
	if me.Domain == "" || (name != me.Domain && !strings.HasSuffix(name, "."+me.Domain)) {
		return nil
	}
	m := new(dns.Msg).SetReply(r)
	m.Authoritative = true
	if name == me.Domain {
		return m // the domain itself: no data here
	}
	host := strings.TrimSuffix(name, "."+me.Domain)
	found := false
	for _, p := range view {
		if p.Hostname != host {
			continue
		}
		found = true
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: d.cfg.TTL},
				A:   p.IP.AsSlice(),
			})
		}
	}
	if !found {
		m.Rcode = dns.RcodeNameError
	}
	return m
}

// parseReverse reads "d.c.b.a" (the labels before in-addr.arpa).
func parseReverse(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// forward asks the upstream resolvers in turn over the query's protocol.
func (d *DNS) forward(r *dns.Msg, tcp bool) *dns.Msg {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	for _, up := range d.upstream {
		var nc net.Conn
		err := d.ns.Do(func() (err error) {
			nc, err = net.DialTimeout(network, up, d.cfg.Timeout)
			return err
		})
		if err != nil {
			d.log.Debug("upstream unreachable", "upstream", up, "err", err)
			continue
		}
		co := &dns.Conn{Conn: nc, UDPSize: dns.MaxMsgSize}
		_ = nc.SetDeadline(time.Now().Add(d.cfg.Timeout))
		err = co.WriteMsg(r)
		var m *dns.Msg
		if err == nil {
			m, err = co.ReadMsg()
		}
		nc.Close()
		if err == nil && m.Id == r.Id {
			return m
		}
		d.log.Debug("upstream failed", "upstream", up, "err", err)
	}
	return nil
}
