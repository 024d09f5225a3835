package simulate

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The generator hashes every transaction twice (txid and wtxid) and writes
// every block; wire's encoder goes through io.Writer and a buffer pool per
// field, so these append straight into one reused buffer. The tests check
// them byte for byte against wire.

func appendVarInt(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
}

func appendVarBytes(b, p []byte) []byte {
	return append(appendVarInt(b, uint64(len(p))), p...)
}

// appendTx serializes tx, with its witnesses when witness is set and it has
// any (as wire's WitnessEncoding does).
func appendTx(b []byte, tx *wire.MsgTx, witness bool) []byte {
	witness = witness && tx.HasWitness()
	b = binary.LittleEndian.AppendUint32(b, uint32(tx.Version))
	if witness {
		b = append(b, 0x00, 0x01)
	}
	b = appendVarInt(b, uint64(len(tx.TxIn)))
	for _, in := range tx.TxIn {
		b = append(b, in.PreviousOutPoint.Hash[:]...)
		b = binary.LittleEndian.AppendUint32(b, in.PreviousOutPoint.Index)
		b = appendVarBytes(b, in.SignatureScript)
		b = binary.LittleEndian.AppendUint32(b, in.Sequence)
	}
	b = appendVarInt(b, uint64(len(tx.TxOut)))
	for _, out := range tx.TxOut {
		b = binary.LittleEndian.AppendUint64(b, uint64(out.Value))
		b = appendVarBytes(b, out.PkScript)
	}
	if witness {
		for _, in := range tx.TxIn {
			b = appendVarInt(b, uint64(len(in.Witness)))
			for _, item := range in.Witness {
				b = appendVarBytes(b, item)
			}
		}
	}
	return binary.LittleEndian.AppendUint32(b, tx.LockTime)
}

// appendBlock serializes blk the way blocks are stored and relayed: header,
// transaction count, transactions with witnesses.
func appendBlock(b []byte, blk *wire.MsgBlock) []byte {
	h := &blk.Header
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Version))
	b = append(b, h.PrevBlock[:]...)
	b = append(b, h.MerkleRoot[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Timestamp.Unix()))
	b = binary.LittleEndian.AppendUint32(b, h.Bits)
	b = binary.LittleEndian.AppendUint32(b, h.Nonce)
	b = appendVarInt(b, uint64(len(blk.Transactions)))
	for _, tx := range blk.Transactions {
		b = appendTx(b, tx, true)
	}
	return b
}

func doubleSHA256(b []byte) chainhash.Hash {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

// merkleRoot is Bitcoin's merkle root of the hashes (the last one of an odd
// level paired with itself). It overwrites hashes.
func merkleRoot(hashes []chainhash.Hash) chainhash.Hash {
	if len(hashes) == 0 {
		return chainhash.Hash{}
	}
	var pair [64]byte
	for n := len(hashes); n > 1; n = (n + 1) / 2 {
		for i := 0; i < n; i += 2 {
			j := i + 1
			if j == n {
				j = i
			}
			copy(pair[:32], hashes[i][:])
			copy(pair[32:], hashes[j][:])
			hashes[i/2] = doubleSHA256(pair[:])
		}
	}
	return hashes[0]
}
