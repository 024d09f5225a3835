package btc

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/simulate"
)

// simulatedChain is blocks of the synthetic mainnet-shaped chain that
// `tracer bench ingest` uses (2,500 transactions a block).
func simulatedChain(b *testing.B, blocks int) ([]*wire.MsgBlock, *chaincfg.Params) {
	b.Helper()
	cfg := simulate.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock = blocks, 2500
	g, err := simulate.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var out []*wire.MsgBlock
	for {
		mb, err := g.Next()
		if errors.Is(err, io.EOF) {
			return out, g.Params()
		}
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, mb)
	}
}

// BenchmarkIngest measures the ingestor's two stages on 40 mainnet-sized
// blocks, without NATS: "read" is what the read-ahead goroutine does per
// block (txids, merkle check, normalize), "connect" what the connecting
// goroutine does (resolve inputs from the outpoint index, connect, encode
// the event into the outbox, sync every 16 blocks). Figures are per
// transaction.
func BenchmarkIngest(b *testing.B) {
	chain, params := simulatedChain(b, 40)
	var txs int
	for _, mb := range chain {
		txs += len(mb.Transactions)
	}
	read := func(h int, mb *wire.MsgBlock) fetched {
		ids, err := txHashes(mb)
		if err != nil {
			b.Fatal(err)
		}
		if err := checkMerkle(mb, ids, nil); err != nil {
			b.Fatal(err)
		}
		blk, err := normalize(mb, int64(h), params, nil, ids)
		if err != nil {
			b.Fatal(err)
		}
		return fetched{height: int64(h), msg: mb, txids: ids, block: blk}
	}
	normalized := make([]fetched, len(chain))
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			for h, mb := range chain {
				normalized[h] = read(h, mb)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(txs), "ns/tx")
	})
	b.Run("connect", func(b *testing.B) {
		var elapsed time.Duration
		for b.Loop() {
			b.StopTimer()
			blocks := make([]fetched, len(chain))
			for h, mb := range chain {
				blocks[h] = read(h, mb)
			}
			s, err := OpenChainState(b.TempDir(), 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			for h, f := range blocks {
				if err := resolveInputs(f.msg, f.block, s, f.txids); err != nil {
					b.Fatal(err)
				}
				ev, err := s.connect(f.block, true, &rawHashes{txids: f.txids, msg: f.msg})
				if err != nil {
					b.Fatal(err)
				}
				if h%16 == 15 || h == len(chain)-1 {
					if err := s.Sync(); err != nil {
						b.Fatal(err)
					}
					if err := s.Published(ev.Seq); err != nil {
						b.Fatal(err)
					}
				}
			}
			elapsed += time.Since(start)
			b.StopTimer()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/float64(txs), "ns/tx")
	})
}
