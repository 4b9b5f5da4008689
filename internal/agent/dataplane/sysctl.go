package dataplane

import (
	"fmt"
	"os"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/contrail-go/contrail/internal/agent/nsrun"
)

// sysctl is one /proc/sys/<key> value ("net/ipv4/ip_forward", "1").
type sysctl struct {
	key, value string
}

// ensureSysctls sets each /proc/sys/<key> to its value inside ns and
// returns those it had to change. It stops at the first error. /proc/sys/net
// shows the namespace of the thread that opens it, so the work runs on a
// thread switched into ns (nsrun).
func ensureSysctls(ns netns.NsHandle, want []sysctl) ([]sysctl, error) {
	if len(want) == 0 {
		return nil, nil
	}
	var changed []sysctl
	var werr error
	err := nsrun.Do(ns, func() error {
		for _, s := range want {
			ch, err := setFile("/proc/sys/"+s.key, s.value)
			if err != nil {
				werr = fmt.Errorf("sysctl %s: %w", strings.ReplaceAll(s.key, "/", "."), err)
				return nil
			}
			if ch {
				changed = append(changed, s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sysctl: namespace: %w", err)
	}
	return changed, werr
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
