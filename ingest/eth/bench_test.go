package eth

import (
	"context"
	"testing"

	"github.com/tracerproject/tracer/simulate/ethsim"
)

// BenchmarkDecode checks and normalizes one mainnet-sized synthetic block
// (200 transactions, about 300 token transfers).
func BenchmarkDecode(b *testing.B) {
	dir := b.TempDir()
	cfg := ethsim.DefaultConfig()
	cfg.Blocks = 3
	if _, err := ethsim.Generate(cfg, dir); err != nil {
		b.Fatal(err)
	}
	src, _ := OpenDir(dir)
	raw, _ := src.Block(context.Background(), 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		blk, _, err := Decode(raw, DecodeOptions{Tokens: DefaultTokens()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(blk.Transfers)), "transfers/op")
	}
}
