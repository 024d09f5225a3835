package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/internal/synthstore"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
)

// How a trace benchmark fills its store.
const (
	// FillDirect writes the generated blocks straight into the store
	// through the loader's batches and the clusterer's state, without NATS.
	FillDirect = "direct"
	// FillPipeline ingests a blocks directory through NATS, the loader and
	// the clusterer.
	FillPipeline = "pipeline"
)

// Goals of the trace benchmark, in milliseconds: trace latency p50 and p99,
// and the mean exposure read of one address.
const (
	GoalTraceP50    = 300.0
	GoalTraceP99    = 2000.0
	GoalExposureAvg = 50.0
)

// TraceConfig configures Trace: one seed's chain.
type TraceConfig struct {
	// Pipeline is the base configuration: loader, clusterer and logger.
	Pipeline pipeline.Config
	// Work is the seed's directory. A Bitcoin store filled there is
	// reused by a later run with the same Work and settings.
	Work string
	// DSN of a ClickHouse server (empty: embedded chDB under Work); each
	// seed works in its own database tracer_bench_trace_SEED.
	DSN  string
	Seed int64
	// Blocks and TxsPerBlock size the chain; Users is the number of
	// ordinary users (Bitcoin).
	Blocks, TxsPerBlock, Users int
	// Exposures: addresses whose exposure is read from the index
	// (Bitcoin; Ethereum: traced per subject); LiveExposures of them are
	// also traced per subject (Bitcoin).
	Exposures, LiveExposures int
	// Fill is FillDirect or FillPipeline (Bitcoin; Ethereum always goes
	// through the pipeline).
	Fill string
	// Optimize merges the tables read by key before the traces, as
	// `tracer store optimize` does after a backfill (Bitcoin).
	Optimize bool
	// Trace is the traces' model, hops and stops; its Chain (btc or eth)
	// picks the chain simulated.
	Trace trace.Config
	// Log receives progress and notes for a person; nil: none.
	Log io.Writer
}

// TraceResult is one seed's chain and figures.
type TraceResult struct {
	Seed      int64   `json:"seed"`
	Engine    string  `json:"engine"`
	Txs       int64   `json:"txs"`
	Fill      string  `json:"fill"`
	IngestSec float64 `json:"ingest_seconds"`
	// OptimizeSec: merging the tables read by key (store optimize) before
	// the traces, 0 with Optimize off. Parts: the most active parts of
	// one of those tables, as the traces ran.
	OptimizeSec float64 `json:"optimize_seconds"`
	Parts       int     `json:"parts"`
	trace.BenchResult
}

// FillDescription says what a fill mode does, for a person.
func FillDescription(fill string) string {
	switch fill {
	case FillDirect:
		return "direct: generator → normalizer → store batches and clusterer state, no NATS (final clusters written once)"
	case FillPipeline:
		return "pipeline: blocks directory → ingest → NATS → loader and clusterer"
	}
	return fill
}

// Trace simulates a chain with the planted scenario, fills a fresh store
// with it (clusterer on), labels the planted brokers, cartels and exchanges
// from the truth, then times a trace from every broker address alone and
// from all of them (label:precursor-broker), and exposure for addresses
// drawn at random. The baseline is one keyed read of an address's rows on
// the same engine.
func Trace(ctx context.Context, cfg TraceConfig) (*TraceResult, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	switch cfg.Trace.Chain {
	case "", chain.BTC:
		if cfg.Fill != FillDirect && cfg.Fill != FillPipeline {
			return nil, fmt.Errorf("bench: fill %q: want %s or %s", cfg.Fill, FillDirect, FillPipeline)
		}
		return traceBTC(ctx, cfg)
	case chain.ETH:
		return traceETH(ctx, cfg)
	}
	return nil, fmt.Errorf("bench: trace chain %q: want btc or eth", cfg.Trace.Chain)
}

// filledStore is what a later run needs of a filled store: the truth's
// labels, broker addresses and a sample of other addresses.
type filledStore struct {
	Txs       int64        `json:"txs"`
	Fill      string       `json:"fill"`
	FillSec   float64      `json:"fill_seconds"`
	Labels    []truthLabel `json:"labels"`
	Brokers   []string     `json:"brokers"`
	Others    []string     `json:"others"`
	Flags     string       `json:"flags"`
	Completed bool         `json:"completed"`
}

