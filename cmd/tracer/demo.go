package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/demo"
)

func newDemoCmd(a *app) *cobra.Command {
	cfg := demo.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Simulate a small chain with planted precursor brokers and run it through the real pipeline",
		Long: `Simulate a small Bitcoin chain with planted precursor brokers, buyers, cartels
and exchanges, write it as a Bitcoin Core blocks directory (xor-obfuscated like
Core 28+), and run it through the real pipeline: blocks dir → ingest → embedded
NATS JetStream → loader → embedded ClickHouse (chDB). Then print what an
investigator looks at first. Everything lives under DATA/demo, which is
replaced on every run. The services log warnings and errors only, unless
--log-level is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Dir = filepath.Join(a.cfg.Data, "demo")
			cfg.Pipeline = a.pipelineConfig()
			if a.logLevel == "" {
				// The findings, not a line per alert.
				cfg.Pipeline.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			cfg.Self = self()
			btcProg, ethProg := newProgress(os.Stderr), newETHProgress(os.Stderr)
			cfg.Progress = demo.Progress{BTC: btcProg.update, BTCDone: btcProg.done, ETH: ethProg.update, ETHDone: ethProg.done}
			return demo.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Sim.Blocks, "blocks", cfg.Sim.Blocks, "blocks to simulate")
	f.IntVar(&cfg.Sim.TxsPerBlock, "txs-per-block", cfg.Sim.TxsPerBlock, "transactions per block")
	f.Int64Var(&cfg.Sim.Seed, "seed", cfg.Sim.Seed, "simulation seed")
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
