package pipeline

import (
	"context"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
)

// Clustering reports whether this pipeline runs the clusterer.
func (p *Pipeline) Clustering() bool { return !p.cfg.NoCluster }

// ClusteringChain reports whether this pipeline runs the chain's
// clusterer: on Ethereum only when the deposit heuristic is on (it draws
// the only Ethereum links).
func (p *Pipeline) ClusteringChain(chainName string) bool {
	if !p.Clustering() {
		return false
	}
	return chainName == chain.BTC || (chainName == chain.ETH && p.clusterConfig(chainName).Heuristics.Deposit.Enabled)
}

func (p *Pipeline) clusterConfig(chain string) cluster.Config {
	cfg := p.cfg.Cluster
	if cfg.Durable == "" && cfg.BatchWait == 0 {
		cfg = cluster.DefaultConfig(chain)
	}
	if cfg.Durable == "" {
		cfg.Durable = "clusterer"
	}
	cfg.Chain, cfg.Logger, cfg.Metrics = chain, p.log, p.cfg.Metrics
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(p.cfg.DataDir, "trace", chain)
	}
	return cfg
}

func (p *Pipeline) clustererDurable() string { return p.clusterConfig("btc").Durable }

// Clusterer returns a clusterer for the chain on this pipeline's store,
// with its state under DATA/trace/<chain>. The caller runs it and closes
// it after Run returns.
func (p *Pipeline) Clusterer(ctx context.Context, chainName string) (*cluster.Clusterer, jetstream.JetStream, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, js, err := p.NATS(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg := p.clusterConfig(chainName)
	if chainName == chain.ETH && cfg.Exchanges == nil {
		ls, err := labels.NewStore(ctx, st.Conn())
		if err != nil {
			return nil, nil, err
		}
		cfg.Exchanges = labelExchanges{ls}
	}
	c, err := cluster.New(cfg, st.Conn())
	return c, js, err
}

// labelExchanges gives the Ethereum clusterer the wallets labelled
// "exchange" (the entity names the exchange; a label without one is its
// own).
type labelExchanges struct{ st *labels.Store }

func (l labelExchanges) Exchanges(ctx context.Context) (map[string]string, error) {
	list, err := l.st.List(ctx, labels.Filter{Category: "exchange", Chain: chain.ETH})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, lb := range list {
		if lb.Address == "" {
			continue
		}
		entity := lb.Entity
		if entity == "" {
			entity = lb.Address
		}
		out[lb.Address] = entity
	}
	return out, nil
}
