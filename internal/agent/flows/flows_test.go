// SPDX-License-Identifier: Apache-2.0

package flows

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/contrail-go/contrail/internal/agent/security"
	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

// TestFlowRecords runs TCP through a port protected by the security
// package and checks the records: 5-tuple, counters in both directions,
// the port and rule from the connection mark, and teardown.
func TestFlowRecords(t *testing.T) {
	nstest.NeedRoot(t)
	host, vm1, vm2 := nstest.New(t, "host"), nstest.New(t, "vm1"), nstest.New(t, "vm2")
	host.Veth(t, "tap1", "10.0.1.1/24", vm1, "eth0", "10.0.1.2/24")
	host.Veth(t, "tap2", "10.0.2.1/24", vm2, "eth0", "10.0.2.2/24")
	vm1.Route(t, "0.0.0.0/0", "10.0.1.1", "", 0)
	vm2.Route(t, "0.0.0.0/0", "10.0.2.1", "", 0)
	host.Sysctl(t, "net.ipv4.ip_forward", "1")
	// Short TCP timeouts after close, so DESTROY comes quickly.
	for _, k := range []string{"time_wait", "close", "fin_wait", "close_wait", "last_ack"} {
		host.Sysctl(t, "net.netfilter.nf_conntrack_tcp_timeout_"+k, "1")
	}
	vm2.Listen(t, 8080)

	fw, err := security.New(nil, security.WithNetNS(host.NS), security.WithDenyLog(7))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	st := security.State{Ports: []security.Port{
		{Name: "tap2", VN: "d:p:blue", PolicyEnabled: true, HasSGs: true, SGRules: []security.Rule{
			{UUID: "eg-all", Protocol: -1, Dst: security.Endpoint{Any: true}, Action: security.Pass},
			{UUID: "in-8080", Ingress: true, Protocol: 6, Src: security.Endpoint{Any: true}, DstPorts: security.PortRange{Min: 8080, Max: 8080}, Action: security.Pass},
		}},
	}}
	if err := fw.Reconcile(context.Background(), st); err != nil {
		t.Fatal(err)
	}

	tab, err := New(Config{NetNS: host.NS, Resolve: fw.Resolve, Refresh: 200 * time.Millisecond, MaxFlows: 100, DenyLogGroup: 7})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var exported []Record
	tab.OnExport(func(rs []Record) {
		mu.Lock()
		exported = append(exported, rs...)
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); tab.Wait() }()
	if err := tab.Start(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := vm1.Dial("10.0.2.2", 8080, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := nstest.Echo(c); err != nil {
			t.Fatal(err)
		}
	}
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	find := func(rs []Record, closed bool) *Record {
		for i := range rs {
			r := &rs[i]
			if r.Src == local && r.Dst == netip.MustParseAddrPort("10.0.2.2:8080") && r.Active() != closed {
				return r
			}
		}
		return nil
	}
	var rec *Record
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if r := find(tab.Snapshot(), false); r != nil && r.Packets >= 6 && r.ReplyPackets >= 6 {
			rec = r
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec == nil {
		t.Fatalf("no active record with counters for %v: %+v", local, tab.Snapshot())
	}
	if rec.Proto != 6 || rec.Port != "tap2" || rec.VN != "d:p:blue" || rec.RuleUUID != "in-8080" || rec.Action != "pass" {
		t.Errorf("record: %+v", *rec)
	}
	if rec.Bytes == 0 || rec.ReplyBytes == 0 || rec.Setup.IsZero() {
		t.Errorf("record without bytes or setup time: %+v", *rec)
	}
	if rec.ReplySrc != netip.MustParseAddrPort("10.0.2.2:8080") || rec.ReplyDst != local {
		t.Errorf("reply tuple: %+v", *rec)
	}

	// A connection the firewall refuses gets a deny record (nflog), not a
	// conntrack one.
	if vm1.CanConnect("10.0.2.2", 9090) {
		t.Fatal("tcp 9090 passed")
	}
	var deny *Record
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && deny == nil; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		all := append(tab.Snapshot(), exported...)
		mu.Unlock()
		for i := range all {
			if all[i].Dst == netip.MustParseAddrPort("10.0.2.2:9090") {
				deny = &all[i]
			}
		}
	}
	if deny == nil {
		t.Fatalf("no record of the denied connection: %+v", tab.Snapshot())
	}
	if deny.Action != "deny" || deny.Port != "tap2" || deny.Proto != 6 || deny.Packets == 0 || deny.Bytes == 0 || deny.Src.Addr() != netip.MustParseAddr("10.0.1.2") {
		t.Errorf("deny record: %+v", *deny)
	}

	c.Close()
	var closed *Record
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && closed == nil {
		mu.Lock()
		closed = find(exported, true)
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
	if closed == nil {
		t.Fatalf("no exported teardown record; snapshot %+v", tab.Snapshot())
	}
	if closed.Teardown.Before(closed.Setup) || closed.Packets < rec.Packets || closed.RuleUUID != "in-8080" {
		t.Errorf("teardown record: %+v", *closed)
	}
	for _, r := range tab.Snapshot() {
		if r.Dst.Port() == 9090 && r.Action != "deny" {
			t.Errorf("pass record of a denied connection: %+v", r)
		}
	}
	if s := tab.Stats(); s.Created == 0 || s.Closed == 0 {
		t.Errorf("stats: %+v", s)
	}
}

// TestBounded checks that the table keeps at most MaxFlows records and
// counts the others as dropped.
func TestBounded(t *testing.T) {
	host, _ := trackedHost(t)
	tab, err := New(Config{NetNS: host.NS, All: true, MaxFlows: 3, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); tab.Wait() }()
	if err := tab.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		c, err := host.Dial("10.0.1.2", 8080, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && tab.Stats().Dropped < 3 {
		time.Sleep(50 * time.Millisecond)
	}
	if s := tab.Stats(); s.Active != 3 || s.Dropped < 3 {
		t.Fatalf("stats: %+v", s)
	}
}

// fakeOffload records what the table tells a fast path and claims fixed
// counters for every flow it was offered once established.
type fakeOffload struct {
	mu      sync.Mutex
	offered map[uint32]bool
	gone    map[uint32]bool
}

var fakeCount = Counter{Packets: 1000, Bytes: 1_000_000}

func (f *fakeOffload) Offer(fl *conntrack.Flow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl.ProtoInfo.TCP != nil && fl.ProtoInfo.TCP.State == 3 {
		f.offered[fl.ID] = true
	}
}

func (f *fakeOffload) Gone(id uint32) (Counter, Counter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gone[id] = true
	if f.offered[id] {
		return fakeCount, fakeCount
	}
	return Counter{}, Counter{}
}

func (f *fakeOffload) Counters(id uint32) (Counter, Counter, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.offered[id] {
		return fakeCount, fakeCount, true
	}
	return Counter{}, Counter{}, false
}

// TestOffloadHooks: an established connection is offered to the fast path
// from conntrack's state-change event (no dump needed: the refresh is an
// hour), its counters are added to the record's, and its end is reported
// to the fast path, whose counters the teardown record carries.
func TestOffloadHooks(t *testing.T) {
	host, _ := trackedHost(t)
	for _, k := range []string{"time_wait", "close", "fin_wait", "close_wait", "last_ack"} {
		host.Sysctl(t, "net.netfilter.nf_conntrack_tcp_timeout_"+k, "1")
	}
	off := &fakeOffload{offered: map[uint32]bool{}, gone: map[uint32]bool{}}
	tab, err := New(Config{NetNS: host.NS, All: true, Refresh: time.Hour, Offload: off})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); tab.Wait() }()
	if err := tab.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := host.Dial("10.0.1.2", 8080, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := nstest.Echo(c); err != nil {
		t.Fatal(err)
	}
	var id uint32
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && id == 0; time.Sleep(20 * time.Millisecond) {
		off.mu.Lock()
		for k := range off.offered {
			id = k
		}
		off.mu.Unlock()
	}
	if id == 0 {
		t.Fatal("the established connection was not offered from its update event")
	}
	tab.Refresh() // a dump: the record's counters now include the fast path's
	var rec *Record
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && rec == nil; time.Sleep(20 * time.Millisecond) {
		for _, r := range tab.Snapshot() {
			if r.ID == id && r.Packets > fakeCount.Packets && r.Bytes > fakeCount.Bytes {
				rec = &r
			}
		}
	}
	if rec == nil {
		t.Fatalf("record without the fast path's counters: %+v", tab.Snapshot())
	}
	c.Close()
	var closed *Record
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && closed == nil; time.Sleep(100 * time.Millisecond) {
		tab.Refresh()                      // a dump leaves out expired entries the GC has not reaped
		for _, r := range tab.Snapshot() { // closed records stay until exported
			if r.ID == id && !r.Active() {
				closed = &r
			}
		}
	}
	if closed == nil {
		t.Fatal("no teardown record")
	}
	off.mu.Lock()
	gone := off.gone[id]
	off.mu.Unlock()
	if !gone {
		t.Error("the fast path was not told the flow ended")
	}
	if closed.Packets <= fakeCount.Packets || closed.ReplyPackets <= fakeCount.Packets {
		t.Errorf("teardown record without the fast path's counters: %+v", *closed)
	}
}

// trackedHost is a host namespace with conntrack on and a VM listening on
// TCP 8080 at 10.0.1.2 behind tap1.
func trackedHost(t *testing.T) (host, vm *nstest.NS) {
	t.Helper()
	nstest.NeedRoot(t)
	host, vm = nstest.New(t, "host"), nstest.New(t, "vm1")
	host.Veth(t, "tap1", "10.0.1.1/24", vm, "eth0", "10.0.1.2/24")
	vm.Listen(t, 8080)
	// Conntrack runs in a namespace once a hook needs it: the firewall's
	// table (empty state) does.
	fw, err := security.New(nil, security.WithNetNS(host.NS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	if err := fw.Reconcile(context.Background(), security.State{}); err != nil {
		t.Fatal(err)
	}
	return host, vm
}
