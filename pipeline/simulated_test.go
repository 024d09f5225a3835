package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// These tests run the real pipeline (embedded NATS, ingestor, loader) into a
// real ClickHouse server on chains made by the simulator, and check what the
// store holds against what the test works out from the blocks on its own:
// txids, sizes and values from btcd's wire types, addresses from txscript.

// simTimeout bounds one test; the chains are small enough to take seconds.
const simTimeout = 3 * time.Minute

// simConfig is a chain that ingests in a few seconds on a loaded machine and
// is long enough for purchases, forwards and intermediary hops to occur.
func simConfig(params *chaincfg.Params, blocks, txsPerBlock int) simulate.Config {
	cfg := simulate.DefaultConfig()
	cfg.Params = params
	cfg.Blocks, cfg.TxsPerBlock, cfg.Users, cfg.Seed = blocks, txsPerBlock, 1000, 11
	return cfg
}

// simChain is a simulated chain written as a blocks directory, with what the
// store must hold once it is ingested.
type simChain struct {
	dir    string
	params *chaincfg.Params
	blocks []*wire.MsgBlock
	truth  *simulate.Truth
	want   *simWant
}

// simOut is an output as the store must name it.
type simOut struct {
	address, script string
	value           int64
}

// simWant is the store's expected content, rows formatted by the sim*Row
// functions, and per-address totals.
type simWant struct {
	blocks, txs, outputs, inputs, spendRows, io []string

	outs         map[wire.OutPoint]simOut
	txids        map[string]bool
	addresses    map[string]bool
	received     map[string]int64
	sent         map[string]int64
	nOut, nIn    map[string]uint64
	tipHash      string
	genesisOwner string // the genesis output's address, which the truth leaves unowned
}

