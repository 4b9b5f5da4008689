// Package store is the analytics store: the tables that the collector
// writes (MessageTable, the Object*Table tables, FlowRecordTable,
// FlowSeriesTable, StatTable.*) and that the query engine reads. The
// embedded implementation is the default; a distributed engine sits
// behind the same interface.
package store

import "context"

// Row is one record of an analytics table. Field values are string,
// int64, float64 or bool.
type Row struct {
	Table  string
	T      int64 // microseconds since the Unix epoch, as the original's timestamps
	Fields map[string]any
}

// Writer takes rows from the collector. Write returns once the rows are
// durable (or the error says why not).
type Writer interface {
	Write(ctx context.Context, rows []Row) error
}

// Match is one condition of a where clause or filter (the original's
// query_rest.idl match_op values 1-8).
type Match struct {
	Name   string `json:"name"`
	Value  any    `json:"value"`
	Op     int    `json:"op"`
	Value2 any    `json:"value2,omitempty"`
}

// Query is the original's query structure (query_rest.idl), with times
// already resolved to microseconds.
type Query struct {
	Table        string    `json:"table"`
	StartTime    int64     `json:"start_time"`
	EndTime      int64     `json:"end_time"`
	SelectFields []string  `json:"select_fields"`
	Where        [][]Match `json:"where,omitempty"` // OR of ANDs
	Filter       [][]Match `json:"filter,omitempty"`
	Sort         int       `json:"sort,omitempty"` // 1 ascending, 2 descending
	SortFields   []string  `json:"sort_fields,omitempty"`
	Limit        int       `json:"limit,omitempty"`
	Dir          *int      `json:"dir,omitempty"`
}

// Column describes one column of a table schema as the analytics API
// shows it under /analytics/table/<t>/schema.
type Column struct {
	Name     string   `json:"name"`
	Datatype string   `json:"datatype"` // string, int, long, double, uuid, ipaddr, percentiles...
	Index    bool     `json:"index"`
	Suffixes []string `json:"suffixes,omitempty"`
}

// Table is a table's name and schema.
type Table struct {
	Name    string   `json:"name"`
	Display string   `json:"display_name,omitempty"`
	Columns []Column `json:"columns"`
}

// Store is the whole analytics store.
type Store interface {
	Writer
	// Tables lists every table known, including StatTable.* tables
	// created by the stats that arrived.
	Tables() []Table
	// Scan calls fn for every row of q.Table with StartTime <= T <= EndTime
	// that matches q.Where, in time order, until fn returns false.
	// Selection, aggregation, sort and limit are the query engine's job.
	Scan(ctx context.Context, q Query, fn func(Row) bool) error
	Close() error
}
