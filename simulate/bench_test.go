package simulate

import (
	"errors"
	"io"
	"testing"
)

// BenchmarkGenerate streams mainnet-density blocks (2,500 transactions) in
// memory and reports transactions generated per second on one core.
func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock = 0, 2500
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Genesis and premine are not traffic.
	for i := 0; i < 2; i++ {
		if _, err := g.Next(); err != nil {
			b.Fatal(err)
		}
	}
	var txs int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		blk, err := g.Next()
		if errors.Is(err, io.EOF) {
			b.Fatal("unexpected end")
		}
		if err != nil {
			b.Fatal(err)
		}
		txs += len(blk.Transactions)
	}
	b.ReportMetric(float64(txs)/b.Elapsed().Seconds(), "txs/s")
}

// BenchmarkWriteBlocksDir writes a 12-block mainnet-density blocks directory
// (obfuscated, with truth.json), setup and premine included, and reports
// transactions written per second.
func BenchmarkWriteBlocksDir(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock = 12, 2500
	var txs int64
	for i := 0; i < b.N; i++ {
		g, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteBlocksDir(g, b.TempDir(), true); err != nil {
			b.Fatal(err)
		}
		txs += g.txs
	}
	b.ReportMetric(float64(txs)/b.Elapsed().Seconds(), "txs/s")
}
