package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
)

// TestBackfillFullBlocks ingests a blocks directory of 400 blocks of 2,500
// transactions, a size at which the loader, clusterer and publisher sharing
// one NATS connection once overran the server's queue for it (slow
// consumer: "nats: server is disconnected", exit 1, at block 288). The
// backfill must exit 0 having stored every block, on both engines.
func TestBackfillFullBlocks(t *testing.T) {
	blocks := filepath.Join(t.TempDir(), "blocks")
	ok(t, "simulate", "btc", "--blocks", "400", "--txs-per-block", "2500", "--xor", "--out", blocks)
	truth, err := simulate.ReadTruthFile(filepath.Join(blocks, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range []struct {
		name  string
		store func(t *testing.T) []string
	}{
		{"chdb", func(*testing.T) []string { return nil }},
		{"server", func(t *testing.T) []string { return []string{"--store", chserver.TempDatabase(t)} }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir()}, engine.store(t)...)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, tracerBinary(t), append(args, "ingest", "btc", "--blocks-dir", blocks)...)
			cmd.Env = cliEnv(t)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("ingest btc --blocks-dir: %v after %v\nstderr:\n%s", err, time.Since(start).Round(time.Second), stderr.String())
			}
			t.Logf("backfill of 400 blocks: %v", time.Since(start).Round(time.Millisecond))
			var got store.Stats
			out := ok(t, append(args, "query", "stats", "--chain", "btc", "--format", "json")...)
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stats JSON: %v\n%s", err, out)
			}
			if got.Blocks != 400 || got.TipHeight != 399 || int64(got.Txs) != truth.Txs || truth.Txs < 900_000 {
				t.Errorf("stats after the backfill: %d blocks, tip %d, %d transactions; want 400, 399 and %d", got.Blocks, got.TipHeight, got.Txs, truth.Txs)
			}
			if strings.Contains(stderr.String(), "context canceled") {
				t.Errorf("the backfill logged a cancelled write:\n%s", stderr.String())
			}
		})
	}
}
