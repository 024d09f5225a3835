package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace"
)

// reportBenchRow is what `tracer bench report` measured.
type reportBenchRow struct {
	Engine       string  `json:"engine"`
	Txs          int64   `json:"txs"`
	Users        int     `json:"users"`
	Clusters     uint64  `json:"clusters"`
	Addresses    uint64  `json:"clustered_addresses"`
	IngestSec    float64 `json:"ingest_seconds"`
	Subjects     int     `json:"subjects_reported"`
	BuildSec     float64 `json:"build_seconds"`
	WriteSec     float64 `json:"write_seconds"`
	ReportSec    float64 `json:"report_seconds"`
	BaselineSec  float64 `json:"baseline_seconds"`
	HTMLBytes    int64   `json:"html_bytes"`
	HeapInuseMiB float64 `json:"heap_inuse_mib"`
}

func newBenchReportCmd(a *app) *cobra.Command {
	var (
		blocks, txs, users      int
		seed                    int64
		dsn, format, cpuProfile string
		keep                    bool
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
			work, err := os.MkdirTemp("", "tracer-bench-report-")
			if err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(work)
			}
			if dsn == "" {
				dsn = a.cfg.Store.DSN
			}
			row, err := runReportBench(cmd.Context(), a, work, dsn, seed, blocks, txs, users, cpuProfile)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				return json.NewEncoder(w).Encode(row)
			}
			t := newTable(w)
			t.row("engine", "txs", "clusters", "clustered addresses", "subjects", "report s", "(build s", "write s)", "baseline scan s", "html MiB", "heap MiB")
			t.row(row.Engine, row.Txs, row.Clusters, row.Addresses, row.Subjects, fmt.Sprintf("%.2f", row.ReportSec), fmt.Sprintf("%.2f", row.BuildSec),
				fmt.Sprintf("%.2f", row.WriteSec), fmt.Sprintf("%.3f", row.BaselineSec), fmt.Sprintf("%.1f", float64(row.HTMLBytes)/(1<<20)), fmt.Sprintf("%.0f", row.HeapInuseMiB))
			t.flush()
			fmt.Fprintf(w, "goal: a report over 100,000 clusters in 60 s; this run: %d clusters in %.1f s (ratio to the baseline scan %.0fx)\n",
				row.Clusters, row.ReportSec, row.ReportSec/max(row.BaselineSec, 1e-9))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&blocks, "blocks", 120, "blocks of the synthetic chain")
	f.IntVar(&txs, "txs-per-block", 2500, "transactions per block")
	f.IntVar(&users, "users", 150_000, "ordinary users (owners) of the chain")
	f.Int64Var(&seed, "seed", 1, "seed of the chain")
	f.StringVar(&dsn, "clickhouse", "", "ClickHouse server DSN (default: the configured store, chDB when unset)")
	f.StringVar(&format, "format", "table", "table or json")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the report (not the chain's making) to this file (go tool pprof)")
	return cmd
}

func runReportBench(ctx context.Context, a *app, work, dsn string, seed int64, blocks, txsPerBlock, users int, cpuProfile string) (*reportBenchRow, error) {
	sc := simulate.DefaultConfig()
	sc.Params, sc.Blocks, sc.TxsPerBlock, sc.Seed, sc.Users = &chaincfg.MainNetParams, blocks, txsPerBlock, seed, users
	g, err := simulate.New(sc)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "blocks")
	if err := simulate.WriteBlocksDir(g, dir, false); err != nil {
		return nil, err
	}
	truth := g.Truth()
	dsn, err = benchDatabase(dsn, fmt.Sprintf("tracer_bench_report_%d", seed))
	if err != nil {
		return nil, err
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
	if err := truncate(ctx, conn, "btc_blocks", "btc_txs", "btc_inputs", "btc_spends", "btc_outputs", "btc_address_io", "label_imports", "label_entries",
		"trace_btc_merges", "trace_btc_held", "trace_btc_address_cluster", "trace_btc_clusters"); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
		return nil, err
	}
	row := &reportBenchRow{Engine: conn.Engine(), Txs: truth.Txs, Users: users, IngestSec: time.Since(t0).Seconds()}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
			for _, ad := range e.Addresses {
				if _, err := labels.CanonicalAddress(chain.BTC, ad); err == nil {
					fmt.Fprintf(&csv, "btc,%s,%s,%s,truth,100\n", ad, e.Name, e.Kind)
				}
			}
		}
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		return nil, err
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		return nil, err
	}
	// Baseline: every cluster read once.
	t0 = time.Now()
	rows, err := conn.Query(ctx, "SELECT uniqExact(cluster), count() FROM (SELECT address, argMax(cluster, seq) AS cluster FROM trace_btc_address_cluster GROUP BY address)")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		if err := rows.Scan(&row.Clusters, &row.Addresses); err != nil {
			rows.Close()
			return nil, err
		}
	}
	rows.Close()
	row.BaselineSec = time.Since(t0).Seconds()

	cl := cluster.NewClusters(conn)
	members := func(ctx context.Context, id string) ([]string, error) {
		start, err := trace.ParseStart(ctx, "cluster:"+id, cl, ls, time.Time{})
		return start.Addresses, err
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
	t0 = time.Now()
	src, err := report.LabelSources(ctx, ls, time.Time{}, members)
	if err != nil {
		return nil, err
	}
	cfg := report.AllConfig{Config: report.Config{Name: "bench", Since: sc.StartTime.Add(-24 * time.Hour),
		Until: sc.StartTime.Add(time.Duration(blocks)*840*time.Second + 24*time.Hour), Timeout: 10 * time.Minute}}
	rep, err := report.BuildAll(ctx, conn, trace.New(conn, ls), src, cl.ClustersOf, cfg, nil, time.Now())
	if err != nil {
		return nil, err
	}
	row.BuildSec = time.Since(t0).Seconds()
	row.Subjects = len(rep.Subjects)
	t1 := time.Now()
	files, err := report.Write(filepath.Join(work, "reports"), rep, []string{"json", "csv", "html"})
	if err != nil {
		return nil, err
	}
	row.WriteSec = time.Since(t1).Seconds()
	row.ReportSec = time.Since(t0).Seconds()
	for _, f := range files {
		if filepath.Ext(f) == ".html" {
			if fi, err := os.Stat(f); err == nil {
				row.HTMLBytes = fi.Size()
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	row.HeapInuseMiB = float64(ms.HeapInuse) / (1 << 20)
	return row, nil
}
