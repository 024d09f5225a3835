package pipeline

import (
	"context"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/trace"
)

// Clustering reports whether this pipeline runs the clusterer.
func (p *Pipeline) Clustering() bool { return !p.cfg.NoCluster }

func (p *Pipeline) clusterConfig(chain string) trace.Config {
	cfg := p.cfg.Cluster
	if cfg.Durable == "" && cfg.BatchWait == 0 {
		cfg = trace.DefaultConfig(chain)
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
func (p *Pipeline) Clusterer(ctx context.Context, chain string) (*trace.Clusterer, jetstream.JetStream, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, js, err := p.NATS(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := trace.New(p.clusterConfig(chain), st.Conn())
	return c, js, err
}
