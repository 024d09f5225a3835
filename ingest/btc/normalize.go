package btc

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
)

// PrevoutLookup resolves the output an input spends. An output it does not
// know is an error wrapping ErrPrevoutNotFound.
type PrevoutLookup interface {
	Prevout(op wire.OutPoint) (chain.Output, error)
}

var _ PrevoutLookup = (*ChainState)(nil)

// Normalize turns a block into its ingest record at the given height.
//
// Inputs carry the address, script type and value of the output they spend.
// Outputs created earlier in the same block are served from the block
// itself, so prevouts only needs to know older outputs. With a nil prevouts
// no input is resolved (Address "", Value 0): that is for inspecting a lone
// block, where the spent outputs are unknown. A prevout that cannot be found
// is an error naming the transaction, the input and the outpoint.
//
// The first transaction must be a coinbase; its input is marked Coinbase and
// carries no outpoint. The genesis block's parent is "" (its header holds
// the zero hash). Normalize does not check the merkle root: call CheckMerkle.
func Normalize(b *wire.MsgBlock, height int64, params *chaincfg.Params, prevouts PrevoutLookup) (*chain.Block, error) {
	return normalize(b, height, params, prevouts, nil)
}

// txHashes returns the txids of the block's transactions.
func txHashes(b *wire.MsgBlock) ([]chainhash.Hash, error) {
	var buf bytes.Buffer
	ids := make([]chainhash.Hash, len(b.Transactions))
	for i, tx := range b.Transactions {
		buf.Reset()
		if err := tx.SerializeNoWitness(&buf); err != nil {
			return nil, fmt.Errorf("btc: serializing tx %d: %w", i, err)
		}
		ids[i] = chainhash.DoubleHashH(buf.Bytes())
	}
	return ids, nil
}

