package pipeline

import (
	"context"

	"github.com/tracerproject/tracer/alert"
)

// Alerting reports whether this pipeline runs the alerter (rules are set).
func (p *Pipeline) Alerting() bool { return p.cfg.Alerts != nil && len(p.cfg.Alerts.Rules) > 0 }

func (p *Pipeline) alerterDurable() string {
	if p.cfg.Alerts != nil && p.cfg.Alerts.Durable != "" {
		return p.cfg.Alerts.Durable
	}
	return "alerter"
}

// Alerter returns the alerter for the configured rules on this pipeline's
// store and NATS. The caller runs it.
func (p *Pipeline) Alerter(ctx context.Context) (*alert.Alerter, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	_, js, err := p.NATS(ctx)
	if err != nil {
		return nil, err
	}
	cfg := *p.cfg.Alerts
	cfg.Durable = p.alerterDurable()
	if cfg.Logger == nil {
		cfg.Logger = p.log
	}
	return alert.New(st.Conn(), js, cfg)
}
