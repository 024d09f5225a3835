package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/bench"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/trace"
)

func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure performance against a baseline measured in the same run",
	}
	cmd.AddCommand(newBenchIngestCmd(a))
	cmd.AddCommand(newBenchAlertsCmd(a))
	cmd.AddCommand(newClusterBenchCmd())
	cmd.AddCommand(newBenchTraceCmd(a))
	cmd.AddCommand(newBenchReportCmd(a))
	return cmd
}

// benchDSN is the ClickHouse server a benchmark runs on: --clickhouse, else
// the configured store (--store, TRACER_STORE_DSN); empty is embedded chDB.
func (a *app) benchDSN(flag string) string {
	if flag != "" {
		return flag
	}
	return a.cfg.Store.DSN
}

func newBenchIngestCmd(a *app) *cobra.Command {
	var (
		blocks, txsPerBlock  int
		dsn, format          string
		seed                 int64
		keep                 bool
		cpuProfile           string
		chainName            string
		ethTxs, ethTransfers int
		ethSenders           string
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Mainnet-sized synthetic blocks through decode → NATS → loader → ClickHouse, against direct inserts",
		Long: `Generate mainnet-sized synthetic blocks (about 2,500 txs, 2.3 inputs and 2.6
outputs per tx) into a Bitcoin Core blocks directory, then measure on the same
engine:
  baseline: the normalized rows inserted straight into ClickHouse, in batches
            of the loader's size;
  pipeline: blk files → decode → normalize (outpoint index) → embedded NATS
            JetStream → loader → ClickHouse, until every block is stored.
Prints txs/s and rows/s for both, their ratio, the CPU time of this process
in each phase and peak memory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			work, done, err := bench.WorkDir("tracer-bench-", keep, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer done()
			switch chainName {
			case chain.ETH:
				if !cmd.Flags().Changed("blocks") {
					// 250,000 transfers, 750,000 rows: three of the
					// loader's batches, so that inserts overlap decoding
					// as in a backfill. 100 blocks fit in one batch,
					// inserted only once every block is decoded.
					blocks = 500
				}
				nodeSenders, err := pipeline.ParseSenders(ethSenders)
				if err != nil {
					return err
				}
				res, err := bench.IngestETH(cmd.Context(), bench.ETHIngestConfig{Pipeline: a.pipelineConfig(), Work: work, DSN: a.benchDSN(dsn),
					Blocks: blocks, TxsPerBlock: ethTxs, TransfersPerBlock: ethTransfers, NodeSenders: nodeSenders, Seed: seed, CPUProfile: cpuProfile})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), res)
				}
				return res.WriteTable(cmd.OutOrStdout())
			case chain.BTC:
			default:
				return fmt.Errorf("--chain %q: want btc or eth", chainName)
			}
			res, err := bench.Ingest(cmd.Context(), bench.IngestConfig{Pipeline: a.pipelineConfig(), Work: work, DSN: a.benchDSN(dsn),
				Blocks: blocks, TxsPerBlock: txsPerBlock, Seed: seed, CPUProfile: cpuProfile})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			return res.WriteTable(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&blocks, "blocks", 40, "blocks to push")
	f.IntVar(&txsPerBlock, "txs-per-block", 2500, "transactions per block")
	f.StringVar(&chainName, "chain", "btc", "btc, or eth: blocks of --eth-txs transactions and --eth-transfers token transfers (default 500 blocks)")
	f.IntVar(&ethTxs, "eth-txs", 200, "Ethereum: transactions per block")
	f.IntVar(&ethTransfers, "eth-transfers", 300, "Ethereum: token transfers per block")
	f.StringVar(&ethSenders, "eth-senders", "recover", `Ethereum: "recover" every sender from its signature, or take the "node"'s (eth.senders)`)
	f.Int64Var(&seed, "seed", 1, "simulation seed")
	f.StringVar(&dsn, "clickhouse", "", "ClickHouse server DSN (default: embedded chDB in a temporary directory); the bench works in its own database tracer_bench, dropped and recreated")
	f.StringVar(&format, "format", "table", "table or json")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the pipeline run to this file (go tool pprof)")
	return cmd
}

func newBenchAlertsCmd(a *app) *cobra.Command {
	var (
		sizes       []int
		blocks, txs int
		perBlock    int
		dsn, format string
		keep        bool
	)
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Latency from a block entering the stream to its alerts reaching a NATS subscriber",
		Long: `For each watch-list size, publish mainnet-sized blocks (--txs-per-block) one by
one into an embedded JetStream stream, each paying --alerts-per-block watched
addresses, with the alerter running on the same engine; a core NATS subscriber
on alerts.> timestamps every alert. Prints p50, p99 and max latency from the
publish of a block to the arrival of each of its alerts, and as a baseline in
the same run the latency of a plain message through the same server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			work, done, err := bench.WorkDir("tracer-bench-alerts-", keep, nil)
			if err != nil {
				return err
			}
			defer done()
			var rows []bench.AlertsResult
			for i, n := range sizes {
				row, err := bench.Alerts(cmd.Context(), bench.AlertsConfig{Pipeline: a.pipelineConfig(), Work: filepath.Join(work, fmt.Sprint(i)),
					DSN: a.benchDSN(dsn), Watched: n, Blocks: blocks, TxsPerBlock: txs, AlertsPerBlock: perBlock, CheckAddress: alert.CanonicalAddress})
				if err != nil {
					return err
				}
				rows = append(rows, *row)
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			return bench.WriteAlertsTable(cmd.OutOrStdout(), rows)
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&sizes, "watched", []int{10, 10_000, 1_000_000}, "watch-list sizes to measure")
	f.IntVar(&blocks, "blocks", 30, "blocks per size")
	f.IntVar(&txs, "txs-per-block", 2500, "transactions per block")
	f.IntVar(&perBlock, "alerts-per-block", 5, "watched addresses each block pays")
	f.StringVar(&dsn, "clickhouse", "", "ClickHouse server DSN (default: embedded chDB); the bench works in its own database tracer_bench_alerts")
	f.StringVar(&format, "format", "table", "table or json")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	return cmd
}

// newClusterBenchCmd is `tracer bench cluster`.
func newClusterBenchCmd() *cobra.Command {
	cfg := cluster.DefaultBenchConfig()
	var (
		format, cpuProfile string
		keep               bool
	)
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Measure the clusterer: union-find alone, inputs/s with address-id mapping, memory per address, reload time",
		Long: `Measure the clusterer without NATS or ClickHouse:
  union-find alone: --union-ids random pairs over --union-ids ids (every access
      a cache miss), then the links a mainnet-shaped chain draws among as many
      addresses (multi-input stars; inputs spend mostly recent addresses), each
      against a baseline that reads the same pairs' parents;
  end to end: mainnet-shaped blocks (about 2.35 inputs a transaction) through
      the clusterer's state (address → id map, union-find, address and link
      logs, Pebble index; committed as the clusterer commits) until --blocks
      blocks and --addresses address ids;
  then the snapshot and the reload after a restart.
Prints the figures and their ratio to the goals (inputs/s, unions/s, bytes of
cluster state per address). State goes to a temporary directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "tracer-bench-cluster-")
			if err != nil {
				return err
			}
			if keep {
				fmt.Fprintf(cmd.ErrOrStderr(), "state kept in %s\n", dir)
			} else {
				defer os.RemoveAll(dir)
			}
			cfg.Dir = dir
			res, err := bench.Cluster(cmd.Context(), cfg, cpuProfile)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			return bench.WriteClusterTable(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.UnionIDs, "union-ids", cfg.UnionIDs, "ids of the union-find-alone runs")
	f.IntVar(&cfg.Blocks, "blocks", cfg.Blocks, "end to end: at least this many blocks")
	f.IntVar(&cfg.TxsPerBlock, "txs-per-block", cfg.TxsPerBlock, "transactions per block")
	f.IntVar(&cfg.Addresses, "addresses", cfg.Addresses, "end to end: blocks until the state has this many address ids (100000000 tries mainnet scale: about 5 GiB peak memory, 12 GiB of disk, 3 to 5 minutes)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed")
	f.StringVar(&format, "format", "table", "table or json")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	f.BoolVar(&keep, "keep", false, "keep the state directory (its path is printed)")
	return cmd
}

