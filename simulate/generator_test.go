package simulate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
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

// chainIndex is what checkChain learns about the chain.
type chainIndex struct {
	txs     map[chainhash.Hash]*wire.MsgTx
	heights map[chainhash.Hash]int
	outputs map[wire.OutPoint]utxo // every output ever made (OP_RETURN aside)
	unspent map[wire.OutPoint]utxo

	// From the end of the premine on, coinbases included.
	nTxs, ins, outs int64
	types           map[txscript.ScriptClass]int
	reused          int // outputs paying an address paid before
	outputsTo       int // outputs with an address
}

// checkChain checks everything a consumer relies on: wire round trips,
// txids, merkle roots and witness commitments, the header chain, BIP34
// heights, coinbase values, that every input spends an existing unspent
// output and value is conserved, and that every address has an owner in the
// truth.
func checkChain(t *testing.T, params *chaincfg.Params, blocks []*wire.MsgBlock, truth *Truth) *chainIndex {
	t.Helper()
	owners := truth.Owners()
	ix := &chainIndex{
		txs:     make(map[chainhash.Hash]*wire.MsgTx),
		heights: make(map[chainhash.Hash]int),
		outputs: make(map[wire.OutPoint]utxo),
		unspent: make(map[wire.OutPoint]utxo),
		types:   make(map[txscript.ScriptClass]int),
	}
	seen := make(map[string]bool)
	traffic := int(truth.PremineBlocks) + 1 // first height of traffic
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
		// Regtest's target is easy enough for the generator to meet.
		if target := blockchain.CompactToBig(blk.Header.Bits); target.BitLen() > 250 && blockchain.HashToBig(&hash).Cmp(target) > 0 {
			t.Fatalf("block %d: hash %s above the regtest target", h, hash)
		}
		cbHeight, err := blockchain.ExtractCoinbaseHeight(ub.Transactions()[0])
		if err != nil || int(cbHeight) != h {
			t.Fatalf("block %d: coinbase height %d, %v", h, cbHeight, err)
		}

		var fees int64
		for i, tx := range dec.Transactions {
			txid := tx.TxHash()
			if _, dup := ix.txs[txid]; dup {
				t.Fatalf("block %d: txid %s again", h, txid)
			}
			ix.txs[txid], ix.heights[txid] = tx, h
			if (i == 0) != blockchain.IsCoinBaseTx(tx) {
				t.Fatalf("block %d tx %d: a coinbase must be first and only first", h, i)
			}
			var in int64
			if i > 0 {
				for _, ti := range tx.TxIn {
					u, ok := ix.unspent[ti.PreviousOutPoint]
					if !ok {
						t.Fatalf("block %d tx %s: input %s is not an unspent output", h, txid, ti.PreviousOutPoint)
					}
					delete(ix.unspent, ti.PreviousOutPoint)
					in += u.value
				}
			}
			var out int64
			for n, o := range tx.TxOut {
				out += o.Value
				if h >= traffic {
					ix.types[txscript.GetScriptClass(o.PkScript)]++
				}
				addr, ok := outputAddress(t, o.PkScript, params)
				if !ok {
					continue
				}
				if _, ok := owners[addr]; !ok {
					t.Fatalf("block %d tx %s output %d: address %s has no owner in the truth", h, txid, n, addr)
				}
				if h >= traffic && i > 0 {
					ix.outputsTo++
					if seen[addr] {
						ix.reused++
					}
				}
				seen[addr] = true
				op := wire.OutPoint{Hash: txid, Index: uint32(n)}
				ix.unspent[op] = utxo{value: o.Value, addr: addr}
				ix.outputs[op] = utxo{value: o.Value, addr: addr}
			}
			if i > 0 {
				if out >= in {
					t.Fatalf("block %d tx %s: pays %d from %d: no fee", h, txid, out, in)
				}
				fees += in - out
			}
			if h >= traffic {
				ix.nTxs++
				ix.ins += int64(len(tx.TxIn))
				ix.outs += int64(len(tx.TxOut))
			}
		}
		// The coinbase comes first but pays the fees of the whole block.
		var cbOut int64
		for _, o := range dec.Transactions[0].TxOut {
			cbOut += o.Value
		}
		if want := blockchain.CalcBlockSubsidy(int32(h), params) + fees; h >= traffic && cbOut != want {
			t.Fatalf("block %d: coinbase pays %d, want subsidy %d + fees %d", h, cbOut, want-fees, fees)
		}
	}
	return ix
}

