package demo

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/pipeline"
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

// TestRunNeedsConfig: Run refuses a configuration without the directory it
// replaces before it simulates anything.
func TestRunNeedsConfig(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), DefaultConfig(), &out); err == nil {
		t.Error("Run without a directory: got nil error")
	}
	if out.Len() > 0 {
		t.Errorf("Run without a directory printed %q", out.String())
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
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"1. Simulating 60 blocks", "3. The store holds", "4. Planted precursor brokers", "5. The brokers' clusters",
		"6. Alerts published", "broker-payments", "7. Ethereum", "8. Labels and the exposure report", "report: " + filepath.Join(cfg.Dir, "reports", "demo-exposure"), "Done in"} {
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
