package trace

import (
	"context"
	"testing"
)

// BenchmarkState runs the clusterer-state part of Bench (go test -bench
// State -cpuprofile) on a small configuration.
func BenchmarkState(b *testing.B) {
	for range b.N {
		cfg := DefaultBenchConfig()
		cfg.UnionIDs = 1000
		cfg.Blocks, cfg.TxsPerBlock = 20, 2500
		cfg.Dir = b.TempDir()
		res, err := Bench(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.InputsPerSec, "inputs/s")
	}
}
