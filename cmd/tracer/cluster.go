package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/ingest"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
	"github.com/tracerproject/tracer/trace/heuristic"
)

// clusterConfig turns the cluster.* keys into the clusterer's configuration.
func (a *app) clusterConfig() trace.Config {
	c := trace.DefaultConfig(ingest.ChainBTC)
	c.Heuristics = heuristic.Config{MultiInput: a.cfg.Cluster.MultiInput, Change: a.cfg.Cluster.Change, Dust: a.cfg.Cluster.Dust}
	c.Supercluster = uint32(min(max(a.cfg.Cluster.SuperclusterSize, 0), 1<<32-1))
	c.BatchWait = a.cfg.Cluster.BatchWait.Duration
	c.AckWait = a.cfg.Cluster.AckWait.Duration
	c.SnapshotInterval = a.cfg.Cluster.SnapshotInterval.Duration
	if c.IdleWait > c.BatchWait {
		c.IdleWait = c.BatchWait
	}
	return c
}

func newClusterCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Address clusters: show a cluster, explain why two addresses are linked, list held merges",
		Long: `Address clusters built by the clusterer (tracer run, or tracer ingest on the
embedded NATS). Every merge of two clusters is stored with its evidence: the
transaction, the heuristic and its version, and the two clusters it joined.`,
	}
	cmd.PersistentFlags().StringVar(&format, "format", "table", "table or json")
	var opened *store.Store // the store withClusters opened, for labels
	withClusters := func(cmd *cobra.Command, f func(ctx context.Context, c *trace.Clusters, w io.Writer) error) error {
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
		opened = st
		return f(cmd.Context(), trace.NewClusters(st.Conn()), cmd.OutOrStdout())
	}

	var offset, limit, growth int
	show := &cobra.Command{
		Use:   "show ADDR|ID",
		Short: "A cluster's size, members (paged) and how it grew",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if offset < 0 || limit < 0 || growth < 0 {
				return errors.New("--offset, --limit and --growth must not be negative")
			}
			return withClusters(cmd, func(ctx context.Context, c *trace.Clusters, w io.Writer) error {
				id, err := clusterID(ctx, c, args[0])
				if errors.Is(err, trace.ErrNotClustered) {
					if format == "json" {
						return writeJSON(w, map[string]any{"address": args[0], "cluster": nil, "size": 1})
					}
					fmt.Fprintf(w, "%s is in no cluster: no heuristic has linked it to another address (a cluster of its own)\n", args[0])
					return nil
				}
				if err != nil {
					return err
				}
				sum, err := c.Cluster(ctx, id)
				if err != nil {
					return err
				}
				members, err := c.Members(ctx, id, offset, limit)
				if err != nil {
					return err
				}
				var grew []trace.Edge
				if growth > 0 {
					if grew, err = c.Growth(ctx, id, growth); err != nil {
						return err
					}
				}
				lbls, err := memberLabels(ctx, opened, c, id)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(w, struct {
						trace.Cluster
						Labels  []clusterLabel `json:"labels"`
						Offset  int            `json:"offset"`
						Members []string       `json:"members"`
						Growth  []trace.Edge   `json:"growth"`
					}{sum, lbls, offset, members, grew})
				}
				t := newTable(w)
				t.row("cluster", sum.ID)
				t.row("size", sum.Size)
				t.row("merges", sum.Merges)
				t.row("first seen", fmt.Sprintf("height %d", sum.FirstSeen))
				t.row("first linked", fmt.Sprintf("height %d", sum.FirstLinked))
				t.row("last changed", fmt.Sprintf("height %d", sum.Height))
				t.flush()
				if len(lbls) > 0 {
					fmt.Fprintf(w, "\nlabels of its members\n")
					t := newTable(w)
					t.row("  category", "entity", "source", "members")
					for _, l := range lbls {
						t.row("  "+l.Category, l.Entity, l.Source, l.Members)
					}
					t.flush()
				}
				fmt.Fprintf(w, "\nmembers %d to %d of %d\n", offset+1, offset+len(members), sum.Size)
				for _, m := range members {
					fmt.Fprintf(w, "  %s\n", m)
				}
				if len(grew) > 0 {
					fmt.Fprintf(w, "\nhow it grew (first %d merges)\n", len(grew))
					printEdges(w, grew, true)
				}
				return nil
			})
		},
	}
	show.Flags().IntVar(&offset, "offset", 0, "skip this many members (in address order)")
	show.Flags().IntVar(&limit, "limit", 50, "members to list")
	show.Flags().IntVar(&growth, "growth", 20, "merges to list, oldest first (0: none)")

	explain := &cobra.Command{
		Use:   "explain ADDR1 ADDR2",
		Short: "The chain of transactions that links two addresses, or that they are not linked",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, s := range args {
				if err := btc.CheckAddress(s); err != nil {
					return err
				}
			}
			return withClusters(cmd, func(ctx context.Context, c *trace.Clusters, w io.Writer) error {
				path, err := c.Explain(ctx, args[0], args[1])
				if errors.Is(err, trace.ErrNotLinked) {
					if format == "json" {
						return writeJSON(w, map[string]any{"linked": false, "reason": err.Error()})
					}
					fmt.Fprintf(w, "not linked: %s\n", strings.TrimPrefix(err.Error(), trace.ErrNotLinked.Error()+": "))
					return nil
				}
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(w, map[string]any{"linked": true, "path": path})
				}
				fmt.Fprintf(w, "%s and %s are linked by %d transactions:\n", args[0], args[1], len(path))
				printEdges(w, path, false)
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
			return withClusters(cmd, func(ctx context.Context, c *trace.Clusters, w io.Writer) error {
				edges, err := c.Held(ctx, heldLimit)
				if err != nil {
					return err
				}
				if format == "json" {
					if edges == nil {
						edges = []trace.Edge{}
					}
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
true. Its state (address ids, union-find snapshot) lives in DATA/trace/btc.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd, func(ctx context.Context, p *pipeline.Pipeline, eg *errgroup.Group) (func() error, error) {
				cl, js, err := p.Clusterer(ctx, ingest.ChainBTC)
				if err != nil {
					return nil, err
				}
				eg.Go(func() error { return cl.Run(ctx, js) })
				return cl.Close, nil
			})
		},
	}
	cmd.AddCommand(show, explain, held, run)
	return cmd
}

// clusterID reads ADDR|ID: a number is a cluster id, anything else an
// address.
// clusterLabel is a label carried by members of a cluster.
type clusterLabel struct {
	Category string `json:"category"`
	Entity   string `json:"entity"`
	Source   string `json:"source"`
	Members  int    `json:"members"`
}

// maxLabelMembers bounds the members whose labels cluster show reads: past
// it (an exchange's cluster) the labels are of the first members only.
const maxLabelMembers = 100_000

// memberLabels sums the labels in force on a cluster's members.
func memberLabels(ctx context.Context, st *store.Store, c *trace.Clusters, id uint32) ([]clusterLabel, error) {
	members, err := c.Members(ctx, id, 0, maxLabelMembers)
	if err != nil {
		return nil, err
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		return nil, err
	}
	byAddr, err := ls.Lookup(ctx, labels.ChainBTC, members, time.Time{})
	if err != nil {
		return nil, err
	}
	count := map[clusterLabel]int{}
	for _, list := range byAddr {
		for _, l := range list {
			count[clusterLabel{Category: l.Category, Entity: l.Entity, Source: l.Source}]++
		}
	}
	out := make([]clusterLabel, 0, len(count))
	for l, n := range count {
		l.Members = n
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Members != out[j].Members {
			return out[i].Members > out[j].Members
		}
		return out[i].Category+out[i].Entity+out[i].Source < out[j].Category+out[j].Entity+out[j].Source
	})
	return out, nil
}

