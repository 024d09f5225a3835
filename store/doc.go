// Package store keeps the normalized chain data in ClickHouse and answers the
// investigator's lookups (address, transaction, stats).
//
// One SQL dialect serves two engines, behind the small Conn interface: a
// ClickHouse server or cluster (store/clickhouse) and embedded chDB
// (store/chdb). Every statement must run on ClickHouse 18.16 (Debian's
// package) and on current ClickHouse, which rules out CTEs, window
// functions, UInt256/Int128, TTL, server-side {name:Type} parameters and
// LowCardinality.
//
// # Idempotency
//
// The loader may insert a block twice (a crash between insert and ack makes
// JetStream redeliver it). Every table is a ReplacingMergeTree whose sorting
// key is the row's natural key including the block hash, and every read
// uses FINAL, so a repeated insert is never counted twice. An undo deletes a
// block's rows by block hash (ALTER TABLE ... DELETE, waited for).
package store
