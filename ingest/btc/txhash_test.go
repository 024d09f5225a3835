package btc

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/tracerproject/tracer/simulate"
)

// TestDecodeBlockHashes holds the hashes taken from the block's bytes to
// btcd's own (TxHash, WitnessHash) on real mainnet blocks, with and
// without witness data, and on a synthetic chain's blocks; and checks that
// the witness commitment check gives the same answer from them.
func TestDecodeBlockHashes(t *testing.T) {
	check := func(t *testing.T, raw []byte) (witness int) {
		t.Helper()
		b, ids, rest, err := decodeBlock(raw, true)
		if err != nil || rest != 0 {
			t.Fatalf("decodeBlock: %v, %d bytes left", err, rest)
		}
		for i, tx := range b.Transactions {
			if tx.HasWitness() {
				witness++
			}
			if got, want := ids.txids[i], tx.TxHash(); got != want {
				t.Fatalf("tx %d: txid %s from the bytes, btcd says %s", i, got, want)
			}
			if got, want := ids.wtxids[i], tx.WitnessHash(); got != want {
				t.Fatalf("tx %d: wtxid %s from the bytes, btcd says %s", i, got, want)
			}
		}
		hash := b.BlockHash()
		if plain, none, rest, err := decodeBlock(raw, false); err != nil || none != nil || rest != 0 || plain.BlockHash() != hash || len(plain.Transactions) != len(b.Transactions) {
			t.Fatalf("decodeBlock without hashes: %v, ids %v, %d bytes left", err, none, rest)
		}
		a, c := checkWitnessCommitment(b, hash, ids.wtxids), checkWitnessCommitment(b, hash, nil)
		if (a == nil) != (c == nil) {
			t.Errorf("witness commitment: %v from the bytes' wtxids, %v from serializing", a, c)
		}
		return witness
	}
	for _, rb := range realBlocks {
		t.Run(rb.name, func(t *testing.T) {
			n := check(t, rb.raw(t))
			t.Logf("%d transactions with witness data", n)
		})
	}
	t.Run("simulated", func(t *testing.T) {
		cfg := simulate.DefaultConfig()
		cfg.Blocks, cfg.TxsPerBlock = 8, 300
		g, err := simulate.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		witness := 0
		for {
			mb, err := g.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := mb.Serialize(&buf); err != nil {
				t.Fatal(err)
			}
			witness += check(t, buf.Bytes())
		}
		if witness == 0 {
			t.Error("the synthetic chain has no transaction with witness data: the witness path went untested")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		if _, _, _, err := decodeBlock([]byte{1, 2, 3}, true); err == nil {
			t.Error("three bytes decoded as a block")
		}
		if _, _, _, err := decodeBlock(append(make([]byte, 80), 0xff), true); err == nil {
			t.Error("a header with a huge tx count and no transactions decoded")
		}
	})
}
