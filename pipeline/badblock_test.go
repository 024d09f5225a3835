package pipeline_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
)

// TestBadMerkleRootStopsIngest damages one transaction of a block in the
// blk files (its header, and so its hash, stays as it was): ingest must stop
// at that block with an error naming it, keep every block before it stored,
// store nothing of it, and resume once the file is repaired.
func TestBadMerkleRootStopsIngest(t *testing.T) {
	c := simMakeChain(t, simConfig(&chaincfg.RegressionNetParams, 16, 30), false)
	const bad = 9
	file := filepath.Join(c.dir, "blk00000.dat")
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(orig)
	want := c.blocks[bad].BlockHash()
	found := false
	for off := 0; off+8 <= len(damaged); {
		if binary.LittleEndian.Uint32(damaged[off:]) != uint32(c.params.Net) {
			break // the zero padding after the last record
		}
		size := int(binary.LittleEndian.Uint32(damaged[off+4:]))
		var hdr wire.BlockHeader
		if err := hdr.Deserialize(bytes.NewReader(damaged[off+8:])); err != nil {
			t.Fatal(err)
		}
		if hdr.BlockHash() == want {
			// The record's last byte is the last transaction's lock time.
			damaged[off+8+size-1] ^= 0x01
			found = true
			break
		}
		off += 8 + size
	}
	if !found {
		t.Fatalf("block %d (%s) not found in %s", bad, want, file)
	}
	if err := os.WriteFile(file, damaged, 0o644); err != nil {
		t.Fatal(err)
	}

	dsn := chserver.TempDatabase(t)
	data := t.TempDir()
	p, closeP := simOpen(t, data, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: c.dir, To: -1})
	if !errors.Is(err, btc.ErrBadMerkleRoot) || !strings.Contains(err.Error(), want.String()) {
		t.Fatalf("ingest of a damaged block: got %v, want ErrBadMerkleRoot naming %s", err, want)
	}
	st := simStore(t, ctx, p)
	stats, err := st.Stats(ctx, "btc")
	if err != nil {
		t.Fatal(err)
	}
	if stats.TipHeight != bad-1 || stats.Blocks != bad {
		t.Errorf("after the damaged block: store tip %d with %d blocks, want tip %d with %d", stats.TipHeight, stats.Blocks, bad-1, bad)
	}
	var txs uint64
	for _, b := range c.blocks[:bad] {
		txs += uint64(len(b.Transactions))
	}
	if stats.Txs != txs {
		t.Errorf("after the damaged block: %d txs stored, want %d (blocks 0..%d)", stats.Txs, txs, bad-1)
	}
	closeP()

	// Repaired, the same data directory resumes and ends with the chain.
	if err := os.WriteFile(file, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	p, _ = simOpen(t, data, dsn)
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: c.dir, To: -1}); err != nil {
		t.Fatalf("ingest after the repair: %v", err)
	}
	simCheckStore(t, ctx, simStore(t, ctx, p), c)
}
