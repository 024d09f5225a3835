package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/internal/btcdtest"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/store"
)

// The node side of these tests is a real btcd in regtest; the store is a
// real ClickHouse 18.16 server; NATS is the pipeline's embedded server.

// kindExpect is what the store must say about an output of each kind the
// harness makes: its script type and how its address is formed.
var kindType = map[btcdtest.Kind]string{
	btcdtest.P2PKH:             chain.ScriptP2PKH,
	btcdtest.P2PKHUncompressed: chain.ScriptP2PKH,
	btcdtest.P2PK:              chain.ScriptP2PK,
	btcdtest.P2PKUncompressed:  chain.ScriptP2PK,
	btcdtest.Multisig:          chain.ScriptMultisig,
	btcdtest.P2SHMultisig:      chain.ScriptP2SH,
	btcdtest.P2SHP2WPKH:        chain.ScriptP2SH,
	btcdtest.P2WPKH:            chain.ScriptP2WPKH,
	btcdtest.P2WSH:             chain.ScriptP2WSH,
	btcdtest.P2TR:              chain.ScriptP2TR,
	btcdtest.NullData:          chain.ScriptNullData,
	btcdtest.NonStandard:       chain.ScriptNonStd,
	btcdtest.WitnessFuture:     chain.ScriptWitnessUn,
}

// wantAddress is the address the store must give an output script, worked
// out with btcutil rather than with the ingest code.
func wantAddress(s *btcdtest.Script) string {
	switch s.Kind {
	case btcdtest.P2PK, btcdtest.P2PKUncompressed:
		return s.Address.(*btcutil.AddressPubKey).AddressPubKeyHash().EncodeAddress()
	case btcdtest.Multisig, btcdtest.NonStandard:
		sum := sha256.Sum256(s.PkScript)
		return "s-" + hex.EncodeToString(sum[:])
	case btcdtest.NullData:
		return ""
	case btcdtest.WitnessFuture:
		return "" // checked by prefix: btcutil cannot encode witness v2
	}
	return s.Address.EncodeAddress()
}

type btcdWorld struct {
	node *btcdtest.Node
	p    *pipeline.Pipeline
	st   *store.Store
	opt  pipeline.BTCIngest
}