// simMakeChain writes the chain of cfg to a blocks directory and makes the
// same chain again in memory (the generator is deterministic) to work out
// the expected store content from the blocks.
func simMakeChain(t *testing.T, cfg simulate.Config, xor bool) *simChain {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blocks")
	g, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := simulate.WriteBlocksDir(g, dir, xor); err != nil {
		t.Fatal(err)
	}
	truth, err := simulate.ReadTruthFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if xor {
		// Make sure the reader really has to undo the obfuscation: the
		// first record must not start with the plain network magic.
		key, err := os.ReadFile(filepath.Join(dir, "xor.dat"))
		if err != nil || len(key) != 8 || bytes.Equal(key, make([]byte, 8)) {
			t.Fatalf("xor.dat: %x, %v; want a non-zero 8-byte key", key, err)
		}
		head := make([]byte, 4)
		f, err := os.Open(filepath.Join(dir, "blk00000.dat"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if binary.LittleEndian.Uint32(head) == uint32(cfg.Params.Net) {
			t.Fatalf("blk00000.dat starts with the plain magic %x although xor.dat is set", head)
		}
	}

	g2, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &simChain{dir: dir, params: cfg.Params, truth: truth}
	for {
		b, err := g2.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c.blocks = append(c.blocks, b)
	}
	if len(c.blocks) != cfg.Blocks || truth.Blocks != int64(cfg.Blocks) {
		t.Fatalf("made %d blocks, truth has %d, want %d", len(c.blocks), truth.Blocks, cfg.Blocks)
	}
	c.want = simExpect(t, c.blocks, cfg.Params)
	if c.want.tipHash != truth.Tip {
		t.Fatalf("second generator ends at %s, the written chain at %s: not deterministic", c.want.tipHash, truth.Tip)
	}
	if truth.Network != cfg.Params.Name {
		t.Fatalf("truth network %q, want %q", truth.Network, cfg.Params.Name)
	}
	// The addresses worked out here must be the truth's: every address
	// but the genesis block's has an owner.
	owners := truth.Owners()
	for a := range c.want.addresses {
		if _, ok := owners[a]; !ok && a != c.want.genesisOwner {
			t.Fatalf("address %s has no owner in the truth: the test names addresses differently from the simulator", a)
		}
	}
	return c
}

func simBlockRow(height uint32, hash, parent string, tm, size, txCount uint32) string {
	return fmt.Sprintf("%d %s parent=%q time=%d size=%d txs=%d", height, hash, parent, tm, size, txCount)
}

func simTxRow(txid, blockHash string, height, idx, tm uint32, coinbase uint8, size, vsize, nIn, nOut uint32, inValue, outValue, fee int64) string {
	return fmt.Sprintf("%s block=%s/%d idx=%d time=%d cb=%d size=%d vsize=%d ins=%d outs=%d in=%d out=%d fee=%d",
		txid, blockHash, height, idx, tm, coinbase, size, vsize, nIn, nOut, inValue, outValue, fee)
}

func simOutputRow(txid string, n uint32, blockHash string, height, tm uint32, address, script string, value int64) string {
	return fmt.Sprintf("%s:%d block=%s/%d time=%d addr=%q type=%s value=%d", txid, n, blockHash, height, tm, address, script, value)
}

func simInputRow(txid string, n uint32, blockHash string, height, tm uint32, prevTxid string, prevN uint32, coinbase uint8, address, script string, value int64) string {
	return fmt.Sprintf("%s:%d block=%s/%d time=%d prev=%s:%d cb=%d addr=%q type=%q value=%d",
		txid, n, blockHash, height, tm, prevTxid, prevN, coinbase, address, script, value)
}

func simSpendRow(prevTxid string, prevN uint32, txid string, n uint32, blockHash string) string {
	return fmt.Sprintf("%s:%d spent by %s:%d block=%s", prevTxid, prevN, txid, n, blockHash)
}

func simIORow(address, txid string, isInput uint8, n uint32, blockHash string, height, tm uint32, value int64) string {
	return fmt.Sprintf("%s %s:%d in=%d block=%s/%d time=%d value=%d", address, txid, n, isInput, blockHash, height, tm, value)
}

// simExpect works out the store content from the blocks alone.
func simExpect(t *testing.T, blocks []*wire.MsgBlock, params *chaincfg.Params) *simWant {
	t.Helper()
	w := &simWant{
		outs:      make(map[wire.OutPoint]simOut),
		txids:     make(map[string]bool),
		addresses: make(map[string]bool),
		received:  make(map[string]int64),
		sent:      make(map[string]int64),
		nOut:      make(map[string]uint64),
		nIn:       make(map[string]uint64),
	}
	spent := make(map[wire.OutPoint]bool)
	for height, b := range blocks {
		h := uint32(height)
		hash := b.BlockHash().String()
		parent := ""
		if height > 0 {
			parent = b.Header.PrevBlock.String()
		}
		tm := uint32(b.Header.Timestamp.Unix())
		w.blocks = append(w.blocks, simBlockRow(h, hash, parent, tm, uint32(b.SerializeSize()), uint32(len(b.Transactions))))
		w.tipHash = hash
		for i, tx := range b.Transactions {
			txh := tx.TxHash()
			txid := txh.String()
			w.txids[txid] = true
			var cb uint8
			if i == 0 {
				cb = 1
			}
			var inValue, outValue int64
			for j, in := range tx.TxIn {
				if cb == 1 {
					w.inputs = append(w.inputs, simInputRow(txid, uint32(j), hash, h, tm, "", 0, 1, "", "", 0))
					continue
				}
				op := in.PreviousOutPoint
				o, ok := w.outs[op]
				if !ok || spent[op] {
					t.Fatalf("block %d tx %s input %d spends %v: unknown or already spent", height, txid, j, op)
				}
				spent[op] = true
				inValue += o.value
				w.inputs = append(w.inputs, simInputRow(txid, uint32(j), hash, h, tm, op.Hash.String(), op.Index, 0, o.address, o.script, o.value))
				w.spendRows = append(w.spendRows, simSpendRow(op.Hash.String(), op.Index, txid, uint32(j), hash))
				if o.address != "" {
					w.sent[o.address] += o.value
					w.nIn[o.address]++
					w.io = append(w.io, simIORow(o.address, txid, 1, uint32(j), hash, h, tm, o.value))
				}
			}
			for k, out := range tx.TxOut {
				addr, script := simAddress(t, out.PkScript, params)
				w.outs[wire.OutPoint{Hash: txh, Index: uint32(k)}] = simOut{addr, script, out.Value}
				outValue += out.Value
				w.outputs = append(w.outputs, simOutputRow(txid, uint32(k), hash, h, tm, addr, script, out.Value))
				if addr != "" {
					w.addresses[addr] = true
					w.received[addr] += out.Value
					w.nOut[addr]++
					w.io = append(w.io, simIORow(addr, txid, 0, uint32(k), hash, h, tm, out.Value))
					if height == 0 {
						w.genesisOwner = addr
					}
				}
			}
			fee := inValue - outValue
			if cb == 1 {
				fee = 0
			} else if fee < 0 {
				t.Fatalf("tx %s creates %d sat", txid, -fee)
			}
			// BIP141 vsize: weight/4 rounded up, weight = 3*stripped + total.
			size, stripped := tx.SerializeSize(), tx.SerializeSizeStripped()
			vsize := (3*stripped + size + 3) / 4
			w.txs = append(w.txs, simTxRow(txid, hash, h, uint32(i), tm, cb, uint32(size), uint32(vsize),
				uint32(len(tx.TxIn)), uint32(len(tx.TxOut)), inValue, outValue, fee))
		}
	}
	return w
}

// simAddress names an output script with txscript, independently of
// ingest/btc: P2PK by the P2PKH address of the key as the script holds
// it, bare multisig and nonstandard scripts by "s-" and the script's
// SHA-256, OP_RETURN by no address.
func simAddress(t *testing.T, pkScript []byte, params *chaincfg.Params) (address, script string) {
	t.Helper()
	class, addrs, _, err := txscript.ExtractPkScriptAddrs(pkScript, params)
	if err != nil {
		t.Fatalf("script %x: %v", pkScript, err)
	}
	one := func(typ string) (string, string) {
		if len(addrs) != 1 {
			t.Fatalf("%s script %x has %d addresses", typ, pkScript, len(addrs))
		}
		return addrs[0].EncodeAddress(), typ
	}
	switch class {
	case txscript.PubKeyHashTy:
		return one("p2pkh")
	case txscript.ScriptHashTy:
		return one("p2sh")
	case txscript.WitnessV0PubKeyHashTy:
		return one("p2wpkh")
	case txscript.WitnessV0ScriptHashTy:
		return one("p2wsh")
	case txscript.WitnessV1TaprootTy:
		return one("p2tr")
	case txscript.PubKeyTy:
		pk, ok := addrs[0].(*btcutil.AddressPubKey)
		if len(addrs) != 1 || !ok {
			t.Fatalf("P2PK script %x: key does not parse", pkScript)
		}
		return pk.AddressPubKeyHash().EncodeAddress(), "p2pk"
	case txscript.NullDataTy:
		return "", "nulldata"
	}
	sum := sha256.Sum256(pkScript)
	if class == txscript.MultiSigTy {
		return "s-" + hex.EncodeToString(sum[:]), "multisig"
	}
	t.Fatalf("script %x: class %s, which the simulator does not make", pkScript, class)
	return "", ""
}

// simOpen opens a pipeline on dir with the store in the ClickHouse database
// dsn. The returned close is idempotent and also runs at cleanup, so a
// failing test never leaves an embedded NATS server or the lock behind.
func simOpen(t *testing.T, dir, dsn string) (*pipeline.Pipeline, func()) {
	t.Helper()
	p, err := pipeline.Open(pipeline.Config{DataDir: dir, StoreDSN: dsn})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	var once sync.Once
	closeP := func() {
		once.Do(func() {
			if err := p.Close(); err != nil {
				t.Errorf("Close(%s): %v", dir, err)
			}
		})
	}
	t.Cleanup(closeP)
	return p, closeP
}

func simIngest(t *testing.T, ctx context.Context, p *pipeline.Pipeline, dir string, to int64) {
	t.Helper()
	start := time.Now()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: to}); err != nil {
		t.Fatalf("IngestBTC(to %d): %v", to, err)
	}
	t.Logf("ingested to height %d (-1: the tip) in %v", to, time.Since(start).Round(time.Millisecond))
}

