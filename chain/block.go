// Package chain defines the records every stage of the tracer shares: the
// normalized blocks, transactions, inputs, outputs and transfers that the
// chain sources (ingest/btc, ingest/eth) emit and every consumer (store,
// cluster, trace, alert, report) reads; exact amounts in base units; assets
// and known tokens; chain names; and the events of a chain stream. It
// imports nothing of the tracer.
//
// A source turns the canonical chain into a sequence of events: a Block when a
// block is connected to the tip, an Undo when a block is disconnected by a
// reorg. Undos for a reorg come newest first, before the blocks of the new
// branch, so a consumer that applies events in order always mirrors the
// source's view of the best chain.
package chain

// Chain names used in records, labels, stream names and store tables.
const (
	BTC  = "btc"
	ETH  = "eth"
	TRON = "tron" // labelled (USDT on TRON), not ingested
)

// Names lists the chains in display order.
var Names = []string{BTC, ETH, TRON}

// Script types of outputs. Every output has one; only some carry an address.
const (
	ScriptP2PKH     = "p2pkh"
	ScriptP2SH      = "p2sh"
	ScriptP2WPKH    = "p2wpkh"
	ScriptP2WSH     = "p2wsh"
	ScriptP2TR      = "p2tr"
	ScriptP2PK      = "p2pk"     // address is the P2PKH form of the key
	ScriptMultisig  = "multisig" // bare multisig; address is a script-hash identifier
	ScriptNullData  = "nulldata" // OP_RETURN; no address
	ScriptNonStd    = "nonstandard"
	ScriptWitnessUn = "witness_unknown" // future witness versions; address is the bech32m form
)

// Block is one block of the canonical chain, normalized. Values are integer
// base units (satoshi for Bitcoin).
type Block struct {
	Chain  string `json:"chain"`
	Height int64  `json:"height"`
	Hash   string `json:"hash"`
	Parent string `json:"parent"`
	Time   int64  `json:"time"` // header time, unix seconds
	Size   int    `json:"size"` // serialized size in bytes
	Txs    []Tx   `json:"txs"`
	// Transfers are the value movements of an account-model chain
	// (Ethereum); UTXO chains leave it empty and fill Txs.
	Transfers []Transfer `json:"transfers,omitempty"`
}

// Tx is a normalized UTXO transaction.
type Tx struct {
	Txid     string   `json:"txid"`
	Index    int      `json:"index"` // position in the block
	Coinbase bool     `json:"coinbase,omitempty"`
	Size     int      `json:"size"`
	Vsize    int      `json:"vsize"`
	Inputs   []Input  `json:"inputs"`
	Outputs  []Output `json:"outputs"`
}

// Input spends an earlier output. Address, ScriptType and Value are those of
// the spent output, resolved by the source, so consumers never need the UTXO
// set. Coinbase inputs spend nothing and carry no address or value.
type Input struct {
	Index      uint32 `json:"n"`
	PrevTxid   string `json:"prev_txid,omitempty"`
	PrevIndex  uint32 `json:"prev_n"`
	Coinbase   bool   `json:"coinbase,omitempty"`
	Address    string `json:"address,omitempty"`
	ScriptType string `json:"script_type,omitempty"`
	Value      int64  `json:"value"`
}

// Output is a created output. Address is empty for OP_RETURN outputs.
type Output struct {
	Index      uint32 `json:"n"`
	Address    string `json:"address,omitempty"`
	ScriptType string `json:"script_type"`
	Value      int64  `json:"value"`
}

// InputValue is the sum of the values the transaction spends (0 for coinbase).
func (t *Tx) InputValue() int64 {
	var v int64
	for i := range t.Inputs {
		v += t.Inputs[i].Value
	}
	return v
}

// OutputValue is the sum of the transaction's output values.
func (t *Tx) OutputValue() int64 {
	var v int64
	for i := range t.Outputs {
		v += t.Outputs[i].Value
	}
	return v
}

// Fee is what the transaction pays to the miner; 0 for coinbase.
func (t *Tx) Fee() int64 {
	if t.Coinbase {
		return 0
	}
	return t.InputValue() - t.OutputValue()
}

// EventKind says whether an event connects or disconnects a block.
type EventKind string

const (
	KindBlock EventKind = "block"
	KindUndo  EventKind = "undo"
)

// Event is one entry of a chain stream. Seq is the source's own event counter
// (strictly increasing per chain, persisted with the source's state), so the
// same event re-published after a crash carries the same identity while a
// block that is connected again after being reorged out gets a new one.
type Event struct {
	Kind   EventKind `json:"kind"`
	Seq    uint64    `json:"seq"`
	Chain  string    `json:"chain"`
	Height int64     `json:"height"`
	Hash   string    `json:"hash"`
	Block  *Block    `json:"block,omitempty"` // set for KindBlock
}
