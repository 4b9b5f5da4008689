// SPDX-License-Identifier: Apache-2.0

//go:build linux

package bgp

import (
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setMD5 installs (or, with an empty key, removes) the TCP MD5 signature
// key (RFC 2385) for peer on the socket behind c.
func setMD5(c syscall.RawConn, peer netip.Addr, key string) error {
	if len(key) > unix.TCP_MD5SIG_MAXKEYLEN {
		return fmt.Errorf("bgp: md5 key longer than %d bytes", unix.TCP_MD5SIG_MAXKEYLEN)
	}
	var sig unix.TCPMD5Sig
	data := unsafe.Slice((*byte)(unsafe.Pointer(&sig.Addr.Data[0])), len(sig.Addr.Data))
	peer = peer.Unmap()
	if peer.Is4() {
		sig.Addr.Family = unix.AF_INET
		a := peer.As4()
		copy(data[2:6], a[:])
	} else {
		sig.Addr.Family = unix.AF_INET6
		a := peer.As16()
		copy(data[6:22], a[:])
	}
	sig.Keylen = uint16(len(key))
	copy(sig.Key[:], key)
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("bgp: set TCP_MD5SIG for %s: %w", peer, serr)
	}
	return nil
}
