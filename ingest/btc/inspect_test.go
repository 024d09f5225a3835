package btc

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

func TestDecodeRawBlock(t *testing.T) {
	raw := btcdRecords(t, btcd277647)[0]
	want := blockHash(raw)
	hexRaw := hex.EncodeToString(raw)
	wrapped := func(s string, width int) string {
		var b strings.Builder
		for len(s) > width {
			b.WriteString(s[:width] + "\n")
			s = s[width:]
		}
		return b.String() + s + "\n"
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"binary", raw},
		{"framed binary", frame(wire.MainNet, raw)},
		{"hex", []byte(hexRaw)},
		{"upper-case hex with 0x", []byte("0x" + strings.ToUpper(hexRaw))},
		{"hex wrapped at 64 columns with CRLF", []byte(strings.ReplaceAll(wrapped(hexRaw, 64), "\n", "\r\n"))},
		{"hex with surrounding space", []byte("  \n\t" + hexRaw + "  \n")},
		{"framed hex", []byte(hex.EncodeToString(frame(wire.MainNet, raw)))},
		{"framed testnet record", frame(wire.TestNet3, raw)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := DecodeRawBlock(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if b.BlockHash() != want || len(b.Transactions) != 213 {
				t.Errorf("got block %s with %d txs, want %s with 213", b.BlockHash(), len(b.Transactions), want)
			}
		})
	}
}

func TestDecodeRawBlockErrors(t *testing.T) {
	raw := btcdRecords(t, btcd277647)[0]
	two := append(frame(wire.MainNet, raw), frame(wire.MainNet, raw)...)
	tests := []struct {
		name string
		data []byte
		says string
	}{
		{"empty", nil, "empty input"},
		{"only whitespace", []byte(" \n "), "empty input"},
		{"odd hex", []byte("0100000"), "odd number of digits"},
		{"truncated binary", raw[:len(raw)-10], "decoding block of 149154 bytes"},
		{"truncated hex", []byte(hex.EncodeToString(raw[:1000])), "decoding block of 1000 bytes"},
		{"trailing bytes", append(bytes.Clone(raw), 0, 0), "2 trailing bytes after the 149164 byte block"},
		{"whole blk file", two, "a whole blk file"},
		{"framed, truncated", frame(wire.MainNet, raw)[:5000], "the record prefix says 149164 bytes, 4992 follow it"},
		{"shorter than a header", raw[:50], "shorter than a block header"},
		{"text that is not hex", []byte("hello, block"), "decoding block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRawBlock(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("got %v, want an error saying %q", err, tc.says)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add(serialize(f, chaincfg.MainNetParams.GenesisBlock))
	for _, raw := range seedBlocks(f, btcdBlk0to4) {
		f.Add(raw)
		f.Add(frame(wire.MainNet, raw))
	}
	for _, raw := range seedBlocks(f, btcdBlk3A) {
		f.Add([]byte(hex.EncodeToString(raw)))
	}
	if blocks := seedBlocks(f, btcdBlocks256); len(blocks) > 175 {
		for _, raw := range blocks[165:175] {
			f.Add(raw)
		}
	}
	for _, rel := range []string{btcd277647, btcd574200, btcd540107} {
		for _, raw := range seedBlocks(f, rel) {
			f.Add(raw)
		}
	}
	if raw, err := os.ReadFile(filepath.Join(realDataDir(), "btc", "block413567.raw")); err == nil {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeRawBlock(data)
		if err != nil {
			return
		}
		_ = CheckMerkle(b)
		nb, err := Normalize(b, 1, &chaincfg.MainNetParams, nil)
		if err != nil {
			return
		}
		if len(nb.Txs) != len(b.Transactions) {
			t.Fatalf("got %d txs, want %d", len(nb.Txs), len(b.Transactions))
		}
		for i, tx := range nb.Txs {
			if len(tx.Inputs) != len(b.Transactions[i].TxIn) || len(tx.Outputs) != len(b.Transactions[i].TxOut) {
				t.Fatalf("tx %d: got %d inputs %d outputs, want %d %d", i, len(tx.Inputs), len(tx.Outputs), len(b.Transactions[i].TxIn), len(b.Transactions[i].TxOut))
			}
			if tx.Vsize > tx.Size || tx.Size <= 0 {
				t.Fatalf("tx %d: vsize %d, size %d", i, tx.Vsize, tx.Size)
			}
		}
	})
}
