package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/service"
	"github.com/tracerproject/tracer/trace"
)

// traceFlags are the flags trace and exposure share.
type traceFlags struct {
	opt            service.TraceOptions
	hops, maxNodes int
	timeout        time.Duration
	format         string
}

func (f *traceFlags) register(cmd *cobra.Command) {
	o := &f.opt
	cmd.Flags().StringVar(&o.Chain, "chain", "btc", "chain to trace: btc (the UTXO graph) or eth (transfers, per asset)")
	cmd.Flags().StringVar(&o.Asset, "asset", "", "eth: only this asset: ETH, a known token (USDT, USDC, ...) or a token contract (default: every asset the start moved)")
	cmd.Flags().StringVar(&o.Model, "model", trace.Haircut, "taint model (config cluster.model): haircut (proportional), poison (all touched) or fifo (first in, first out per address; downstream only)")
	cmd.Flags().IntVar(&f.hops, "hops", trace.DefaultHops, fmt.Sprintf("at most this many hops (1..%d; config cluster.hops); moves inside one cluster are no hop", trace.MaxHops))
	cmd.Flags().StringVar(&o.MinValue, "min-value", "0", "ignore taint below this: btc: satoshi (5000) or BTC (0.001btc); eth: base units of the asset (wei, 1000000 = 1 USDT)")
	cmd.Flags().StringVar(&o.Since, "since", "", "follow only transactions at or after this time (2024-01-01 or RFC 3339)")
	cmd.Flags().StringVar(&o.Until, "until", "", "follow only transactions at or before this time (2024-12-31 or RFC 3339)")
	cmd.Flags().IntVar(&f.maxNodes, "max-nodes", trace.DefaultMaxNodes, "stop after reaching this many tainted outputs (the output says so; config cluster.max_nodes)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", trace.DefaultTimeout, "stop after this long (the output says so; config cluster.timeout)")
	cmd.Flags().StringVar(&o.LabelsAsOf, "labels-as-of", "", "use the labels as known on this date (YYYY-MM-DD or RFC 3339; default now)")
}

// options are the flags' options; those with a configuration key that
// were not given are left to the service's configured defaults.
func (f *traceFlags) options(cmd *cobra.Command) service.TraceOptions {
	o := f.opt
	fl := cmd.Flags()
	if !fl.Changed("model") {
		o.Model = ""
	}
	if fl.Changed("hops") {
		o.Hops = &f.hops
	}
	if fl.Changed("max-nodes") {
		o.MaxNodes = &f.maxNodes
	}
	if fl.Changed("timeout") {
		o.Timeout = &f.timeout
	}
	return o
}

