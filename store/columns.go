package store

import (
	"time"

	"github.com/tracerproject/tracer/chain"
)

// Column buffers, one struct per table, in the tables' column order.

type blockCols struct {
	height  []uint32
	hash    []string
	parent  []string
	time    []time.Time
	size    []uint32
	txCount []uint32
	seq     []uint64
}

func (c *blockCols) add(h uint32, b *chain.Block, t time.Time, seq uint64) {
	c.height = append(c.height, h)
	c.hash = append(c.hash, b.Hash)
	c.parent = append(c.parent, b.Parent)
	c.time = append(c.time, t)
	c.size = append(c.size, uint32(b.Size))
	c.txCount = append(c.txCount, uint32(len(b.Txs)))
	c.seq = append(c.seq, seq)
}

func (c blockCols) reset() blockCols {
	return blockCols{c.height[:0], c.hash[:0], c.parent[:0], c.time[:0], c.size[:0], c.txCount[:0], c.seq[:0]}
}

func (c *blockCols) columns() []Column {
	return []Column{
		{"height", c.height}, {"hash", c.hash}, {"parent", c.parent}, {"time", c.time},
		{"size", c.size}, {"tx_count", c.txCount}, {"seq", c.seq},
	}
}

type txCols struct {
	txid, blockHash                []string
	blockHeight, idx               []uint32
	time                           []time.Time
	coinbase                       []uint8
	size, vsize, inCount, outCount []uint32
	inValue, outValue, fee         []int64
}

func (c *txCols) add(hash string, h uint32, t time.Time, tx *chain.Tx) {
	c.txid = append(c.txid, tx.Txid)
	c.blockHash = append(c.blockHash, hash)
	c.blockHeight = append(c.blockHeight, h)
	c.idx = append(c.idx, uint32(tx.Index))
	c.time = append(c.time, t)
	c.coinbase = append(c.coinbase, b2u(tx.Coinbase))
	c.size = append(c.size, uint32(tx.Size))
	c.vsize = append(c.vsize, uint32(tx.Vsize))
	c.inCount = append(c.inCount, uint32(len(tx.Inputs)))
	c.outCount = append(c.outCount, uint32(len(tx.Outputs)))
	in, out := tx.InputValue(), tx.OutputValue()
	c.inValue = append(c.inValue, in)
	c.outValue = append(c.outValue, out)
	fee := in - out
	if tx.Coinbase {
		fee = 0
	}
	c.fee = append(c.fee, fee)
}

func (c txCols) reset() txCols {
	return txCols{c.txid[:0], c.blockHash[:0], c.blockHeight[:0], c.idx[:0], c.time[:0], c.coinbase[:0],
		c.size[:0], c.vsize[:0], c.inCount[:0], c.outCount[:0], c.inValue[:0], c.outValue[:0], c.fee[:0]}
}

func (c *txCols) columns() []Column {
	return []Column{
		{"txid", c.txid}, {"block_hash", c.blockHash}, {"block_height", c.blockHeight}, {"idx", c.idx},
		{"time", c.time}, {"coinbase", c.coinbase}, {"size", c.size}, {"vsize", c.vsize},
		{"input_count", c.inCount}, {"output_count", c.outCount}, {"input_value", c.inValue},
		{"output_value", c.outValue}, {"fee", c.fee},
	}
}

type outputCols struct {
	txid            []string
	n               []uint32
	blockHash       []string
	blockHeight     []uint32
	time            []time.Time
	address, script []string
	value           []int64
}

func (c *outputCols) add(hash string, h uint32, t time.Time, txid string, o *chain.Output) {
	c.txid = append(c.txid, txid)
	c.n = append(c.n, o.Index)
	c.blockHash = append(c.blockHash, hash)
	c.blockHeight = append(c.blockHeight, h)
	c.time = append(c.time, t)
	c.address = append(c.address, o.Address)
	c.script = append(c.script, o.ScriptType)
	c.value = append(c.value, o.Value)
}

func (c outputCols) reset() outputCols {
	return outputCols{c.txid[:0], c.n[:0], c.blockHash[:0], c.blockHeight[:0], c.time[:0], c.address[:0], c.script[:0], c.value[:0]}
}