func simStore(t *testing.T, ctx context.Context, p *pipeline.Pipeline) *store.Store {
	t.Helper()
	st, err := p.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// simRows runs q and formats each row with scan.
func simRows(t *testing.T, ctx context.Context, st *store.Store, q string, scan func(store.Rows) (string, error), args ...any) []string {
	t.Helper()
	rows, err := st.Conn().Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		s, err := scan(rows)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func simCount(t *testing.T, ctx context.Context, st *store.Store, q string) uint64 {
	t.Helper()
	var n uint64
	rows := simRows(t, ctx, st, q, func(r store.Rows) (string, error) { return "", r.Scan(&n) })
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows, want 1", q, len(rows))
	}
	return n
}

// simSameRows compares two multisets of rows and reports the difference.
func simSameRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if slices.Equal(got, want) {
		return
	}
	count := func(s []string) map[string]int {
		m := make(map[string]int, len(s))
		for _, r := range s {
			m[r]++
		}
		return m
	}
	g, w := count(got), count(want)
	var missing, extra []string
	for r, n := range w {
		for ; n > g[r]; n-- {
			missing = append(missing, r)
		}
	}
	for r, n := range g {
		for ; n > w[r]; n-- {
			extra = append(extra, r)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	t.Errorf("%s: got %d rows, want %d; %d missing (first: %v), %d extra or duplicated (first: %v)",
		what, len(got), len(want), len(missing), missing[:min(3, len(missing))], len(extra), extra[:min(3, len(extra))])
}

// simStoreContent reads the chain tables with FINAL, typed, into rows
// formatted like simExpect's.
type simStoreContent struct {
	blocks, txs, outputs, inputs, spendRows, io []string
	outs                                        map[string]simOut // by "txid:n"
	txids                                       map[string]bool
	spends                                      []simSpend
}

type simSpend struct {
	txid     string
	n        uint32
	prev     string // "txid:n"
	spending simOut
}

func simReadStore(t *testing.T, ctx context.Context, st *store.Store) *simStoreContent {
	t.Helper()
	c := &simStoreContent{outs: make(map[string]simOut), txids: make(map[string]bool)}
	c.blocks = simRows(t, ctx, st, "SELECT height, hash, parent, toUInt32(time), size, tx_count FROM btc_blocks FINAL",
		func(r store.Rows) (string, error) {
			var height, tm, size, n uint32
			var hash, parent string
			err := r.Scan(&height, &hash, &parent, &tm, &size, &n)
			return simBlockRow(height, hash, parent, tm, size, n), err
		})
	c.txs = simRows(t, ctx, st, `SELECT txid, block_hash, block_height, idx, toUInt32(time), coinbase, size, vsize,
			input_count, output_count, input_value, output_value, fee FROM btc_txs FINAL`,
		func(r store.Rows) (string, error) {
			var txid, hash string
			var height, idx, tm, size, vsize, nIn, nOut uint32
			var cb uint8
			var inV, outV, fee int64
			err := r.Scan(&txid, &hash, &height, &idx, &tm, &cb, &size, &vsize, &nIn, &nOut, &inV, &outV, &fee)
			c.txids[txid] = true
			return simTxRow(txid, hash, height, idx, tm, cb, size, vsize, nIn, nOut, inV, outV, fee), err
		})
	c.outputs = simRows(t, ctx, st, "SELECT txid, n, block_hash, block_height, toUInt32(time), address, script_type, value FROM btc_outputs FINAL",
		func(r store.Rows) (string, error) {
			var txid, hash, addr, script string
			var n, height, tm uint32
			var value int64
			err := r.Scan(&txid, &n, &hash, &height, &tm, &addr, &script, &value)
			c.outs[txid+":"+strconv.FormatUint(uint64(n), 10)] = simOut{addr, script, value}
			return simOutputRow(txid, n, hash, height, tm, addr, script, value), err
		})
	c.inputs = simRows(t, ctx, st, `SELECT txid, n, block_hash, block_height, toUInt32(time), prev_txid, prev_n, coinbase,
			address, script_type, value FROM btc_inputs FINAL`,
		func(r store.Rows) (string, error) {
			var txid, hash, prev, addr, script string
			var n, height, tm, prevN uint32
			var cb uint8
			var value int64
			err := r.Scan(&txid, &n, &hash, &height, &tm, &prev, &prevN, &cb, &addr, &script, &value)
			if cb == 0 {
				c.spends = append(c.spends, simSpend{txid, n, prev + ":" + strconv.FormatUint(uint64(prevN), 10), simOut{addr, script, value}})
			}
			return simInputRow(txid, n, hash, height, tm, prev, prevN, cb, addr, script, value), err
		})
	c.spendRows = simRows(t, ctx, st, "SELECT prev_txid, prev_n, txid, n, block_hash FROM btc_spends FINAL",
		func(r store.Rows) (string, error) {
			var prev, txid, hash string
			var prevN, n uint32
			err := r.Scan(&prev, &prevN, &txid, &n, &hash)
			return simSpendRow(prev, prevN, txid, n, hash), err
		})
	c.io = simRows(t, ctx, st, "SELECT address, txid, is_input, n, block_hash, block_height, toUInt32(time), value FROM btc_address_io FINAL",
		func(r store.Rows) (string, error) {
			var addr, txid, hash string
			var isInput uint8
			var n, height, tm uint32
			var value int64
			err := r.Scan(&addr, &txid, &isInput, &n, &hash, &height, &tm, &value)
			return simIORow(addr, txid, isInput, n, hash, height, tm, value), err
		})
	return c
}

// simCheckStore checks that the store holds exactly the chain and that its
// counts are the chain's, and returns what it read.
func simCheckStore(t *testing.T, ctx context.Context, st *store.Store, c *simChain) *simStoreContent {
	t.Helper()
	w := c.want
	got := simReadStore(t, ctx, st)
	simSameRows(t, "btc_blocks", got.blocks, w.blocks)
	simSameRows(t, "btc_txs", got.txs, w.txs)
	simSameRows(t, "btc_outputs", got.outputs, w.outputs)
	simSameRows(t, "btc_inputs", got.inputs, w.inputs)
	simSameRows(t, "btc_spends", got.spendRows, w.spendRows)
	simSameRows(t, "btc_address_io", got.io, w.io)

	// Within the store, every input carries what the output it spends has.
	for _, s := range got.spends {
		o, ok := got.outs[s.prev]
		if !ok {
			t.Errorf("input %s:%d spends %s, which the store does not hold", s.txid, s.n, s.prev)
		} else if o != s.spending {
			t.Errorf("input %s:%d spends %s: got %+v, the output is %+v", s.txid, s.n, s.prev, s.spending, o)
		}
	}

	// Physical duplicates are merged by FINAL and not wrong as such; say so.
	for _, table := range []string{"btc_blocks", "btc_txs", "btc_outputs", "btc_inputs", "btc_spends", "btc_address_io"} {
		final := simCount(t, ctx, st, "SELECT count() FROM "+table+" FINAL")
		raw := simCount(t, ctx, st, "SELECT count() FROM "+table)
		if raw != final {
			t.Logf("%s: %d rows on disk, %d after FINAL (%d not merged yet)", table, raw, final, raw-final)
		}
	}

	stats, err := st.Stats(ctx, "btc")
	if err != nil {
		t.Fatal(err)
	}
	wantStats := store.Stats{
		Chain: "btc", Blocks: uint64(len(w.blocks)), Txs: uint64(len(w.txs)), Inputs: uint64(len(w.inputs)),
		Outputs: uint64(len(w.outputs)), Addresses: uint64(len(w.addresses)),
		TipHeight: int64(len(c.blocks) - 1), TipHash: w.tipHash, Engine: stats.Engine,
	}
	if *stats != wantStats {
		t.Errorf("Stats:\n got %+v\nwant %+v", *stats, wantStats)
	}
	return got
}

func TestSimulatedChainEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), simTimeout)
	defer cancel()
	c := simMakeChain(t, simConfig(&chaincfg.RegressionNetParams, 40, 100), true)
	p, closeP := simOpen(t, t.TempDir(), chserver.TempDatabase(t))
	defer closeP()
	simIngest(t, ctx, p, c.dir, -1)
	st := simStore(t, ctx, p)
	content := simCheckStore(t, ctx, st, c)

	// The planted flows: the truth's outputs are on the chain, and in the
	// store, with their amounts; every transaction on their paths is stored.
	if len(c.truth.Flows) == 0 {
		t.Fatal("the chain has no planted flows: make it longer")
	}
	kinds := make(map[simulate.FlowKind]int)
	purchases := make(map[int]int64) // by broker entity
	for _, f := range c.truth.Flows {
		kinds[f.Kind]++
		key := fmt.Sprintf("%s:%d", f.Txid, f.Vout)
		got, ok := content.outs[key]
		switch {
		case !ok:
			t.Errorf("flow %d (%s, %d sat to %s): output %s not in the store", f.ID, f.Kind, f.Amount, f.Address, key)
		case got.address != f.Address || got.value != f.Amount:
			t.Errorf("flow %d (%s): output %s pays %d to %s, want %d to %s", f.ID, f.Kind, key, got.value, got.address, f.Amount, f.Address)
		}
		for _, txid := range f.Path {
			if !content.txids[txid] {
				t.Errorf("flow %d (%s): tx %s of its path is not stored", f.ID, f.Kind, txid)
			}
		}
		if f.Kind == simulate.FlowPurchase {
			purchases[f.To] += f.Amount
		}
	}
	t.Logf("flows: %v", kinds)
	if kinds[simulate.FlowPurchase] == 0 || kinds[simulate.FlowCashOut]+kinds[simulate.FlowCartel] == 0 {
		t.Fatalf("flows %v: want purchases and broker payouts; make the chain longer", kinds)
	}

	// The query API on one flow of each kind.
	seen := make(map[simulate.FlowKind]bool)
	for _, f := range c.truth.Flows {
		if seen[f.Kind] {
			continue
		}
		seen[f.Kind] = true
		txs, err := st.Tx(ctx, "btc", f.Txid)
		if err != nil {
			t.Fatalf("Tx(%s): %v", f.Txid, err)
		}
		if len(txs) != 1 || txs[0].BlockHeight != uint32(f.Height) || int(f.Vout) >= len(txs[0].Outputs) {
			t.Fatalf("Tx(%s) of flow %d at height %d: got %+v", f.Txid, f.ID, f.Height, txs)
		}
		o := txs[0].Outputs[f.Vout]
		if o.N != f.Vout || o.Address != f.Address || o.Value != f.Amount {
			t.Errorf("Tx(%s).Outputs[%d] = %+v, want %d sat to %s", f.Txid, f.Vout, o, f.Amount, f.Address)
		}
	}

	// Each broker's addresses: the store's summary is the test's own sum
	// over the blocks, and covers at least the purchases paid to it.
	brokers := c.truth.EntitiesOf(simulate.KindBroker)
	if len(brokers) == 0 {
		t.Fatal("the truth has no brokers")
	}
	for _, b := range brokers {
		var received, want int64
		for _, a := range b.Addresses {
			want += c.want.received[a]
			sum, err := st.Address(ctx, "btc", a)
			if c.want.nOut[a]+c.want.nIn[a] == 0 {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s address %s is not on the chain: Address returned %+v, %v; want ErrNotFound", b.Name, a, sum, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Address(%s): %v", a, err)
			}
			received += sum.Received
			if sum.Received != c.want.received[a] || sum.Sent != c.want.sent[a] ||
				sum.Outputs != c.want.nOut[a] || sum.Inputs != c.want.nIn[a] ||
				sum.Balance != c.want.received[a]-c.want.sent[a] {
				t.Errorf("%s address %s: got received %d sent %d balance %d outputs %d inputs %d, want %d %d %d %d %d",
					b.Name, a, sum.Received, sum.Sent, sum.Balance, sum.Outputs, sum.Inputs,
					c.want.received[a], c.want.sent[a], c.want.received[a]-c.want.sent[a], c.want.nOut[a], c.want.nIn[a])
			}
		}
		t.Logf("%s: received %d sat over %d addresses (purchases %d)", b.Name, received, len(b.Addresses), purchases[b.ID])
		if received != want {
			t.Errorf("%s: received %d in all, want %d", b.Name, received, want)
		}
		if want < purchases[b.ID] {
			t.Errorf("%s: received %d, less than the %d of purchases paid to it", b.Name, want, purchases[b.ID])
		}
	}
}