func TestChainIsValid(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"small", func(*Config) {}},
		{"coinbase only but planted", func(c *Config) { c.TxsPerBlock = 1 }},
		{"fewest users", func(c *Config) { c.Users = 100 }},
		{"big scenario", func(c *Config) {
			c.Brokers, c.Buyers, c.Cartels, c.Intermediaries, c.Exchanges, c.Miners = 12, 60, 5, 3, 7, 1
		}},
		{"mainnet", func(c *Config) { c.Params, c.Blocks = &chaincfg.MainNetParams, 12 }},
		{"testnet3", func(c *Config) { c.Params, c.Blocks = &chaincfg.TestNet3Params, 12 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig()
			tt.edit(&cfg)
			blocks, truth := generate(t, cfg)
			ix := checkChain(t, cfg.Params, blocks, truth)
			traffic := cfg.Blocks - 1 - int(truth.PremineBlocks)
			if ix.nTxs < int64(traffic*cfg.TxsPerBlock) {
				t.Errorf("got %d transactions after the premine, want at least %d", ix.nTxs, traffic*cfg.TxsPerBlock)
			}
			if truth.Blocks != int64(cfg.Blocks) || truth.Tip != blocks[len(blocks)-1].BlockHash().String() || truth.Network != cfg.Params.Name {
				t.Errorf("truth: got %d blocks, tip %s, network %s", truth.Blocks, truth.Tip, truth.Network)
			}
		})
	}
}

