// SPDX-License-Identifier: Apache-2.0

package control

import (
	"crypto/tls"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a control node.
type Config struct {
	// XMPPListen is the agents' address (default 0.0.0.0:5269; port 0 picks one).
	XMPPListen string
	// Hostname names this control node (its bgp-router object, later).
	Hostname string
	// HoldTime of XMPP sessions: a session that receives nothing for this
	// long is closed; keepalives are sent every HoldTime/3. 1s..90s.
	HoldTime time.Duration
	// Subcluster, when set, must equal the xmlns of an agent's stream.
	Subcluster string
	// TLS, when set, is offered with STARTTLS and required.
	TLS *tls.Config
	// MaxStanza bounds one stanza in bytes.
	MaxStanza int
	// GracefulRestart keeps a lost agent's routes (as stale) for this long
	// so that it can reconnect without traffic loss; 0 withdraws at once.
	GracefulRestart time.Duration
	// EndOfRibDelay is how long after its last subscription an agent gets
	// the End-of-RIB marker.
	EndOfRibDelay time.Duration
	// StartupEndOfRibDelay holds back every agent's End-of-RIB until this
	// long after the XMPP listener opened. After a restart of this node
	// the agents come back one by one; an agent that got its End-of-RIB
	// before the others republished would drop their stale routes and
	// lose traffic until they do (as BGP's selection deferral after a
	// restart). 0: no hold.
	StartupEndOfRibDelay time.Duration
	// BGPListen is the BGP address: "" uses this node's bgp-router object's
	// address and port (the original's behaviour), "none" disables BGP.
	BGPListen string
	// MaxQueueBytes closes a session whose unsent output exceeds it.
	MaxQueueBytes int
	Logger        *slog.Logger
	Registry      *prometheus.Registry
}

func (c *Config) setDefaults() {
	if c.XMPPListen == "" {
		c.XMPPListen = "0.0.0.0:5269"
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.HoldTime <= 0 {
		c.HoldTime = 90 * time.Second
	}
	if c.HoldTime < time.Second {
		c.HoldTime = time.Second
	}
	if c.HoldTime > 90*time.Second {
		c.HoldTime = 90 * time.Second
	}
	if c.MaxStanza <= 0 {
		c.MaxStanza = 4 << 20
	}
	if c.EndOfRibDelay <= 0 {
		c.EndOfRibDelay = time.Second
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
