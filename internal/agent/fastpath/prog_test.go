// SPDX-License-Identifier: Apache-2.0

package fastpath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The program is run on packets through BPF_PROG_TEST_RUN (no devices
// needed) and checked against this model of it, written from the
// packet formats rather than from the instructions.

const (
	testMTU       = 1000
	tcActRedirect = 7
	testIfindex   = 1 // a test run's packet comes in on the loopback device
)

var (
	testOut = flowValue(42, testMTU, net.HardwareAddr{2, 0, 0, 0, 0, 0xbb}, net.HardwareAddr{2, 0, 0, 0, 0, 0xaa}, 77)
	tcpKey  = flowKey(testIfindex, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), 40000, 5201, 6)
	udpKey  = flowKey(testIfindex, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), 5353, 7777, 17)
)

// frame builds Ethernet + IPv4 (valid checksum) + a TCP or UDP header.
func frame(proto uint8, ttl uint8, tcpFlags byte, payload int) []byte {
	l4 := 8
	if proto == 6 {
		l4 = 20
	}
	b := make([]byte, 14+20+l4+payload)
	copy(b[0:6], []byte{2, 1, 1, 1, 1, 1})
	copy(b[6:12], []byte{2, 2, 2, 2, 2, 2})
	b[12], b[13] = 0x08, 0x00
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)-14))
	ip[6] = 0x40 // DF
	ip[8], ip[9] = ttl, proto
	copy(ip[12:16], []byte{10, 1, 0, 1})
	copy(ip[16:20], []byte{10, 2, 0, 1})
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	l := b[34:]
	if proto == 6 {
		binary.BigEndian.PutUint16(l[0:], 40000)
		binary.BigEndian.PutUint16(l[2:], 5201)
		l[12] = 5 << 4
		l[13] = tcpFlags
	} else {
		binary.BigEndian.PutUint16(l[0:], 5353)
		binary.BigEndian.PutUint16(l[2:], 7777)
	}
	return b
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		if i == 10 {
			continue
		}
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// model says what the program must do with pkt given the map: whether it
// redirects (and where to) and the frame it leaves.
func model(pkt []byte, entries map[[keySize]byte][valueSize]byte) (redirect bool, oif uint32, out []byte) {
	out = bytes.Clone(pkt)
	if len(pkt) < minUDP || pkt[12] != 0x08 || pkt[13] != 0x00 || pkt[14] != 0x45 ||
		pkt[20]&0x3f != 0 || pkt[21] != 0 || pkt[22] <= 1 {
		return false, 0, out
	}
	proto := pkt[23]
	switch proto {
	case 17:
	case 6:
		if len(pkt) < minTCP || pkt[47]&0x07 != 0 {
			return false, 0, out
		}
	default:
		return false, 0, out
	}
	var k [keySize]byte
	binary.NativeEndian.PutUint32(k[0:], testIfindex)
	copy(k[4:16], pkt[26:38])
	k[16] = proto
	v, ok := entries[k]
	if !ok || len(pkt)-14 > int(binary.NativeEndian.Uint32(v[valMTU:])) {
		return false, 0, out
	}
	copy(out[0:12], v[valDstMAC:valDstMAC+12])
	// TTL - 1 and the header checksum updated incrementally (RFC 1624)
	oldW := binary.BigEndian.Uint16(pkt[22:])
	newW := oldW - 0x100
	binary.BigEndian.PutUint16(out[22:], newW)
	sum := uint32(^binary.BigEndian.Uint16(pkt[24:])) + uint32(^oldW) + uint32(newW)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(out[24:], ^uint16(sum))
	return true, binary.NativeEndian.Uint32(v[valOutIfindex:]), out
}

type progEnv struct {
	m       *ebpf.Map
	prog    *ebpf.Program
	entries map[[keySize]byte][valueSize]byte
}

