// SPDX-License-Identifier: Apache-2.0

// Package query is the analytics query engine (the original's
// contrail-query-engine): it parses the query JSON of query_rest.idl,
// checks it against the table's schema and runs it over an analytics
// store.
//
// Wiring:
//
//	st, _ := store.OpenEmbedded(dir, store.Options{})   // or store.NewVictoriaLogs(url, ...)
//	eng := query.NewEngine(st)                         // options: WithClock, WithParallelism, WithMaxRows
//	res, err := eng.Query(ctx, body)                   // body: the query JSON; res marshals as {"value": [...]}
//	http.ListenAndServe(":8091", query.Handler(eng))   // POST /query, POST /validate, GET /tables
//	remote := query.NewRemote("http://qe:8091", nil)   // the same Runner interface over HTTP
//
// The query body: table; start_time and end_time as microseconds since
// the epoch or "now", "now-10m", "now+1h" (units s, m, h, d);
// select_fields with columns, T (the row's time), T=<seconds> (time bins,
// answered under the key "T="), COUNT(x), SUM(x), MAX(x), MIN(x), AVG(x)
// (any case, so sum(bytes) works) and flow_count on flow tables; where as
// an OR of ANDs of {name, value, op, value2} with op 1-8 (EQUAL,
// NOT_EQUAL, IN_RANGE, NOT_IN_RANGE, LEQ, GEQ, PREFIX, REGEX_MATCH; also
// by name); filter (a list of matches, or an OR of ANDs) on the result
// rows; sort 1 (ascending) or 2 (descending) with sort_fields; limit; dir
// for FlowRecordTable and FlowSeriesTable (0 egress, 1 ingress, default 1:
// adds direction_ing = dir to the where clause).
//
// With an aggregate or a T=<seconds> field, rows are grouped by every
// other selected field (and the time bin); COUNT counts the rows of a
// group, SUM/MAX/MIN/AVG take the numeric values of their column (ints
// stay ints, a float makes the result a float). Without sort fields,
// results are ordered by their time field, then by every selected field.
//
// FlowRecordTable answers one record per flow (UuidKey), as the
// original's upserted Cassandra row did, although the store keeps a row
// for every export of a flow (setup, counter updates, teardown): the
// engine merges a flow's rows before the where on other than the flow's
// key columns, the grouping, aggregates, filter, sort and limit. A
// record's setup_time is the smallest value of its rows, teardown_time,
// agg-bytes and agg-packets the largest (the latest cumulative counters),
// any other column the latest row's non-empty value; its T is its
// setup_time (else its first row's T). A query over [start_time,
// end_time] returns the flows set up in it as they stood at end_time:
// rows after end_time are not read, and a flow set up before start_time
// is left out. flow_count, COUNT and SUM(agg-bytes) thus count flows and
// sum their final counters. The where on the flow's key columns (vrouter,
// the 5-tuple, the VNs, direction_ing, UuidKey) goes to the store, as
// every export carries them. A large scan reads the rows twice: once to
// find the UuidKeys with more than one row, then to merge those and send
// the flows exported once down the columnar path unmerged (records.go).
// FlowSeriesTable stays a time series, one row per sample.
//
// Errors are *Error: Code 404 for an unknown table, 400 for anything else
// wrong, with Field naming the offending field (e.g. the unknown column).
//
// Over a store.BatchScanner (the embedded store) the engine works on
// columnar batches in parallel (dictionary codes as group keys); over any
// other store it reads rows through Store.Scan.
package query
