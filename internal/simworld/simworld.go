// Package simworld builds, for tests, a synthetic Bitcoin world in a real
// store: a simulated chain ingested through the pipeline (clusterer on)
// into a fresh ClickHouse database, with the planted brokers, cartels and
// exchanges labelled with the category of their truth entity.
package simworld

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// World is the store, its labels and the ground truth.
type World struct {
	Conn   store.Conn
	Labels *labels.Store
	Truth  *simulate.Truth
}

// New ingests a mainnet-form chain of blocks × txs transactions made with
// seed. The test's TestMain must run chserver.Main.
func New(tb testing.TB, ctx context.Context, blocks, txs int, seed int64) *World {
	tb.Helper()
	cfg := simulate.DefaultConfig()
	cfg.Params = &chaincfg.MainNetParams
	cfg.Blocks, cfg.TxsPerBlock, cfg.Users, cfg.Seed = blocks, txs, 1000, seed
	g, err := simulate.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "blocks")
	if err := simulate.WriteBlocksDir(g, dir, false); err != nil {
		tb.Fatal(err)
	}
	truth := g.Truth()
	p, err := pipeline.Open(pipeline.Config{DataDir: tb.TempDir(), StoreDSN: chserver.TempDatabase(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
		tb.Fatal(err)
	}
	st, err := p.Store(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		tb.Fatal(err)
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
		default:
			continue
		}
		for _, a := range e.Addresses {
			if _, err := labels.CanonicalAddress(chain.BTC, a); err != nil {
				tb.Fatalf("truth address %s of %s cannot be labelled: %v", a, e.Name, err)
			}
			fmt.Fprintf(&csv, "btc,%s,%s,%s,truth,100\n", a, e.Name, e.Kind)
		}
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		tb.Fatal(err)
	}
	return &World{Conn: st.Conn(), Labels: ls, Truth: truth}
}
