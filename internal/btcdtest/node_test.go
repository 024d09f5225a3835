package btcdtest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/internal/btcdtest"
)

// confirmed fails unless the node's transaction index has tx in a block.
func confirmed(t *testing.T, n *btcdtest.Node, tx *wire.MsgTx) {
	t.Helper()
	txid := tx.TxHash()
	res, err := n.Client().GetRawTransactionVerbose(&txid)
	if err != nil {
		t.Fatalf("getrawtransaction %s: %v", txid, err)
	}
	if res.Confirmations < 1 || res.BlockHash == "" {
		t.Errorf("tx %s: got %d confirmations in block %q, want mined", txid, res.Confirmations, res.BlockHash)
	}
}

// wantClass is how txscript classifies each kind's output script, which is
// what the ingest side sees.
var wantClass = map[btcdtest.Kind]txscript.ScriptClass{
	btcdtest.P2PKH:             txscript.PubKeyHashTy,
	btcdtest.P2PKHUncompressed: txscript.PubKeyHashTy,
	btcdtest.P2PK:              txscript.PubKeyTy,
	btcdtest.P2PKUncompressed:  txscript.PubKeyTy,
	btcdtest.Multisig:          txscript.MultiSigTy,
	btcdtest.P2SHMultisig:      txscript.ScriptHashTy,
	btcdtest.P2SHP2WPKH:        txscript.ScriptHashTy,
	btcdtest.P2WPKH:            txscript.WitnessV0PubKeyHashTy,
	btcdtest.P2WSH:             txscript.WitnessV0ScriptHashTy,
	btcdtest.P2TR:              txscript.WitnessV1TaprootTy,
	btcdtest.NullData:          txscript.NullDataTy,
	btcdtest.NonStandard:       txscript.NonStandardTy,
	// btcd's GetScriptClass knows witness versions 0 and 1 only; it never
	// returns WitnessUnknownTy (txscript.IsWitnessProgram tells).
	btcdtest.WitnessFuture: txscript.NonStandardTy,
}

func TestEveryScriptKind(t *testing.T) {
	n := btcdtest.Start(t)

	// Before any coinbase matures there is nothing to spend.
	n.Generate(1)
	if _, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2WPKH).TxOut(1e6)}); !errors.Is(err, btcdtest.ErrNoFunds) {
		t.Fatalf("Send before maturity: got %v, want ErrNoFunds", err)
	}
	begin := time.Now()
	n.Generate(100)
	t.Logf("mined 100 blocks in %v", time.Since(begin).Round(time.Millisecond))

	// Segwit is not active yet: paying witness outputs works, spending them
	// does not.
	early, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2WPKH).TxOut(1e6)})
	if err != nil {
		t.Fatalf("paying P2WPKH before activation: %v", err)
	}
	if _, err := n.Spend(wire.OutPoint{Hash: early.TxHash(), Index: 0}); err == nil {
		t.Error("spending P2WPKH before activation: got no error")
	}
	begin = time.Now()
	n.ActivateSoftForks()
	t.Logf("mined to height %d (soft forks active) in %v", btcdtest.ActivationHeight, time.Since(begin).Round(time.Millisecond))

	scripts := make([]*btcdtest.Script, len(btcdtest.Kinds))
	outs := make([]*wire.TxOut, len(btcdtest.Kinds))
	for i, kind := range btcdtest.Kinds {
		s := n.NewScript(kind)
		if got := txscript.GetScriptClass(s.PkScript); got != wantClass[kind] {
			t.Errorf("%v: got script class %v, want %v", kind, got, wantClass[kind])
		}
		if kind == btcdtest.WitnessFuture {
			if v, _, err := txscript.ExtractWitnessProgramInfo(s.PkScript); err != nil || v != 2 {
				t.Errorf("%v: got witness version %d (%v), want 2", kind, v, err)
			}
		}
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
	confirmed(t, n, fund)

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
	if len(spent.TxIn) != len(spend) {
		t.Errorf("spending tx: got %d inputs, want %d (no funding needed)", len(spent.TxIn), len(spend))
	}
	// And a chain of unconfirmed transactions: the change of the last one
	// funds the next.
	next, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2TR).TxOut(2e8)})
	if err != nil {
		t.Fatal(err)
	}
	n.Generate(1)
	confirmed(t, n, spent)
	confirmed(t, n, next)

	for _, kind := range []btcdtest.Kind{btcdtest.NullData, btcdtest.WitnessFuture} {
		for i, s := range scripts {
			if s.Kind != kind {
				continue
			}
			if _, err := n.Spend(wire.OutPoint{Hash: fund.TxHash(), Index: uint32(i)}); err == nil {
				t.Errorf("spending a %v output: got no error", kind)
			}
		}
	}
}

func TestReorg(t *testing.T) {
	n := btcdtest.Start(t)
	n.Generate(101)
	// A transaction in a block that the reorg takes away goes back to the
	// mempool and is mined again on the new branch.
	tx, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2WPKH).TxOut(5e7)})
	if err != nil {
		t.Fatal(err)
	}
	n.Generate(3)
	oldTip, height := n.Tip()
	if height != 104 {
		t.Fatalf("height: got %d, want 104", height)
	}
	fork := n.BlockHash(height - 2) // depth 3: the tip and two below it
	n.InvalidateBlock(fork)
	if _, h := n.Tip(); h != height-3 {
		t.Fatalf("height after invalidateblock: got %d, want %d", h, height-3)
	}
	hashes := n.Generate(4)
	newTip, newHeight := n.Tip()
	if newHeight != height+1 || *newTip == *oldTip || *newTip != *hashes[3] {
		t.Errorf("after reorg: got tip %s at %d, want the last generated %s at %d, not %s", newTip, newHeight, hashes[3], height+1, oldTip)
	}
	confirmed(t, n, tx)

	// Coins from the abandoned branch are forgotten, not spent.
	if _, err := n.Send([]*wire.TxOut{n.NewScript(btcdtest.P2PKH).TxOut(1e8)}); err != nil {
		t.Fatalf("send after reorg: %v", err)
	}

	// Reconsidering the old branch does not switch back: it is shorter.
	n.ReconsiderBlock(fork)
	if tip, _ := n.Tip(); *tip != *newTip {
		t.Errorf("after reconsiderblock: got tip %s, want %s", tip, newTip)
	}
}
