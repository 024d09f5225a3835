package simulate

import (
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// dust is the smallest output the generator makes (Core's dust limit for
// P2PKH at 3 sat/vB).
const dust = 546

// maxOutWeight is the heaviest output the generator makes (an OP_RETURN with
// 75 bytes of data), for fee estimates before the outputs are known.
const maxOutWeight = (8 + 1 + 2 + 75) * 4

// noAddr marks an OP_RETURN output.
const noAddr = ^uint32(0)

// txOut is an output to be.
type txOut struct {
	value int64
	addr  uint32  // noAddr: OP_RETURN
	to    *wallet // receives the coin; nil: the caller takes it, or nobody
	tag   uint8   // for the caller to find the output after shuffling
}

// txBuilder collects a transaction before emit turns it into wire format.
type txBuilder struct {
	ins    []coin
	from   []*wallet // where each input came from, to refund
	outs   []txOut
	sumIn  int64
	weight int64
	rate   int64 // fee rate, sat/vB
}

func (g *Generator) reset() {
	tb := &g.tb
	tb.ins, tb.from, tb.outs = tb.ins[:0], tb.from[:0], tb.outs[:0]
	tb.sumIn, tb.weight = 0, txOverheadWeight
	tb.rate = g.feeRate + int64(g.rng.IntN(int(g.feeRate/2)+1))
}

func (tb *txBuilder) reset() {
	tb.ins, tb.from, tb.outs = tb.ins[:0], tb.from[:0], tb.outs[:0]
	tb.sumIn, tb.weight = 0, txOverheadWeight
}

func (tb *txBuilder) add(value int64, addr uint32, to *wallet) int {
	tb.outs = append(tb.outs, txOut{value: value, addr: addr, to: to})
	return len(tb.outs) - 1
}

// spend moves coin i of w into the transaction.
func (g *Generator) spend(w *wallet, i int) {
	g.spendCoin(w.remove(i), w)
}

// spendCoin puts c, which belongs to w, into the transaction.
func (g *Generator) spendCoin(c coin, w *wallet) {
	tb := &g.tb
	tb.ins = append(tb.ins, c)
	tb.from = append(tb.from, w)
	tb.sumIn += c.value
	tb.weight += inWeight[g.addrType[c.addr]]
}

// out adds an output and returns its index.
func (g *Generator) out(value int64, addr uint32, to *wallet) int {
	tb := &g.tb
	if addr == noAddr {
		tb.weight += maxOutWeight
	} else {
		tb.weight += outWeight[g.addrType[addr]]
	}
	return tb.add(value, addr, to)
}

// opReturn adds an OP_RETURN output.
func (g *Generator) opReturn() {
	g.out(0, noAddr, nil)
}

// dropOut removes output i (change too small to keep: it goes to the fee).
func (g *Generator) dropOut(i int) {
	tb := &g.tb
	if tb.outs[i].addr != noAddr {
		tb.weight -= outWeight[g.addrType[tb.outs[i].addr]]
	}
	tb.outs = append(tb.outs[:i], tb.outs[i+1:]...)
}

// feeFor is the fee of a transaction of weight w at this transaction's rate.
func (g *Generator) feeFor(w int64) int64 {
	return g.tb.rate * ((w + 3) / 4)
}

// fee is the fee of the transaction as it stands.
func (g *Generator) fee() int64 { return g.feeFor(g.tb.weight) }

// refund gives the inputs back: the transaction is not made.
func (g *Generator) refund() {
	tb := &g.tb
	for i, c := range tb.ins {
		tb.from[i].add(c)
	}
	tb.ins, tb.from = tb.ins[:0], tb.from[:0]
	tb.sumIn = 0
}

func (g *Generator) shuffleOuts() {
	o := g.tb.outs
	g.rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
}

func (g *Generator) shuffleIns() {
	tb := &g.tb
	g.rng.Shuffle(len(tb.ins), func(i, j int) {
		tb.ins[i], tb.ins[j] = tb.ins[j], tb.ins[i]
		tb.from[i], tb.from[j] = tb.from[j], tb.from[i]
	})
}

// emit turns the builder into a transaction of the block, credits the
// outputs to their wallets and returns the txid.
func (g *Generator) emit() chainhash.Hash {
	tb := &g.tb
	tx := g.ar.tx()
	tx.Version = 2
	if g.rng.IntN(8) == 0 {
		tx.Version = 1
	}
	// Core's wallet sets the locktime to the tip against fee sniping and
	// signals RBF; other wallets leave both alone.
	seq := uint32(wire.MaxTxInSequenceNum)
	switch g.rng.IntN(4) {
	case 0, 1:
		tx.LockTime = uint32(g.height - 1)
		seq = wire.MaxTxInSequenceNum - 2
	case 2:
		seq = wire.MaxTxInSequenceNum - 1
	}
	tx.TxIn = g.ar.txIns(len(tb.ins))
	for i, c := range tb.ins {
		in := tx.TxIn[i]
		in.PreviousOutPoint = c.op
		in.Sequence = seq
		g.fillInput(in, c.addr)
	}
	tx.TxOut = g.ar.txOuts(len(tb.outs))
	var sumOut int64
	for i, o := range tb.outs {
		out := tx.TxOut[i]
		out.Value = o.value
		if o.addr == noAddr {
			out.PkScript = g.nullData()
		} else {
			out.PkScript = g.pkScript(o.addr)
			if o.value < dust {
				g.fail(fmt.Errorf("%w: output of %d sat below dust at height %d", ErrInternal, o.value, g.height))
			}
		}
		sumOut += o.value
	}
	if len(tb.ins) == 0 || sumOut >= tb.sumIn {
		g.fail(fmt.Errorf("%w: transaction spends %d sat in %d inputs and pays %d at height %d", ErrInternal, tb.sumIn, len(tb.ins), sumOut, g.height))
	}
	g.buf = appendTx(g.buf[:0], tx, false)
	txid := doubleSHA256(g.buf)
	wtxid := txid
	if tx.HasWitness() {
		g.buf = appendTx(g.buf[:0], tx, true)
		wtxid = doubleSHA256(g.buf)
	}
	g.blkTxs = append(g.blkTxs, tx)
	g.txids = append(g.txids, txid)
	g.wtxids = append(g.wtxids, wtxid)
	g.fees += tb.sumIn - sumOut
	for i, o := range tb.outs {
		if o.to != nil {
			o.to.add(coin{op: wire.OutPoint{Hash: txid, Index: uint32(i)}, value: o.value, addr: o.addr})
		}
	}
	return txid
}

// nullData is an OP_RETURN script with a payload: some Omni-style, most
// opaque (commitments, timestamps).
func (g *Generator) nullData() []byte {
	n := 20 + g.rng.IntN(56)
	b := g.ar.bytes(2 + n)[:0]
	b = append(b, 0x6a, byte(n))
	if g.rng.IntN(3) == 0 {
		b = append(b, 'o', 'm', 'n', 'i')
		return append(b, g.noiseBytes(n-4)...)
	}
	return append(b, g.noiseBytes(n)...)
}

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// amountIn draws an amount from 10^lo to 10^hi satoshi, each decade equally
// likely; half of them are round (two significant digits), as payments in
// fiat-denominated or typed-in amounts are.
func (g *Generator) amountIn(lo, hi int) int64 {
	p := pow10[lo+g.rng.IntN(hi-lo)]
	v := p + g.rng.Int64N(9*p)
	if g.rng.IntN(2) == 0 && p >= 100 {
		q := p / 10
		v = v / q * q
	}
	return v
}

func outPoint(txid chainhash.Hash, vout int) wire.OutPoint {
	return wire.OutPoint{Hash: txid, Index: uint32(vout)}
}

// odd is a random number below 10^d, to make a value look unround.
func (g *Generator) odd(d int) int64 { return g.rng.Int64N(pow10[d]) }
