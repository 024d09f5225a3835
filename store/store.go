package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/chain"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("store: not found")
)

// Store reads and writes the chain tables on one engine.
type Store struct {
	conn Conn
	log  *slog.Logger
}

// New migrates the schema on conn and returns a store on it.
func New(ctx context.Context, conn Conn, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	how, v, err := migrateAll(ctx, conn)
	if err != nil {
		return nil, err
	}
	if how == "" {
		log.Warn("the server writes compression blocks of at least min_compress_block_size bytes; keyed reads (traces, exposure) are faster with at most store.CompressBlockSize in its default profile (docs/clickhouse.md)",
			"min_compress_block_size", v, "want", CompressBlockSize)
	}
	return &Store{conn: conn, log: log}, nil
}

// Conn is the engine under the store.
func (s *Store) Conn() Conn { return s.conn }

// Close closes the engine connection.
func (s *Store) Close() error { return s.conn.Close() }

// btcTables are the tables holding one chain's rows, written children first
// and blocks last, so a block row means the block is fully stored.
var btcTables = []string{"btc_outputs", "btc_inputs", "btc_spends", "btc_address_io", "btc_txs", "btc_blocks"}

// Batch buffers the rows of many blocks for one insert per table.
type Batch struct {
	blocks  blockCols
	txs     txCols
	outputs outputCols
	inputs  inputCols
	spends  spendCols
	io      ioCols
	rows    int
	eth     ethBatch
}

// Rows is the number of rows buffered over all tables.
func (b *Batch) Rows() int { return b.rows + b.eth.rows() }

// Len is the number of blocks buffered.
func (b *Batch) Len() int { return len(b.blocks.height) + len(b.eth.blocks.height) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	*b = Batch{blocks: b.blocks.reset(), txs: b.txs.reset(), outputs: b.outputs.reset(), inputs: b.inputs.reset(), spends: b.spends.reset(), io: b.io.reset(), eth: b.eth.reset()}
}

// AddBlock appends a block's rows to the tables of its chain.
func (b *Batch) AddBlock(blk *chain.Block, seq uint64) error {
	if blk.Chain == chain.ETH {
		return b.eth.add(blk, seq)
	}
	if blk.Chain != chain.BTC {
		return fmt.Errorf("store: block %s: chain %q is not stored yet", blk.Hash, blk.Chain)
	}
	if blk.Height < 0 || blk.Height > 1<<32-1 {
		return fmt.Errorf("store: block %s: height %d out of range", blk.Hash, blk.Height)
	}
	h := uint32(blk.Height)
	t := time.Unix(blk.Time, 0).UTC()
	b.blocks.add(h, blk, t, seq)
	for i := range blk.Txs {
		tx := &blk.Txs[i]
		b.txs.add(blk.Hash, h, t, tx)
		for j := range tx.Outputs {
			o := &tx.Outputs[j]
			b.outputs.add(blk.Hash, h, t, tx.Txid, o)
			if o.Address != "" {
				b.io.add(o.Address, tx.Txid, 0, o.Index, blk.Hash, h, t, o.Value)
			}
		}
		for j := range tx.Inputs {
			in := &tx.Inputs[j]
			b.inputs.add(blk.Hash, h, t, tx.Txid, in)
			if !in.Coinbase {
				b.spends.add(blk.Hash, tx.Txid, in)
			}
			if in.Address != "" {
				b.io.add(in.Address, tx.Txid, 1, in.Index, blk.Hash, h, t, in.Value)
			}
		}
	}
	b.rows = len(b.blocks.height) + len(b.txs.txid) + len(b.outputs.txid) + len(b.inputs.txid) + len(b.spends.txid) + len(b.io.address)
	return nil
}

// Write inserts the batch: the tables of transactions, inputs, outputs and
// addresses side by side (a server inserts them in parallel; chDB one after
// the other), then the blocks, so that a stored block means a stored block
// body.
func (s *Store) Write(ctx context.Context, b *Batch) error {
	if err := b.eth.write(ctx, s.conn); err != nil {
		return err
	}
	if len(b.blocks.height) == 0 {
		return nil
	}
	parts := []struct {
		table string
		cols  []Column
		n     int
	}{
		{"btc_outputs", b.outputs.columns(), len(b.outputs.txid)},
		{"btc_inputs", b.inputs.columns(), len(b.inputs.txid)},
		{"btc_spends", b.spends.columns(), len(b.spends.txid)},
		{"btc_address_io", b.io.columns(), len(b.io.address)},
		{"btc_txs", b.txs.columns(), len(b.txs.txid)},
	}
	eg, ectx := errgroup.WithContext(ctx)
	for _, p := range parts {
		if p.n == 0 {
			continue
		}
		eg.Go(func() error { return s.conn.Insert(ectx, p.table, p.cols) })
	}
	if err := eg.Wait(); err != nil {
		return fmt.Errorf("store: writing %d blocks: %w", b.Len(), err)
	}
	if err := s.conn.Insert(ctx, "btc_blocks", b.blocks.columns()); err != nil {
		return fmt.Errorf("store: writing %d blocks: %w", b.Len(), err)
	}
	return nil
}

// Undo removes every row of the block with this hash and waits until the
// deletions are done.
func (s *Store) Undo(ctx context.Context, chainName, hash string) error {
	var tables []string
	switch chainName {
	case chain.BTC:
		tables = btcTables
	case chain.ETH:
		tables = ethTables
	default:
		return fmt.Errorf("store: undo on chain %q: not stored", chainName)
	}
	// Blocks first: a block row without its children would claim a block
	// is stored when it is not.
	for i := len(tables) - 1; i >= 0; i-- {
		t := tables[i]
		col := "block_hash"
		if t == "btc_blocks" || t == "eth_blocks" {
			col = "hash"
		}
		if err := s.conn.Exec(ctx, "ALTER TABLE "+t+" DELETE WHERE "+col+" = ?", hash); err != nil {
			return fmt.Errorf("store: undo of block %s in %s: %w", hash, t, err)
		}
	}
	return s.waitMutations(ctx, tables)
}

// waitMutations polls until no mutation on the tables is pending. ALTER
// DELETE is asynchronous on ClickHouse 18.16 (mutations_sync came later).
func (s *Store) waitMutations(ctx context.Context, tables []string) error {
	list := make([]any, len(tables))
	for i, t := range tables {
		list[i] = t
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		rows, err := s.conn.Query(ctx, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0 AND table IN ?", groupSet(list))
		if err != nil {
			return fmt.Errorf("store: waiting for mutations: %w", err)
		}
		var n uint64
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return fmt.Errorf("store: waiting for mutations: %w", err)
			}
		}
		rows.Close()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
