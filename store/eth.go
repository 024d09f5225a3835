package store

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/chain"
)

// Ethereum tables, written children first and blocks last, so a block row
// means the block is fully stored.
var ethTables = []string{"eth_transfers", "eth_address_transfers", "eth_blocks"}

// maxDecimal is the largest value of a Decimal(38, 0) column. A token's
// uint256 can exceed it (2^256 ≈ 1.2·10^77): such a value is stored as 0
// in the Decimal column and exactly, as decimal text, in value_big.
var maxDecimal = new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil), big.NewInt(1))

// splitValue returns the Decimal(38, 0) column value and the value_big text.
func splitValue(a chain.Amount) (decimal.Decimal, string) {
	v := a.Big()
	if v.Cmp(maxDecimal) > 0 {
		return decimal.Zero, v.String()
	}
	return decimal.NewFromBigInt(v, 0), ""
}

type ethBlockCols struct {
	height             []uint64
	hash, parent       []string
	time               []time.Time
	size, txs, nTransf []uint32
	seq                []uint64
}

type ethTransferCols struct {
	txid, kind            []string
	idx                   []uint32
	blockHash             []string
	blockHeight           []uint64
	time                  []time.Time
	txIndex               []uint32
	asset, from, to       []string
	value                 []decimal.Decimal
	valueBig              []string
	fee                   []decimal.Decimal
	success, zero, isFrom []uint8
	address               []string // address rows only
}

// ethBatch buffers Ethereum rows.
type ethBatch struct {
	blocks    ethBlockCols
	transfers ethTransferCols
	addrs     ethTransferCols
}

func (b *ethBatch) rows() int {
	return len(b.blocks.height) + len(b.transfers.txid) + len(b.addrs.txid)
}

func (b *ethBatch) add(blk *chain.Block, seq uint64) error {
	if blk.Height < 0 {
		return fmt.Errorf("store: block %s: height %d out of range", blk.Hash, blk.Height)
	}
	h := uint64(blk.Height)
	t := time.Unix(blk.Time, 0).UTC()
	txs := 0
	for i := range blk.Transfers {
		tr := &blk.Transfers[i]
		if tr.Kind == chain.TransferNative {
			txs++
		}
		if tr.Index < 0 || tr.TxIndex < 0 {
			return fmt.Errorf("store: block %s: transfer %s/%s/%d has a negative index", blk.Hash, tr.Txid, tr.Kind, tr.Index)
		}
		val, big := splitValue(tr.Value)
		fee, feeBig := splitValue(tr.Fee)
		if feeBig != "" {
			return fmt.Errorf("store: block %s: transaction %s: fee %s beyond Decimal(38, 0)", blk.Hash, tr.Txid, feeBig)
		}
		b.transfers.add(blk.Hash, h, t, tr, val, big, fee)
		// One address row per side: an address's history is one key
		// range. A self-transfer has both.
		for _, side := range []struct {
			addr   string
			isFrom uint8
		}{{tr.From, 1}, {tr.To, 0}} {
			if side.addr != "" {
				b.addrs.address = append(b.addrs.address, side.addr)
				b.addrs.isFrom = append(b.addrs.isFrom, side.isFrom)
				b.addrs.add(blk.Hash, h, t, tr, val, big, fee)
			}
		}
	}
	c := &b.blocks
	c.height = append(c.height, h)
	c.hash = append(c.hash, blk.Hash)
	c.parent = append(c.parent, blk.Parent)
	c.time = append(c.time, t)
	c.size = append(c.size, uint32(blk.Size))
	c.txs = append(c.txs, uint32(txs))
	c.nTransf = append(c.nTransf, uint32(len(blk.Transfers)))
	c.seq = append(c.seq, seq)
	return nil
}

func (c *ethTransferCols) add(hash string, h uint64, t time.Time, tr *chain.Transfer, val decimal.Decimal, big string, fee decimal.Decimal) {
	c.txid = append(c.txid, tr.Txid)
	c.kind = append(c.kind, tr.Kind)
	c.idx = append(c.idx, uint32(tr.Index))
	c.blockHash = append(c.blockHash, hash)
	c.blockHeight = append(c.blockHeight, h)
	c.time = append(c.time, t)
	c.txIndex = append(c.txIndex, uint32(tr.TxIndex))
	c.asset = append(c.asset, tr.Asset)
	c.from = append(c.from, tr.From)
	c.to = append(c.to, tr.To)
	c.value = append(c.value, val)
	c.valueBig = append(c.valueBig, big)
	c.fee = append(c.fee, fee)
	c.success = append(c.success, b2u(tr.Success))
	c.zero = append(c.zero, b2u(tr.Zero))
}

func (c *ethTransferCols) transferColumns() []Column {
	return []Column{
		{"txid", c.txid}, {"kind", c.kind}, {"idx", c.idx}, {"block_hash", c.blockHash}, {"block_height", c.blockHeight},
		{"time", c.time}, {"tx_index", c.txIndex}, {"asset", c.asset}, {"from_address", c.from}, {"to_address", c.to},
		{"value", c.value}, {"value_big", c.valueBig}, {"fee", c.fee}, {"success", c.success}, {"zero", c.zero},
	}
}

func (c *ethTransferCols) addressColumns() []Column {
	return append([]Column{{"address", c.address}, {"is_from", c.isFrom}}, c.transferColumns()...)
}

func (c *ethBlockCols) columns() []Column {
	return []Column{
		{"height", c.height}, {"hash", c.hash}, {"parent", c.parent}, {"time", c.time}, {"size", c.size},
		{"tx_count", c.txs}, {"transfer_count", c.nTransf}, {"seq", c.seq},
	}
}

// write inserts the Ethereum rows: transfers and the address index side by
// side, then the blocks.
func (b *ethBatch) write(ctx context.Context, conn Conn) error {
	if len(b.blocks.height) == 0 {
		return nil
	}
	eg, ectx := errgroup.WithContext(ctx)
	if len(b.transfers.txid) > 0 {
		eg.Go(func() error { return conn.Insert(ectx, "eth_transfers", b.transfers.transferColumns()) })
		eg.Go(func() error { return conn.Insert(ectx, "eth_address_transfers", b.addrs.addressColumns()) })
	}
	if err := eg.Wait(); err != nil {
		return fmt.Errorf("store: writing %d Ethereum blocks: %w", len(b.blocks.height), err)
	}
	if err := conn.Insert(ctx, "eth_blocks", b.blocks.columns()); err != nil {
		return fmt.Errorf("store: writing %d Ethereum blocks: %w", len(b.blocks.height), err)
	}
	return nil
}

func (b *ethBatch) reset() ethBatch {
	return ethBatch{blocks: b.blocks.reset(), transfers: b.transfers.reset(), addrs: b.addrs.reset()}
}

func (c *ethBlockCols) reset() ethBlockCols {
	return ethBlockCols{c.height[:0], c.hash[:0], c.parent[:0], c.time[:0], c.size[:0], c.txs[:0], c.nTransf[:0], c.seq[:0]}
}

func (c *ethTransferCols) reset() ethTransferCols {
	return ethTransferCols{c.txid[:0], c.kind[:0], c.idx[:0], c.blockHash[:0], c.blockHeight[:0], c.time[:0], c.txIndex[:0],
		c.asset[:0], c.from[:0], c.to[:0], c.value[:0], c.valueBig[:0], c.fee[:0], c.success[:0], c.zero[:0], c.isFrom[:0], c.address[:0]}
}