func newTraceCmd(a *app) *cobra.Command {
	var f traceFlags
	var from, direction, stopAt string
	cmd := &cobra.Command{
		Use:   "trace --from ADDR|cluster:ID|label:CATEGORY",
		Short: "Follow value from addresses downstream (where it went) or upstream (where it came from)",
		Long: `Follow value through the Bitcoin UTXO graph (--chain btc) or Ethereum transfers
(--chain eth), hop by hop, from a start set: an
address, a cluster's members (cluster:ID) or every address of a label category
(label:precursor-broker). Downstream follows the outputs a tainted transaction
creates to the transactions that spend them; upstream the inputs back to the
transactions that created them.

Models: haircut splits taint in proportion to value (floor per output, at most
one satoshi lost per output per hop), poison taints all that a tainted
transaction touches, fifo takes money out of each address first in, first out
(downstream only). A move between two addresses of one cluster is no hop.
Outputs at addresses labelled with a --stop-at category end a path.

The result lists the endpoints (address, cluster, labels, tainted amount, hops,
why the path ended) and the path to each, with txid, block, time, amount and
the clusterer's evidence for steps inside a cluster. The model and all its
parameters are printed with every result.

Ethereum (--chain eth) is traced per asset (ETH and each token contract; --asset
picks one): an address is a balance, taint arrives with a transfer and only
transfers leaving the address after it carry it on. Failed transfers and
zero-value token transfers (address poisoning) move nothing. Haircut gives each
outgoing transfer the address's tainted share of its balance at that moment,
fifo takes from the address's queue of received amounts; money an address spent
beyond what the store saw it receive is counted as a clean opening balance.
--min-value is in base units of the asset. Addresses may be in any case (mixed
case must pass its EIP-55 checksum); cluster:ID is not available for eth yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(f.format, trace.Formats...); err != nil {
				return err
			}
			req := service.TraceRequest{From: from, Direction: direction, TraceOptions: f.options(cmd)}
			if cmd.Flags().Changed("stop-at") {
				req.StopAt = strings.Split(stopAt, ",")
			}
			return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
				rs, err := s.Trace(ctx, req)
				if err != nil {
					return err
				}
				return writeTrace(cmd.OutOrStdout(), f.format, rs)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "start: ADDR, cluster:ID or label:CATEGORY")
	cmd.Flags().StringVar(&direction, "direction", trace.Down, "down (where the money went), up (where it came from) or both")
	cmd.Flags().StringVar(&stopAt, "stop-at", "exchange,mixer", "label categories that end a path (comma-separated; empty: none; config cluster.stop_at)")
	cmd.Flags().StringVar(&f.format, "format", "table", "table, json, csv or dot (Graphviz)")
	return cmd
}

func writeTrace(w io.Writer, format string, rs []*trace.Result) error {
	switch format {
	case "json":
		return writeJSON(w, rs)
	case "csv":
		return trace.WriteCSV(w, rs)
	case "dot":
		return trace.WriteDOT(w, rs)
	}
	return trace.WriteTable(w, rs)
}

func newExposureCmd(a *app) *cobra.Command {
	var f traceFlags
	var live, build bool
	cmd := &cobra.Command{
		Use:   "exposure ADDR|cluster:ID [--live] [--chain eth] | exposure --build-index",
		Short: "How much of what an address or cluster received came from, and sent went to, each label category",
		Long: `Exposure is how much of what an address or cluster received came from each
label category (precursor-broker, cartel, exchange, ...), and of what it sent
went to each: directly (one hop) and indirectly (through unlabelled
intermediaries, up to --hops), under haircut, every labelled address ending a
path.

On Bitcoin it is read from the exposure index when one matches the flags
(haircut, the same --hops, --min-value, --since and --until, labels as of
now): a keyed read, milliseconds on any store. The output says which build
answered, as of which block and label import, and whether the chain or the
labels have moved since (stale: rebuild). tracer exposure --build-index
(re)builds the index with the given flags: one trace downstream and one
upstream from each label category, minutes on a large store; run it after
label imports and as the chain grows (a report schedule or cron).

--live (or flags the index does not match, or no index) traces upstream and
downstream from the subject instead (fifo has no upstream rule; the received
side then uses haircut). With --chain eth: always traced, one exposure per
asset (ETH, each token), amounts exact in the asset's units; cluster:ID waits
for an Ethereum clusterer.`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(f.format, "table", "json"); err != nil {
				return err
			}
			if build && live {
				return fmt.Errorf("--build-index and --live: choose one")
			}
			req := service.ExposureRequest{Live: live, TraceOptions: f.options(cmd)}
			if len(args) == 1 {
				req.Subject = args[0]
			}
			if len(args) == 1 || !build {
				if err := req.Check(); err != nil {
					return err
				}
			}
			return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
				if build {
					b, err := s.BuildExposureIndex(ctx, req.TraceOptions)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "exposure index build %d: %d subjects, %d rows from %d tainted outputs in %.1fs, as of block %d and %d label imports%s\n",
						b.Build, b.Subjects, b.Rows, b.Nodes, b.Seconds, b.BlockHeight, b.LabelImports, cappedNote(b.Capped))
					if len(args) == 0 {
						return nil
					}
				}
				ex, err := s.Exposure(ctx, req)
				if err != nil {
					return err
				}
				if ex.IndexMiss != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "tracing live: %s\n", ex.IndexMiss)
				}
				switch {
				case f.format == "json":
					return writeJSON(cmd.OutOrStdout(), ex)
				case ex.BTC == nil:
					return trace.WriteAccountExposureTable(cmd.OutOrStdout(), ex.ETH)
				}
				return trace.WriteExposureTable(cmd.OutOrStdout(), ex.BTC)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.format, "format", "table", "table or json")
	cmd.Flags().BoolVar(&live, "live", false, "trace from the subject instead of reading the exposure index")
	cmd.Flags().BoolVar(&build, "build-index", false, "build the exposure index (Bitcoin, haircut) with these --hops, --min-value, --since, --until, then answer the subject if given")
	return cmd
}

func cappedNote(c string) string {
	if c == "" {
		return ""
	}
	return "; INCOMPLETE: " + c
}
