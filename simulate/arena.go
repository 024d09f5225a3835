package simulate

import "github.com/btcsuite/btcd/wire"

// arena hands out the pieces of one block's transactions from large chunks,
// so that a 2,500-transaction block costs a few dozen allocations instead of
// tens of thousands. A new arena serves each block: the caller owns the
// blocks Next returns, and chunks are never reused.
type arena struct {
	buf  []byte
	txs  []wire.MsgTx
	ins  []wire.TxIn
	outs []wire.TxOut
	inp  []*wire.TxIn
	outp []*wire.TxOut
	wit  [][]byte
}

// carve returns the next n elements of *chunk, starting a new chunk of at
// least size elements when the current one is full. The result's capacity is
// n, so an append to it can never run into its neighbour.
func carve[T any](chunk *[]T, n, size int) []T {
	c := *chunk
	if cap(c)-len(c) < n {
		c = make([]T, 0, max(n, size))
	}
	l := len(c)
	*chunk = c[:l+n]
	return c[l : l+n : l+n]
}

func (a *arena) bytes(n int) []byte           { return carve(&a.buf, n, 256<<10) }
func (a *arena) witness(n int) wire.TxWitness { return carve(&a.wit, n, 4096) }
func (a *arena) tx() *wire.MsgTx              { return &carve(&a.txs, 1, 512)[0] }

func (a *arena) txIns(n int) []*wire.TxIn {
	p := carve(&a.inp, n, 2048)
	ins := carve(&a.ins, n, 2048)
	for i := range p {
		p[i] = &ins[i]
	}
	return p
}

func (a *arena) txOuts(n int) []*wire.TxOut {
	p := carve(&a.outp, n, 2048)
	outs := carve(&a.outs, n, 2048)
	for i := range p {
		p[i] = &outs[i]
	}
	return p
}
