// SPDX-License-Identifier: Apache-2.0

// Package nsutil runs code in a remembered network namespace.
package nsutil

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// NS is a network namespace remembered by handle.
type NS struct {
	h netns.NsHandle
}

// Current returns the namespace of the calling thread.
func Current() (*NS, error) {
	h, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("nsutil: current namespace: %w", err)
	}
	return &NS{h: h}, nil
}

// Handle returns the namespace handle; it stays owned by n.
func (n *NS) Handle() netns.NsHandle { return n.h }

// Do runs fn on an OS thread in n. Sockets fn opens belong to n for good;
// fn must not start goroutines that depend on the namespace.
func (n *NS) Do(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer cur.Close()
		if cur.Equal(n.h) {
			err = fn()
			runtime.UnlockOSThread()
			done <- err
			return
		}
		if err := netns.Set(n.h); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("nsutil: enter namespace: %w", err)
			return
		}
		err = fn()
		// A thread that cannot go back stays locked and dies with this
		// goroutine, so no other goroutine ever runs in the wrong place.
		if netns.Set(cur) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Close releases the handle.
func (n *NS) Close() error { return n.h.Close() }
