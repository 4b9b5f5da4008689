// SPDX-License-Identifier: Apache-2.0

package fastpath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	mdnetlink "github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

// topo is a host namespace routing between two "VMs", with an nftables
// forward chain that marks every connection (as the agent's port chains
// do) and counts the packets it sees.
type topo struct {
	h, a, b *nstest.NS
	ct      *conntrack.Conn
	macA    net.HardwareAddr
	macB    net.HardwareAddr
}

func newTopo(t *testing.T) *topo {
	nstest.NeedRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: no nft command")
	}
	tp := &topo{h: nstest.New(t, "host"), a: nstest.New(t, "vma"), b: nstest.New(t, "vmb")}
	tp.h.Veth(t, "tapa", "10.1.0.254/24", tp.a, "eth0", "10.1.0.1/24")
	tp.h.Veth(t, "tapb", "10.2.0.254/24", tp.b, "eth0", "10.2.0.1/24")
	tp.a.DefaultVia(t, "10.1.0.254")
	tp.b.DefaultVia(t, "10.2.0.254")
	tp.h.Sysctl(t, "net/ipv4/ip_forward", "1")
	tp.h.Sysctl(t, "net/netfilter/nf_conntrack_acct", "1")
	tp.macA = tp.a.Link(t, "eth0").Attrs().HardwareAddr
	tp.macB = tp.b.Link(t, "eth0").Attrs().HardwareAddr
	ruleset := `table inet t {
	chain fw1 {
		type filter hook forward priority filter; policy accept;
		counter
		ct state established,related accept
		ct mark set 0x00100000
	}
}`
	if err := tp.h.In(func() error {
		c := exec.Command("nft", "-f", "-")
		c.Stdin = strings.NewReader(ruleset)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Logf("nft: %s", out)
		}
		return err
	}); err != nil {
		t.Fatalf("nft: %v", err)
	}
	ct, err := conntrack.Dial(&mdnetlink.Config{NetNS: int(tp.h.NS)})
	if err != nil {
		t.Fatalf("conntrack: %v", err)
	}
	t.Cleanup(func() { ct.Close() })
	tp.ct = ct
	return tp
}

// forwardCount reads the packet counter of the forward chain.
func (tp *topo) forwardCount(t *testing.T) string {
	var out []byte
	if err := tp.h.In(func() (err error) {
		out, err = exec.Command("nft", "list", "chain", "inet", "t", "fw1").CombinedOutput()
		return err
	}); err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "counter" && f[1] == "packets" {
			return f[2]
		}
	}
	t.Fatalf("no counter in %s", out)
	return ""
}

func (tp *topo) flowTo(t *testing.T, port uint16) conntrack.Flow {
	t.Helper()
	fs, err := tp.ct.Dump(nil)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	for _, f := range fs {
		if f.TupleOrig.Proto.DestinationPort == port && f.TupleOrig.IP.SourceAddress == netip.MustParseAddr("10.1.0.1") {
			return f
		}
	}
	t.Fatalf("no flow to port %d in %d flows", port, len(fs))
	return conntrack.Flow{}
}

func newPath(t *testing.T, tp *topo) *Path {
	needBPF(t)
	p, err := New(Config{NetNS: tp.h.NS})
	if err != nil {
		t.Fatalf("the kernel has eBPF, the fast path must load: %v", err)
	}
	t.Cleanup(p.Close)
	err = p.SetDevices([]Port{{Dev: "tapa", MAC: tp.macA, IP: netip.MustParseAddr("10.1.0.1")},
		{Dev: "tapb", MAC: tp.macB, IP: netip.MustParseAddr("10.2.0.1")}}, nil)
	if err != nil {
		t.Fatalf("SetDevices: %v", err)
	}
	if got := p.Devices(); len(got) != 0 {
		t.Fatalf("attached to %v before any flow", got)
	}
	return p
}

