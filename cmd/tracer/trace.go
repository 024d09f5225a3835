package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/trace"
)

// traceFlags are the flags trace and exposure share.
type traceFlags struct {
	chain, asset, model, minValue, since, until, asOf, format string
	hops, maxNodes                                            int
	timeout                                                   time.Duration
}

func (f *traceFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.chain, "chain", "btc", "chain to trace: btc (the UTXO graph) or eth (transfers, per asset)")
	cmd.Flags().StringVar(&f.asset, "asset", "", "eth: only this asset: ETH, a known token (USDT, USDC, ...) or a token contract (default: every asset the start moved)")
	cmd.Flags().StringVar(&f.model, "model", trace.Haircut, "taint model (config cluster.model): haircut (proportional), poison (all touched) or fifo (first in, first out per address; downstream only)")
	cmd.Flags().IntVar(&f.hops, "hops", trace.DefaultHops, fmt.Sprintf("at most this many hops (1..%d; config cluster.hops); moves inside one cluster are no hop", trace.MaxHops))
	cmd.Flags().StringVar(&f.minValue, "min-value", "0", "ignore taint below this: btc: satoshi (5000) or BTC (0.001btc); eth: base units of the asset (wei, 1000000 = 1 USDT)")
	cmd.Flags().StringVar(&f.since, "since", "", "follow only transactions at or after this time (2024-01-01 or RFC 3339)")
	cmd.Flags().StringVar(&f.until, "until", "", "follow only transactions at or before this time (2024-12-31 or RFC 3339)")
	cmd.Flags().IntVar(&f.maxNodes, "max-nodes", trace.DefaultMaxNodes, "stop after reaching this many tainted outputs (the output says so; config cluster.max_nodes)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", trace.DefaultTimeout, "stop after this long (the output says so; config cluster.timeout)")
	cmd.Flags().StringVar(&f.asOf, "labels-as-of", "", "use the labels as known on this date (YYYY-MM-DD or RFC 3339; default now)")
}

// config turns the flags, over the trace.* keys, into a taint
// configuration.
func (f *traceFlags) config(cmd *cobra.Command, a *app) (trace.Config, error) {
	c := trace.DefaultConfig()
	fl := cmd.Flags()
	if !fl.Changed("model") {
		f.model = a.cfg.Trace.Model
	}
	if !fl.Changed("hops") {
		f.hops = a.cfg.Trace.Hops
	}
	if !fl.Changed("max-nodes") {
		f.maxNodes = a.cfg.Trace.MaxNodes
	}
	if !fl.Changed("timeout") {
		f.timeout = a.cfg.Trace.Timeout.Duration
	}
	c.Model, c.Hops, c.MaxNodes, c.Timeout = f.model, f.hops, f.maxNodes, f.timeout
	switch f.chain {
	case chain.BTC:
		if f.asset != "" {
			return c, fmt.Errorf("--asset %q: Bitcoin has one asset; --asset is for --chain eth", f.asset)
		}
		v, err := parseSatoshi(f.minValue)
		if err != nil {
			return c, fmt.Errorf("--min-value: %w", err)
		}
		c.MinValue = v
	case chain.ETH:
		c.Chain = chain.ETH
		if f.asset != "" {
			asset, err := chain.ParseAsset(f.asset)
			if err != nil {
				return c, fmt.Errorf("--asset: %w", err)
			}
			c.Asset = asset
		}
		v, ok := new(big.Int).SetString(strings.TrimSpace(f.minValue), 10)
		if !ok || v.Sign() < 0 {
			return c, fmt.Errorf("--min-value %q: want a non-negative whole number of base units of the asset (wei; 1000000 is 1 USDT)", f.minValue)
		}
		c.MinUnits = v
	default:
		return c, fmt.Errorf("--chain %q: want btc or eth", f.chain)
	}
	var err error
	for _, tf := range []struct {
		name, s string
		dst     *time.Time
	}{{"since", f.since, &c.Since}, {"until", f.until, &c.Until}} {
		if tf.s == "" {
			continue
		}
		t, err := parseTraceTime(tf.s, tf.name == "until")
		if err != nil {
			return c, fmt.Errorf("--%s %q: want YYYY-MM-DD or an RFC 3339 time", tf.name, tf.s)
		}
		*tf.dst = t
	}
	if c.LabelsAsOf, err = parseAsOf(f.asOf); err != nil {
		return c, fmt.Errorf("--labels-as-of: %w", err)
	}
	return c, nil
}

