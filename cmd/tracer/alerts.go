package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
)

func newAlertsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Alerts on NATS when money moves to or from watched wallets",
		Long: `The alerter evaluates the rules of alerts.rules (see configs/tracer.yaml) on
every block and publishes each match as JSON (` + alert.Format + `) on
alerts.<chain>.<severity>.<rule>: provisional first, confirmed once the block
has alerts.confirmations, retracted if a reorg takes the block away.`,
	}
	cmd.AddCommand(newAlertsRunCmd(a), newAlertsTailCmd(a), newAlertsListCmd(a))
	return cmd
}

// loadAlerts checks the alert rules and loads their watch lists, before
// anything runs: commands that run the alerter call it first.
func (a *app) loadAlerts() error {
	cfg, err := a.cfg.Alerter(alert.CanonicalAddress)
	if err != nil || cfg == nil {
		return err
	}
	cfg.Logger = a.log
	a.alerts = cfg
	return nil
}

func newAlertsRunCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the alerter until interrupted (tracer run runs it too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.loadAlerts(); err != nil {
				return err
			}
			if a.alerts == nil {
				return errors.New("no alert rules: add some under alerts.rules in the configuration (configs/tracer.yaml shows how)")
			}
			rc := a.runConfig()
			rc.Alert = true
			return pipeline.Run(cmd.Context(), rc)
		},
	}
}

// alertsNATS is where alerts are read from: --nats or nats.url, else the
// embedded server of the data directory (its URL file; no lock needed, so
// tail runs next to `tracer run`).
func (a *app) alertsNATS() (string, error) {
	if a.cfg.NATS.URL != "" {
		return a.cfg.NATS.URL, nil
	}
	raw, err := os.ReadFile(filepath.Join(a.cfg.Data, "nats.url"))
	if err != nil {
		return "", fmt.Errorf("no NATS to read alerts from: give --nats, or run `tracer run` on --data %s first (its embedded server writes nats.url): %w", a.cfg.Data, err)
	}
	return strings.TrimSpace(string(raw)), nil
}

func newAlertsTailCmd(a *app) *cobra.Command {
	var subject, format string
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print alerts as they arrive",
		Long: `Subscribe to alerts on NATS and print each one as it arrives, until
interrupted. --format json prints the alerts as published, one per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			if !strings.HasPrefix(subject, "alerts.") {
				return fmt.Errorf("--subject %q: alerts are on alerts.<chain>.<severity>.<rule>, e.g. alerts.> or alerts.btc.critical.*", subject)
			}
			url, err := a.alertsNATS()
			if err != nil {
				return err
			}
			nc, err := nats.Connect(url, nats.Name("tracer alerts tail"))
			if err != nil {
				return fmt.Errorf("connecting to NATS at %s: %w", url, err)
			}
			defer nc.Close()
			out := cmd.OutOrStdout()
			msgs := make(chan *nats.Msg, 1024)
			sub, err := nc.ChanSubscribe(subject, msgs)
			if err != nil {
				return fmt.Errorf("subscribing to %s: %w", subject, err)
			}
			defer sub.Unsubscribe()
			a.log.Info("waiting for alerts", "nats", url, "subject", subject)
			for {
				select {
				case <-cmd.Context().Done():
					return nil
				case m := <-msgs:
					if format == "json" {
						fmt.Fprintln(out, string(m.Data))
						continue
					}
					var al alert.Alert
					if err := json.Unmarshal(m.Data, &al); err != nil {
						fmt.Fprintf(out, "%s: not an alert (%v)\n", m.Subject, err)
						continue
					}
					fmt.Fprintln(out, al.Line())
				}
			}
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "alerts.>", "NATS subject pattern")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func newAlertsListCmd(a *app) *cobra.Command {
	var req service.AlertsRequest
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the alerts published since a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			return a.withService(cmd, func(ctx context.Context, s *service.Service) error {
				res, err := s.Alerts(ctx, req)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(cmd.OutOrStdout(), res)
				}
				if len(res.Alerts) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "no alerts since %s\n", res.Since.Format(time.RFC3339))
					return nil
				}
				for _, al := range res.Alerts {
					fmt.Fprintln(cmd.OutOrStdout(), al.Line())
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.Since, "since", "7d", "a duration back from now (90m, 24h, 7d) or a time (2026-11-20 or RFC 3339)")
	cmd.Flags().StringVar(&req.Rule, "rule", "", "only alerts of this rule")
	cmd.Flags().StringVar(&req.Severity, "severity", "", "only alerts of this severity")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().IntVar(&req.Limit, "limit", 1000, "at most this many")
	return cmd
}
