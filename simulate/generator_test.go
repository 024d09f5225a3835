package simulate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// smallConfig is a chain that runs in well under a second: a few hundred
// users, long enough for every kind of planted flow.
func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.Users, cfg.Seed = 60, 150, 400, 7
	return cfg
}

func generate(t testing.TB, cfg Config) ([]*wire.MsgBlock, *Truth) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var blocks []*wire.MsgBlock
	for {
		b, err := g.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next at height %d: %v", len(blocks), err)
		}
		blocks = append(blocks, b)
	}
	if len(blocks) != cfg.Blocks {
		t.Fatalf("got %d blocks, want %d", len(blocks), cfg.Blocks)
	}
	return blocks, g.Truth()
}

// outputAddress names an output the way the truth does, worked out from the
// script with txscript rather than with the generator's own code: P2PK by the
// P2PKH address of its key, bare multisig by "s-" and the script's SHA-256.
func outputAddress(t testing.TB, pkScript []byte, params *chaincfg.Params) (string, bool) {
	t.Helper()
	class, addrs, _, err := txscript.ExtractPkScriptAddrs(pkScript, params)
	if err != nil {
		t.Fatalf("script %x: %v", pkScript, err)
	}
	switch class {
	case txscript.NullDataTy:
		return "", false
	case txscript.PubKeyTy:
		if len(addrs) != 1 {
			t.Fatalf("P2PK script %x: key does not parse", pkScript)
		}
		return addrs[0].(*btcutil.AddressPubKey).AddressPubKeyHash().EncodeAddress(), true
	case txscript.MultiSigTy:
		sum := sha256.Sum256(pkScript)
		return "s-" + hex.EncodeToString(sum[:]), true
	case txscript.PubKeyHashTy, txscript.ScriptHashTy, txscript.WitnessV0PubKeyHashTy,
		txscript.WitnessV0ScriptHashTy, txscript.WitnessV1TaprootTy:
		return addrs[0].EncodeAddress(), true
	}
	t.Fatalf("script %x: unexpected class %s", pkScript, class)
	return "", false
}

type utxo struct {
	value int64
	addr  string
}

// chainStats is what checkChain counts.
type chainStats struct {
	txs, ins, outs int64 // from height 2 on, coinbases included
	types          map[txscript.ScriptClass]int
	reused         int // outputs paying an address paid before
	outputsTo      int // outputs with an address
}

// checkChain checks everything a consumer relies on: wire round trips,
// txids, merkle roots and witness commitments, the header chain, BIP34
// heights, coinbase values, that every input spends an existing unspent
// output and value is conserved, and that every address has an owner in the
// truth. It returns the outputs left unspent.
func checkChain(t *testing.T, params *chaincfg.Params, blocks []*wire.MsgBlock, truth *Truth) (map[wire.OutPoint]utxo, chainStats) {
	t.Helper()
	owners := truth.Owners()
	utxos := make(map[wire.OutPoint]utxo)
	seen := make(map[string]bool)
	st := chainStats{types: map[txscript.ScriptClass]int{}}
	var prev chainhash.Hash
	var prevTime time.Time
	for h, blk := range blocks {
		hash := blk.BlockHash()
		if h == 0 {
			if hash != *params.GenesisHash {
				t.Fatalf("block 0 is %s, want the %s genesis block %s", hash, params.Name, params.GenesisHash)
			}
			prev, prevTime = hash, blk.Header.Timestamp
			continue
		}
		if blk.Header.PrevBlock != prev {
			t.Fatalf("block %d: prev %s, want %s", h, blk.Header.PrevBlock, prev)
		}
		if !blk.Header.Timestamp.After(prevTime) {
			t.Fatalf("block %d: time %s not after %s", h, blk.Header.Timestamp, prevTime)
		}
		if blk.Header.Bits != params.PowLimitBits {
			t.Fatalf("block %d: bits %08x, want %08x", h, blk.Header.Bits, params.PowLimitBits)
		}
		prev, prevTime = hash, blk.Header.Timestamp

		// Our serializer against wire's, and wire's decoder on the bytes.
		var buf bytes.Buffer
		if err := blk.Serialize(&buf); err != nil {
			t.Fatalf("block %d: serialize: %v", h, err)
		}
		if mine := appendBlock(nil, blk); !bytes.Equal(mine, buf.Bytes()) {
			t.Fatalf("block %d: appendBlock differs from wire (%d vs %d bytes)", h, len(mine), buf.Len())
		}
		var dec wire.MsgBlock
		if err := dec.Deserialize(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("block %d: decode: %v", h, err)
		}
		if dec.BlockHash() != hash || len(dec.Transactions) != len(blk.Transactions) {
			t.Fatalf("block %d: decoded block differs", h)
		}
		ub := btcutil.NewBlock(&dec)
		if got := blockchain.CalcMerkleRoot(ub.Transactions(), false); got != blk.Header.MerkleRoot {
			t.Fatalf("block %d: merkle root %s, want %s", h, blk.Header.MerkleRoot, got)
		}
		if err := blockchain.ValidateWitnessCommitment(ub); err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		cbHeight, err := blockchain.ExtractCoinbaseHeight(ub.Transactions()[0])
		if err != nil || int(cbHeight) != h {
			t.Fatalf("block %d: coinbase height %d, %v", h, cbHeight, err)
		}

		var fees int64
		for i, tx := range dec.Transactions {
			txid := tx.TxHash()
			if i == 0 != blockchain.IsCoinBaseTx(tx) {
				t.Fatalf("block %d tx %d: coinbase only first", h, i)
			}
			var in int64
			if i > 0 {
				for _, ti := range tx.TxIn {
					u, ok := utxos[ti.PreviousOutPoint]
					if !ok {
						t.Fatalf("block %d tx %s: input %s is not an unspent output", h, txid, ti.PreviousOutPoint)
					}
					delete(utxos, ti.PreviousOutPoint)
					in += u.value
				}
			}
			var out int64
			for n, o := range tx.TxOut {
				out += o.Value
				if h >= 2 {
					st.types[txscript.GetScriptClass(o.PkScript)]++
				}
				addr, ok := outputAddress(t, o.PkScript, params)
				if !ok {
					continue
				}
				if _, ok := owners[addr]; !ok {
					t.Fatalf("block %d tx %s output %d: address %s has no owner in the truth", h, txid, n, addr)
				}
				if h >= 2 && i > 0 {
					st.outputsTo++
					if seen[addr] {
						st.reused++
					}
				}
				seen[addr] = true
				utxos[wire.OutPoint{Hash: txid, Index: uint32(n)}] = utxo{value: o.Value, addr: addr}
			}
			if i > 0 {
				if out >= in {
					t.Fatalf("block %d tx %s: pays %d from %d", h, txid, out, in)
				}
				fees += in - out
			}
			if h >= 2 {
				st.txs++
				st.ins += int64(len(tx.TxIn))
				st.outs += int64(len(tx.TxOut))
			}
		}
		// The coinbase comes first but pays the fees of the whole block.
		var cbOut int64
		for _, o := range dec.Transactions[0].TxOut {
			cbOut += o.Value
		}
		if want := blockchain.CalcBlockSubsidy(int32(h), params) + fees; h >= 2 && cbOut != want {
			t.Fatalf("block %d: coinbase pays %d, want subsidy %d + fees %d", h, cbOut, want-fees, fees)
		}
	}
	return utxos, st
}

func TestChainIsValid(t *testing.T) {
	cfg := smallConfig()
	blocks, truth := generate(t, cfg)
	checkChain(t, cfg.Params, blocks, truth)
}
