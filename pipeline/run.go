package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/metrics"
	"github.com/tracerproject/tracer/store"
)

// RunConfig says which services Run runs in one process.
type RunConfig struct {
	// Config says where things live. Run sets its Metrics to the
	// registry it serves.
	Config
	// Load lists the chains whose streams a loader stores.
	Load []string
	// Cluster lists the chains to cluster; a chain gets a clusterer only
	// when ClusteringChain says so.
	Cluster []string
	// Alert runs an alerter on every chain some rule of Config.Alerts is
	// for.
	Alert bool
	// BTC and ETH, when set, follow a node and publish its blocks.
	BTC *BTCIngest
	ETH *ETHIngest
	// Services are further services built on the open pipeline (report
	// schedules, exposure index builds), set up after the ones above.
	Services []Service
	// MetricsListen serves /metrics and /healthz on this address; empty:
	// not served.
	MetricsListen string
	// StatsInterval is how often the loaders' counts are logged; zero:
	// never.
	StatsInterval time.Duration
	// Ready, when set, is called once every service has been set up.
	Ready func()
}

// A Service is a long-running part of a process that the pipeline does not
// build itself.
type Service struct {
	Name string
	// Start builds the service on the open pipeline and returns what runs
	// it until ctx ends (nil: nothing to run). An error stops Run before
	// anything more starts.
	Start func(ctx context.Context, p *Pipeline) (func(ctx context.Context) error, error)
}

// group owns the goroutines of Run and what must be closed after they
// have returned.
type group struct {
	eg      *errgroup.Group
	closers []func() error
}

// Go runs f(ctx) in the group.
func (g *group) Go(ctx context.Context, f func(ctx context.Context) error) {
	g.eg.Go(func() error { return f(ctx) })
}

// Run opens the pipeline, starts the services of cfg and runs them until
// ctx ends or one of them fails. Every goroutine it starts is waited for
// before it returns, also when a setup step fails after others have
// started; then the clusterers save their state and the pipeline closes,
// their errors joined to what Run returns. A clean shutdown (ctx ended)
// returns nil.
func Run(ctx context.Context, cfg RunConfig) (err error) {
	reg := metrics.NewRegistry()
	cfg.Metrics = reg
	p, err := Open(cfg.Config)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	eg, gctx := errgroup.WithContext(runCtx)
	g := &group{eg: eg}
	setupErr := p.start(gctx, g, &cfg)
	switch {
	case setupErr != nil:
		if gctx.Err() != nil && errors.Is(setupErr, context.Canceled) {
			// Stopped while starting, by the caller or by a service that
			// failed (eg.Wait returns its error): no failure of its own.
			setupErr = nil
		}
		cancel() // stop what started before the failing step
	default:
		if cfg.MetricsListen != "" {
			g.Go(gctx, func(ctx context.Context) error { return metrics.Serve(ctx, cfg.MetricsListen, reg, p.Health, p.log) })
		}
		if cfg.Ready != nil {
			cfg.Ready()
		}
	}
	runErr := eg.Wait()
	if (setupErr != nil || ctx.Err() != nil) && errors.Is(runErr, context.Canceled) {
		runErr = nil // stopped by the cancel above or by the caller: not a failure
	}
	err = errors.Join(setupErr, runErr)
	for _, c := range g.closers {
		err = errors.Join(err, c())
	}
	return err
}

// start sets up the services of cfg in g, in the order of RunConfig's
// fields: loaders, clusterers, alerters, further services, then ingest.
func (p *Pipeline) start(ctx context.Context, g *group, cfg *RunConfig) error {
	var loaders []*store.Loader
	for _, c := range cfg.Load {
		l, js, err := p.Loader(ctx, c)
		if err != nil {
			return fmt.Errorf("starting the %s loader: %w", c, err)
		}
		loaders = append(loaders, l)
		g.Go(ctx, func(ctx context.Context) error { return l.Run(ctx, js) })
		p.log.Info("loader running", "chain", c)
	}
	for _, c := range cfg.Cluster {
		if !p.ClusteringChain(c) {
			continue
		}
		cl, js, err := p.Clusterer(ctx, c)
		if err != nil {
			return fmt.Errorf("starting the %s clusterer: %w", c, err)
		}
		g.closers = append(g.closers, func() error {
			if err := cl.Close(); err != nil {
				return fmt.Errorf("saving the %s clusterer's state: %w", c, err)
			}
			return nil
		})
		g.Go(ctx, func(ctx context.Context) error { return cl.Run(ctx, js) })
		p.log.Info("clusterer running", "chain", c)
	}
	if cfg.Alert {
		for _, c := range []string{chain.BTC, chain.ETH} {
			if !p.Alerting(c) {
				continue
			}
			al, err := p.Alerter(ctx, c)
			if err != nil {
				return fmt.Errorf("starting the %s alerter: %w", c, err)
			}
			g.Go(ctx, al.Run)
			p.log.Info("alerter running", "chain", c, "confirmations", p.cfg.Alerts.Confirmations)
		}
	}
	for _, s := range cfg.Services {
		run, err := s.Start(ctx, p)
		if err != nil {
			return fmt.Errorf("starting %s: %w", s.Name, err)
		}
		if run != nil {
			g.Go(ctx, run)
		}
	}
	if cfg.BTC != nil {
		opt := *cfg.BTC
		g.Go(ctx, func(ctx context.Context) error { return p.PublishBTC(ctx, opt) })
		p.log.Info("Bitcoin ingest running", "rpc", opt.RPC.Host)
	}
	if cfg.ETH != nil {
		opt := *cfg.ETH
		g.Go(ctx, func(ctx context.Context) error { return p.PublishETH(ctx, opt) })
		p.log.Info("Ethereum ingest running", "tokens", opt.Tokens.String())
	}
	if cfg.StatsInterval > 0 && len(loaders) > 0 {
		g.Go(ctx, func(ctx context.Context) error { return logLoaders(ctx, p, loaders, cfg.Load, cfg.StatsInterval) })
	}
	return nil
}

// logLoaders logs the loaders' counts every interval until ctx ends.
func logLoaders(ctx context.Context, p *Pipeline, loaders []*store.Loader, chains []string, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			for i, l := range loaders {
				s := l.Stats()
				p.log.Info("loader", "chain", chains[i], "blocks", s.Blocks, "txs", s.Txs, "rows", s.Rows, "undos", s.Undos)
			}
		}
	}
}
