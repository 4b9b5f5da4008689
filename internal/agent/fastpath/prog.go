// SPDX-License-Identifier: Apache-2.0

package fastpath

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Layout of a flow key, as the program builds it on its stack from the
// packet: the ingress ifindex in host order, then the addresses and ports
// as they are on the wire, then the IP protocol and three zero bytes.
const (
	keySize   = 20
	valueSize = 40

	// value offsets
	valOutIfindex = 0  // u32, host order
	valMTU        = 4  // u32, the output device's MTU
	valDstMAC     = 8  // 6 bytes, then the source MAC
	valSrcMAC     = 14 // 6 bytes
	valCTID       = 20 // u32, the conntrack id the entry belongs to
	valPackets    = 24 // u64, added to atomically
	valBytes      = 32 // u64
)

// __sk_buff field offsets (include/uapi/linux/bpf.h).
const (
	skbLen     = 0
	skbIfindex = 40
	skbData    = 76
	skbDataEnd = 80
	skbGSOSize = 176
)

// Offsets in an Ethernet + option-less IPv4 + TCP/UDP frame.
const (
	offEthType    = 12
	offVerIHL     = 14
	offFrag       = 20
	offTTL        = 22
	offProto      = 23
	offIPCsum     = 24
	offSrc        = 26
	offDst        = 30
	offPorts      = 34
	offTCPDataOff = 46
	offTCPFlags   = 47
	minUDP        = 42 // through the UDP ports
	minTCP        = 48 // through the TCP flags
)

// Return codes of a tcx program.
const (
	tcxNext = -1 // not ours: the next program, or the stack
)

// program builds the classifier run at tcx ingress of every port and
// tunnel device. For an IPv4 TCP or UDP packet whose 5-tuple (with the
// device it came in on) is in flows it does what the kernel's forwarding
// would have done for the flow: rewrites the MACs to those of the next
// hop, decrements the TTL (fixing the header checksum), counts the packet
// and hands it to the egress of the flow's output device. Everything else
// (unknown flows, TCP SYN/FIN/RST, fragments, IP options, TTL <= 1, short
// linear data, packets over the output device's MTU) is left to the stack: routing, nftables and conntrack see
// it as before.
func program(flows *ebpf.Map) asm.Instructions {
	const (
		rCtx   = asm.R6
		rProto = asm.R7
		rVal   = asm.R8
	)
	return asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(asm.R2, rCtx, skbData, asm.Word),
		asm.LoadMem(asm.R3, rCtx, skbDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, minUDP),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		// EtherType IPv4 (loaded in host order: 0x0800 reads 0x0008)
		asm.LoadMem(asm.R5, asm.R2, offEthType, asm.Half),
		asm.JNE.Imm(asm.R5, 0x0008, "pass"),
		// version 4, header length 20
		asm.LoadMem(asm.R5, asm.R2, offVerIHL, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		// not a fragment: MF and the offset are zero
		asm.LoadMem(asm.R5, asm.R2, offFrag, asm.Half),
		asm.And.Imm(asm.R5, 0xff3f),
		asm.JNE.Imm(asm.R5, 0, "pass"),
		// a TTL the forwarding may decrement
		asm.LoadMem(asm.R5, asm.R2, offTTL, asm.Byte),
		asm.JLE.Imm(asm.R5, 1, "pass"),
		asm.LoadMem(rProto, asm.R2, offProto, asm.Byte),
		asm.JEq.Imm(rProto, 17, "key"),
		asm.JNE.Imm(rProto, 6, "pass"),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, minTCP),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		// SYN, FIN and RST go through conntrack
		asm.LoadMem(asm.R5, asm.R2, offTCPFlags, asm.Byte),
		asm.And.Imm(asm.R5, 0x07),
		asm.JNE.Imm(asm.R5, 0, "pass"),

		asm.LoadMem(asm.R5, rCtx, skbIfindex, asm.Word).WithSymbol("key"),
		asm.StoreMem(asm.RFP, -24, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, offSrc, asm.Word),
		asm.StoreMem(asm.RFP, -20, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, offDst, asm.Word),
		asm.StoreMem(asm.RFP, -16, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, offPorts, asm.Word),
		asm.StoreMem(asm.RFP, -12, asm.R5, asm.Word),
		asm.StoreMem(asm.RFP, -8, rProto, asm.Word),
		asm.LoadMapPtr(asm.R1, flows.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -24),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(rVal, asm.R0),

		// the helper call clobbered the packet pointers
		asm.LoadMem(asm.R2, rCtx, skbData, asm.Word),
		asm.LoadMem(asm.R3, rCtx, skbDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, minUDP),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),

		// Too big for the output device: the stack answers with ICMP
		// "fragmentation needed", as IP forwarding does. A GSO packet is
		// judged by its segments: gso_size plus the IP and L4 headers.
		asm.LoadMem(asm.R1, rCtx, skbGSOSize, asm.Word),
		asm.JEq.Imm(asm.R1, 0, "nogso"),
		asm.Add.Imm(asm.R1, 20+8),
		asm.JNE.Imm(rProto, 6, "mtu"),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, minTCP),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R4, asm.R2, offTCPDataOff, asm.Byte),
		asm.RSh.Imm(asm.R4, 4),
		asm.LSh.Imm(asm.R4, 2),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.Sub.Imm(asm.R1, 8),
		asm.Ja.Label("mtu"),
		asm.LoadMem(asm.R1, rCtx, skbLen, asm.Word).WithSymbol("nogso"),
		asm.Sub.Imm(asm.R1, 14),
		asm.LoadMem(asm.R4, rVal, valMTU, asm.Word).WithSymbol("mtu"),
		asm.JGT.Reg(asm.R1, asm.R4, "pass"),

		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(rVal, asm.R1, asm.DWord, valPackets),
		// bytes as conntrack counts them: from the IP header on
		asm.LoadMem(asm.R1, rCtx, skbLen, asm.Word),
		asm.Sub.Imm(asm.R1, 14),
		asm.AddAtomic.Mem(rVal, asm.R1, asm.DWord, valBytes),

		// destination and source MAC, 12 bytes
		asm.LoadMem(asm.R5, rVal, valDstMAC, asm.Word),
		asm.StoreMem(asm.R2, 0, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, rVal, valDstMAC+4, asm.Word),
		asm.StoreMem(asm.R2, 4, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, rVal, valDstMAC+8, asm.Word),
		asm.StoreMem(asm.R2, 8, asm.R5, asm.Word),

		// TTL - 1; the TTL is the low byte of the 16-bit word it shares
		// with the protocol, and was checked above to be >= 2
		asm.LoadMem(asm.R3, asm.R2, offTTL, asm.Half),
		asm.Mov.Reg(asm.R4, asm.R3),
		asm.Sub.Imm(asm.R4, 1),
		asm.StoreMem(asm.R2, offTTL, asm.R4, asm.Half),
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Imm(asm.R2, offIPCsum),
		asm.Mov.Imm(asm.R5, 2),
		asm.FnL3CsumReplace.Call(),

		asm.LoadMem(asm.R1, rVal, valOutIfindex, asm.Word),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),

		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("pass"),
		asm.Return(),
	}
}
