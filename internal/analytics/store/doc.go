// SPDX-License-Identifier: Apache-2.0

// Constructors (in addition to the interface in store.go):
//
//	st, err := store.OpenEmbedded(dir, store.Options{})        // the default, one process per dir
//	st := store.NewVictoriaLogs("http://127.0.0.1:9428", store.VictoriaLogsOptions{})
//
// Options of the embedded store: TTL per Kind (KindFlow 2 h, KindStats
// 168 h, KindConfigAudit 2160 h, KindGlobal 48 h by default), Partition,
// BlockRows, WALSegmentBytes, RetentionInterval, Now, Logger. The
// embedded store also implements BatchScanner, the query engine's
// columnar fast path, and has Stats and DropExpired.
//
// Shared semantics live here too: Matcher (CompileMatch, MatchRow) is how
// every store and the query engine evaluate the match ops 1-8;
// StaticTables, BuildSchema and TableKind describe the tables.
package store
