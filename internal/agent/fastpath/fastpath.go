// SPDX-License-Identifier: Apache-2.0

package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/agent/flows"
	"github.com/contrail-go/contrail/internal/agent/nsrun"
)

// Port is a local port as the fast path needs it.
type Port struct {
	Dev string
	MAC net.HardwareAddr
	IP  netip.Addr // IPv4; ports without one are attached but never match
}

// Counter is what the fast path forwarded in one direction of a flow.
type Counter = flows.Counter

// Stats counts what the fast path did.
type Stats struct {
	Devices   int    `json:"devices"`
	Flows     int    `json:"flows"`
	Offloaded uint64 `json:"offloaded"`
	Removed   uint64 `json:"removed"`
	Flushes   uint64 `json:"flushes"`
	Skipped   uint64 `json:"skipped"` // established flows it could not resolve a path for
	KeptAlive uint64 `json:"kept_alive"`
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error,omitempty"`
}

// Config configures a Path.
type Config struct {
	Log *slog.Logger
	// NetNS is the namespace of the devices (the zero handle: the
	// caller's).
	NetNS netns.NsHandle
	// MaxFlows bounds the offloaded flows (two map entries each).
	MaxFlows int
}

// Path is the eBPF fast path of one namespace.
type Path struct {
	log   *slog.Logger
	ns    netns.NsHandle
	h     *netlink.Handle
	ct    *conntrack.Conn
	prog  *ebpf.Program
	flows *ebpf.Map
	max   int

	mu      sync.Mutex
	links   map[string]*attachment
	ports   map[netip.Addr]Port
	want    map[string]bool // devices the program may be attached to
	entries map[uint32]*offloaded
	carried map[uint32][2]Counter // counted by entries since removed, by flow
	// flows with no path through the fast path (local services, routes
	// by other devices), not looked at again until the next flush
	unresolved map[uint32]bool
	stats      Stats
	// UDP timeouts (unassured, stream) and when they were read
	udpTimeouts  [2]uint32
	timeoutsRead time.Time
	// hold keeps flows out while the dataplane changes under them
	hold bool
}

type attachment struct {
	ifindex int
	l       link.Link
}

type offloaded struct {
	keys  [2][keySize]byte // original direction, reply direction
	proto uint8
	last  Counter // forwarded in both directions when last kept alive
}

// TCP_CONNTRACK_ESTABLISHED
const tcpEstablished = 3

// New loads the program and its flow map. It fails where the kernel
// cannot run it (no BPF, no tcx); callers then do without.
func New(cfg Config) (*Path, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 32768
	}
	p := &Path{log: cfg.Log, max: cfg.MaxFlows, links: map[string]*attachment{}, ports: map[netip.Addr]Port{},
		entries: map[uint32]*offloaded{}, carried: map[uint32][2]Counter{}, unresolved: map[uint32]bool{}, udpTimeouts: [2]uint32{30, 120}}
	var err error
	if cfg.NetNS.IsOpen() {
		var fd int
		fd, err = unix.FcntlInt(uintptr(cfg.NetNS), unix.F_DUPFD_CLOEXEC, 0)
		p.ns = netns.NsHandle(fd)
	} else {
		p.ns, err = netns.Get()
	}
	if err != nil {
		return nil, fmt.Errorf("fastpath: namespace: %w", err)
	}
	fail := func(err error) (*Path, error) {
		p.Close()
		return nil, err
	}
	if p.h, err = netlink.NewHandleAt(p.ns); err != nil {
		return fail(fmt.Errorf("fastpath: netlink: %w", err))
	}

	if p.ct, err = conntrack.Dial(&mdnetlink.Config{NetNS: int(p.ns)}); err != nil {
		return fail(fmt.Errorf("fastpath: conntrack: %w", err))
	}
	if p.flows, p.prog, err = load(2 * cfg.MaxFlows); err != nil {
		return fail(err)
	}
	// Out-of-window segments after a long stretch in the fast path (the
	// FIN, say) must not turn the connection INVALID in conntrack, which
	// did not see the bytes in between.
	if err := nsrun.Sysctl(p.ns, "net/netfilter/nf_conntrack_tcp_be_liberal", "1"); err != nil {
		return fail(fmt.Errorf("fastpath: %w", err))
	}
	return p, nil
}

