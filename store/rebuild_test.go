package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/clickhouse"
)

func TestRebuildMigrationClickHouseServer(t *testing.T) { testRebuildMigration(t, clickhouseConn(t)) }

func TestRebuildMigrationChDB(t *testing.T) { testRebuildMigration(t, chdbConn(t)) }

// Migration 8 on a store that an older version filled: the tables read by
// key get granules of 1,024 rows and keep every row, also when the
// migration was interrupted before the rename (btc_outputs: copied again)
// or after it (btc_inputs: the old table dropped on the next run).
func testRebuildMigration(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	if err := store.MigrateTo(ctx, conn, 7); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	txids, ns, heights, addrs, values := make([]string, n), make([]uint32, n), make([]uint32, n), make([]string, n), make([]int64, n)
	times := make([]time.Time, n)
	for i := range n {
		txids[i], ns[i], heights[i] = fmt.Sprintf("%064x", i/3), uint32(i%3), uint32(i/30)
		addrs[i], values[i], times[i] = fmt.Sprintf("addr%d", i%700), int64(i)*1000+7, time.Unix(1700000000+int64(i), 0).UTC()
	}
	cols := func(extra ...store.Column) []store.Column {
		return append([]store.Column{
			{Name: "txid", Values: txids}, {Name: "n", Values: ns}, {Name: "block_hash", Values: make([]string, n)},
			{Name: "block_height", Values: heights}, {Name: "time", Values: times}, {Name: "address", Values: addrs},
			{Name: "value", Values: values},
		}, extra...)
	}
	if err := conn.Insert(ctx, "btc_outputs", cols()); err != nil {
		t.Fatal(err)
	}
	if err := conn.Insert(ctx, "btc_inputs", cols(store.Column{Name: "prev_txid", Values: txids})); err != nil {
		t.Fatal(err)
	}
	// Interrupted runs: before the rename, and after it.
	for table, steps := range map[string]int{"btc_outputs": 3, "btc_inputs": 4} {
		for _, stmt := range store.RebuildStatements(table)[:steps] {
			if err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, table := range store.LookupTables() {
		engine := queryString(t, conn, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ?", table)
		if !strings.Contains(engine, fmt.Sprintf("index_granularity = %d", store.LookupGranularity)) {
			t.Errorf("%s: engine %q, want index_granularity = %d", table, engine, store.LookupGranularity)
		}
	}
	if left := queryString(t, conn, "SELECT toString(groupArray(name)) FROM system.tables WHERE database = currentDatabase() AND name LIKE '%rebuild%'"); left != "[]" {
		t.Errorf("tables left by the rebuild: %s", left)
	}
	for _, table := range []string{"btc_outputs", "btc_inputs"} {
		got := queryString(t, conn, "SELECT toString(count()) || ' ' || toString(sum(value)) || ' ' || toString(uniqExact(txid, n)) FROM "+table+" FINAL")
		want := fmt.Sprintf("%d %d %d", n, sumOf(values), n)
		if got != want {
			t.Errorf("%s after the rebuild: rows, value sum, distinct keys %s; want %s", table, got, want)
		}
	}
	// A store that migrated stays as it is.
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
}

func sumOf(vs []int64) int64 {
	var s int64
	for _, v := range vs {
		s += v
	}
	return s
}

func queryString(t *testing.T, conn store.Conn, q string, args ...any) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("%s: no row", q)
	}
	var s string
	if err := rows.Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOptimizeClickHouseServer(t *testing.T) { testOptimize(t, clickhouseConn(t)) }

func TestOptimizeChDB(t *testing.T) { testOptimize(t, chdbConn(t)) }

// Optimize merges a table written in several inserts into one part and
// drops the rows a retry repeated; a table of one part is left alone.
func testOptimize(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		txid := fmt.Sprintf("%064x", i%3) // the fourth insert repeats the first
		err := conn.Insert(ctx, "btc_outputs", []store.Column{
			{Name: "txid", Values: []string{txid, txid}}, {Name: "n", Values: []uint32{0, 1}},
			{Name: "block_hash", Values: []string{"h", "h"}}, {Name: "address", Values: []string{"a", "b"}}, {Name: "value", Values: []int64{5, 6}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := store.Optimize(ctx, conn, []string{"btc_outputs", "btc_inputs"}, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].PartsAfter != 1 || res[0].StillMerging {
		t.Fatalf("btc_outputs: %+v, want one part", res)
	}
	if !res[1].SkippedSingle || res[1].PartsBefore != 0 {
		t.Errorf("btc_inputs (empty): %+v, want skipped", res[1])
	}
	if got := queryString(t, conn, "SELECT toString(count()) FROM btc_outputs"); got != "6" {
		t.Errorf("%s rows after optimizing, want 6 (3 transactions of 2 outputs; the repeated insert dropped)", got)
	}
	parts, err := store.ActiveParts(ctx, conn, []string{"btc_outputs"})
	if err != nil || parts["btc_outputs"] != 1 {
		t.Errorf("active parts %v (%v), want 1", parts, err)
	}
}

// Processes that open one store at once migrate it once: one takes the
// migration lock, the others wait and find the migrations applied (without
// the lock, two rebuilds of migration 8 trip over each other's renames).
func TestConcurrentMigrationsClickHouseServer(t *testing.T) {
	ctx := context.Background()
	dsn := chserver.TempDatabase(t)
	const n = 4
	errs := make(chan error, n)
	conns := make([]store.Conn, n)
	for i := range conns {
		c, err := clickhouse.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	for _, c := range conns {
		go func() { errs <- store.Migrate(ctx, c) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	conn := conns[0]
	for _, table := range store.LookupTables() {
		engine := queryString(t, conn, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ?", table)
		if !strings.Contains(engine, fmt.Sprintf("index_granularity = %d", store.LookupGranularity)) {
			t.Errorf("%s: engine %q", table, engine)
		}
	}
	if left := queryString(t, conn, "SELECT toString(groupArray(name)) FROM system.tables WHERE database = currentDatabase() AND (name LIKE '%rebuild%' OR name = 'schema_migrations_lock')"); left != "[]" {
		t.Errorf("tables left: %s", left)
	}
}

func TestMigrationLockHeldClickHouseServer(t *testing.T) { testMigrationLockHeld(t, clickhouseConn(t)) }

func TestMigrationLockHeldChDB(t *testing.T) { testMigrationLockHeld(t, chdbConn(t)) }

// A lock left by a process that died stops Migrate with an error naming
// the holder and the table to drop; dropping it lets Migrate run.
func testMigrationLockHeld(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	if err := store.MigrateTo(ctx, conn, 7); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE TABLE schema_migrations_lock (holder String, since DateTime) ENGINE = TinyLog"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Insert(ctx, "schema_migrations_lock", []store.Column{{Name: "holder", Values: []string{"pid 42 on gone"}}, {Name: "since", Values: []time.Time{time.Unix(1_800_000_000, 0)}}}); err != nil {
		t.Fatal(err)
	}
	old := store.SetMigrationLockWait(time.Second)
	defer store.SetMigrationLockWait(old)
	err := store.Migrate(ctx, conn)
	if err == nil || !strings.Contains(err.Error(), "pid 42 on gone since 2027-01-15") || !strings.Contains(err.Error(), "drop the table schema_migrations_lock") {
		t.Fatalf("Migrate under a held lock: %v; want an error naming the holder and the table", err)
	}
	if err := conn.Exec(ctx, "DROP TABLE schema_migrations_lock"); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if v := queryString(t, conn, "SELECT toString(max(version)) FROM schema_migrations"); v != fmt.Sprint(store.SchemaVersion()) {
		t.Errorf("schema version %s after the lock was dropped, want %d", v, store.SchemaVersion())
	}
}

func TestSpendsMigrationClickHouseServer(t *testing.T) { testSpendsMigration(t, clickhouseConn(t)) }

func TestSpendsMigrationChDB(t *testing.T) { testSpendsMigration(t, chdbConn(t)) }

// Migration 9 on a store that an older version filled: btc_spends holds
// one row per input that is not a coinbase, also when an interrupted run
// had copied the inputs once already.
func testSpendsMigration(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	if err := store.MigrateTo(ctx, conn, 8); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	txids, ns, prev, prevN, cb := make([]string, n), make([]uint32, n), make([]string, n), make([]uint32, n), make([]uint8, n)
	hashes := make([]string, n)
	coinbases := 0
	for i := range n {
		txids[i], ns[i], hashes[i] = fmt.Sprintf("%064x", i/4), uint32(i%4), fmt.Sprintf("block%d", i/40)
		prev[i], prevN[i] = fmt.Sprintf("%064x", 100000+i/7), uint32(i%7)
		if i%4 == 0 && i%40 == 0 {
			cb[i], prev[i], prevN[i] = 1, "", 0
			coinbases++
		}
	}
	err := conn.Insert(ctx, "btc_inputs", []store.Column{
		{Name: "txid", Values: txids}, {Name: "n", Values: ns}, {Name: "block_hash", Values: hashes},
		{Name: "prev_txid", Values: prev}, {Name: "prev_n", Values: prevN}, {Name: "coinbase", Values: cb},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An interrupted run: the copy made, the migration not recorded.
	for _, stmt := range store.MigrationStatements(9) {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	want := n - coinbases
	if got := queryString(t, conn, "SELECT toString(count()) FROM btc_spends FINAL"); got != fmt.Sprint(want) {
		t.Errorf("btc_spends: %s rows after FINAL, want %d (one per input that is not a coinbase)", got, want)
	}
	if got := queryString(t, conn, "SELECT toString(count()) FROM btc_spends"); got != fmt.Sprint(2*want) && got != fmt.Sprint(want) {
		t.Errorf("btc_spends: %s rows on disk, want %d or, before a merge, %d", got, want, 2*want)
	}
	// Every row is the input's own: spent output, spender and block.
	q := `SELECT toString(count()) FROM btc_spends FINAL
		WHERE (prev_txid, prev_n, txid, n, block_hash) NOT IN (SELECT prev_txid, prev_n, txid, n, block_hash FROM btc_inputs WHERE coinbase = 0)`
	if got := queryString(t, conn, q); got != "0" {
		t.Errorf("btc_spends: %s rows that no input has", got)
	}
	engine := queryString(t, conn, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'btc_spends'")
	if !strings.Contains(engine, fmt.Sprintf("index_granularity = %d", store.LookupGranularity)) || !strings.Contains(engine, "ORDER BY (prev_txid, prev_n") {
		t.Errorf("btc_spends: engine %q, want sorted by the spent output with granules of %d rows", engine, store.LookupGranularity)
	}
}

func TestCompressLayoutClickHouseServer(t *testing.T) {
	testCompressLayout(t, clickhouseConn(t), "server profile")
}

func TestCompressLayoutChDB(t *testing.T) { testCompressLayout(t, chdbConn(t), "table setting") }

// The tables read by key get store.CompressBlockSize: on chDB as a table
// setting that Migrate sets, on the 18.16 server from the default profile
// (chserver writes it, as docs/clickhouse.md asks of operators). Optimize with
// rewrite rewrites a table of one part, which a part written before the
// setting needs.
func testCompressLayout(t *testing.T, conn store.Conn, wantHow string) {
	ctx := context.Background()
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	// Keyed reads filter in PREWHERE on 18.16, in WHERE on current
	// ClickHouse (docs/clickhouse.md).
	wantFilter := map[string]string{"server profile": "PREWHERE", "table setting": "WHERE"}[wantHow]
	if got := store.KeyFilter(conn); got != wantFilter {
		t.Errorf("KeyFilter on %s: %s, want %s", conn.Engine(), got, wantFilter)
	}
	if rows, err := conn.Query(ctx, "SELECT count() FROM btc_txs "+store.KeyFilter(conn)+" txid IN ?", store.Keys{"a"}); err != nil {
		t.Errorf("a keyed read in %s: %v", store.KeyFilter(conn), err)
	} else {
		rows.Close()
	}
	how, _, err := store.CompressLayout(ctx, conn)
	if err != nil || how != wantHow {
		t.Fatalf("CompressLayout: %q (%v), want %q", how, err, wantHow)
	}
	want := fmt.Sprintf("min_compress_block_size = %d", store.CompressBlockSize)
	for _, table := range store.LookupTables() {
		engine := queryString(t, conn, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ?", table)
		if has := strings.Contains(engine, want); has != (wantHow == "table setting") {
			t.Errorf("%s: engine %q: has %q = %v, want %v", table, engine, want, has, !has)
		}
	}
	// Migrating again changes nothing.
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	err = conn.Insert(ctx, "btc_txs", []store.Column{{Name: "txid", Values: []string{"a", "b"}}, {Name: "block_hash", Values: []string{"h", "h"}}})
	if err != nil {
		t.Fatal(err)
	}
	part := func() string {
		return queryString(t, conn, "SELECT toString(groupArray(name)) FROM system.parts WHERE active AND database = currentDatabase() AND table = 'btc_txs'")
	}
	before := part()
	res, err := store.Optimize(ctx, conn, []string{"btc_txs"}, time.Minute, false)
	if err != nil || !res[0].SkippedSingle || part() != before {
		t.Fatalf("Optimize without rewrite of a table of one part: %+v (%v), parts %s then %s; want it left alone", res, err, before, part())
	}
	res, err = store.Optimize(ctx, conn, []string{"btc_txs"}, time.Minute, true)
	if err != nil || res[0].SkippedSingle || res[0].PartsAfter != 1 {
		t.Fatalf("Optimize with rewrite: %+v (%v), want one part rewritten", res, err)
	}
	if after := part(); after == before {
		t.Errorf("Optimize with rewrite left the part %s as it was", before)
	}
	if got := queryString(t, conn, "SELECT toString(count()) FROM btc_txs"); got != "2" {
		t.Errorf("%s rows after the rewrite, want 2", got)
	}
}
