// SPDX-License-Identifier: Apache-2.0

package control

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/contrail-go/contrail/internal/agent/controller"
	"github.com/contrail-go/contrail/internal/packet/xmpp"
	"github.com/contrail-go/contrail/pkg/client"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "control"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSTARTTLSSession(t *testing.T) {
	cert, pool := selfSigned(t)
	e := newEnv(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	ri := e.network("vn1")
	a := &agent{t: t, routes: map[string]map[string]xmpp.Entry{}, config: map[string]*xmpp.ConfigNode{},
		links: map[string]bool{}, notify: make(chan struct{}, 1)}
	c, err := controller.Dial(context.Background(), controller.Config{Server: e.addr, Name: "tls-agent",
		TLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}, a)
	if err != nil {
		t.Fatalf("TLS session: %v", err)
	}
	defer c.Close()
	a.c = c
	c.Subscribe(ri, 1)
	c.Publish(ri, vmRoute("10.1.1.3/32", "192.0.2.1", 17, "vn1"), false)
	a.waitFor("own route over TLS", func() bool { return a.route(ri, "10.1.1.3/32") != nil })

	// A client that does not do STARTTLS gets nothing.
	plain, err := controller.Dial(context.Background(), controller.Config{Server: e.addr, Name: "plain", HoldTime: 3 * time.Second}, a)
	if err == nil {
		plain.Subscribe(ri, 1)
		select {
		case <-plain.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("a session that skipped STARTTLS stayed up")
		}
	}
}

func TestHoldTimerClosesSilentAndSlowSessions(t *testing.T) {
	e := newEnv(t, Config{HoldTime: 2 * time.Second})
	// Silent after the stream open, and slowloris: a stanza that never ends.
	for _, drip := range []bool{false, true} {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write((&xmpp.StreamHeader{From: "slow", To: xmpp.ControlNodeJID}).Encode())
		start := time.Now()
		closed := make(chan struct{})
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := conn.Read(buf); err != nil {
					close(closed)
					return
				}
			}
		}()
		if drip {
			go func() {
				for _, b := range []byte("<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>") {
					if _, err := conn.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(300 * time.Millisecond)
				}
			}()
		}
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("drip=%v: session not closed by the hold timer", drip)
		}
		if d := time.Since(start); d < 1500*time.Millisecond {
			t.Errorf("drip=%v: closed after %v, before the hold time", drip, d)
		}
		conn.Close()
	}
}

func TestUnknownFamilyClosesSession(t *testing.T) {
	e := newEnv(t, Config{})
	ri := e.network("vn1")
	a := e.agent("odd")
	a.c.Subscribe(ri, 1)
	entry := vmRoute("10.1.1.3/32", "192.0.2.1", 17, "vn1")
	entry.NLRI.AF = 99
	a.c.Publish(ri, entry, false)
	select {
	case <-a.c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a publish of an unknown family did not close the session")
	}
}

func TestGracefulRestartKeepsRoutesOfALostAgent(t *testing.T) {
	e := newEnv(t, Config{GracefulRestart: 2 * time.Second})
	ri := e.network("vn1")
	watcher, flappy := e.agent("watcher"), e.agent("flappy")
	watcher.c.Subscribe(ri, 1)
	flappy.c.Subscribe(ri, 1)
	flappy.c.Publish(ri, vmRoute("10.1.1.5/32", "192.0.2.5", 17, "vn1"), false)
	flappy.c.Publish(ri, vmRoute("10.1.1.6/32", "192.0.2.5", 18, "vn1"), false)
	watcher.waitFor("routes", func() bool {
		return watcher.route(ri, "10.1.1.5/32") != nil && watcher.route(ri, "10.1.1.6/32") != nil
	})

	// The agent crashes and comes back within the restart time, resending
	// only one of its routes: that one stays throughout, the other is swept
	// at its End-of-RIB.
	flappy.c.Abort()
	time.Sleep(500 * time.Millisecond)
	watcher.mu.Lock()
	kept := watcher.route(ri, "10.1.1.5/32") != nil
	watcher.mu.Unlock()
	if !kept {
		t.Fatal("route of a restarting agent withdrawn before the graceful-restart time")
	}
	back := e.agent("flappy")
	back.c.Subscribe(ri, 1)
	back.c.Publish(ri, vmRoute("10.1.1.5/32", "192.0.2.5", 17, "vn1"), false)
	back.c.EndOfRib()
	watcher.waitFor("stale route swept at End-of-RIB", func() bool { return watcher.route(ri, "10.1.1.6/32") == nil })
	watcher.mu.Lock()
	if watcher.route(ri, "10.1.1.5/32") == nil {
		t.Error("resent route lost")
	}
	watcher.mu.Unlock()

	// An agent that does not come back loses its routes after the restart time.
	back.c.Abort()
	watcher.waitFor("routes withdrawn after the graceful-restart time", func() bool { return watcher.route(ri, "10.1.1.5/32") == nil })
}

func TestHoldTimeFromGlobalSystemConfig(t *testing.T) {
	e := newEnv(t, Config{HoldTime: 90 * time.Second})
	u, err := e.api.FQNameToID(context.Background(), "global-system-config", []string{"default-global-system-config"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.api.Update(context.Background(), "global-system-config", u, client.Object{
		"fast_convergence_parameters": map[string]any{"enable": true, "xmpp_hold_time": 2},
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.ctl.holdTime() != 2*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("hold time %v, want 2s from fast_convergence_parameters", e.ctl.holdTime())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A session that sends nothing after its stream open now ends after 2 s.
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write((&xmpp.StreamHeader{From: "quiet", To: xmpp.ControlNodeJID}).Encode())
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("session closed after %v, want about 2s", d)
	}
}

func TestFlappingAgentDoesNotStallOthers(t *testing.T) {
	e := newEnv(t, Config{})
	ri := e.network("vn1")
	pub, watch := e.agent("steady-1"), e.agent("steady-2")
	pub.c.Subscribe(ri, 1)
	watch.c.Subscribe(ri, 2)

	stop := make(chan struct{})
	flapped := make(chan int)
	go func() {
		n := 0
		defer func() { flapped <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := controller.Dial(context.Background(), controller.Config{Server: e.addr, Name: "flappy"}, &agent{
				t: t, routes: map[string]map[string]xmpp.Entry{}, config: map[string]*xmpp.ConfigNode{}, links: map[string]bool{}, notify: make(chan struct{}, 1)})
			if err != nil {
				continue
			}
			c.Subscribe(ri, 3)
			var entries []xmpp.Entry
			for i := 0; i < 20; i++ {
				entries = append(entries, vmRoute(fmt.Sprintf("10.9.0.%d/32", i+1), "192.0.2.9", uint32(100+i), "vn1"))
			}
			c.PublishMany(ri, entries, false)
			c.Abort()
			n++
		}
	}()
	for i := 0; i < 30; i++ {
		prefix := fmt.Sprintf("10.1.2.%d/32", i+1)
		pub.c.Publish(ri, vmRoute(prefix, "192.0.2.1", uint32(17+i), "vn1"), false)
		watch.waitFor("steady route while another agent flaps", func() bool { return watch.route(ri, prefix) != nil })
	}
	close(stop)
	if n := <-flapped; n < 5 {
		t.Fatalf("the flapping agent only connected %d times", n)
	}
	watch.waitFor("the flapping agent's routes are gone", func() bool {
		for i := 0; i < 20; i++ {
			if watch.route(ri, fmt.Sprintf("10.9.0.%d/32", i+1)) != nil {
				return false
			}
		}
		return true
	})
}
