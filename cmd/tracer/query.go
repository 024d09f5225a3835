package main

import (
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"

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

	withStore := func(cmd *cobra.Command, f func(st *store.Store) error) error {
		if err := checkFormat(format, "table", "json"); err != nil {
			return err
		}
		p, err := a.open()
		if err != nil {
			return err
		}
		defer p.Close()
		st, err := p.Store(cmd.Context())
		if err != nil {
			return err
		}
		return f(st)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "address ADDR",
		Short: "Total received, total sent, balance, first and last seen, transaction count",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isEthereum(chainName, args[0]) {
				return withStore(cmd, func(st *store.Store) error { return ethQueryAddress(cmd, st, args[0], format) })
			}
			if chainName == "" {
				chainName = "btc"
			}
			if err := btc.CheckAddress(args[0]); err != nil {
				return err
			}
			return withStore(cmd, func(st *store.Store) error {
				s, err := st.Address(cmd.Context(), chainName, args[0])
				if err != nil {
					return notFound(err, "address "+args[0])
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), s)
				}
				t := newTable(cmd.OutOrStdout())
				t.row("address", s.Address)
				t.row("received", chain.FormatBTC(s.Received))
				t.row("sent", chain.FormatBTC(s.Sent))
				t.row("balance", chain.FormatBTC(s.Balance))
				t.row("first seen", ts(s.FirstSeen))
				t.row("last seen", ts(s.LastSeen))
				t.row("transactions", s.TxCount)
				t.row("outputs received", s.Outputs)
				t.row("outputs spent", s.Inputs)
				return t.flush()
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "tx TXID",
		Short: "A transaction with its inputs (source address and value) and outputs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isEthereum(chainName, args[0]) {
				return withStore(cmd, func(st *store.Store) error { return ethQueryTx(cmd, st, args[0], format) })
			}
			if chainName == "" {
				chainName = "btc"
			}
			if _, err := chainhash.NewHashFromStr(args[0]); err != nil || len(args[0]) != 64 {
				return fmt.Errorf("%q is not a transaction id (64 hex digits)", args[0])
			}
			return withStore(cmd, func(st *store.Store) error {
				txs, err := st.Tx(cmd.Context(), chainName, args[0])
				if err != nil {
					return notFound(err, "transaction "+args[0])
				}
				if format == "json" {
					if len(txs) == 1 {
						return writeJSON(cmd.OutOrStdout(), txs[0])
					}
					return writeJSON(cmd.OutOrStdout(), txs)
				}
				w := cmd.OutOrStdout()
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
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "stats",
		Short: "What the store holds per chain: blocks, transactions, transfers, addresses, tip (JSON: an array, one object per chain, unless --chain)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(st *store.Store) error {
				var es *store.EthStats
				if chainName == "" || chainName == "eth" {
					var err error
					if es, err = st.EthStats(cmd.Context()); err != nil {
						return err
					}
				}
				if chainName == "eth" {
					if format == "json" {
						return writeJSON(cmd.OutOrStdout(), es)
					}
					t := newTable(cmd.OutOrStdout())
					ethStatsRows(t, es)
					return t.flush()
				}
				s, err := st.Stats(cmd.Context(), "btc")
				if err != nil {
					return err
				}
				if format == "json" {
					if chainName == "" {
						return writeJSON(cmd.OutOrStdout(), []any{s, es})
					}
					return writeJSON(cmd.OutOrStdout(), s)
				}
				t := newTable(cmd.OutOrStdout())
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
				if es != nil {
					t.row("", "")
					ethStatsRows(t, es)
				}
				return t.flush()
			})
		},
	})
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