// parseTraceTime reads a date (the whole day for an end) or RFC 3339 time.
func parseTraceTime(s string, end bool) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if end {
			t = t.Add(24*time.Hour - time.Second)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// parseSatoshi reads satoshi, or BTC with a btc suffix, exactly.
func parseSatoshi(s string) (int64, error) {
	ls := strings.ToLower(strings.TrimSpace(s))
	if b, ok := strings.CutSuffix(ls, "btc"); ok {
		whole, frac, _ := strings.Cut(strings.TrimSpace(b), ".")
		if len(frac) > 8 {
			return 0, fmt.Errorf("%q: more than 8 decimals", s)
		}
		w, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || w < 0 || w > 21_000_000 {
			return 0, fmt.Errorf("%q: not an amount of BTC", s)
		}
		var f int64
		if frac != "" {
			f, err = strconv.ParseInt(frac+strings.Repeat("0", 8-len(frac)), 10, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("%q: not an amount of BTC", s)
			}
		}
		return w*100_000_000 + f, nil
	}
	v, err := strconv.ParseInt(ls, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a non-negative number of satoshi or BTC with a btc suffix", s)
	}
	return v, nil
}

// withTracer opens the store, the labels and the clusters.
func (a *app) withTracer(ctx context.Context, f func(*trace.Tracer, *cluster.Clusters, *labels.Store) error) error {
	p, err := a.open()
	if err != nil {
		return err
	}
	defer p.Close()
	st, err := p.Store(ctx)
	if err != nil {
		return err
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		return err
	}
	return f(trace.New(st.Conn(), ls), cluster.NewClusters(st.Conn()), ls)
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
			cfg, err := f.config(cmd, a)
			if err != nil {
				return err
			}
			cfg.Direction = direction
			if !cmd.Flags().Changed("stop-at") {
				stopAt = strings.Join(a.cfg.Trace.StopAt, ",")
			}
			for _, s := range strings.Split(stopAt, ",") {
				if s = strings.TrimSpace(s); s != "" {
					cfg.StopAt = append(cfg.StopAt, s)
				}
			}
			if from == "" {
				return fmt.Errorf("--from is required: ADDR, cluster:ID or label:CATEGORY")
			}
			return a.withTracer(cmd.Context(), func(tr *trace.Tracer, cl *cluster.Clusters, ls *labels.Store) error {
				start, err := parseStart(cmd.Context(), cfg, from, cl, ls)
				if err != nil {
					return err
				}
				rs, err := tr.Trace(cmd.Context(), start, cfg)
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

// parseStart resolves --from on the configured chain.
func parseStart(ctx context.Context, cfg trace.Config, from string, cl *cluster.Clusters, ls *labels.Store) (trace.Start, error) {
	if cfg.Chain == chain.ETH {
		return trace.ParseAccountStart(ctx, cfg.Chain, from, ls, cfg.LabelsAsOf)
	}
	return trace.ParseStart(ctx, from, cl, ls, cfg.LabelsAsOf)
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
			if len(args) == 0 && !build {
				return fmt.Errorf("exposure: want an address or cluster:ID (or --build-index)")
			}
			if len(args) == 1 && strings.HasPrefix(args[0], "label:") {
				return fmt.Errorf("exposure of %s: want an address or cluster:ID", args[0])
			}
			if build && live {
				return fmt.Errorf("--build-index and --live: choose one")
			}
			cfg, err := f.config(cmd, a)
			if err != nil {
				return err
			}
			if build && cfg.Chain == chain.ETH {
				return fmt.Errorf("--build-index: the exposure index covers Bitcoin only (--chain %s is traced per subject)", cfg.Chain)
			}
			return a.withTracer(cmd.Context(), func(tr *trace.Tracer, cl *cluster.Clusters, ls *labels.Store) error {
				ctx := cmd.Context()
				if build {
					if cfg.Model != trace.Haircut || !cfg.LabelsAsOf.IsZero() {
						return fmt.Errorf("--build-index: the index is haircut with the labels of now (model %s, labels-as-of %v)", cfg.Model, cfg.LabelsAsOf)
					}
					ic := trace.DefaultIndexConfig()
					ic.Hops, ic.MinValue, ic.Since, ic.Until = cfg.Hops, cfg.MinValue, cfg.Since, cfg.Until
					b, err := tr.BuildExposureIndex(ctx, ic)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "exposure index build %d: %d subjects, %d rows from %d tainted outputs in %.1fs, as of block %d and %d label imports%s\n",
						b.Build, b.Subjects, b.Rows, b.Nodes, b.Seconds, b.BlockHeight, b.LabelImports, cappedNote(b.Capped))
					if len(args) == 0 {
						return nil
					}
				}
				start, err := parseStart(ctx, cfg, args[0], cl, ls)
				if err != nil {
					return err
				}
				if cfg.Chain == chain.ETH {
					exs, err := tr.AccountExposure(ctx, start, cfg)
					if err != nil {
						return err
					}
					if f.format == "json" {
						return writeJSON(cmd.OutOrStdout(), exs)
					}
					return trace.WriteAccountExposureTable(cmd.OutOrStdout(), exs)
				}
				var ex *trace.Exposure
				if !live {
					ex, err = indexedExposure(ctx, tr, cfg, args[0])
					if err != nil {
						var miss indexMiss
						if !errors.As(err, &miss) {
							return err
						}
						fmt.Fprintf(cmd.ErrOrStderr(), "tracing live: %s\n", miss)
					}
				}
				if ex == nil {
					if ex, err = tr.Exposure(ctx, start, cfg); err != nil {
						return err
					}
				}
				if f.format == "json" {
					return writeJSON(cmd.OutOrStdout(), ex)
				}
				return trace.WriteExposureTable(cmd.OutOrStdout(), ex)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.format, "format", "table", "table or json")
	cmd.Flags().BoolVar(&live, "live", false, "trace from the subject instead of reading the exposure index")
	cmd.Flags().BoolVar(&build, "build-index", false, "build the exposure index (Bitcoin, haircut) with these --hops, --min-value, --since, --until, then answer the subject if given")
	return cmd
}

// indexMiss says why the exposure index cannot answer.
type indexMiss string

func (m indexMiss) Error() string { return string(m) }

func cappedNote(c string) string {
	if c == "" {
		return ""
	}
	return "; INCOMPLETE: " + c
}

// indexedExposure reads subject's exposure from the index when its build
// matches cfg; an indexMiss says why not.
func indexedExposure(ctx context.Context, tr *trace.Tracer, cfg trace.Config, subject string) (*trace.Exposure, error) {
	if cfg.Model != trace.Haircut {
		return nil, indexMiss(fmt.Sprintf("the exposure index is haircut, not %s", cfg.Model))
	}
	if !cfg.LabelsAsOf.IsZero() {
		return nil, indexMiss("the exposure index uses the labels of its build, not --labels-as-of")
	}
	idx, err := tr.OpenExposureIndex(ctx)
	if errors.Is(err, trace.ErrNoIndex) {
		return nil, indexMiss("no exposure index in this store (tracer exposure --build-index builds it)")
	}
	if err != nil {
		return nil, err
	}
	b := idx.Build
	if b.Hops != cfg.Hops || b.MinValue != cfg.MinValue || !b.Since.Equal(cfg.Since) || !b.Until.Equal(cfg.Until) {
		return nil, indexMiss(fmt.Sprintf("the exposure index was built with %s; rebuild it with these flags (--build-index) to read it", b.Params))
	}
	return idx.Exposure(ctx, subject)
}
