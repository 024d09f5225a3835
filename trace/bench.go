package trace

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/tracerproject/tracer/ingest"
	"github.com/tracerproject/tracer/trace/heuristic"
)

// BenchConfig sizes `tracer bench cluster`.
type BenchConfig struct {
	Dir string // state directory (temporary)
	// UnionIDs: ids of the union-find-alone run, with as many random unions.
	UnionIDs int
	// Blocks of TxsPerBlock transactions spending from a pool of Addresses
	// addresses, with mainnet's mix of inputs per transaction (about 2.3).
	Blocks, TxsPerBlock, Addresses int
	Seed                           uint64
}

// DefaultBenchConfig is the configuration callers copy and change.
func DefaultBenchConfig() BenchConfig {
	return BenchConfig{UnionIDs: 10_000_000, Blocks: 40, TxsPerBlock: 2500, Addresses: 1_000_000, Seed: 1}
}

// BenchResult holds the figures.
type BenchResult struct {
	UnionIDs            int     `json:"union_ids"`
	Unions              int     `json:"unions"`
	BaselinePairsPerSec float64 `json:"baseline_pairs_per_second"` // random pairs drawn and read, no union
	UnionsPerSec        float64 `json:"unions_per_second"`
	ForestBytesPerAddr  float64 `json:"forest_bytes_per_address"`
	Txs                 int     `json:"txs"`
	Inputs              int     `json:"inputs"`
	Links               int     `json:"links"`
	Merges              int     `json:"merges"`
	Addresses           int     `json:"addresses_mapped"`
	InputsPerSec        float64 `json:"inputs_per_second"` // State.Connect, id mapping and link index included
	HeapBytesPerAddr    float64 `json:"heap_bytes_per_address"`
	SnapshotSec         float64 `json:"snapshot_seconds"`
	ReloadSec           float64 `json:"reload_seconds"`
	IndexBytes          int64   `json:"index_bytes"`
}

// Bench measures the union-find alone, then the clusterer's state on
// synthetic mainnet-shaped blocks, then the reload after a restart.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	var res BenchResult
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	n := cfg.UnionIDs
	res.UnionIDs, res.Unions = n, n
	// Baseline: the same random pairs drawn and their parents read.
	var sink uint32
	var f Forest
	f.Grow(n)
	start := time.Now()
	for range n {
		a, b := uint32(rng.IntN(n)), uint32(rng.IntN(n))
		sink += f.parent[a] ^ f.parent[b]
	}
	res.BaselinePairsPerSec = float64(n) / time.Since(start).Seconds()
	start = time.Now()
	for range n {
		a, b := f.Find(uint32(rng.IntN(n))), f.Find(uint32(rng.IntN(n)))
		if a != b {
			f.Union(a, b)
		}
	}
	res.UnionsPerSec = float64(n) / time.Since(start).Seconds()
	res.ForestBytesPerAddr = float64(4*(cap(f.parent)+cap(f.size)+cap(f.next))) / float64(n)
	_ = sink
	f = Forest{}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	// The clusterer's state on synthetic blocks.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := OpenState(cfg.Dir, heuristic.DefaultConfig(), 0, nil)
	if err != nil {
		return res, err
	}
	addr := func(i int) string { return fmt.Sprintf("bc1qbench%034d", i) }
	blocks := make([]*ingest.Block, cfg.Blocks)
	for h := range blocks {
		b := &ingest.Block{Chain: ingest.ChainBTC, Height: int64(h), Hash: fmt.Sprintf("%064x", h), Txs: make([]ingest.Tx, cfg.TxsPerBlock)}
		for i := range b.Txs {
			tx := &b.Txs[i]
			tx.Txid = fmt.Sprintf("%032x%032x", h, i)
			// Inputs per transaction as on mainnet: mostly one or two,
			// a tail of consolidations; 2.35 on average.
			var k int
			switch r := rng.Float64(); {
			case r < 0.6:
				k = 1
			case r < 0.85:
				k = 2
			case r < 0.98:
				k = 3 + rng.IntN(8)
			default:
				k = 11 + rng.IntN(20)
			}
			tx.Inputs = make([]ingest.Input, k)
			for j := range tx.Inputs {
				tx.Inputs[j] = ingest.Input{Index: uint32(j), Address: addr(rng.IntN(cfg.Addresses)), Value: 100_000 + int64(rng.IntN(1_000_000))}
			}
			tx.Outputs = []ingest.Output{{Address: addr(rng.IntN(cfg.Addresses)), Value: 90_000}, {Address: addr(rng.IntN(cfg.Addresses)), Value: 5_000 + int64(rng.IntN(100_000))}}
			res.Inputs += k
		}
		res.Txs += len(b.Txs)
		blocks[h] = b
	}
	ch := NewChanges()
	start = time.Now()
	for h, b := range blocks {
		if err := s.Connect(uint64(h+1), b, ch); err != nil {
			s.Close()
			return res, err
		}
		res.Links += ch.Links
		res.Merges += len(ch.Merges)
		ch.Reset()
		if err := s.Commit(false); err != nil {
			s.Close()
			return res, err
		}
		if err := ctx.Err(); err != nil {
			s.Close()
			return res, err
		}
	}
	res.InputsPerSec = float64(res.Inputs) / time.Since(start).Seconds()
	res.Addresses = s.Addresses()
	blocks = nil
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	res.HeapBytesPerAddr = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(max(res.Addresses, 1))
	start = time.Now()
	if err := s.Snapshot(); err != nil {
		s.Close()
		return res, err
	}
	res.SnapshotSec = time.Since(start).Seconds()
	if err := s.Close(); err != nil {
		return res, err
	}
	start = time.Now()
	s, err = OpenState(cfg.Dir, heuristic.DefaultConfig(), 0, nil)
	if err != nil {
		return res, err
	}
	res.ReloadSec = time.Since(start).Seconds()
	res.IndexBytes = int64(s.db.Metrics().DiskSpaceUsage())
	if fi, err := os.Stat(s.SnapshotPath()); err == nil {
		res.IndexBytes += fi.Size()
	}
	return res, s.Close()
}
