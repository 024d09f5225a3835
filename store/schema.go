package store

import (
	"context"
	"fmt"
	"time"
)

// Migration is one versioned schema change. Statements run in order and
// must be idempotent (IF NOT EXISTS), so a migration interrupted half-way
// can simply run again.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

// Migrations is the schema's history. Append only: never edit a migration
// that has shipped.
var Migrations = []Migration{
	{
		Version: 1,
		Name:    "bitcoin blocks, transactions, inputs, outputs and address index",
		Statements: []string{
			`CREATE TABLE IF NOT EXISTS btc_blocks (
				height UInt32,
				hash String,
				parent String,
				time DateTime,
				size UInt32,
				tx_count UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree() ORDER BY (height, hash)`,
			`CREATE TABLE IF NOT EXISTS btc_txs (
				txid String,
				block_hash String,
				block_height UInt32,
				idx UInt32,
				time DateTime,
				coinbase UInt8,
				size UInt32,
				vsize UInt32,
				input_count UInt32,
				output_count UInt32,
				input_value Int64,
				output_value Int64,
				fee Int64
			) ENGINE = ReplacingMergeTree() ORDER BY (txid, block_hash)`,
			`CREATE TABLE IF NOT EXISTS btc_outputs (
				txid String,
				n UInt32,
				block_hash String,
				block_height UInt32,
				time DateTime,
				address String,
				script_type String,
				value Int64
			) ENGINE = ReplacingMergeTree() ORDER BY (txid, n, block_hash)`,
			`CREATE TABLE IF NOT EXISTS btc_inputs (
				txid String,
				n UInt32,
				block_hash String,
				block_height UInt32,
				time DateTime,
				prev_txid String,
				prev_n UInt32,
				coinbase UInt8,
				address String,
				script_type String,
				value Int64
			) ENGINE = ReplacingMergeTree() ORDER BY (txid, n, block_hash)`,
			// One row per output received and per input spent by an address,
			// so an address lookup reads one key range.
			`CREATE TABLE IF NOT EXISTS btc_address_io (
				address String,
				txid String,
				is_input UInt8,
				n UInt32,
				block_hash String,
				block_height UInt32,
				time DateTime,
				value Int64
			) ENGINE = ReplacingMergeTree() ORDER BY (address, txid, is_input, n, block_hash)`,
		},
	},
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version UInt32,
	name String,
	applied DateTime
) ENGINE = ReplacingMergeTree() ORDER BY version`

// Migrate applies the migrations that have not run yet, in version order.
func Migrate(ctx context.Context, c Conn) error {
	if err := c.Exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("store: creating schema_migrations: %w", err)
	}
	applied := map[uint32]bool{}
	rows, err := c.Query(ctx, "SELECT version FROM schema_migrations FINAL")
	if err != nil {
		return fmt.Errorf("store: reading schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("store: reading schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("store: reading schema_migrations: %w", err)
	}
	rows.Close()
	for _, m := range Migrations {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := c.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("store: migration %d (%s), statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		err := c.Insert(ctx, "schema_migrations", []Column{
			{Name: "version", Values: []uint32{m.Version}},
			{Name: "name", Values: []string{m.Name}},
			{Name: "applied", Values: []time.Time{time.Now().UTC()}},
		})
		if err != nil {
			return fmt.Errorf("store: recording migration %d: %w", m.Version, err)
		}
	}
	return nil
}

// SchemaVersion is the newest migration this build knows.
func SchemaVersion() uint32 { return Migrations[len(Migrations)-1].Version }

// Drop removes every table the migrations create and the migration record.
// Destructive: only benchmarks use it, on their own databases.
func Drop(ctx context.Context, c Conn) error {
	for _, t := range append(append([]string{}, btcTables...), "schema_migrations") {
		if err := c.Exec(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return fmt.Errorf("store: dropping %s: %w", t, err)
		}
	}
	return nil
}