// load creates the flow map and loads the program over it.
func load(entries int) (*ebpf.Map, *ebpf.Program, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "ctrl_flows", Type: ebpf.Hash, KeySize: keySize, ValueSize: valueSize,
		MaxEntries: uint32(entries)})
	if err != nil {
		return nil, nil, fmt.Errorf("fastpath: flow map: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "ctrl_fastpath", Type: ebpf.SchedCLS, License: "Apache-2.0",
		Instructions: program(m)})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("fastpath: load program: %w", err)
	}
	return m, prog, nil
}

// Close detaches the program from every device and frees the map: from
// then on the stack forwards everything, conntrack still holding the
// flows.
func (p *Path) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for dev, a := range p.links {
		a.l.Close()
		delete(p.links, dev)
	}
	if p.prog != nil {
		p.prog.Close()
		p.prog = nil
	}
	if p.flows != nil {
		p.flows.Close()
		p.flows = nil
	}
	clear(p.entries)
	clear(p.carried)
	if p.ct != nil {
		p.ct.Close()
		p.ct = nil
	}
	if p.h != nil {
		p.h.Close()
		p.h = nil
	}

	if p.ns.IsOpen() {
		p.ns.Close()
		p.ns = -1
	}
}

// Stats returns the counters.
func (p *Path) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Devices, s.Flows = len(p.links), len(p.entries)
	return s
}

// Devices returns the devices the program is attached to.
func (p *Path) Devices() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.links))
	for d := range p.links {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// SetDevices sets the devices the program may run on (the ports' and the
// tunnel devices) and remembers the ports. The program is attached to a
// device when the first flow through it is offloaded, not before: each
// attach takes the kernel's RTNL lock and waits for an RCU grace period,
// which a thousand ports added at once must not pay. It is detached from
// devices no longer wanted, gone, or recreated under the same name.
func (p *Path) SetDevices(ports []Port, tunnels []string) error {
	want := map[string]bool{}
	byIP := map[netip.Addr]Port{}
	for _, pt := range ports {
		want[pt.Dev] = true
		if pt.IP.Is4() {
			byIP[pt.IP] = pt
		}
	}
	for _, t := range tunnels {
		want[t] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prog == nil {
		return errors.New("fastpath: closed")
	}
	p.ports, p.want = byIP, want
	for dev, a := range p.links {
		if want[dev] {
			if l, err := p.h.LinkByName(dev); err == nil && l.Attrs().Index == a.ifindex {
				continue
			}
		}
		a.l.Close()
		delete(p.links, dev)
	}
	return nil
}

// attachLocked makes sure the program runs at ingress of dev (ifindex
// idx), a wanted device.
func (p *Path) attachLocked(dev string, idx int) error {
	if a := p.links[dev]; a != nil {
		if a.ifindex == idx {
			return nil
		}
		a.l.Close()
		delete(p.links, dev)
	}
	if !p.want[dev] {
		return fmt.Errorf("device %s carries no fast path", dev)
	}
	var lk link.Link
	err := p.onThread(func() (err error) {
		lk, err = link.AttachTCX(link.TCXOptions{Interface: idx, Program: p.prog, Attach: ebpf.AttachTCXIngress})
		return err
	})
	if err != nil {
		p.noteErrLocked(fmt.Errorf("attach %s: %w", dev, err))
		return fmt.Errorf("attach %s: %w", dev, err)
	}
	p.links[dev] = &attachment{ifindex: idx, l: lk}
	return nil
}

// Flush drops every offloaded flow: their packets go through the stack
// again until Offer puts them back. Called on any change of routes,
// ports or rules, after which the flows still allowed are offered again.
func (p *Path) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushLocked()
}

func (p *Path) flushLocked() {
	for id := range p.entries {
		p.removeLocked(id)
	}
	clear(p.unresolved)
	p.stats.Flushes++
}

// Hold flushes the fast path and keeps flows out of it until Release: the
// dataplane is about to change (devices may be recreated, routes move).
func (p *Path) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = true
	p.flushLocked()
}

// Release lets flows into the fast path again after Hold.
func (p *Path) Release() {
	p.mu.Lock()
	p.hold = false
	p.mu.Unlock()
}

// Held reports whether the fast path is held.
func (p *Path) Held() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hold
}

// Gone removes a flow conntrack no longer has and returns what the fast
// path forwarded of it.
func (p *Path) Gone(id uint32) (orig, reply Counter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(id)
	orig, reply, _ = p.countersLocked(id)
	delete(p.carried, id)
	delete(p.unresolved, id)
	return orig, reply
}

