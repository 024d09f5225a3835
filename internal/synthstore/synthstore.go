// Package synthstore fills a store with a synthetic Bitcoin chain (package
// simulate) for benchmarks that need a large store quickly: the blocks go
// from the generator through the normalizer straight into store.Batch and
// into the clusterer's state, with no NATS and no blocks directory on the
// way. The rows are those the loader writes for the same blocks; the
// clusterer's tables hold every merge with its evidence, as the clusterer
// writes them, and the final cluster of every clustered address and the
// final size of every cluster (the clusterer also writes the intermediate
// ones, which the argMax readers never pick).
//
// The chain is generated and normalized on one goroutine while the
// previous batch is inserted on another, so both cores work.
package synthstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/btcsuite/btcd/wire"
	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// Config says what to fill.
type Config struct {
	Sim simulate.Config
	// StateDir holds the clusterer's state (it must be empty or new).
	StateDir string
	// BatchRows: rows over all tables per insert (default 1,000,000).
	BatchRows int
	// Progress, if set, is called after each batch is stored.
	Progress func(Result)
}

// Result is what Fill stored.
type Result struct {
	Blocks    int64
	Txs       int64
	Rows      int64 // chain rows (blocks, txs, inputs, outputs, address index)
	Merges    int64
	Clustered int64 // addresses in a cluster of two or more
	Clusters  int64 // clusters of two or more
	Seconds   float64
	Truth     *simulate.Truth
}

// utxos resolves the inputs of the generated chain from memory.
type utxos map[wire.OutPoint]chain.Output

var errUnknown = errors.New("synthstore: prevout not generated")

func (u utxos) Prevout(op wire.OutPoint) (chain.Output, error) {
	o, ok := u[op]
	if !ok {
		return chain.Output{}, fmt.Errorf("%w: %s: %w", errUnknown, op, btc.ErrPrevoutNotFound)
	}
	return o, nil
}

// batch is what the writer inserts: chain rows and the merges they drew.
type batch struct {
	rows   store.Batch
	merges []cluster.Merge
	held   []cluster.Merge
}

