package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure performance against a baseline measured in the same run",
	}
	cmd.AddCommand(newBenchIngestCmd(a))
	cmd.AddCommand(newBenchAlertsCmd(a))
	cmd.AddCommand(newClusterBenchCmd(a))
	cmd.AddCommand(newBenchTraceCmd(a))
	cmd.AddCommand(newBenchReportCmd(a))
	return cmd
}

// ingestBench is the result of `tracer bench ingest`.
type ingestBench struct {
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

func newBenchIngestCmd(a *app) *cobra.Command {
	var (
		blocks, txsPerBlock  int
		dsn, format          string
		seed                 int64
		keep                 bool
		cpuProfile           string
		chain                string
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
			work, err := os.MkdirTemp("", "tracer-bench-")
			if err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(work)
			} else {
				defer fmt.Fprintln(cmd.ErrOrStderr(), "kept", work)
			}
			if dsn == "" {
				dsn = a.cfg.Store.DSN // --store or TRACER_STORE_DSN
			}
			if chain == "eth" {
				if !cmd.Flags().Changed("blocks") {
					// 250,000 transfers, 750,000 rows: three of the
					// loader's batches, so that inserts overlap decoding
					// as in a backfill. 100 blocks fit in one batch,
					// inserted only once every block is decoded.
					blocks = 500
				}
				nodeSenders, err := parseSenders(ethSenders)
				if err != nil {
					return err
				}
				res, err := runETHBench(cmd.Context(), a, work, blocks, ethTxs, ethTransfers, nodeSenders, seed, dsn, cpuProfile)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), res)
				}
				t := newTable(cmd.OutOrStdout())
				printETHBench(t, res)
				return t.flush()
			} else if chain != "btc" {
				return fmt.Errorf("--chain %q: want btc or eth", chain)
			}
			res, err := runIngestBench(cmd.Context(), a, work, blocks, txsPerBlock, seed, dsn, cpuProfile)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			t := newTable(cmd.OutOrStdout())
			t.row("engine", res.Engine)
			t.row("blocks / txs / rows", fmt.Sprintf("%d / %d / %d", res.Blocks, res.Txs, res.Rows))
			t.row("inputs, outputs per tx", fmt.Sprintf("%.2f, %.2f", res.InputsPerTx, res.OutputsPerTx))
			t.row("baseline (direct insert)", fmt.Sprintf("%.2fs  %.0f txs/s  %.0f rows/s", res.BaselineSec, res.BaselineTxs, res.BaselineRows))
			t.row("pipeline (end to end)", fmt.Sprintf("%.2fs  %.0f txs/s  %.0f rows/s", res.PipelineSec, res.PipelineTxs, res.PipelineRows))
			t.row("pipeline / baseline", fmt.Sprintf("%.2f", res.Ratio))
			if res.PipelineCPUSec > 0 {
				t.row("CPU of this process", fmt.Sprintf("baseline %.2fs (%.1f µs/tx), pipeline %.2fs (%.1f µs/tx)%s",
					res.BaselineCPUSec, 1e6*res.BaselineCPUSec/float64(res.Txs), res.PipelineCPUSec, 1e6*res.PipelineCPUSec/float64(res.Txs), serverCPUNote(res.Engine)))
			}
			if res.ServerPipelineCPUSec > 0 {
				t.row("CPU of the server", fmt.Sprintf("baseline %.2fs (%.1f µs/tx), pipeline %.2fs (%.1f µs/tx); its query threads (system.events), merges not counted",
					res.ServerBaselineCPUSec, 1e6*res.ServerBaselineCPUSec/float64(res.Txs), res.ServerPipelineCPUSec, 1e6*res.ServerPipelineCPUSec/float64(res.Txs)))
				t.row("CPU in all", fmt.Sprintf("baseline %.1f µs/tx, pipeline %.1f µs/tx",
					1e6*(res.BaselineCPUSec+res.ServerBaselineCPUSec)/float64(res.Txs), 1e6*(res.PipelineCPUSec+res.ServerPipelineCPUSec)/float64(res.Txs)))
			}
			t.row("peak RSS (pipeline)", fmt.Sprintf("%.0f MiB", res.PeakRSSMiB))
			return t.flush()
		},
	}
	f := cmd.Flags()
	f.IntVar(&blocks, "blocks", 40, "blocks to push")
	f.IntVar(&txsPerBlock, "txs-per-block", 2500, "transactions per block")
	f.StringVar(&chain, "chain", "btc", "btc, or eth: blocks of --eth-txs transactions and --eth-transfers token transfers (default 500 blocks)")
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

