package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/service"
	"github.com/tracerproject/tracer/store"
)

func newQueryCmd(a *app) *cobra.Command {
	var format, chainName string
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Look up an address, a transaction or what the store holds",
	}
	cmd.PersistentFlags().StringVar(&format, "format", "table", "table or json")
	cmd.PersistentFlags().StringVar(&chainName, "chain", "", "btc or eth (default: told by the argument, 0x… is Ethereum; stats: both chains)")

	withService := func(cmd *cobra.Command, f func(ctx context.Context, s *service.Service) error) error {
		if err := checkFormat(format, "table", "json"); err != nil {
			return err
		}
		return a.withService(cmd, f)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "address ADDR",
		Short: "Total received, total sent, balance, first and last seen, transaction count",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(ctx context.Context, s *service.Service) error {
				res, err := s.Address(ctx, service.AddressRequest{Address: args[0], Chain: chainName})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), res)
				}
				if res.ETH != nil {
					return writeETHAddress(cmd.OutOrStdout(), res.ETH)
				}
				sum := res.BTC
				t := newTable(cmd.OutOrStdout())
				t.row("address", sum.Address)
				t.row("received", chain.FormatBTC(sum.Received))
				t.row("sent", chain.FormatBTC(sum.Sent))
				t.row("balance", chain.FormatBTC(sum.Balance))
				t.row("first seen", ts(sum.FirstSeen))
				t.row("last seen", ts(sum.LastSeen))
				t.row("transactions", sum.TxCount)
				t.row("outputs received", sum.Outputs)
				t.row("outputs spent", sum.Inputs)
				return t.flush()
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "tx TXID",
		Short: "A transaction with its inputs (source address and value) and outputs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(ctx context.Context, s *service.Service) error {
				res, err := s.Tx(ctx, service.TxRequest{Txid: args[0], Chain: chainName})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), res)
				}
				if res.ETH != nil {
					return writeETHTx(cmd.OutOrStdout(), res.ETH)
				}
				return writeBTCTxs(cmd.OutOrStdout(), res.BTC)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "stats",
		Short: "What the store holds per chain: blocks, transactions, transfers, addresses, tip (JSON: an array, one object per chain, unless --chain)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(ctx context.Context, s *service.Service) error {
				res, err := s.Stats(ctx, service.StatsRequest{Chain: chainName})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), res)
				}
				t := newTable(cmd.OutOrStdout())
				if s := res.BTC; s != nil {
					t.row("chain", s.Chain)
					t.row("engine", s.Engine)
					t.row("blocks", s.Blocks)
					t.row("transactions", s.Txs)
					t.row("inputs", s.Inputs)
					t.row("outputs", s.Outputs)
					t.row("addresses", s.Addresses)
					if s.TipHeight >= 0 {
						t.row("tip", fmt.Sprintf("%d %s", s.TipHeight, s.TipHash))
					} else {
						t.row("tip", "-")
					}
					if res.ETH != nil {
						t.row("", "")
					}
				}
				if res.ETH != nil {
					ethStatsRows(t, res.ETH)
				}
				return t.flush()
			})
		},
	})
	return cmd
}

// writeBTCTxs prints Bitcoin transactions with their inputs and outputs.
func writeBTCTxs(w io.Writer, txs []store.TxDetail) error {
	for _, tx := range txs {
		t := newTable(w)
		t.row("txid", tx.Txid)
		t.row("block", fmt.Sprintf("%d %s", tx.BlockHeight, tx.BlockHash))
		t.row("time", ts(tx.Time))
		t.row("size / vsize", fmt.Sprintf("%d / %d", tx.Size, tx.Vsize))
		if tx.Coinbase {
			t.row("coinbase", "yes")
		} else {
			t.row("fee", chain.FormatBTC(tx.Fee))
		}
		t.flush()
		fmt.Fprintf(w, "\ninputs (%d, %s)\n", len(tx.Inputs), chain.FormatBTC(tx.InputValue))
		t = newTable(w)
		t.row("  n", "spends", "address", "type", "value")
		for _, in := range tx.Inputs {
			if in.Coinbase {
				t.row(fmt.Sprintf("  %d", in.N), "coinbase", "", "", "")
				continue
			}
			t.row(fmt.Sprintf("  %d", in.N), fmt.Sprintf("%s:%d", in.PrevTxid, in.PrevN), orDash(in.Address), in.ScriptType, chain.FormatBTC(in.Value))
		}
		t.flush()
		fmt.Fprintf(w, "\noutputs (%d, %s)\n", len(tx.Outputs), chain.FormatBTC(tx.OutputValue))
		t = newTable(w)
		t.row("  n", "address", "type", "value", "spent by")
		for _, o := range tx.Outputs {
			spent := "unspent"
			if o.SpentBy != "" {
				spent = o.SpentBy
			}
			t.row(fmt.Sprintf("  %d", o.N), orDash(o.Address), o.ScriptType, chain.FormatBTC(o.Value), spent)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