// Counters returns what the fast path forwarded of a flow so far; ok is
// false for a flow it does not carry.
func (p *Path) Counters(id uint32) (orig, reply Counter, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.countersLocked(id)
}

// countersLocked adds what the flow's current entries counted to what
// entries removed before (flushes) had.
func (p *Path) countersLocked(id uint32) (orig, reply Counter, ok bool) {
	c, ok := p.carried[id]
	orig, reply = c[0], c[1]
	if e := p.entries[id]; e != nil && p.flows != nil {
		o, r := p.readCounter(e.keys[0]), p.readCounter(e.keys[1])
		orig = Counter{Packets: orig.Packets + o.Packets, Bytes: orig.Bytes + o.Bytes}
		reply = Counter{Packets: reply.Packets + r.Packets, Bytes: reply.Bytes + r.Bytes}
		ok = true
	}
	return orig, reply, ok
}

func (p *Path) readCounter(k [keySize]byte) Counter {
	var v [valueSize]byte
	if err := p.flows.Lookup(k[:], v[:]); err != nil {
		return Counter{}
	}
	return Counter{Packets: binary.NativeEndian.Uint64(v[valPackets:]), Bytes: binary.NativeEndian.Uint64(v[valBytes:])}
}

// removeLocked takes the flow's entries out of the map; what they counted
// is carried for the flow's record until Gone.
func (p *Path) removeLocked(id uint32) {
	e := p.entries[id]
	if e == nil {
		return
	}
	if p.flows != nil {
		o, r, _ := p.countersLocked(id)
		if len(p.carried) >= 4*p.max {
			// Gone never came for many flows (lost events): start over
			// rather than grow without bound.
			clear(p.carried)
		}
		p.carried[id] = [2]Counter{o, r}
	}
	for _, k := range e.keys {
		if p.flows == nil {
			break
		}
		if err := p.flows.Delete(k[:]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			p.noteErrLocked(fmt.Errorf("delete flow %d: %w", id, err))
		}
	}
	delete(p.entries, id)
	p.stats.Removed++
}

func (p *Path) noteErrLocked(err error) {
	p.stats.Errors++
	p.stats.LastError = err.Error()
	p.log.Debug("fastpath", "err", err)
}

// eligible reports whether conntrack lets the flow into the fast path: an
// IPv4 TCP connection in ESTABLISHED (and assured) or a UDP flow that had
// an answer, accepted by a port's rules (a non-zero mark), not NATed.
func eligible(f *conntrack.Flow) bool {
	if f.Mark == 0 || !f.Status.SeenReply() || f.Status.Dying() || f.Status.SrcNAT() || f.Status.DstNAT() {
		return false
	}
	o, r := f.TupleOrig, f.TupleReply
	if !o.IP.SourceAddress.Is4() || o.IP.SourceAddress != r.IP.DestinationAddress || o.IP.DestinationAddress != r.IP.SourceAddress ||
		o.Proto.SourcePort != r.Proto.DestinationPort || o.Proto.DestinationPort != r.Proto.SourcePort {
		return false
	}
	switch o.Proto.Protocol {
	case unix.IPPROTO_TCP:
		return f.Status.Assured() && f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State == tcpEstablished
	case unix.IPPROTO_UDP:
		return true
	}
	return false
}

// Offer looks at a flow conntrack reported (event or dump): an eligible
// one is offloaded, one that no longer is (a TCP connection closing) is
// taken out. It keeps the conntrack entries of offloaded UDP flows from
// expiring while the fast path carries their packets.
func (p *Path) Offer(f *conntrack.Flow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flows == nil {
		return
	}
	e := p.entries[f.ID]
	if e != nil {
		// A TCP event without protocol info says nothing of the state.
		if f.TupleOrig.Proto.Protocol == unix.IPPROTO_TCP && f.ProtoInfo.TCP == nil && !f.Status.Dying() {
			return
		}
		if !eligible(f) {
			p.removeLocked(f.ID)
			return
		}
		p.keepAliveLocked(f, e)
		return
	}
	if p.hold || !eligible(f) || len(p.entries) >= p.max {
		return
	}
	if p.unresolved[f.ID] {
		return // no path for it until the dataplane changes
	}
	e, err := p.resolveLocked(f)
	if err != nil {
		p.stats.Skipped++
		p.log.Debug("fastpath: flow stays in the stack", "id", f.ID, "err", err)
		if len(p.unresolved) >= 4*p.max {
			clear(p.unresolved)
		}
		p.unresolved[f.ID] = true
		return
	}
	p.entries[f.ID] = e
	p.stats.Offloaded++
}