// TestTCPFlowBypassesTheStack: once an established connection is offered,
// its data moves through the program (the forward chain and conntrack
// stop counting it, the fast path's counters grow), intact; its FIN goes
// through conntrack, which then takes the flow out of the fast path.
func TestTCPFlowBypassesTheStack(t *testing.T) {
	tp := newTopo(t)
	p := newPath(t, tp)
	tp.b.Listen(t, 5001)
	c, err := tp.a.Dial("10.2.0.1", 5001, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := nstest.Echo(c); err != nil {
		t.Fatalf("echo before offload: %v", err)
	}
	f := tp.flowTo(t, 5001)
	if !eligible(&f) {
		t.Fatalf("established, marked flow not eligible: status %v mark %#x proto %+v", f.Status, f.Mark, f.ProtoInfo.TCP)
	}
	p.Offer(&f)
	if s := p.Stats(); s.Flows != 1 || s.Offloaded != 1 {
		t.Fatalf("after Offer: %+v", s)
	}
	if got := p.Devices(); len(got) != 2 || got[0] != "tapa" || got[1] != "tapb" {
		t.Fatalf("attached to %v, want the flow's two devices", got)
	}
	before := tp.forwardCount(t)
	ctBefore := f.CountersOrig.Packets + f.CountersReply.Packets

	payload := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	got := make([]byte, len(payload))
	for i := 0; i < 32; i++ {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(payload); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("round %d: data changed on the way", i)
		}
	}
	orig, reply, ok := p.Counters(f.ID)
	if !ok || orig.Packets == 0 || reply.Packets == 0 || orig.Bytes < 32*uint64(len(payload)) {
		t.Fatalf("fast path counters: orig %+v reply %+v ok %v", orig, reply, ok)
	}
	if after := tp.forwardCount(t); after != before {
		t.Errorf("forward chain counted packets of an offloaded flow: %s -> %s", before, after)
	}
	f2 := tp.flowTo(t, 5001)
	if n := f2.CountersOrig.Packets + f2.CountersReply.Packets; n != ctBefore {
		t.Errorf("conntrack counted packets of an offloaded flow: %d -> %d", ctBefore, n)
	}

	// Closing: the FIN goes through conntrack, the flow leaves ESTABLISHED
	// and Offer takes it out.
	c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		f3 := tp.flowTo(t, 5001)
		p.Offer(&f3)
		if p.Stats().Flows == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow still offloaded after close; conntrack state %+v", f3.ProtoInfo.TCP)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTTLAndUDP: an offloaded UDP flow still decrements the TTL as
// forwarding does (checked from the receiver), answers flow, and Gone
// returns the counters and removes the entries.
func TestTTLAndUDP(t *testing.T) {
	tp := newTopo(t)
	p := newPath(t, tp)
	var srv *net.UDPConn
	if err := tp.b.In(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 6000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteToUDP(buf[:n], from)
		}
	}()
	var cl *net.UDPConn
	if err := tp.a.In(func() (err error) {
		cl, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 2, 0, 1), Port: 6000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	roundTrip := func(msg string) {
		t.Helper()
		_ = cl.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := cl.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := cl.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("round trip %q: %q %v", msg, buf[:n], err)
		}
	}
	roundTrip("one")
	roundTrip("two") // a reply was seen: the flow is assured
	f := tp.flowTo(t, 6000)
	p.Offer(&f)
	if s := p.Stats(); s.Flows != 1 {
		t.Fatalf("UDP flow not offloaded: %+v (status %v)", s, f.Status)
	}
	before := tp.forwardCount(t)
	for i := 0; i < 10; i++ {
		roundTrip("fast")
	}
	// A flush (a rule or route changed) and the flow offered again: the
	// counts go on from where they were.
	p.Flush()
	if _, _, ok := p.Counters(f.ID); !ok {
		t.Error("flushed flow's counters forgotten")
	}
	f = tp.flowTo(t, 6000)
	p.Offer(&f)
	for i := 0; i < 10; i++ {
		roundTrip("fast")
	}
	if after := tp.forwardCount(t); after != before {
		t.Errorf("forward chain saw offloaded UDP packets: %s -> %s", before, after)
	}
	// The TTL of a reply as A receives it: 64 from B, minus one hop.
	rc, err := cl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) { _ = setRecvTTL(int(fd)) })
	_, _ = cl.Write([]byte("ttl"))
	ttl, err := readTTL(cl)
	if err != nil {
		t.Fatalf("reading the TTL: %v", err)
	}
	if ttl != 63 {
		t.Errorf("reply arrived with TTL %d, want 63 (one routed hop)", ttl)
	}
	// 20 datagrams of 4 bytes and one of 3 each way, counted from the IP
	// header on as conntrack counts: 28 bytes of headers each.
	orig, reply := p.Gone(f.ID)
	want := Counter{Packets: 21, Bytes: 20*32 + 31}
	if orig != want || reply != want {
		t.Errorf("Gone counters: orig %+v reply %+v, want %+v each", orig, reply, want)
	}
	if s := p.Stats(); s.Flows != 0 {
		t.Errorf("after Gone: %+v", s)
	}
	roundTrip("slow again")
	if after := tp.forwardCount(t); after == before {
		t.Errorf("forward chain did not see the flow after Gone")
	}
}

