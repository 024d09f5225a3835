package store

import (
	"context"
	"fmt"
	"os"
	"strings"
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
	// Version 2: Ethereum (ingest/eth). Values are exact integers of base
	// units in Decimal(38, 0), the widest integer type ClickHouse 18.16
	// and current ClickHouse share; a token value above 10^38-1 (uint256
	// allows 1.2·10^77) is 0 there and its exact decimal text is in
	// value_big. Addresses are lower-case 0x hex; asset is "ETH" or the
	// token contract.
	{
		Version: 2,
		Name:    "ethereum blocks, transfers (native, token, internal) and address index",
		Statements: []string{
			`CREATE TABLE IF NOT EXISTS eth_blocks (
				height UInt64,
				hash String,
				parent String,
				time DateTime,
				size UInt32,
				tx_count UInt32,
				transfer_count UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree() ORDER BY (height, hash)`,
			// kind: native (a transaction's ETH value and fee; idx 0),
			// token (an ERC-20 Transfer log; idx = log index in the block),
			// internal (ETH moved by a call; idx = the call's position in
			// the transaction's call tree).
			`CREATE TABLE IF NOT EXISTS eth_transfers (
				txid String,
				kind String,
				idx UInt32,
				block_hash String,
				block_height UInt64,
				time DateTime,
				tx_index UInt32,
				asset String,
				from_address String,
				to_address String,
				value Decimal(38, 0),
				value_big String,
				fee Decimal(38, 0),
				success UInt8,
				zero UInt8
			) ENGINE = ReplacingMergeTree() ORDER BY (txid, kind, idx, block_hash)`,
			// One row per side of each transfer (is_from 1: the address
			// sent it), so an address lookup reads one key range.
			`CREATE TABLE IF NOT EXISTS eth_address_transfers (
				address String,
				is_from UInt8,
				txid String,
				kind String,
				idx UInt32,
				block_hash String,
				block_height UInt64,
				time DateTime,
				tx_index UInt32,
				asset String,
				from_address String,
				to_address String,
				value Decimal(38, 0),
				value_big String,
				fee Decimal(38, 0),
				success UInt8,
				zero UInt8
			) ENGINE = ReplacingMergeTree() ORDER BY (address, asset, txid, kind, idx, is_from, block_hash)`,
		},
	},
	// Version 3: address clusters (trace/). Rows that change as clusters
	// grow carry a version and are read with FINAL or argMax.
	{
		Version: 3,
		Name:    "bitcoin address clusters, merge evidence and held merges",
		Statements: []string{
			// One row per applied merge: the link that joined two clusters.
			`CREATE TABLE IF NOT EXISTS trace_btc_merges (
				address_a String,
				address_b String,
				txid String,
				heuristic String,
				heuristic_version UInt16,
				block_hash String,
				block_height UInt32,
				cluster_a UInt32,
				cluster_b UInt32,
				size_a UInt32,
				size_b UInt32,
				cluster UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY (address_a, address_b, txid, heuristic)`,
			// Merges the supercluster guard held back, for review.
			`CREATE TABLE IF NOT EXISTS trace_btc_held (
				address_a String,
				address_b String,
				txid String,
				heuristic String,
				heuristic_version UInt16,
				block_hash String,
				block_height UInt32,
				cluster_a UInt32,
				cluster_b UInt32,
				size_a UInt32,
				size_b UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY (address_a, address_b, txid, heuristic)`,
			`CREATE TABLE IF NOT EXISTS trace_btc_address_cluster (
				address String,
				address_id UInt32,
				cluster UInt32,
				block_height UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY address`,
			// size 0: the cluster was absorbed into another.
			`CREATE TABLE IF NOT EXISTS trace_btc_clusters (
				cluster UInt32,
				size UInt32,
				block_height UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY cluster`,
		},
	},
	// Version 4: labels (labels/). Append only: every import is a version
	// of its source; the labels in force at a date are those of each
	// source's latest import valid at that date. Entries are written
	// first and the import row last, so an interrupted import is invisible.
	{
		Version: 4,
		Name:    "labels: imports (versions of each source) and their entries",
		Statements: []string{
			`CREATE TABLE IF NOT EXISTS label_imports (
				import_id String,
				source String,
				format String,
				content_hash String,
				valid_from DateTime,
				imported_at DateTime,
				added_by String,
				files String,
				labels UInt32,
				report String
			) ENGINE = ReplacingMergeTree() ORDER BY (source, import_id)`,
			`CREATE TABLE IF NOT EXISTS label_entries (
				import_id String,
				source String,
				chain String,
				address String,
				cluster String,
				entity String,
				category String,
				confidence UInt8,
				known_since DateTime,
				added_by String,
				program String,
				asset String,
				apply_to_cluster UInt8,
				reference String,
				origin String,
				raw String
			) ENGINE = ReplacingMergeTree() ORDER BY (address, cluster, chain, import_id, entity, asset)`,
		},
	},
	// Version 5: alerts (alert/): every published state of every alert,
	// and the incoming payments the repeated-payments rules remember.
	{
		Version: 5,
		Name:    "alerts and the payments behind repeated-payment rules",
		Statements: []string{
			`CREATE TABLE IF NOT EXISTS alerts (
				id String,
				status String,
				status_rank UInt8,
				rule String,
				severity String,
				chain String,
				txid String,
				block_hash String,
				height UInt64,
				time DateTime,
				direction String,
				address String,
				amount String,
				asset String,
				payload String,
				published DateTime
			) ENGINE = ReplacingMergeTree() ORDER BY (id, status)`,
			// address: the paid address, or its cluster (cluster:ID).
			`CREATE TABLE IF NOT EXISTS alert_payments (
				rule String,
				address String,
				payer String,
				txid String,
				block_hash String,
				height UInt64,
				amount String
			) ENGINE = ReplacingMergeTree() ORDER BY (rule, address, payer, txid, block_hash)`,
		},
	},
	// Version 6: Ethereum address clusters (trace/, the deposit-address
	// reuse heuristic), in the shapes of the Bitcoin ones (version 3).
	// A merge's txid is the payment of address_a into the deposit address
	// address_b; sweep_txid forwarded it to the exchange wallet exchange
	// (block_hash and block_height are the sweep's, whose undo removes the
	// merge; paid_height is the payment's); rule and confidence (0-100)
	// say which rule of the heuristic fired.
	{
		Version: 6,
		Name:    "ethereum address clusters, merge evidence and held merges",
		Statements: []string{
			`CREATE TABLE IF NOT EXISTS trace_eth_merges (
				address_a String,
				address_b String,
				txid String,
				heuristic String,
				heuristic_version UInt16,
				block_hash String,
				block_height UInt32,
				cluster_a UInt32,
				cluster_b UInt32,
				size_a UInt32,
				size_b UInt32,
				cluster UInt32,
				seq UInt64,
				sweep_txid String,
				exchange String,
				asset String,
				rule String,
				confidence UInt8,
				paid_height UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY (address_a, address_b, txid, heuristic)`,
			`CREATE TABLE IF NOT EXISTS trace_eth_held (
				address_a String,
				address_b String,
				txid String,
				heuristic String,
				heuristic_version UInt16,
				block_hash String,
				block_height UInt32,
				cluster_a UInt32,
				cluster_b UInt32,
				size_a UInt32,
				size_b UInt32,
				seq UInt64,
				sweep_txid String,
				exchange String,
				asset String,
				rule String,
				confidence UInt8,
				paid_height UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY (address_a, address_b, txid, heuristic)`,
			`CREATE TABLE IF NOT EXISTS trace_eth_address_cluster (
				address String,
				address_id UInt32,
				cluster UInt32,
				block_height UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY address`,
			`CREATE TABLE IF NOT EXISTS trace_eth_clusters (
				cluster UInt32,
				size UInt32,
				block_height UInt32,
				seq UInt64
			) ENGINE = ReplacingMergeTree(seq) ORDER BY cluster`,
		},
	},
	// Version 7: the exposure index (trace): per subject (an address,
	// or cluster:ID), label category and direction (from: received from the
	// category; to: sent to it), the haircut taint direct (one hop) and
	// indirect, as propagated from every category at once. A build writes
	// its rows under a new build number and then its row in
	// taint_exposure_builds, which says what it was built from (chain tip,
	// label imports, parameters); readers use the latest build listed there.
	{
		Version: 7,
		Name:    "exposure index: exposure per subject and category, and its builds",
		Statements: []string{
			`CREATE TABLE IF NOT EXISTS taint_exposure (
				subject String,
				build UInt64,
				category String,
				direction String,
				direct Int64,
				indirect Int64
			) ENGINE = MergeTree() ORDER BY (subject, build, category, direction)`,
			`CREATE TABLE IF NOT EXISTS taint_exposure_builds (
				build UInt64,
				chain String,
				params String,
				hops UInt8,
				min_value Int64,
				since DateTime,
				until DateTime,
				built_at DateTime,
				block_height UInt32,
				block_hash String,
				label_imports UInt32,
				labels_imported_at DateTime,
				categories String,
				subjects UInt64,
				rows UInt64,
				nodes UInt64,
				capped String,
				seconds Float64
			) ENGINE = MergeTree() ORDER BY build`,
		},
	},
	// Version 8: the tables read by key (the tracer, exposure, cluster and
	// label lookups) rebuilt with index granules of 1,024 rows instead of
	// 8,192. A keyed read decompresses and scans a granule per key in every
	// part, so smaller granules read less per key (docs/benchmarks.md,
	// tracer bench trace). ClickHouse
	// cannot change a table's granularity in place, so each is copied into
	// a new table that then takes its name (see rebuild).
	{
		Version:    8,
		Name:       "tables read by key rebuilt with index granules of 1,024 rows",
		Statements: rebuildAll(lookupTables),
	},
	// Version 9: the spend index. A downstream trace asks which input
	// spends an output; btc_inputs is sorted by the spending txid, so the
	// answer came from the address index: every row of the output's
	// address, then every transaction that spent from that address. For a
	// reused address that is thousands of transactions to find one.
	// btc_spends holds a row per spent output, sorted by the output. The
	// copy from btc_inputs may run again after an interruption: the
	// engines replace rows of the same key and readers drop a repeated
	// key. Stop the writers while a store with data migrates
	// (docs/clickhouse.md).
	{
		Version: 9,
		Name:    "spend index: the input that spends each output",
		Statements: []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS btc_spends (
				prev_txid String,
				prev_n UInt32,
				txid String,
				n UInt32,
				block_hash String
			) ENGINE = %s ORDER BY %s SETTINGS index_granularity = %d`, spendsTable.engine, spendsTable.orderBy, LookupGranularity),
			"INSERT INTO btc_spends (prev_txid, prev_n, txid, n, block_hash) SELECT prev_txid, prev_n, txid, n, block_hash FROM btc_inputs WHERE coinbase = 0",
		},
	},
}

// spendsTable is migration 9's spend index, read by key like lookupTables.
var spendsTable = struct{ name, engine, orderBy string }{"btc_spends", "ReplacingMergeTree()", "(prev_txid, prev_n, txid, n, block_hash)"}

// LookupGranularity is the index granularity of the tables read by key.
const LookupGranularity = 1024

// lookupTables are the tables migration 8 rebuilt, with their engine and
// sorting key (as migrations 1 to 7 created them). Later tables read by
// key are created with LookupGranularity (LookupTableNames lists them all).
var lookupTables = []struct{ name, engine, orderBy string }{
	{"btc_txs", "ReplacingMergeTree()", "(txid, block_hash)"},
	{"btc_outputs", "ReplacingMergeTree()", "(txid, n, block_hash)"},
	{"btc_inputs", "ReplacingMergeTree()", "(txid, n, block_hash)"},
	{"btc_address_io", "ReplacingMergeTree()", "(address, txid, is_input, n, block_hash)"},
	{"eth_transfers", "ReplacingMergeTree()", "(txid, kind, idx, block_hash)"},
	{"eth_address_transfers", "ReplacingMergeTree()", "(address, asset, txid, kind, idx, is_from, block_hash)"},
	{"trace_btc_address_cluster", "ReplacingMergeTree(seq)", "address"},
	{"trace_eth_address_cluster", "ReplacingMergeTree(seq)", "address"},
	{"label_entries", "ReplacingMergeTree()", "(address, cluster, chain, import_id, entity, asset)"},
}

// Suffixes of the tables a rebuild works with.
const (
	rebuildNew = "__rebuild_new"
	rebuildOld = "__rebuild_old"
)

func rebuildAll(tables []struct{ name, engine, orderBy string }) []string {
	var out []string
	for _, t := range tables {
		out = append(out, rebuild(t.name, t.engine, t.orderBy)...)
	}
	return out
}

// rebuild copies table into a new table of the same columns, engine and
// sorting key with LookupGranularity, which then takes its name. Every
// step may run again after an interruption: a copy interrupted before the
// rename is copied again (the engines replace rows of the same key, and
// every reader drops a repeated key, as after a loader's retry); after the
// rename the old table is dropped on the next run. The copy is not safe
// against writers: stop the loaders and the clusterer while a store with
// data migrates (docs/clickhouse.md).
func rebuild(table, engine, orderBy string) []string {
	n, o := table+rebuildNew, table+rebuildOld
	return []string{
		"DROP TABLE IF EXISTS " + o,
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s AS %s ENGINE = %s ORDER BY %s SETTINGS index_granularity = %d", n, table, engine, orderBy, LookupGranularity),
		fmt.Sprintf("INSERT INTO %s SELECT * FROM %s", n, table),
		fmt.Sprintf("RENAME TABLE %s TO %s, %s TO %s", table, o, n, table),
		"DROP TABLE " + o,
	}
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version UInt32,
	name String,
	applied DateTime
) ENGINE = ReplacingMergeTree() ORDER BY version`

// Migrate applies the migrations that have not run yet, in version order.
// It then gives the tables read by key their compression block size
// where the engine has it as a table setting (tuneLayout).
func Migrate(ctx context.Context, c Conn) error {
	_, _, err := migrateAll(ctx, c)
	return err
}

// migrateAll is Migrate, returning what tuneLayout found of the layout.
func migrateAll(ctx context.Context, c Conn) (how string, profileValue int, err error) {
	if err := migrate(ctx, c, ^uint32(0)); err != nil {
		return "", 0, err
	}
	return tuneLayout(ctx, c)
}

// migrate applies the migrations up to version upTo that have not run yet.
func migrate(ctx context.Context, c Conn, upTo uint32) error {
	if err := c.Exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("store: creating schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, c)
	if err != nil {
		return err
	}
	pending := false
	for _, m := range Migrations {
		pending = pending || (!applied[m.Version] && m.Version <= upTo)
	}
	if !pending {
		return nil
	}
	// Processes that open one store at once (tracer run and a query, two
	// loaders) must not run a migration side by side: migration 8 renames
	// tables. The first takes the lock; the others wait for it and then
	// find the migrations applied.
	unlock, err := lockMigrations(ctx, c, migrationLockWait)
	if err != nil {
		return err
	}
	defer unlock()
	if applied, err = appliedMigrations(ctx, c); err != nil {
		return err
	}
	for _, m := range Migrations {
		if applied[m.Version] || m.Version > upTo {
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

func appliedMigrations(ctx context.Context, c Conn) (map[uint32]bool, error) {
	applied := map[uint32]bool{}
	rows, err := c.Query(ctx, "SELECT version FROM schema_migrations FINAL")
	if err != nil {
		return nil, fmt.Errorf("store: reading schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("store: reading schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading schema_migrations: %w", err)
	}
	return applied, nil
}

// The migration lock is a table: creating a table that exists fails, on
// both engines, so one process at a time creates it. It holds a row saying
// who took it and when.
const migrationLockTable = "schema_migrations_lock"

// migrationLockWait bounds the wait for another process's migrations (a
// rebuild of migration 8 takes minutes on a large store).
var migrationLockWait = 15 * time.Minute

// lockMigrations takes the migration lock, waiting up to wait for a
// process that holds it, and returns its release.
func lockMigrations(ctx context.Context, c Conn, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	for {
		err := c.Exec(ctx, "CREATE TABLE "+migrationLockTable+" (holder String, since DateTime) ENGINE = TinyLog")
		if err == nil {
			host, _ := os.Hostname()
			holder := fmt.Sprintf("pid %d on %s", os.Getpid(), host)
			if err := c.Insert(ctx, migrationLockTable, []Column{{Name: "holder", Values: []string{holder}}, {Name: "since", Values: []time.Time{time.Now().UTC()}}}); err != nil {
				_ = c.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+migrationLockTable)
				return nil, fmt.Errorf("store: taking the migration lock: %w", err)
			}
			return func() { _ = c.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+migrationLockTable) }, nil
		}
		// Held by another process (error 57 on both engines; it may have
		// let go since, and the next try takes it). Any other error is
		// no lock to wait for: rights, a broken server.
		if !strings.Contains(err.Error(), "already exists") {
			return nil, fmt.Errorf("store: taking the migration lock: %w", err)
		}
		if time.Now().After(deadline) {
			who := "a process"
			if rows, err := c.Query(ctx, "SELECT holder, toString(since) FROM "+migrationLockTable); err == nil {
				if rows.Next() {
					var h, since string
					if rows.Scan(&h, &since) == nil {
						who = fmt.Sprintf("%s since %s UTC", h, since)
					}
				}
				rows.Close()
			}
			return nil, fmt.Errorf("store: the store is being migrated by %s (waited %s); if no process is migrating it, drop the table %s", who, wait, migrationLockTable)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// SchemaVersion is the newest migration this build knows.
func SchemaVersion() uint32 {
	var v uint32
	for _, m := range Migrations {
		v = max(v, m.Version)
	}
	return v
}

// Tables lists every table the migrations create, in creation order.
func Tables() []string {
	var out []string
	for _, m := range Migrations {
		for _, stmt := range m.Statements {
			rest, ok := strings.CutPrefix(strings.TrimSpace(stmt), "CREATE TABLE IF NOT EXISTS ")
			if !ok {
				continue
			}
			if name, _, ok := strings.Cut(rest, " "); ok && !strings.HasSuffix(name, rebuildNew) {
				out = append(out, name)
			}
		}
	}
	return out
}

// Drop removes every table the migrations create and the migration record.
// Destructive: only benchmarks use it, on their own databases.
func Drop(ctx context.Context, c Conn) error {
	tables := append(Tables(), "schema_migrations", migrationLockTable)
	for _, t := range lookupTables {
		tables = append(tables, t.name+rebuildNew, t.name+rebuildOld)
	}
	for _, t := range tables {
		if err := c.Exec(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return fmt.Errorf("store: dropping %s: %w", t, err)
		}
	}
	return nil
}