// TestFlows checks the planted scenario against the chain: every flow is
// paid as stated, along a path of transactions that each spend the one
// before, from coins of the sender to an address of the receiver.
func TestFlows(t *testing.T) {
	cfg := smallConfig()
	blocks, truth := generate(t, cfg)
	ix := checkChain(t, cfg.Params, blocks, truth)
	owners := truth.Owners()
	kindOf := make(map[int]Kind)
	for _, e := range truth.Entities {
		kindOf[e.ID] = e.Kind
	}
	want := map[FlowKind][2]Kind{
		FlowPurchase: {KindBuyer, KindBroker},
		FlowCashOut:  {KindBroker, KindExchange},
		FlowCartel:   {KindBroker, KindCartel},
		FlowFunding:  {KindCartel, KindBuyer},
	}
	count := make(map[FlowKind]int)
	for _, f := range truth.Flows {
		count[f.Kind]++
		kinds, ok := want[f.Kind]
		if !ok {
			t.Fatalf("flow %d: unknown kind %q", f.ID, f.Kind)
		}
		if kindOf[f.From] != kinds[0] || kindOf[f.To] != kinds[1] {
			t.Errorf("flow %d (%s): from a %s to a %s, want %s to %s", f.ID, f.Kind, kindOf[f.From], kindOf[f.To], kinds[0], kinds[1])
		}
		txid, err := chainhash.NewHashFromStr(f.Txid)
		if err != nil {
			t.Fatal(err)
		}
		tx, ok := ix.txs[*txid]
		if !ok {
			t.Fatalf("flow %d: tx %s is not in the chain", f.ID, f.Txid)
		}
		if ix.heights[*txid] != int(f.Height) {
			t.Errorf("flow %d: tx at height %d, truth says %d", f.ID, ix.heights[*txid], f.Height)
		}
		out := ix.outputs[wire.OutPoint{Hash: *txid, Index: f.Vout}]
		if out.addr != f.Address || out.value != f.Amount || int(f.Vout) >= len(tx.TxOut) {
			t.Errorf("flow %d: output %d pays %d to %s, want %d to %s", f.ID, f.Vout, out.value, out.addr, f.Amount, f.Address)
		}
		if owners[f.Address] != f.To {
			t.Errorf("flow %d: %s belongs to %d, want %d", f.ID, f.Address, owners[f.Address], f.To)
		}
		if len(f.Path) != f.Hops+1 || f.Path[len(f.Path)-1] != f.Txid {
			t.Fatalf("flow %d: path %v for %d hops ending in %s", f.ID, f.Path, f.Hops, f.Txid)
		}
		// The first transaction spends the sender's coins; each next one
		// spends an output of the one before, held by an intermediary.
		var prev *chainhash.Hash
		for i, p := range f.Path {
			h, _ := chainhash.NewHashFromStr(p)
			ptx, ok := ix.txs[*h]
			if !ok {
				t.Fatalf("flow %d: path tx %s is not in the chain", f.ID, p)
			}
			for _, in := range ptx.TxIn {
				owner := owners[ix.outputs[in.PreviousOutPoint].addr]
				switch {
				case i == 0 && owner != f.From:
					t.Errorf("flow %d: first tx %s spends a coin of %d, want %d", f.ID, p, owner, f.From)
				case i > 0 && (in.PreviousOutPoint.Hash != *prev || kindOf[owner] != KindIntermediary):
					t.Errorf("flow %d: path tx %s spends %s of a %s, want an intermediary's output of %s", f.ID, p, in.PreviousOutPoint, kindOf[owner], prev)
				}
			}
			prev = h
		}
	}
	for kind := range want {
		if count[kind] == 0 {
			t.Errorf("no %s flows in %d blocks", kind, cfg.Blocks)
		}
	}
	// Buyers pay consistent amounts: each its own, or twice that.
	amounts := make(map[int]map[int64]bool)
	for _, f := range truth.Flows {
		if f.Kind == FlowPurchase {
			if amounts[f.From] == nil {
				amounts[f.From] = make(map[int64]bool)
			}
			amounts[f.From][f.Amount] = true
		}
	}
	for b, as := range amounts {
		if len(as) > 2 {
			t.Errorf("buyer %d pays %d different amounts, want at most 2", b, len(as))
		}
	}

	for _, cj := range truth.CoinJoins {
		h, _ := chainhash.NewHashFromStr(cj.Txid)
		tx := ix.txs[*h]
		values := make(map[int64]int)
		for _, o := range tx.TxOut {
			values[o.Value]++
		}
		equal := 0
		for _, n := range values {
			equal = max(equal, n)
		}
		spenders := make(map[int]bool)
		for _, in := range tx.TxIn {
			spenders[owners[ix.outputs[in.PreviousOutPoint].addr]] = true
		}
		if equal < 5 || equal > 50 || len(spenders) != equal {
			t.Errorf("coinjoin %s: %d equal outputs, %d spenders; want 5 to 50, one each", cj.Txid, equal, len(spenders))
		}
	}
	for _, p := range truth.BatchPayouts {
		h, _ := chainhash.NewHashFromStr(p.Txid)
		tx := ix.txs[*h]
		if len(tx.TxOut) < 21 || len(tx.TxOut) > 201 || len(tx.TxIn) > 2 {
			t.Errorf("batch payout %s: %d inputs, %d outputs; want 1 or 2 inputs, 20 to 200 payees and change", p.Txid, len(tx.TxIn), len(tx.TxOut))
		}
	}
	if len(truth.CoinJoins) == 0 || len(truth.BatchPayouts) == 0 {
		t.Errorf("got %d coinjoins, %d batch payouts; want some of each", len(truth.CoinJoins), len(truth.BatchPayouts))
	}
}

