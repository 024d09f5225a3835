package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/simulate"
)

func newSimulateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Generate synthetic chains with planted broker flows and ground truth",
	}
	cfg := simulate.DefaultConfig()
	var out string
	var xor bool
	btcCmd := &cobra.Command{
		Use:   "btc",
		Short: "Write a Bitcoin Core style blocks directory (blk*.dat, optional xor.dat) and truth.json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			g, err := simulate.New(cfg)
			if err != nil {
				return err
			}
			if err := simulate.WriteBlocksDir(g, out, xor); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d blocks to %s (ground truth in %s/truth.json)\n", cfg.Blocks, out, out)
			return nil
		},
	}
	f := btcCmd.Flags()
	f.IntVar(&cfg.Blocks, "blocks", cfg.Blocks, "number of blocks")
	f.IntVar(&cfg.TxsPerBlock, "txs-per-block", cfg.TxsPerBlock, "transactions per block (mainnet: about 2500)")
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed; the same seed writes the same bytes")
	f.StringVar(&out, "out", "", "output directory")
	f.BoolVar(&xor, "xor", false, "obfuscate blk files with a random xor.dat key, as Bitcoin Core 28+ does")
	cmd.AddCommand(btcCmd)
	cmd.AddCommand(newSimulateETHCmd())
	return cmd
}
