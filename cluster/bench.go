package cluster

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
)

// The goals of the clusterer on this class of machine (2 cores): inputs/s
// end to end through the state (address ids included), unions/s of the
// union-find alone, and bytes per address of the cluster state (the
// forest and the link log's heads; the address map is reported beside
// it).
const (
	GoalInputsPerSec     = 2_000_000
	GoalUnionsPerSec     = 20_000_000
	GoalForestBytesPerID = 32
)

// BenchConfig sizes `tracer bench cluster`.
type BenchConfig struct {
	Dir string // state directory (temporary)
	// UnionIDs: ids of the union-find-alone runs: as many random pairs,
	// and the links a mainnet-shaped chain draws among that many addresses.
	UnionIDs int
	// The end-to-end run connects mainnet-shaped blocks of TxsPerBlock
	// transactions to a State until it has run Blocks blocks and given
	// Addresses address ids.
	Blocks, TxsPerBlock, Addresses int
	Seed                           uint64
	// ResetPeakRSS and PeakRSS, when set, measure the process's peak
	// resident memory over the end-to-end run (the caller knows the OS).
	ResetPeakRSS func()
	PeakRSS      func() (bytes int64)
	// CPUTime, when set, reads the CPU time the process has used, so
	// that the end-to-end run also reports inputs per CPU-second: the
	// figure that holds when other work shares the machine.
	CPUTime func() time.Duration
}

// DefaultBenchConfig is the configuration callers copy and change.
func DefaultBenchConfig() BenchConfig {
	return BenchConfig{UnionIDs: 10_000_000, TxsPerBlock: 2500, Addresses: 1_000_000, Seed: 1}
}

// BenchResult holds the figures.
type BenchResult struct {
	UnionIDs int `json:"union_ids"`
	// Random pairs over UnionIDs ids: the worst case, every access a
	// cache miss. The baseline draws nothing and reads both parents.
	Unions              int     `json:"unions"`
	BaselinePairsPerSec float64 `json:"baseline_pairs_per_second"`
	UnionsPerSec        float64 `json:"unions_per_second"`
	// The links a mainnet-shaped chain draws (multi-input stars, inputs
	// spending mostly recent addresses), ids in order of appearance.
	MainnetUnions              int     `json:"mainnet_unions"`
	MainnetBaselinePairsPerSec float64 `json:"mainnet_baseline_pairs_per_second"`
	MainnetUnionsPerSec        float64 `json:"mainnet_unions_per_second"`
	ForestBytesPerAddr         float64 `json:"forest_bytes_per_address"`

	Blocks              int     `json:"blocks"`
	Txs                 int     `json:"txs"`
	Inputs              int     `json:"inputs"`
	Links               int     `json:"links"`
	Merges              int     `json:"merges"`
	Addresses           int     `json:"addresses_mapped"`
	ConnectSec          float64 `json:"connect_seconds"`
	InputsPerSec        float64 `json:"inputs_per_second"`               // State.Connect and Commit: id mapping and link index included
	CPUSec              float64 `json:"cpu_seconds,omitempty"`           // process CPU time over the run, all goroutines (Pebble's included)
	InputsPerCPUSec     float64 `json:"inputs_per_cpu_second,omitempty"` // Inputs / CPUSec
	StateForestPerAddr  float64 `json:"state_forest_bytes_per_address"`  // the cluster state: forest and link-log heads
	AddrMapBytesPerAddr float64 `json:"address_map_bytes_per_address"`   // address → id map and the address log's marks
	HeapBytesPerAddr    float64 `json:"heap_bytes_per_address"`          // Go heap after the run, less before, per address
	PeakRSSBytes        int64   `json:"peak_rss_bytes,omitempty"`
	SnapshotSec         float64 `json:"snapshot_seconds"`
	ReloadSec           float64 `json:"reload_seconds"`
	IndexBytes          int64   `json:"index_bytes"` // Pebble index and snapshot files on disk
}

