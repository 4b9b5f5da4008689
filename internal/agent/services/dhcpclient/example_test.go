// SPDX-License-Identifier: Apache-2.0

package dhcpclient_test

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/vishvananda/netns"

	"github.com/contrail-go/contrail/internal/agent/services/dhcpclient"
)

// Example boots a "VM" namespace the way the e2e tests do: lock the
// goroutine to a thread, switch the thread into the VM's namespace, get a
// lease for eth0 and configure it, switch back.
func Example() {
	vm, err := netns.GetFromName("vm1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer vm.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	home, _ := netns.Get()
	defer home.Close()
	if err := netns.Set(vm); err != nil {
		fmt.Println(err)
		return
	}
	defer netns.Set(home)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lease, err := dhcpclient.Acquire(ctx, "eth0", dhcpclient.Configure(), dhcpclient.Hostname("vm1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(lease.Addr, lease.Gateway, lease.DNS, lease.MTU, lease.Duration)
}
