// SPDX-License-Identifier: Apache-2.0

package rib

import (
	"iter"
	"slices"
	"strings"
)

// InstanceInfo describes an instance for introspect.
type InstanceInfo struct {
	Name          string
	RD            RD
	ImportTargets []RouteTarget
	ExportTargets []RouteTarget
	Tables        []TableInfo // tables that exist, by family
}

// TableInfo counts the routes and paths of a table.
type TableInfo struct {
	Family Family
	Name   string // the original's table name, e.g. vn1.inet.0 or bgp.l3vpn.0
	Routes int
	Paths  int
}

func (in *instance) info() InstanceInfo {
	out := InstanceInfo{Name: in.name, RD: in.rd,
		ImportTargets: slices.Clone(in.imports), ExportTargets: slices.Clone(in.exports)}
	for f, t := range in.tables {
		if t != nil {
			out.Tables = append(out.Tables, TableInfo{Family: Family(f), Name: TableName(in.name, Family(f)), Routes: t.count, Paths: t.npaths})
		}
	}
	return out
}

// Instances returns the instances sorted by name, the master instance
// (with the VPN tables) first.
func (r *RIB) Instances() []InstanceInfo {
	out := make([]InstanceInfo, 0, len(r.instances)+1)
	out = append(out, r.master.info())
	for _, in := range r.instances {
		out = append(out, in.info())
	}
	slices.SortFunc(out[1:], func(a, b InstanceInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Instance returns one instance; MasterInstance names the VPN tables.
func (r *RIB) Instance(name string) (InstanceInfo, bool) {
	in := r.lookupInstance(name)
	if in == nil {
		return InstanceInfo{}, false
	}
	return in.info(), true
}

func (r *RIB) lookupInstance(name string) *instance {
	if name == MasterInstance {
		return r.master
	}
	return r.instances[name]
}

// RouteInfo is a route with all its paths, best first; Paths[:ECMP] is its
// best set. Paths is a copy the caller owns.
type RouteInfo struct {
	Key   Key
	Paths []*Path
	ECMP  int
}

func (rt *route) info() RouteInfo {
	return RouteInfo{Key: rt.key, Paths: slices.Clone(rt.paths), ECMP: int(rt.nbest)}
}

// Route returns the route of key in table fam of instance inst
// (MasterInstance for the VPN tables).
func (r *RIB) Route(inst string, fam Family, key Key) (RouteInfo, bool) {
	in := r.lookupInstance(inst)
	if in == nil || fam == 0 || fam >= numFamilies || in.tables[fam] == nil {
		return RouteInfo{}, false
	}
	rt := in.tables[fam].lookup(key)
	if rt == nil || len(rt.paths) == 0 {
		return RouteInfo{}, false
	}
	return rt.info(), true
}

// Routes iterates over the routes of table fam of instance inst, in no
// particular order (sort by Key.Compare for display). The RIB must not be
// modified during the iteration.
func (r *RIB) Routes(inst string, fam Family) iter.Seq[RouteInfo] {
	return func(yield func(RouteInfo) bool) {
		in := r.lookupInstance(inst)
		if in == nil || fam == 0 || fam >= numFamilies || in.tables[fam] == nil {
			return
		}
		for rt := range in.tables[fam].all {
			if len(rt.paths) == 0 {
				continue
			}
			if !yield(rt.info()) {
				return
			}
		}
	}
}

// Stats are the RIB's counters.
type Stats struct {
	Instances int // routing instances, without the master
	Peers     int // registered peers
	Routes    int // routes with at least one path, in all tables
	Paths     int // paths in all tables, copies included
	Attrs     int // distinct interned attribute sets
	Pending   int // routes queued for Drain
}

// Stats returns the counters.
func (r *RIB) Stats() Stats {
	s := Stats{Instances: len(r.instances), Peers: len(r.peerByName), Paths: r.npaths,
		Attrs: r.attrs.n, Pending: r.Pending()}
	count := func(in *instance) {
		for _, t := range in.tables {
			if t != nil {
				s.Routes += t.count
			}
		}
	}
	count(r.master)
	for _, in := range r.instances {
		count(in)
	}
	return s
}
