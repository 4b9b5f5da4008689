package dataplane

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// sysctl is one /proc/sys/<key> value ("net/ipv4/ip_forward", "1").
type sysctl struct {
	key, value string
}

// ensureSysctls sets each /proc/sys/<key> to its value inside ns and
// returns those it had to change. It stops at the first error. /proc/sys/net
// shows the namespace of the thread that opens it, so the work runs on a
// locked thread switched into ns. If the thread cannot be switched back it
// is left locked, and Go discards it when the goroutine exits.
func ensureSysctls(ns netns.NsHandle, want []sysctl) ([]sysctl, error) {
	if len(want) == 0 {
		return nil, nil
	}
	type result struct {
		changed []sysctl
		err     error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("sysctl: current namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("sysctl: enter namespace: %w", err)}
			return
		}
		var r result
		for _, s := range want {
			changed, err := setFile("/proc/sys/"+s.key, s.value)
			if err != nil {
				r.err = fmt.Errorf("sysctl %s: %w", strings.ReplaceAll(s.key, "/", "."), err)
				break
			}
			if changed {
				r.changed = append(r.changed, s)
			}
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- r
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
