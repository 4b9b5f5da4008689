// SPDX-License-Identifier: Apache-2.0

package transformer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/apiserver"
	"github.com/contrail-go/contrail/pkg/client"
)

// schemaProc is one `contrail schema` process.
type schemaProc struct {
	name       string
	cmd        *exec.Cmd
	introspect string
	out        *lockedBuffer
	done       chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (p *schemaProc) leader() (LeaderState, error) {
	var s LeaderState
	resp, err := http.Get("http://" + p.introspect + "/schema/leader")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// TestKillLeaderProcess runs two `contrail schema` processes on one etcd
// and API server, kills the leader with SIGKILL and checks that the other
// takes over within 10 s, that the dead leader's fence is refused and that
// the new leader derives what is created next.
func TestKillLeaderProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the contrail binary")
	}
	bin := filepath.Join(t.TempDir(), "contrail")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/contrail")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build contrail: %v\n%s", err, out)
	}
	e := newEnv(t)
	etcd := strings.Join(e.st.ClientURLs(), ",")
	startProc := func(name string) *schemaProc {
		p := &schemaProc{name: name, introspect: freeAddr(t), out: &lockedBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, "schema", "--etcd-endpoints", etcd, "--api-url", e.url,
			"--introspect", p.introspect, "--name", name, "--log-level", "info", "--gc-grace", "1s")
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			if t.Failed() {
				t.Logf("--- %s output:\n%s", name, p.out)
			}
		})
		return p
	}
	p1, p2 := startProc("p1"), startProc("p2")
	var leader, standby *schemaProc
	eventually(t, "one leader", 30*time.Second, func() error {
		s1, err1 := p1.leader()
		s2, err2 := p2.leader()
		if err1 != nil || err2 != nil {
			return fmt.Errorf("introspect: %v %v", err1, err2)
		}
		switch {
		case s1.Leader && s2.Leader:
			t.Fatal("two leaders")
		case s1.Leader:
			leader, standby = p1, p2
		case s2.Leader:
			leader, standby = p2, p1
		default:
			return fmt.Errorf("no leader yet")
		}
		return nil
	})
	e.project()
	e.mustCreate("virtual-network", vnBody("before", nil))
	eventually(t, "network derived", 20*time.Second, func() error {
		if len(e.riTargets("default-domain:test:before")) != 1 {
			return fmt.Errorf("no route target yet")
		}
		return nil
	})
	st, err := leader.leader()
	if err != nil || st.Fence == "" {
		t.Fatalf("leader state %+v: %v", st, err)
	}
	killed := time.Now()
	leader.cmd.Process.Signal(syscall.SIGKILL)
	<-leader.done
	eventually(t, "takeover", 15*time.Second, func() error {
		s, err := standby.leader()
		if err != nil {
			return err
		}
		if !s.Leader {
			return fmt.Errorf("standby not leader after %v", time.Since(killed))
		}
		return nil
	})
	took := time.Since(killed)
	t.Logf("takeover %v after SIGKILL of the leader (%s -> %s)", took.Round(time.Millisecond), leader.name, standby.name)
	if took > 10*time.Second {
		t.Fatalf("takeover took %v, want < 10s", took)
	}
	_, err = client.New(e.url, client.WithHeader(apiserver.FenceHeader, st.Fence)).
		Create(context.Background(), "virtual-network", vnBody("from-dead-leader", nil))
	if client.StatusCode(err) != http.StatusPreconditionFailed {
		t.Fatalf("write with the dead leader's fence: %v, want 412", err)
	}
	e.mustCreate("virtual-network", vnBody("after", nil))
	eventually(t, "network derived by the new leader", 20*time.Second, func() error {
		if len(e.riTargets("default-domain:test:after")) != 1 {
			return fmt.Errorf("no route target yet")
		}
		return nil
	})
	if s, _ := standby.leader(); s.CurrentLeader != standby.name || s.Terms != 1 {
		t.Fatalf("standby state after takeover: %+v", s)
	}
}