func traceBTC(ctx context.Context, cfg TraceConfig) (_ *TraceResult, err error) {
	sc := simulate.DefaultConfig()
	sc.Params, sc.Blocks, sc.TxsPerBlock, sc.Seed, sc.Users = &chaincfg.MainNetParams, cfg.Blocks, cfg.TxsPerBlock, cfg.Seed, cfg.Users
	dsn, err := Database(cfg.DSN, fmt.Sprintf("tracer_bench_trace_%d", cfg.Seed))
	if err != nil {
		return nil, err
	}
	flags := fmt.Sprintf("blocks=%d txs-per-block=%d users=%d fill=%s clickhouse=%s", cfg.Blocks, cfg.TxsPerBlock, cfg.Users, cfg.Fill, dsn)
	meta := filepath.Join(cfg.Work, "bench.json")
	var fs filledStore
	if b, err := os.ReadFile(meta); err == nil {
		if err := json.Unmarshal(b, &fs); err != nil {
			return nil, fmt.Errorf("%s: %w", meta, err)
		}
		if fs.Flags != flags || !fs.Completed {
			fs = filledStore{}
			if err := os.RemoveAll(cfg.Work); err != nil {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(dataDir(cfg.Work), 0o755); err != nil {
		return nil, err
	}
	p, st, err := open(ctx, cfg.Pipeline, dataDir(cfg.Work), dsn, cfg.Fill == FillDirect)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	conn := st.Conn()
	if !fs.Completed {
		if fs, err = fillTrace(ctx, p, st, cfg, sc); err != nil {
			return nil, err
		}
		fs.Flags, fs.Completed = flags, true
		b, err := json.Marshal(fs)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(meta, b, 0o644); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(cfg.Log, "seed %d: reusing the store of %d transactions in %s\n", cfg.Seed, fs.Txs, cfg.Work)
	}
	row := &TraceResult{Seed: cfg.Seed, Engine: conn.Engine(), Txs: fs.Txs, Fill: fs.Fill, IngestSec: fs.FillSec}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := truncate(ctx, conn, "label_imports", "label_entries"); err != nil {
		return nil, err
	}
	if err := labelTruth(ctx, ls, chain.BTC, fs.Labels); err != nil {
		return nil, err
	}
	tables := store.LookupTableNames() // the Ethereum ones are empty here: left alone
	if cfg.Optimize {
		t0 := time.Now()
		if _, err := store.Optimize(ctx, conn, tables, 30*time.Minute, false); err != nil {
			return nil, err
		}
		row.OptimizeSec = time.Since(t0).Seconds()
	}
	parts, err := store.ActiveParts(ctx, conn, tables)
	if err != nil {
		return nil, err
	}
	for _, n := range parts {
		row.Parts = max(row.Parts, n)
	}
	var starts []trace.Start
	for _, ad := range fs.Brokers {
		starts = append(starts, trace.Start{Desc: ad, Addresses: []string{ad}})
	}
	all, err := trace.ParseStart(ctx, "label:precursor-broker", cluster.NewClusters(conn), ls, time.Time{})
	if err != nil {
		return nil, err
	}
	starts = append(starts, all)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 7))
	var ex []trace.Start
	for i := 0; i < cfg.Exposures && len(fs.Others) > 0; i++ {
		ad := fs.Others[rng.IntN(len(fs.Others))]
		ex = append(ex, trace.Start{Desc: ad, Addresses: []string{ad}})
	}
	res, err := trace.New(conn, ls).Bench(ctx, starts, ex, cfg.LiveExposures, cfg.Trace)
	if err != nil {
		return nil, err
	}
	row.BenchResult = *res
	return row, nil
}

// fillTrace fills the store with the chain of sc and returns what the
// benchmark needs of its truth.
func fillTrace(ctx context.Context, p *pipeline.Pipeline, st *store.Store, cfg TraceConfig, sc simulate.Config) (filledStore, error) {
	conn := st.Conn()
	if err := truncate(ctx, conn, "btc_blocks", "btc_txs", "btc_inputs", "btc_spends", "btc_outputs", "btc_address_io", "label_imports", "label_entries",
		"trace_btc_merges", "trace_btc_held", "trace_btc_address_cluster", "trace_btc_clusters", "taint_exposure"); err != nil {
		return filledStore{}, err
	}
	fs := filledStore{Fill: cfg.Fill}
	var truth *simulate.Truth
	t0 := time.Now()
	switch cfg.Fill {
	case FillDirect:
		progress := func(r synthstore.Result) {
			fmt.Fprintf(cfg.Log, "\rseed %d: %d blocks, %d txs, %d rows, %.0f txs/s   ", sc.Seed, r.Blocks, r.Txs, r.Rows, float64(r.Txs)/r.Seconds)
		}
		stateDir := filepath.Join(cfg.Work, "cluster-state")
		res, err := synthstore.Fill(ctx, st, synthstore.Config{Sim: sc, StateDir: stateDir, Progress: progress})
		fmt.Fprintln(cfg.Log)
		if err != nil {
			return fs, err
		}
		truth = res.Truth
		_ = os.RemoveAll(stateDir)
	case FillPipeline:
		g, err := simulate.New(sc)
		if err != nil {
			return fs, err
		}
		dir := filepath.Join(cfg.Work, "blocks")
		if err := simulate.WriteBlocksDir(g, dir, false); err != nil {
			return fs, err
		}
		truth = g.Truth()
		t0 = time.Now()
		if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
			return fs, err
		}
		_ = os.RemoveAll(dir)
	}
	fs.FillSec, fs.Txs = time.Since(t0).Seconds(), truth.Txs
	fs.Labels = truthLabels(truth)
	var others []string
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker:
			fs.Brokers = append(fs.Brokers, e.Addresses...)
		case simulate.KindUser, simulate.KindBuyer:
			others = append(others, e.Addresses...)
		}
	}
	// A fixed sample keeps the metadata small at ten million transactions.
	rng := rand.New(rand.NewPCG(uint64(sc.Seed), 11))
	for i := 0; i < 20000 && len(others) > 0; i++ {
		fs.Others = append(fs.Others, others[rng.IntN(len(others))])
	}
	return fs, nil
}

