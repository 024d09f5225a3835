package eth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/tracerproject/tracer/chain"
)

// ErrBadBlock is wrapped by every error about a block that does not prove
// itself: roots, hashes, senders, or replies that do not parse.
var ErrBadBlock = errors.New("eth: bad block")

// RawBlock is a block as a node sent it: the result of
// eth_getBlockByNumber with full transactions, of eth_getBlockReceipts (or
// the per-transaction receipts as one JSON array), and optionally of
// debug_traceBlockByNumber with the callTracer.
type RawBlock struct {
	Block    json.RawMessage
	Receipts json.RawMessage
	Traces   json.RawMessage // nil: no internal transfers
}

// DecodeOptions say what Decode keeps and checks.
type DecodeOptions struct {
	Tokens TokenSet
	// NodeSenders takes each transaction's sender from the node's "from"
	// as given, the way go-ethereum's ethclient does, instead of
	// recovering it from the signature; a transaction the node gives no
	// "from" for is still recovered. Recovery (an elliptic-curve operation
	// per transaction) is most of the CPU of checking a block
	// (docs/benchmarks.md); it is the one check of a
	// node's answer that the block's own commitments cannot make, since
	// the sender is derived, not committed to. Every other check stays.
	NodeSenders bool
}

// Stats counts what Decode saw and skipped.
type Stats struct {
	Txs      int
	Logs     int
	Skipped  map[string]int // token logs not kept, by reason
	Internal int            // internal transfers from traces
}

func (s *Stats) skip(reason string) {
	if s.Skipped == nil {
		s.Skipped = map[string]int{}
	}
	s.Skipped[reason]++
}

