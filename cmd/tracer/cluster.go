package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/store"
)

// depositKeys are the cluster.deposit.* keys: Ethereum deposit-address
// reuse.
type depositKeys struct {
	Enabled      bool  `yaml:"enabled"`
	WindowBlocks int64 `yaml:"window_blocks"`
	// ASSET=AMOUNT in base units; ASSET is ETH, a known token symbol or a
	// token contract.
	Tolerance    []string `yaml:"tolerance"`
	ToleranceBps int64    `yaml:"tolerance_bps"`
	// ENTITY:0xADDRESS or 0xADDRESS.
	Exchanges       []string `yaml:"exchanges"`
	ExchangeRefresh Duration `yaml:"exchange_refresh"`
}

func defaultDepositKeys() depositKeys {
	d := heuristic.DefaultDepositConfig()
	return depositKeys{
		Enabled: d.Enabled, WindowBlocks: d.Window, ToleranceBps: d.ToleranceBps,
		Tolerance:       []string{"ETH=" + d.Tolerance[chain.AssetETH].String(), "USDT=" + d.Tolerance[heuristic.TokenUSDT].String(), "USDC=" + d.Tolerance[heuristic.TokenUSDC].String()},
		ExchangeRefresh: Duration{10 * time.Minute},
	}
}

// config checks the keys and turns them into the heuristic's configuration.
func (k depositKeys) config() (heuristic.DepositConfig, error) {
	c := heuristic.DepositConfig{Enabled: k.Enabled, Window: k.WindowBlocks, ToleranceBps: k.ToleranceBps,
		Tolerance: map[string]chain.Amount{}, Exchanges: map[string]string{}}
	for _, e := range k.Tolerance {
		name, amount, ok := strings.Cut(e, "=")
		if !ok {
			return c, fmt.Errorf("cluster.deposit.tolerance %q: want ASSET=AMOUNT (base units), e.g. USDT=1000000", e)
		}
		asset, err := depositAsset(strings.TrimSpace(name))
		if err != nil {
			return c, fmt.Errorf("cluster.deposit.tolerance %q: %w", e, err)
		}
		v, err := chain.ParseAmount(strings.TrimSpace(amount))
		if err != nil {
			return c, fmt.Errorf("cluster.deposit.tolerance %q: %w", e, err)
		}
		c.Tolerance[asset] = v
	}
	for _, e := range k.Exchanges {
		addr, entity, err := heuristic.ParseExchange(e)
		if err != nil {
			return c, fmt.Errorf("cluster.deposit.exchanges: %w", err)
		}
		c.Exchanges[addr] = entity
	}
	if k.ExchangeRefresh.Duration <= 0 {
		return c, fmt.Errorf("cluster.deposit.exchange_refresh %s: want a positive duration", k.ExchangeRefresh.Duration)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("cluster.deposit: %w", err)
	}
	return c, nil
}

// depositAsset reads ETH, a known token symbol (USDT) or a token contract.
func depositAsset(s string) (string, error) {
	if strings.EqualFold(s, chain.AssetETH) {
		return chain.AssetETH, nil
	}
	for _, t := range chain.KnownTokens {
		if strings.EqualFold(s, t.Symbol) {
			return strings.ToLower(t.Address), nil
		}
	}
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return chain.ParseETHAddress(s)
	}
	return "", fmt.Errorf("asset %q: want ETH, a token symbol (%s) or a token contract address", s, tokenSymbols())
}

func tokenSymbols() string {
	var out []string
	for _, t := range chain.KnownTokens {
		out = append(out, t.Symbol)
	}
	return strings.Join(out, ", ")
}

