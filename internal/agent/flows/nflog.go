// SPDX-License-Identifier: Apache-2.0

package flows

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	mdnetlink "github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// nflog protocol numbers (linux/netfilter/nfnetlink_log.h).
const (
	nfulnlMsgPacket = 0
	nfulnlMsgConfig = 1

	nfulaCfgCmd  = 1
	nfulaCfgMode = 2

	nfulnlCfgCmdBind   = 1
	nfulnlCfgCmdUnbind = 2
	nfulnlCopyPacket   = 2

	nfulaPayload = 9
	nfulaPrefix  = 10
)

// openNFLog binds a socket in the namespace to nflog group g.
func (t *Table) openNFLog(g uint16) (*netfilter.Conn, error) {
	c, err := netfilter.Dial(&mdnetlink.Config{NetNS: int(t.ns)})
	if err != nil {
		return nil, fmt.Errorf("flows: nflog socket: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	cfg := func(attrs []netfilter.Attribute) error {
		m, err := netfilter.MarshalNetlink(netfilter.Header{
			SubsystemID: netfilter.NFSubsysULOG, MessageType: nfulnlMsgConfig,
			Family: netfilter.ProtoUnspec, ResourceID: g,
			Flags: mdnetlink.Request | mdnetlink.Acknowledge,
		}, attrs)
		if err != nil {
			return err
		}
		_, err = c.Query(m)
		return err
	}
	// A socket of a crashed agent may still hold the group: unbind first.
	_ = cfg([]netfilter.Attribute{{Type: nfulaCfgCmd, Data: []byte{nfulnlCfgCmdUnbind}}})
	if err := cfg([]netfilter.Attribute{{Type: nfulaCfgCmd, Data: []byte{nfulnlCfgCmdBind}}}); err != nil {
		c.Close()
		return nil, fmt.Errorf("flows: nflog bind group %d: %w", g, err)
	}
	mode := make([]byte, 6)
	binary.BigEndian.PutUint32(mode, 128)
	mode[4] = nfulnlCopyPacket
	if err := cfg([]netfilter.Attribute{{Type: nfulaCfgMode, Data: mode}}); err != nil {
		c.Close()
		return nil, fmt.Errorf("flows: nflog mode: %w", err)
	}
	return c, nil
}

// readNFLog turns logged packets into denied records until c closes.
func (t *Table) readNFLog(c *netfilter.Conn) {
	for {
		msgs, err := c.Receive()
		if err != nil {
			if strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "bad file") {
				return
			}
			t.cfg.Log.Warn("flows: nflog receive", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for _, m := range msgs {
			h, attrs, err := netfilter.UnmarshalNetlink(m)
			if err != nil || h.SubsystemID != netfilter.NFSubsysULOG || h.MessageType != nfulnlMsgPacket {
				continue
			}
			var prefix string
			var payload []byte
			for _, a := range attrs {
				switch a.Type {
				case nfulaPrefix:
					prefix = strings.TrimRight(string(a.Data), "\x00")
				case nfulaPayload:
					payload = a.Data
				}
			}
			if r, ok := deniedRecord(prefix, payload); ok {
				t.denied(r)
			}
		}
	}
}

// deniedRecord parses a logged packet: the prefix the security package
// put on its deny rules, and the IP header and ports.
func deniedRecord(prefix string, p []byte) (Record, bool) {
	f := strings.Fields(prefix)
	if len(f) < 3 || len(p) < 20 {
		return Record{}, false
	}
	r := Record{Port: f[0], Action: "deny"}
	if f[2] != "-" {
		r.RuleUUID = f[2]
	}
	var l4 []byte
	switch p[0] >> 4 {
	case 4:
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 || len(p) < ihl {
			return Record{}, false
		}
		r.Proto = p[9]
		src, _ := netip.AddrFromSlice(p[12:16])
		dst, _ := netip.AddrFromSlice(p[16:20])
		r.Src, r.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		r.Bytes = uint64(binary.BigEndian.Uint16(p[2:4]))
		l4 = p[ihl:]
	case 6:
		if len(p) < 40 {
			return Record{}, false
		}
		r.Proto = p[6]
		src, _ := netip.AddrFromSlice(p[8:24])
		dst, _ := netip.AddrFromSlice(p[24:40])
		r.Src, r.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		r.Bytes = uint64(binary.BigEndian.Uint16(p[4:6])) + 40
		l4 = p[40:]
	default:
		return Record{}, false
	}
	switch r.Proto {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_SCTP, unix.IPPROTO_UDPLITE:
		if len(l4) >= 4 {
			r.Src = netip.AddrPortFrom(r.Src.Addr(), binary.BigEndian.Uint16(l4[0:2]))
			r.Dst = netip.AddrPortFrom(r.Dst.Addr(), binary.BigEndian.Uint16(l4[2:4]))
		}
	}
	r.Packets = 1
	return r, true
}

type deniedKey struct {
	port     string
	proto    uint8
	src, dst netip.AddrPort
}

type deniedEntry struct {
	rec      Record
	last     time.Time
	exported time.Time
}

// denied adds a logged packet to the record of its 5-tuple.
func (t *Table) denied(r Record) {
	now := time.Now()
	k := deniedKey{r.Port, r.Proto, r.Src, r.Dst}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.deny[k]; ok {
		e.rec.Packets++
		e.rec.Bytes += r.Bytes
		e.last = now
		return
	}
	if len(t.flows)+len(t.deny) >= t.cfg.MaxFlows {
		t.stats.Dropped++
		return
	}
	r.Setup = now
	t.deny[k] = &deniedEntry{rec: r, last: now}
	t.stats.Created++
}

// ageDenied closes denied records that saw no packet for a whole refresh
// period. Called locked.
func (t *Table) ageDenied(now time.Time) {
	for k, e := range t.deny {
		if now.Sub(e.last) >= t.cfg.Refresh {
			e.rec.Teardown = e.last
			t.closed = append(t.closed, e.rec)
			t.stats.Closed++
			delete(t.deny, k)
		}
	}
}
