package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
)

func newDemoCmd(a *app) *cobra.Command {
	cfg := simulate.DefaultConfig()
	// Mainnet form, so that the planted wallets can be labelled as real
	// lists label them (labels take mainnet addresses).
	cfg.Params = &chaincfg.MainNetParams
	cfg.Blocks, cfg.TxsPerBlock, cfg.Seed = 120, 250, 7
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Simulate a small chain with planted precursor brokers and run it through the real pipeline",
		Long: `Simulate a small Bitcoin chain with planted precursor brokers, buyers, cartels
and exchanges, write it as a Bitcoin Core blocks directory (xor-obfuscated like
Core 28+), and run it through the real pipeline: blocks dir → ingest → embedded
NATS JetStream → loader → embedded ClickHouse (chDB). Then print what an
investigator looks at first. Everything lives under DATA/demo, which is
replaced on every run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			dir := filepath.Join(a.cfg.Data, "demo")
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			blocksDir := filepath.Join(dir, "blocks")
			start := time.Now()
			fmt.Fprintf(w, "1. Simulating %d blocks (%d txs each) with planted brokers into %s\n", cfg.Blocks, cfg.TxsPerBlock, blocksDir)
			g, err := simulate.New(cfg)
			if err != nil {
				return err
			}
			if err := simulate.WriteBlocksDir(g, blocksDir, true); err != nil {
				return err
			}
			truth := g.Truth()

			pcfg := a.pipelineConfig()
			pcfg.DataDir = filepath.Join(dir, "data")
			if pcfg.Alerts, err = demoAlertRules(truth, a.log); err != nil {
				return err
			}
			p, err := pipeline.Open(pcfg)
			if err != nil {
				return err
			}
			defer p.Close()
			engine := "embedded chDB"
			if pcfg.StoreDSN != "" {
				engine = pcfg.StoreDSN
			}
			fmt.Fprintf(w, "2. Ingesting: blk files → normalize → NATS JetStream → loader, clusterer and alerter → ClickHouse (%s)\n", engine)
			prog := newProgress(os.Stderr)
			err = p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: blocksDir, To: -1, Confirmations: 1, Progress: prog.update})
			prog.done()
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
			t.row("  blocks", stats.Blocks, "tip", stats.TipHeight)
			t.row("  transactions", stats.Txs, "addresses", stats.Addresses)
			t.row("  inputs", stats.Inputs, "outputs", stats.Outputs)
			t.flush()

			fmt.Fprintf(w, "\n4. Planted precursor brokers (from the ground truth), with what the store says they received\n")
			t = newTable(w)
			t.row("  broker", "addresses", "received", "sent", "payments in", "example address")
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
				t.row("  "+e.Name, used, btcAmount(recv), btcAmount(sent), purchases[e.ID], e.Addresses[0])
			}
			t.flush()
			clusterExample, err := demoClusters(ctx, w, st, truth, pcfg.NoCluster)
			if err != nil {
				return err
			}
			flows := map[simulate.FlowKind]int{}
			for _, f := range truth.Flows {
				flows[f.Kind]++
			}
			fmt.Fprintf(w, "\n   Planted flows: %d purchases, %d cash-outs to exchanges, %d payments to cartels (truth.json has every txid)\n",
				flows[simulate.FlowPurchase], flows[simulate.FlowCashOut], flows[simulate.FlowCartel])
			if err := demoAlerts(ctx, w, st, truth, self(), pcfg.DataDir); err != nil {
				return err
			}
			ethExample, err := demoETH(ctx, w, p, filepath.Join(dir, "eth"))
			if err != nil {
				return err
			}
			reportFile, err := demoReport(ctx, w, p, truth, cfg, dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\nDone in %s. Explore:\n", time.Since(start).Round(100*time.Millisecond))
			fmt.Fprintf(w, "  %s --data %s query stats\n", self(), pcfg.DataDir)
			if example != "" {
				fmt.Fprintf(w, "  %s --data %s query address %s\n", self(), pcfg.DataDir, example)
			}
			if len(truth.Flows) > 0 {
				fmt.Fprintf(w, "  %s --data %s query tx %s\n", self(), pcfg.DataDir, truth.Flows[0].Txid)
			}
			if clusterExample != "" {
				fmt.Fprintf(w, "  %s --data %s cluster show %s\n", self(), pcfg.DataDir, clusterExample)
			}
			fmt.Fprintf(w, "  %s --data %s query address %s\n", self(), pcfg.DataDir, ethExample)
			fmt.Fprintf(w, "  %s --data %s trace --chain btc --from label:precursor-broker --stop-at cartel,exchange\n", self(), pcfg.DataDir)
			fmt.Fprintf(w, "  exposure report: %s\n", reportFile)
			fmt.Fprintf(w, "  ground truth: %s\n", filepath.Join(blocksDir, "truth.json"))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Blocks, "blocks", cfg.Blocks, "blocks to simulate")
	f.IntVar(&cfg.TxsPerBlock, "txs-per-block", cfg.TxsPerBlock, "transactions per block")
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "simulation seed")
	return cmd
}

// self is how to run this binary again: its path relative to the working
// directory when it is below it (bin/tracer after make), else as invoked.
func self() string {
	exe, err := os.Executable()
	if err != nil {
		return "tracer"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return exe
}
