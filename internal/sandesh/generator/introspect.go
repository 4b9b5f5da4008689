// SPDX-License-Identifier: Apache-2.0

package generator

import (
	"net"
	"net/http"
	"sort"
	"strconv"
)

// Pages is what RegisterIntrospect needs of an introspect server
// (*obs.Introspect has it).
type Pages interface {
	Handle(path, title string, fn func(r *http.Request) (any, error))
}

// UVEInfo is one UVE the generator holds, as its introspect shows it.
type UVEInfo struct {
	Table  string         `json:"table"`
	Key    string         `json:"key"`
	Struct string         `json:"type"`
	Data   map[string]any `json:"data"`
}

// UVEs returns the UVEs the generator holds whose struct name is tname
// (all when empty) and, if key is not empty, whose key is key.
func (g *Generator) UVEs(tname, key string) []UVEInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := []UVEInfo{}
	for id, e := range g.uves {
		if tname != "" && id.structName != tname || key != "" && id.key != key {
			continue
		}
		data := make(map[string]any, len(e.fields)+1)
		data["name"] = id.key
		for _, f := range e.fields {
			data[f.Name] = f.Value.Go()
		}
		out = append(out, UVEInfo{Table: id.table, Key: id.key, Struct: id.structName, Data: data})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Struct != out[j].Struct {
			return out[i].Struct < out[j].Struct
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// RegisterIntrospect adds the original's common Sandesh introspect
// requests of every daemon to p, as JSON pages:
//
//	/Snh_SandeshUVECacheReq?tname=NodeStatus[&key=K]  the UVEs this process reports
//	/Snh_SandeshUVETypesReq                            UVE types held, with counts
//	/Snh_CollectorInfoRequest                          the collector session (ip, port, status)
//	/Snh_SandeshMessageStatsReq                        sent, dropped, queue counters
func (g *Generator) RegisterIntrospect(p Pages) {
	p.Handle("/Snh_SandeshUVECacheReq", "UVEs this process reports (?tname=NodeStatus&key=)", func(r *http.Request) (any, error) {
		q := r.URL.Query()
		return g.UVEs(q.Get("tname"), q.Get("key")), nil
	})
	p.Handle("/Snh_SandeshUVETypesReq", "UVE types this process reports", func(*http.Request) (any, error) {
		counts := map[string]int{}
		for _, u := range g.UVEs("", "") {
			counts[u.Struct]++
		}
		type typeInfo struct {
			TypeName string `json:"type_name"`
			Count    int    `json:"count"`
		}
		out := []typeInfo{}
		for t, n := range counts {
			out = append(out, typeInfo{t, n})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].TypeName < out[j].TypeName })
		return out, nil
	})
	p.Handle("/Snh_CollectorInfoRequest", "collector this process reports to", func(*http.Request) (any, error) {
		addr, up := g.Connected()
		status := "Idle"
		if up {
			status = "Established"
		}
		host, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		return struct {
			IP         string   `json:"ip"`
			Port       int      `json:"port"`
			Status     string   `json:"status"`
			Collectors []string `json:"collector_list"`
		}{host, n, status, g.cfg.Collectors}, nil
	})
	p.Handle("/Snh_SandeshMessageStatsReq", "messages sent and dropped by this process's generator", func(*http.Request) (any, error) {
		return g.Stats(), nil
	})
}