// clusterConfig turns the cluster.* keys into the clusterer's configuration
// (the chain is set by the pipeline).
func (a *app) clusterConfig() cluster.Config {
	c := cluster.DefaultConfig(chain.BTC)
	dep, _ := a.cfg.Cluster.Deposit.config() // checked by loadConfig
	c.Heuristics = heuristic.Config{MultiInput: a.cfg.Cluster.MultiInput, Change: a.cfg.Cluster.Change, Dust: a.cfg.Cluster.Dust, Deposit: dep}
	c.ExchangeRefresh = a.cfg.Cluster.Deposit.ExchangeRefresh.Duration
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
	// chainOf picks the chain of the command's address arguments.
	chainOf := func(args ...string) (string, error) {
		switch chainFlag {
		case chain.BTC, chain.ETH:
			return chainFlag, nil
		case "":
			for _, s := range args {
				if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
					return chain.ETH, nil
				}
			}
			return chain.BTC, nil
		}
		return "", fmt.Errorf("--chain %q: want btc or eth", chainFlag)
	}
	var chainName string    // of the running command, set by chainOf before withClusters
	var opened *store.Store // the store withClusters opened, for labels
	withClusters := func(cmd *cobra.Command, f func(ctx context.Context, c *cluster.Clusters, w io.Writer) error) error {
		if err := checkFormat(format, "table", "json"); err != nil {
			return err
		}
		if chainName == "" {
			chainName = chain.BTC
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
		c, err := cluster.NewChainClusters(st.Conn(), chainName)
		if err != nil {
			return err
		}
		return f(cmd.Context(), c, cmd.OutOrStdout())
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
			var err error
			if chainName, err = chainOf(args[0]); err != nil {
				return err
			}
			return withClusters(cmd, func(ctx context.Context, c *cluster.Clusters, w io.Writer) error {
				id, addr, err := clusterID(ctx, c, args[0])
				if errors.Is(err, cluster.ErrNotClustered) {
					if format == "json" {
						return writeJSON(w, map[string]any{"address": addr, "cluster": nil, "size": 1})
					}
					fmt.Fprintf(w, "%s is in no cluster: no heuristic has linked it to another address (a cluster of its own)\n", addr)
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
				var grew []cluster.Edge
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
						cluster.Cluster
						Labels  []clusterLabel `json:"labels"`
						Offset  int            `json:"offset"`
						Members []string       `json:"members"`
						Growth  []cluster.Edge `json:"growth"`
					}{sum, lbls, offset, members, grew})
				}
				t := newTable(w)
				t.row("chain", c.Chain())
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
			var err error
			if chainName, err = chainOf(args...); err != nil {
				return err
			}
			addrs := make([]string, len(args))
			for i, s := range args {
				if addrs[i], err = checkClusterAddress(chainName, s); err != nil {
					return err
				}
			}
			return withClusters(cmd, func(ctx context.Context, c *cluster.Clusters, w io.Writer) error {
				path, err := c.Explain(ctx, addrs[0], addrs[1])
				if errors.Is(err, cluster.ErrNotLinked) {
					if format == "json" {
						return writeJSON(w, map[string]any{"linked": false, "reason": err.Error()})
					}
					fmt.Fprintf(w, "not linked: %s\n", strings.TrimPrefix(err.Error(), cluster.ErrNotLinked.Error()+": "))
					return nil
				}
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(w, map[string]any{"linked": true, "path": path})
				}
				fmt.Fprintf(w, "%s and %s are linked by %d transactions:\n", addrs[0], addrs[1], len(path))
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
			var err error
			if chainName, err = chainOf(); err != nil {
				return err
			}
			return withClusters(cmd, func(ctx context.Context, c *cluster.Clusters, w io.Writer) error {
				edges, err := c.Held(ctx, heldLimit)
				if err != nil {
					return err
				}
				if format == "json" {
					if edges == nil {
						edges = []cluster.Edge{}
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

// memberLabels sums the labels in force on a cluster's members (labels'
// chain names are those of ingest).
func memberLabels(ctx context.Context, st *store.Store, c *cluster.Clusters, id uint32) ([]clusterLabel, error) {
	members, err := c.Members(ctx, id, 0, maxLabelMembers)
	if err != nil {
		return nil, err
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		return nil, err
	}
	byAddr, err := ls.Lookup(ctx, c.Chain(), members, time.Time{})
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

// clusterID reads ADDR|ID: a number is a cluster id, anything else an
// address of the chain (returned in its canonical form).
func clusterID(ctx context.Context, c *cluster.Clusters, arg string) (uint32, string, error) {
	if n, err := strconv.ParseUint(arg, 10, 32); err == nil {
		return uint32(n), "", nil
	}
	addr, err := checkClusterAddress(c.Chain(), arg)
	if err != nil {
		return 0, arg, fmt.Errorf("%q is neither a cluster id nor an address: %w", arg, err)
	}
	id, err := c.ClusterOf(ctx, addr)
	return id, addr, err
}

// checkClusterAddress checks an address of chain and returns it in the
// form the clusterer stores (Ethereum: lower case).
func checkClusterAddress(chainName, s string) (string, error) {
	if chainName == chain.ETH {
		return chain.ParseETHAddress(s)
	}
	return s, btc.CheckAddress(s)
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
