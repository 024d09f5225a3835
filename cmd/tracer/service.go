package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
)

// newService builds the investigator operations on p's store with the
// configured defaults.
func (a *app) newService(ctx context.Context, p *pipeline.Pipeline) (*service.Service, error) {
	t := a.cfg.Trace
	return openService(ctx, p, service.Config{
		Trace: service.TraceDefaults{
			Model: t.Model, Hops: t.Hops, MaxNodes: t.MaxNodes, Timeout: t.Timeout.Duration, StopAt: t.StopAt,
		},
		Categories: a.cfg.Labels.Categories,
		// Out of range either way, without overflowing int.
		OFACConfidence: int(min(max(a.cfg.Labels.OFACConfidence, -1), 101)),
		ReportsDir:     a.reportsDir(),
	})
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

// reportsDir is reports.out, else DATA/reports.
func (a *app) reportsDir() string {
	if a.cfg.Reports.Out != "" {
		return a.cfg.Reports.Out
	}
	return filepath.Join(a.cfg.Data, "reports")
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
