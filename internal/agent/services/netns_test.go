// SPDX-License-Identifier: Apache-2.0

package services

import (
	"net"
	"testing"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

// veth links dev a in n to dev b in peer, both up; b gets MAC mac (if
// set).
func veth(t testing.TB, n *nstest.NS, a string, peer *nstest.NS, b string, mac net.HardwareAddr) {
	t.Helper()
	n.Pair(t, a, peer, b, 0)
	if mac != nil {
		peer.SetMAC(t, b, mac.String())
	}
	n.LinkUp(t, a)
	peer.LinkUp(t, b)
}
