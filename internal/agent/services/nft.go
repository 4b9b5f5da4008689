// SPDX-License-Identifier: Apache-2.0

package services

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/agent/services/internal/nsutil"
)

// zonePriority runs after the raw priority (-300) and before conntrack
// (-200): the zone must be set before conntrack looks the packet up, and
// after any other raw chain, so that ours wins for metadata packets.
const zonePriority = nftables.ChainPriority(-250)

// interceptNFT keeps one nftables table (family ip) that sends a service's
// VM traffic to its per-port listeners. Every change replaces the whole
// table in one netlink batch (add, delete, re-create), so the kernel never
// holds a half-written ruleset and leftovers from an earlier run are gone
// after the first apply. For the metadata proxy (one rule per port and
// protocol):
//
//	table ip contrail_metadata {
//	  chain zone_pre  { type filter hook prerouting priority -250
//	    th dport != 80 return
//	    iifname P ip daddr 169.254.169.254 tcp dport 80 ct zone set Z }
//	  chain nat_pre   { type nat hook prerouting priority dstnat
//	    th dport != 80 return
//	    iifname P ip daddr 169.254.169.254 tcp dport 80 dnat to LISTEN   (or redirect to :PORT) }
//	  chain zone_out  { type filter hook output priority -250
//	    th sport != PORT return
//	    oifname P tcp sport PORT ct zone set Z }
//	}
//
// With no ports the table has no chains (and hooks nothing).
type interceptNFT struct {
	ns     *nsutil.NS
	table  string
	listen netip.AddrPort
	protos []byte // IPPROTO_TCP, IPPROTO_UDP
}

// intercept is the traffic of one port to send to the listeners.
type intercept struct {
	port  string
	zone  uint16
	daddr netip.Addr
	dport uint16
}

func (n *interceptNFT) conn() (*nftables.Conn, error) {
	return nftables.New(nftables.WithNetNSFd(int(n.ns.Handle())))
}

func (n *interceptNFT) apply(ics []intercept) error {
	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("services: nftables: %w", err)
	}
	slices.SortFunc(ics, func(a, b intercept) int { return strings.Compare(a.port, b.port) })
	t := &nftables.Table{Name: n.table, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	if len(ics) == 0 {
		// No chains, no hooks: without ports the table costs nothing.
		if err := c.Flush(); err != nil {
			return fmt.Errorf("services: nftables table %s: %w", n.table, err)
		}
		return nil
	}
	pol := nftables.ChainPolicyAccept
	zonePre := c.AddChain(&nftables.Chain{Name: "zone_pre", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(zonePriority), Policy: &pol})
	natPre := c.AddChain(&nftables.Chain{Name: "nat_pre", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &pol})
	zoneOut := c.AddChain(&nftables.Chain{Name: "zone_out", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRef(zonePriority), Policy: &pol})
	// Every packet of the host passes these hooks: one comparison sends
	// all traffic that is not for the service (or from its listeners) on
	// before the per-port rules.
	if dport, ok := sameDport(ics); ok {
		c.AddRule(&nftables.Rule{Table: t, Chain: zonePre, Exprs: skipUnlessPort(2, dport)})
		c.AddRule(&nftables.Rule{Table: t, Chain: natPre, Exprs: skipUnlessPort(2, dport)})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: zoneOut, Exprs: skipUnlessPort(0, n.listen.Port())})
	for _, ic := range ics {
		for _, proto := range n.protos {
			toService := slices.Concat(
				matchIfname(expr.MetaKeyIIFNAME, ic.port),
				matchDaddr(ic.daddr),
				matchPort(proto, 2, ic.dport),
			)
			c.AddRule(&nftables.Rule{Table: t, Chain: zonePre, Exprs: slices.Concat(toService, setZone(ic.zone))})
			c.AddRule(&nftables.Rule{Table: t, Chain: natPre, Exprs: slices.Concat(toService, n.natTo())})
			c.AddRule(&nftables.Rule{Table: t, Chain: zoneOut, Exprs: slices.Concat(
				matchIfname(expr.MetaKeyOIFNAME, ic.port),
				matchPort(proto, 0, n.listen.Port()),
				setZone(ic.zone),
			)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("services: nftables table %s: %w", n.table, err)
	}
	return nil
}

// sameDport returns the destination port of the intercepts if they all
// have the same one.
func sameDport(ics []intercept) (uint16, bool) {
	for _, ic := range ics[1:] {
		if ic.dport != ics[0].dport {
			return 0, false
		}
	}
	return ics[0].dport, true
}

// skipUnlessPort ends the chain (its policy: accept) for packets whose
// transport port at offset (0 source, 2 destination) is not port. Packets
// without a transport header do not match and go on to the full rules.
func skipUnlessPort(offset uint32, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
		&expr.Verdict{Kind: expr.VerdictReturn},
	}
}

// remove deletes the table; a missing table is fine.
func (n *interceptNFT) remove() error {
	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("services: nftables: %w", err)
	}
	t := &nftables.Table{Name: n.table, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("services: nftables: delete %s: %w", n.table, err)
	}
	return nil
}

func (n *interceptNFT) natTo() []expr.Any {
	port := binary.BigEndian.AppendUint16(nil, n.listen.Port())
	if n.listen.Addr().IsUnspecified() {
		return []expr.Any{
			&expr.Immediate{Register: 1, Data: port},
			&expr.Redir{RegisterProtoMin: 1},
		}
	}
	a := n.listen.Addr().As4()
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: port},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func matchIfname(key expr.MetaKey, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(name)},
	}
}

func matchDaddr(a netip.Addr) []expr.Any {
	v := a.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: v[:]},
	}
}

// matchPort matches the transport protocol and the port at offset (0
// source, 2 destination; the same in TCP and UDP headers).
func matchPort(proto byte, offset uint32, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
	}
}

// setZone is "ct zone set z"; the kernel reads the zone from the register
// in host byte order.
func setZone(z uint16) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: binary.NativeEndian.AppendUint16(nil, z)},
		&expr.Ct{Key: expr.CtKeyZONE, Register: 1, SourceRegister: true},
	}
}
