// SPDX-License-Identifier: Apache-2.0

// Package api is the analytics REST API (the original's
// contrail-analytics-api, port 8081).
//
// Wiring:
//
//	srv := api.NewServer(api.Config{
//		Queries: query.NewEngine(st),        // or query.NewRemote("http://qe:8091", nil)
//		UVEs:    uveSource,                  // uve.Source: the collector's cache, or uve.NewRemote(url)
//		Alarms:  func(ctx context.Context) ([]api.Alarm, error) { ... }, // config alarm objects
//	})
//	err := api.ListenAndServe(ctx, ":8081", srv, nil) // also runs srv.Run (alarm evaluation)
//
// Serve it through ListenAndServe or api.Listener: Go's HTTP server
// refuses "Expect: 202-accepted" (which the original's clients send for
// asynchronous queries) before any handler runs, and the listener renames
// that header so the handler sees it.
//
// Routes:
//
//	GET  /analytics                               links
//	GET  /analytics/uves                          [{name: "<type>s", href}]
//	GET  /analytics/uve-types                     {type: {global_system_object}}
//	GET  /analytics/uves/<type>s                  [{name, href ...?flat}]; cfilt, kfilt, sfilt, mfilt
//	GET  /analytics/uves/<type>/<name>            the UVE ({} if none); flat, sfilt, mfilt, cfilt, kfilt;
//	                                              a name with * gives {"value": [{name, value}]}
//	POST /analytics/uves/<type>[s]                body {"kfilt": [...], "cfilt": [...], "sfilt", "mfilt"}
//	GET  /analytics/tables                        [{name, href}]
//	GET  /analytics/table/<t>                     links to schema and column-values
//	GET  /analytics/table/<t>/schema              {type, columns}
//	GET  /analytics/table/<t>/column-values/<c>   distinct values of c over the last day
//	POST /analytics/query                         sync: {"value": [...]}; with Expect: 202-accepted:
//	                                              202 {"href": "/analytics/query/<qid>"}
//	GET  /analytics/query/<qid>                   {progress, chunks: [{href: ".../chunk-final/0"}]}
//	GET  /analytics/query/<qid>/chunk-final/0     {"value": [...]}
//	DELETE /analytics/query/<qid>, GET /analytics/queries
//	GET  /analytics/alarms                        {type: [{name, value: {UVEAlarms: {alarms}}}]}; tablefilt, ackfilt
//	POST /analytics/alarms/acknowledge            body {"table", "name", "type", "token"}: 200 {}, 400 (field
//	                                              named; a token not the instance's), 404 no such alarm raised
//	GET  /analytics/alarm-types                   {alarm: {severity, description, uve_keys}}
//	GET  /analytics/uve-stream                    text/event-stream; tablefilt, kfilt, cfilt, sfilt, mfilt, ackfilt
//	GET  /analytics/alarm-stream                  text/event-stream; tablefilt, kfilt, ackfilt (see stream.go)
//
// Errors are JSON {"error": {"code", "field", "message"}}: 404 unknown
// table, UVE type, query id or path; 400 bad query (the field named);
// 503 when the UVE source or query engine is unreachable.
//
// Alarms are computed on each read, and by Run in the background, from
// the alarm objects: for each
// UVE their uve_keys name ("vrouter" or "vrouter:host1"), the flat UVE is
// matched against alarm_rules (OR of and_lists of operand1 / operation /
// operand2, operand1 a dotted path that fans out over lists, operand2 a
// JSON value or another UVE attribute; operations ==, !=, <, <=, >, >=,
// in, not in, range, size==, size!=). A missing operand1 only satisfies
// "== null". Soak timers are not implemented.
//
// Each raised alarm is an instance with an opaque token (base64 of a
// JSON naming the alarm, its raise time and a nonce), its raise time as
// timestamp, and an ack flag; an alarm that clears and is raised again
// is a new, unacknowledged instance. POST /analytics/alarms/acknowledge
// sets ack on the current instance given its token. The instances are
// kept in Config.AckFile when set, so acks outlive a restart. UVE reads
// carry the alarms raised on the UVE as the struct UVEAlarms (ackfilt
// narrows them; a cfilt without UVEAlarms leaves them out).
package api
