// Package uve holds User-Visible Entities: the per-object state that
// every generator reports, kept per generator and aggregated across
// generators for the analytics API.
package uve

import "context"

// Filter narrows a UVE read as the analytics API's query parameters do.
type Filter struct {
	SFilt string   // source (host) of the generator
	MFilt string   // module of the generator
	CFilt []string // struct names (and struct:attr) to return
	KFilt []string // key patterns (with * wildcards)
	Flat  bool     // aggregate across generators (default); false keeps per-generator values
}

// Source is what the analytics API reads UVEs from: the collector's own
// cache in the same process, a remote collector, or Redis.
type Source interface {
	// Types lists the UVE table types present (e.g. "virtual-network").
	Types(ctx context.Context) ([]string, error)
	// Keys lists the keys of a type that match the filter.
	Keys(ctx context.Context, typ string, f Filter) ([]string, error)
	// Get returns the aggregated UVE of typ/key as the original's JSON
	// object (struct name -> attributes), false if there is none.
	Get(ctx context.Context, typ, key string, f Filter) (map[string]any, bool, error)
}
