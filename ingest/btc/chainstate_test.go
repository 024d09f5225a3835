package btc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/ingest"
)

func hashOf(s string) string { return chainhash.DoubleHashH([]byte(s)).String() }

// chainBlock makes a normalized block: a coinbase paying addr-<height>, and
// a tx spending each outpoint in spends (created by earlier blocks) to
// one fresh output.
func chainBlock(height int64, parent string, spends []ingest.Input) *ingest.Block {
	b := &ingest.Block{Chain: "btc", Height: height, Hash: hashOf(fmt.Sprintf("b%d-%s", height, parent)), Parent: parent}
	b.Txs = append(b.Txs, ingest.Tx{
		Txid: hashOf(fmt.Sprintf("cb%d-%s", height, parent)), Coinbase: true,
		Inputs:  []ingest.Input{{Coinbase: true}},
		Outputs: []ingest.Output{{Index: 0, Address: fmt.Sprintf("addr-%d", height), ScriptType: ingest.ScriptP2WPKH, Value: 50}},
	})
	if len(spends) > 0 {
		var sum int64
		for _, s := range spends {
			sum += s.Value
		}
		b.Txs = append(b.Txs, ingest.Tx{
			Txid: hashOf(fmt.Sprintf("tx%d-%s", height, parent)), Index: 1, Inputs: spends,
			Outputs: []ingest.Output{{Index: 0, Address: fmt.Sprintf("spent-to-%d", height), ScriptType: ingest.ScriptP2TR, Value: sum - 1},
				{Index: 1, ScriptType: ingest.ScriptNullData}},
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
	if err != nil || got.Address != "addr-0" || got.Value != 50 || got.ScriptType != ingest.ScriptP2WPKH {
		t.Fatalf("prevout of coinbase 0: got %+v, %v; want addr-0, 50, p2wpkh", got, err)
	}
	spend := []ingest.Input{{PrevTxid: cb0, PrevIndex: 0, Address: "addr-0", ScriptType: ingest.ScriptP2WPKH, Value: 50}}
	b1 := chainBlock(1, b0.Hash, spend)
	ev, err := s.Connect(b1, true)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 2 || ev.Kind != ingest.KindBlock {
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
	if ev.Kind != ingest.KindUndo || ev.Hash != b1.Hash || ev.Height != 1 || ev.Seq != 3 {
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
