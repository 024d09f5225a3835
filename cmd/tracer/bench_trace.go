package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/trace"
	"github.com/tracerproject/tracer/trace/taint"
)

// traceBenchRow is one seed's chain and figures.
type traceBenchRow struct {
	Seed      int64   `json:"seed"`
	Engine    string  `json:"engine"`
	Txs       int64   `json:"txs"`
	IngestSec float64 `json:"ingest_seconds"`
	taint.BenchResult
}

func newBenchTraceCmd(a *app) *cobra.Command {
	var (
		blocks, txsPerBlock, seeds, exposures, hops int
		dsn, format, model, chain                   string
		keep                                        bool
	)
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Trace latency (downstream haircut from the planted brokers) and exposure per address",
		Long: `For each seed: simulate a mainnet-form chain with the planted scenario, ingest
it (clusterer on) into a fresh store, label the planted brokers, cartels and
exchanges from the simulator's truth, then time a downstream trace (default 6
hops, haircut, stopping at exchanges and cartels) from every broker address
alone and from all of them (label:precursor-broker), and exposure for
--exposures addresses drawn at random. The baseline is one keyed read of an
address's rows on the same engine. Latency p50/p99 are over the traces of all
seeds.

With --chain eth the chain is a synthetic Ethereum world (tracer simulate eth:
ETH, USDT and USDC, 1.5 token transfers per transaction), traced per asset;
exposure is measured for addresses drawn at random from the store; the
baseline is one keyed read of eth_address_transfers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			if dsn == "" {
				dsn = a.cfg.Store.DSN
			}
			work, err := os.MkdirTemp("", "tracer-bench-trace-")
			if err != nil {
				return err
			}
			if keep {
				defer fmt.Fprintln(cmd.ErrOrStderr(), "kept", work)
			} else {
				defer os.RemoveAll(work)
			}
			cfg := taint.DefaultConfig()
			cfg.Model, cfg.Hops, cfg.StopAt = model, hops, []string{"exchange", "cartel"}
			run := runTraceBench
			switch chain {
			case taint.ChainBTC:
			case taint.ChainETH:
				cfg.Chain, run = taint.ChainETH, runETHTraceBench
			default:
				return fmt.Errorf("--chain %q: want btc or eth", chain)
			}
			var rows []traceBenchRow
			for s := 1; s <= seeds; s++ {
				row, err := run(cmd.Context(), a, filepath.Join(work, fmt.Sprint(s)), dsn, int64(s), blocks, txsPerBlock, exposures, cfg)
				if err != nil {
					return fmt.Errorf("seed %d: %w", s, err)
				}
				rows = append(rows, *row)
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			t := newTable(cmd.OutOrStdout())
			t.row("SEED", "ENGINE", "TXS", "TRACES", "P50 MS", "P99 MS", "MAX MS", "NODES", "QUERIES", "BASELINE MS", "EXPOSURES", "EXP P50 MS", "EXP MEAN MS", "EXP P99 MS")
			for _, r := range rows {
				t.row(r.Seed, r.Engine, r.Txs, r.Traces, fmt.Sprintf("%.1f", r.TraceP50), fmt.Sprintf("%.1f", r.TraceP99), fmt.Sprintf("%.1f", r.TraceMax),
					fmt.Sprintf("%.0f", r.Nodes), fmt.Sprintf("%.0f", r.Queries), fmt.Sprintf("%.2f", r.BaselineP50),
					r.Exposures, fmt.Sprintf("%.1f", r.ExposureP50), fmt.Sprintf("%.1f", r.ExposureAvg), fmt.Sprintf("%.1f", r.ExposureP99))
			}
			if len(rows) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", rows[0].Params)
			}
			return t.flush()
		},
	}
	f := cmd.Flags()
	f.IntVar(&blocks, "blocks", 144, "blocks per chain")
	f.IntVar(&txsPerBlock, "txs-per-block", 400, "transactions per block")
	f.IntVar(&seeds, "seeds", 3, "chains (simulator seeds 1..N)")
	f.IntVar(&exposures, "exposures", 100, "addresses whose exposure is measured per seed")
	f.IntVar(&hops, "hops", 6, "hops of each trace")
	f.StringVar(&model, "model", taint.Haircut, "taint model")
	f.StringVar(&chain, "chain", taint.ChainBTC, "btc or eth")
	f.StringVar(&dsn, "clickhouse", "", "ClickHouse server DSN (default: embedded chDB in a temporary directory); each seed works in its own database tracer_bench_trace_SEED")
	f.StringVar(&format, "format", "table", "table or json")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	return cmd
}

func runTraceBench(ctx context.Context, a *app, work, dsn string, seed int64, blocks, txsPerBlock, exposures int, cfg taint.Config) (*traceBenchRow, error) {
	sc := simulate.DefaultConfig()
	sc.Params, sc.Blocks, sc.TxsPerBlock, sc.Seed = &chaincfg.MainNetParams, blocks, txsPerBlock, seed
	g, err := simulate.New(sc)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "blocks")
	if err := simulate.WriteBlocksDir(g, dir, false); err != nil {
		return nil, err
	}
	truth := g.Truth()
	if dsn != "" {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("--clickhouse %q: %w", dsn, err)
		}
		u.Path = fmt.Sprintf("/tracer_bench_trace_%d", seed)
		dsn = u.String()
	}
	pcfg := a.pipelineConfig()
	pcfg.DataDir, pcfg.NATSURL, pcfg.NATSListen, pcfg.StoreDSN, pcfg.NoCluster = filepath.Join(work, "data"), "", "127.0.0.1:0", dsn, false
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
	for _, tbl := range []string{"btc_blocks", "btc_txs", "btc_inputs", "btc_outputs", "btc_address_io", "label_imports", "label_entries",
		"trace_btc_merges", "trace_btc_held", "trace_btc_address_cluster", "trace_btc_clusters"} {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+tbl); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
		return nil, err
	}
	row := &traceBenchRow{Seed: seed, Engine: conn.Engine(), Txs: truth.Txs, IngestSec: time.Since(t0).Seconds()}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	var starts []taint.Start
	var others []string
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
			for _, ad := range e.Addresses {
				if _, err := labels.CanonicalAddress(labels.ChainBTC, ad); err == nil {
					fmt.Fprintf(&csv, "btc,%s,%s,%s,truth,100\n", ad, e.Name, e.Kind)
				}
				if e.Kind == simulate.KindBroker {
					starts = append(starts, taint.Start{Desc: ad, Addresses: []string{ad}})
				}
			}
		case simulate.KindUser, simulate.KindBuyer:
			others = append(others, e.Addresses...)
		}
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		return nil, err
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		return nil, err
	}
	all, err := taint.ParseStart(ctx, "label:precursor-broker", trace.NewClusters(conn), ls, time.Time{})
	if err != nil {
		return nil, err
	}
	starts = append(starts, all)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	var ex []taint.Start
	for i := 0; i < exposures && len(others) > 0; i++ {
		ad := others[rng.IntN(len(others))]
		ex = append(ex, taint.Start{Desc: ad, Addresses: []string{ad}})
	}
	res, err := taint.New(conn, ls).Bench(ctx, starts, ex, cfg)
	if err != nil {
		return nil, err
	}
	row.BenchResult = *res
	return row, nil
}

// runETHTraceBench is runTraceBench on a synthetic Ethereum world.
func runETHTraceBench(ctx context.Context, a *app, work, dsn string, seed int64, blocks, txsPerBlock, exposures int, cfg taint.Config) (*traceBenchRow, error) {
	sc := ethsim.DefaultConfig()
	sc.Blocks, sc.TxsPerBlock, sc.TokenTransfersPerBlock, sc.Seed = blocks, txsPerBlock, txsPerBlock*3/2, seed
	dir := filepath.Join(work, "eth")
	truth, err := ethsim.Generate(sc, dir)
	if err != nil {
		return nil, err
	}
	if dsn != "" {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("--clickhouse %q: %w", dsn, err)
		}
		u.Path = fmt.Sprintf("/tracer_bench_trace_eth_%d", seed)
		dsn = u.String()
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
	for _, tbl := range []string{"eth_blocks", "eth_transfers", "eth_address_transfers", "label_imports", "label_entries"} {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+tbl); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
		return nil, err
	}
	row := &traceBenchRow{Seed: seed, Engine: conn.Engine(), Txs: truth.Txs, IngestSec: time.Since(t0).Seconds()}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	var starts []taint.Start
	for _, ac := range truth.Actors {
		switch ac.Role {
		case "precursor-broker", "cartel", "exchange":
			fmt.Fprintf(&csv, "eth,%s,%s,%s,truth,100\n", ac.Address, ac.Name, ac.Role)
		}
		if ac.Role == "precursor-broker" {
			starts = append(starts, taint.Start{Desc: ac.Address, Addresses: []string{ac.Address}})
		}
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		return nil, err
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		return nil, err
	}
	all, err := taint.ParseAccountStart(ctx, taint.ChainETH, "label:precursor-broker", ls, time.Time{})
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
	var ex []taint.Start
	for i := 0; i < exposures && len(others) > 0; i++ {
		ad := others[rng.IntN(len(others))]
		ex = append(ex, taint.Start{Desc: ad, Addresses: []string{ad}})
	}
	res, err := taint.New(conn, ls).Bench(ctx, starts, ex, cfg)
	if err != nil {
		return nil, err
	}
	row.BenchResult = *res
	return row, nil
}
