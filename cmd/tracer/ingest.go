package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/metrics"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/store"
)

func newIngestCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Read a chain into the stream (and, with the embedded defaults, into the store)",
	}
	cmd.AddCommand(newIngestBTCCmd(a))
	cmd.AddCommand(newIngestETHCmd(a))
	return cmd
}

type btcFlags struct {
	rpc, user, pass, blocksDir string
	from, to, confirmations    int64
	follow, tls                bool
}

func (f *btcFlags) register(cmd *cobra.Command, withRange bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.rpc, "rpc", "", "node JSON-RPC address host:port (btcd or Bitcoin Core; $TRACER_BTC_RPC)")
	fl.StringVar(&f.user, "rpc-user", "", "RPC user ($TRACER_BTC_RPC_USER)")
	fl.StringVar(&f.pass, "rpc-pass", "", "RPC password ($TRACER_BTC_RPC_PASS)")
	fl.BoolVar(&f.tls, "rpc-tls", false, "use https for RPC")
	fl.Int64Var(&f.confirmations, "confirmations", 0, "confirmations a block needs before it is ingested (default 1: the tip; $TRACER_BTC_CONFIRMATIONS)")
	if withRange {
		fl.StringVar(&f.blocksDir, "blocks-dir", "", "Bitcoin Core blocks directory (blk*.dat, xor.dat) for bulk backfill")
		fl.Int64Var(&f.from, "from", 0, "first height to publish (heights below are read to index their outputs)")
		fl.Int64Var(&f.to, "to", -1, "last height to ingest (default: the tip)")
		fl.BoolVar(&f.follow, "follow", false, "keep following the node's tip")
	}
}

func (a *app) btcIngest(f *btcFlags) pipeline.BTCIngest {
	c := a.cfg.BTC
	opt := pipeline.BTCIngest{
		RPC: btc.RPCConfig{
			Host: firstNonEmpty(f.rpc, c.RPC), User: firstNonEmpty(f.user, c.RPCUser),
			Pass: firstNonEmpty(f.pass, c.RPCPass), TLS: f.tls || c.RPCTLS, Timeout: c.RPCTimeout.Duration,
		},
		BlocksDir:     f.blocksDir,
		From:          f.from,
		To:            f.to,
		Follow:        f.follow,
		Confirmations: c.Confirmations,
		PollInterval:  c.PollInterval.Duration,
		UndoDepth:     c.UndoDepth,
	}
	switch {
	case f.blocksDir != "" && f.rpc == "":
		opt.RPC.Host = "" // the flag wins over a configured node
	case f.rpc == "" && c.RPC == "":
		opt.BlocksDir = c.BlocksDir
	}
	if f.confirmations > 0 {
		opt.Confirmations = f.confirmations
	}
	return opt
}

