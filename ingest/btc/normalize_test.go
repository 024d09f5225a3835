package btc

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
)

// utxoSet is an in-memory PrevoutLookup: the outputs of the blocks added to
// it, like ChainState without the disk.
type utxoSet map[wire.OutPoint]chain.Output

func (u utxoSet) Prevout(op wire.OutPoint) (chain.Output, error) {
	o, ok := u[op]
	if !ok {
		return chain.Output{}, fmt.Errorf("%w: %s:%d", ErrPrevoutNotFound, op.Hash, op.Index)
	}
	return o, nil
}

func (u utxoSet) add(t testing.TB, b *chain.Block) {
	t.Helper()
	for _, tx := range b.Txs {
		h, err := chainhash.NewHashFromStr(tx.Txid)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range tx.Inputs {
			if in.Coinbase {
				continue
			}
			p, _ := chainhash.NewHashFromStr(in.PrevTxid)
			delete(u, wire.OutPoint{Hash: *p, Index: in.PrevIndex})
		}
		for _, o := range tx.Outputs {
			u[wire.OutPoint{Hash: *h, Index: o.Index}] = o
		}
	}
}

// everything answers every lookup with the same output and records what it
// was asked: the real blocks' older prevouts are not in the test data.
type everything struct {
	asked []wire.OutPoint
}

var everyOutput = chain.Output{Address: "older-output", ScriptType: chain.ScriptP2PKH, Value: 1}

func (e *everything) Prevout(op wire.OutPoint) (chain.Output, error) {
	e.asked = append(e.asked, op)
	o := everyOutput
	o.Index = op.Index
	return o, nil
}

func TestNormalizeRealBlocks(t *testing.T) {
	params := &chaincfg.MainNetParams
	for _, rb := range realBlocks {
		t.Run(rb.name, func(t *testing.T) {
			mb := decode(t, rb.raw(t))
			if err := CheckMerkle(mb); rb.badMerkle {
				if !errors.Is(err, ErrBadMerkleRoot) || !strings.Contains(err.Error(), rb.hash) {
					t.Errorf("CheckMerkle of a block whose header does not match: got %v, want ErrBadMerkleRoot naming %s", err, rb.hash)
				}
			} else if err != nil {
				t.Fatalf("CheckMerkle: %v", err)
			}
			lookup := &everything{}
			b, err := Normalize(mb, 7, params, lookup)
			if err != nil {
				t.Fatal(err)
			}
			if b.Chain != "btc" || b.Height != 7 || b.Hash != rb.hash || b.Parent != mb.Header.PrevBlock.String() ||
				b.Time != mb.Header.Timestamp.Unix() || b.Size != rb.size {
				t.Errorf("header: got %s %d %s parent %s time %d size %d, want btc 7 %s parent %s time %d size %d",
					b.Chain, b.Height, b.Hash, b.Parent, b.Time, b.Size, rb.hash, mb.Header.PrevBlock, mb.Header.Timestamp.Unix(), rb.size)
			}
			if len(b.Txs) != rb.txs {
				t.Fatalf("got %d txs, want %d", len(b.Txs), rb.txs)
			}
			if b.Txs[0].Txid != rb.firstTxid || b.Txs[len(b.Txs)-1].Txid != rb.lastTxid {
				t.Errorf("txids: got first %s last %s, want %s %s", b.Txs[0].Txid, b.Txs[len(b.Txs)-1].Txid, rb.firstTxid, rb.lastTxid)
			}
			var ins, outs, vsize, intra int
			var value int64
			txids := map[string]int{}
			for i, tx := range b.Txs {
				if tx.Index != i || tx.Coinbase != (i == 0) {
					t.Errorf("tx %d: got index %d coinbase %v", i, tx.Index, tx.Coinbase)
				}
				if want := mb.Transactions[i].TxHash().String(); tx.Txid != want {
					t.Errorf("tx %d: got txid %s, want %s", i, tx.Txid, want)
				}
				if want := mb.Transactions[i].SerializeSize(); tx.Size != want {
					t.Errorf("tx %d: got size %d, want %d", i, tx.Size, want)
				}
				ins += len(tx.Inputs)
				outs += len(tx.Outputs)
				value += tx.OutputValue()
				vsize += tx.Vsize
				for j, in := range tx.Inputs {
					if in.Index != uint32(j) {
						t.Errorf("tx %d input %d: got index %d", i, j, in.Index)
					}
					if tx.Coinbase {
						if !in.Coinbase || in.PrevTxid != "" || in.Address != "" || in.Value != 0 {
							t.Errorf("coinbase input: got %+v, want a bare coinbase input", in)
						}
						continue
					}
					k, ok := txids[in.PrevTxid]
					if !ok {
						if in.Address != everyOutput.Address {
							t.Errorf("tx %d input %d: got %q, want the lookup's output", i, j, in.Address)
						}
						continue
					}
					intra++
					if want := b.Txs[k].Outputs[in.PrevIndex]; in.Address != want.Address || in.Value != want.Value || in.ScriptType != want.ScriptType {
						t.Errorf("tx %d input %d spends %s:%d of this block: got %q %d %s, want %q %d %s",
							i, j, in.PrevTxid, in.PrevIndex, in.Address, in.Value, in.ScriptType, want.Address, want.Value, want.ScriptType)
					}
				}
				txids[tx.Txid] = i
			}
			if ins != rb.inputs || outs != rb.outputs || value != rb.outputValue || vsize != rb.vsize || intra != rb.intraSpends {
				t.Errorf("got %d inputs, %d outputs, %d sat out, vsize %d, %d in-block spends; want %d, %d, %d, %d, %d",
					ins, outs, value, vsize, intra, rb.inputs, rb.outputs, rb.outputValue, rb.vsize, rb.intraSpends)
			}
			if got := b.Txs[0].OutputValue(); got != rb.coinbaseOuts {
				t.Errorf("coinbase pays %d, want %d", got, rb.coinbaseOuts)
			}
			if want := ins - len(b.Txs[0].Inputs) - intra; len(lookup.asked) != want {
				t.Errorf("lookup asked %d times, want %d (inputs spending older outputs only)", len(lookup.asked), want)
			}
			for _, op := range lookup.asked {
				if _, ok := txids[op.Hash.String()]; ok {
					t.Errorf("lookup asked for %s:%d, an output of the block itself", op.Hash, op.Index)
				}
			}
		})
	}
}