// Fill generates cfg.Sim's chain into st (whose chain and cluster tables
// should be empty) and clusters it with the default heuristics.
func Fill(ctx context.Context, st *store.Store, cfg Config) (*Result, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("synthstore: no state directory")
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 1_000_000
	}
	g, err := simulate.New(cfg.Sim)
	if err != nil {
		return nil, err
	}
	tc := cluster.DefaultConfig(chain.BTC)
	state, err := cluster.OpenState(cfg.StateDir, heuristic.DefaultConfig(), tc.Supercluster, nil)
	if err != nil {
		return nil, err
	}
	defer state.Close()
	began := time.Now()
	res := &Result{}
	conn := st.Conn()
	free := make(chan *batch, 2)
	full := make(chan *batch, 1)
	free <- &batch{}
	free <- &batch{}
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { // writer
		for b := range full {
			if err := st.Write(ectx, &b.rows); err != nil {
				return err
			}
			for _, part := range []struct {
				table string
				ms    []cluster.Merge
			}{{"trace_btc_merges", b.merges}, {"trace_btc_held", b.held}} {
				if len(part.ms) == 0 {
					continue
				}
				if err := conn.Insert(ectx, part.table, cluster.MergeColumns(part.ms, part.table == "trace_btc_merges")); err != nil {
					return fmt.Errorf("synthstore: storing %d merges: %w", len(part.ms), err)
				}
			}
			b.rows.Reset()
			b.merges, b.held = b.merges[:0], b.held[:0]
			select {
			case free <- b:
			case <-ectx.Done():
				return ectx.Err()
			}
		}
		return nil
	})
	eg.Go(func() error { // generator, normalizer, clusterer
		defer close(full)
		set := utxos{}
		chg := cluster.NewChanges()
		var cur *batch
		send := func() error {
			if err := state.Commit(false); err != nil {
				return err
			}
			cur.merges = append(cur.merges, chg.Merges...)
			cur.held = append(cur.held, chg.Held...)
			res.Merges += int64(len(chg.Merges))
			chg.Reset()
			res.Rows += int64(cur.rows.Rows())
			select {
			case full <- cur:
			case <-ectx.Done():
				return ectx.Err()
			}
			cur = nil
			if cfg.Progress != nil {
				r := *res
				r.Seconds = time.Since(began).Seconds()
				cfg.Progress(r)
			}
			return nil
		}
		for {
			mb, err := g.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			h := g.Height() - 1
			blk, err := btc.Normalize(mb, h, g.Params(), set)
			if err != nil {
				return err
			}
			for i := range blk.Txs {
				tx := &blk.Txs[i]
				mtx := mb.Transactions[i]
				if !tx.Coinbase {
					for _, in := range mtx.TxIn {
						delete(set, in.PreviousOutPoint)
					}
				}
				hash := mtx.TxHash()
				for _, o := range tx.Outputs {
					set[wire.OutPoint{Hash: hash, Index: o.Index}] = o
				}
			}
			seq := uint64(h + 1)
			if err := state.Connect(seq, blk, chg); err != nil {
				return fmt.Errorf("synthstore: clustering block %d: %w", h, err)
			}
			if cur == nil {
				select {
				case cur = <-free:
				case <-ectx.Done():
					return ectx.Err()
				}
			}
			if err := cur.rows.AddBlock(blk, seq); err != nil {
				return err
			}
			res.Blocks++
			res.Txs += int64(len(blk.Txs))
			if cur.rows.Rows() >= cfg.BatchRows {
				if err := send(); err != nil {
					return err
				}
			}
		}
		if cur != nil {
			return send()
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	if res.Clustered, res.Clusters, err = WriteClusters(ctx, conn, state, uint64(res.Blocks), uint32(max(res.Blocks-1, 0))); err != nil {
		return nil, err
	}
	res.Truth = g.Truth()
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// WriteClusters stores the final cluster of every address of state in a
// cluster of two or more and the size of every such cluster, as of event
// seq at height, and returns how many of each it stored.
func WriteClusters(ctx context.Context, conn store.Conn, s *cluster.State, seq uint64, height uint32) (nClustered, nClusters int64, err error) {
	res := &Result{}
	defer func() { nClustered, nClusters = res.Clustered, res.Clusters }()
	f := s.Forest()
	const part = 1_000_000
	var addr []string
	var ids, clusters, roots, sizes []uint32
	flush := func(force bool) error {
		if len(addr) > 0 && (force || len(addr) >= part) {
			err := conn.Insert(ctx, "trace_btc_address_cluster", []store.Column{
				{Name: "address", Values: addr}, {Name: "address_id", Values: ids}, {Name: "cluster", Values: clusters},
				{Name: "block_height", Values: fill(len(addr), height)}, {Name: "seq", Values: fill(len(addr), seq)},
			})
			if err != nil {
				return fmt.Errorf("synthstore: storing address clusters: %w", err)
			}
			addr, ids, clusters = addr[:0], ids[:0], clusters[:0]
		}
		if len(roots) > 0 && (force || len(roots) >= part) {
			err := conn.Insert(ctx, "trace_btc_clusters", []store.Column{
				{Name: "cluster", Values: roots}, {Name: "size", Values: sizes},
				{Name: "block_height", Values: fill(len(roots), height)}, {Name: "seq", Values: fill(len(roots), seq)},
			})
			if err != nil {
				return fmt.Errorf("synthstore: storing cluster sizes: %w", err)
			}
			roots, sizes = roots[:0], sizes[:0]
		}
		return nil
	}
	for id := uint32(0); int(id) < s.Addresses(); id++ {
		r := f.Find(id)
		size := f.Size(r)
		if size < 2 {
			continue
		}
		a, err := s.Address(id)
		if err != nil {
			return 0, 0, err
		}
		addr, ids, clusters = append(addr, a), append(ids, id), append(clusters, r)
		res.Clustered++
		if r == id {
			roots, sizes = append(roots, r), append(sizes, size)
			res.Clusters++
		}
		if err := flush(false); err != nil {
			return 0, 0, err
		}
	}
	return 0, 0, flush(true)
}

func fill[T any](n int, v T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}
