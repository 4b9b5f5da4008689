// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package bgp

import (
	"errors"
	"net/netip"
	"syscall"
)

func setMD5(c syscall.RawConn, peer netip.Addr, key string) error {
	if key == "" {
		return nil
	}
	return errors.New("bgp: TCP MD5 signatures are only supported on Linux")
}
