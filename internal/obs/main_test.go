// SPDX-License-Identifier: Apache-2.0

package obs

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if a test leaves a server, connection or
// check goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to d for goroutines that belong to this package
// or to net/http servers and clients to exit, and returns their stacks if
// some remain.
func leakedGoroutines(d time.Duration) string {
	suspicious := []string{
		"contrail/internal/obs.",
		"net/http.(*Server).Serve",
		"net/http.(*conn).serve",
		"net/http.(*persistConn)",
	}
	deadline := time.Now().Add(d)
	for {
		var bad []string
		for g := range strings.SplitSeq(allStacks(), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") || strings.Contains(g, "testing.(*M).Run") {
				continue
			}
			for _, s := range suspicious {
				if strings.Contains(g, s) {
					bad = append(bad, g)
					break
				}
			}
		}
		if len(bad) == 0 || time.Now().After(deadline) {
			return strings.Join(bad, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}
