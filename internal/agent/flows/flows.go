// SPDX-License-Identifier: Apache-2.0

package flows

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	mdnetlink "github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/agent/nsrun"
)

// Config configures a Table.
type Config struct {
	Log      *slog.Logger
	NetNS    netns.NsHandle
	Resolve  func(mark uint32) (port, vn, ruleUUID string, ok bool)
	MaxFlows int
	Refresh  time.Duration
	All      bool
	// DenyLogGroup is the nflog group the security package's deny rules
	// log to (security.WithDenyLog); 0 records no denied connections.
	DenyLogGroup uint16
	// Offload, when set, is the fast path: it is offered every flow the
	// table learns of (events, including state updates, and dumps) and
	// told of flows that end; its counters are added to the records'.
	Offload Offloader
}

// Offloader is a fast path that forwards some flows past conntrack.
type Offloader interface {
	Offer(f *conntrack.Flow)
	// Gone removes the flow and returns what it forwarded of it.
	Gone(id uint32) (orig, reply Counter)
	Counters(id uint32) (orig, reply Counter, ok bool)
}

// Counter counts one direction of a flow.
type Counter struct{ Packets, Bytes uint64 }

// Record is one flow.
type Record struct {
	ID                       uint32
	Proto                    uint8
	Src, Dst                 netip.AddrPort
	ReplySrc, ReplyDst       netip.AddrPort
	Setup, Teardown          time.Time
	Packets, Bytes           uint64
	ReplyPackets, ReplyBytes uint64
	Mark                     uint32
	Port, VN, RuleUUID       string
	Action                   string
}

// Active reports whether the flow still exists.
func (r *Record) Active() bool { return r.Teardown.IsZero() }

// Stats counts what the table did.
type Stats struct {
	Active, Created, Closed, Dropped, Resyncs uint64
}

type entry struct {
	rec     Record
	changed bool
}

// Table is the flow table of one namespace.
type Table struct {
	cfg Config
	ns  netns.NsHandle

	mu     sync.Mutex
	flows  map[uint32]*entry
	deny   map[deniedKey]*deniedEntry
	closed []Record // closed, not yet exported
	export func([]Record)
	stats  Stats
	wg     sync.WaitGroup
	kick   chan struct{}
}

// New prepares a Table; Start runs it.
func New(cfg Config) (*Table, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 65536
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	t := &Table{cfg: cfg, flows: map[uint32]*entry{}, deny: map[deniedKey]*deniedEntry{}, kick: make(chan struct{}, 1)}
	var err error
	if cfg.NetNS.IsOpen() {
		var fd int
		fd, err = unix.FcntlInt(uintptr(cfg.NetNS), unix.F_DUPFD_CLOEXEC, 0)
		t.ns = netns.NsHandle(fd)
	} else {
		t.ns, err = netns.Get()
	}
	if err != nil {
		return nil, fmt.Errorf("flows: namespace: %w", err)
	}
	return t, nil
}

// OnExport sets the exporter.
func (t *Table) OnExport(fn func([]Record)) {
	t.mu.Lock()
	t.export = fn
	t.mu.Unlock()
}

// Stats returns the counters of the table.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Active = uint64(len(t.flows) + len(t.deny))
	return s
}

// Snapshot returns the active flows and the closed ones not yet exported.
func (t *Table) Snapshot() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Record, 0, len(t.flows)+len(t.closed))
	for _, e := range t.flows {
		out = append(out, e.rec)
	}
	for _, e := range t.deny {
		out = append(out, e.rec)
	}
	out = append(out, t.closed...)
	slices.SortFunc(out, func(a, b Record) int {
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		return a.Teardown.Compare(b.Teardown)
	})
	return out
}

// Refresh asks for a dump of the conntrack table soon (after the fast
// path was flushed, to offer it the flows again).
func (t *Table) Refresh() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Wait returns when the goroutines of Start have ended.
func (t *Table) Wait() { t.wg.Wait() }

