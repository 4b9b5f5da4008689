// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/testutil/nstest"
)

// TestSecondaryAddress: a port with two instance IPs is reachable at
// both from another host (both published, both routed to the port), and
// loses the second when its instance IP is deleted.
func TestSecondaryAddress(t *testing.T) {
	nstest.NeedRoot(t)
	c := newCluster(t)
	vn := c.network("vnm", "10.8.8.0/24")
	h1, h2 := c.twoHosts()
	p1, vmi1 := c.vmObjects("m1", vn)
	p1.ip = c.instanceIP("m1-ip", "", vn, vmi1)
	second := c.instanceIP("m1-ip2", "", vn, vmi1)
	c.routerRef("host1", p1.vm)
	p2 := c.vmPort("host2", "m2", vn)
	gw := "10.8.8.254"
	vmBox(t, h1, p1, "m1", gw)
	vmBox(t, h2, p2, "m2", gw)
	p1.box.Addr(t, "eth0", second+"/24")
	p1.box.Listen(t, 8080)
	h1.start(t, []string{c.addr}, t.TempDir())
	h2.start(t, []string{c.addr}, t.TempDir())
	waitFor(t, "agents synced", 10*time.Second, func() bool {
		return h1.agent.Status().ConfigSynced && h2.agent.Status().ConfigSynced
	})
	h1.addPortOK(t, portJSON(p1))
	h2.addPortOK(t, portJSON(p2))
	for _, ip := range []string{p1.ip, second} {
		waitFor(t, "m2 -> m1 at "+ip, 10*time.Second, func() bool { return p2.box.CanConnect(ip, 8080) })
	}
	// The second address goes: the route is withdrawn and the port's
	// route to it removed.
	id, err := c.api.FQNameToID(t.Context(), "instance-ip", []string{"m1-ip2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.api.Delete(t.Context(), "instance-ip", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m1's second address unreachable", 10*time.Second, func() bool { return !p2.box.CanConnect(second, 8080) })
	if !p2.box.CanConnect(p1.ip, 8080) {
		t.Error("m1's first address lost with the second")
	}
}