// normalize is Normalize with the txids already computed (txHashes), or
// nil to compute them.
func normalize(b *wire.MsgBlock, height int64, params *chaincfg.Params, prevouts PrevoutLookup, txids []chainhash.Hash) (*chain.Block, error) {
	if b == nil {
		return nil, errors.New("btc: normalize: nil block")
	}
	if params == nil {
		return nil, errors.New("btc: normalize: nil chain params")
	}
	hash := b.BlockHash()
	if len(b.Transactions) == 0 {
		return nil, fmt.Errorf("btc: block %s has no transactions", hash)
	}
	if !blockchain.IsCoinBaseTx(b.Transactions[0]) {
		return nil, fmt.Errorf("btc: block %s: first transaction is not a coinbase", hash)
	}
	out := &chain.Block{
		Chain:  chain.BTC,
		Height: height,
		Hash:   hashString(&hash),
		Time:   b.Header.Timestamp.Unix(),
		Txs:    make([]chain.Tx, len(b.Transactions)),
	}
	if b.Header.PrevBlock != (chainhash.Hash{}) {
		out.Parent = hashString(&b.Header.PrevBlock)
	}

	// One backing array for all inputs and one for all outputs of the block
	// instead of two allocations per transaction.
	var nin, nout int
	for _, mtx := range b.Transactions {
		nin += len(mtx.TxIn)
		nout += len(mtx.TxOut)
	}
	ins := make([]chain.Input, nin)
	outs := make([]chain.Output, nout)

	var buf bytes.Buffer
	size := wire.MaxBlockHeaderPayload + wire.VarIntSerializeSize(uint64(len(b.Transactions)))
	if txids != nil && len(txids) != len(b.Transactions) {
		return nil, fmt.Errorf("btc: block %s: %d txids for %d transactions", hash, len(txids), len(b.Transactions))
	}
	for i, mtx := range b.Transactions {
		var (
			txid     chainhash.Hash
			stripped int
		)
		if txids != nil {
			txid, stripped = txids[i], mtx.SerializeSizeStripped()
		} else {
			// The txid is the hash of the serialization without witness,
			// whose length is also the stripped size: serialize once for
			// both.
			buf.Reset()
			if err := mtx.SerializeNoWitness(&buf); err != nil {
				return nil, fmt.Errorf("btc: block %s: serializing tx %d: %w", hash, i, err)
			}
			txid, stripped = chainhash.DoubleHashH(buf.Bytes()), buf.Len()
		}
		full := stripped
		if mtx.HasWitness() {
			full = mtx.SerializeSize()
		}
		size += full
		// BIP141: weight = 3 * stripped size + total size; vsize rounds
		// weight/4 up.
		weight := stripped*(blockchain.WitnessScaleFactor-1) + full

		tx := &out.Txs[i]
		tx.Txid = hashString(&txid)
		tx.Index = i
		tx.Coinbase = i == 0
		tx.Size = full
		tx.Vsize = (weight + blockchain.WitnessScaleFactor - 1) / blockchain.WitnessScaleFactor
		tx.Inputs = ins[:len(mtx.TxIn):len(mtx.TxIn)]
		ins = ins[len(mtx.TxIn):]
		tx.Outputs = outs[:len(mtx.TxOut):len(mtx.TxOut)]
		outs = outs[len(mtx.TxOut):]

		for j, txin := range mtx.TxIn {
			in := &tx.Inputs[j]
			in.Index = uint32(j)
			if tx.Coinbase {
				in.Coinbase = true
				continue
			}
			in.PrevTxid = hashString(&txin.PreviousOutPoint.Hash)
			in.PrevIndex = txin.PreviousOutPoint.Index
		}
		for k, txout := range mtx.TxOut {
			addr, typ := ScriptAddress(txout.PkScript, params)
			tx.Outputs[k] = chain.Output{Index: uint32(k), Address: addr, ScriptType: typ, Value: txout.Value}
		}
	}
	out.Size = size
	if prevouts != nil {
		if err := ResolveInputs(b, out, prevouts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ResolveInputs gives each input of out, the block b as Normalize made it
// without prevouts, the address, script type and value of the output it
// spends: from the block itself when an earlier transaction of the block
// created it, else from prevouts. Normalize without prevouts can run ahead,
// in parallel, while ResolveInputs follows the chain in order.
func ResolveInputs(b *wire.MsgBlock, out *chain.Block, prevouts PrevoutLookup) error {
	return resolveInputs(b, out, prevouts, nil)
}

// resolveInputs is ResolveInputs with the block's txids (txHashes), or nil
// to work from the record's hex txids.
func resolveInputs(b *wire.MsgBlock, out *chain.Block, prevouts PrevoutLookup, txids []chainhash.Hash) error {
	if len(b.Transactions) != len(out.Txs) {
		return fmt.Errorf("btc: resolve inputs: block %s has %d transactions, its record %d", out.Hash, len(b.Transactions), len(out.Txs))
	}
	if txids == nil {
		txids = make([]chainhash.Hash, len(out.Txs))
		for i := range out.Txs {
			h, err := chainhash.NewHashFromStr(out.Txs[i].Txid)
			if err != nil {
				return fmt.Errorf("btc: resolve inputs: block %s: txid %q: %w", out.Hash, out.Txs[i].Txid, err)
			}
			txids[i] = *h
		}
	} else if len(txids) != len(out.Txs) {
		return fmt.Errorf("btc: resolve inputs: block %s: %d txids for %d transactions", out.Hash, len(txids), len(out.Txs))
	}
	// Transactions of this block seen so far, by txid: an input may spend an
	// output created earlier in the same block.
	inBlock := make(map[chainhash.Hash]int, len(out.Txs))
	for i, mtx := range b.Transactions {
		tx := &out.Txs[i]
		if len(mtx.TxIn) != len(tx.Inputs) {
			return fmt.Errorf("btc: resolve inputs: block %s: tx %s has %d inputs, its record %d", out.Hash, tx.Txid, len(mtx.TxIn), len(tx.Inputs))
		}
		for j, txin := range mtx.TxIn {
			in := &tx.Inputs[j]
			if in.Coinbase {
				continue
			}
			op := txin.PreviousOutPoint
			if k, ok := inBlock[op.Hash]; ok {
				spent := out.Txs[k].Outputs
				if uint64(op.Index) >= uint64(len(spent)) {
					return fmt.Errorf("btc: block %s: tx %s input %d spends %s:%d, but that transaction of the same block has %d outputs: %w",
						out.Hash, tx.Txid, j, &op.Hash, op.Index, len(spent), ErrPrevoutNotFound)
				}
				o := &spent[op.Index]
				in.Address, in.ScriptType, in.Value = o.Address, o.ScriptType, o.Value
				continue
			}
			o, err := prevouts.Prevout(op)
			if err != nil {
				return fmt.Errorf("btc: tx %s input %d spends %s:%d: %w", tx.Txid, j, &op.Hash, op.Index, err)
			}
			in.Address, in.ScriptType, in.Value = o.Address, o.ScriptType, o.Value
		}
		inBlock[txids[i]] = i
	}
	return nil
}

// hashString is chainhash.Hash.String (byte-reversed hex) with one
// allocation instead of two.
func hashString(h *chainhash.Hash) string {
	const digits = "0123456789abcdef"
	var buf [2 * chainhash.HashSize]byte
	for i := range chainhash.HashSize {
		b := h[chainhash.HashSize-1-i]
		buf[2*i], buf[2*i+1] = digits[b>>4], digits[b&0x0f]
	}
	return string(buf[:])
}

// witnessMagic starts the coinbase output that commits to the witness
// merkle root (BIP141): OP_RETURN, push 36, 0xaa21a9ed.
var witnessMagic = []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}

// CheckMerkle checks that the block's transactions are those its header
// commits to: they must hash to the header's merkle root without the
// duplicate-pair ambiguity of CVE-2012-2459, and when the block carries
// witness data, the witness merkle root must match the coinbase's BIP141
// commitment (the header does not cover witnesses, and vsizes come from
// them). Errors name the block hash and wrap ErrBadMerkleRoot.
func CheckMerkle(b *wire.MsgBlock) error {
	if b == nil {
		return errors.New("btc: check merkle: nil block")
	}
	ids, err := txHashes(b)
	if err != nil {
		return fmt.Errorf("btc: block %s: %w", b.BlockHash(), err)
	}
	return checkMerkle(b, ids, nil)
}

// checkMerkle is CheckMerkle with the txids computed (txHashes); it does
// not change them.
func checkMerkle(b *wire.MsgBlock, txids, wtxids []chainhash.Hash) error {
	hash := b.BlockHash()
	if len(b.Transactions) == 0 {
		return fmt.Errorf("btc: block %s has no transactions: %w", hash, ErrBadMerkleRoot)
	}
	ids := append([]chainhash.Hash(nil), txids...) // merkleRoot overwrites them
	root, mutated := merkleRoot(ids)
	if root != b.Header.MerkleRoot {
		return fmt.Errorf("btc: block %s: transactions hash to merkle root %s, header has %s: %w",
			hash, root, b.Header.MerkleRoot, ErrBadMerkleRoot)
	}
	if mutated {
		return fmt.Errorf("btc: block %s: duplicated transactions give the merkle root a second preimage (CVE-2012-2459): %w",
			hash, ErrBadMerkleRoot)
	}
	return checkWitnessCommitment(b, hash, wtxids)
}

// checkWitnessCommitment checks the coinbase's commitment to the wtxids
// (nil: serialize each transaction to hash it).
func checkWitnessCommitment(b *wire.MsgBlock, hash chainhash.Hash, wtxids []chainhash.Hash) error {
	coinbase := b.Transactions[0]
	var commitment []byte
	// The commitment is the last output that matches (BIP141).
	for i := len(coinbase.TxOut) - 1; i >= 0; i-- {
		s := coinbase.TxOut[i].PkScript
		if len(s) >= len(witnessMagic)+chainhash.HashSize && bytes.HasPrefix(s, witnessMagic) {
			commitment = s[len(witnessMagic) : len(witnessMagic)+chainhash.HashSize]
			break
		}
	}
	if commitment == nil {
		for i, tx := range b.Transactions {
			if tx.HasWitness() {
				return fmt.Errorf("btc: block %s: tx %d has witness data but the coinbase commits to no witness root: %w",
					hash, i, ErrBadMerkleRoot)
			}
		}
		return nil
	}
	if len(coinbase.TxIn) != 1 || len(coinbase.TxIn[0].Witness) != 1 || len(coinbase.TxIn[0].Witness[0]) != chainhash.HashSize {
		return fmt.Errorf("btc: block %s: coinbase commits to a witness root but its witness is not one 32-byte nonce: %w",
			hash, ErrBadMerkleRoot)
	}
	ids := make([]chainhash.Hash, len(b.Transactions))
	if wtxids != nil {
		copy(ids[1:], wtxids[1:]) // the coinbase's wtxid counts as zero
	} else {
		var buf bytes.Buffer
		for i, tx := range b.Transactions[1:] {
			buf.Reset()
			if err := tx.Serialize(&buf); err != nil { // with witness when it has one
				return fmt.Errorf("btc: block %s: serializing tx %d: %w", hash, i+1, err)
			}
			ids[i+1] = chainhash.DoubleHashH(buf.Bytes())
		}
	}
	root, _ := merkleRoot(ids)
	var preimage [2 * chainhash.HashSize]byte
	copy(preimage[:], root[:])
	copy(preimage[chainhash.HashSize:], coinbase.TxIn[0].Witness[0])
	if got := chainhash.DoubleHashH(preimage[:]); !bytes.Equal(got[:], commitment) {
		return fmt.Errorf("btc: block %s: witness data does not match the coinbase's witness commitment: %w",
			hash, ErrBadMerkleRoot)
	}
	return nil
}

// merkleRoot computes Bitcoin's merkle root of hashes, overwriting them.
// mutated reports two equal hashes paired at some level, which lets a block
// with duplicated transactions share the root of the honest one.
func merkleRoot(hashes []chainhash.Hash) (root chainhash.Hash, mutated bool) {
	var pair [2 * chainhash.HashSize]byte
	for n := len(hashes); n > 1; n = (n + 1) / 2 {
		for i := 0; i < n; i += 2 {
			left, right := &hashes[i], &hashes[i]
			if i+1 < n {
				right = &hashes[i+1]
				if *left == *right {
					mutated = true
				}
			}
			copy(pair[:chainhash.HashSize], left[:])
			copy(pair[chainhash.HashSize:], right[:])
			hashes[i/2] = chainhash.DoubleHashH(pair[:])
		}
	}
	return hashes[0], mutated
}