// Decode checks a block against its own commitments and normalizes it:
//
//   - the header hashes to the block's hash;
//   - the transactions hash to the header's transactions root and the
//     receipts to its receipts root (go-ethereum's DeriveSha);
//   - every sender is recovered from its signature (and must equal the
//     node's "from", when given), unless opt.NodeSenders takes the node's;
//   - gas used per transaction comes from the receipts' cumulative gas
//     (which the root covers), and log indexes are counted here.
//
// Fees are gas used times the effective gas price worked out from the
// transaction and the header's base fee, plus blob gas times the
// receipt's blob gas price (the one figure taken from the node).
func Decode(raw RawBlock, opt DecodeOptions) (*chain.Block, *Stats, error) {
	rb, err := decodeBlock(raw.Block)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: block: %v", ErrBadBlock, err)
	}
	header := &rb.header
	if header.Number == nil || !header.Number.IsInt64() {
		return nil, nil, fmt.Errorf("%w: block number missing or out of range", ErrBadBlock)
	}
	height := header.Number.Int64()
	hash := header.Hash()
	if rb.hash != hash {
		return nil, nil, fmt.Errorf("%w: block %d: the header hashes to %s, the node says %s", ErrBadBlock, height, hash.Hex(), rb.hash.Hex())
	}
	txs := make(types.Transactions, len(rb.transactions))
	for i := range rb.transactions {
		txs[i] = rb.transactions[i].tx
	}
	if root := types.DeriveSha(txs, trie.NewStackTrie(nil)); root != header.TxHash {
		return nil, nil, fmt.Errorf("%w: block %d (%s): its %d transactions hash to %s, the header's transactions root is %s",
			ErrBadBlock, height, hash.Hex(), len(txs), root.Hex(), header.TxHash.Hex())
	}
	receipts, err := decodeReceipts(raw.Receipts)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: block %d (%s): receipts: %v", ErrBadBlock, height, hash.Hex(), err)
	}
	if len(receipts) != len(txs) {
		return nil, nil, fmt.Errorf("%w: block %d (%s): %d receipts for %d transactions", ErrBadBlock, height, hash.Hex(), len(receipts), len(txs))
	}
	for i, r := range receipts {
		if r == nil {
			return nil, nil, fmt.Errorf("%w: block %d (%s): receipt %d is null", ErrBadBlock, height, hash.Hex(), i)
		}
		if r.TxHash != txs[i].Hash() {
			return nil, nil, fmt.Errorf("%w: block %d (%s): receipt %d is for transaction %s, not %s", ErrBadBlock, height, hash.Hex(), i, r.TxHash.Hex(), txs[i].Hash().Hex())
		}
	}
	if root := types.DeriveSha(receipts, trie.NewStackTrie(nil)); root != header.ReceiptHash {
		return nil, nil, fmt.Errorf("%w: block %d (%s): its receipts hash to %s, the header's receipts root is %s",
			ErrBadBlock, height, hash.Hex(), root.Hex(), header.ReceiptHash.Hex())
	}
	var traces []txTrace
	if raw.Traces != nil {
		if err := json.Unmarshal(raw.Traces, &traces); err != nil {
			return nil, nil, fmt.Errorf("%w: block %d (%s): call traces: %v", ErrBadBlock, height, hash.Hex(), err)
		}
		if len(traces) != len(txs) {
			return nil, nil, fmt.Errorf("%w: block %d (%s): %d call traces for %d transactions", ErrBadBlock, height, hash.Hex(), len(traces), len(txs))
		}
	}

	b := &chain.Block{
		Chain: chain.ETH, Height: height, Hash: lowerHex(hash),
		Parent: lowerHex(header.ParentHash), Time: int64(header.Time), Size: int(rb.size),
		Transfers: make([]chain.Transfer, 0, len(txs)*2),
	}
	st := &Stats{Txs: len(txs)}
	var prevCum uint64
	logIndex := 0
	for i, tx := range txs {
		r := receipts[i]
		txid := lowerHex(tx.Hash())
		claimed := rb.transactions[i].from
		var from common.Address
		if opt.NodeSenders && claimed != nil {
			from = *claimed
		} else if from, err = sender(tx); err != nil {
			return nil, nil, fmt.Errorf("%w: block %d (%s): transaction %s: %v", ErrBadBlock, height, hash.Hex(), txid, err)
		}
		if claimed != nil && *claimed != from {
			return nil, nil, fmt.Errorf("%w: block %d (%s): transaction %s is signed by %s, the node says %s", ErrBadBlock, height, hash.Hex(), txid, from.Hex(), claimed.Hex())
		}
		if r.CumulativeGasUsed < prevCum {
			return nil, nil, fmt.Errorf("%w: block %d (%s): cumulative gas goes down at receipt %d", ErrBadBlock, height, hash.Hex(), i)
		}
		gasUsed := r.CumulativeGasUsed - prevCum
		prevCum = r.CumulativeGasUsed
		fee := new(big.Int).Mul(new(big.Int).SetUint64(gasUsed), effectiveGasPrice(tx, header.BaseFee))
		if r.BlobGasUsed > 0 && r.BlobGasPrice != nil {
			fee.Add(fee, new(big.Int).Mul(new(big.Int).SetUint64(r.BlobGasUsed), r.BlobGasPrice))
		}
		// Before Byzantium a receipt carried a state root, not a status:
		// those transactions count as successful.
		success := len(r.PostState) > 0 || r.Status == types.ReceiptStatusSuccessful
		to := ""
		if tx.To() != nil {
			to = lowerHex(*tx.To())
		} else {
			// Contract creation: the new contract's address follows from
			// the sender and nonce, whatever the receipt says.
			to = lowerHex(crypto.CreateAddress(from, tx.Nonce()))
		}
		b.Transfers = append(b.Transfers, chain.Transfer{
			Kind: chain.TransferNative, Asset: chain.AssetETH, From: lowerHex(from), To: to,
			Value: chain.NewAmount(tx.Value()), Txid: txid, TxIndex: i, Success: success,
			Fee: chain.NewAmount(fee), Zero: tx.Value().Sign() == 0,
		})
		for _, lg := range r.Logs {
			idx := logIndex
			logIndex++
			st.Logs++
			if lg == nil {
				return nil, nil, fmt.Errorf("%w: block %d (%s): transaction %s has a null log", ErrBadBlock, height, hash.Hex(), txid)
			}
			tl, reason := DecodeTransferLog(lg.Topics, lg.Data)
			if reason == SkipNotTransfer {
				continue
			}
			contract := lowerHex(lg.Address)
			if reason == SkipNone && !opt.Tokens.Keeps(contract) {
				reason = SkipToken
			}
			if reason != SkipNone {
				st.skip(reason)
				continue
			}
			b.Transfers = append(b.Transfers, chain.Transfer{
				Kind: chain.TransferToken, Asset: contract, From: tl.From, To: tl.To,
				Value: chain.NewAmount(tl.Value), Txid: txid, TxIndex: i, Index: idx,
				Success: true, Zero: tl.Value.Sign() == 0,
			})
		}
		if traces != nil {
			n := len(b.Transfers)
			var err error
			if b.Transfers, err = traces[i].transfers(b.Transfers, txid, i, success); err != nil {
				return nil, nil, fmt.Errorf("%w: block %d (%s): call trace of transaction %s: %v", ErrBadBlock, height, hash.Hex(), txid, err)
			}
			st.Internal += len(b.Transfers) - n
		}
	}
	return b, st, nil
}

