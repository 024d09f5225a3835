package main

import (
	"fmt"
	"io"
	"os"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
)

func newInspectCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Decode raw chain data without a node or a store",
	}
	var format, network string
	btcBlock := &cobra.Command{
		Use:   "btc-block FILE",
		Short: "Decode one raw Bitcoin block (binary or hex, framed or not; - for stdin) and print it normalized",
		Long: `Decode one raw Bitcoin block and print it normalized: hash, height (from the
BIP34 coinbase when present), transactions with txid, the outpoints inputs
spend, and outputs' address, script type and value in satoshi. Input addresses
and values need the outputs they spend, which a single block does not hold.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			params, err := btc.ParamsByName(network)
			if err != nil {
				return err
			}
			var data []byte
			name := args[0]
			if name == "-" {
				name = "standard input"
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(name)
			}
			if err != nil {
				return err
			}
			mb, err := btc.DecodeRawBlock(data)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := btc.CheckMerkle(mb); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			height := int64(-1)
			if mb.Header.Version >= 2 && len(mb.Transactions) > 0 {
				if h, err := blockchain.ExtractCoinbaseHeight(btcutil.NewTx(mb.Transactions[0])); err == nil {
					height = int64(h)
				}
			}
			b, err := btc.Normalize(mb, height, params, nil)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), b)
			}
			w := cmd.OutOrStdout()
			t := newTable(w)
			t.row("hash", b.Hash)
			if height >= 0 {
				t.row("height", height)
			} else {
				t.row("height", "unknown (no BIP34 height in the coinbase)")
			}
			t.row("parent", b.Parent)
			t.row("time", ts(unixTime(b.Time)))
			t.row("size", b.Size)
			t.row("transactions", len(b.Txs))
			t.flush()
			fmt.Fprintln(w)
			t = newTable(w)
			t.row("tx", "txid", "inputs", "outputs", "output value")
			for _, tx := range b.Txs {
				t.row(tx.Index, tx.Txid, len(tx.Inputs), len(tx.Outputs), chain.FormatBTC(tx.OutputValue()))
			}
			return t.flush()
		},
	}
	btcBlock.Flags().StringVar(&format, "format", "table", "table or json")
	btcBlock.Flags().StringVar(&network, "network", "mainnet", "network for address encoding: mainnet, testnet3, testnet4, signet, regtest")
	cmd.AddCommand(btcBlock)
	cmd.AddCommand(newInspectETHBlockCmd())
	return cmd
}
