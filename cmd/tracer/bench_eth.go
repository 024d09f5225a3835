package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/store"
)

// ethBench is the result of `tracer bench ingest --chain eth`.
type ethBench struct {
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

// runETHBench measures, on one engine and in one run: the baseline (the
// normalized rows of synthetic blocks inserted straight into ClickHouse in
// loader-sized batches) and the pipeline (saved JSON-RPC blocks → checks
// (roots, hashes, signatures) → normalize → chain state → embedded NATS →
// loader → ClickHouse).
func runETHBench(ctx context.Context, a *app, work string, blocks, txsPerBlock, transfersPerBlock int, nodeSenders bool, seed int64, dsn, cpuProfile string) (*ethBench, error) {
	res := &ethBench{Blocks: blocks, Senders: "recover", LoadAvg: loadAverage(), CPUs: runtime.NumCPU()}
	if nodeSenders {
		res.Senders = "node"
	}
	cfg := ethsim.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.TokenTransfersPerBlock, cfg.Seed = blocks, txsPerBlock, transfersPerBlock, seed
	dir := filepath.Join(work, "eth")
	start := time.Now()
	truth, err := ethsim.Generate(cfg, dir)
	if err != nil {
		return nil, err
	}
	res.GenerateSec = time.Since(start).Seconds()
	res.Txs = truth.Txs
	dsn, err = benchDatabase(dsn, "tracer_bench")
	if err != nil {
		return nil, err
	}
	pcfg := a.pipelineConfig()
	pcfg.NoCluster = true
	pcfg.DataDir, pcfg.NATSURL, pcfg.NATSListen, pcfg.StoreDSN = filepath.Join(work, "data"), "", "127.0.0.1:0", dsn
	p, err := pipeline.Open(pcfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	st, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	res.Engine = st.Conn().Engine()
	reset := func() error {
		if err := store.Drop(ctx, st.Conn()); err != nil {
			return err
		}
		return store.Migrate(ctx, st.Conn())
	}

	// Decode everything first (timed on its own: the checks' cost).
	src, err := eth.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	tokens, _ := eth.ParseTokens("default")
	var batches []*store.Batch
	b := &store.Batch{}
	start, cpu := time.Now(), processCPU()
	for h := int64(0); h < int64(blocks); h++ {
		raw, err := src.Block(ctx, h)
		if err != nil {
			return nil, err
		}
		blk, _, err := eth.Decode(raw, eth.DecodeOptions{Tokens: tokens, NodeSenders: nodeSenders})
		if err != nil {
			return nil, err
		}
		res.Transfers += int64(len(blk.Transfers))
		if err := b.AddBlock(blk, uint64(h+1)); err != nil {
			return nil, err
		}
		if b.Rows() >= pcfg.Loader.BatchRows {
			batches, b = append(batches, b), &store.Batch{}
		}
	}
	res.DecodeOnlySec, res.DecodeOnlyCPUSec = time.Since(start).Seconds(), (processCPU() - cpu).Seconds()
	if b.Len() > 0 {
		batches = append(batches, b)
	}
	if err := reset(); err != nil {
		return nil, err
	}
	start, cpu = time.Now(), processCPU()
	for _, b := range batches {
		if err := st.Write(ctx, b); err != nil {
			return nil, err
		}
	}
	res.BaselineSec, res.BaselineCPUSec = time.Since(start).Seconds(), (processCPU() - cpu).Seconds()
	batches = nil

	if err := reset(); err != nil {
		return nil, err
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	start, cpu = time.Now(), processCPU()
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: tokens, NodeSenders: nodeSenders}); err != nil {
		return nil, err
	}
	res.PipelineSec, res.PipelineCPUSec = time.Since(start).Seconds(), (processCPU() - cpu).Seconds()
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

// loadAverage is the 1, 5 and 15 minute load averages (Linux), "" elsewhere.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// perCPUSec is n per CPU-second, 0 when the CPU time is unknown.
func perCPUSec(n int64, sec float64) float64 {
	if sec <= 0 {
		return 0
	}
	return float64(n) / sec
}

func printETHBench(t *table, res *ethBench) {
	t.row("engine", res.Engine)
	t.row("senders", res.Senders)
	t.row("blocks / txs / transfers", fmt.Sprintf("%d / %d / %d", res.Blocks, res.Txs, res.Transfers))
	t.row("baseline (direct insert)", fmt.Sprintf("%.2fs  %.0f transfers/s", res.BaselineSec, res.BaselineRate))
	t.row("pipeline (end to end)", fmt.Sprintf("%.2fs  %.0f transfers/s", res.PipelineSec, res.PipelineRate))
	t.row("pipeline / baseline", fmt.Sprintf("%.2f", res.Ratio))
	t.row("checks + normalize alone", fmt.Sprintf("%.2fs  %.0f transfers/s (one goroutine)", res.DecodeOnlySec, res.DecodeOnlyRate))
	if res.PipelineCPUSec > 0 {
		t.row("CPU of this process", fmt.Sprintf("baseline %.2fs (%.0f transfers/CPU-s), pipeline %.2fs (%.0f transfers/CPU-s), checks alone %.2fs (%.0f transfers/CPU-s)",
			res.BaselineCPUSec, perCPUSec(res.Transfers, res.BaselineCPUSec), res.PipelineCPUSec, perCPUSec(res.Transfers, res.PipelineCPUSec),
			res.DecodeOnlyCPUSec, perCPUSec(res.Transfers, res.DecodeOnlyCPUSec)))
		t.row("baseline / pipeline CPU", fmt.Sprintf("%.2f", res.CPURatio))
	}
	if res.LoadAvg != "" {
		t.row("load average at start", fmt.Sprintf("%s (%d CPUs)", res.LoadAvg, res.CPUs))
	}
}
