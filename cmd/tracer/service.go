package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
)

// newService builds the investigator operations on p's store with the
// configured defaults.
func (a *app) newService(ctx context.Context, p *pipeline.Pipeline) (*service.Service, error) {
	return openService(ctx, p, a.cfg.Service())
}

// openService builds a service with cfg on p's store and its labels.
func openService(ctx context.Context, p *pipeline.Pipeline, cfg service.Config) (*service.Service, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	ls, err := labels.NewStore(ctx, st.Conn())
	if err != nil {
		return nil, err
	}
	cfg.Store, cfg.Labels = st, ls
	return service.New(cfg)
}

// withService opens the pipeline, runs f with a service on its store and
// closes the pipeline.
func (a *app) withService(cmd *cobra.Command, f func(ctx context.Context, s *service.Service) error) (err error) {
	p, err := a.open()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := p.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the pipeline: %w", cerr))
		}
	}()
	s, err := a.newService(cmd.Context(), p)
	if err != nil {
		return err
	}
	return f(cmd.Context(), s)
}