func newBTCDWorld(t *testing.T) *btcdWorld {
	t.Helper()
	node := btcdtest.Start(t)
	loader := store.DefaultLoaderConfig(chain.BTC)
	loader.BatchWait = 50 * time.Millisecond
	p, err := pipeline.Open(pipeline.Config{DataDir: t.TempDir(), StoreDSN: chserver.TempDatabase(t), Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	st, err := p.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &btcdWorld{node: node, p: p, st: st, opt: pipeline.BTCIngest{
		RPC: btc.RPCConfig{Host: node.RPCHost(), User: node.User(), Pass: node.Pass(), Timeout: 30 * time.Second},
		To:  -1,
	}}
}

func (w *btcdWorld) ingest(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.p.IngestBTC(ctx, w.opt); err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

// nodeChain is the node's best chain as sorted row sets in the store's
// column order, computed from the node's raw blocks alone.
type rowSets struct {
	blocks, txs, outputs, inputs []string
}

func nodeChain(t *testing.T, n *btcdtest.Node) rowSets {
	t.Helper()
	_, tip := n.Tip()
	type out struct {
		value  int64
		script []byte
	}
	outs := map[wire.OutPoint]out{}
	var rs rowSets
	for h := int64(0); h <= tip; h++ {
		hash := n.BlockHash(h)
		b := n.Block(hash)
		rs.blocks = append(rs.blocks, fmt.Sprintf("%d %s %d", h, hash, len(b.Transactions)))
		for i, tx := range b.Transactions {
			txid := tx.TxHash()
			rs.txs = append(rs.txs, fmt.Sprintf("%s %s %d %d", txid, hash, h, i))
			for vout, o := range tx.TxOut {
				outs[wire.OutPoint{Hash: txid, Index: uint32(vout)}] = out{o.Value, o.PkScript}
				rs.outputs = append(rs.outputs, fmt.Sprintf("%s %d %s %d", txid, vout, hash, o.Value))
			}
			for vin, in := range tx.TxIn {
				if i == 0 {
					rs.inputs = append(rs.inputs, fmt.Sprintf("%s %d %s coinbase 0", txid, vin, hash))
					continue
				}
				prev, ok := outs[in.PreviousOutPoint]
				if !ok {
					t.Fatalf("node chain: %s spends %v, which is not on the chain before it", txid, in.PreviousOutPoint)
				}
				rs.inputs = append(rs.inputs, fmt.Sprintf("%s %d %s %v %d", txid, vin, hash, in.PreviousOutPoint, prev.value))
			}
		}
	}
	for _, s := range [][]string{rs.blocks, rs.txs, rs.outputs, rs.inputs} {
		slices.Sort(s)
	}
	return rs
}

func storeRows(t *testing.T, st *store.Store, q string, scan func(store.Rows) (string, error)) []string {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		s, err := scan(rows)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	slices.Sort(got)
	return got
}

func storeChain(t *testing.T, st *store.Store) rowSets {
	t.Helper()
	var rs rowSets
	rs.blocks = storeRows(t, st, "SELECT height, hash, tx_count FROM btc_blocks FINAL", func(r store.Rows) (string, error) {
		var h, n uint32
		var hash string
		err := r.Scan(&h, &hash, &n)
		return fmt.Sprintf("%d %s %d", h, hash, n), err
	})
	rs.txs = storeRows(t, st, "SELECT txid, block_hash, block_height, idx FROM btc_txs FINAL", func(r store.Rows) (string, error) {
		var txid, hash string
		var h, i uint32
		err := r.Scan(&txid, &hash, &h, &i)
		return fmt.Sprintf("%s %s %d %d", txid, hash, h, i), err
	})
	rs.outputs = storeRows(t, st, "SELECT txid, n, block_hash, value FROM btc_outputs FINAL", func(r store.Rows) (string, error) {
		var txid, hash string
		var n uint32
		var v int64
		err := r.Scan(&txid, &n, &hash, &v)
		return fmt.Sprintf("%s %d %s %d", txid, n, hash, v), err
	})
	rs.inputs = storeRows(t, st, "SELECT txid, n, block_hash, prev_txid, prev_n, coinbase, value FROM btc_inputs FINAL", func(r store.Rows) (string, error) {
		var txid, hash, prev string
		var n, prevN uint32
		var cb uint8
		var v int64
		err := r.Scan(&txid, &n, &hash, &prev, &prevN, &cb, &v)
		if cb == 1 {
			return fmt.Sprintf("%s %d %s coinbase %d", txid, n, hash, v), err
		}
		return fmt.Sprintf("%s %d %s %s:%d %d", txid, n, hash, prev, prevN, v), err
	})
	return rs
}

// sameChain fails unless the store holds exactly the node's best chain.
func sameChain(t *testing.T, n *btcdtest.Node, st *store.Store) rowSets {
	t.Helper()
	want, got := nodeChain(t, n), storeChain(t, st)
	for _, c := range []struct {
		name      string
		want, got []string
	}{{"blocks", want.blocks, got.blocks}, {"txs", want.txs, got.txs}, {"outputs", want.outputs, got.outputs}, {"inputs", want.inputs, got.inputs}} {
		if slices.Equal(c.want, c.got) {
			continue
		}
		missing, extra := diff(c.want, c.got)
		t.Errorf("%s: store has %d rows, node %d; missing %d (first %q), extra %d (first %q)",
			c.name, len(c.got), len(c.want), len(missing), first(missing), len(extra), first(extra))
	}
	// Every input's address is that of the output it spends, and the
	// address index holds one row per addressed input and output.
	rows := storeRows(t, st, `SELECT i.txid, i.n, i.address, o.address FROM
		(SELECT txid, n, address, prev_txid, prev_n FROM btc_inputs FINAL WHERE coinbase = 0) AS i
		ANY LEFT JOIN (SELECT txid AS prev_txid, n AS prev_n, address FROM btc_outputs FINAL) AS o
		USING (prev_txid, prev_n) WHERE i.address != o.address`, func(r store.Rows) (string, error) {
		var txid, a, b string
		var n uint32
		err := r.Scan(&txid, &n, &a, &b)
		return fmt.Sprintf("%s:%d input %q, spent output %q", txid, n, a, b), err
	})
	if len(rows) > 0 {
		t.Errorf("%d inputs whose address differs from the output they spend, first: %s", len(rows), rows[0])
	}
	var io, addressed uint64
	scalar(t, st, "SELECT count() FROM btc_address_io FINAL", &io)
	scalar(t, st, "SELECT (SELECT count() FROM btc_outputs FINAL WHERE address != '') + (SELECT count() FROM btc_inputs FINAL WHERE address != '')", &addressed)
	if io != addressed {
		t.Errorf("btc_address_io: %d rows, want %d (addressed inputs and outputs)", io, addressed)
	}
	return got
}

func scalar(t *testing.T, st *store.Store, q string, dst any, args ...any) {
	t.Helper()
	rows, err := st.Conn().Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("%s: no row (%v)", q, rows.Err())
	}
	if err := rows.Scan(dst); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func diff(want, got []string) (missing, extra []string) {
	w := map[string]int{}
	for _, s := range want {
		w[s]++
	}
	for _, s := range got {
		if w[s] > 0 {
			w[s]--
			continue
		}
		extra = append(extra, s)
	}
	for s, k := range w {
		for ; k > 0; k-- {
			missing = append(missing, s)
		}
	}
	slices.Sort(missing)
	return missing, extra
}

func groupSet(s []string) ch.GroupSet {
	v := make([]any, len(s))
	for i, x := range s {
		v[i] = x
	}
	return ch.GroupSet{Value: v}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestBTCDEveryScriptKind pays and spends every kind of output script on a
// real node, ingests over RPC and compares the store with the node.
func TestBTCDEveryScriptKind(t *testing.T) {
	w := newBTCDWorld(t)
	n := w.node
	n.Generate(101)
	// Ingest a first part, then the rest: the second run resumes.
	w.ingest(t)
	sameChain(t, n, w.st)
	n.ActivateSoftForks()

	scripts := make([]*btcdtest.Script, len(btcdtest.Kinds))
	outs := make([]*wire.TxOut, len(btcdtest.Kinds))
	for i, kind := range btcdtest.Kinds {
		s := n.NewScript(kind)
		value := int64(1_000_000 + i)
		if kind == btcdtest.NullData {
			value = 0
		}
		scripts[i], outs[i] = s, s.TxOut(value)
	}
	fund, err := n.Send(outs)
	if err != nil {
		t.Fatal(err)
	}
	n.Generate(1)
	var spend []wire.OutPoint
	for i, s := range scripts {
		if s.Kind.Spendable() {
			spend = append(spend, wire.OutPoint{Hash: fund.TxHash(), Index: uint32(i)})
		}
	}
	spent, err := n.Spend(spend...)
	if err != nil {
		t.Fatal(err)
	}
	// Address reuse: pay the P2WPKH script a second time.
	reuse, err := n.Send([]*wire.TxOut{scripts[slices.Index(btcdtest.Kinds, btcdtest.P2WPKH)].TxOut(7_777)})
	if err != nil {
		t.Fatal(err)
	}
	n.Generate(2)

	w.ingest(t)
	sameChain(t, n, w.st)

	ctx := context.Background()
	detail, err := w.st.Tx(ctx, chain.BTC, fund.TxHash().String())
	if err != nil || len(detail) != 1 {
		t.Fatalf("Tx(fund): %v, %d results", err, len(detail))
	}
	for i, s := range scripts {
		o := detail[0].Outputs[i]
		want := wantAddress(s)
		if s.Kind == btcdtest.WitnessFuture {
			if !strings.HasPrefix(o.Address, "bcrt1z") { // bech32m, version 2 is 'z'
				t.Errorf("%v: address %q, want a bcrt1z… bech32m address", s.Kind, o.Address)
			}
		} else if o.Address != want {
			t.Errorf("%v: address %q, want %q", s.Kind, o.Address, want)
		}
		if o.ScriptType != kindType[s.Kind] || o.Value != outs[i].Value {
			t.Errorf("%v: got %s %d sat, want %s %d sat", s.Kind, o.ScriptType, o.Value, kindType[s.Kind], outs[i].Value)
		}
	}
	// The spending transaction's inputs carry the address, type and value
	// of what they spend.
	sd, err := w.st.Tx(ctx, chain.BTC, spent.TxHash().String())
	if err != nil || len(sd) != 1 {
		t.Fatalf("Tx(spend): %v, %d results", err, len(sd))
	}
	var spentValue int64
	for i, in := range sd[0].Inputs {
		op := spent.TxIn[i].PreviousOutPoint
		if in.PrevTxid != op.Hash.String() || in.PrevN != op.Index {
			t.Errorf("input %d: spends %s:%d, want %v", i, in.PrevTxid, in.PrevN, op)
			continue
		}
		s := scripts[op.Index]
		if in.Address != wantAddress(s) || in.ScriptType != kindType[s.Kind] || in.Value != outs[op.Index].Value {
			t.Errorf("input %d (%v): %q %s %d, want %q %s %d", i, s.Kind, in.Address, in.ScriptType, in.Value, wantAddress(s), kindType[s.Kind], outs[op.Index].Value)
		}
		spentValue += in.Value
	}
	var outValue int64
	for _, o := range spent.TxOut {
		outValue += o.Value
	}
	if sd[0].InputValue != spentValue || sd[0].Fee != spentValue-outValue || sd[0].Fee <= 0 {
		t.Errorf("spend: input value %d fee %d, want %d and %d", sd[0].InputValue, sd[0].Fee, spentValue, spentValue-outValue)
	}

	// The reused address: received twice, spent once.
	p2wpkh := scripts[slices.Index(btcdtest.Kinds, btcdtest.P2WPKH)]
	sum, err := w.st.Address(ctx, chain.BTC, p2wpkh.Address.EncodeAddress())
	if err != nil {
		t.Fatal(err)
	}
	paid := outs[slices.Index(btcdtest.Kinds, btcdtest.P2WPKH)].Value
	if sum.Received != paid+7_777 || sum.Sent != paid || sum.Balance != 7_777 || sum.TxCount != 3 {
		t.Errorf("reused address: %+v, want received %d, sent %d, balance 7777 over 3 txs (fund, spend, %s)", sum, paid+7_777, paid, reuse.TxHash())
	}

	stats, err := w.st.Stats(ctx, chain.BTC)
	if err != nil {
		t.Fatal(err)
	}
	tipHash, tip := n.Tip()
	if stats.TipHeight != tip || stats.TipHash != tipHash.String() || stats.Blocks != uint64(tip+1) {
		t.Errorf("stats: %+v, want tip %d %s and %d blocks", stats, tip, tipHash, tip+1)
	}
}

// TestBTCDReorgs reorganizes the node at depths 1 to 6, each time
// replacing blocks the store already holds with a longer branch, and checks
// that the store ends equal to the node's best chain with nothing left of
// the abandoned blocks.
func TestBTCDReorgs(t *testing.T) {
	w := newBTCDWorld(t)
	n := w.node
	n.Generate(110)
	var orphaned []string
	for depth := int64(1); depth <= 6; depth++ {
		// Blocks with transactions, so that the reorg moves payments.
		for range depth {
			if _, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2WPKH).TxOut(1e6 * depth)}); err != nil {
				t.Fatal(err)
			}
			n.Generate(1)
		}
		w.ingest(t)
		sameChain(t, n, w.st)

		_, tip := n.Tip()
		old := make([]*chainhash.Hash, 0, depth)
		for h := tip - depth + 1; h <= tip; h++ {
			old = append(old, n.BlockHash(h))
		}
		n.InvalidateBlock(old[0])
		// A new payment makes the new branch differ from the old one even
		// where the old transactions are mined again.
		if _, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2TR).TxOut(5e5)}); err != nil {
			t.Fatal(err)
		}
		n.Generate(uint32(depth + 1))
		for _, h := range old {
			orphaned = append(orphaned, h.String())
		}
		w.ingest(t)
		sameChain(t, n, w.st)
		var left uint64
		for _, table := range []string{"btc_blocks", "btc_txs", "btc_outputs", "btc_inputs", "btc_spends", "btc_address_io"} {
			col := "block_hash"
			if table == "btc_blocks" {
				col = "hash"
			}
			var k uint64
			scalar(t, w.st, "SELECT count() FROM "+table+" WHERE "+col+" IN ?", &k, groupSet(orphaned))
			left += k
		}
		if left != 0 {
			t.Errorf("depth %d: %d rows of orphaned blocks left in the store", depth, left)
		}
		if t.Failed() {
			t.Fatalf("depth %d: store differs from the node", depth)
		}
		t.Logf("depth %d: store equals the node's chain of %d blocks", depth, tip+2)
	}
}

