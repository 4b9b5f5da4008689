package dataplane

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// ensureSysctl sets /proc/sys/<key> to value inside ns and reports whether
// it had to change it. /proc/sys/net shows the namespace of the thread that
// opens it, so the work runs on a locked thread switched into ns. If the
// thread cannot be switched back it is left locked, and Go discards it when
// the goroutine exits.
func ensureSysctl(ns netns.NsHandle, key, value string) (bool, error) {
	type result struct {
		changed bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("sysctl %s: current namespace: %w", key, err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("sysctl %s: enter namespace: %w", key, err)}
			return
		}
		changed, err := setFile("/proc/sys/"+key, value)
		if err != nil {
			err = fmt.Errorf("sysctl %s: %w", strings.ReplaceAll(key, "/", "."), err)
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{changed, err}
	}()
	r := <-done
	return r.changed, r.err
}

func setFile(path, value string) (bool, error) {
	cur, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(cur)) == value {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return false, err
	}
	return true, nil
}