// effectiveGasPrice is what each unit of gas cost: the gas price before
// London, after it the base fee plus the tip, capped by the fee cap.
func effectiveGasPrice(tx *types.Transaction, baseFee *big.Int) *big.Int {
	if baseFee == nil {
		return tx.GasPrice()
	}
	p := new(big.Int).Add(baseFee, tx.GasTipCap())
	if p.Cmp(tx.GasFeeCap()) > 0 {
		p.Set(tx.GasFeeCap())
	}
	return p
}

// sender recovers who signed the transaction. An unprotected (pre-EIP-155)
// transaction is recovered as Frontier did, accepting a high s: such
// signatures were valid before Homestead (mainnet block 1,150,000), and the
// transactions root already pins the exact signature bytes, so accepting
// them lets no node forge a sender.
func sender(tx *types.Transaction) (common.Address, error) {
	var signer types.Signer = types.FrontierSigner{}
	if tx.Protected() {
		signer = types.LatestSignerForChainID(tx.ChainId())
	}
	from, err := types.Sender(signer, tx)
	if err != nil {
		return common.Address{}, fmt.Errorf("recovering the sender: %w", err)
	}
	return from, nil
}

// txTrace is one entry of debug_traceBlockByNumber with the callTracer.
type txTrace struct {
	TxHash *common.Hash `json:"txHash"`
	Result *callFrame   `json:"result"`
	Error  string       `json:"error"`
}

type callFrame struct {
	Type  string       `json:"type"`
	From  string       `json:"from"`
	To    string       `json:"to"`
	Value *hexutil.Big `json:"value"`
	Error string       `json:"error"`
	Calls []callFrame  `json:"calls"`
}

// maxCallDepth is the EVM's call depth limit; deeper JSON is not a trace.
const maxCallDepth = 1025

// transfers appends the ETH moved by calls below the top level. Index
// counts every frame below the top, depth first from 1, so it names the
// same call whatever is kept. A call inside a reverted frame (or a failed
// transaction) moved nothing and is marked failed.
func (t *txTrace) transfers(out []chain.Transfer, txid string, txIndex int, txOK bool) ([]chain.Transfer, error) {
	if t.Error != "" {
		return out, fmt.Errorf("the node could not trace it: %s", t.Error)
	}
	if t.Result == nil {
		return out, errors.New("no result")
	}
	if t.TxHash != nil && lowerHex(*t.TxHash) != txid {
		return out, fmt.Errorf("the trace is of transaction %s", t.TxHash.Hex())
	}
	idx := 0
	var walk func(f *callFrame, depth int, ok bool) error
	walk = func(f *callFrame, depth int, ok bool) error {
		if depth > maxCallDepth {
			return errors.New("calls nested deeper than the EVM allows")
		}
		for i := range f.Calls {
			c := &f.Calls[i]
			idx++
			cok := ok && c.Error == ""
			switch strings.ToUpper(c.Type) {
			case "CALL", "CREATE", "CREATE2", "SELFDESTRUCT":
				if c.Value != nil && c.Value.ToInt().Sign() > 0 {
					from, err := chain.ParseETHAddress(c.From)
					if err != nil {
						return fmt.Errorf("call %d: from: %w", idx, err)
					}
					to, err := chain.ParseETHAddress(c.To)
					if err != nil {
						return fmt.Errorf("call %d: to: %w", idx, err)
					}
					out = append(out, chain.Transfer{
						Kind: chain.TransferInternal, Asset: chain.AssetETH, From: from, To: to,
						Value: chain.NewAmount(c.Value.ToInt()), Txid: txid, TxIndex: txIndex, Index: idx, Success: cok,
					})
				}
			}
			if err := walk(c, depth+1, cok); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(t.Result, 1, txOK && t.Result.Error == "")
	return out, err
}

func lowerHex[T interface{ Bytes() []byte }](v T) string { return hexAddr(v.Bytes()) }
