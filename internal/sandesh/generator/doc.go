// SPDX-License-Identifier: Apache-2.0

// Package generator is the Sandesh generator library every daemon uses to
// report to the analytics collector: UVEs, system and object logs,
// statistics, flow records, and its NodeStatus with the state of its
// connections.
//
// Wiring a daemon:
//
//	gen := generator.New(generator.Config{
//		Collectors: cfg.Collectors,   // e.g. []string{"10.0.0.5:8086", "10.0.0.6:8086"}
//		Module:     "contrail-control",  // NodeType "Control" is derived
//		HTTPPort:   8083,                // its introspect port
//		Logger:     log,
//	})
//	g.Go(func() error { return gen.Start(ctx) }) // returns nil when ctx ends
//
//	// State of the daemon's own connections: the NodeStatus UVE's
//	// process_status (Functional when all are Up). The generator adds its
//	// collector connection itself.
//	gen.SetConnection(generator.ConnectionInfo{Type: "XMPP", Name: "agent1", ServerAddrs: []string{"10.0.0.7:5269"}, Status: generator.StatusUp})
//
//	// A UVE: table (or UVE type), key, struct name, attributes.
//	gen.UVE("ObjectBgpRouter", "cn1", "BgpRouterState", map[string]any{"num_bgp_peer": uint32(3)}, false)
//	gen.UVE("virtual-network", "default-domain:p:vn1", "UveVirtualNetworkAgent", []sandesh.Field{
//		sandesh.F("interface_list", 4, sandesh.StringList("vmi1"), sandesh.Attr{Name: "aggtype", Value: "union"}),
//	}, false)
//	gen.UVE("virtual-network", "default-domain:p:vn1", "UveVirtualNetworkAgent", nil, true) // delete
//
//	gen.Log(sandesh.LevelErr, "xmpp", "XmppSessionError", map[string]any{"peer": "agent1", "error": err.Error()})
//	gen.ObjectLog("ObjectVNTable", "default-domain:p:vn1", "VnConfigLog", map[string]any{"op": "update"})
//	gen.Stat("ObjectVRouter", "host1", "VrouterStatsAgent", "phy_if_stats", map[string]IfStats{...}, ".__key")
//	gen.Flow(generator.FlowLogData{FlowUUID: id, SourceVN: ..., Bytes: ..., DiffBytes: ...})
//
//	gen.RegisterIntrospect(in) // /Snh_SandeshUVECacheReq?tname=NodeStatus, /Snh_CollectorInfoRequest, ...
//
// Fields are []sandesh.Field (full control: ids and annotations such as
// aggtype), map[string]any (keys in order, no annotations) or a Go struct
// with `sandesh:"name,id=N,aggtype=union"` tags (see sandesh.ToFields).
//
// Behaviour:
//
//   - No call blocks on the network. Logs, object logs, stats and flows
//     go through a bounded queue (Config.QueueSize); when it is full the
//     message is dropped and counted (Stats().DroppedQueueFull, also sent
//     in the generator's SandeshModuleClientTrace UVE).
//   - UVEs are not queued: the generator keeps every UVE (attributes
//     merged per update, as the collector merges them) and sends the
//     changed ones, coalesced, whenever connected; after every
//     (re)connection it sends all of them again, so a restarted collector
//     gets the full state. None is lost to a full queue.
//   - One collector at a time; on failure the next one of Collectors
//     (round robin, starting at a random one), with exponential backoff
//     between MinBackoff and MaxBackoff.
//   - The session opens with SandeshCtrlClientToServer and waits for the
//     collector's SandeshCtrlServerToClient before sending anything else.
package generator
