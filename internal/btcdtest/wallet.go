package btcdtest

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// ErrNoFunds means the harness has no spendable coins left for a
// transaction: mine 101 blocks (Generate) before the first Send.
var ErrNoFunds = errors.New("btcdtest: not enough mature coins (mine 101 blocks first)")

const (
	// feeRate in satoshis per virtual byte; btcd relays from 1 sat/vB.
	feeRate = 10
	// changeMin: smaller change is left to the fee.
	changeMin = 1000
)

// coin is an output paying the mining script, usable to fund transactions.
type coin struct {
	op       wire.OutPoint
	value    int64
	height   int64 // -1 while in the mempool
	coinbase bool
}

// wallet holds the harness keys, the scripts made for them and the coins
// that fund Send. Outputs to other scripts of the harness are never used
// for funding: the test spends them itself with Spend.
type wallet struct {
	params *chaincfg.Params
	client *rpcclient.Client

	mu      sync.Mutex
	keySeq  int
	scripts map[string]*Script // by pkScript
	mining  *Script            // P2PKH: coinbases and change
	coins   []coin             // oldest first
}

func (w *wallet) init(params *chaincfg.Params) {
	w.params = params
	w.scripts = make(map[string]*Script)
	mining, err := w.newScript(P2PKH)
	if err != nil {
		panic(err) // a fixed key on fixed parameters
	}
	w.mining = mining
}

// generate mines num blocks and takes note of their coinbases and of the
// coins they spend.
func (w *wallet) generate(num uint32) ([]*chainhash.Hash, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	before, err := w.client.GetBlockCount()
	if err != nil {
		return nil, fmt.Errorf("btcdtest: getblockcount: %w", err)
	}
	hashes, err := w.client.Generate(num)
	if err != nil {
		return nil, fmt.Errorf("btcdtest: generate %d: %w", num, err)
	}
	for i, h := range hashes {
		b, err := w.client.GetBlock(h)
		if err != nil {
			return nil, fmt.Errorf("btcdtest: getblock %s: %w", h, err)
		}
		// generate extends the best chain, which only this harness mines.
		w.connect(b, before+1+int64(i))
	}
	return hashes, nil
}

func (w *wallet) connect(b *wire.MsgBlock, height int64) {
	spent := make(map[wire.OutPoint]bool)
	for _, tx := range b.Transactions[1:] {
		for _, in := range tx.TxIn {
			spent[in.PreviousOutPoint] = true
		}
	}
	have := make(map[wire.OutPoint]int, len(w.coins))
	kept := w.coins[:0]
	for _, c := range w.coins {
		if !spent[c.op] {
			have[c.op] = len(kept)
			kept = append(kept, c)
		}
	}
	w.coins = kept
	for i, tx := range b.Transactions {
		txid := tx.TxHash()
		for vout, out := range tx.TxOut {
			if string(out.PkScript) != string(w.mining.PkScript) {
				continue
			}
			op := wire.OutPoint{Hash: txid, Index: uint32(vout)}
			if j, ok := have[op]; ok {
				w.coins[j].height = height
				continue
			}
			w.coins = append(w.coins, coin{op: op, value: out.Value, height: height, coinbase: i == 0})
		}
	}
}

// Send pays outputs from the harness's coins, with change back to the
// mining address, signs, submits with sendrawtransaction and returns the
// transaction. The fee is 10 sat/vB.
func (n *Node) Send(outputs []*wire.TxOut) (*wire.MsgTx, error) {
	return n.wallet.send(nil, outputs)
}

// Spend spends the given outputs, which must pay scripts made by
// NewScript (or the mining address), back to the mining address.
func (n *Node) Spend(outpoints ...wire.OutPoint) (*wire.MsgTx, error) {
	return n.wallet.send(outpoints, nil)
}

// SpendTo spends the given outputs, and the harness's coins as far as
// needed, to outputs, with change back to the mining address.
func (n *Node) SpendTo(outpoints []wire.OutPoint, outputs []*wire.TxOut) (*wire.MsgTx, error) {
	return n.wallet.send(outpoints, outputs)
}

