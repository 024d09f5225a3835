package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace"
)

// ReportConfig configures Report.
type ReportConfig struct {
	// Pipeline is the base configuration: loader, clusterer and logger.
	Pipeline pipeline.Config
	// Work is the directory for the blocks, the data and the report files;
	// the caller removes it.
	Work string
	// DSN of a ClickHouse server (empty: embedded chDB under Work); the
	// benchmark works in its own database tracer_bench_report_SEED.
	DSN                        string
	Seed                       int64
	Blocks, TxsPerBlock, Users int
	// CPUProfile, when set, receives a CPU profile of the report (not of
	// the chain's making).
	CPUProfile string
}

// ReportResult is what Report measured.
type ReportResult struct {
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

// Report generates a mainnet-form chain, ingests it with the clusterer,
// labels the planted brokers, cartels and exchanges, and times an exposure
// report over every cluster with any exposure (report.BuildAll, then the
// JSON, CSV and HTML files). The baseline is one full scan of the clusters
// table.
func Report(ctx context.Context, cfg ReportConfig) (_ *ReportResult, err error) {
	sc := simulate.DefaultConfig()
	sc.Params, sc.Blocks, sc.TxsPerBlock, sc.Seed, sc.Users = &chaincfg.MainNetParams, cfg.Blocks, cfg.TxsPerBlock, cfg.Seed, cfg.Users
	g, err := simulate.New(sc)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Work, "blocks")
	if err := simulate.WriteBlocksDir(g, dir, false); err != nil {
		return nil, err
	}
	truth := g.Truth()
	dsn, err := Database(cfg.DSN, fmt.Sprintf("tracer_bench_report_%d", cfg.Seed))
	if err != nil {
		return nil, err
	}
	p, st, err := open(ctx, cfg.Pipeline, dataDir(cfg.Work), dsn, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	conn := st.Conn()
	if err := truncate(ctx, conn, "btc_blocks", "btc_txs", "btc_inputs", "btc_spends", "btc_outputs", "btc_address_io", "label_imports", "label_entries",
		"trace_btc_merges", "trace_btc_held", "trace_btc_address_cluster", "trace_btc_clusters"); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
		return nil, err
	}
	row := &ReportResult{Engine: conn.Engine(), Txs: truth.Txs, Users: cfg.Users, IngestSec: time.Since(t0).Seconds()}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := labelTruth(ctx, ls, chain.BTC, truthLabels(truth)); err != nil {
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
	stop, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stop()
	t0 = time.Now()
	src, err := report.LabelSources(ctx, ls, time.Time{}, members)
	if err != nil {
		return nil, err
	}
	rcfg := report.AllConfig{Config: report.Config{Name: "bench", Since: sc.StartTime.Add(-24 * time.Hour),
		Until: sc.StartTime.Add(time.Duration(cfg.Blocks)*840*time.Second + 24*time.Hour), Timeout: 10 * time.Minute}}
	rep, err := report.BuildAll(ctx, conn, trace.New(conn, ls), src, cl.ClustersOf, rcfg, nil, time.Now())
	if err != nil {
		return nil, err
	}
	row.BuildSec = time.Since(t0).Seconds()
	row.Subjects = len(rep.Subjects)
	t1 := time.Now()
	files, err := report.Write(filepath.Join(cfg.Work, "reports"), rep, []string{"json", "csv", "html"})
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