// keepAliveLocked refreshes the conntrack timeout of a UDP flow whose
// packets the fast path carried since the last look (conntrack sees none
// of them). TCP's established timeout is days; its FIN and RST go through
// conntrack anyway.
func (p *Path) keepAliveLocked(f *conntrack.Flow, e *offloaded) {
	if e.proto != unix.IPPROTO_UDP {
		return
	}
	o, r, _ := p.countersLocked(f.ID)
	now := Counter{Packets: o.Packets + r.Packets, Bytes: o.Bytes + r.Bytes}
	if now.Packets == e.last.Packets {
		return
	}
	e.last = now
	timeout := p.udpTimeoutLocked(f.Status.Assured())
	upd := conntrack.NewFlow(f.TupleOrig.Proto.Protocol, 0, f.TupleOrig.IP.SourceAddress, f.TupleOrig.IP.DestinationAddress,
		f.TupleOrig.Proto.SourcePort, f.TupleOrig.Proto.DestinationPort, timeout, f.Mark)
	upd.ID = f.ID
	if err := p.ct.Update(upd); err != nil {
		p.noteErrLocked(fmt.Errorf("keep flow %d alive: %w", f.ID, err))
		return
	}
	p.stats.KeptAlive++
}

// udpTimeoutLocked is the timeout (s) conntrack would have given the flow
// on a packet: the namespace's nf_conntrack_udp_timeout_stream for an
// assured flow, nf_conntrack_udp_timeout otherwise. The sysctls are read
// at most once a second.
func (p *Path) udpTimeoutLocked(assured bool) uint32 {
	if time.Since(p.timeoutsRead) > time.Second {
		p.timeoutsRead = time.Now()
		_ = p.onThread(func() error {
			for i, k := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
				b, err := os.ReadFile("/proc/sys/net/netfilter/" + k)
				if err != nil {
					continue
				}
				if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && v > 0 {
					p.udpTimeouts[i] = uint32(v)
				}
			}
			return nil
		})
	}
	if assured {
		return p.udpTimeouts[1]
	}
	return p.udpTimeouts[0]
}

// resolveLocked computes both directions of a flow: the port it belongs to
// (one of its ends is a local port's address), the way to the other end
// as the kernel routes it from that port, and back.
func (p *Path) resolveLocked(f *conntrack.Flow) (*offloaded, error) {
	o := f.TupleOrig
	src, dst := o.IP.SourceAddress.Unmap(), o.IP.DestinationAddress.Unmap()
	// the local end: the source, unless only the destination is a port
	local, remote, outbound := src, dst, true
	if _, ok := p.ports[src]; !ok {
		if _, ok := p.ports[dst]; !ok {
			return nil, fmt.Errorf("no local port has %v or %v", src, dst)
		}
		local, remote, outbound = dst, src, false
	}
	port := p.ports[local]
	pl, err := p.h.LinkByName(port.Dev)
	if err != nil {
		return nil, fmt.Errorf("port %s: %w", port.Dev, err)
	}
	portIdx := pl.Attrs().Index
	// port -> remote
	outIdx, outMTU, outDev, outMAC, nhMAC, err := p.route(remote, local, portIdx)
	if err != nil {
		return nil, err
	}
	if !p.want[outDev] {
		return nil, fmt.Errorf("%v leaves by %s, which carries no fast path", remote, outDev)
	}
	// remote -> port, as the kernel routes it coming in on outIdx
	backIdx, backMTU, _, backSrcMAC, backMAC, err := p.route(local, remote, outIdx)
	if err != nil {
		return nil, err
	}
	if backIdx != portIdx {
		return nil, fmt.Errorf("%v from %v comes back by ifindex %d, not port %s", local, remote, backIdx, port.Dev)
	}
	if err := p.attachLocked(port.Dev, portIdx); err != nil {
		return nil, err
	}
	if err := p.attachLocked(outDev, outIdx); err != nil {
		return nil, err
	}
	sp, dp := o.Proto.SourcePort, o.Proto.DestinationPort
	lp, rp := sp, dp
	if !outbound {
		lp, rp = dp, sp
	}
	fwd := flowKey(portIdx, local, remote, lp, rp, o.Proto.Protocol)
	back := flowKey(outIdx, remote, local, rp, lp, o.Proto.Protocol)
	e := &offloaded{proto: o.Proto.Protocol}
	if outbound {
		e.keys = [2][keySize]byte{fwd, back}
	} else {
		e.keys = [2][keySize]byte{back, fwd}
	}
	vals := [][valueSize]byte{flowValue(outIdx, outMTU, nhMAC, outMAC, f.ID), flowValue(backIdx, backMTU, backMAC, backSrcMAC, f.ID)}
	for i, k := range [][keySize]byte{fwd, back} {
		if err := p.flows.Update(k[:], vals[i][:], ebpf.UpdateAny); err != nil {
			if i == 1 {
				_ = p.flows.Delete(fwd[:])
			}
			p.noteErrLocked(fmt.Errorf("flow %d: %w", f.ID, err))
			return nil, err
		}
	}
	return e, nil
}

