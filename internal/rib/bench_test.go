// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// scale is the control node's scale target: 500 agents with 20 routes
// each, spread over 50 instances. Agent p publishes its route j in
// instance (p + j/(20/spread)) mod 50 with RD <agent-ip>:<instance-index>,
// so each agent hosts VMs of spread networks. With spread 20 (the default
// benchmarks) no two routes share attributes, the worst case for
// interning; with spread 4 each agent's 5 routes in a VRF share them.
type scale struct {
	agents, perAgent, instances int
	spread                      int  // instances each agent publishes in
	mesh                        bool // every instance imports every instance's target
	names                       []string
	attrs                       [][]*Attrs // [agent][route] as the XMPP layer would parse them
}

func newScale(agents, perAgent, instances, spread int, mesh bool) *scale {
	s := &scale{agents: agents, perAgent: perAgent, instances: instances, spread: spread, mesh: mesh}
	for i := range instances {
		s.names = append(s.names, fmt.Sprintf("default-domain:tenant:vn%d:vn%d", i, i))
	}
	for p := range agents {
		ip := s.agentAddr(p)
		row := make([]*Attrs, perAgent)
		for j := range perAgent {
			inst := s.inst(p, j)
			row[j] = &Attrs{NextHop: ip, Encap: EncapGRE | EncapUDP | EncapVXLAN,
				VirtualNetwork: fmt.Sprintf("default-domain:tenant:vn%d", inst), SecurityGroups: []uint32{8000000 + uint32(inst)},
				LocalPref: 100, MED: DefaultMED(100), SubProtocol: SubProtocolInterface,
				SourceRD: RDFromAddr(ip, uint16(inst+1))}
		}
		s.attrs = append(s.attrs, row)
	}
	return s
}

// inst returns the instance index of agent p's route j.
func (s *scale) inst(p, j int) int { return (p + j/(s.perAgent/s.spread)) % s.instances }

func (s *scale) agentAddr(p int) netip.Addr {
	return netip.AddrFrom4([4]byte{192, 168, byte(p >> 8), byte(p)})
}

func (s *scale) routes() int { return s.agents * s.perAgent }

func (s *scale) key(p, j int) Key {
	i := p*s.perAgent + j
	return PrefixKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
}

