package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

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

// traceBenchRow is one seed's chain and figures.
type traceBenchRow struct {
	Seed      int64   `json:"seed"`
	Engine    string  `json:"engine"`
	Txs       int64   `json:"txs"`
	Fill      string  `json:"fill"`
	IngestSec float64 `json:"ingest_seconds"`
	// OptimizeSec: merging the tables read by key (store optimize) before
	// the traces, 0 with --optimize=false. Parts: the most active parts of
	// one of those tables, as the traces ran.
	OptimizeSec float64 `json:"optimize_seconds"`
	Parts       int     `json:"parts"`
	trace.BenchResult
}

// traceBenchOpts are the flags of bench trace.
type traceBenchOpts struct {
	blocks, txsPerBlock, users, seeds, exposures, live, hops int
	dsn, format, model, chain, fill, work                    string
	keep, optimize                                           bool
}

// Goals of the trace bench on the 2-core reference machine (issue 5).
const (
	goalTraceP50    = 300.0
	goalTraceP99    = 2000.0
	goalExposureAvg = 50.0
)

func newBenchTraceCmd(a *app) *cobra.Command {
	var o traceBenchOpts
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Trace latency (downstream haircut from the planted brokers) and exposure per address",
		Long: `For each seed: simulate a mainnet-form chain with the planted scenario, fill a
fresh store with it (clusterer on), label the planted brokers, cartels and
exchanges from the simulator's truth, then time a downstream trace (default 6
hops, haircut, stopping at exchanges and cartels) from every broker address
alone and from all of them (label:precursor-broker), and exposure for
--exposures addresses drawn at random from the users and buyers: read from
the exposure index (built once after the labels, its build time printed)
and, for --live-exposures of them, traced per subject (tracer exposure
--live). The baseline is one keyed read of an address's rows on the same
engine. Latency p50/p99 are over the traces of all seeds; the ratios are
against the goals (trace p50 300 ms, p99 2 s, exposure 50 ms an address).

--fill direct (the default) writes the generated blocks straight into the
store through the loader's batches and the clusterer's state, without NATS:
the bench measures tracing, and a store of ten million transactions fills in
minutes. Before the traces the tables read by key are merged into one part
each, as tracer store optimize does after a backfill (the time is printed as
OPTIMIZE S, and PARTS is the most parts of one table as the traces ran);
--optimize=false traces the store as filled. --fill pipeline ingests a blocks directory through NATS, the loader
and the clusterer as tracer ingest does. With --work DIR the stores are kept
in DIR and a later run with the same DIR and flags reuses them.

A store of ten million transactions:

  tracer bench trace --blocks 4000 --txs-per-block 2500 --users 1000000 --seeds 1 --work /var/tmp/tb

With --chain eth the chain is a synthetic Ethereum world (tracer simulate eth:
ETH, USDT and USDC, 1.5 token transfers per transaction), ingested through
the pipeline and traced per asset; exposure is measured per subject for
addresses drawn at random from the store; the baseline is one keyed read of
eth_address_transfers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(o.format, "table", "json"); err != nil {
				return err
			}
			if o.fill != "direct" && o.fill != "pipeline" {
				return fmt.Errorf("--fill %q: want direct or pipeline", o.fill)
			}
			if o.dsn == "" {
				o.dsn = a.cfg.Store.DSN
			}
			work := o.work
			if work == "" {
				var err error
				if work, err = os.MkdirTemp("", "tracer-bench-trace-"); err != nil {
					return err
				}
				if o.keep {
					defer fmt.Fprintln(cmd.ErrOrStderr(), "kept", work)
				} else {
					defer os.RemoveAll(work)
				}
			}
			cfg := trace.DefaultConfig()
			cfg.Model, cfg.Hops, cfg.StopAt = o.model, o.hops, []string{"exchange", "cartel"}
			run := runTraceBench
			switch o.chain {
			case chain.BTC:
			case chain.ETH:
				cfg.Chain, run = chain.ETH, runETHTraceBench
			default:
				return fmt.Errorf("--chain %q: want btc or eth", o.chain)
			}
			var rows []traceBenchRow
			for s := 1; s <= o.seeds; s++ {
				row, err := run(cmd.Context(), a, cmd, filepath.Join(work, fmt.Sprint(s)), int64(s), o, cfg)
				if err != nil {
					return fmt.Errorf("seed %d: %w", s, err)
				}
				rows = append(rows, *row)
			}
			if o.format == "json" {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			return printTraceBench(cmd, rows)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.blocks, "blocks", 144, "blocks per chain")
	f.IntVar(&o.txsPerBlock, "txs-per-block", 400, "transactions per block")
	f.IntVar(&o.users, "users", 10000, "ordinary users of the simulated chain (btc)")
	f.IntVar(&o.seeds, "seeds", 3, "chains (simulator seeds 1..N)")
	f.IntVar(&o.exposures, "exposures", 1000, "addresses whose exposure is read from the index per seed (btc; eth: traced per subject)")
	f.IntVar(&o.live, "live-exposures", 20, "of those, addresses whose exposure is also traced per subject (btc)")
	f.IntVar(&o.hops, "hops", 6, "hops of each trace")
	f.StringVar(&o.model, "model", trace.Haircut, "taint model")
	f.StringVar(&o.chain, "chain", chain.BTC, "btc or eth")
	f.StringVar(&o.fill, "fill", "direct", "how the store is filled (btc): direct (generator to store, no NATS) or pipeline (blocks directory through NATS and the loader)")
	f.StringVar(&o.work, "work", "", "directory for the stores, kept and reused by a later run with the same flags (default: a temporary directory)")
	f.StringVar(&o.dsn, "clickhouse", "", "ClickHouse server DSN (default: embedded chDB in the work directory); each seed works in its own database tracer_bench_trace_SEED")
	f.StringVar(&o.format, "format", "table", "table or json")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	f.BoolVar(&o.optimize, "optimize", true, "btc: merge the tables read by key before the traces, as tracer store optimize does after a backfill (false: trace the store as filled)")
	return cmd
}

func printTraceBench(cmd *cobra.Command, rows []traceBenchRow) error {
	w := cmd.OutOrStdout()
	t := newTable(w)
	t.row("SEED", "ENGINE", "TXS", "FILL", "FILL S", "OPTIMIZE S", "PARTS", "TRACES", "P50 MS", "P99 MS", "MAX MS", "NODES", "QUERIES", "BASELINE MS",
		"INDEX S", "EXPOSURES", "EXP P50 MS", "EXP MEAN MS", "EXP P99 MS", "LIVE", "LIVE MEAN MS")
	var lat, ex []float64
	for _, r := range rows {
		t.row(r.Seed, r.Engine, r.Txs, r.Fill, fmt.Sprintf("%.0f", r.IngestSec), fmt.Sprintf("%.0f", r.OptimizeSec), r.Parts, r.Traces, fmt.Sprintf("%.1f", r.TraceP50), fmt.Sprintf("%.1f", r.TraceP99), fmt.Sprintf("%.1f", r.TraceMax),
			fmt.Sprintf("%.0f", r.Nodes), fmt.Sprintf("%.0f", r.Queries), fmt.Sprintf("%.2f", r.BaselineP50),
			fmt.Sprintf("%.1f", r.IndexSec), r.Exposures, fmt.Sprintf("%.2f", r.ExposureP50), fmt.Sprintf("%.2f", r.ExposureAvg), fmt.Sprintf("%.2f", r.ExposureP99),
			r.LiveExposures, fmt.Sprintf("%.1f", r.LiveExposureAvg))
		lat = append(lat, r.Latencies...)
		ex = append(ex, r.ExposureLatencies...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "%s\n", rows[0].Params)
	fmt.Fprintf(w, "fill: %s\n", fillDoc(rows[0].Fill))
	for _, r := range rows {
		for _, st := range r.Slowest {
			fmt.Fprintf(w, "seed %d slow trace: %s, trace %d of the run, %.1f ms, %d outputs, %d queries\n", r.Seed, st.Start, st.Nth, st.MS, st.Nodes, st.Queries)
		}
	}
	p50, p99 := trace.Quantile(lat, 0.5), trace.Quantile(lat, 0.99)
	fmt.Fprintf(w, "all seeds: %d traces, p50 %.1f ms (%.2f× the goal of %.0f ms), p99 %.1f ms (%.2f× the goal of %.0f ms)\n",
		len(lat), p50, p50/goalTraceP50, goalTraceP50, p99, p99/goalTraceP99, goalTraceP99)
	if len(ex) > 0 {
		var sum float64
		for _, v := range ex {
			sum += v
		}
		mean := sum / float64(len(ex))
		fmt.Fprintf(w, "exposure: %d addresses, mean %.2f ms (%.3f× the goal of %.0f ms), p99 %.2f ms\n", len(ex), mean, mean/goalExposureAvg, goalExposureAvg, trace.Quantile(ex, 0.99))
	}
	return nil
}

func fillDoc(fill string) string {
	switch fill {
	case "direct":
		return "direct: generator → normalizer → store batches and clusterer state, no NATS (final clusters written once)"
	case "pipeline":
		return "pipeline: blocks directory → ingest → NATS → loader and clusterer"
	}
	return fill
}

// benchLabel is a labelled address of the truth.
type benchLabel struct{ Address, Entity, Kind string }

// benchStore is what a later run needs of a filled store: the truth's
// labels, broker addresses and a sample of other addresses.
type benchStore struct {
	Txs       int64        `json:"txs"`
	Fill      string       `json:"fill"`
	FillSec   float64      `json:"fill_seconds"`
	Labels    []benchLabel `json:"labels"`
	Brokers   []string     `json:"brokers"`
	Others    []string     `json:"others"`
	Flags     string       `json:"flags"`
	Completed bool         `json:"completed"`
}

func runTraceBench(ctx context.Context, a *app, cmd *cobra.Command, work string, seed int64, o traceBenchOpts, cfg trace.Config) (*traceBenchRow, error) {
	sc := simulate.DefaultConfig()
	sc.Params, sc.Blocks, sc.TxsPerBlock, sc.Seed, sc.Users = &chaincfg.MainNetParams, o.blocks, o.txsPerBlock, seed, o.users
	dsn, err := benchDatabase(o.dsn, fmt.Sprintf("tracer_bench_trace_%d", seed))
	if err != nil {
		return nil, err
	}
	flags := fmt.Sprintf("blocks=%d txs-per-block=%d users=%d fill=%s clickhouse=%s", o.blocks, o.txsPerBlock, o.users, o.fill, dsn)
	meta := filepath.Join(work, "bench.json")
	var bs benchStore
	if b, err := os.ReadFile(meta); err == nil {
		if err := json.Unmarshal(b, &bs); err != nil {
			return nil, fmt.Errorf("%s: %w", meta, err)
		}
		if bs.Flags != flags || !bs.Completed {
			bs = benchStore{}
			if err := os.RemoveAll(work); err != nil {
				return nil, err
			}
		}
	}
	pcfg := a.pipelineConfig()
	pcfg.DataDir, pcfg.NATSURL, pcfg.NATSListen, pcfg.StoreDSN, pcfg.NoCluster = filepath.Join(work, "data"), "", "127.0.0.1:0", dsn, o.fill == "direct"
	if err := os.MkdirAll(pcfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	p, err := pipeline.Open(pcfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	st, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	conn := st.Conn()
	if !bs.Completed {
		if bs, err = fillTraceBench(ctx, p, st, cmd, work, sc, o); err != nil {
			return nil, err
		}
		bs.Flags, bs.Completed = flags, true
		b, err := json.Marshal(bs)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(meta, b, 0o644); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "seed %d: reusing the store of %d transactions in %s\n", seed, bs.Txs, work)
	}
	row := &traceBenchRow{Seed: seed, Engine: conn.Engine(), Txs: bs.Txs, Fill: bs.Fill, IngestSec: bs.FillSec}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := truncate(ctx, conn, "label_imports", "label_entries"); err != nil {
		return nil, err
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	for _, l := range bs.Labels {
		fmt.Fprintf(&csv, "btc,%s,%s,%s,truth,100\n", l.Address, l.Entity, l.Kind)
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		return nil, err
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		return nil, err
	}
	tables := store.LookupTableNames() // the Ethereum ones are empty here: left alone
	if o.optimize {
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
	for _, ad := range bs.Brokers {
		starts = append(starts, trace.Start{Desc: ad, Addresses: []string{ad}})
	}
	all, err := trace.ParseStart(ctx, "label:precursor-broker", cluster.NewClusters(conn), ls, time.Time{})
	if err != nil {
		return nil, err
	}
	starts = append(starts, all)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	var ex []trace.Start
	for i := 0; i < o.exposures && len(bs.Others) > 0; i++ {
		ad := bs.Others[rng.IntN(len(bs.Others))]
		ex = append(ex, trace.Start{Desc: ad, Addresses: []string{ad}})
	}
	res, err := trace.New(conn, ls).Bench(ctx, starts, ex, o.live, cfg)
	if err != nil {
		return nil, err
	}
	row.BenchResult = *res
	return row, nil
}

// fillTraceBench fills the store with the chain of sc and returns what the
// bench needs of its truth.
func fillTraceBench(ctx context.Context, p *pipeline.Pipeline, st *store.Store, cmd *cobra.Command, work string, sc simulate.Config, o traceBenchOpts) (benchStore, error) {
	conn := st.Conn()
	if err := truncate(ctx, conn, "btc_blocks", "btc_txs", "btc_inputs", "btc_spends", "btc_outputs", "btc_address_io", "label_imports", "label_entries",
		"trace_btc_merges", "trace_btc_held", "trace_btc_address_cluster", "trace_btc_clusters", "taint_exposure"); err != nil {
		return benchStore{}, err
	}
	bs := benchStore{Fill: o.fill}
	var truth *simulate.Truth
	t0 := time.Now()
	switch o.fill {
	case "direct":
		progress := func(r synthstore.Result) {
			fmt.Fprintf(cmd.ErrOrStderr(), "\rseed %d: %d blocks, %d txs, %d rows, %.0f txs/s   ", sc.Seed, r.Blocks, r.Txs, r.Rows, float64(r.Txs)/r.Seconds)
		}
		res, err := synthstore.Fill(ctx, st, synthstore.Config{Sim: sc, StateDir: filepath.Join(work, "cluster-state"), Progress: progress})
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return bs, err
		}
		truth = res.Truth
		_ = os.RemoveAll(filepath.Join(work, "cluster-state"))
	case "pipeline":
		g, err := simulate.New(sc)
		if err != nil {
			return bs, err
		}
		dir := filepath.Join(work, "blocks")
		if err := simulate.WriteBlocksDir(g, dir, false); err != nil {
			return bs, err
		}
		truth = g.Truth()
		t0 = time.Now()
		if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
			return bs, err
		}
		_ = os.RemoveAll(dir)
	}
	bs.FillSec, bs.Txs = time.Since(t0).Seconds(), truth.Txs
	var others []string
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
			for _, ad := range e.Addresses {
				if _, err := labels.CanonicalAddress(chain.BTC, ad); err == nil {
					bs.Labels = append(bs.Labels, benchLabel{ad, e.Name, string(e.Kind)})
				}
				if e.Kind == simulate.KindBroker {
					bs.Brokers = append(bs.Brokers, ad)
				}
			}
		case simulate.KindUser, simulate.KindBuyer:
			others = append(others, e.Addresses...)
		}
	}
	// A fixed sample keeps the metadata small at ten million transactions.
	rng := rand.New(rand.NewPCG(uint64(sc.Seed), 11))
	for i := 0; i < 20000 && len(others) > 0; i++ {
		bs.Others = append(bs.Others, others[rng.IntN(len(others))])
	}
	return bs, nil
}

// runETHTraceBench is runTraceBench on a synthetic Ethereum world.
func runETHTraceBench(ctx context.Context, a *app, _ *cobra.Command, work string, seed int64, o traceBenchOpts, cfg trace.Config) (*traceBenchRow, error) {
	dsn, blocks, txsPerBlock, exposures := o.dsn, o.blocks, o.txsPerBlock, o.exposures
	sc := ethsim.DefaultConfig()
	sc.Blocks, sc.TxsPerBlock, sc.TokenTransfersPerBlock, sc.Seed = blocks, txsPerBlock, txsPerBlock*3/2, seed
	dir := filepath.Join(work, "eth")
	truth, err := ethsim.Generate(sc, dir)
	if err != nil {
		return nil, err
	}
	dsn, err = benchDatabase(dsn, fmt.Sprintf("tracer_bench_trace_eth_%d", seed))
	if err != nil {
		return nil, err
	}
	pcfg := a.pipelineConfig()
	pcfg.DataDir, pcfg.NATSURL, pcfg.NATSListen, pcfg.StoreDSN, pcfg.NoCluster = filepath.Join(work, "data"), "", "127.0.0.1:0", dsn, true
	p, err := pipeline.Open(pcfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	st, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	conn := st.Conn()
	if err := truncate(ctx, conn, "eth_blocks", "eth_transfers", "eth_address_transfers", "label_imports", "label_entries"); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
		return nil, err
	}
	row := &traceBenchRow{Seed: seed, Engine: conn.Engine(), Txs: truth.Txs, Fill: "pipeline", IngestSec: time.Since(t0).Seconds()}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	var starts []trace.Start
	for _, ac := range truth.Actors {
		switch ac.Role {
		case "precursor-broker", "cartel", "exchange":
			fmt.Fprintf(&csv, "eth,%s,%s,%s,truth,100\n", ac.Address, ac.Name, ac.Role)
		}
		if ac.Role == "precursor-broker" {
			starts = append(starts, trace.Start{Desc: ac.Address, Addresses: []string{ac.Address}})
		}
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		return nil, err
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
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
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	var ex []trace.Start
	for i := 0; i < exposures && len(others) > 0; i++ {
		ad := others[rng.IntN(len(others))]
		ex = append(ex, trace.Start{Desc: ad, Addresses: []string{ad}})
	}
	res, err := trace.New(conn, ls).Bench(ctx, starts, ex, len(ex), cfg)
	if err != nil {
		return nil, err
	}
	row.BenchResult = *res
	return row, nil
}
