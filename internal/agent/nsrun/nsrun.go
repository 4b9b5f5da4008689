// SPDX-License-Identifier: Apache-2.0

// Package nsrun runs code inside a network namespace: on an OS thread of
// its own, switched into the namespace and back. What is namespaced by the
// calling thread (sockets it opens, ifindexes in bpf(2) attach calls,
// /proc/sys/net) then refers to that namespace.
package nsrun

import (
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on a locked OS thread switched into ns; the zero or a closed
// handle runs it in the thread's own namespace. A thread that cannot be
// switched back is not returned to the runtime.
func Do(ns netns.NsHandle, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer home.Close()
		if ns > 0 {
			if err := netns.Set(ns); err != nil {
				runtime.UnlockOSThread()
				done <- err
				return
			}
		}
		err = fn()
		if netns.Set(home) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Sysctl writes /proc/sys/<key> (slash-separated) in ns.
func Sysctl(ns netns.NsHandle, key, val string) error {
	err := Do(ns, func() error { return os.WriteFile("/proc/sys/"+key, []byte(val), 0o644) })
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	return nil
}