// TestMainnetShape checks the averages the ingest benchmark relies on, at
// mainnet density.
func TestMainnetShape(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.Seed = 16, 2500, 3
	blocks, truth := generate(t, cfg)
	ix := checkChain(t, cfg.Params, blocks, truth)
	ins, outs := float64(ix.ins)/float64(ix.nTxs), float64(ix.outs)/float64(ix.nTxs)
	t.Logf("%d txs: %.3f inputs, %.3f outputs a tx; %.1f%% of outputs to reused addresses", ix.nTxs, ins, outs, 100*float64(ix.reused)/float64(ix.outputsTo))
	if ins < 2.0 || ins > 2.6 {
		t.Errorf("inputs per tx: got %.3f, want 2.3 ± 0.3", ins)
	}
	if outs < 2.3 || outs > 2.9 {
		t.Errorf("outputs per tx: got %.3f, want 2.6 ± 0.3", outs)
	}
	if truth.PremineBlocks != 3 {
		t.Errorf("premine blocks: got %d, want 3 for %d users", truth.PremineBlocks, cfg.Users)
	}
	for _, b := range blocks[truth.PremineBlocks+1:] {
		if len(b.Transactions) != cfg.TxsPerBlock {
			t.Fatalf("block of %d txs, want %d", len(b.Transactions), cfg.TxsPerBlock)
		}
	}
	var total int
	for _, n := range ix.types {
		total += n
	}
	most := txscript.WitnessV0PubKeyHashTy
	for class, n := range ix.types {
		t.Logf("%-24s %5.1f%%", class, 100*float64(n)/float64(total))
		if n > ix.types[most] {
			t.Errorf("%s outputs outnumber P2WPKH ones", class)
		}
	}
	for _, class := range []txscript.ScriptClass{txscript.PubKeyHashTy, txscript.ScriptHashTy, txscript.WitnessV0ScriptHashTy,
		txscript.WitnessV1TaprootTy, txscript.PubKeyTy, txscript.MultiSigTy, txscript.NullDataTy} {
		if ix.types[class] == 0 {
			t.Errorf("no %s outputs", class)
		}
	}
	if ix.reused == 0 {
		t.Error("no address reuse")
	}
}

func TestNextEnds(t *testing.T) {
	cfg := smallConfig()
	cfg.Blocks = 3
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := g.Next(); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	if _, err := g.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last block: got %v, want io.EOF", err)
	}
	if g.Height() != 3 {
		t.Errorf("Height: got %d, want 3", g.Height())
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"nil params means regtest", func(c *Config) { c.Params = nil }, true},
		{"mainnet", func(c *Config) { c.Params = &chaincfg.MainNetParams }, true},
		{"endless", func(c *Config) { c.Blocks = 0 }, true},
		{"negative blocks", func(c *Config) { c.Blocks = -1 }, false},
		{"no txs", func(c *Config) { c.TxsPerBlock = 0 }, false},
		{"too many txs", func(c *Config) { c.TxsPerBlock = MaxTxsPerBlock + 1 }, false},
		{"few users", func(c *Config) { c.Users = 99 }, false},
		{"no brokers", func(c *Config) { c.Brokers = 0 }, false},
		{"no buyers", func(c *Config) { c.Buyers = 0 }, false},
		{"no cartels", func(c *Config) { c.Cartels = 0 }, false},
		{"no exchanges", func(c *Config) { c.Exchanges = 0 }, false},
		{"no miners", func(c *Config) { c.Miners = 0 }, false},
		{"no intermediaries", func(c *Config) { c.Intermediaries = 0 }, false},
		{"zero start time", func(c *Config) { c.StartTime = time.Time{} }, false},
		{"start before genesis", func(c *Config) { c.StartTime = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"past 2106", func(c *Config) { c.StartTime = time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.edit(&cfg)
		_, err := New(cfg)
		if tt.ok && err != nil {
			t.Errorf("%s: got %v, want no error", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestTruthRoundTrip(t *testing.T) {
	cfg := smallConfig()
	cfg.Blocks = 20
	_, truth := generate(t, cfg)
	path := t.TempDir() + "/truth.json"
	if err := truth.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTruthFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, truth) {
		t.Error("truth read back differs from the truth written")
	}
}
