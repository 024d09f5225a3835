package pipeline

import (
	"context"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/ingest"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/trace"
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
func (p *Pipeline) Alerter(ctx context.Context, chain string) (*alert.Alerter, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	_, js, err := p.NATS(ctx)
	if err != nil {
		return nil, err
	}
	cfg := *p.cfg.Alerts
	cfg.Chain, cfg.Rules = chain, p.alertRules(chain)
	cfg.Durable = p.alerterDurable()
	if cfg.Logger == nil {
		cfg.Logger = p.log
	}
	if cfg.Labels == nil {
		ls, err := labels.NewStore(ctx, st.Conn())
		if err != nil {
			return nil, err
		}
		cfg.Labels = labelSource{ls}
	}
	if cfg.Clusters == nil && chain == ingest.ChainBTC {
		cfg.Clusters = trace.NewClusters(st.Conn())
	}
	return alert.New(st.Conn(), js, cfg)
}

// labelSource gives the alerter the addresses labelled with its rules'
// categories. Labels that name a cluster are not expanded to its members
// yet.
type labelSource struct{ st *labels.Store }

func (l labelSource) Labelled(ctx context.Context, chain string, categories []string) ([]alert.Labelled, error) {
	list, err := l.st.List(ctx, labels.Filter{Categories: categories, Chain: chain})
	if err != nil {
		return nil, err
	}
	out := make([]alert.Labelled, 0, len(list))
	for _, lb := range list {
		if lb.Address == "" {
			continue
		}
		out = append(out, alert.Labelled{Address: lb.Address, Category: lb.Category, Entity: lb.Entity, Source: lb.Source})
	}
	return out, nil
}
