package btc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/simulate"
)

func hashOf(s string) string { return chainhash.DoubleHashH([]byte(s)).String() }

// chainBlock makes a normalized block: a coinbase paying addr-<height>, and
// a tx spending each outpoint in spends (created by earlier blocks) to
// one fresh output.
func chainBlock(height int64, parent string, spends []chain.Input) *chain.Block {
	b := &chain.Block{Chain: "btc", Height: height, Hash: hashOf(fmt.Sprintf("b%d-%s", height, parent)), Parent: parent}
	b.Txs = append(b.Txs, chain.Tx{
		Txid: hashOf(fmt.Sprintf("cb%d-%s", height, parent)), Coinbase: true,
		Inputs:  []chain.Input{{Coinbase: true}},
		Outputs: []chain.Output{{Index: 0, Address: fmt.Sprintf("addr-%d", height), ScriptType: chain.ScriptP2WPKH, Value: 50}},
	})
	if len(spends) > 0 {
		var sum int64
		for _, s := range spends {
			sum += s.Value
		}
		b.Txs = append(b.Txs, chain.Tx{
			Txid: hashOf(fmt.Sprintf("tx%d-%s", height, parent)), Index: 1, Inputs: spends,
			Outputs: []chain.Output{{Index: 0, Address: fmt.Sprintf("spent-to-%d", height), ScriptType: chain.ScriptP2TR, Value: sum - 1},
				{Index: 1, ScriptType: chain.ScriptNullData}},
		})
	}
	return b
}

func outpoint(t *testing.T, txid string, n uint32) wire.OutPoint {
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	return wire.OutPoint{Hash: *h, Index: n}
}

