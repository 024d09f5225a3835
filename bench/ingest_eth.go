package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/store"
)

// ETHIngestConfig configures IngestETH.
type ETHIngestConfig struct {
	// Pipeline is the base configuration: loader batches and logger.
	Pipeline pipeline.Config
	// Work is the directory for the blocks and the data; the caller
	// creates and removes it.
	Work string
	// DSN of a ClickHouse server (empty: embedded chDB under Work); the
	// benchmark works in its own database tracer_bench.
	DSN                                    string
	Blocks, TxsPerBlock, TransfersPerBlock int
	// NodeSenders takes each transaction's sender from the node's "from"
	// instead of recovering it from the signature (eth.senders "node").
	NodeSenders bool
	Seed        int64
	// CPUProfile, when set, receives a CPU profile of the pipeline run.
	CPUProfile string
}

// ETHIngestResult is what IngestETH measured.
type ETHIngestResult struct {
	Engine         string  `json:"engine"`
	Senders        string  `json:"senders"` // recover or node (eth.senders)
	Blocks         int     `json:"blocks"`
	Txs            int64   `json:"txs"`
	Transfers      int64   `json:"transfers"` // native + token rows
	GenerateSec    float64 `json:"generate_sec"`
	BaselineSec    float64 `json:"baseline_sec"`
	BaselineRate   float64 `json:"baseline_transfers_per_sec"`
	PipelineSec    float64 `json:"pipeline_sec"`
	PipelineRate   float64 `json:"pipeline_transfers_per_sec"`
	DecodeOnlySec  float64 `json:"decode_sec"` // checks + normalization alone, one goroutine
	DecodeOnlyRate float64 `json:"decode_transfers_per_sec"`
	Ratio          float64 `json:"ratio"`
	// CPU time of this process (all threads; embedded chDB included, a
	// ClickHouse server's not) per phase: on a shared machine the figures
	// to compare, with the load average when the run began.
	BaselineCPUSec   float64 `json:"baseline_cpu_sec"`
	PipelineCPUSec   float64 `json:"pipeline_cpu_sec"`
	DecodeOnlyCPUSec float64 `json:"decode_cpu_sec"`
	CPURatio         float64 `json:"cpu_ratio"` // baseline CPU / pipeline CPU
	LoadAvg          string  `json:"load_average,omitempty"`
	CPUs             int     `json:"cpus"`
}

// IngestETH measures, on one engine and in one run: the baseline (the
// normalized rows of synthetic blocks inserted straight into ClickHouse in
// loader-sized batches) and the pipeline (saved JSON-RPC blocks → checks
// (roots, hashes, signatures) → normalize → chain state → embedded NATS →
// loader → ClickHouse).
func IngestETH(ctx context.Context, cfg ETHIngestConfig) (_ *ETHIngestResult, err error) {
	res := &ETHIngestResult{Blocks: cfg.Blocks, Senders: "recover", LoadAvg: loadAverage(), CPUs: runtime.NumCPU()}
	if cfg.NodeSenders {
		res.Senders = "node"
	}
	sc := ethsim.DefaultConfig()
	sc.Blocks, sc.TxsPerBlock, sc.TokenTransfersPerBlock, sc.Seed = cfg.Blocks, cfg.TxsPerBlock, cfg.TransfersPerBlock, cfg.Seed
	dir := filepath.Join(cfg.Work, "eth")
	start := time.Now()
	truth, err := ethsim.Generate(sc, dir)
	if err != nil {
		return nil, err
	}
	res.GenerateSec = time.Since(start).Seconds()
	res.Txs = truth.Txs
	dsn, err := Database(cfg.DSN, "tracer_bench")
	if err != nil {
		return nil, err
	}
	p, st, err := open(ctx, cfg.Pipeline, dataDir(cfg.Work), dsn, true)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	res.Engine = st.Conn().Engine()

	// Decode everything first (timed on its own: the checks' cost).
	src, err := eth.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	tokens := eth.DefaultTokens()
	var batches []*store.Batch
	b := &store.Batch{}
	start, cpu := time.Now(), ProcessCPU()
	for h := int64(0); h < int64(cfg.Blocks); h++ {
		raw, err := src.Block(ctx, h)
		if err != nil {
			return nil, err
		}
		blk, _, err := eth.Decode(raw, eth.DecodeOptions{Tokens: tokens, NodeSenders: cfg.NodeSenders})
		if err != nil {
			return nil, err
		}
		res.Transfers += int64(len(blk.Transfers))
		if err := b.AddBlock(blk, uint64(h+1)); err != nil {
			return nil, err
		}
		if b.Rows() >= cfg.Pipeline.Loader.BatchRows {
			batches, b = append(batches, b), &store.Batch{}
		}
	}
	res.DecodeOnlySec, res.DecodeOnlyCPUSec = time.Since(start).Seconds(), (ProcessCPU() - cpu).Seconds()
	if b.Len() > 0 {
		batches = append(batches, b)
	}
	if err := reset(ctx, st.Conn()); err != nil {
		return nil, err
	}
	start, cpu = time.Now(), ProcessCPU()
	for _, b := range batches {
		if err := st.Write(ctx, b); err != nil {
			return nil, err
		}
	}
	res.BaselineSec, res.BaselineCPUSec = time.Since(start).Seconds(), (ProcessCPU() - cpu).Seconds()
	batches = nil

	if err := reset(ctx, st.Conn()); err != nil {
		return nil, err
	}
	stop, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stop()
	start, cpu = time.Now(), ProcessCPU()
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: tokens, NodeSenders: cfg.NodeSenders}); err != nil {
		return nil, err
	}
	res.PipelineSec, res.PipelineCPUSec = time.Since(start).Seconds(), (ProcessCPU() - cpu).Seconds()
	stats, err := st.EthStats(ctx)
	if err != nil {
		return nil, err
	}
	if int64(stats.Transfers) != res.Transfers {
		return nil, fmt.Errorf("bench: the pipeline stored %d transfers, want %d", stats.Transfers, res.Transfers)
	}
	res.BaselineRate = float64(res.Transfers) / res.BaselineSec
	res.PipelineRate = float64(res.Transfers) / res.PipelineSec
	res.DecodeOnlyRate = float64(res.Transfers) / res.DecodeOnlySec
	res.Ratio = res.PipelineRate / res.BaselineRate
	if res.PipelineCPUSec > 0 {
		res.CPURatio = res.BaselineCPUSec / res.PipelineCPUSec
	}
	return res, nil
}