func clusterID(ctx context.Context, c *trace.Clusters, arg string) (uint32, error) {
	if n, err := strconv.ParseUint(arg, 10, 32); err == nil {
		return uint32(n), nil
	}
	if err := btc.CheckAddress(arg); err != nil {
		return 0, fmt.Errorf("%q is neither a cluster id nor an address: %w", arg, err)
	}
	return c.ClusterOf(ctx, arg)
}

func printEdges(w io.Writer, edges []trace.Edge, clusters bool) {
	t := newTable(w)
	if clusters {
		t.row("  height", "txid", "heuristic", "address a", "address b", "clusters joined (sizes)")
	} else {
		t.row("  height", "txid", "heuristic", "address a", "address b")
	}
	for _, e := range edges {
		h := fmt.Sprintf("%s v%d", e.Heuristic, e.Version)
		if clusters {
			t.row(fmt.Sprintf("  %d", e.Height), e.Txid, h, e.AddressA, e.AddressB, fmt.Sprintf("%d (%d) + %d (%d)", e.ClusterA, e.SizeA, e.ClusterB, e.SizeB))
		} else {
			t.row(fmt.Sprintf("  %d", e.Height), e.Txid, h, e.AddressA, e.AddressB)
		}
	}
	t.flush()
}

// demoClusters prints the planted brokers' clusters for `tracer demo`.
func demoClusters(ctx context.Context, w io.Writer, st *store.Store, truth *simulate.Truth, off bool) (example string, err error) {
	if off {
		return "", nil // cluster.enabled is false
	}
	c := trace.NewClusters(st.Conn())
	fmt.Fprintf(w, "\n5. The brokers' clusters (multi-input heuristic, CoinJoins excluded)\n")
	t := newTable(w)
	t.row("  broker", "cluster", "size", "broker's addresses in it", "other owners' addresses", "merges")
	owners := truth.Owners()
	for _, e := range truth.EntitiesOf(simulate.KindBroker) {
		best, bestN := uint32(0), 0
		counts := map[uint32]int{}
		for _, addr := range e.Addresses {
			id, err := c.ClusterOf(ctx, addr)
			if errors.Is(err, trace.ErrNotClustered) {
				continue
			}
			if err != nil {
				return "", err
			}
			counts[id]++
			if counts[id] > bestN {
				best, bestN = id, counts[id]
			}
		}
		if bestN == 0 {
			t.row("  "+e.Name, "-", 1, fmt.Sprintf("0 of %d", len(e.Addresses)), 0, 0)
			continue
		}
		sum, err := c.Cluster(ctx, best)
		if err != nil {
			return "", err
		}
		members, err := c.Members(ctx, best, 0, int(sum.Size))
		if err != nil {
			return "", err
		}
		others := 0
		for _, m := range members {
			if owners[m] != e.ID {
				others++
			}
		}
		if example == "" {
			example = strconv.FormatUint(uint64(best), 10)
		}
		t.row("  "+e.Name, best, sum.Size, fmt.Sprintf("%d of %d", bestN, len(e.Addresses)), others, sum.Merges)
	}
	return example, t.flush()
}