func newIngestBTCCmd(a *app) *cobra.Command {
	var f btcFlags
	cmd := &cobra.Command{
		Use:   "btc",
		Short: "Ingest Bitcoin from a node (--rpc) or from Bitcoin Core's block files (--blocks-dir)",
		Long: `Ingest Bitcoin blocks, normalize them (every input carries the address and value
it spends), and publish them on the chain's JetStream stream. Resumes where it
stopped. With the embedded NATS (the default) the loader runs in the same process
and the command returns once everything it read is stored; with --nats it only
publishes and 'tracer load' stores.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.loadAlerts(); err != nil {
				return err
			}
			p, err := a.open()
			if err != nil {
				return err
			}
			defer p.Close()
			opt := a.btcIngest(&f)
			prog := newProgress(os.Stderr)
			opt.Progress = prog.update
			err = p.IngestBTC(cmd.Context(), opt)
			prog.done()
			return err
		},
	}
	f.register(cmd, true)
	return cmd
}

func newLoadCmd(a *app) *cobra.Command {
	var chainName string
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Run the loader: a durable JetStream consumer that writes a chain's stream into ClickHouse",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if chainName != chain.BTC && chainName != chain.ETH {
				return fmt.Errorf("--chain %q: want btc or eth", chainName)
			}
			p, reg, err := a.openService()
			if err != nil {
				return err
			}
			defer p.Close()
			l, js, err := p.Loader(cmd.Context(), chainName)
			if err != nil {
				return err
			}
			a.log.Info("loader running", "chain", chainName)
			eg, ctx := errgroup.WithContext(cmd.Context())
			eg.Go(func() error { return l.Run(ctx, js) })
			a.serveMetrics(ctx, eg, reg, p)
			return eg.Wait()
		},
	}
	cmd.Flags().StringVar(&chainName, "chain", "btc", "chain whose stream to load")
	return cmd
}

func newRunCmd(a *app) *cobra.Command {
	var f btcFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run every service in one process: Bitcoin ingest (following the node), the loader, the clusterer and the alerter",
		Long: `Run ingest (when a node is configured) and every consumer service in one
process, on the embedded defaults unless --nats/--store say otherwise, and keep
following the chain until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.loadAlerts(); err != nil {
				return err
			}
			if err := a.checkReports(); err != nil {
				return err
			}
			p, reg, err := a.openService()
			if err != nil {
				return err
			}
			defer p.Close()
			ctx := cmd.Context()
			l, js, err := p.Loader(ctx, chain.BTC)
			if err != nil {
				return err
			}
			eg, ctx := errgroup.WithContext(ctx)
			eg.Go(func() error { return l.Run(ctx, js) })
			closeClusterer, err := runClusterer(ctx, p, eg, a)
			if err != nil {
				return err
			}
			defer closeClusterer()
			if err := runAlerter(ctx, a, p, eg); err != nil {
				return err
			}
			if err := runReports(ctx, a, p, eg); err != nil {
				return err
			}
			opt := a.btcIngest(&f)
			if opt.RPC.Host != "" {
				opt.Follow, opt.To = true, -1
				eg.Go(func() error { return p.PublishBTC(ctx, opt) })
			} else {
				a.log.Warn("no Bitcoin node configured (--rpc or btc.rpc): only the consumers run")
			}
			if err := runETH(ctx, a, p, eg); err != nil {
				return err
			}
			eg.Go(func() error { return reportLoader(ctx, a, l) })
			a.serveMetrics(ctx, eg, reg, p)
			return eg.Wait()
		},
	}
	f.register(cmd, false)
	return cmd
}

// reportLoader logs the loader's progress every minute.
func reportLoader(ctx context.Context, a *app, l *store.Loader) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s := l.Stats()
			a.log.Info("loader", "blocks", s.Blocks, "txs", s.Txs, "rows", s.Rows, "undos", s.Undos)
		}
	}
}

// openService opens the pipeline with a metrics registry.
func (a *app) openService() (*pipeline.Pipeline, *prometheus.Registry, error) {
	reg := metrics.NewRegistry()
	cfg := a.pipelineConfig()
	cfg.Metrics = reg
	p, err := pipeline.Open(cfg)
	return p, reg, err
}

// serve runs one stand-alone service (alerts run, report schedule, cluster
// run): it opens the pipeline with a metrics registry, lets start add the
// service to the group, serves /metrics and waits until interrupted.
func (a *app) serve(cmd *cobra.Command, start func(context.Context, *pipeline.Pipeline, *errgroup.Group) (func() error, error)) error {
	p, reg, err := a.openService()
	if err != nil {
		return err
	}
	defer p.Close()
	eg, ctx := errgroup.WithContext(cmd.Context())
	closeFn, err := start(ctx, p, eg)
	if err != nil {
		return err
	}
	a.serveMetrics(ctx, eg, reg, p)
	err = eg.Wait()
	if closeFn != nil {
		err = errors.Join(err, closeFn())
	}
	return err
}

// serveMetrics starts /metrics and /healthz when metrics.listen is set.
func (a *app) serveMetrics(ctx context.Context, eg *errgroup.Group, reg *prometheus.Registry, p *pipeline.Pipeline) {
	if a.cfg.Metrics.Listen == "" {
		return
	}
	eg.Go(func() error { return metrics.Serve(ctx, a.cfg.Metrics.Listen, reg, p.Health, a.log) })
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
