package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/clickhouse"
	"github.com/tracerproject/tracer/trace"
)

// TestServerCPU: the ingest benchmark reads a server's CPU from its
// system.events, and the counter moves with the work the server does.
func TestServerCPU(t *testing.T) {
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newServerCPU(ctx, conn)
	if !c.ok {
		t.Fatal("the server's system.events gave no CPU time")
	}
	// Enough work for the counters to move by more than their rounding.
	if err := conn.Exec(ctx, "CREATE TABLE cpu_t (k String) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	ks := make([]string, 300_000)
	for i := range ks {
		ks[i] = string(rune('a'+i%26)) + "-" + string(rune('A'+i%23))
	}
	if err := conn.Insert(ctx, "cpu_t", []store.Column{{Name: "k", Values: ks}}); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT count() FROM cpu_t WHERE NOT ignore(cityHash64(k))")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if got := c.since(ctx); got <= 0 {
		t.Errorf("server CPU after an insert of 300,000 rows: %v s", got)
	}
}

// quiet is a base pipeline configuration for the tests: the loader's
// default batches, no logs.
func quiet() pipeline.Config {
	return pipeline.Config{Loader: store.DefaultLoaderConfig("btc")}
}

// TestIngest: both phases store the same transactions, and the figures
// are filled in.
func TestIngest(t *testing.T) {
	res, err := Ingest(context.Background(), IngestConfig{Pipeline: quiet(), Work: t.TempDir(), Blocks: 4, TxsPerBlock: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Txs == 0 || res.Rows == 0 || res.BaselineSec <= 0 || res.PipelineSec <= 0 || res.Ratio <= 0 || !Embedded(res.Engine) {
		t.Errorf("got %+v, want txs, rows, both phases timed and a ratio on chDB", res)
	}
}

// TestIngestETH: the pipeline stores every transfer the decoder gave.
func TestIngestETH(t *testing.T) {
	res, err := IngestETH(context.Background(), ETHIngestConfig{Pipeline: quiet(), Work: t.TempDir(), Blocks: 3, TxsPerBlock: 20, TransfersPerBlock: 30, Seed: 1, NodeSenders: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transfers == 0 || res.Senders != "node" || res.Ratio <= 0 {
		t.Errorf("got %+v, want transfers, senders node and a ratio", res)
	}
}

// TestAlerts: every block's alerts reach the subscriber.
func TestAlerts(t *testing.T) {
	check := func(_, s string) (string, error) { return s, nil }
	res, err := Alerts(context.Background(), AlertsConfig{Pipeline: quiet(), Work: t.TempDir(), Watched: 10, Blocks: 3, TxsPerBlock: 20, AlertsPerBlock: 2, CheckAddress: check})
	if err != nil {
		t.Fatal(err)
	}
	if res.Alerts != 6 || res.P50Millis <= 0 || res.BaseP50Ms <= 0 {
		t.Errorf("got %+v, want 6 alerts and both latencies", res)
	}
}

// TestTrace: a filled store is traced, and a second run with the same
// work directory and settings reuses it.
func TestTrace(t *testing.T) {
	cfg := TraceConfig{Pipeline: quiet(), Work: t.TempDir(), Seed: 1, Blocks: 30, TxsPerBlock: 50, Users: 300, Exposures: 5, LiveExposures: 1,
		Fill: FillDirect, Trace: trace.DefaultConfig()}
	cfg.Trace.StopAt = []string{"exchange", "cartel"}
	first, err := Trace(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if first.Txs == 0 || first.Traces == 0 || first.Exposures != 5 {
		t.Fatalf("got %+v, want txs, traces and 5 exposures", first)
	}
	var log bytes.Buffer
	cfg.Log = &log
	second, err := Trace(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "reusing the store") || second.Txs != first.Txs || second.Traces != first.Traces {
		t.Errorf("second run: txs %d, traces %d, log %q; want the store of %d txs reused with %d traces", second.Txs, second.Traces, log.String(), first.Txs, first.Traces)
	}
	cfg.Fill = "neither"
	if _, err := Trace(context.Background(), cfg); err == nil {
		t.Error("fill neither: got nil error")
	}
}

// TestReport: the report covers clusters and the baseline read them.
func TestReport(t *testing.T) {
	res, err := Report(context.Background(), ReportConfig{Pipeline: quiet(), Work: t.TempDir(), Seed: 1, Blocks: 30, TxsPerBlock: 50, Users: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.Clusters == 0 || res.Subjects == 0 || res.HTMLBytes == 0 {
		t.Errorf("got %+v, want clusters, subjects and an HTML file", res)
	}
}