// runClusterer runs the clusterer in eg when clustering is on; the returned
// close saves its state and must run after eg.Wait.
func runClusterer(ctx context.Context, p *pipeline.Pipeline, eg *errgroup.Group) (closeFn func() error, err error) {
	if !p.Clustering() {
		return func() error { return nil }, nil
	}
	cl, js, err := p.Clusterer(ctx, ingest.ChainBTC)
	if err != nil {
		return nil, err
	}
	eg.Go(func() error { return cl.Run(ctx, js) })
	return cl.Close, nil
}

func newBenchClusterCmd(a *app) *cobra.Command {
	cfg := trace.DefaultBenchConfig()
	var format string
	var keep bool
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Measure the clusterer: union-find alone, inputs/s with address-id mapping, memory per address, reload time",
		Long: `Measure the clusterer without NATS or ClickHouse: first the union-find alone
(random unions over --union-ids ids, against a baseline that draws and reads the
same random pairs), then the clusterer's state (address ids in Pebble, links,
union-find) on synthetic mainnet-shaped blocks (about 2.35 inputs per
transaction, addresses drawn from a pool), then the snapshot and the reload
after a restart. State goes to a temporary directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "tracer-bench-cluster-")
			if err != nil {
				return err
			}
			if keep {
				fmt.Fprintf(cmd.ErrOrStderr(), "state kept in %s\n", dir)
			} else {
				defer os.RemoveAll(dir)
			}
			cfg.Dir = dir
			res, err := trace.Bench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				return writeJSON(w, res)
			}
			t := newTable(w)
			t.row("union-find alone", fmt.Sprintf("%d unions over %d ids", res.Unions, res.UnionIDs))
			t.row("  unions/s", fmt.Sprintf("%.0f (baseline: random pairs read %.0f/s, ratio %.2f)", res.UnionsPerSec, res.BaselinePairsPerSec, res.UnionsPerSec/res.BaselinePairsPerSec))
			t.row("  forest bytes/address", fmt.Sprintf("%.1f", res.ForestBytesPerAddr))
			t.row("clusterer state", fmt.Sprintf("%d txs, %d inputs, %d links, %d merges, %d addresses mapped", res.Txs, res.Inputs, res.Links, res.Merges, res.Addresses))
			t.row("  inputs/s", fmt.Sprintf("%.0f (id mapping and link index included)", res.InputsPerSec))
			t.row("  Go heap bytes/address", fmt.Sprintf("%.1f", res.HeapBytesPerAddr))
			t.row("  on disk", fmt.Sprintf("%.1f MiB (%.1f bytes/address)", float64(res.IndexBytes)/(1<<20), float64(res.IndexBytes)/float64(max(res.Addresses, 1))))
			t.row("  snapshot", fmt.Sprintf("%.3fs", res.SnapshotSec))
			t.row("  reload after restart", fmt.Sprintf("%.3fs", res.ReloadSec))
			return t.flush()
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.UnionIDs, "union-ids", cfg.UnionIDs, "ids (and random unions) of the union-find-alone run")
	f.IntVar(&cfg.Blocks, "blocks", cfg.Blocks, "synthetic blocks")
	f.IntVar(&cfg.TxsPerBlock, "txs-per-block", cfg.TxsPerBlock, "transactions per block")
	f.IntVar(&cfg.Addresses, "addresses", cfg.Addresses, "address pool the inputs spend from")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed")
	f.StringVar(&format, "format", "table", "table or json")
	f.BoolVar(&keep, "keep", false, "keep the state directory (its path is printed)")
	return cmd
}