func TestNormalizeNilLookup(t *testing.T) {
	rb := realBlocks[0]
	b, err := Normalize(decode(t, rb.raw(t)), 277647, &chaincfg.MainNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range b.Txs[1:] {
		for _, in := range tx.Inputs {
			if in.PrevTxid == "" || in.Address != "" || in.ScriptType != "" || in.Value != 0 {
				t.Fatalf("tx %s input %d: got %+v, want the outpoint only", tx.Txid, in.Index, in)
			}
		}
	}
}

func TestNormalizeMissingPrevout(t *testing.T) {
	mb := decode(t, realBlocks[0].raw(t))
	_, err := Normalize(mb, 277647, &chaincfg.MainNetParams, utxoSet{})
	if !errors.Is(err, ErrPrevoutNotFound) {
		t.Fatalf("got %v, want ErrPrevoutNotFound", err)
	}
	tx := mb.Transactions[1]
	op := tx.TxIn[0].PreviousOutPoint
	for _, want := range []string{tx.TxHash().String(), fmt.Sprintf("%s:%d", op.Hash, op.Index)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// TestNormalizeChain normalizes mainnet blocks 0 to 255 in order with the
// outputs of the earlier ones: block 170 holds the first payment between
// people, Satoshi's 10 BTC to Hal Finney, spending block 9's coinbase.
func TestNormalizeChain(t *testing.T) {
	params := &chaincfg.MainNetParams
	genesis := decode(t, btcdRecords(t, btcdBlk0to4)[0])
	blocks := []*wire.MsgBlock{genesis}
	for _, raw := range btcdRecords(t, btcdBlocks256) {
		blocks = append(blocks, decode(t, raw))
	}
	utxos := utxoSet{}
	var total int64
	var txs int
	for h, mb := range blocks {
		if err := CheckMerkle(mb); err != nil {
			t.Fatal(err)
		}
		b, err := Normalize(mb, int64(h), params, utxos)
		if err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		if h > 0 && b.Parent != blocks[h-1].BlockHash().String() {
			t.Fatalf("height %d: got parent %s, want %s", h, b.Parent, blocks[h-1].BlockHash())
		}
		utxos.add(t, b)
		txs += len(b.Txs)
		for _, tx := range b.Txs {
			total += tx.OutputValue()
			if fee := tx.Fee(); fee != 0 {
				t.Errorf("tx %s: got fee %d, want 0 (no fees in 2009)", tx.Txid, fee)
			}
		}
		switch h {
		case 0:
			if b.Parent != "" || b.Txs[0].Txid != "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b" ||
				b.Txs[0].Outputs[0].Address != "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa" || b.Txs[0].Outputs[0].ScriptType != chain.ScriptP2PK ||
				b.Time != 1231006505 || b.Size != 285 {
				t.Errorf("genesis: got %+v", b)
			}
		case 1:
			if b.Hash != "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048" ||
				b.Txs[0].Txid != "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098" ||
				b.Txs[0].Outputs[0].Address != "12c6DSiU4Rq3P4ZxziKxzrL5LmMBrzjrJX" {
				t.Errorf("block 1: got %s, coinbase %s to %s", b.Hash, b.Txs[0].Txid, b.Txs[0].Outputs[0].Address)
			}
		case 170:
			if len(b.Txs) != 2 {
				t.Fatalf("block 170: got %d txs, want 2", len(b.Txs))
			}
			tx := b.Txs[1]
			in := tx.Inputs[0]
			want := chain.Input{PrevTxid: "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9", PrevIndex: 0,
				Address: "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S", ScriptType: chain.ScriptP2PK, Value: 50_0000_0000}
			if tx.Txid != "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16" || in != want {
				t.Errorf("block 170 tx 1: got %s spending %+v, want f4184fc5... spending %+v", tx.Txid, in, want)
			}
			if o := tx.Outputs; len(o) != 2 || o[0].Address != "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3" || o[0].Value != 10_0000_0000 ||
				o[1].Address != "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S" || o[1].Value != 40_0000_0000 {
				t.Errorf("block 170 tx 1 outputs: got %+v, want 10 BTC to Hal and 40 back", o)
			}
		}
	}
	// Output sum from an independent parser: 256 coinbases of 50 BTC, plus
	// the 179 BTC that the later transactions moved.
	if wantTotal := int64(256*50_0000_0000 + 179_0000_0000); total != wantTotal || txs != 263 {
		t.Errorf("got %d txs paying %d sat, want 263 paying %d", txs, total, wantTotal)
	}
}

func TestNormalizeSegwitSizes(t *testing.T) {
	mb := decode(t, realBlocks[1].raw(t)) // 574200: 1341 segwit transactions
	b, err := Normalize(mb, 574200, &chaincfg.MainNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	var segwit int
	for i, tx := range b.Txs {
		m := mb.Transactions[i]
		weight := m.SerializeSizeStripped()*3 + m.SerializeSize()
		if want := (weight + 3) / 4; tx.Vsize != want {
			t.Errorf("tx %s: got vsize %d, want %d", tx.Txid, tx.Vsize, want)
		}
		if m.HasWitness() {
			segwit++
			if tx.Vsize >= tx.Size {
				t.Errorf("segwit tx %s: got vsize %d >= size %d", tx.Txid, tx.Vsize, tx.Size)
			}
		} else if tx.Vsize != tx.Size {
			t.Errorf("legacy tx %s: got vsize %d, want its size %d", tx.Txid, tx.Vsize, tx.Size)
		}
	}
	if segwit != 1341 {
		t.Errorf("got %d segwit txs, want 1341", segwit)
	}
}

func TestNormalizeRejects(t *testing.T) {
	genesis := decode(t, btcdRecords(t, btcdBlk0to4)[0])
	noCoinbase := *genesis
	noCoinbase.Transactions = []*wire.MsgTx{genesis.Transactions[0].Copy()}
	noCoinbase.Transactions[0].TxIn[0].PreviousOutPoint.Index = 0
	tests := []struct {
		name   string
		b      *wire.MsgBlock
		params *chaincfg.Params
		want   string
	}{
		{"nil block", nil, &chaincfg.MainNetParams, "nil block"},
		{"nil params", genesis, nil, "nil chain params"},
		{"no transactions", &wire.MsgBlock{Header: genesis.Header}, &chaincfg.MainNetParams, "no transactions"},
		{"no coinbase", &noCoinbase, &chaincfg.MainNetParams, "not a coinbase"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Normalize(tc.b, 0, tc.params, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestCheckMerkle(t *testing.T) {
	good := decode(t, realBlocks[0].raw(t)) // 277647, 213 txs
	if err := CheckMerkle(good); err != nil {
		t.Fatalf("real block: %v", err)
	}

	badRoot := decode(t, realBlocks[0].raw(t))
	badRoot.Header.MerkleRoot[0] ^= 1

	swapped := decode(t, realBlocks[0].raw(t))
	swapped.Transactions[1], swapped.Transactions[2] = swapped.Transactions[2], swapped.Transactions[1]

	changedOut := decode(t, realBlocks[0].raw(t))
	changedOut.Transactions[5].TxOut[0].Value++

	// CVE-2012-2459: with an odd number of transactions, repeating the last
	// one keeps the merkle root.
	mutated := decode(t, realBlocks[0].raw(t))
	mutated.Transactions = append(mutated.Transactions, mutated.Transactions[len(mutated.Transactions)-1])

	witness := decode(t, realBlocks[1].raw(t)) // 574200, segwit
	if err := CheckMerkle(witness); err != nil {
		t.Fatalf("real segwit block: %v", err)
	}
	badWitness := decode(t, realBlocks[1].raw(t))
	for _, tx := range badWitness.Transactions[1:] {
		if tx.HasWitness() {
			tx.TxIn[0].Witness[0] = append(tx.TxIn[0].Witness[0], 0)
			break
		}
	}

	tests := []struct {
		name string
		b    *wire.MsgBlock
		want string
	}{
		{"header root changed", badRoot, "header has"},
		{"transactions swapped", swapped, "header has"},
		{"output changed", changedOut, "header has"},
		{"duplicated last transaction", mutated, "CVE-2012-2459"},
		{"witness changed", badWitness, "witness commitment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMerkle(tc.b)
			if !errors.Is(err, ErrBadMerkleRoot) {
				t.Fatalf("got %v, want ErrBadMerkleRoot", err)
			}
			if want := tc.b.BlockHash().String(); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to name block %s and say %q", err, want, tc.want)
			}
		})
	}
}

func BenchmarkNormalize(b *testing.B) {
	mb := decode(b, realBlocks[1].raw(b)) // 574200: 3315 txs, 8150 outputs
	params := &chaincfg.MainNetParams
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize(mb, 574200, params, nil); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(len(mb.Transactions))/sec, "txs/s")
	b.ReportMetric(8150/sec, "outputs/s")
}

func BenchmarkCheckMerkle(b *testing.B) {
	mb := decode(b, realBlocks[1].raw(b))
	for b.Loop() {
		if err := CheckMerkle(mb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScriptAddress(b *testing.B) {
	for _, tc := range addressTests {
		if tc.typ == chain.ScriptNonStd {
			continue
		}
		script := mustHex(b, tc.script)
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				ScriptAddress(script, tc.params)
			}
		})
	}
}

// TestNormalizeWithTxids: the ingestor hashes each transaction once, for
// the merkle check and the record; the record must be the one Normalize
// makes on its own.
func TestNormalizeWithTxids(t *testing.T) {
	for _, rb := range realBlocks {
		t.Run(rb.name, func(t *testing.T) {
			mb := decode(t, rb.raw(t))
			want, err := Normalize(mb, 7, &chaincfg.MainNetParams, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := txHashes(mb)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkMerkle(mb, ids, nil); (err != nil) != rb.badMerkle {
				t.Errorf("checkMerkle: %v (bad merkle root expected: %v)", err, rb.badMerkle)
			}
			got, err := normalize(mb, 7, &chaincfg.MainNetParams, nil, ids)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Error("normalize with txids differs from Normalize")
			}
			if _, err := normalize(mb, 7, &chaincfg.MainNetParams, nil, ids[1:]); err == nil {
				t.Error("normalize with one txid missing: no error")
			}
		})
	}
}
