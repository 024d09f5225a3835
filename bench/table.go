package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/trace"
)

// table writes aligned columns for people, as the other tables of the
// tracer command do.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() error { return t.tw.Flush() }

// WorkDir makes a temporary directory for one benchmark, named after
// pattern as os.MkdirTemp names it. done removes it, or with keep leaves
// it and, when log is not nil, says where it is.
func WorkDir(pattern string, keep bool, log io.Writer) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, fmt.Errorf("bench work directory: %w", err)
	}
	if keep {
		return dir, func() {
			if log != nil {
				fmt.Fprintln(log, "kept", dir)
			}
		}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// WriteTable writes the result for people.
func (res *IngestResult) WriteTable(w io.Writer) error {
	t := newTable(w)
	t.row("engine", res.Engine)
	t.row("blocks / txs / rows", fmt.Sprintf("%d / %d / %d", res.Blocks, res.Txs, res.Rows))
	t.row("inputs, outputs per tx", fmt.Sprintf("%.2f, %.2f", res.InputsPerTx, res.OutputsPerTx))
	t.row("baseline (direct insert)", fmt.Sprintf("%.2fs  %.0f txs/s  %.0f rows/s", res.BaselineSec, res.BaselineTxs, res.BaselineRows))
	t.row("pipeline (end to end)", fmt.Sprintf("%.2fs  %.0f txs/s  %.0f rows/s", res.PipelineSec, res.PipelineTxs, res.PipelineRows))
	t.row("pipeline / baseline", fmt.Sprintf("%.2f", res.Ratio))
	if res.PipelineCPUSec > 0 {
		// chDB runs in this process; a server's CPU is not in its figures.
		note := ""
		if !Embedded(res.Engine) {
			note = "; the ClickHouse server's CPU is not counted"
		}
		t.row("CPU of this process", fmt.Sprintf("baseline %.2fs (%.1f µs/tx), pipeline %.2fs (%.1f µs/tx)%s",
			res.BaselineCPUSec, 1e6*res.BaselineCPUSec/float64(res.Txs), res.PipelineCPUSec, 1e6*res.PipelineCPUSec/float64(res.Txs), note))
	}
	if res.ServerPipelineCPUSec > 0 {
		t.row("CPU of the server", fmt.Sprintf("baseline %.2fs (%.1f µs/tx), pipeline %.2fs (%.1f µs/tx); its query threads (system.events), merges not counted",
			res.ServerBaselineCPUSec, 1e6*res.ServerBaselineCPUSec/float64(res.Txs), res.ServerPipelineCPUSec, 1e6*res.ServerPipelineCPUSec/float64(res.Txs)))
		t.row("CPU in all", fmt.Sprintf("baseline %.1f µs/tx, pipeline %.1f µs/tx",
			1e6*(res.BaselineCPUSec+res.ServerBaselineCPUSec)/float64(res.Txs), 1e6*(res.PipelineCPUSec+res.ServerPipelineCPUSec)/float64(res.Txs)))
	}
	t.row("peak RSS (pipeline)", fmt.Sprintf("%.0f MiB", res.PeakRSSMiB))
	return t.flush()
}

// WriteTable writes the result for people.
func (res *ETHIngestResult) WriteTable(w io.Writer) error {
	t := newTable(w)
	t.row("engine", res.Engine)
	t.row("senders", res.Senders)
	t.row("blocks / txs / transfers", fmt.Sprintf("%d / %d / %d", res.Blocks, res.Txs, res.Transfers))
	t.row("baseline (direct insert)", fmt.Sprintf("%.2fs  %.0f transfers/s", res.BaselineSec, res.BaselineRate))
	t.row("pipeline (end to end)", fmt.Sprintf("%.2fs  %.0f transfers/s", res.PipelineSec, res.PipelineRate))
	t.row("pipeline / baseline", fmt.Sprintf("%.2f", res.Ratio))
	t.row("checks + normalize alone", fmt.Sprintf("%.2fs  %.0f transfers/s (one goroutine)", res.DecodeOnlySec, res.DecodeOnlyRate))
	if res.PipelineCPUSec > 0 {
		t.row("CPU of this process", fmt.Sprintf("baseline %.2fs (%.0f transfers/CPU-s), pipeline %.2fs (%.0f transfers/CPU-s), checks alone %.2fs (%.0f transfers/CPU-s)",
			res.BaselineCPUSec, PerCPUSec(res.Transfers, res.BaselineCPUSec), res.PipelineCPUSec, PerCPUSec(res.Transfers, res.PipelineCPUSec),
			res.DecodeOnlyCPUSec, PerCPUSec(res.Transfers, res.DecodeOnlyCPUSec)))
		t.row("baseline / pipeline CPU", fmt.Sprintf("%.2f", res.CPURatio))
	}
	if res.LoadAvg != "" {
		t.row("load average at start", fmt.Sprintf("%s (%d CPUs)", res.LoadAvg, res.CPUs))
	}
	return t.flush()
}

// WriteAlertsTable writes the results of Alerts, one row a watch-list
// size, for people.
func WriteAlertsTable(w io.Writer, rows []AlertsResult) error {
	t := newTable(w)
	t.row("watched", "load", "blocks×txs", "alerts", "p50", "p99", "max", "plain msg p50/p99", "engine")
	for _, r := range rows {
		t.row(fmt.Sprint(r.Watched), fmt.Sprintf("%.2fs", r.LoadSec), fmt.Sprintf("%d×%d", r.Blocks, r.TxsPerBlk), fmt.Sprint(r.Alerts),
			fmt.Sprintf("%.1f ms", r.P50Millis), fmt.Sprintf("%.1f ms", r.P99Millis), fmt.Sprintf("%.1f ms", r.MaxMillis),
			fmt.Sprintf("%.2f/%.2f ms", r.BaseP50Ms, r.BaseP99Ms), r.Engine)
	}
	return t.flush()
}

// Cluster runs cluster.Bench with this process's figures (CPU time, peak
// resident set) and, when cpuProfile is not empty, a CPU profile of the
// whole run written there.
func Cluster(ctx context.Context, cfg cluster.BenchConfig, cpuProfile string) (cluster.BenchResult, error) {
	cfg.ResetPeakRSS = ResetPeakRSS
	cfg.PeakRSS = func() int64 { return int64(PeakRSSMiB() * (1 << 20)) }
	cfg.CPUTime = ProcessCPU
	stop, err := startCPUProfile(cpuProfile)
	if err != nil {
		return cluster.BenchResult{}, fmt.Errorf("cpu profile: %w", err)
	}
	defer stop()
	return cluster.Bench(ctx, cfg)
}

// WriteClusterTable writes the result of cluster.Bench for people, with
// its ratios to the clusterer's goals.
func WriteClusterTable(w io.Writer, res cluster.BenchResult) error {
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
}

// WriteTable writes the result for people, with its ratio to the goal of
// a report over 100,000 clusters in 60 s.
func (row *ReportResult) WriteTable(w io.Writer) error {
	t := newTable(w)
	t.row("engine", "txs", "clusters", "clustered addresses", "subjects", "report s", "(build s", "write s)", "baseline scan s", "html MiB", "heap MiB")
	t.row(row.Engine, row.Txs, row.Clusters, row.Addresses, row.Subjects, fmt.Sprintf("%.2f", row.ReportSec), fmt.Sprintf("%.2f", row.BuildSec),
		fmt.Sprintf("%.2f", row.WriteSec), fmt.Sprintf("%.3f", row.BaselineSec), fmt.Sprintf("%.1f", float64(row.HTMLBytes)/(1<<20)), fmt.Sprintf("%.0f", row.HeapInuseMiB))
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "goal: a report over 100,000 clusters in 60 s; this run: %d clusters in %.1f s (ratio to the baseline scan %.0fx)\n",
		row.Clusters, row.ReportSec, row.ReportSec/max(row.BaselineSec, 1e-9))
	return err
}