func (w *wallet) send(outpoints []wire.OutPoint, outputs []*wire.TxOut) (*wire.MsgTx, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	tx := wire.NewMsgTx(2)
	var prevs []*wire.TxOut
	var sumIn, sumOut int64
	inTx := make(map[wire.OutPoint]bool)
	for _, op := range outpoints {
		prev, err := w.prevOut(op)
		if err != nil {
			return nil, err
		}
		tx.AddTxIn(wire.NewTxIn(&op, nil, nil))
		prevs = append(prevs, prev)
		sumIn += prev.Value
		inTx[op] = true
	}
	for _, out := range outputs {
		tx.AddTxOut(out)
		sumOut += out.Value
	}
	change := wire.NewTxOut(0, w.mining.PkScript)

	// Sign, measure, and repeat with the fee that size asks for: the
	// signatures' lengths vary by a byte or two, hence the margin.
	var fee int64
	for signed := false; !signed; {
		if need := sumOut + fee + changeMin - sumIn; need > 0 {
			more, err := w.selectCoins(need, inTx)
			if err != nil && !errors.Is(err, ErrNoFunds) {
				return nil, err
			}
			// Without more coins the inputs may still cover the fee, with
			// less or no change: checked once the fee is known.
			for _, c := range more {
				tx.AddTxIn(wire.NewTxIn(&c.op, nil, nil))
				prevs = append(prevs, wire.NewTxOut(c.value, w.mining.PkScript))
				sumIn += c.value
				inTx[c.op] = true
			}
		}
		tx.TxOut = tx.TxOut[:len(outputs)]
		if rest := sumIn - sumOut - fee; rest >= changeMin {
			change.Value = rest
			tx.AddTxOut(change)
		}
		if err := w.sign(tx, prevs); err != nil {
			return nil, err
		}
		// Change only shrinks as the fee grows, so this settles in two or
		// three rounds.
		if want := (vsize(tx) + 4) * feeRate; fee < want {
			fee = want
		} else {
			signed = true
		}
	}

	if sumIn-sumOut < fee {
		return nil, ErrNoFunds
	}
	if _, err := w.client.SendRawTransaction(tx, true); err != nil {
		hint := ""
		if strings.Contains(err.Error(), "segwit isn't active") {
			hint = " (call ActivateSoftForks first)"
		}
		return nil, fmt.Errorf("btcdtest: sendrawtransaction %s%s: %w", tx.TxHash(), hint, err)
	}

	// The node has the transaction: its inputs are spent, its outputs to
	// the mining address fund the next one.
	spent := make([]wire.OutPoint, 0, len(inTx))
	for op := range inTx {
		spent = append(spent, op)
	}
	w.forget(spent)
	txid := tx.TxHash()
	for vout, out := range tx.TxOut {
		if string(out.PkScript) == string(w.mining.PkScript) {
			w.coins = append(w.coins, coin{op: wire.OutPoint{Hash: txid, Index: uint32(vout)}, value: out.Value, height: -1})
		}
	}
	return tx, nil
}

// prevOut returns the output op spends, which must pay a harness script.
func (w *wallet) prevOut(op wire.OutPoint) (*wire.TxOut, error) {
	prevTx, err := w.client.GetRawTransaction(&op.Hash)
	if err != nil {
		return nil, fmt.Errorf("btcdtest: getrawtransaction %s: %w", op.Hash, err)
	}
	outs := prevTx.MsgTx().TxOut
	if int(op.Index) >= len(outs) {
		return nil, fmt.Errorf("btcdtest: %v: transaction has %d outputs", op, len(outs))
	}
	prev := outs[op.Index]
	s, ok := w.scripts[string(prev.PkScript)]
	if !ok {
		return nil, fmt.Errorf("btcdtest: %v pays a script the harness did not make", op)
	}
	if !s.Kind.Spendable() {
		return nil, fmt.Errorf("btcdtest: %v is a %v output, which the harness cannot spend", op, s.Kind)
	}
	return prev, nil
}

// selectCoins picks spendable funding coins, oldest first, worth at least
// need, skipping those in skip. It forgets coins the node no longer has (a
// reorg took their block away).
func (w *wallet) selectCoins(need int64, skip map[wire.OutPoint]bool) ([]coin, error) {
	tip, err := w.client.GetBlockCount()
	if err != nil {
		return nil, fmt.Errorf("btcdtest: getblockcount: %w", err)
	}
	maturity := int64(w.params.CoinbaseMaturity)
	var picked []coin
	var sum int64
	var gone []wire.OutPoint
	for _, c := range w.coins {
		if skip[c.op] || c.coinbase && tip+1-c.height < maturity {
			continue
		}
		res, err := w.client.GetTxOut(&c.op.Hash, c.op.Index, true)
		var rpcErr *btcjson.RPCError
		if errors.As(err, &rpcErr) || err == nil && res == nil {
			gone = append(gone, c.op)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("btcdtest: gettxout %v: %w", c.op, err)
		}
		picked = append(picked, c)
		if sum += c.value; sum >= need {
			break
		}
	}
	w.forget(gone)
	if sum < need {
		return nil, ErrNoFunds
	}
	return picked, nil
}