// TestNotOffloaded: flows the stack must keep.
func TestNotOffloaded(t *testing.T) {
	mk := func(mod func(f *conntrack.Flow)) conntrack.Flow {
		f := conntrack.NewFlow(6, conntrack.StatusAssured|conntrack.StatusSeenReply|conntrack.StatusConfirmed, netip.MustParseAddr("10.1.0.1"),
			netip.MustParseAddr("10.2.0.1"), 1000, 80, 100, 0x100000)
		f.TupleReply.IP.SourceAddress, f.TupleReply.IP.DestinationAddress = f.TupleOrig.IP.DestinationAddress, f.TupleOrig.IP.SourceAddress
		f.TupleReply.Proto.SourcePort, f.TupleReply.Proto.DestinationPort = 80, 1000
		f.TupleReply.Proto.Protocol = 6
		f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: tcpEstablished}
		if mod != nil {
			mod(&f)
		}
		return f
	}
	ok := mk(nil)
	if !eligible(&ok) {
		t.Fatal("the base flow should be eligible")
	}
	for name, mod := range map[string]func(f *conntrack.Flow){
		"no mark":      func(f *conntrack.Flow) { f.Mark = 0 },
		"no reply":     func(f *conntrack.Flow) { f.Status = conntrack.StatusConfirmed },
		"not assured":  func(f *conntrack.Flow) { f.Status = conntrack.StatusConfirmed | conntrack.StatusSeenReply },
		"syn sent":     func(f *conntrack.Flow) { f.ProtoInfo.TCP.State = 1 },
		"no tcp state": func(f *conntrack.Flow) { f.ProtoInfo.TCP = nil },
		"dnat":         func(f *conntrack.Flow) { f.Status |= conntrack.StatusDstNAT },
		"nat reply":    func(f *conntrack.Flow) { f.TupleReply.IP.SourceAddress = netip.MustParseAddr("10.9.9.9") },
		"icmp":         func(f *conntrack.Flow) { f.TupleOrig.Proto.Protocol = 1 },
		"ipv6": func(f *conntrack.Flow) {
			f.TupleOrig.IP.SourceAddress, f.TupleOrig.IP.DestinationAddress = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
		},
	} {
		f := mk(mod)
		if eligible(&f) {
			t.Errorf("%s: eligible", name)
		}
	}
}

func setRecvTTL(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1) }

// readTTL reads one datagram and returns the TTL it arrived with.
func readTTL(c *net.UDPConn) (int, error) {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	buf, oob := make([]byte, 64), make([]byte, 64)
	_, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		return 0, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TTL && len(m.Data) >= 4 {
			return int(binary.NativeEndian.Uint32(m.Data)), nil
		}
	}
	return 0, errors.New("no TTL in the control messages")
}

// TestUnresolvedCached: a flow with no path through the fast path (here
// its output device is not one of the fast path's) is resolved once, not
// on every dump, until a flush says the dataplane changed.
func TestUnresolvedCached(t *testing.T) {
	tp := newTopo(t)
	p := newPath(t, tp)
	if err := p.SetDevices([]Port{{Dev: "tapa", MAC: tp.macA, IP: netip.MustParseAddr("10.1.0.1")}}, nil); err != nil {
		t.Fatal(err)
	}
	tp.b.Listen(t, 5002)
	c, err := tp.a.Dial("10.2.0.1", 5002, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := nstest.Echo(c); err != nil {
		t.Fatal(err)
	}
	f := tp.flowTo(t, 5002)
	for range 3 {
		p.Offer(&f)
	}
	if s := p.Stats(); s.Skipped != 1 || s.Flows != 0 {
		t.Fatalf("after three offers of an unresolvable flow: %+v", s)
	}
	p.Flush()
	p.Offer(&f)
	if s := p.Stats(); s.Skipped != 2 {
		t.Fatalf("after a flush the flow is not looked at again: %+v", s)
	}
}
