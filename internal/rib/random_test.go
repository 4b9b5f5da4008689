// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestRandomOperations applies random operations to a small RIB and checks
// after each one the RIB's invariants (every VPN path imported exactly
// where the targets say, sorted paths, counts, indexes, reference counts)
// and, at random points, that the drained notifications add up to the
// RIB's current best sets.
func TestRandomOperations(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 5
	}
	for seed := range uint64(seeds) {
		runRandom(t, seed, 600)
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
	}
}

type primaryKey struct {
	inst string // "" for the VPN tables
	fam  Family
	key  Key
	peer PeerID
}

func runRandom(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t)
	insts := []string{"a", "b", "c", "d"}
	targets := rts("1:1", "1:2", "1:3")
	var agents []PeerID
	for i := range 4 {
		agents = append(agents, e.agent("192.168.0."+itoa(i+1)))
	}
	bgp := []PeerID{e.bgp("10.255.0.1", false), e.bgp("10.255.0.2", true)}
	model := map[primaryKey]uint32{} // label of every primary path
	subset := func() []RouteTarget {
		var out []RouteTarget
		for _, rt := range targets {
			if rng.IntN(2) == 0 {
				out = append(out, rt)
			}
		}
		return out
	}
	prefixes := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/24")}
	mac, _ := ParseMAC("02:00:00:00:00:01")
	vrfKey := func() (Family, Key) {
		switch rng.IntN(4) {
		case 0:
			return Inet6, PrefixKey(netip.MustParsePrefix("2001:db8::1/128"))
		case 1:
			return EVPN, EVPNMACKey(0, mac, prefixes[0].Addr())
		}
		return Inet, PrefixKey(prefixes[rng.IntN(len(prefixes))])
	}
	attrs := func(peer PeerID) *Attrs {
		info, _ := e.r.Peer(peer)
		a := &Attrs{NextHop: info.Addr, LocalPref: []uint32{100, 100, 200}[rng.IntN(3)],
			Mobility: Mobility{Seq: uint32(rng.IntN(2))}, SourceRD: RDFromAddr(info.Addr, uint16(1+rng.IntN(2)))}
		if peer.Kind() == PeerBGP {
			a.RouteTargets = subset()
			a.ASPath = []ASSegment{{Type: ASSequence, ASNs: []uint32{uint32(65000 + rng.IntN(2))}}}[:rng.IntN(2)]
			a.MED = uint32(rng.IntN(3))
		}
		return a
	}
	for range steps {
		switch op := rng.IntN(100); {
		case op < 8:
			name := insts[rng.IntN(len(insts))]
			cfg := InstanceConfig{Name: name, ImportTargets: subset(), ExportTargets: subset()}
			if rng.IntN(3) == 0 {
				cfg.RD = RDFromAS(64512, uint32(rng.IntN(3)))
			}
			if err := e.r.SetInstance(cfg); err != nil {
				t.Fatal(err)
			}
		case op < 10:
			name := insts[rng.IntN(len(insts))]
			if e.r.DeleteInstance(name) == nil {
				for k := range model {
					if k.inst == name {
						delete(model, k)
					}
				}
			}
		case op < 50:
			name := insts[rng.IntN(len(insts))]
			fam, key := vrfKey()
			peer := agents[rng.IntN(len(agents))]
			label := uint32(rng.IntN(3))
			if e.r.AddPath(name, fam, key, peer, label, attrs(peer)) == nil {
				model[primaryKey{name, fam, key, peer}] = label
			}
		case op < 62:
			name := insts[rng.IntN(len(insts))]
			fam, key := vrfKey()
			peer := agents[rng.IntN(len(agents))]
			if e.r.DeletePath(name, fam, key, peer) == nil {
				delete(model, primaryKey{name, fam, key, peer})
			}
		case op < 75:
			peer := bgp[rng.IntN(len(bgp))]
			key := VPNKey(RDFromAS(65000, uint32(rng.IntN(2))), prefixes[rng.IntN(len(prefixes))])
			label := uint32(rng.IntN(3))
			if err := e.r.AddVPNPath(InetVPN, key, peer, label, attrs(peer)); err != nil {
				t.Fatal(err)
			}
			model[primaryKey{"", InetVPN, key, peer}] = label
		case op < 80:
			peer := bgp[rng.IntN(len(bgp))]
			key := VPNKey(RDFromAS(65000, uint32(rng.IntN(2))), prefixes[rng.IntN(len(prefixes))])
			if e.r.DeleteVPNPath(InetVPN, key, peer) == nil {
				delete(model, primaryKey{"", InetVPN, key, peer})
			}
		case op < 83:
			peer := agents[rng.IntN(len(agents))]
			e.r.DeletePeerPaths(peer)
			for k := range model {
				if k.peer == peer {
					delete(model, k)
				}
			}
		case op < 88:
			peer := agents[rng.IntN(len(agents))]
			if rng.IntN(2) == 0 {
				e.r.MarkStale(peer)
				break
			}
			for p := e.r.peers[peer.slot()].head; p != nil; p = p.links.nextPeer {
				if p.flags&flagStale != 0 {
					delete(model, primaryKey{p.Instance(), p.Family(), p.Key(), peer})
				}
			}
			e.r.SweepStale(peer)
		case op < 95:
			// A partial drain; the shadow is checked on full drains.
			e.r.Drain(1+rng.IntN(5), func(inst string, fam Family, key Key, best []*Path) {
				k := inst + "|" + fam.String() + "|" + key.String()
				if len(best) == 0 {
					delete(e.shadow, k)
				} else {
					e.shadow[k] = append([]*Path(nil), best...)
				}
			})
		default:
			e.drain()
		}
		e.check()
		checkModel(t, e.r, model)
		if t.Failed() {
			return
		}
	}
	e.drain()
}

// checkModel verifies that the RIB's primary paths are exactly the model's.
func checkModel(t *testing.T, r *RIB, model map[primaryKey]uint32) {
	t.Helper()
	n := 0
	for i := range r.peers {
		for p := r.peers[i].head; p != nil; p = p.links.nextPeer {
			n++
			inst := p.Instance()
			if inst == MasterInstance {
				inst = ""
			}
			label, ok := model[primaryKey{inst, p.Family(), p.Key(), p.peer}]
			if !ok || label != p.label {
				t.Errorf("unexpected primary path %s %s %s label %d (model %d, %v)", inst, p.Family(), p.Key(), p.label, label, ok)
			}
		}
	}
	if n != len(model) {
		t.Errorf("RIB has %d primary paths, model %d", n, len(model))
	}
}