// route asks the kernel how it forwards a packet to dst from src that came
// in on iif: the output device, its MAC and the next hop's MAC (a local
// port's own, or the neighbour entry of the gateway on the device).
func (p *Path) route(dst, src netip.Addr, iif int) (oif, mtu int, oDev string, oMAC, nhMAC net.HardwareAddr, err error) {
	rs, err := p.h.RouteGetWithOptions(dst.AsSlice(), &netlink.RouteGetOptions{IifIndex: iif, SrcAddr: src.AsSlice()})
	if err != nil {
		return 0, 0, "", nil, nil, fmt.Errorf("route to %v from %v: %w", dst, src, err)
	}
	if len(rs) != 1 || rs[0].Type != unix.RTN_UNICAST || rs[0].LinkIndex == 0 || len(rs[0].MultiPath) > 0 {
		return 0, 0, "", nil, nil, fmt.Errorf("route to %v from %v: not a single unicast next hop", dst, src)
	}
	r := rs[0]
	l, err := p.h.LinkByIndex(r.LinkIndex)
	if err != nil {
		return 0, 0, "", nil, nil, fmt.Errorf("route to %v: device %d: %w", dst, r.LinkIndex, err)
	}
	oMAC = l.Attrs().HardwareAddr
	// the route's own MTU (a locked metric), else the device's
	linkMTU := l.Attrs().MTU
	if r.MTU > 0 && r.MTU < linkMTU {
		linkMTU = r.MTU
	}
	nh := dst
	if gw, ok := netip.AddrFromSlice(r.Gw); ok && gw.IsValid() && !gw.IsUnspecified() {
		nh = gw.Unmap()
	}
	if pt, ok := p.ports[nh]; ok && pt.Dev == l.Attrs().Name && len(pt.MAC) == 6 {
		return r.LinkIndex, linkMTU, l.Attrs().Name, oMAC, pt.MAC, nil
	}
	ns, err := p.h.NeighList(r.LinkIndex, unix.AF_INET)
	if err != nil {
		return 0, 0, "", nil, nil, fmt.Errorf("neighbours of %d: %w", r.LinkIndex, err)
	}
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == nh && len(n.HardwareAddr) == 6 &&
			n.State&(netlink.NUD_PERMANENT|netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_NOARP) != 0 {
			return r.LinkIndex, linkMTU, l.Attrs().Name, oMAC, n.HardwareAddr, nil
		}
	}
	return 0, 0, "", nil, nil, fmt.Errorf("no MAC for next hop %v on device %d", nh, r.LinkIndex)
}

func flowKey(ifindex int, src, dst netip.Addr, sport, dport uint16, proto uint8) [keySize]byte {
	var k [keySize]byte
	binary.NativeEndian.PutUint32(k[0:], uint32(ifindex))
	s, d := src.As4(), dst.As4()
	copy(k[4:], s[:])
	copy(k[8:], d[:])
	binary.BigEndian.PutUint16(k[12:], sport)
	binary.BigEndian.PutUint16(k[14:], dport)
	k[16] = proto
	return k
}

func flowValue(oif, mtu int, dmac, smac net.HardwareAddr, ctID uint32) [valueSize]byte {
	var v [valueSize]byte
	binary.NativeEndian.PutUint32(v[valOutIfindex:], uint32(oif))
	binary.NativeEndian.PutUint32(v[valMTU:], uint32(mtu))
	copy(v[valDstMAC:], dmac)
	copy(v[valSrcMAC:], smac)
	binary.NativeEndian.PutUint32(v[valCTID:], ctID)
	return v
}

// onThread runs fn on an OS thread in the path's namespace: tcx resolves
// ifindexes, and /proc/sys names sysctls, in the caller's namespace.
func (p *Path) onThread(fn func() error) error { return nsrun.Do(p.ns, fn) }
