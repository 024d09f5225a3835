package demo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/report"
	"github.com/tracerproject/tracer/simulate"
)

// TestRepeatedPurchases counts, from the truth, what the
// precursor-purchases rule looks for: a buyer's third and later payment
// within 5% of an earlier one, to the same broker.
func TestRepeatedPurchases(t *testing.T) {
	buy := func(from, to int, height, amount int64) simulate.Flow {
		return simulate.Flow{Kind: simulate.FlowPurchase, From: from, To: to, Height: height, Amount: amount}
	}
	for _, tc := range []struct {
		name  string
		flows []simulate.Flow
		want  int
	}{
		{"none", nil, 0},
		{"two payments", []simulate.Flow{buy(1, 9, 1, 100), buy(1, 9, 2, 100)}, 0},
		{"third payment", []simulate.Flow{buy(1, 9, 1, 100), buy(1, 9, 2, 100), buy(1, 9, 3, 100)}, 1},
		{"third and fourth", []simulate.Flow{buy(1, 9, 1, 100), buy(1, 9, 2, 104), buy(1, 9, 3, 100), buy(1, 9, 4, 100)}, 2},
		{"price off by more than 5%", []simulate.Flow{buy(1, 9, 1, 100), buy(1, 9, 2, 100), buy(1, 9, 3, 110)}, 0},
		{"two brokers", []simulate.Flow{buy(1, 9, 1, 100), buy(1, 8, 2, 100), buy(1, 9, 3, 100)}, 0},
		{"two buyers", []simulate.Flow{buy(1, 9, 1, 100), buy(2, 9, 2, 100), buy(1, 9, 3, 100)}, 0},
		{"same block", []simulate.Flow{buy(1, 9, 1, 100), buy(1, 9, 1, 100), buy(1, 9, 1, 100)}, 0},
		{"not a purchase", []simulate.Flow{buy(1, 9, 1, 100), buy(1, 9, 2, 100), {Kind: simulate.FlowCartel, From: 1, To: 9, Height: 3, Amount: 100}}, 0},
	} {
		if got := repeatedPurchases(&simulate.Truth{Flows: tc.flows}); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRunNeedsConfig: Run refuses a configuration it cannot print with
// before it touches the directory.
func TestRunNeedsConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	if err := Run(context.Background(), cfg, &bytes.Buffer{}); err == nil {
		t.Error("Run without the formatters, the address check and the report: got nil error")
	}
}

// TestRun runs a small demo on embedded chDB: every section is printed,
// the alerter's rules saw the planted payments, and with the services'
// logger at warn nothing is logged.
func TestRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sim.Blocks, cfg.Sim.TxsPerBlock = 60, 120
	cfg.Dir = filepath.Join(t.TempDir(), "demo")
	var logs bytes.Buffer
	cfg.Pipeline = pipeline.Config{NATSListen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	cfg.CheckAddress = func(_, s string) (string, error) { return s, nil }
	cfg.Format = Format{
		BTC:   func(sat int64) string { return fmt.Sprintf("%d sat", sat) },
		Units: func(v, asset string) string { return v + " " + asset },
		Alert: func(a *alert.Alert) string { return a.Rule + " " + a.Txid },
	}
	cfg.Report = func(ctx context.Context, p *pipeline.Pipeline, rc report.Config, dir string, formats []string) (*report.Report, []string, error) {
		return &report.Report{}, []string{filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html"), filepath.Join(dir, "r.csv")}, nil
	}
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"1. Simulating 60 blocks", "3. The store holds", "4. Planted precursor brokers", "5. The brokers' clusters",
		"6. Alerts published", "broker-payments", "7. Ethereum", "8. Labels and the exposure report", "report: " + filepath.Join(cfg.Dir, "reports", "r.html"), "Done in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if m := regexp.MustCompile(`broker-payments +(\d+)`).FindStringSubmatch(out.String()); m == nil || m[1] == "0" {
		t.Errorf("broker-payments alerts: got %v, want some:\n%s", m, out.String())
	}
	if logs.Len() > 0 {
		t.Errorf("services logged at warn during the demo:\n%.600s", logs.String())
	}
}
