package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
	"github.com/tracerproject/tracer/store"
)

// Pipeline is the pipeline's configuration: where NATS and the store are,
// the loader and the clusterer. The caller adds what the file does not
// hold: the logger, and the alerter's configuration (Alerter) when the
// command runs the alerter.
func (c Config) Pipeline() pipeline.Config {
	lc := store.DefaultLoaderConfig(chain.BTC)
	lc.BatchRows = c.Loader.BatchRows
	lc.BatchWait = c.Loader.BatchWait.Duration
	lc.IdleWait = c.Loader.IdleWait.Duration
	lc.AckWait = c.Loader.AckWait.Duration
	return pipeline.Config{
		DataDir:      c.Data,
		NATSURL:      c.NATS.URL,
		NATSListen:   c.NATS.Listen,
		NATSReplicas: c.NATS.Replicas,
		StoreDSN:     c.Store.DSN,
		ChdbLib:      c.Store.ChdbLib,
		Loader:       lc,
		Cluster:      c.Clusterer(),
		NoCluster:    !c.Cluster.Enabled,
	}
}

// Clusterer turns the cluster.* keys into the clusterer's configuration
// (the chain is set by the pipeline).
func (c Config) Clusterer() cluster.Config {
	k := c.Cluster
	cc := cluster.DefaultConfig(chain.BTC)
	dep, _ := k.Deposit.Heuristic() // checked by Load
	cc.Heuristics = heuristic.Config{MultiInput: k.MultiInput, Change: k.Change, Dust: k.Dust, Deposit: dep}
	cc.ExchangeRefresh = k.Deposit.ExchangeRefresh.Duration
	cc.Supercluster = uint32(min(max(k.SuperclusterSize, 0), 1<<32-1))
	cc.BatchWait = k.BatchWait.Duration
	cc.AckWait = k.AckWait.Duration
	cc.SnapshotInterval = k.SnapshotInterval.Duration
	if cc.IdleWait > cc.BatchWait {
		cc.IdleWait = cc.BatchWait
	}
	return cc
}

// Heuristic checks the cluster.deposit keys and turns them into the
// deposit-reuse heuristic's configuration.
func (k Deposit) Heuristic() (heuristic.DepositConfig, error) {
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

// Alerter checks the alert rules, their watched addresses (with check)
// and label categories, and loads their watch lists: the alerter's
// configuration, or nil when no rule is set. The caller sets the logger.
func (c Config) Alerter(check alert.AddressCheck) (*alert.Config, error) {
	rules, err := alert.Rules(c.Alerts.Rules, check)
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	cats, err := c.LabelCategories()
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		for _, cat := range r.Categories() {
			if err := cats.Check(cat); err != nil {
				return nil, fmt.Errorf("alert rule %q: watch.categories: %w", r.Name, err)
			}
		}
	}
	cfg := alert.DefaultConfig(chain.BTC)
	cfg.Rules, cfg.Confirmations = rules, c.Alerts.Confirmations
	return &cfg, nil
}

// LabelCategories are the built-in label categories and labels.categories.
func (c Config) LabelCategories() (*labels.Categories, error) {
	cats, err := labels.NewCategories(c.Labels.Categories...)
	if err != nil {
		return nil, fmt.Errorf("config labels.categories: %w", err)
	}
	return cats, nil
}

// Service is the investigator operations' configuration: the trace
// defaults, label categories, OFAC confidence and reports directory. The
// caller adds the store and the label store.
func (c Config) Service() service.Config {
	t := c.Trace
	return service.Config{
		Trace: service.TraceDefaults{
			Model: t.Model, Hops: t.Hops, MaxNodes: t.MaxNodes, Timeout: t.Timeout.Duration, StopAt: t.StopAt,
		},
		Categories: c.Labels.Categories,
		// Out of range either way, without overflowing int.
		OFACConfidence: int(min(max(c.Labels.OFACConfidence, -1), 101)),
		ReportsDir:     c.ReportsDir(),
	}
}

// ReportsDir is reports.out, else DATA/reports.
func (c Config) ReportsDir() string {
	if c.Reports.Out != "" {
		return c.Reports.Out
	}
	return filepath.Join(c.Data, "reports")
}

// Ingest turns the eth.* keys into the Ethereum ingestor's options: the
// node, its confirmations, tokens and senders. The caller sets what the
// command line says: the range, following, a blocks directory.
func (e ETH) Ingest() (pipeline.ETHIngest, error) {
	return pipeline.ETHSettings{
		RPC: e.RPC, RPCTimeout: e.RPCTimeout.Duration, MaxReply: e.MaxReply, Traces: e.Traces,
		Confirmations: e.Confirmations, Tokens: e.Tokens, Senders: e.Senders,
		PollInterval: e.PollInterval.Duration, HashDepth: e.HashDepth,
	}.Ingest()
}
