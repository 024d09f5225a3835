package eth

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/tracerproject/tracer/simulate/ethsim"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecode checks and normalizes one mainnet-sized synthetic block
// (200 transactions, about 300 token transfers). Besides wall time per
// block it reports the process's CPU time per block (cpu-ns/op), which
// other work on a shared machine changes less.
func BenchmarkDecode(b *testing.B) {
	raw := benchBlock(b)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	transfers := 0
	for i := 0; i < b.N; i++ {
		blk, _, err := Decode(raw, DecodeOptions{Tokens: DefaultTokens()})
		if err != nil {
			b.Fatal(err)
		}
		transfers = len(blk.Transfers)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(transfers), "transfers/op")
}

// BenchmarkDecodeJSON is the JSON part of Decode alone: the block with its
// transactions and the receipts, as Decode reads them.
func BenchmarkDecodeJSON(b *testing.B) {
	raw := benchBlock(b)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		if _, err := decodeBlock(raw.Block); err != nil {
			b.Fatal(err)
		}
		if _, err := decodeReceipts(raw.Receipts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

func benchBlock(b *testing.B) RawBlock {
	b.Helper()
	dir := b.TempDir()
	cfg := ethsim.DefaultConfig()
	cfg.Blocks = 3
	if _, err := ethsim.Generate(cfg, dir); err != nil {
		b.Fatal(err)
	}
	src, err := OpenDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := src.Block(context.Background(), 2)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}
