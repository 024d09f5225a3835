package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// IngestConfig configures Ingest.
type IngestConfig struct {
	// Pipeline is the base configuration: loader batches and logger.
	Pipeline pipeline.Config
	// Work is the directory for the blocks and the data; the caller
	// creates and removes it.
	Work string
	// DSN of a ClickHouse server (empty: embedded chDB under Work); the
	// benchmark works in its own database tracer_bench.
	DSN                 string
	Blocks, TxsPerBlock int
	Seed                int64
	// CPUProfile, when set, receives a CPU profile of the pipeline run.
	CPUProfile string
}

// IngestResult is what Ingest measured.
type IngestResult struct {
	Engine       string  `json:"engine"`
	Blocks       int     `json:"blocks"`
	Txs          int64   `json:"txs"`
	Rows         int64   `json:"rows"`
	InputsPerTx  float64 `json:"inputs_per_tx"`
	OutputsPerTx float64 `json:"outputs_per_tx"`
	BaselineSec  float64 `json:"baseline_seconds"`
	BaselineTxs  float64 `json:"baseline_txs_per_second"`
	BaselineRows float64 `json:"baseline_rows_per_second"`
	PipelineSec  float64 `json:"pipeline_seconds"`
	PipelineTxs  float64 `json:"pipeline_txs_per_second"`
	PipelineRows float64 `json:"pipeline_rows_per_second"`
	Ratio        float64 `json:"pipeline_to_baseline"`
	// CPU time of this process (all threads) in each phase: with a
	// server, the server's own CPU is not in it; with chDB it is. On a
	// shared machine the figure to compare between runs.
	BaselineCPUSec float64 `json:"baseline_cpu_seconds"`
	PipelineCPUSec float64 `json:"pipeline_cpu_seconds"`
	// CPU time of a server's query threads in each phase, from its
	// system.events (UserTimeMicroseconds + SystemTimeMicroseconds):
	// background merges are not in it. Absent with chDB, whose CPU is in
	// this process's figures, or when the server does not count it.
	ServerBaselineCPUSec float64 `json:"server_baseline_cpu_seconds,omitempty"`
	ServerPipelineCPUSec float64 `json:"server_pipeline_cpu_seconds,omitempty"`
	PeakRSSMiB           float64 `json:"peak_rss_mib"`    // during the pipeline run alone where the kernel can tell (Linux)
	GoHeapSysMiB         float64 `json:"go_heap_sys_mib"` // heap obtained from the OS at the end
	BatchRows            int     `json:"batch_rows"`
	GenerateSec          float64 `json:"generate_seconds"`
}