func runIngestBench(ctx context.Context, a *app, work string, blocks, txsPerBlock int, seed int64, dsn, cpuProfile string) (*ingestBench, error) {
	res := &ingestBench{Blocks: blocks}
	// 1. The chain, written once (not timed as ingest).
	scfg := simulate.DefaultConfig()
	scfg.Blocks, scfg.TxsPerBlock, scfg.Seed = blocks, txsPerBlock, seed
	g, err := simulate.New(scfg)
	if err != nil {
		return nil, err
	}
	blocksDir := filepath.Join(work, "blocks")
	start := time.Now()
	if err := simulate.WriteBlocksDir(g, blocksDir, false); err != nil {
		return nil, err
	}
	res.GenerateSec = time.Since(start).Seconds()

	dsn, err = benchDatabase(dsn, "tracer_bench")
	if err != nil {
		return nil, err
	}
	pcfg := a.pipelineConfig()
	pcfg.NoCluster = true // the ingest benchmark measures ingest and the loader only
	pcfg.DataDir, pcfg.NATSURL, pcfg.NATSListen, pcfg.StoreDSN = filepath.Join(work, "data"), "", "127.0.0.1:0", dsn
	res.BatchRows = pcfg.Loader.BatchRows
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

	// 2. Baseline: the same rows, normalized beforehand, inserted directly.
	batches, txs, rows, ins, outs, err := normalizeAll(blocksDir, filepath.Join(work, "baseline-state"), pcfg.Loader.BatchRows)
	if err != nil {
		return nil, err
	}
	res.Txs, res.Rows = txs, rows
	res.InputsPerTx, res.OutputsPerTx = float64(ins)/float64(txs), float64(outs)/float64(txs)
	if err := reset(); err != nil {
		return nil, err
	}
	srv := newServerCPU(ctx, st.Conn())
	start, cpu := time.Now(), processCPU()
	for _, b := range batches {
		if err := st.Write(ctx, b); err != nil {
			return nil, err
		}
	}
	res.BaselineSec = time.Since(start).Seconds()
	res.BaselineCPUSec = (processCPU() - cpu).Seconds()
	res.ServerBaselineCPUSec = srv.since(ctx)
	batches = nil
	// The pipeline's peak memory, not the baseline's rows: give the heap
	// back and restart the kernel's high-water mark.
	debug.FreeOSMemory()
	resetPeakRSS()

	// 3. The pipeline, end to end.
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
	srv = newServerCPU(ctx, st.Conn())
	start, cpu = time.Now(), processCPU()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: blocksDir, To: -1, Confirmations: 1}); err != nil {
		return nil, err
	}
	res.PipelineSec = time.Since(start).Seconds()
	res.PipelineCPUSec = (processCPU() - cpu).Seconds()
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
	res.PeakRSSMiB = peakRSSMiB()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.GoHeapSysMiB = float64(ms.HeapSys) / (1 << 20)
	return res, nil
}

// serverCPU reads the CPU time a ClickHouse server has counted for its
// query threads (system.events), to measure a phase: since returns the
// seconds counted from newServerCPU on, 0 when the engine is chDB (its CPU
// is this process's) or the server counts none.
type serverCPU struct {
	conn  store.Conn
	start float64
	ok    bool
}

func newServerCPU(ctx context.Context, conn store.Conn) serverCPU {
	if embedded(conn.Engine()) {
		return serverCPU{}
	}
	v, ok := readServerCPU(ctx, conn)
	return serverCPU{conn: conn, start: v, ok: ok}
}

func (c serverCPU) since(ctx context.Context) float64 {
	if !c.ok {
		return 0
	}
	v, ok := readServerCPU(ctx, c.conn)
	if !ok || v < c.start {
		return 0
	}
	return v - c.start
}

func readServerCPU(ctx context.Context, conn store.Conn) (float64, bool) {
	rows, err := conn.Query(ctx, "SELECT toUInt64(sum(value)) FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')")
	if err != nil {
		return 0, false
	}
	defer rows.Close()
	var us uint64
	if !rows.Next() || rows.Scan(&us) != nil || us == 0 {
		return 0, false
	}
	return float64(us) / 1e6, true
}

// embedded reports whether the engine runs in this process (chDB).
func embedded(engine string) bool { return strings.HasPrefix(engine, "chdb") }

// serverCPUNote says whose CPU the process figures leave out: a server's
// (chDB runs in the process).
func serverCPUNote(engine string) string {
	if embedded(engine) {
		return ""
	}
	return "; the ClickHouse server's CPU is not counted"
}

// normalizeAll reads the blocks directory through its own chain state and
// returns the rows in loader-sized batches.
func normalizeAll(blocksDir, stateDir string, batchRows int) ([]*store.Batch, int64, int64, int64, int64, error) {
	ctx := context.Background()
	d, err := btc.OpenBlocksDir(blocksDir)
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	state, err := btc.OpenChainState(stateDir, 0, nil)
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	defer state.Close()
	best, err := d.BestHeight(ctx)
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	var (
		batches         []*store.Batch
		cur             = &store.Batch{}
		txs, rows, i, o int64
	)
	for h := int64(0); h <= best; h++ {
		hash, err := d.BlockHash(ctx, h)
		if err != nil {
			return nil, 0, 0, 0, 0, err
		}
		mb, err := d.Block(ctx, hash)
		if err != nil {
			return nil, 0, 0, 0, 0, err
		}
		b, err := btc.Normalize(mb, h, d.Params(), state)
		if err != nil {
			return nil, 0, 0, 0, 0, err
		}
		if _, err := state.Connect(b, false); err != nil {
			return nil, 0, 0, 0, 0, err
		}
		if err := cur.AddBlock(b, uint64(h+1)); err != nil {
			return nil, 0, 0, 0, 0, err
		}
		txs += int64(len(b.Txs))
		for _, tx := range b.Txs {
			if !tx.Coinbase {
				i += int64(len(tx.Inputs))
			}
			o += int64(len(tx.Outputs))
		}
		if cur.Rows() >= batchRows {
			rows += int64(cur.Rows())
			batches = append(batches, cur)
			cur = &store.Batch{}
		}
	}
	if cur.Len() > 0 {
		rows += int64(cur.Rows())
		batches = append(batches, cur)
	}
	return batches, txs, rows, i, o, nil
}