// Bench measures the union-find alone (random pairs, then mainnet-shaped
// links), then the clusterer's state on mainnet-shaped blocks, then the
// snapshot and the reload after a restart.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	var res BenchResult
	if cfg.UnionIDs < 2 || cfg.TxsPerBlock < 1 || cfg.Blocks < 0 || cfg.Addresses < 0 || (cfg.Blocks == 0 && cfg.Addresses == 0) {
		return res, errors.New("cluster: bench needs 2 or more union ids, 1 or more transactions a block, and blocks or addresses to reach")
	}
	if cfg.Addresses >= math.MaxUint32 || cfg.UnionIDs >= math.MaxUint32 {
		return res, errors.New("cluster: bench: ids are 32-bit")
	}
	n := cfg.UnionIDs
	res.UnionIDs = n
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	pairs := make([][2]uint32, n)
	for i := range pairs {
		pairs[i] = [2]uint32{uint32(rng.IntN(n)), uint32(rng.IntN(n))}
	}
	res.Unions = len(pairs)
	res.BaselinePairsPerSec, res.UnionsPerSec, res.ForestBytesPerAddr = benchUnions(n, pairs)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	g := newChainGen(cfg.Seed)
	g.created = min(g.created, n/2) // a few ids to spend from at first, fewer than n
	pairs = g.pairs(pairs[:0], n)
	res.MainnetUnions = len(pairs)
	res.MainnetBaselinePairsPerSec, res.MainnetUnionsPerSec, _ = benchUnions(g.created, pairs)
	pairs = nil
	if err := ctx.Err(); err != nil {
		return res, err
	}
	err := benchState(ctx, cfg, &res)
	return res, err
}

// benchUnions runs the pairs through a forest of n ids, against a baseline
// that reads both parents of every pair.
func benchUnions(n int, pairs [][2]uint32) (baseline, unions, bytesPerID float64) {
	var f Forest
	f.Grow(n)
	defer f.free()
	var sink uint32
	start := time.Now()
	for _, p := range pairs {
		sink += f.parent[p[0]] ^ f.parent[p[1]]
	}
	baseline = float64(len(pairs)) / time.Since(start).Seconds()
	start = time.Now()
	for _, p := range pairs {
		if a, b := f.Find(p[0]), f.Find(p[1]); a != b {
			f.Union(a, b)
		}
	}
	unions = float64(len(pairs)) / time.Since(start).Seconds()
	if sink == 1 { // keeps the baseline's reads
		runtime.KeepAlive(sink)
	}
	return baseline, unions, float64(f.bytes()) / float64(n)
}

