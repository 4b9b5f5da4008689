// SPDX-License-Identifier: Apache-2.0

// Package collector is the analytics collector (`contrail collector`):
// it accepts Sandesh sessions from every daemon on 8086, keeps their UVEs
// and writes their logs, object logs, flows and statistics to the
// analytics store.
//
//	c, err := collector.New(collector.Config{Listen: ":8086", Writer: st, Logger: log, Registry: reg})
//	if err := c.Listen(); err != nil { ... }   // optional: to learn c.Addr() first
//	go c.Start(ctx)                           // until ctx ends
//	c.RegisterIntrospect(in)                  // sessions, totals, /uve-source/*
//	api := analyticsapi.New(..., UVEs: c.UVEs()) // *uve.Cache is a uve.Source
//
// Per session: the first message must be SandeshCtrlClientToServer (the
// generator's identity source:node_type:module:instance_id); the collector
// answers SandeshCtrlServerToClient. Then one goroutine reads frames into a
// bounded queue and another turns them into rows:
//
//   - SYSTEM (and syslog, trace) logs: a MessageTable row (MessageTS,
//     Source, Messagetype, ModuleId, IPAddress, Pid, Category, Level,
//     NodeType, InstanceId, SequenceNum, Type, Xmlmessage = the message's
//     XML); the body is only checked for well-formedness, not decoded,
//     unless it carries a key annotation (then also an object-table row).
//   - OBJECT logs: the MessageTable row, plus a row in the object table
//     named by each key="<Table>" annotated field (ObjectVNTable, ...) with
//     ObjectId, MessageTS, Source, ModuleId, Messagetype, ObjectLog.
//   - UVEs: the cache (per generator, table, key and struct; attributes
//     merged; deleted=true removes that generator's struct), plus the
//     MessageTable and object-table rows as for object logs.
//   - Attributes annotated tags= (in UVEs and object logs): rows of
//     StatTable.<Struct>.<attr>, one per list element or map entry
//     (<attr>.__key), columns <attr>.<field>, name (the key) and Source.
//   - FLOW (FlowLogDataObject, a list of FlowLogData): a FlowRecordTable
//     row (vrouter, sourcevn, sourceip, destvn, destip, protocol, sport,
//     dport, direction_ing, UuidKey, setup_time, teardown_time, agg-bytes,
//     agg-packets, action, sg_rule_uuid, nw_ace_uuid, vrouter_ip,
//     other_vrouter_ip, underlay_proto, underlay_source_port, vmi,
//     drop_reason) and a FlowSeriesTable row (the 5-tuple, vrouter,
//     direction_ing, bytes and packets from diff_bytes/diff_packets) per
//     record.
//
// Rows are written in batches (Config.BatchSize) by Config.Writers
// goroutines. Overload: when a session's queue is full its logs, flows
// and stats are dropped and counted per session (messages_dropped_total);
// its UVEs wait instead (TCP back-pressure on that generator only). A
// truncated frame, a frame above MaxFrame, a bad length or invalid XML
// closes that session with the reason logged; other sessions go on. When a
// session ends its generator's UVEs are withdrawn (unless a newer session
// of the same generator has taken them over).
package collector
