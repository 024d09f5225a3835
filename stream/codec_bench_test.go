package stream_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/stream"
	"github.com/tracerproject/tracer/stream/payload"
)

// memPrevouts resolves prevouts from the outputs of earlier blocks.
type memPrevouts map[wire.OutPoint]chain.Output

func (m memPrevouts) Prevout(op wire.OutPoint) (chain.Output, error) {
	o, ok := m[op]
	if !ok {
		return o, fmt.Errorf("no prevout %v", op)
	}
	return o, nil
}

// mainnetSizedEvent is a block event of about 2,500 transactions.
func mainnetSizedEvent(b *testing.B) *chain.Event {
	b.Helper()
	cfg := simulate.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock = 12, 2500
	g, err := simulate.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	prev := memPrevouts{}
	var blk *chain.Block
	for h := int64(0); ; h++ {
		mb, err := g.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		blk, err = btc.Normalize(mb, h, &chaincfg.MainNetParams, prev)
		if err != nil {
			b.Fatal(err)
		}
		for _, tx := range blk.Txs {
			for _, o := range tx.Outputs {
				h, _ := chainhash.NewHashFromStr(tx.Txid)
				prev[wire.OutPoint{Hash: *h, Index: o.Index}] = o
			}
		}
	}
	return &chain.Event{Kind: chain.KindBlock, Seq: 1, Chain: blk.Chain, Height: blk.Height, Hash: blk.Hash, Block: blk}
}

// BenchmarkCodec measures encoding and decoding a mainnet-sized block
// event, per transaction.
func BenchmarkCodec(b *testing.B) {
	ev := mainnetSizedEvent(b)
	m, err := payload.NewMessage(ev)
	if err != nil {
		b.Fatal(err)
	}
	msgs, err := stream.Encode(m, 8<<20)
	if err != nil {
		b.Fatal(err)
	}
	var size int
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = m.Data
		size += len(m.Data)
	}
	txs := float64(len(ev.Block.Txs))
	b.Logf("%d txs, %d bytes compressed in %d messages", len(ev.Block.Txs), size, len(msgs))
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			m, err := payload.NewMessage(ev)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := stream.Encode(m, 8<<20); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/txs, "ns/tx")
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := stream.Decode(bodies); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/txs, "ns/tx")
	})
}