// setup returns a RIB with the instances and peers and no routes.
func (s *scale) setup(tb testing.TB) (*RIB, []PeerID) {
	r := New()
	all := make([]RouteTarget, s.instances)
	for i := range all {
		all[i] = RouteTargetFromAS(64512, uint32(8000000+i))
	}
	for i, name := range s.names {
		imports := all[i : i+1]
		if s.mesh {
			imports = all
		}
		if err := r.SetInstance(InstanceConfig{Name: name, ImportTargets: imports, ExportTargets: all[i : i+1]}); err != nil {
			tb.Fatal(err)
		}
	}
	peers := make([]PeerID, s.agents)
	for p := range peers {
		var err error
		peers[p], err = r.AddPeer(PeerInfo{Kind: PeerXMPP, Name: fmt.Sprintf("compute-%d", p), Addr: s.agentAddr(p)})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return r, peers
}

func (s *scale) addAll(tb testing.TB, r *RIB, peers []PeerID, label uint32) {
	for p, id := range peers {
		for j, a := range s.attrs[p] {
			if err := r.AddPath(s.names[s.inst(p, j)], Inet, s.key(p, j), id, label+uint32(j), a); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// drainAll drains like the control node would: it builds the next-hop
// list of every update.
func drainAll(r *RIB) (calls, nexthops int) {
	for r.Pending() > 0 {
		calls += r.Drain(256, func(inst string, fam Family, key Key, best []*Path) {
			nexthops += len(NextHops(best))
		})
	}
	return calls, nexthops
}

// BenchmarkConverge measures the time from an empty RIB to a fully drained
// one with the scale target's 10,000 routes: ns/op is the whole (add +
// drain), add-ms and drain-ms split it, bytes/route is the live heap the
// routes cost after convergence.
func BenchmarkConverge(b *testing.B) {
	for _, bc := range []struct {
		name   string
		spread int
		mesh   bool
	}{{"isolated", 20, false}, {"fullmesh", 20, true}, {"isolated-4vrfs-per-agent", 4, false}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newScale(500, 20, 50, bc.spread, bc.mesh)
			var add, drain time.Duration
			var calls, n int
			for b.Loop() {
				b.StopTimer()
				r, peers := s.setup(b)
				b.StartTimer()
				t0 := time.Now()
				s.addAll(b, r, peers, 16)
				t1 := time.Now()
				calls, _ = drainAll(r)
				add += t1.Sub(t0)
				drain += time.Since(t1)
				n++
			}
			b.ReportMetric(float64(add.Milliseconds())/float64(n), "add-ms")
			b.ReportMetric(float64(drain.Milliseconds())/float64(n), "drain-ms")
			b.ReportMetric(float64(add.Nanoseconds())/float64(n*s.routes()), "add-ns/route")
			b.ReportMetric(float64(calls), "notifications")
			b.ReportMetric(liveBytesPerRoute(b, s), "bytes/route")
		})
	}
}

// liveBytesPerRoute returns the heap the converged RIB holds per agent
// route, counting everything: VRF, VPN and imported paths, routes, maps,
// attributes and indexes.
func liveBytesPerRoute(tb testing.TB, s *scale) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, peers := s.setup(tb)
	s.addAll(tb, r, peers, 16)
	drainAll(r)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(r)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(s.routes())
}

// BenchmarkAddPath measures AddPath on a converged RIB: each op replaces
// one agent route with a new label (a real change, exported and
// re-imported), with a Drain every 10,000 ops.
func BenchmarkAddPath(b *testing.B) {
	for _, mesh := range []bool{false, true} {
		name := "isolated"
		if mesh {
			name = "fullmesh"
		}
		b.Run(name, func(b *testing.B) {
			s := newScale(500, 20, 50, 20, mesh)
			r, peers := s.setup(b)
			s.addAll(b, r, peers, 16)
			drainAll(r)
			i, label := 0, uint32(1000)
			for b.Loop() {
				p, j := i/s.perAgent, i%s.perAgent
				if err := r.AddPath(s.names[s.inst(p, j)], Inet, s.key(p, j), peers[p], label, s.attrs[p][j]); err != nil {
					b.Fatal(err)
				}
				if i++; i == s.routes() {
					i = 0
					label++
					drainAll(r)
				}
			}
		})
	}
}

// BenchmarkPeerFlap measures an agent going down and coming back with its
// 20 routes, drained, in the converged full-mesh RIB.
func BenchmarkPeerFlap(b *testing.B) {
	s := newScale(500, 20, 50, 20, true)
	r, peers := s.setup(b)
	s.addAll(b, r, peers, 16)
	drainAll(r)
	p := 0
	for b.Loop() {
		if _, err := r.DeletePeerPaths(peers[p]); err != nil {
			b.Fatal(err)
		}
		drainAll(r)
		for j, a := range s.attrs[p] {
			if err := r.AddPath(s.names[s.inst(p, j)], Inet, s.key(p, j), peers[p], 16, a); err != nil {
				b.Fatal(err)
			}
		}
		drainAll(r)
		p = (p + 1) % len(peers)
	}
}

// TestScaleConverges checks the scale target's correctness (every route
// reaches exactly its importers) and reports convergence time; the
// benchmarks measure it properly.
func TestScaleConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	for _, mesh := range []bool{false, true} {
		s := newScale(500, 20, 50, 20, mesh)
		r, peers := s.setup(t)
		t0 := time.Now()
		s.addAll(t, r, peers, 16)
		calls, nh := drainAll(r)
		elapsed := time.Since(t0)
		st := r.Stats()
		// Each route: 1 VRF path + 1 VPN path (+ 49 imports in the mesh).
		wantPaths, wantCalls := 2*s.routes(), 2*s.routes()
		if mesh {
			wantPaths += (s.instances - 1) * s.routes()
			wantCalls += (s.instances - 1) * s.routes()
		}
		if st.Paths != wantPaths || calls != wantCalls || nh != calls {
			t.Errorf("mesh=%v: %d paths (want %d), %d notifications (want %d), %d next hops", mesh, st.Paths, wantPaths, calls, wantCalls, nh)
		}
		if want := 2 * s.agents * s.spread; st.Attrs != want {
			// One VRF and one VPN attribute set per (agent, instance)
			// pair; in this shape every agent route is in its own pair.
			t.Errorf("mesh=%v: %d attribute sets, want %d", mesh, st.Attrs, want)
		}
		checkInvariants(t, r)
		t.Logf("mesh=%v: %d routes added and drained in %v (%d notifications, %d paths)", mesh, s.routes(), elapsed, calls, st.Paths)
	}
}