// Start turns accounting on, loads the current flows and follows the
// kernel until ctx ends.
func (t *Table) Start(ctx context.Context) error {
	for _, kv := range [][2]string{{"net/netfilter/nf_conntrack_acct", "1"}, {"net/netfilter/nf_conntrack_timestamp", "1"}} {
		if err := t.sysctl(kv[0], kv[1]); err != nil {
			return fmt.Errorf("flows: %w", err)
		}
	}
	dump, err := conntrack.Dial(&mdnetlink.Config{NetNS: int(t.ns)})
	if err != nil {
		return fmt.Errorf("flows: conntrack: %w", err)
	}
	ev, evErr, listen, err := t.listen()
	if err != nil {
		dump.Close()
		return err
	}
	if err := t.resync(dump); err != nil {
		dump.Close()
		listen.Close()
		return err
	}
	if g := t.cfg.DenyLogGroup; g != 0 {
		nl, err := t.openNFLog(g)
		if err != nil {
			dump.Close()
			listen.Close()
			return err
		}
		t.wg.Add(2)
		go func() { defer t.wg.Done(); t.readNFLog(nl) }()
		go func() { defer t.wg.Done(); <-ctx.Done(); nl.Close() }()
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer dump.Close()
		defer func() { listen.Close() }()
		defer t.ns.Close()
		tick := time.NewTicker(t.cfg.Refresh)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-ev:
				t.event(e)
			case err := <-evErr:
				t.cfg.Log.Warn("flows: event socket failed; reopening", "err", err)
				listen.Close()
				for {
					ev, evErr, listen, err = t.listen()
					if err == nil {
						break
					}
					t.cfg.Log.Warn("flows: reopen event socket", "err", err)
					select {
					case <-ctx.Done():
						listen = nopCloser{}
						return
					case <-time.After(time.Second):
					}
				}
				t.mu.Lock()
				t.stats.Resyncs++
				t.mu.Unlock()
				if err := t.resync(dump); err != nil {
					t.cfg.Log.Warn("flows: resync", "err", err)
				}
			case <-t.kick:
				if err := t.resync(dump); err != nil {
					t.cfg.Log.Warn("flows: refresh", "err", err)
				}
			case <-tick.C:
				if err := t.resync(dump); err != nil {
					t.cfg.Log.Warn("flows: refresh", "err", err)
				}
				t.exportChanged()
			}
		}
	}()
	return nil
}

type closer interface{ Close() error }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func (t *Table) listen() (chan conntrack.Event, chan error, closer, error) {
	c, err := conntrack.Dial(&mdnetlink.Config{NetNS: int(t.ns)})
	if err != nil {
		return nil, nil, nopCloser{}, fmt.Errorf("flows: conntrack events: %w", err)
	}
	_ = c.SetReadBuffer(8 << 20)
	ev := make(chan conntrack.Event, 4096)
	groups := []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTDestroy}
	if t.cfg.Offload != nil {
		// state changes: a connection becoming established, or closing
		groups = append(groups, netfilter.GroupCTUpdate)
	}
	errs, err := c.Listen(ev, 1, groups)
	if err != nil {
		c.Close()
		return nil, nil, nopCloser{}, fmt.Errorf("flows: listen: %w", err)
	}
	return ev, errs, c, nil
}

// sysctl writes /proc/sys/<key> inside the namespace.
func (t *Table) sysctl(key, val string) error { return nsrun.Sysctl(t.ns, key, val) }

// record converts a conntrack flow; ok is false for flows the table does
// not keep.
func (t *Table) record(f *conntrack.Flow) (Record, bool) {
	r := Record{
		ID:       f.ID,
		Proto:    f.TupleOrig.Proto.Protocol,
		Src:      netip.AddrPortFrom(f.TupleOrig.IP.SourceAddress, f.TupleOrig.Proto.SourcePort),
		Dst:      netip.AddrPortFrom(f.TupleOrig.IP.DestinationAddress, f.TupleOrig.Proto.DestinationPort),
		ReplySrc: netip.AddrPortFrom(f.TupleReply.IP.SourceAddress, f.TupleReply.Proto.SourcePort),
		ReplyDst: netip.AddrPortFrom(f.TupleReply.IP.DestinationAddress, f.TupleReply.Proto.DestinationPort),
		Setup:    f.Timestamp.Start,
		Mark:     f.Mark,
		Action:   "pass",
	}
	setCounters(&r, f, Counter{}, Counter{})
	ok := t.cfg.All
	if t.cfg.Resolve != nil && f.Mark != 0 {
		var resolved bool
		r.Port, r.VN, r.RuleUUID, resolved = t.cfg.Resolve(f.Mark)
		ok = ok || resolved
	} else if t.cfg.Resolve == nil && f.Mark != 0 {
		ok = true
	}
	return r, ok
}