func newBenchReportCmd(a *app) *cobra.Command {
	var (
		cfg         bench.ReportConfig
		dsn, format string
		keep        bool
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Time an exposure report over every cluster of a large synthetic chain",
		Long: `Generate a mainnet-form chain (--blocks × --txs-per-block, --users owners),
ingest it with the clusterer, label the planted brokers, cartels and exchanges,
and time ` + "`report exposure --all-clusters`" + ` (every cluster with any exposure:
the traces from each category, the clusters of what they reached, the chart's
periods and the top flows; then the JSON, CSV and HTML files). As a baseline
in the same run: one full scan of the clusters table (what reading every
cluster once costs on this engine).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			work, done, err := bench.WorkDir("tracer-bench-report-", keep, nil)
			if err != nil {
				return err
			}
			defer done()
			cfg.Pipeline, cfg.Work, cfg.DSN = a.pipelineConfig(), work, a.benchDSN(dsn)
			row, err := bench.Report(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				return json.NewEncoder(w).Encode(row)
			}
			return row.WriteTable(w)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Blocks, "blocks", 120, "blocks of the synthetic chain")
	f.IntVar(&cfg.TxsPerBlock, "txs-per-block", 2500, "transactions per block")
	f.IntVar(&cfg.Users, "users", 150_000, "ordinary users (owners) of the chain")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the chain")
	f.StringVar(&dsn, "clickhouse", "", "ClickHouse server DSN (default: the configured store, chDB when unset)")
	f.StringVar(&format, "format", "table", "table or json")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	f.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the report (not the chain's making) to this file (go tool pprof)")
	return cmd
}

func newBenchTraceCmd(a *app) *cobra.Command {
	var (
		cfg                bench.TraceConfig
		seeds, hops        int
		dsn, format, model string
		chainName, work    string
		keep               bool
	)
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
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			if cfg.Fill != bench.FillDirect && cfg.Fill != bench.FillPipeline {
				return fmt.Errorf("--fill %q: want direct or pipeline", cfg.Fill)
			}
			cfg.Trace = trace.DefaultConfig()
			cfg.Trace.Model, cfg.Trace.Hops, cfg.Trace.StopAt = model, hops, []string{"exchange", "cartel"}
			switch chainName {
			case chain.BTC:
			case chain.ETH:
				cfg.Trace.Chain = chain.ETH
			default:
				return fmt.Errorf("--chain %q: want btc or eth", chainName)
			}
			if work == "" {
				tmp, done, err := bench.WorkDir("tracer-bench-trace-", keep, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				defer done()
				work = tmp
			}
			cfg.Pipeline, cfg.DSN, cfg.Log = a.pipelineConfig(), a.benchDSN(dsn), cmd.ErrOrStderr()
			var rows []bench.TraceResult
			for s := 1; s <= seeds; s++ {
				cfg.Seed, cfg.Work = int64(s), filepath.Join(work, fmt.Sprint(s))
				row, err := bench.Trace(cmd.Context(), cfg)
				if err != nil {
					return fmt.Errorf("seed %d: %w", s, err)
				}
				rows = append(rows, *row)
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			return bench.WriteTraceTable(cmd.OutOrStdout(), rows)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Blocks, "blocks", 144, "blocks per chain")
	f.IntVar(&cfg.TxsPerBlock, "txs-per-block", 400, "transactions per block")
	f.IntVar(&cfg.Users, "users", 10000, "ordinary users of the simulated chain (btc)")
	f.IntVar(&seeds, "seeds", 3, "chains (simulator seeds 1..N)")
	f.IntVar(&cfg.Exposures, "exposures", 1000, "addresses whose exposure is read from the index per seed (btc; eth: traced per subject)")
	f.IntVar(&cfg.LiveExposures, "live-exposures", 20, "of those, addresses whose exposure is also traced per subject (btc)")
	f.IntVar(&hops, "hops", 6, "hops of each trace")
	f.StringVar(&model, "model", trace.Haircut, "taint model")
	f.StringVar(&chainName, "chain", chain.BTC, "btc or eth")
	f.StringVar(&cfg.Fill, "fill", bench.FillDirect, "how the store is filled (btc): direct (generator to store, no NATS) or pipeline (blocks directory through NATS and the loader)")
	f.StringVar(&work, "work", "", "directory for the stores, kept and reused by a later run with the same flags (default: a temporary directory)")
	f.StringVar(&dsn, "clickhouse", "", "ClickHouse server DSN (default: embedded chDB in the work directory); each seed works in its own database tracer_bench_trace_SEED")
	f.StringVar(&format, "format", "table", "table or json")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	f.BoolVar(&cfg.Optimize, "optimize", true, "btc: merge the tables read by key before the traces, as tracer store optimize does after a backfill (false: trace the store as filled)")
	return cmd
}
