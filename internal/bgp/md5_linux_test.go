// SPDX-License-Identifier: Apache-2.0

//go:build linux

package bgp

import (
	"net/netip"
	"testing"
	"time"
)

func TestMD5Session(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	b, bAddr := startSpeaker(t, "127.0.0.2", nil)
	if err := b.AddNeighbor(Neighbor{Address: aAddr.Addr(), PeerAS: testAS, Passive: true, MD5Password: "s3cret"}); err != nil {
		t.Skipf("TCP_MD5SIG not available: %v", err)
	}
	if err := a.AddNeighbor(Neighbor{Address: bAddr.Addr(), Port: bAddr.Port(), PeerAS: testAS, MD5Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, 10*time.Second, isType(EventUp))
	waitEvent(t, b, 10*time.Second, isType(EventUp))
}

func TestMD5Mismatch(t *testing.T) {
	a, aAddr := startSpeaker(t, "127.0.0.1", nil)
	b, bAddr := startSpeaker(t, "127.0.0.2", nil)
	if err := b.AddNeighbor(Neighbor{Address: aAddr.Addr(), PeerAS: testAS, Passive: true, MD5Password: "s3cret"}); err != nil {
		t.Skipf("TCP_MD5SIG not available: %v", err)
	}
	// a signs with another key: b's kernel drops its segments.
	if err := a.AddNeighbor(Neighbor{Address: bAddr.Addr(), Port: bAddr.Port(), PeerAS: testAS, MD5Password: "wrong"}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-b.Events():
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(1500 * time.Millisecond):
	}
	if st := a.State(netip.MustParseAddr("127.0.0.2")); st == Established {
		t.Fatal("established with mismatched MD5 keys")
	}
}
