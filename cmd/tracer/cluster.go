package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
)

func newClusterCmd(a *app) *cobra.Command {
	var format, chainFlag string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Address clusters: show a cluster, explain why two addresses are linked, list held merges",
		Long: `Address clusters built by the clusterer (tracer run, or tracer ingest on the
embedded NATS). Every merge of two clusters is stored with its evidence: the
transaction, the heuristic and its version, and the two clusters it joined.

Bitcoin clusters come from the multi-input heuristic (and, when enabled, the
change heuristics). Ethereum clusters come from deposit-address reuse: an
address that forwards what it received to a known exchange wallet (labelled
"exchange", or in cluster.deposit.exchanges) within the block window and
value tolerance is a deposit address, and its payers are linked with it; the
evidence is the payment and the sweep, with the rule and its confidence.`,
	}
	cmd.PersistentFlags().StringVar(&format, "format", "table", "table or json")
	cmd.PersistentFlags().StringVar(&chainFlag, "chain", "", "btc or eth (default: eth for 0x addresses, else btc; cluster run: btc, and eth too when eth.rpc is set, or all)")
	withService := func(cmd *cobra.Command, f func(ctx context.Context, s *service.Service, w io.Writer) error) error {
		if err := checkFormat(format, "table", "json"); err != nil {
			return err
		}
		return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
			return f(ctx, s, cmd.OutOrStdout())
		})
	}

	req := service.ClusterRequest{}
	show := &cobra.Command{
		Use:   "show ADDR|ID",
		Short: "A cluster's size, members (paged) and how it grew",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Subject, req.Chain = args[0], chainFlag
			return withService(cmd, func(ctx context.Context, s *service.Service, w io.Writer) error {
				c, err := s.Cluster(ctx, req)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(w, c)
				}
				if !c.Clustered() {
					fmt.Fprintf(w, "%s is in no cluster: no heuristic has linked it to another address (a cluster of its own)\n", c.Address)
					return nil
				}
				t := newTable(w)
				t.row("chain", c.Chain)
				t.row("cluster", c.ID)
				t.row("size", c.Size)
				t.row("merges", c.Merges)
				t.row("first seen", fmt.Sprintf("height %d", c.FirstSeen))
				t.row("first linked", fmt.Sprintf("height %d", c.FirstLinked))
				t.row("last changed", fmt.Sprintf("height %d", c.Height))
				t.flush()
				if len(c.Labels) > 0 {
					fmt.Fprintf(w, "\nlabels of its members\n")
					t := newTable(w)
					t.row("  category", "entity", "source", "members")
					for _, l := range c.Labels {
						t.row("  "+l.Category, l.Entity, l.Source, l.Members)
					}
					t.flush()
				}
				fmt.Fprintf(w, "\nmembers %d to %d of %d\n", c.Offset+1, c.Offset+len(c.Members), c.Size)
				for _, m := range c.Members {
					fmt.Fprintf(w, "  %s\n", m)
				}
				if len(c.Growth) > 0 {
					fmt.Fprintf(w, "\nhow it grew (first %d merges)\n", len(c.Growth))
					printEdges(w, c.Growth, true)
				}
				return nil
			})
		},
	}
	show.Flags().IntVar(&req.Offset, "offset", 0, "skip this many members (in address order)")
	show.Flags().IntVar(&req.Limit, "limit", 50, "members to list")
	show.Flags().IntVar(&req.Growth, "growth", 20, "merges to list, oldest first (0: none)")

	explain := &cobra.Command{
		Use:   "explain ADDR1 ADDR2",
		Short: "The chain of transactions that links two addresses, or that they are not linked",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withService(cmd, func(ctx context.Context, s *service.Service, w io.Writer) error {
				e, err := s.Explain(ctx, service.ExplainRequest{A: args[0], B: args[1], Chain: chainFlag})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(w, e)
				}
				if !e.Linked {
					fmt.Fprintf(w, "not linked: %s\n", strings.TrimPrefix(e.Reason, cluster.ErrNotLinked.Error()+": "))
					return nil
				}
				fmt.Fprintf(w, "%s and %s are linked by %d transactions:\n", e.A, e.B, len(e.Path))
				printEdges(w, e.Path, false)
				return nil
			})
		},
	}

	var heldLimit int
	held := &cobra.Command{
		Use:   "held",
		Short: "Merges the supercluster guard held for review",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withService(cmd, func(ctx context.Context, s *service.Service, w io.Writer) error {
				edges, err := s.Held(ctx, service.HeldRequest{Chain: chainFlag, Limit: heldLimit})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(w, edges)
				}
				if len(edges) == 0 {
					fmt.Fprintln(w, "no held merges")
					return nil
				}
				printEdges(w, edges, true)
				return nil
			})
		},
	}
	held.Flags().IntVar(&heldLimit, "limit", 100, "held merges to list")
	run := &cobra.Command{
		Use:   "run",
		Short: "Run the clusterer alone: the durable JetStream consumer \"clusterer\" that keeps the clusters current",
		Long: `Run the clusterer until interrupted, for deployments where each service runs
in its own process (an external NATS and ClickHouse server). tracer run and
tracer ingest (on the embedded NATS) run it themselves when cluster.enabled is
true. Its state (address ids, union-find snapshot, and on Ethereum the
payments waiting for a sweep) lives in DATA/trace/<chain>. --chain picks the
chains: btc, eth or all; by default Bitcoin, and Ethereum too when eth.rpc is
set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var chains []string
			switch chainFlag {
			case "":
				chains = a.clusterChains()
			case chain.BTC, chain.ETH:
				chains = []string{chainFlag}
			case "all":
				chains = []string{chain.BTC, chain.ETH}
			default:
				return fmt.Errorf("--chain %q: want btc, eth or all", chainFlag)
			}
			rc := a.runConfig()
			rc.Cluster = chains
			return pipeline.Run(cmd.Context(), rc)
		},
	}
	cmd.AddCommand(show, explain, held, run)
	return cmd
}

func printEdges(w io.Writer, edges []cluster.Edge, clusters bool) {
	deposit := false
	for _, e := range edges {
		deposit = deposit || e.SweepTxid != ""
	}
	t := newTable(w)
	head := []any{"  height", "txid", "heuristic", "address a", "address b"}
	if deposit {
		// Ethereum deposit reuse: a (the payer) paid b (the deposit
		// address) in txid; b forwarded it to the exchange wallet in the
		// sweep, at height.
		head = []any{"  height", "payment txid (a → b)", "sweep txid (b → exchange)", "heuristic", "rule (confidence)", "address a (payer)", "address b (deposit)", "exchange wallet"}
	}
	if clusters {
		head = append(head, "clusters joined (sizes)")
	}
	t.row(head...)
	for _, e := range edges {
		h := fmt.Sprintf("%s v%d", e.Heuristic, e.Version)
		row := []any{fmt.Sprintf("  %d", e.Height), e.Txid, h, e.AddressA, e.AddressB}
		if deposit {
			row = []any{fmt.Sprintf("  %d", e.Height), e.Txid, e.SweepTxid, h, fmt.Sprintf("%s (%d)", e.Rule, e.Confidence), e.AddressA, e.AddressB, e.Exchange}
		}
		if clusters {
			row = append(row, fmt.Sprintf("%d (%d) + %d (%d)", e.ClusterA, e.SizeA, e.ClusterB, e.SizeB))
		}
		t.row(row...)
	}
	t.flush()
}

// clusterChains are the chains whose clusterers tracer run and cluster run
// start: Bitcoin, and Ethereum when it is configured (eth.rpc).
func (a *app) clusterChains() []string {
	if a.cfg.ETH.RPC != "" {
		return []string{chain.BTC, chain.ETH}
	}
	return []string{chain.BTC}
}
