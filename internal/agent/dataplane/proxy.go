package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// proxyEntry is an IPv6 proxy neighbor entry: the kernel answers neighbor
// solicitations for addr arriving on the device with index dev.
type proxyEntry struct {
	dev  int
	addr netip.Addr
}

// syncProxies keeps one IPv6 proxy entry per port and address the port
// answers for (plan.proxies), marked with ProxyProtocol. Linux has no
// proxy NDP for a whole prefix, so each address is listed. Entries with
// the mark that are not wanted are deleted, on whatever device.
func (d *Dataplane) syncProxies(p *plan, ch *Changes) error {
	if d.noV6 {
		return nil
	}
	want := map[proxyEntry]string{} // -> port name
	for name, addrs := range p.proxies {
		if len(addrs) == 0 {
			continue
		}
		l, err := d.link(name)
		if err != nil {
			return fmt.Errorf("port %q: %w", name, err)
		}
		for _, a := range addrs {
			want[proxyEntry{l.Attrs().Index, a}] = name
		}
	}
	have, err := dump(d.listProxies)
	if err != nil {
		return fmt.Errorf("list proxy neighbors: %w", err)
	}
	found := map[proxyEntry]bool{}
	for _, e := range have {
		if _, ok := want[e]; ok {
			found[e] = true
			continue
		}
		name := fmt.Sprint(e.dev)
		if l, ok := d.byIndex[e.dev]; ok {
			name = l.Attrs().Name
		}
		if err := d.proxyRequest(unix.RTM_DELNEIGH, 0, e); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete proxy neighbor %v dev %s: %w", e.addr, name, err)
		}
		ch.add("delete neighbor proxy %v dev %s", e.addr, name)
	}
	keys := make([]proxyEntry, 0, len(want))
	for e := range want {
		if !found[e] {
			keys = append(keys, e)
		}
	}
	slices.SortFunc(keys, func(a, b proxyEntry) int {
		if c := cmpStr(want[a], want[b]); c != 0 {
			return c
		}
		return a.addr.Compare(b.addr)
	})
	for _, e := range keys {
		if err := d.proxyRequest(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, e); err != nil {
			return fmt.Errorf("add proxy neighbor %v dev %s: %w", e.addr, want[e], err)
		}
		ch.add("add neighbor proxy %v dev %s", e.addr, want[e])
	}
	return nil
}

// ndmsgLen is the size of struct ndmsg.
const ndmsgLen = 12

// listProxies returns the IPv6 proxy entries marked with ProxyProtocol.
// The netlink package neither reads nor writes the protocol of a neighbor
// entry, so the dump is parsed here.
func (d *Dataplane) listProxies() ([]proxyEntry, error) {
	req := d.rawRequest(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
	req.AddData(&netlink.Ndmsg{Family: unix.AF_INET6, Flags: netlink.NTF_PROXY})
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, err
	}
	var out []proxyEntry
	for _, m := range msgs {
		if len(m) < ndmsgLen || m[0] != unix.AF_INET6 || m[10]&netlink.NTF_PROXY == 0 {
			continue
		}
		dev := int(int32(binary.NativeEndian.Uint32(m[4:8])))
		attrs, perr := nl.ParseRouteAttr(m[ndmsgLen:])
		if perr != nil {
			continue
		}
		var e proxyEntry
		proto := -1
		for _, a := range attrs {
			switch a.Attr.Type {
			case netlink.NDA_DST:
				if ip, ok := netip.AddrFromSlice(a.Value); ok {
					e.addr = ip
				}
			case netlink.NDA_PROTOCOL:
				if len(a.Value) > 0 {
					proto = int(a.Value[0])
				}
			}
		}
		if proto == ProxyProtocol && e.addr.Is6() && dev > 0 {
			e.dev = dev
			out = append(out, e)
		}
	}
	return out, err
}

// proxyRequest adds (RTM_NEWNEIGH) or deletes (RTM_DELNEIGH) the proxy
// entry e, marked with ProxyProtocol.
func (d *Dataplane) proxyRequest(typ int, flags int, e proxyEntry) error {
	req := d.rawRequest(typ, flags|unix.NLM_F_ACK)
	req.AddData(&netlink.Ndmsg{Family: unix.AF_INET6, Index: uint32(e.dev), State: netlink.NUD_PERMANENT, Flags: netlink.NTF_PROXY})
	req.AddData(nl.NewRtAttr(netlink.NDA_DST, e.addr.AsSlice()))
	if typ == unix.RTM_NEWNEIGH {
		req.AddData(nl.NewRtAttr(netlink.NDA_PROTOCOL, nl.Uint8Attr(ProxyProtocol)))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// rawRequest is a netlink request on the dataplane's own socket.
func (d *Dataplane) rawRequest(typ, flags int) *nl.NetlinkRequest {
	return &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{Len: unix.SizeofNlMsghdr, Type: uint16(typ), Flags: unix.NLM_F_REQUEST | uint16(flags)},
		Sockets:  map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: d.raw},
	}
}