func (c *outputCols) columns() []Column {
	return []Column{
		{"txid", c.txid}, {"n", c.n}, {"block_hash", c.blockHash}, {"block_height", c.blockHeight},
		{"time", c.time}, {"address", c.address}, {"script_type", c.script}, {"value", c.value},
	}
}

type inputCols struct {
	txid            []string
	n               []uint32
	blockHash       []string
	blockHeight     []uint32
	time            []time.Time
	prevTxid        []string
	prevN           []uint32
	coinbase        []uint8
	address, script []string
	value           []int64
}

func (c *inputCols) add(hash string, h uint32, t time.Time, txid string, in *chain.Input) {
	c.txid = append(c.txid, txid)
	c.n = append(c.n, in.Index)
	c.blockHash = append(c.blockHash, hash)
	c.blockHeight = append(c.blockHeight, h)
	c.time = append(c.time, t)
	c.prevTxid = append(c.prevTxid, in.PrevTxid)
	c.prevN = append(c.prevN, in.PrevIndex)
	c.coinbase = append(c.coinbase, b2u(in.Coinbase))
	c.address = append(c.address, in.Address)
	c.script = append(c.script, in.ScriptType)
	c.value = append(c.value, in.Value)
}

func (c inputCols) reset() inputCols {
	return inputCols{c.txid[:0], c.n[:0], c.blockHash[:0], c.blockHeight[:0], c.time[:0], c.prevTxid[:0],
		c.prevN[:0], c.coinbase[:0], c.address[:0], c.script[:0], c.value[:0]}
}

func (c *inputCols) columns() []Column {
	return []Column{
		{"txid", c.txid}, {"n", c.n}, {"block_hash", c.blockHash}, {"block_height", c.blockHeight},
		{"time", c.time}, {"prev_txid", c.prevTxid}, {"prev_n", c.prevN}, {"coinbase", c.coinbase},
		{"address", c.address}, {"script_type", c.script}, {"value", c.value},
	}
}

// spendCols are btc_spends: a row per input that spends an output.
type spendCols struct {
	prevTxid  []string
	prevN     []uint32
	txid      []string
	n         []uint32
	blockHash []string
}

func (c *spendCols) add(hash, txid string, in *chain.Input) {
	c.prevTxid = append(c.prevTxid, in.PrevTxid)
	c.prevN = append(c.prevN, in.PrevIndex)
	c.txid = append(c.txid, txid)
	c.n = append(c.n, in.Index)
	c.blockHash = append(c.blockHash, hash)
}

func (c spendCols) reset() spendCols {
	return spendCols{c.prevTxid[:0], c.prevN[:0], c.txid[:0], c.n[:0], c.blockHash[:0]}
}

func (c *spendCols) columns() []Column {
	return []Column{
		{"prev_txid", c.prevTxid}, {"prev_n", c.prevN}, {"txid", c.txid}, {"n", c.n}, {"block_hash", c.blockHash},
	}
}

type ioCols struct {
	address, txid []string
	isInput       []uint8
	n             []uint32
	blockHash     []string
	blockHeight   []uint32
	time          []time.Time
	value         []int64
}

func (c *ioCols) add(addr, txid string, isInput uint8, n uint32, hash string, h uint32, t time.Time, v int64) {
	c.address = append(c.address, addr)
	c.txid = append(c.txid, txid)
	c.isInput = append(c.isInput, isInput)
	c.n = append(c.n, n)
	c.blockHash = append(c.blockHash, hash)
	c.blockHeight = append(c.blockHeight, h)
	c.time = append(c.time, t)
	c.value = append(c.value, v)
}

func (c ioCols) reset() ioCols {
	return ioCols{c.address[:0], c.txid[:0], c.isInput[:0], c.n[:0], c.blockHash[:0], c.blockHeight[:0], c.time[:0], c.value[:0]}
}

func (c *ioCols) columns() []Column {
	return []Column{
		{"address", c.address}, {"txid", c.txid}, {"is_input", c.isInput}, {"n", c.n},
		{"block_hash", c.blockHash}, {"block_height", c.blockHeight}, {"time", c.time}, {"value", c.value},
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