func newProgEnv(tb testing.TB) *progEnv {
	tb.Helper()
	needBPF(tb)
	m, prog, err := load(16)
	if err != nil {
		tb.Fatal(err) // the kernel has BPF: the program must load
	}
	tb.Cleanup(func() { prog.Close(); m.Close() })
	e := &progEnv{m: m, prog: prog, entries: map[[keySize]byte][valueSize]byte{tcpKey: testOut, udpKey: testOut}}
	for k, v := range e.entries {
		if err := m.Put(k[:], v[:]); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

// check runs the program on pkt and compares verdict and frame with the
// model.
func (e *progEnv) check(tb testing.TB, pkt []byte) {
	tb.Helper()
	if len(pkt) < 14 || len(pkt) > 1500 {
		return // the kernel's test run needs an Ethernet header
	}
	out := make([]byte, len(pkt))
	ret, err := e.prog.Run(&ebpf.RunOptions{Data: pkt, DataOut: out})
	if errors.Is(err, unix.EINVAL) {
		return // a frame the kernel's test run refuses (an IPv4 header cut short)
	}
	if err != nil {
		tb.Fatalf("test run: %v", err)
	}
	wantRedirect, _, want := model(pkt, e.entries)
	switch {
	case wantRedirect && ret != tcActRedirect:
		tb.Fatalf("packet % x: verdict %d, want redirect", pkt, int32(ret))
	case !wantRedirect && int32(ret) != tcxNext:
		tb.Fatalf("packet % x: verdict %d, want pass (-1)", pkt, int32(ret))
	}
	if !bytes.Equal(out, want) {
		tb.Fatalf("packet % x\nleft as % x\nwant    % x", pkt, out, want)
	}
}

// TestProgram: matching TCP and UDP packets are rewritten and redirected
// (with valid header checksums and the counters moving as conntrack
// counts); everything the stack must see passes untouched.
func TestProgram(t *testing.T) {
	e := newProgEnv(t)
	tcp := frame(6, 64, 0x10, 100) // ACK with data
	e.check(t, tcp)
	out := make([]byte, len(tcp))
	if _, err := e.prog.Run(&ebpf.RunOptions{Data: tcp, DataOut: out}); err != nil {
		t.Fatal(err)
	}
	if out[22] != 63 || ipChecksum(out[14:34]) != binary.BigEndian.Uint16(out[24:]) {
		t.Errorf("TTL %d, checksum %#04x (valid %#04x)", out[22], binary.BigEndian.Uint16(out[24:]), ipChecksum(out[14:34]))
	}
	var v [valueSize]byte
	if err := e.m.Lookup(tcpKey[:], v[:]); err != nil {
		t.Fatal(err)
	}
	if p, b := binary.NativeEndian.Uint64(v[valPackets:]), binary.NativeEndian.Uint64(v[valBytes:]); p != 2 || b != 2*uint64(len(tcp)-14) {
		t.Errorf("counters after two runs: %d packets %d bytes, want 2 and %d", p, b, 2*(len(tcp)-14))
	}
	e.check(t, frame(17, 2, 0, 10))
	e.check(t, frame(17, 64, 0, testMTU-20-8)) // exactly the MTU
	for name, pkt := range map[string][]byte{
		"syn":       frame(6, 64, 0x02, 0),
		"fin":       frame(6, 64, 0x11, 0),
		"rst":       frame(6, 64, 0x04, 0),
		"ttl 1":     frame(17, 1, 0, 10),
		"fragment":  func() []byte { b := frame(17, 64, 0, 10); b[20] |= 0x20; return b }(),
		"options":   func() []byte { b := frame(17, 64, 0, 10); b[14] = 0x46; return b }(),
		"other":     func() []byte { b := frame(17, 64, 0, 10); b[29] = 9; return b }(),
		"arp":       func() []byte { b := frame(17, 64, 0, 10); b[13] = 0x06; return b }(),
		"short tcp": frame(6, 64, 0x10, 0)[:44],
		"short":     frame(17, 64, 0, 0)[:40],
		"over mtu":  frame(17, 64, 0, testMTU-20-8+1),
	} {
		t.Run(name, func(t *testing.T) {
			wantRedirect, _, _ := model(pkt, e.entries)
			if wantRedirect {
				t.Fatalf("the model redirects %s", name)
			}
			e.check(t, pkt)
		})
	}
}

// FuzzProgram runs the program on arbitrary frames: it must do exactly
// what the model says (redirect with the rewrite, or leave the frame be).
func FuzzProgram(f *testing.F) {
	f.Add(frame(6, 64, 0x10, 20))
	f.Add(frame(17, 64, 0, 4))
	f.Add(frame(6, 64, 0x02, 0))
	f.Add(frame(17, 1, 0, 4))
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		e := fuzzEnv(t)
		e.check(t, pkt)
	})
}

var fuzzShared *progEnv

// fuzzEnv loads the program once per process: the fuzzer calls the
// function many times.
func fuzzEnv(t *testing.T) *progEnv {
	if fuzzShared == nil {
		needBPF(t)
		m, prog, err := load(16)
		if err != nil {
			t.Fatal(err)
		}
		e := &progEnv{m: m, prog: prog, entries: map[[keySize]byte][valueSize]byte{tcpKey: testOut, udpKey: testOut}}
		for k, v := range e.entries {
			if err := m.Put(k[:], v[:]); err != nil {
				t.Fatal(err)
			}
		}
		fuzzShared = e
	}
	return fuzzShared
}

// needBPF skips where eBPF maps cannot be created at all (no root, no
// BPF syscall); a program that does not load where they can is a failure.
func needBPF(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipping: loading eBPF needs root")
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		tb.Skipf("skipping: no eBPF here: %v", err)
	}
	m.Close()
}