// Ingest writes a synthetic Bitcoin Core blocks directory and measures on
// one engine: the baseline (the normalized rows inserted straight into
// ClickHouse in loader-sized batches) and the pipeline (blk files → decode
// → normalize → embedded NATS JetStream → loader → ClickHouse, until every
// block is stored).
func Ingest(ctx context.Context, cfg IngestConfig) (_ *IngestResult, err error) {
	res := &IngestResult{Blocks: cfg.Blocks}
	// 1. The chain, written once (not timed as ingest).
	scfg := simulate.DefaultConfig()
	scfg.Blocks, scfg.TxsPerBlock, scfg.Seed = cfg.Blocks, cfg.TxsPerBlock, cfg.Seed
	g, err := simulate.New(scfg)
	if err != nil {
		return nil, err
	}
	blocksDir := filepath.Join(cfg.Work, "blocks")
	start := time.Now()
	if err := simulate.WriteBlocksDir(g, blocksDir, false); err != nil {
		return nil, err
	}
	res.GenerateSec = time.Since(start).Seconds()

	dsn, err := Database(cfg.DSN, "tracer_bench")
	if err != nil {
		return nil, err
	}
	// The ingest benchmark measures ingest and the loader only.
	p, st, err := open(ctx, cfg.Pipeline, dataDir(cfg.Work), dsn, true)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	res.BatchRows = cfg.Pipeline.Loader.BatchRows
	res.Engine = st.Conn().Engine()

	// 2. Baseline: the same rows, normalized beforehand, inserted directly.
	n, err := normalizeAll(ctx, blocksDir, filepath.Join(cfg.Work, "baseline-state"), cfg.Pipeline.Loader.BatchRows)
	if err != nil {
		return nil, err
	}
	txs, rows := n.txs, n.rows
	res.Txs, res.Rows = txs, rows
	res.InputsPerTx, res.OutputsPerTx = float64(n.inputs)/float64(txs), float64(n.outputs)/float64(txs)
	if err := reset(ctx, st.Conn()); err != nil {
		return nil, err
	}
	srv := newServerCPU(ctx, st.Conn())
	start, cpu := time.Now(), ProcessCPU()
	for _, b := range n.batches {
		if err := st.Write(ctx, b); err != nil {
			return nil, err
		}
	}
	res.BaselineSec = time.Since(start).Seconds()
	res.BaselineCPUSec = (ProcessCPU() - cpu).Seconds()
	res.ServerBaselineCPUSec = srv.since(ctx)
	n = normalized{}
	// The pipeline's peak memory, not the baseline's rows: give the heap
	// back and restart the kernel's high-water mark.
	debug.FreeOSMemory()
	ResetPeakRSS()

	// 3. The pipeline, end to end.
	if err := reset(ctx, st.Conn()); err != nil {
		return nil, err
	}
	stop, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stop()
	srv = newServerCPU(ctx, st.Conn())
	start, cpu = time.Now(), ProcessCPU()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: blocksDir, To: -1, Confirmations: 1}); err != nil {
		return nil, err
	}
	res.PipelineSec = time.Since(start).Seconds()
	res.PipelineCPUSec = (ProcessCPU() - cpu).Seconds()
	res.ServerPipelineCPUSec = srv.since(ctx)
	stats, err := st.Stats(ctx, chain.BTC)
	if err != nil {
		return nil, err
	}
	if int64(stats.Txs) != txs {
		return nil, fmt.Errorf("bench: pipeline stored %d txs, want %d", stats.Txs, txs)
	}
	res.BaselineTxs, res.BaselineRows = float64(txs)/res.BaselineSec, float64(rows)/res.BaselineSec
	res.PipelineTxs, res.PipelineRows = float64(txs)/res.PipelineSec, float64(rows)/res.PipelineSec
	res.Ratio = res.PipelineTxs / res.BaselineTxs
	res.PeakRSSMiB = PeakRSSMiB()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.GoHeapSysMiB = float64(ms.HeapSys) / (1 << 20)
	return res, nil
}

// normalized is a blocks directory's rows in loader-sized batches, with
// their counts.
type normalized struct {
	batches                    []*store.Batch
	txs, rows, inputs, outputs int64
}

// normalizeAll reads the blocks directory through its own chain state and
// returns the rows in loader-sized batches.
func normalizeAll(ctx context.Context, blocksDir, stateDir string, batchRows int) (_ normalized, err error) {
	var n normalized
	d, err := btc.OpenBlocksDir(blocksDir)
	if err != nil {
		return n, err
	}
	state, err := btc.OpenChainState(stateDir, 0, nil)
	if err != nil {
		return n, err
	}
	defer func() { err = errors.Join(err, state.Close()) }()
	best, err := d.BestHeight(ctx)
	if err != nil {
		return n, err
	}
	cur := &store.Batch{}
	for h := int64(0); h <= best; h++ {
		hash, err := d.BlockHash(ctx, h)
		if err != nil {
			return n, err
		}
		mb, err := d.Block(ctx, hash)
		if err != nil {
			return n, err
		}
		b, err := btc.Normalize(mb, h, d.Params(), state)
		if err != nil {
			return n, err
		}
		if _, err := state.Connect(b, false); err != nil {
			return n, err
		}
		if err := cur.AddBlock(b, uint64(h+1)); err != nil {
			return n, err
		}
		n.txs += int64(len(b.Txs))
		for _, tx := range b.Txs {
			if !tx.Coinbase {
				n.inputs += int64(len(tx.Inputs))
			}
			n.outputs += int64(len(tx.Outputs))
		}
		if cur.Rows() >= batchRows {
			n.rows += int64(cur.Rows())
			n.batches = append(n.batches, cur)
			cur = &store.Batch{}
		}
	}
	if cur.Len() > 0 {
		n.rows += int64(cur.Rows())
		n.batches = append(n.batches, cur)
	}
	return n, nil
}