// simTableRows reads every column of every row of a table (FINAL) as text,
// whatever the schema: columns come from system.columns.
func simTableRows(t *testing.T, ctx context.Context, st *store.Store, table string) []string {
	t.Helper()
	cols := simRows(t, ctx, st, "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ? ORDER BY name",
		func(r store.Rows) (string, error) {
			var name string
			return name, r.Scan(&name)
		}, table)
	if len(cols) < 2 {
		t.Fatalf("table %s has columns %v", table, cols)
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		// Names come from the server's catalogue, not from input.
		parts[i] = fmt.Sprintf("'%s=', toString(`%s`)", c, c)
	}
	q := "SELECT concat(" + strings.Join(parts, ", ' ', ") + ") FROM " + table + " FINAL"
	return simRows(t, ctx, st, q, func(r store.Rows) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
}

func TestResumeEqualsOneShot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), simTimeout)
	defer cancel()
	c := simMakeChain(t, simConfig(&chaincfg.RegressionNetParams, 30, 60), true)
	half := int64(len(c.blocks)/2 - 1)

	// A: half, close (as a stopped process would), then the rest.
	dirA, dsnA := t.TempDir(), chserver.TempDatabase(t)
	p, closeP := simOpen(t, dirA, dsnA)
	simIngest(t, ctx, p, c.dir, half)
	st := simStore(t, ctx, p)
	if s, err := st.Stats(ctx, "btc"); err != nil {
		t.Fatal(err)
	} else if s.TipHeight != half || s.Blocks != uint64(half+1) {
		t.Fatalf("after ingesting to %d: tip %d, %d blocks; want tip %d, %d blocks", half, s.TipHeight, s.Blocks, half, half+1)
	}
	closeP()
	pA, closeA := simOpen(t, dirA, dsnA)
	defer closeA()
	simIngest(t, ctx, pA, c.dir, -1)
	stA := simStore(t, ctx, pA)

	// B: all at once.
	pB, closeB := simOpen(t, t.TempDir(), chserver.TempDatabase(t))
	defer closeB()
	simIngest(t, ctx, pB, c.dir, -1)
	stB := simStore(t, ctx, pB)

	for _, table := range []string{"btc_blocks", "btc_txs", "btc_outputs", "btc_inputs", "btc_spends", "btc_address_io"} {
		a, b := simTableRows(t, ctx, stA, table), simTableRows(t, ctx, stB, table)
		if len(b) == 0 {
			t.Fatalf("%s is empty after the one-shot ingest", table)
		}
		simSameRows(t, table+" (resumed vs one-shot)", a, b)
	}
	if n := simCount(t, ctx, stA, "SELECT count() FROM btc_outputs FINAL"); n != uint64(len(c.want.outputs)) {
		t.Errorf("resumed: %d outputs after FINAL, want %d", n, len(c.want.outputs))
	}
	if raw := simCount(t, ctx, stA, "SELECT count() FROM btc_outputs"); raw != uint64(len(c.want.outputs)) {
		t.Logf("resumed: %d output rows on disk for %d outputs (duplicates FINAL merges)", raw, len(c.want.outputs))
	}
	// And both equal the chain itself.
	simCheckStore(t, ctx, stA, c)
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	p, err := pipeline.Open(pipeline.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // a failed Open must leave the first one's lock alone
		p2, err := pipeline.Open(pipeline.Config{DataDir: dir})
		if err == nil {
			p2.Close()
			p.Close()
			t.Fatalf("attempt %d: second Open of %s succeeded", i+1, dir)
		}
		if !errors.Is(err, pipeline.ErrLocked) {
			t.Errorf("attempt %d: got %v, want an error wrapping ErrLocked", i+1, err)
		}
		if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, strconv.Itoa(os.Getpid())) {
			t.Errorf("attempt %d: error %q does not name the directory %s and the owner's pid %d", i+1, msg, dir, os.Getpid())
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p3, err := pipeline.Open(pipeline.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := p3.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesOtherNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), simTimeout)
	defer cancel()
	mainnet := simMakeChain(t, simConfig(&chaincfg.MainNetParams, 6, 20), false)
	regtest := simMakeChain(t, simConfig(&chaincfg.RegressionNetParams, 6, 20), false)
	if mainnet.want.tipHash == regtest.want.tipHash {
		t.Fatal("the two chains are the same")
	}
	dir, dsn := t.TempDir(), chserver.TempDatabase(t)
	p, closeP := simOpen(t, dir, dsn)
	simIngest(t, ctx, p, mainnet.dir, -1)
	closeP()

	// A later run, with the network known only from the data directory.
	p, closeP = simOpen(t, dir, dsn)
	defer closeP()
	err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: regtest.dir, To: -1})
	if err == nil {
		t.Fatal("ingesting a regtest chain into a mainnet data directory succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "mainnet") || !strings.Contains(msg, "regtest") {
		t.Errorf("error %q does not name both networks", msg)
	}
	t.Logf("refused: %v", err)
	network, rerr := os.ReadFile(filepath.Join(dir, "ingest", "btc", "NETWORK"))
	if rerr != nil || strings.TrimSpace(string(network)) != "mainnet" {
		t.Errorf("NETWORK file: %q, %v; want mainnet", network, rerr)
	}
	// Nothing of the regtest chain got in, and the mainnet chain is whole:
	// ingesting it again is a no-op that succeeds.
	simIngest(t, ctx, p, mainnet.dir, -1)
	simCheckStore(t, ctx, simStore(t, ctx, p), mainnet)
}
