package store

import (
	"context"
)

// Conn is what the store needs from a ClickHouse engine. Two drivers provide
// it: store/clickhouse (a server or cluster over the native protocol) and
// store/chdb (embedded chDB). Both bind arguments on the client side: queries
// use positional `?` placeholders and never carry values pasted in by hand.
//
// Argument types a driver must bind: string, []byte (as a string), bool,
// int, int8..int64, uint, uint8..uint64, float64, time.Time (as DateTime, UTC),
// clickhouse.GroupSet (github.com/ClickHouse/clickhouse-go/v2) for the
// right-hand side of `col IN ?`, rendered as a parenthesised list, and Keys
// for the same place when the set is large.
type Conn interface {
	// Exec runs a statement that returns no rows (DDL, ALTER ... DELETE).
	Exec(ctx context.Context, query string, args ...any) error
	// Query runs a SELECT and returns its rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// Insert appends rows to table, column-wise: cols[i].Values is a typed
	// slice and all slices have the same length. Inserts always name their
	// columns, which ClickHouse 18.16 needs.
	Insert(ctx context.Context, table string, cols []Column) error
	// Engine names the engine and version, e.g. "clickhouse-server 18.16.1".
	Engine() string
	Close() error
}

// Rows iterates over query results, like database/sql.Rows.
//
// Scan destinations a driver must fill: *string, *bool, *int, *int8..*int64,
// *uint8..*uint64, *float64, *time.Time.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Column is one column of an insert. Values is one of []string, []bool,
// []int8, []int16, []int32, []int64, []uint8, []uint16, []uint32, []uint64,
// []float64 or []time.Time (for DateTime columns, stored as UTC seconds).
type Column struct {
	Name   string
	Values any
}

// Keys is a set of strings for the right-hand side of `col IN ?` that the
// driver sends as data instead of as SQL text: an external table on a
// server, a format() table function on chDB. A literal list is parsed by
// ClickHouse element by element as SQL, and the query text is capped
// (max_query_size); data needs no parsing and has no cap below KeysLimit.
// An empty Keys matches nothing.
type Keys []string

// KeysLimit is the most keys one query should bind: what a server holds in
// memory per query and chDB takes in one query text stay bounded.
const KeysLimit = 50000
