package btc

import (
	"bytes"
	"crypto/sha256"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// blockIDs are a block's txids and wtxids, in block order.
type blockIDs struct {
	txids, wtxids []chainhash.Hash
}

// decodeBlock deserializes a block and hashes its transactions from the
// bytes they came in, instead of serializing each again for its txid and
// again for its wtxid (serializing costs as much as hashing). A
// transaction in witness
// serialization is version, marker 0x00, flag 0x01, inputs and outputs,
// witnesses, lock time; its txid hashes the version, the inputs and outputs
// and the lock time, three slices of those bytes, and its wtxid all of
// them. btcd refuses non-canonical length prefixes, so the bytes are what
// it would serialize. Anything else falls back to btcd's own hashing.
//
// Without hash it only decodes (ids nil). It returns the number of bytes
// after the block (the callers' error).
func decodeBlock(raw []byte, hash bool) (*wire.MsgBlock, *blockIDs, int, error) {
	buf := bytes.NewBuffer(raw)
	var b wire.MsgBlock
	if !hash {
		if err := b.Deserialize(buf); err != nil {
			return nil, nil, 0, err
		}
		return &b, nil, buf.Len(), nil
	}
	locs, err := b.DeserializeTxLoc(buf)
	if err != nil {
		return nil, nil, 0, err
	}
	ids := &blockIDs{txids: make([]chainhash.Hash, len(b.Transactions)), wtxids: make([]chainhash.Hash, len(b.Transactions))}
	h := sha256.New()
	var first [sha256.Size]byte
	for i, tx := range b.Transactions {
		t := raw[locs[i].TxStart : locs[i].TxStart+locs[i].TxLen]
		whole := chainhash.DoubleHashH(t)
		if len(t) < 10 || t[4] != 0 {
			ids.txids[i], ids.wtxids[i] = whole, whole // no marker: no witness
			continue
		}
		body := tx.SerializeSizeStripped() - 8 // inputs and outputs
		if !tx.HasWitness() || body < 2 || 6+body > len(t)-4 {
			ids.txids[i], ids.wtxids[i] = tx.TxHash(), tx.WitnessHash()
			continue
		}
		h.Reset()
		h.Write(t[:4])
		h.Write(t[6 : 6+body])
		h.Write(t[len(t)-4:])
		ids.txids[i] = sha256.Sum256(h.Sum(first[:0]))
		ids.wtxids[i] = whole
	}
	return &b, ids, buf.Len(), nil
}
