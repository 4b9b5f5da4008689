// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contrail-go/contrail/internal/control"
	"github.com/contrail-go/contrail/internal/sandesh"
	"github.com/contrail-go/contrail/internal/sandesh/generator"
)

// ReportConfig says where a daemon reports its NodeStatus, UVEs and logs:
// the original's [DEFAULT] collectors list.
type ReportConfig struct {
	Collectors []string `flag:"collectors" usage:"analytics collectors (host:port, Sandesh, port 8086) this daemon reports its NodeStatus, UVEs and logs to, one at a time with failover; empty: none"`
}

// newReporter builds the Sandesh generator of one module of this process.
// It keeps its UVEs even with no collector, so introspect and a collector
// configured later see them.
func newReporter(collectors []string, module, introspect string, log *slog.Logger) *generator.Generator {
	targets := make([]string, 0, len(collectors))
	for _, c := range collectors {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if !strings.Contains(c, ":") {
			c += ":8086"
		}
		targets = append(targets, c)
	}
	return generator.New(generator.Config{
		Collectors: targets,
		Module:     module,
		HTTPPort:   portOf(introspect),
		Logger:     log.With("component", "sandesh", "module", module),
	})
}

// teeLogs returns a logger that writes what log writes and also sends each
// record, as a system log of the module, to gen (so that the daemon's logs
// land in the analytics MessageTable). Sending never blocks: the
// generator drops and counts what its queue cannot take.
func teeLogs(log *slog.Logger, gen *generator.Generator) *slog.Logger {
	return slog.New(&teeHandler{next: log.Handler(), gen: gen})
}

type teeHandler struct {
	next  slog.Handler
	gen   *generator.Generator
	attrs []slog.Attr
	group string
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	category := "default"
	var b strings.Builder
	add := func(a slog.Attr) bool {
		if a.Key == "component" {
			category = a.Value.String()
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if h.group != "" {
			b.WriteString(h.group + ".")
		}
		fmt.Fprintf(&b, "%s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	// Errors of the generator itself are not fed back into it.
	if category != "sandesh" {
		_ = h.gen.Log(sandeshLevel(r.Level), category, "SlogMessage", map[string]any{
			"message":    r.Message,
			"attributes": b.String(),
		})
	}
	return h.next.Handle(ctx, r)
}

// sandeshLevel maps a slog level to the original's SandeshLevel.
func sandeshLevel(l slog.Level) int32 {
	switch {
	case l >= slog.LevelError:
		return sandesh.LevelErr
	case l >= slog.LevelWarn:
		return sandesh.LevelWarn
	case l >= slog.LevelInfo:
		return sandesh.LevelInfo
	default:
		return sandesh.LevelDebug
	}
}

// watchConnection reports the state of one of the daemon's connections in
// its NodeStatus, probing it every interval until ctx ends.
func watchConnection(ctx context.Context, g *errgroup.Group, gen *generator.Generator, typ, name string, addrs []string, interval time.Duration, probe func(context.Context) error) {
	g.Go(func() error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			pctx, cancel := context.WithTimeout(ctx, interval)
			err := probe(pctx)
			cancel()
			ci := generator.ConnectionInfo{Type: typ, Name: name, ServerAddrs: addrs, Status: generator.StatusUp}
			if err != nil {
				ci.Status, ci.Description = generator.StatusDown, err.Error()
			}
			gen.SetConnection(ci)
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}

// reportControl keeps the control node's own UVEs current: BgpRouterState
// (peers, instances) and the virtual networks it knows from config
// (UveVirtualNetworkConfig: routing instances and ACL rule counts).
func reportControl(ctx context.Context, g *errgroup.Group, gen *generator.Generator, srv *control.Server, name string, interval time.Duration) {
	if name == "" {
		name = hostname()
	}
	start := time.Now()
	g.Go(func() error {
		t := time.NewTicker(interval)
		defer t.Stop()
		sent := map[string]bool{}
		for {
			reportControlOnce(ctx, gen, srv, name, start, sent)
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}

func reportControlOnce(ctx context.Context, gen *generator.Generator, srv *control.Server, name string, start time.Time, sent map[string]bool) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nbrs, err := srv.Neighbors(qctx)
	if err != nil {
		return
	}
	insts, err := srv.Instances(qctx)
	if err != nil {
		return
	}
	var xmpp, xmppUp, bgpN, bgpUp uint32
	var bgpPeers []string
	for _, n := range nbrs {
		if n.Encoding == "BGP" {
			bgpN++
			bgpPeers = append(bgpPeers, n.Peer)
			if n.BGP != nil && n.BGP.State == "Established" {
				bgpUp++
			}
			continue
		}
		xmpp++
		if n.State == "Established" {
			xmppUp++
		}
	}
	_ = gen.UVE("ObjectBgpRouter", name, "BgpRouterState", []sandesh.Field{
		sandesh.F("uptime", 3, sandesh.U64(uint64(time.Since(start).Microseconds()))),
		sandesh.F("num_bgp_peer", 8, sandesh.U32(bgpN)),
		sandesh.F("num_up_bgp_peer", 9, sandesh.U32(bgpUp)),
		sandesh.F("num_xmpp_peer", 10, sandesh.U32(xmpp)),
		sandesh.F("num_up_xmpp_peer", 11, sandesh.U32(xmppUp)),
		sandesh.F("num_routing_instance", 12, sandesh.U32(uint32(len(insts)))),
		sandesh.F("bgp_oper_peer_list", 37, sandesh.StringList(bgpPeers...)),
	}, false)

	// Virtual networks from the config graph.
	type vnState struct {
		ris  []string
		acls int32
	}
	vns := map[string]vnState{}
	gr := srv.Graph()
	gr.RLock()
	for _, id := range gr.UUIDs("virtual-network") {
		n := gr.Get(id)
		if n == nil {
			continue
		}
		var st vnState
		for _, ri := range gr.ChildNodes(n, "routing-instance") {
			st.ris = append(st.ris, ri.Obj.FQNameString())
		}
		for _, acl := range gr.ChildNodes(n, "access-control-list") {
			var entries struct {
				Rules []json.RawMessage `json:"acl_rule"`
			}
			if acl.Obj.Prop("access_control_list_entries", &entries) {
				st.acls += int32(len(entries.Rules))
			}
		}
		vns[n.Obj.FQNameString()] = st
	}
	gr.RUnlock()
	for key, st := range vns {
		sort.Strings(st.ris)
		_ = gen.UVE("ObjectVNTable", key, "UveVirtualNetworkConfig", []sandesh.Field{
			sandesh.F("routing_instance_list", 6, sandesh.StringList(st.ris...), sandesh.Attr{Name: "aggtype", Value: "union"}),
			sandesh.F("total_acl_rules", 7, sandesh.I32(st.acls)),
		}, false)
		sent[key] = true
	}
	for key := range sent {
		if _, ok := vns[key]; !ok {
			_ = gen.UVE("ObjectVNTable", key, "UveVirtualNetworkConfig", nil, true)
			delete(sent, key)
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