func (w *wallet) forget(ops []wire.OutPoint) {
	drop := make(map[wire.OutPoint]bool, len(ops))
	for _, op := range ops {
		drop[op] = true
	}
	kept := w.coins[:0]
	for _, c := range w.coins {
		if !drop[c.op] {
			kept = append(kept, c)
		}
	}
	w.coins = kept
}

// sign signs every input of tx, whose previous outputs are prevs, and
// checks each with the script engine under btcd's standard flags, so that
// a signing mistake shows here and not as a mempool rejection.
func (w *wallet) sign(tx *wire.MsgTx, prevs []*wire.TxOut) error {
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range tx.TxIn {
		fetcher.AddPrevOut(in.PreviousOutPoint, prevs[i])
	}
	// BIP143 and BIP341 digests commit to all inputs' previous outputs
	// (BIP341: amounts and scripts), hence the fetcher over all of them.
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i := range tx.TxIn {
		s := w.scripts[string(prevs[i].PkScript)]
		if err := signInput(tx, i, s, prevs[i].Value, hashes); err != nil {
			return fmt.Errorf("btcdtest: signing input %d (%v): %w", i, s.Kind, err)
		}
	}
	for i, in := range tx.TxIn {
		vm, err := txscript.NewEngine(prevs[i].PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prevs[i].Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return fmt.Errorf("btcdtest: input %d spending %v does not verify: %w", i, in.PreviousOutPoint, err)
		}
	}
	return nil
}

func signInput(tx *wire.MsgTx, i int, s *Script, amount int64, hashes *txscript.TxSigHashes) error {
	in := tx.TxIn[i]
	key := s.keys[0]
	in.SignatureScript, in.Witness = nil, nil
	var err error
	switch s.Kind {
	case P2PKH, P2PKHUncompressed:
		in.SignatureScript, err = txscript.SignatureScript(tx, i, s.PkScript, txscript.SigHashAll, key, s.Kind == P2PKH)
	case P2PK, P2PKUncompressed, NonStandard:
		var sig []byte
		if sig, err = txscript.RawTxInSignature(tx, i, s.PkScript, txscript.SigHashAll, key); err == nil {
			in.SignatureScript, err = txscript.NewScriptBuilder().AddData(sig).Script()
		}
	case Multisig:
		// OP_0 is the extra element OP_CHECKMULTISIG pops (NULLDUMMY).
		var sig []byte
		if sig, err = txscript.RawTxInSignature(tx, i, s.PkScript, txscript.SigHashAll, key); err == nil {
			in.SignatureScript, err = txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(sig).Script()
		}
	case P2SHMultisig:
		var sig []byte
		if sig, err = txscript.RawTxInSignature(tx, i, s.RedeemScript, txscript.SigHashAll, key); err == nil {
			in.SignatureScript, err = txscript.NewScriptBuilder().
				AddOp(txscript.OP_0).AddData(sig).AddData(s.RedeemScript).Script()
		}
	case P2SHP2WPKH:
		// The witness program is the redeem script; WitnessSignature turns
		// it into the P2PKH script code that BIP143 signs.
		if in.SignatureScript, err = txscript.NewScriptBuilder().AddData(s.RedeemScript).Script(); err == nil {
			in.Witness, err = txscript.WitnessSignature(tx, hashes, i, amount, s.RedeemScript, txscript.SigHashAll, key, true)
		}
	case P2WPKH:
		in.Witness, err = txscript.WitnessSignature(tx, hashes, i, amount, s.PkScript, txscript.SigHashAll, key, true)
	case P2WSH:
		var sig []byte
		if sig, err = txscript.RawTxInWitnessSignature(tx, hashes, i, amount, s.WitnessScript, txscript.SigHashAll, key); err == nil {
			in.Witness = wire.TxWitness{{}, sig, s.WitnessScript}
		}
	case P2TR:
		// Key path with the BIP86 tweak (no script tree): a 64-byte
		// Schnorr signature, SIGHASH_DEFAULT.
		in.Witness, err = txscript.TaprootWitnessSignature(tx, hashes, i, amount, s.PkScript, txscript.SigHashDefault, key)
	default:
		err = fmt.Errorf("cannot spend a %v output", s.Kind)
	}
	return err
}

// vsize is the virtual size (BIP141): weight / 4, rounded up.
func vsize(tx *wire.MsgTx) int64 {
	weight := int64(tx.SerializeSizeStripped()*3 + tx.SerializeSize())
	return (weight + 3) / 4
}