// TestBTCDFollowReorg runs the ingestor in follow mode while the node mines
// and reorganizes: the parent check catches the reorg as it happens.
func TestBTCDFollowReorg(t *testing.T) {
	w := newBTCDWorld(t)
	n := w.node
	n.Generate(105)
	w.opt.Follow = true
	w.opt.PollInterval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.p.IngestBTC(ctx, w.opt) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("follow: %v", err)
		}
	}()

	waitTip := func(what string) {
		t.Helper()
		want, _ := n.Tip()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-done:
				t.Fatalf("%s: ingest stopped: %v", what, err)
			default:
			}
			var k uint64
			scalar(t, w.st, "SELECT count() FROM btc_blocks FINAL WHERE hash = ?", &k, want.String())
			if k == 1 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: store did not reach the node's tip %s within 30s", what, want)
	}
	waitTip("initial sync")
	if _, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2SHP2WPKH).TxOut(3e6)}); err != nil {
		t.Fatal(err)
	}
	n.Generate(3)
	waitTip("new blocks")
	_, tip := n.Tip()
	n.InvalidateBlock(n.BlockHash(tip - 1))
	if _, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2PKH).TxOut(4e6)}); err != nil {
		t.Fatal(err)
	}
	n.Generate(4)
	waitTip("after a reorg of depth 2")
	// The loader may still be writing the undo's neighbours: wait for the
	// stream to be fully acknowledged by comparing until equal.
	deadline := time.Now().Add(10 * time.Second)
	for {
		want, got := nodeChain(t, n), storeChain(t, w.st)
		if slices.Equal(want.blocks, got.blocks) && slices.Equal(want.outputs, got.outputs) && slices.Equal(want.inputs, got.inputs) {
			break
		}
		if time.Now().After(deadline) {
			sameChain(t, n, w.st)
			t.FailNow()
		}
		time.Sleep(100 * time.Millisecond)
	}
	sameChain(t, n, w.st)
}
