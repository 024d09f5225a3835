package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// testBlocks is a two-block chain: a coinbase to A, then A pays B and C
// with change back to A, and an OP_RETURN. Addresses include quotes and a
// backslash, which must survive binding on both engines.
func testBlocks() []*chain.Block {
	const a, b, c = `bc1qaaa'"\x`, "1BBB", "3CCC"
	b0 := &chain.Block{Chain: "btc", Height: 0, Hash: "h0", Parent: "", Time: 1700000000, Size: 200, Txs: []chain.Tx{{
		Txid: "t0", Index: 0, Coinbase: true, Size: 100, Vsize: 100,
		Inputs:  []chain.Input{{Index: 0, Coinbase: true}},
		Outputs: []chain.Output{{Index: 0, Address: a, ScriptType: chain.ScriptP2WPKH, Value: 5_000_000_000}},
	}}}
	b1 := &chain.Block{Chain: "btc", Height: 1, Hash: "h1", Parent: "h0", Time: 1700000600, Size: 300, Txs: []chain.Tx{
		{Txid: "t1", Index: 0, Coinbase: true, Inputs: []chain.Input{{Index: 0, Coinbase: true}},
			Outputs: []chain.Output{{Index: 0, Address: c, ScriptType: chain.ScriptP2SH, Value: 5_000_001_000}}},
		{Txid: "t2", Index: 1, Size: 250, Vsize: 160,
			Inputs: []chain.Input{{Index: 0, PrevTxid: "t0", PrevIndex: 0, Address: a, ScriptType: chain.ScriptP2WPKH, Value: 5_000_000_000}},
			Outputs: []chain.Output{
				{Index: 0, Address: b, ScriptType: chain.ScriptP2PKH, Value: 1_000_000_000},
				{Index: 1, Address: c, ScriptType: chain.ScriptP2SH, Value: 2_000_000_000},
				{Index: 2, Address: a, ScriptType: chain.ScriptP2WPKH, Value: 1_999_999_000},
				{Index: 3, ScriptType: chain.ScriptNullData, Value: 0},
			}},
	}}
	return []*chain.Block{b0, b1}
}

func runSuite(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	st, err := store.New(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Migrating again is a no-op.
	if err := store.Migrate(ctx, conn); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	blocks := testBlocks()
	write := func(bs ...*chain.Block) {
		t.Helper()
		var batch store.Batch
		for i, b := range bs {
			if err := batch.AddBlock(b, uint64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Write(ctx, &batch); err != nil {
			t.Fatal(err)
		}
	}
	write(blocks...)
	// A redelivered batch (crash between insert and ack) is not counted twice.
	write(blocks[1])

	wantStats := store.Stats{Chain: "btc", Blocks: 2, Txs: 3, Inputs: 3, Outputs: 6, Addresses: 3, TipHeight: 1, TipHash: "h1"}
	checkStats(t, st, wantStats)

	a, err := st.Address(ctx, "btc", blocks[0].Txs[0].Outputs[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	if a.Received != 6_999_999_000 || a.Sent != 5_000_000_000 || a.Balance != 1_999_999_000 || a.TxCount != 2 {
		t.Errorf("address A: got received %d sent %d balance %d txs %d, want 6999999000 5000000000 1999999000 2", a.Received, a.Sent, a.Balance, a.TxCount)
	}
	if !a.FirstSeen.Equal(time.Unix(1700000000, 0)) || !a.LastSeen.Equal(time.Unix(1700000600, 0)) {
		t.Errorf("address A: got first %v last %v, want 1700000000 and 1700000600", a.FirstSeen.Unix(), a.LastSeen.Unix())
	}
	if _, err := st.Address(ctx, "btc", "nope' OR 1=1 --"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown address: got %v, want ErrNotFound", err)
	}

	txs, err := st.Tx(ctx, "btc", "t2")
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 {
		t.Fatalf("tx t2: got %d copies, want 1", len(txs))
	}
	tx := txs[0]
	if tx.BlockHeight != 1 || tx.Fee != 1000 || len(tx.Inputs) != 1 || len(tx.Outputs) != 4 || tx.Inputs[0].Value != 5_000_000_000 || tx.Inputs[0].PrevTxid != "t0" {
		t.Errorf("tx t2: got %+v", tx)
	}
	if tx.Outputs[3].Address != "" || tx.Outputs[3].ScriptType != chain.ScriptNullData {
		t.Errorf("tx t2 output 3: got %+v, want an OP_RETURN without address", tx.Outputs[3])
	}

	// The spend index names t2 as the spender of the output it spends.
	spentBy := func() string {
		t0, err := st.Tx(ctx, "btc", "t0")
		if err != nil || len(t0) != 1 {
			t.Fatalf("tx t0: %v, %d copies", err, len(t0))
		}
		return t0[0].Outputs[tx.Inputs[0].PrevN].SpentBy
	}
	if got := spentBy(); got != "t2:0" {
		t.Errorf("t0:%d spent by %q, want t2:0", tx.Inputs[0].PrevN, got)
	}

	// Undo block 1: its rows go, block 0 stays.
	if err := st.Undo(ctx, "btc", "h1"); err != nil {
		t.Fatal(err)
	}
	if got := spentBy(); got != "" {
		t.Errorf("t0:%d spent by %q after the spender's block was undone, want unspent", tx.Inputs[0].PrevN, got)
	}
	checkStats(t, st, store.Stats{Chain: "btc", Blocks: 1, Txs: 1, Inputs: 1, Outputs: 1, Addresses: 1, TipHeight: 0, TipHash: "h0"})
	if _, err := st.Tx(ctx, "btc", "t2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("undone tx: got %v, want ErrNotFound", err)
	}
	a, err = st.Address(ctx, "btc", blocks[0].Txs[0].Outputs[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	if a.Received != 5_000_000_000 || a.Sent != 0 {
		t.Errorf("address A after undo: got received %d sent %d, want 5000000000 0", a.Received, a.Sent)
	}
	// The block comes back (reorg back to the first branch).
	write(blocks[1])
	checkStats(t, st, wantStats)
}

func checkStats(t *testing.T, st *store.Store, want store.Stats) {
	t.Helper()
	got, err := st.Stats(context.Background(), "btc")
	if err != nil {
		t.Fatal(err)
	}
	want.Engine = got.Engine
	if *got != want {
		t.Errorf("stats: got %+v, want %+v", *got, want)
	}
}

func TestTablesCoversEveryMigration(t *testing.T) {
	Tables, Migrations := store.Tables, store.Migrations
	got := Tables()
	want := map[string]bool{"btc_blocks": true, "btc_address_io": true, "alerts": true, "alert_payments": true}
	seen := map[string]bool{}
	for _, name := range got {
		if seen[name] {
			t.Errorf("table %s listed twice", name)
		}
		seen[name] = true
		delete(want, name)
	}
	if len(want) > 0 {
		t.Errorf("Tables() misses %v (got %v)", want, got)
	}
	var creates int
	for _, m := range Migrations {
		for _, stmt := range m.Statements {
			if strings.Contains(stmt, "CREATE TABLE") && !strings.Contains(stmt, "__rebuild_new") {
				creates++
			}
		}
	}
	if creates != len(got) {
		t.Errorf("Tables() lists %d tables, the migrations create %d", len(got), creates)
	}
}