// peakRSSMiB reads the process's peak resident set (VmHWM) on Linux.
// resetPeakRSS restarts the process's resident-set high-water mark (Linux
// 4.0+, /proc/PID/clear_refs); elsewhere the peak covers the whole run.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSSMiB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// newClusterBenchCmd is `tracer bench cluster`.
func newClusterBenchCmd(a *app) *cobra.Command {
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
			cfg.ResetPeakRSS = resetPeakRSS
			cfg.PeakRSS = func() int64 { return int64(peakRSSMiB() * (1 << 20)) }
			cfg.CPUTime = processCPU
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			res, err := cluster.Bench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				return writeJSON(w, res)
			}
			t := newTable(w)
			goal := func(got, want float64) string { return fmt.Sprintf("%.2f× the goal of %.0f", got/want, want) }
			t.row("union-find alone", fmt.Sprintf("over %d ids", res.UnionIDs))
			t.row("  random pairs", fmt.Sprintf("%.0f unions/s (%d; baseline reading the pairs %.0f/s, ratio %.2f); %s",
				res.UnionsPerSec, res.Unions, res.BaselinePairsPerSec, res.UnionsPerSec/res.BaselinePairsPerSec, goal(res.UnionsPerSec, cluster.GoalUnionsPerSec)))
			t.row("  mainnet-shaped links", fmt.Sprintf("%.0f unions/s (%d; baseline %.0f/s, ratio %.2f); %s",
				res.MainnetUnionsPerSec, res.MainnetUnions, res.MainnetBaselinePairsPerSec, res.MainnetUnionsPerSec/res.MainnetBaselinePairsPerSec, goal(res.MainnetUnionsPerSec, cluster.GoalUnionsPerSec)))
			t.row("  forest bytes/address", fmt.Sprintf("%.1f (goal ≤ %d)", res.ForestBytesPerAddr, cluster.GoalForestBytesPerID))
			t.row("clusterer state", fmt.Sprintf("%d blocks, %d txs, %d inputs, %d links, %d merges, %d addresses mapped",
				res.Blocks, res.Txs, res.Inputs, res.Links, res.Merges, res.Addresses))
			t.row("  inputs/s", fmt.Sprintf("%.0f in %.2fs (id mapping, union-find, link index, commits); %s",
				res.InputsPerSec, res.ConnectSec, goal(res.InputsPerSec, cluster.GoalInputsPerSec)))
			if res.CPUSec > 0 {
				t.row("  inputs/CPU-second", fmt.Sprintf("%.0f (%.2f CPU-seconds, all threads: the figure to compare when the machine is shared)", res.InputsPerCPUSec, res.CPUSec))
			}
			t.row("  bytes/address", fmt.Sprintf("cluster state %.1f (forest and link heads; %.2f× the goal of ≤ %d), address map %.1f, Go heap in all %.1f",
				res.StateForestPerAddr, res.StateForestPerAddr/cluster.GoalForestBytesPerID, cluster.GoalForestBytesPerID, res.AddrMapBytesPerAddr, res.HeapBytesPerAddr))
			if res.PeakRSSBytes > 0 {
				t.row("  peak RSS", fmt.Sprintf("%.0f MiB (%.1f bytes/address, Pebble's cache and memtables included)",
					float64(res.PeakRSSBytes)/(1<<20), float64(res.PeakRSSBytes)/float64(max(res.Addresses, 1))))
			}
			t.row("  on disk", fmt.Sprintf("%.1f MiB (%.1f bytes/address)", float64(res.IndexBytes)/(1<<20), float64(res.IndexBytes)/float64(max(res.Addresses, 1))))
			t.row("  snapshot", fmt.Sprintf("%.3fs", res.SnapshotSec))
			t.row("  reload after restart", fmt.Sprintf("%.3fs", res.ReloadSec))
			return t.flush()
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

// processCPU is the CPU time the process has used, all threads, user
// and system (getrusage: one system call, microseconds; the cluster bench
// reads it twice a block); 0 where it cannot tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDatabase is dsn with its database replaced by db: never the user's
// own tables, a benchmark works in a database of its own. An empty dsn
// (embedded chDB) stays empty.
func benchDatabase(dsn, db string) (string, error) {
	if dsn == "" {
		return "", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("--clickhouse %q: %w", dsn, err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// truncate empties tables, which a benchmark refills.
func truncate(ctx context.Context, conn store.Conn, tables ...string) error {
	for _, t := range tables {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+t); err != nil {
			return err
		}
	}
	return nil
}
