package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
)

// Config configures Run.
type Config struct {
	// Dir holds the demo's blocks, data and reports; Run replaces it.
	Dir string
	// Sim is the Bitcoin chain to simulate.
	Sim simulate.Config
	// Pipeline is the base configuration (store engine, loader, clusterer,
	// logger); the demo sets the data directory and the alert rules.
	Pipeline pipeline.Config
	// Self is how to run the tracer binary, in the commands the demo
	// suggests.
	Self string
	// Progress shows the ingests' progress to a person.
	Progress Progress
}

// Progress receives the ingests' progress; nil fields show nothing. Done is
// called when an ingest ends.
type Progress struct {
	BTC     func(btc.Progress)
	BTCDone func()
	ETH     func(eth.Progress)
	ETHDone func()
}

// DefaultConfig is the chain `tracer demo` simulates: mainnet form, so that
// the planted wallets can be labelled as real lists label them (labels take
// mainnet addresses).
func DefaultConfig() Config {
	sim := simulate.DefaultConfig()
	sim.Params = &chaincfg.MainNetParams
	sim.Blocks, sim.TxsPerBlock, sim.Seed = 120, 250, 7
	return Config{Sim: sim, Self: "tracer"}
}

func (c *Config) validate() error {
	switch {
	case c.Dir == "":
		return errors.New("demo: no directory")
	}
	return nil
}

// Run runs the demo and writes what it finds to w.
func Run(ctx context.Context, cfg Config, w io.Writer) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return err
	}
	blocksDir := filepath.Join(cfg.Dir, "blocks")
	start := time.Now()
	fmt.Fprintf(w, "1. Simulating %d blocks (%d txs each) with planted brokers into %s\n", cfg.Sim.Blocks, cfg.Sim.TxsPerBlock, blocksDir)
	g, err := simulate.New(cfg.Sim)
	if err != nil {
		return err
	}
	if err := simulate.WriteBlocksDir(g, blocksDir, true); err != nil {
		return err
	}
	truth := g.Truth()

	pcfg := cfg.Pipeline
	pcfg.DataDir = filepath.Join(cfg.Dir, "data")
	if pcfg.Alerts, err = alertRules(truth, pcfg.Logger); err != nil {
		return err
	}
	p, err := pipeline.Open(pcfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	engine := "embedded chDB"
	if pcfg.StoreDSN != "" {
		engine = pcfg.StoreDSN
	}
	fmt.Fprintf(w, "2. Ingesting: blk files → normalize → NATS JetStream → loader, clusterer and alerter → ClickHouse (%s)\n", engine)
	err = p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: blocksDir, To: -1, Confirmations: 1, Progress: cfg.Progress.BTC})
	if cfg.Progress.BTCDone != nil {
		cfg.Progress.BTCDone()
	}
	if err != nil {
		return err
	}
	st, err := p.Store(ctx)
	if err != nil {
		return err
	}
	stats, err := st.Stats(ctx, chain.BTC)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n3. The store holds\n")
	t := newTable(w)
	row(t, "  blocks", stats.Blocks, "tip", stats.TipHeight)
	row(t, "  transactions", stats.Txs, "addresses", stats.Addresses)
	row(t, "  inputs", stats.Inputs, "outputs", stats.Outputs)
	t.Flush()

	fmt.Fprintf(w, "\n4. Planted precursor brokers (from the ground truth), with what the store says they received\n")
	t = newTable(w)
	row(t, "  broker", "addresses", "received", "sent", "payments in", "example address")
	purchases := map[int]int{}
	for _, f := range truth.Flows {
		if f.Kind == simulate.FlowPurchase {
			purchases[f.To]++
		}
	}
	var example string
	for _, e := range truth.EntitiesOf(simulate.KindBroker) {
		var recv, sent int64
		used := 0
		for _, addr := range e.Addresses {
			s, err := st.Address(ctx, chain.BTC, addr)
			if err != nil {
				continue // an address the broker never used
			}
			recv += s.Received
			sent += s.Sent
			used++
		}
		if example == "" && len(e.Addresses) > 0 {
			example = e.Addresses[0]
		}
		row(t, "  "+e.Name, used, chain.FormatBTC(recv), chain.FormatBTC(sent), purchases[e.ID], e.Addresses[0])
	}
	t.Flush()
	clusterExample, err := clusters(ctx, w, st, truth, pcfg.NoCluster)
	if err != nil {
		return err
	}
	flows := map[simulate.FlowKind]int{}
	for _, f := range truth.Flows {
		flows[f.Kind]++
	}
	fmt.Fprintf(w, "\n   Planted flows: %d purchases, %d cash-outs to exchanges, %d payments to cartels (truth.json has every txid)\n",
		flows[simulate.FlowPurchase], flows[simulate.FlowCashOut], flows[simulate.FlowCartel])
	if err := alerts(ctx, w, st, truth, cfg, pcfg.DataDir); err != nil {
		return err
	}
	ethExample, err := ethereum(ctx, w, p, cfg, filepath.Join(cfg.Dir, "eth"))
	if err != nil {
		return err
	}
	reportFile, err := exposureReport(ctx, w, p, truth, cfg)
	if err != nil {
		return err
	}
	self, data := cfg.Self, pcfg.DataDir
	fmt.Fprintf(w, "\nDone in %s. Explore:\n", time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintf(w, "  %s --data %s query stats\n", self, data)
	if example != "" {
		fmt.Fprintf(w, "  %s --data %s query address %s\n", self, data, example)
	}
	if len(truth.Flows) > 0 {
		fmt.Fprintf(w, "  %s --data %s query tx %s\n", self, data, truth.Flows[0].Txid)
	}
	if clusterExample != "" {
		fmt.Fprintf(w, "  %s --data %s cluster show %s\n", self, data, clusterExample)
	}
	fmt.Fprintf(w, "  %s --data %s query address %s\n", self, data, ethExample)
	fmt.Fprintf(w, "  %s --data %s trace --chain btc --from label:precursor-broker --stop-at cartel,exchange\n", self, data)
	fmt.Fprintf(w, "  exposure report: %s\n", reportFile)
	fmt.Fprintf(w, "  ground truth: %s\n", filepath.Join(blocksDir, "truth.json"))
	return nil
}

// newTable aligns the demo's columns for people.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// row writes one row of cells to t.
func row(t *tabwriter.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t, "\t")
		}
		fmt.Fprint(t, c)
	}
	fmt.Fprintln(t)
}