func TestChainStateConnectDisconnect(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenChainState(dir, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	b0 := chainBlock(0, "", nil)
	if _, err := s.Connect(b0, true); err != nil {
		t.Fatal(err)
	}
	cb0 := b0.Txs[0].Txid
	got, err := s.Prevout(outpoint(t, cb0, 0))
	if err != nil || got.Address != "addr-0" || got.Value != 50 || got.ScriptType != chain.ScriptP2WPKH {
		t.Fatalf("prevout of coinbase 0: got %+v, %v; want addr-0, 50, p2wpkh", got, err)
	}
	spend := []chain.Input{{PrevTxid: cb0, PrevIndex: 0, Address: "addr-0", ScriptType: chain.ScriptP2WPKH, Value: 50}}
	b1 := chainBlock(1, b0.Hash, spend)
	ev, err := s.Connect(b1, true)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 2 || ev.Kind != chain.KindBlock {
		t.Errorf("event: got seq %d kind %s, want 2 block", ev.Seq, ev.Kind)
	}
	if _, err := s.Prevout(outpoint(t, cb0, 0)); !errors.Is(err, ErrPrevoutNotFound) {
		t.Errorf("spent output: got %v, want ErrPrevoutNotFound", err)
	}
	if _, err := s.Prevout(outpoint(t, b1.Txs[1].Txid, 1)); !errors.Is(err, ErrPrevoutNotFound) {
		t.Errorf("OP_RETURN output: got %v, want it never indexed", err)
	}
	// A block that does not extend the tip is refused.
	if _, err := s.Connect(chainBlock(2, "someone-else", nil), true); err == nil {
		t.Error("connecting a block on the wrong parent: got nil error")
	}

	// Restart: state, tip and outbox survive.
	s.Close()
	s, err = OpenChainState(dir, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, hash := s.Tip(); h != 1 || hash.String() != b1.Hash {
		t.Fatalf("tip after restart: got %d %s, want 1 %s", h, hash, b1.Hash)
	}
	out, err := s.Outbox()
	if err != nil || len(out) != 2 {
		t.Fatalf("outbox: got %d events, %v; want 2", len(out), err)
	}
	if err := s.Published(2); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.Outbox(); len(out) != 0 {
		t.Errorf("outbox after publishing: got %d events, want 0", len(out))
	}

	// Disconnect block 1: the coinbase output comes back, the new ones go.
	ev, err = s.Disconnect("btc")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != chain.KindUndo || ev.Hash != b1.Hash || ev.Height != 1 || ev.Seq != 3 {
		t.Errorf("undo event: got %+v", ev)
	}
	if got, err := s.Prevout(outpoint(t, cb0, 0)); err != nil || got.Value != 50 {
		t.Errorf("restored output: got %+v, %v", got, err)
	}
	for _, op := range []wire.OutPoint{outpoint(t, b1.Txs[0].Txid, 0), outpoint(t, b1.Txs[1].Txid, 0)} {
		if _, err := s.Prevout(op); !errors.Is(err, ErrPrevoutNotFound) {
			t.Errorf("output %v of the undone block: got %v, want gone", op, err)
		}
	}
	if h, hash := s.Tip(); h != 0 || hash.String() != b0.Hash {
		t.Errorf("tip after undo: got %d %s, want 0 %s", h, hash, b0.Hash)
	}
}

func TestChainStateUndoDepth(t *testing.T) {
	s, err := OpenChainState(t.TempDir(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	parent := ""
	for h := int64(0); h < 5; h++ {
		b := chainBlock(h, parent, nil)
		if _, err := s.Connect(b, false); err != nil {
			t.Fatal(err)
		}
		parent = b.Hash
	}
	for i := 0; i < 2; i++ {
		if _, err := s.Disconnect("btc"); err != nil {
			t.Fatalf("disconnect %d within the undo depth: %v", i+1, err)
		}
	}
	if _, err := s.Disconnect("btc"); !errors.Is(err, ErrReorgTooDeep) {
		t.Errorf("disconnect beyond the undo depth: got %v, want ErrReorgTooDeep", err)
	}
}

// TestChainStateWindow checks the write-back window: outputs created and
// spent between two commits resolve in between and are gone after; a
// crash (no Sync, no Close) loses whole blocks back to the last commit and
// nothing else; Sync makes the window durable.
func TestChainStateWindow(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenChainState(dir, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	b0 := chainBlock(0, "", nil)
	if _, err := s.Connect(b0, true); err != nil {
		t.Fatal(err)
	}
	cb0 := b0.Txs[0].Txid
	b1 := chainBlock(1, b0.Hash, nil)
	if _, err := s.Connect(b1, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	// Window 2: block 2 spends block 0's coinbase (committed) and block
	// 3 spends block 2's output (created in this window).
	b2 := chainBlock(2, b1.Hash, []chain.Input{{PrevTxid: cb0, PrevIndex: 0, Address: "addr-0", ScriptType: chain.ScriptP2WPKH, Value: 50}})
	if _, err := s.Connect(b2, true); err != nil {
		t.Fatal(err)
	}
	tx2 := b2.Txs[1].Txid
	if o, err := s.Prevout(outpoint(t, tx2, 0)); err != nil || o.Value != 49 || o.Address != "spent-to-2" {
		t.Fatalf("prevout created in the window: %+v, %v", o, err)
	}
	if _, err := s.Prevout(outpoint(t, cb0, 0)); !errors.Is(err, ErrPrevoutNotFound) {
		t.Fatalf("committed output spent in the window: got %v, want ErrPrevoutNotFound", err)
	}
	if h, err := s.HashAt(2); err != nil || h.String() != b2.Hash {
		t.Fatalf("HashAt(2) in the window: %v, %v", h, err)
	}
	b3 := chainBlock(3, b2.Hash, []chain.Input{{PrevTxid: tx2, PrevIndex: 0, Address: "spent-to-2", ScriptType: chain.ScriptP2TR, Value: 49}})
	if _, err := s.Connect(b3, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prevout(outpoint(t, tx2, 0)); !errors.Is(err, ErrPrevoutNotFound) {
		t.Fatalf("output created and spent in the window: got %v, want ErrPrevoutNotFound", err)
	}

	// A crash now: the process dies without Sync or Close. Pebble's files
	// are left as they are; reopening finds the state of the last commit.
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	c, err := OpenChainState(crashed, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tip, hash := c.Tip(); tip != 1 || hash.String() != b1.Hash {
		t.Errorf("after a crash: tip %d %s, want 1 %s", tip, hash, b1.Hash)
	}
	if o, err := c.Prevout(outpoint(t, cb0, 0)); err != nil || o.Value != 50 {
		t.Errorf("after a crash: block 0's coinbase %+v, %v; want unspent", o, err)
	}
	if _, err := c.Prevout(outpoint(t, tx2, 0)); !errors.Is(err, ErrPrevoutNotFound) {
		t.Errorf("after a crash: block 2's output: got %v, want not found", err)
	}
	if evs, err := c.Outbox(); err != nil || len(evs) != 2 || evs[1].Height != 1 {
		t.Errorf("after a crash: outbox %d events (%v), want blocks 0 and 1", len(evs), err)
	}
	c.Close()

	// Sync commits the window: block 3 is the tip after a reopen, block 2's
	// output never reached the outpoint index, block 3's did.
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := t.TempDir()
	copyDir(t, dir, synced)
	r, err := OpenChainState(synced, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if tip, _ := r.Tip(); tip != 3 {
		t.Errorf("after Sync: tip %d, want 3", tip)
	}
	if o, err := r.Prevout(outpoint(t, b3.Txs[1].Txid, 0)); err != nil || o.Value != 48 {
		t.Errorf("after Sync: block 3's output %+v, %v", o, err)
	}
	for _, op := range []wire.OutPoint{outpoint(t, cb0, 0), outpoint(t, tx2, 0)} {
		if _, err := r.Prevout(op); !errors.Is(err, ErrPrevoutNotFound) {
			t.Errorf("after Sync: spent %v: got %v, want not found", op, err)
		}
	}
	// And the window's blocks can be disconnected again.
	for want := int64(3); want >= 2; want-- {
		ev, err := r.Disconnect("btc")
		if err != nil || ev.Height != want {
			t.Fatalf("disconnect: %+v, %v; want height %d", ev, err, want)
		}
	}
	if o, err := r.Prevout(outpoint(t, cb0, 0)); err != nil || o.Value != 50 {
		t.Errorf("after disconnecting 3 and 2: block 0's coinbase %+v, %v; want unspent again", o, err)
	}
	s.Close()
}

// TestChainStateRecentOutputs checks the read cache of committed outputs:
// a later window reads them from it, a commit that spends one drops it, and
// a disconnect (which rewrites outputs in Pebble behind the cache) empties
// it, so that no lookup ever returns a spent or undone output.
func TestChainStateRecentOutputs(t *testing.T) {
	s, err := OpenChainState(t.TempDir(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b0 := chainBlock(0, "", nil)
	b1 := chainBlock(1, b0.Hash, nil)
	for _, b := range []*chain.Block{b0, b1} {
		if _, err := s.Connect(b, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	cb0, cb1 := outpoint(t, b0.Txs[0].Txid, 0), outpoint(t, b1.Txs[0].Txid, 0)
	if s.recentN != 2 || len(s.recent) != 1 {
		t.Fatalf("after the first commit: %d cached outputs in %d windows, want 2 in 1", s.recentN, len(s.recent))
	}
	if o, err := s.Prevout(cb0); err != nil || o.Value != 50 || o.Address != "addr-0" {
		t.Fatalf("committed output from the cache: %+v, %v", o, err)
	}

	// Block 2 spends block 0's coinbase; its commit drops it from the cache.
	b2 := chainBlock(2, b1.Hash, []chain.Input{{PrevTxid: b0.Txs[0].Txid, PrevIndex: 0, Address: "addr-0", ScriptType: chain.ScriptP2WPKH, Value: 50}})
	if _, err := s.Connect(b2, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prevout(cb0); !errors.Is(err, ErrPrevoutNotFound) {
		t.Fatalf("output spent by a committed window: got %v, want ErrPrevoutNotFound", err)
	}
	// Left: block 1's coinbase, block 2's coinbase and payment.
	if s.recentN != 3 {
		t.Errorf("after the second commit: %d cached outputs, want 3", s.recentN)
	}
	tx2 := outpoint(t, b2.Txs[1].Txid, 0)
	if o, err := s.Prevout(tx2); err != nil || o.Value != 49 {
		t.Fatalf("block 2's output from the cache: %+v, %v", o, err)
	}

	// Disconnecting block 2 restores block 0's coinbase and removes block
	// 2's outputs, which the cache held.
	if _, err := s.Disconnect("btc"); err != nil {
		t.Fatal(err)
	}
	if s.recentN != 0 || len(s.recent) != 0 {
		t.Errorf("after a disconnect: %d cached outputs in %d windows, want none", s.recentN, len(s.recent))
	}
	for _, op := range []wire.OutPoint{tx2, outpoint(t, b2.Txs[0].Txid, 0)} {
		if _, err := s.Prevout(op); !errors.Is(err, ErrPrevoutNotFound) {
			t.Errorf("output %v of the undone block: got %v, want gone", op, err)
		}
	}
	for _, op := range []wire.OutPoint{cb0, cb1} {
		if o, err := s.Prevout(op); err != nil || o.Value != 50 {
			t.Errorf("unspent output %v after the disconnect: %+v, %v", op, o, err)
		}
	}
}

// copyDir copies a Pebble directory as a crash would leave it.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConnectWithRawHashes: the ingestor connects with the txids and wire
// block at hand instead of parsing the record's hex; the state and the
// events must be the same byte for byte.
func TestConnectWithRawHashes(t *testing.T) {
	cfg := simulate.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock = 8, 300
	g, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := OpenChainState(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	fast, err := OpenChainState(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	for h := int64(0); ; h++ {
		mb, err := g.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		a, err := Normalize(mb, h, g.Params(), plain)
		if err != nil {
			t.Fatal(err)
		}
		ea, err := plain.Connect(a, true)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := txHashes(mb)
		if err != nil {
			t.Fatal(err)
		}
		b, err := normalize(mb, h, g.Params(), nil, ids)
		if err != nil {
			t.Fatal(err)
		}
		if err := resolveInputs(mb, b, fast, ids); err != nil {
			t.Fatal(err)
		}
		eb, err := fast.connect(b, true, &rawHashes{txids: ids, msg: mb})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ea.Body, eb.Body) {
			t.Fatalf("height %d: events differ", h)
		}
		if h%3 == 2 {
			if err := plain.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := fast.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := plain.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fast.Sync(); err != nil {
		t.Fatal(err)
	}
	dump := func(s *ChainState) map[string]string {
		it, err := s.db.NewIter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		m := map[string]string{}
		for it.First(); it.Valid(); it.Next() {
			m[string(it.Key())] = string(it.Value())
		}
		return m
	}
	da, db := dump(plain), dump(fast)
	if len(da) != len(db) {
		t.Fatalf("states hold %d and %d keys", len(da), len(db))
	}
	for k, v := range da {
		if db[k] != v {
			t.Fatalf("key %x: values differ", k)
		}
	}
	if _, err := fast.connect(&chain.Block{Chain: "btc", Height: 99, Hash: hashOf("x"), Txs: make([]chain.Tx, 2)}, false, &rawHashes{txids: make([]chainhash.Hash, 1), msg: &wire.MsgBlock{}}); err == nil {
		t.Error("connect with raw hashes that do not fit the block: no error")
	}
}

// TestCompareOutpoints: the window's sort order is the order of the keys
// (utxoKey) as Pebble compares them, bytewise.
func TestCompareOutpoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ops []wire.OutPoint
	for i := 0; i < 400; i++ {
		var op wire.OutPoint
		for j := range op.Hash {
			op.Hash[j] = byte(rng.UintN(4)) // few values: long shared prefixes
		}
		op.Index = uint32(rng.UintN(3)) << (8 * rng.UintN(4))
		ops = append(ops, op)
	}
	for i := range ops {
		for j := range ops {
			a, b := &ops[i], &ops[j]
			want := bytes.Compare(utxoKey(a.Hash, a.Index), utxoKey(b.Hash, b.Index))
			if got := compareOutpoints(a, b); got != want {
				t.Fatalf("compareOutpoints(%s:%d, %s:%d) = %d, the keys compare %d", a.Hash, a.Index, b.Hash, b.Index, got, want)
			}
		}
	}
}
