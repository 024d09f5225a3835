// Command tracer ingests blockchains into ClickHouse through NATS JetStream
// and answers an investigator's questions about addresses, transactions and
// the flow of money. Run `tracer --help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/config"
	"github.com/tracerproject/tracer/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracer:", err)
		os.Exit(1)
	}
}

// app carries the global flags and the loaded configuration to commands.
type app struct {
	configPath string
	data       string
	natsURL    string
	storeDSN   string
	logLevel   string
	cfg        config.Config
	log        *slog.Logger
	// alerts is the alerter's configuration once loadAlerts has checked
	// the rules (commands that run the alerter call it first).
	alerts *alert.Config
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:           "tracer",
		Short:         "Trace crypto payments: ingest chains into ClickHouse over NATS JetStream and query them",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.load(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "configuration file (default $TRACER_CONFIG; configs/tracer.yaml documents every key)")
	pf.StringVar(&a.data, "data", "", "data directory for the embedded NATS, embedded ClickHouse and ingest state (default $TRACER_DATA, else $XDG_DATA_HOME/tracer or ~/.local/share/tracer)")
	pf.StringVar(&a.natsURL, "nats", "", "external NATS URL (default: embedded server; $TRACER_NATS_URL)")
	pf.StringVar(&a.storeDSN, "store", "", "ClickHouse DSN clickhouse://host:9000/db (default: embedded chDB; $TRACER_STORE_DSN)")
	pf.StringVar(&a.logLevel, "log-level", "", "debug, info, warn or error (default info; $TRACER_LOG_LEVEL)")

	root.AddCommand(
		newIngestCmd(a),
		newLoadCmd(a),
		newRunCmd(a),
		newQueryCmd(a),
		newInspectCmd(a),
		newSimulateCmd(a),
		newDemoCmd(a),
		newBenchCmd(a),
		newAlertsCmd(a),
		newReportCmd(a),
		newClusterCmd(a),
		newLabelsCmd(a),
		newTraceCmd(a), newExposureCmd(a),
		newStoreCmd(a),
	)
	return root
}

// load reads the configuration and applies the global flags over it.
func (a *app) load(cmd *cobra.Command) error {
	cfg, err := config.Load(a.configPath)
	if err != nil {
		return err
	}
	if a.data != "" {
		cfg.Data = a.data
	}
	if a.natsURL != "" {
		cfg.NATS.URL = a.natsURL
	}
	if a.storeDSN != "" {
		cfg.Store.DSN = a.storeDSN
	}
	if a.logLevel != "" {
		cfg.LogLevel = a.logLevel
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	if err := setGCPercent(cmd.Context(), cfg.GCPercent); err != nil {
		return err
	}
	a.cfg = cfg
	a.log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	slog.SetDefault(a.log)
	a.log.Debug("go runtime", "GODEBUG", os.Getenv("GODEBUG"), "GOGC", os.Getenv("GOGC"), "gc_percent", cfg.GCPercent)
	return nil
}

// pipelineConfig turns the configuration into the pipeline's.
func (a *app) pipelineConfig() pipeline.Config {
	c := a.cfg.Pipeline()
	c.Alerts, c.Logger = a.alerts, a.log
	return c
}

func (a *app) open() (*pipeline.Pipeline, error) {
	return pipeline.Open(a.pipelineConfig())
}

// withPipeline opens the pipeline, runs fn on it and closes it: the
// close's error (a store or NATS connection that did not shut down
// cleanly) is returned with fn's.
func (a *app) withPipeline(fn func(*pipeline.Pipeline) error) (err error) {
	p, err := a.open()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	return fn(p)
}

// notFound turns a store.ErrNotFound into a plain message.
