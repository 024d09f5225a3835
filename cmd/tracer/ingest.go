package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/pipeline"
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
			return a.withPipeline(func(p *pipeline.Pipeline) error {
				opt := a.btcIngest(&f)
				prog := newProgress(os.Stderr)
				opt.Progress = prog.update
				err := p.IngestBTC(cmd.Context(), opt)
				prog.done()
				return err
			})
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
			rc := a.runConfig()
			rc.Load = []string{chainName}
			return pipeline.Run(cmd.Context(), rc)
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
			rc := a.runConfig()
			rc.Load = []string{chain.BTC}
			rc.Cluster = a.clusterChains()
			rc.Alert = true
			rc.Services = reportServices(a)
			rc.StatsInterval = time.Minute
			if opt := a.btcIngest(&f); opt.RPC.Host != "" {
				opt.Follow, opt.To = true, -1
				rc.BTC = &opt
			} else {
				rc.Ready = func() { a.log.Warn("no Bitcoin node configured (--rpc or btc.rpc): only the consumers run") }
			}
			if a.cfg.ETH.RPC != "" {
				opt, err := a.ethIngest(nil, &ethFlags{})
				if err != nil {
					return err
				}
				opt.Follow, opt.To = true, -1
				rc.ETH = &opt
				rc.Load = append(rc.Load, chain.ETH)
			}
			return pipeline.Run(cmd.Context(), rc)
		},
	}
	f.register(cmd, false)
	return cmd
}

// runConfig is the configuration of a long-running command: where things
// live and where metrics are served; the command says what runs.
func (a *app) runConfig() pipeline.RunConfig {
	return pipeline.RunConfig{Config: a.pipelineConfig(), MetricsListen: a.cfg.Metrics.Listen}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
