package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
)

// Alerting reports whether this pipeline runs an alerter on the chain:
// some rule is for it.
func (p *Pipeline) Alerting(chain string) bool { return len(p.alertRules(chain)) > 0 }

func (p *Pipeline) alertRules(chain string) []*alert.Rule {
	if p.cfg.Alerts == nil {
		return nil
	}
	var rules []*alert.Rule
	for _, r := range p.cfg.Alerts.Rules {
		if r.Chain == chain {
			rules = append(rules, r)
		}
	}
	return rules
}

func (p *Pipeline) alerterDurable() string {
	if p.cfg.Alerts != nil && p.cfg.Alerts.Durable != "" {
		return p.cfg.Alerts.Durable
	}
	return "alerter"
}

// Alerter returns the alerter for the chain's rules (Config.Alerts holds
// the rules of every chain) on this pipeline's store and NATS; its durable
// consumer is named alerter on every chain's stream. The caller runs it.
func (p *Pipeline) Alerter(ctx context.Context, chainName string) (*alert.Alerter, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	_, js, err := p.NATS(ctx)
	if err != nil {
		return nil, err
	}
	cfg := *p.cfg.Alerts
	cfg.Chain, cfg.Rules = chainName, p.alertRules(chainName)
	cfg.Durable = p.alerterDurable()
	if cfg.Logger == nil {
		cfg.Logger = p.log
	}
	if cfg.Labels == nil {
		ls, err := labels.NewStore(ctx, st.Conn())
		if err != nil {
			return nil, err
		}
		ls2 := labelSource{st: ls}
		if chainName == chain.BTC {
			ls2.clusters = cluster.NewClusters(st.Conn())
		}
		cfg.Labels = ls2
	}
	if cfg.Clusters == nil && chainName == chain.BTC {
		cfg.Clusters = cluster.NewClusters(st.Conn())
	}
	return alert.New(st.Conn(), js, cfg)
}

// labelSource gives the alerter the addresses labelled with its rules'
// categories; a label that names a cluster stands for the cluster's
// members as the clusterer has them now (read again with the labels).
type labelSource struct {
	st       *labels.Store
	clusters *cluster.Clusters // nil: cluster labels are skipped (no clusterer on this chain)
}

// maxLabelledCluster bounds the members one cluster label adds: a cluster
// this large is an exchange, and watching it would flood the alerts.
const maxLabelledCluster = 1_000_000

func (l labelSource) Labelled(ctx context.Context, chain string, categories []string) ([]alert.Labelled, error) {
	list, err := l.st.List(ctx, labels.Filter{Categories: categories, Chain: chain})
	if err != nil {
		return nil, err
	}
	out := make([]alert.Labelled, 0, len(list))
	for _, lb := range list {
		if lb.Address != "" {
			out = append(out, alert.Labelled{Address: lb.Address, Category: lb.Category, Entity: lb.Entity, Source: lb.Source})
		}
		if l.clusters == nil {
			continue
		}
		var id uint64
		var via string
		switch {
		case lb.Address == "" && lb.Cluster != "":
			if id, err = strconv.ParseUint(lb.Cluster, 10, 32); err != nil {
				return nil, fmt.Errorf("label %s (%s, %s): cluster %q is not a cluster id", lb.Entity, lb.Category, lb.Source, lb.Cluster)
			}
			via = "cluster " + lb.Cluster
		case lb.Address != "" && lb.ApplyToCluster:
			c, err := l.clusters.ClusterOf(ctx, lb.Address)
			if errors.Is(err, cluster.ErrNotClustered) {
				continue // linked to nothing yet: the address alone
			}
			if err != nil {
				return nil, err
			}
			id, via = uint64(c), "cluster of "+lb.Address
		default:
			continue
		}
		// A cluster id that merged into another since it was labelled names
		// no members now.
		members, err := l.clusters.Members(ctx, uint32(id), 0, maxLabelledCluster)
		if err != nil {
			return nil, fmt.Errorf("members of labelled cluster %d: %w", id, err)
		}
		for _, m := range members {
			if m != lb.Address {
				out = append(out, alert.Labelled{Address: m, Category: lb.Category, Entity: lb.Entity + " (" + via + ")", Source: lb.Source})
			}
		}
	}
	return out, nil
}