func benchState(ctx context.Context, cfg BenchConfig, res *BenchResult) error {
	// The union-find runs' arrays go back to the OS before the peak
	// resident memory restarts.
	debug.FreeOSMemory()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	if cfg.ResetPeakRSS != nil {
		cfg.ResetPeakRSS()
	}
	s, err := OpenState(cfg.Dir, heuristic.DefaultConfig(), 0, nil)
	if err != nil {
		return err
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	g := newChainGen(cfg.Seed + 1)
	ch := NewChanges()
	var b *chain.Block
	var elapsed, cpu time.Duration
	blocks := 0 // since the last commit
	for h := 0; h < cfg.Blocks || s.Addresses() < cfg.Addresses; h++ {
		b = g.block(b, h, cfg.TxsPerBlock)
		for i := range b.Txs {
			res.Inputs += len(b.Txs[i].Inputs)
		}
		res.Txs += len(b.Txs)
		if cfg.CPUTime != nil {
			cpu -= cfg.CPUTime()
		}
		start := time.Now()
		if err := s.Connect(uint64(h+1), b, ch); err != nil {
			return err
		}
		blocks++
		// Commit as the clusterer does before it stores a batch.
		last := h+1 >= cfg.Blocks && s.Addresses() >= cfg.Addresses
		if last || blocks == benchBatchBlocks || ch.Dirty.Len() >= benchBatchDirty {
			if err := s.Commit(true); err != nil {
				return err
			}
			res.Links += ch.Links
			res.Merges += len(ch.Merges)
			ch.Reset()
			blocks = 0
		}
		elapsed += time.Since(start)
		if cfg.CPUTime != nil {
			cpu += cfg.CPUTime()
		}
		res.Blocks++
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	res.ConnectSec = elapsed.Seconds()
	res.InputsPerSec = float64(res.Inputs) / elapsed.Seconds()
	if cpu > 0 {
		res.CPUSec = cpu.Seconds()
		res.InputsPerCPUSec = float64(res.Inputs) / cpu.Seconds()
	}
	res.Addresses = s.Addresses()
	ids := float64(max(res.Addresses, 1))
	res.StateForestPerAddr = float64(s.f.bytes()+8*cap(s.heads)) / ids
	res.AddrMapBytesPerAddr = float64(s.m.bytes()+8*cap(s.alog.marks)) / ids
	b = nil
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	res.HeapBytesPerAddr = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / ids
	if cfg.PeakRSS != nil {
		res.PeakRSSBytes = cfg.PeakRSS()
	}
	start := time.Now()
	if err := s.Snapshot(); err != nil {
		return err
	}
	res.SnapshotSec = time.Since(start).Seconds()
	err = s.Close()
	s = nil
	if err != nil {
		return err
	}
	start = time.Now()
	if s, err = OpenState(cfg.Dir, heuristic.DefaultConfig(), 0, nil); err != nil {
		return err
	}
	res.ReloadSec = time.Since(start).Seconds()
	if s.Addresses() != res.Addresses {
		return errors.New("cluster: bench: the reloaded state has another number of addresses")
	}
	res.IndexBytes = int64(s.db.Metrics().DiskSpaceUsage())
	for _, p := range []string{s.SnapshotPath(), s.addrMapPath(), s.llog.path} {
		if fi, err := os.Stat(p); err == nil {
			res.IndexBytes += fi.Size()
		}
	}
	return nil
}

// The clusterer's batch limits (DefaultConfig, Clusterer.Run).
const (
	benchBatchBlocks = 500
	benchBatchDirty  = 200_000
)

// chainGen draws a mainnet-shaped chain: the inputs per transaction of
// mainnet (about 2.35 on average: mostly one or two, a tail of
// consolidations), two outputs, most to new addresses, and inputs that
// spend mostly recent addresses: the age of a spent address, counted in
// addresses created since, is log-uniform, so half the inputs spend one of
// the last √created addresses and a few reach back to the first ones.
// Addresses are numbered in order of creation.
type chainGen struct {
	rng     *rand.Rand
	created int
	ins     []int
}

func newChainGen(seed uint64) *chainGen {
	return &chainGen{rng: rand.New(rand.NewPCG(seed, 11)), created: 1000}
}

func (g *chainGen) spend() int {
	age := int(math.Exp(g.rng.Float64() * math.Log(float64(g.created))))
	return g.created - min(max(age, 1), g.created)
}

func (g *chainGen) output() int {
	if g.rng.IntN(100) < 80 {
		g.created++
		return g.created - 1
	}
	return g.spend()
}

// tx draws the inputs of a transaction into g.ins.
func (g *chainGen) tx() {
	var k int
	switch r := g.rng.Float64(); {
	case r < 0.6:
		k = 1
	case r < 0.85:
		k = 2
	case r < 0.98:
		k = 3 + g.rng.IntN(8)
	default:
		k = 11 + g.rng.IntN(20)
	}
	g.ins = g.ins[:0]
	for range k {
		g.ins = append(g.ins, g.spend())
	}
}

// pairs appends the links the multi-input heuristic draws (a star from the
// first input to each other distinct one) until n addresses exist.
func (g *chainGen) pairs(dst [][2]uint32, n int) [][2]uint32 {
	for g.created < n {
		g.tx()
		first := g.ins[0]
	next:
		for j, a := range g.ins[1:] {
			if a == first {
				continue
			}
			for _, x := range g.ins[1 : j+1] {
				if x == a {
					continue next
				}
			}
			dst = append(dst, [2]uint32{uint32(first), uint32(a)})
		}
		g.output()
		g.output()
	}
	return dst
}

// block draws block h, reusing b's storage.
func (g *chainGen) block(b *chain.Block, h, txs int) *chain.Block {
	if b == nil {
		b = &chain.Block{Chain: chain.BTC}
	}
	b.Height, b.Hash = int64(h), benchHash(uint64(h), 0)
	b.Txs = b.Txs[:0]
	for i := range txs {
		g.tx()
		tx := chain.Tx{Txid: benchHash(uint64(h), uint64(i)+1), Index: i, Inputs: make([]chain.Input, len(g.ins))}
		for j, a := range g.ins {
			tx.Inputs[j] = chain.Input{Index: uint32(j), Address: benchAddress(a), ScriptType: "witness_v0_keyhash", Value: 100_000 + int64(g.rng.IntN(1_000_000))}
		}
		tx.Outputs = []chain.Output{
			{Index: 0, Address: benchAddress(g.output()), ScriptType: "witness_v0_keyhash", Value: 90_000},
			{Index: 1, Address: benchAddress(g.output()), ScriptType: "witness_v0_keyhash", Value: 5_000 + int64(g.rng.IntN(100_000))},
		}
		b.Txs = append(b.Txs, tx)
	}
	return b
}

// benchAddress is a 42-character bech32-looking address for number i.
func benchAddress(i int) string {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	var buf [42]byte
	copy(buf[:], "bc1q")
	for j := len(buf) - 1; j >= 4; j-- {
		buf[j] = charset[i&31]
		i >>= 5
	}
	return string(buf[:])
}

func benchHash(a, b uint64) string {
	var raw [32]byte
	binary.BigEndian.PutUint64(raw[8:], a)
	binary.BigEndian.PutUint64(raw[24:], b)
	return hex.EncodeToString(raw[:])
}
