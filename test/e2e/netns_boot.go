// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpclient"
)

// DHCPTimeout bounds how long a VM waits for its lease.
const DHCPTimeout = 20 * time.Second

// bootVM gives the VM its address the way a booting VM does: DHCP on eth0
// (internal/agent/services/dhcpclient, run inside the VM's namespace),
// which configures the address, the MTU and the routes of the lease.
func bootVM(ctx context.Context, vm *VM, p Port) (dhcpclient.Lease, error) {
	var lease dhcpclient.Lease
	err := vm.Do(func() (err error) {
		ctx, cancel := context.WithTimeout(ctx, DHCPTimeout)
		defer cancel()
		lease, err = dhcpclient.Acquire(ctx, "eth0", dhcpclient.Configure(), dhcpclient.Hostname(vm.Name))
		return err
	})
	if err != nil {
		return lease, fmt.Errorf("DHCP on %s (port %s, expecting %s): %w", vm.Full, p.Tap, p.IP, err)
	}
	return lease, nil
}

// BootVM is bootVM for the benchmark command.
func BootVM(ctx context.Context, vm *VM, p Port) (dhcpclient.Lease, error) { return bootVM(ctx, vm, p) }