// traceETH is traceBTC on a synthetic Ethereum world, ingested through the
// pipeline and traced per asset; exposure is traced per subject for
// addresses drawn from the store, and the baseline is one keyed read of
// eth_address_transfers.
func traceETH(ctx context.Context, cfg TraceConfig) (_ *TraceResult, err error) {
	sc := ethsim.DefaultConfig()
	sc.Blocks, sc.TxsPerBlock, sc.TokenTransfersPerBlock, sc.Seed = cfg.Blocks, cfg.TxsPerBlock, cfg.TxsPerBlock*3/2, cfg.Seed
	dir := filepath.Join(cfg.Work, "eth")
	truth, err := ethsim.Generate(sc, dir)
	if err != nil {
		return nil, err
	}
	dsn, err := Database(cfg.DSN, fmt.Sprintf("tracer_bench_trace_eth_%d", cfg.Seed))
	if err != nil {
		return nil, err
	}
	p, st, err := open(ctx, cfg.Pipeline, dataDir(cfg.Work), dsn, true)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	conn := st.Conn()
	if err := truncate(ctx, conn, "eth_blocks", "eth_transfers", "eth_address_transfers", "label_imports", "label_entries"); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
		return nil, err
	}
	row := &TraceResult{Seed: cfg.Seed, Engine: conn.Engine(), Txs: truth.Txs, Fill: FillPipeline, IngestSec: time.Since(t0).Seconds()}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	var labelled []truthLabel
	var starts []trace.Start
	for _, ac := range truth.Actors {
		switch ac.Role {
		case "precursor-broker", "cartel", "exchange":
			labelled = append(labelled, truthLabel{ac.Address, ac.Name, ac.Role})
		}
		if ac.Role == "precursor-broker" {
			starts = append(starts, trace.Start{Desc: ac.Address, Addresses: []string{ac.Address}})
		}
	}
	if err := labelTruth(ctx, ls, chain.ETH, labelled); err != nil {
		return nil, err
	}
	all, err := trace.ParseAccountStart(ctx, chain.ETH, "label:precursor-broker", ls, time.Time{})
	if err != nil {
		return nil, err
	}
	starts = append(starts, all)
	// Exposure of addresses drawn from the store: most are users.
	rows, err := conn.Query(ctx, "SELECT DISTINCT address FROM eth_address_transfers ORDER BY address LIMIT 5000")
	if err != nil {
		return nil, err
	}
	var others []string
	for rows.Next() {
		var ad string
		if err := rows.Scan(&ad); err != nil {
			rows.Close()
			return nil, err
		}
		others = append(others, ad)
	}
	rows.Close()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 7))
	var ex []trace.Start
	for i := 0; i < cfg.Exposures && len(others) > 0; i++ {
		ad := others[rng.IntN(len(others))]
		ex = append(ex, trace.Start{Desc: ad, Addresses: []string{ad}})
	}
	res, err := trace.New(conn, ls).Bench(ctx, starts, ex, len(ex), cfg.Trace)
	if err != nil {
		return nil, err
	}
	row.BenchResult = *res
	return row, nil
}