func (t *Table) event(e conntrack.Event) {
	if e.Flow == nil {
		return
	}
	var fastO, fastR Counter
	if off := t.cfg.Offload; off != nil {
		switch e.Type {
		case conntrack.EventUpdate:
			off.Offer(e.Flow)
			return
		case conntrack.EventDestroy:
			fastO, fastR = off.Gone(e.Flow.ID)
		}
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Type {
	case conntrack.EventNew:
		if _, ok := t.flows[e.Flow.ID]; ok {
			return
		}
		r, ok := t.record(e.Flow)
		if !ok {
			return
		}
		if r.Setup.IsZero() {
			r.Setup = now
		}
		t.add(r)
	case conntrack.EventDestroy:
		en, ok := t.flows[e.Flow.ID]
		if !ok {
			return
		}
		r := &en.rec
		if e.Flow.CountersOrig.Packets > 0 || e.Flow.CountersReply.Packets > 0 {
			setCounters(r, e.Flow, fastO, fastR)
		} else if fastO.Packets > 0 || fastR.Packets > 0 {
			r.Packets, r.Bytes = r.Packets+fastO.Packets, r.Bytes+fastO.Bytes
			r.ReplyPackets, r.ReplyBytes = r.ReplyPackets+fastR.Packets, r.ReplyBytes+fastR.Bytes
		}
		r.Teardown = e.Flow.Timestamp.Stop
		if r.Teardown.IsZero() {
			r.Teardown = now
		}
		t.close(e.Flow.ID)
	}
}

// add keeps a new record unless the table is full. Called locked.
func (t *Table) add(r Record) {
	if len(t.flows)+len(t.deny) >= t.cfg.MaxFlows {
		t.stats.Dropped++
		return
	}
	t.flows[r.ID] = &entry{rec: r, changed: true}
	t.stats.Created++
}

// close moves a record to the closed list. Called locked.
func (t *Table) close(id uint32) {
	en := t.flows[id]
	delete(t.flows, id)
	t.closed = append(t.closed, en.rec)
	t.stats.Closed++
	// Without an exporter nobody takes closed records: keep a bounded tail.
	if t.export == nil && len(t.closed) > t.cfg.MaxFlows {
		t.closed = slices.Delete(t.closed, 0, len(t.closed)-t.cfg.MaxFlows)
	}
}

// setCounters sets the record's counters from conntrack's plus the fast
// path's.
func setCounters(r *Record, f *conntrack.Flow, fastO, fastR Counter) {
	r.Packets, r.Bytes = f.CountersOrig.Packets+fastO.Packets, f.CountersOrig.Bytes+fastO.Bytes
	r.ReplyPackets, r.ReplyBytes = f.CountersReply.Packets+fastR.Packets, f.CountersReply.Bytes+fastR.Bytes
}

// resync dumps the conntrack table: counters of known flows, flows whose
// NEW event was missed, and flows gone without a DESTROY event.
func (t *Table) resync(c *conntrack.Conn) error {
	flows, err := c.Dump(nil)
	if err != nil {
		return fmt.Errorf("flows: dump: %w", err)
	}
	now := time.Now()
	off := t.cfg.Offload
	if off != nil {
		for i := range flows {
			off.Offer(&flows[i])
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := make(map[uint32]bool, len(flows))
	for i := range flows {
		f := &flows[i]
		seen[f.ID] = true
		if en, ok := t.flows[f.ID]; ok {
			r := &en.rec
			var fo, fr Counter
			if off != nil {
				fo, fr, _ = off.Counters(f.ID)
			}
			p0, rp0 := r.Packets, r.ReplyPackets
			setCounters(r, f, fo, fr)
			if r.Packets != p0 || r.ReplyPackets != rp0 {
				en.changed = true
			}
			continue
		}
		if r, ok := t.record(f); ok {
			if r.Setup.IsZero() {
				r.Setup = now
			}
			t.add(r)
		}
	}
	for id, en := range t.flows {
		if !seen[id] {
			if off != nil {
				// a DESTROY event was missed; the record keeps the
				// counters of the last look
				off.Gone(id)
			}
			en.rec.Teardown = now
			t.close(id)
		}
	}
	t.ageDenied(now)
	return nil
}

// exportChanged hands the exporter what changed since the last call.
func (t *Table) exportChanged() {
	t.mu.Lock()
	fn := t.export
	if fn == nil {
		t.mu.Unlock()
		return
	}
	var out []Record
	for _, en := range t.flows {
		if en.changed {
			out = append(out, en.rec)
			en.changed = false
		}
	}
	for _, e := range t.deny {
		if e.last.After(e.exported) {
			out = append(out, e.rec)
			e.exported = e.last
		}
	}
	out = append(out, t.closed...)
	t.closed = nil
	t.mu.Unlock()
	if len(out) > 0 {
		fn(out)
	}
}
