package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
)

// TestMetricsReportLag checks the figures an operator reads the lag from:
// after an ingest, the ingestor's height, its target and the loader's
// height are the chain's tip, and the counters add up over two runs.
func TestMetricsReportLag(t *testing.T) {
	c := simMakeChain(t, simConfig(&chaincfg.RegressionNetParams, 12, 20), false)
	tip := float64(len(c.blocks) - 1)
	reg := prometheus.NewRegistry()
	p, err := pipeline.Open(pipeline.Config{DataDir: t.TempDir(), StoreDSN: chserver.TempDatabase(t), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: c.dir, To: 5}); err != nil {
		t.Fatal(err)
	}
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: c.dir, To: -1}); err != nil {
		t.Fatal(err)
	}
	var txs int
	for _, b := range c.blocks {
		txs += len(b.Transactions)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				got[f.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[f.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"tracer_ingest_height":        tip,
		"tracer_ingest_target_height": tip,
		"tracer_ingest_blocks_total":  tip + 1,
		"tracer_ingest_txs_total":     float64(txs),
		"tracer_loader_height":        tip,
		"tracer_loader_txs_total":     float64(txs),
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if n := testutil.CollectAndCount(reg, "tracer_ingest_height"); n != 1 {
		t.Errorf("tracer_ingest_height: %d series, want 1", n)
	}
}