// WriteTraceTable writes the results of Trace, one row a seed, for
// people; then the parameters, the slowest traces and the latencies over
// all seeds against the goals.
func WriteTraceTable(w io.Writer, rows []TraceResult) error {
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
	fmt.Fprintf(w, "fill: %s\n", FillDescription(rows[0].Fill))
	for _, r := range rows {
		for _, st := range r.Slowest {
			fmt.Fprintf(w, "seed %d slow trace: %s, trace %d of the run, %.1f ms, %d outputs, %d queries\n", r.Seed, st.Start, st.Nth, st.MS, st.Nodes, st.Queries)
		}
	}
	p50, p99 := trace.Quantile(lat, 0.5), trace.Quantile(lat, 0.99)
	fmt.Fprintf(w, "all seeds: %d traces, p50 %.1f ms (%.2f× the goal of %.0f ms), p99 %.1f ms (%.2f× the goal of %.0f ms)\n",
		len(lat), p50, p50/GoalTraceP50, GoalTraceP50, p99, p99/GoalTraceP99, GoalTraceP99)
	if len(ex) > 0 {
		var sum float64
		for _, v := range ex {
			sum += v
		}
		mean := sum / float64(len(ex))
		fmt.Fprintf(w, "exposure: %d addresses, mean %.2f ms (%.3f× the goal of %.0f ms), p99 %.2f ms\n", len(ex), mean, mean/GoalExposureAvg, GoalExposureAvg, trace.Quantile(ex, 0.99))
	}
	return nil
}
