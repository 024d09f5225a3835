package cluster

import (
	"context"
	"testing"
)

// BenchmarkState runs Bench (go test -bench State -cpuprofile) on a small
// configuration.
func BenchmarkState(b *testing.B) {
	for range b.N {
		cfg := DefaultBenchConfig()
		cfg.UnionIDs = 1000
		cfg.Addresses = 300_000
		cfg.Dir = b.TempDir()
		res, err := Bench(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.InputsPerSec, "inputs/s")
		b.Logf("%+v", res)
	}
}

// TestBench runs Bench small and checks that its figures describe the run.
func TestBench(t *testing.T) {
	cfg := DefaultBenchConfig()
	cfg.UnionIDs, cfg.Addresses, cfg.TxsPerBlock, cfg.Dir = 5000, 20_000, 500, t.TempDir()
	res, err := Bench(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Addresses < cfg.Addresses || res.Blocks == 0 || res.Txs != res.Blocks*cfg.TxsPerBlock {
		t.Errorf("%d addresses in %d blocks of %d txs; want at least %d addresses and %d txs a block", res.Addresses, res.Blocks, res.Txs, cfg.Addresses, cfg.TxsPerBlock)
	}
	if perTx := float64(res.Inputs) / float64(res.Txs); perTx < 2 || perTx > 2.8 {
		t.Errorf("%.2f inputs a transaction, want mainnet's 2.3 or so", perTx)
	}
	if res.Links == 0 || res.Merges == 0 || res.Merges > res.Links || res.Unions != cfg.UnionIDs || res.MainnetUnions == 0 {
		t.Errorf("%d links, %d merges, %d random and %d mainnet-shaped unions", res.Links, res.Merges, res.Unions, res.MainnetUnions)
	}
	if res.StateForestPerAddr < 12 || res.StateForestPerAddr > GoalForestBytesPerID || res.AddrMapBytesPerAddr < 16 {
		t.Errorf("forest %.1f, address map %.1f bytes an address; want 12 to 32, and 16 or more", res.StateForestPerAddr, res.AddrMapBytesPerAddr)
	}
	for _, bad := range []BenchConfig{{UnionIDs: 1, TxsPerBlock: 1, Blocks: 1}, {UnionIDs: 10, TxsPerBlock: 1}, {UnionIDs: 10, TxsPerBlock: 0, Blocks: 1}} {
		if _, err := Bench(context.Background(), bad); err == nil {
			t.Errorf("Bench(%+v) ran; want an error", bad)
		}
	}
}
