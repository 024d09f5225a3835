package eth

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

// This file reads the two JSON-RPC replies a block is checked from
// (eth_getBlockByNumber with full transactions, eth_getBlockReceipts) in
// one pass each with the scanner. Hex values go through go-ethereum's
// hexutil, so they are exactly as strict as go-ethereum's own JSON
// decoding (quantities without leading zeros, fixed-size values of their
// exact size); the header and each transaction are still decoded by
// go-ethereum (header fields and transaction types change with forks),
// from sub-slices of the reply instead of re-encoded copies.

// rpcBlock is what Decode reads of eth_getBlockByNumber's reply.
type rpcBlock struct {
	header       types.Header
	hash         common.Hash
	size         uint64
	transactions []rpcTx
}

type rpcTx struct {
	tx   *types.Transaction
	from *common.Address // what the node says, only to compare
}

// decodeBlock reads a block with full transactions.
func decodeBlock(b []byte) (*rpcBlock, error) {
	s := &scanner{b: b}
	if s.null() {
		if err := s.end(); err != nil {
			return nil, err
		}
		return nil, errors.New("null")
	}
	rb := &rpcBlock{}
	var f seen
	txStart, txEnd := -1, -1
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "transactions":
			if err := f.once(0, key); err != nil {
				return err
			}
			s.ws()
			txStart = s.i
			if !s.null() {
				if err := s.array(func(i int) error { return rb.decodeTx(s, i) }); err != nil {
					return fmt.Errorf("transactions: %w", err)
				}
			}
			txEnd = s.i
			return nil
		case "hash":
			if err := f.once(1, key); err != nil {
				return err
			}
			if s.null() {
				return nil
			}
			v, err := s.str()
			if err != nil {
				return fmt.Errorf("hash: %w", err)
			}
			if err := rb.hash.UnmarshalText(v); err != nil {
				return fmt.Errorf("hash: %w", err)
			}
			return nil
		case "size":
			// Informational only (it is not in the header): a value
			// that does not parse is left at 0.
			if s.peek() == '"' {
				if v, err := s.str(); err == nil {
					var n hexutil.Uint64
					if n.UnmarshalText(v) == nil {
						rb.size = uint64(n)
					}
					return nil
				}
			}
			return s.skip()
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, err
	}
	// The header is decoded by go-ethereum from the block's own text with
	// the transactions cut out (they are most of it).
	headerJSON := b
	if txStart >= 0 {
		headerJSON = make([]byte, 0, len(b)-(txEnd-txStart)+2)
		headerJSON = append(append(append(headerJSON, b[:txStart]...), "[]"...), b[txEnd:]...)
	}
	if err := rb.header.UnmarshalJSON(headerJSON); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return rb, nil
}

func (rb *rpcBlock) decodeTx(s *scanner, i int) error {
	switch s.peek() {
	case '"':
		return errors.New("the block lists transaction hashes, not transactions (ask with full transactions)")
	case '{':
	default:
		return fmt.Errorf("transaction %d: not an object", i)
	}
	tx, from, err := decodeTx(s)
	if err != nil {
		return fmt.Errorf("transaction %d: %w", i, err)
	}
	rb.transactions = append(rb.transactions, rpcTx{tx: tx, from: from})
	return nil
}

// decodeReceipts reads eth_getBlockReceipts' reply (or the per-transaction
// receipts as one array). A null reply is no receipts; a null receipt is
// a nil entry, for the caller to report.
func decodeReceipts(b []byte) (types.Receipts, error) {
	s := &scanner{b: b}
	if s.null() {
		return nil, s.end()
	}
	var out types.Receipts
	var slab []types.Receipt
	err := s.array(func(i int) error {
		if s.null() {
			out = append(out, nil)
			return nil
		}
		if len(slab) == 0 {
			slab = make([]types.Receipt, 64)
		}
		r := &slab[0]
		slab = slab[1:]
		if err := decodeReceipt(s, r); err != nil {
			return fmt.Errorf("receipt %d: %w", i, err)
		}
		out = append(out, r)
		return nil
	})
	if err == nil {
		err = s.end()
	}
	return out, err
}

// Receipt fields, as bits of seen.
const (
	rType = iota
	rRoot
	rStatus
	rCumGas
	rBloom
	rLogs
	rTxHash
	rContract
	rGasUsed
	rEffPrice
	rBlobGas
	rBlobPrice
	rBlockHash
	rBlockNumber
	rTxIndex
)

// decodeReceipt reads one receipt with go-ethereum's required fields
// (cumulativeGasUsed, logsBloom, logs, transactionHash, gasUsed). The
// fields the checks do not use are still checked for form.
func decodeReceipt(s *scanner, r *types.Receipt) error {
	var f seen
	err := s.object(func(key []byte) error {
		bit, ok := receiptFields[string(key)]
		if !ok {
			return s.skip()
		}
		if err := f.once(bit, key); err != nil {
			return err
		}
		if s.null() {
			f &^= 1 << bit // null is as absent, as in go-ethereum
			return nil
		}
		if bit == rLogs {
			var err error
			r.Logs, err = decodeLogs(s)
			if err != nil {
				return fmt.Errorf("logs: %w", err)
			}
			if r.Logs == nil {
				r.Logs = []*types.Log{}
			}
			return nil
		}
		v, err := s.str()
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if err := setReceiptField(r, bit, v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, req := range []struct {
		bit  uint
		name string
	}{{rCumGas, "cumulativeGasUsed"}, {rBloom, "logsBloom"}, {rLogs, "logs"}, {rTxHash, "transactionHash"}, {rGasUsed, "gasUsed"}} {
		if !f.has(req.bit) {
			return fmt.Errorf("missing required field '%s'", req.name)
		}
	}
	return nil
}

var receiptFields = map[string]uint{
	"type": rType, "root": rRoot, "status": rStatus, "cumulativeGasUsed": rCumGas, "logsBloom": rBloom,
	"logs": rLogs, "transactionHash": rTxHash, "contractAddress": rContract, "gasUsed": rGasUsed,
	"effectiveGasPrice": rEffPrice, "blobGasUsed": rBlobGas, "blobGasPrice": rBlobPrice,
	"blockHash": rBlockHash, "blockNumber": rBlockNumber, "transactionIndex": rTxIndex,
}

// setReceiptField sets a receipt field from its string value.
func setReceiptField(r *types.Receipt, bit uint, v []byte) error {
	var q hexutil.Uint64
	var n hexutil.Big
	switch bit {
	case rType:
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		if q > 0xff {
			return fmt.Errorf("transaction type %d out of range", q)
		}
		r.Type = uint8(q)
	case rRoot:
		var pb hexutil.Bytes
		if err := pb.UnmarshalText(v); err != nil {
			return err
		}
		r.PostState = pb
	case rStatus:
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		// The receipts root encodes any status other than 0 as success:
		// one that is neither 0 nor 1 would pass the root and be read
		// here as a failure.
		if q > 1 {
			return fmt.Errorf("status %d is neither 0 nor 1", q)
		}
		r.Status = uint64(q)
	case rCumGas:
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		r.CumulativeGasUsed = uint64(q)
	case rBloom:
		return r.Bloom.UnmarshalText(v)
	case rTxHash:
		return r.TxHash.UnmarshalText(v)
	case rContract:
		var a common.Address // not used: checked for form
		return a.UnmarshalText(v)
	case rGasUsed:
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		r.GasUsed = uint64(q)
	case rEffPrice, rBlockNumber:
		// Not used by the checks: checked for form without a big.Int.
		return checkQuantity(v)
	case rBlobGas:
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		r.BlobGasUsed = uint64(q)
	case rBlobPrice:
		if err := n.UnmarshalText(v); err != nil {
			return err
		}
		r.BlobGasPrice = n.ToInt()
	case rBlockHash:
		var h common.Hash // not used: checked for form
		return h.UnmarshalText(v)
	case rTxIndex:
		var u hexutil.Uint
		if err := u.UnmarshalText(v); err != nil {
			return err
		}
		r.TransactionIndex = uint(u)
	}
	return nil
}

// checkQuantity checks a quantity of up to 256 bits as hexutil.Big's
// UnmarshalText does, without making the number.
func checkQuantity(v []byte) error {
	if len(v) == 0 {
		return nil // hexutil takes "" as 0
	}
	if len(v) < 2 || v[0] != '0' || (v[1] != 'x' && v[1] != 'X') {
		return hexutil.ErrMissingPrefix
	}
	v = v[2:]
	switch {
	case len(v) == 0:
		return hexutil.ErrEmptyNumber
	case len(v) > 1 && v[0] == '0':
		return hexutil.ErrLeadingZero
	case len(v) > 64:
		return hexutil.ErrBig256Range
	}
	for _, c := range v {
		if !isHex(c) {
			return hexutil.ErrSyntax
		}
	}
	return nil
}

// Log fields, as bits of seen.
const (
	lAddress = iota
	lTopics
	lData
	lBlockNumber
	lTxHash
	lTxIndex
	lBlockHash
	lBlockTime
	lIndex
	lRemoved
)

var logFields = map[string]uint{
	"address": lAddress, "topics": lTopics, "data": lData, "blockNumber": lBlockNumber,
	"transactionHash": lTxHash, "transactionIndex": lTxIndex, "blockHash": lBlockHash,
	"blockTimestamp": lBlockTime, "logIndex": lIndex, "removed": lRemoved,
}

// decodeLogs reads a receipt's logs; a null log is a nil entry, for the
// caller to report.
func decodeLogs(s *scanner) ([]*types.Log, error) {
	var out []*types.Log
	err := s.array(func(i int) error {
		if s.null() {
			out = append(out, nil)
			return nil
		}
		l := new(types.Log)
		if err := decodeLog(s, l); err != nil {
			return fmt.Errorf("log %d: %w", i, err)
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// decodeLog reads one log with go-ethereum's required fields (address,
// topics, data, transactionHash).
func decodeLog(s *scanner, l *types.Log) error {
	var f seen
	err := s.object(func(key []byte) error {
		bit, ok := logFields[string(key)]
		if !ok {
			return s.skip()
		}
		if err := f.once(bit, key); err != nil {
			return err
		}
		if s.null() {
			f &^= 1 << bit
			return nil
		}
		switch bit {
		case lTopics:
			l.Topics = []common.Hash{}
			err := s.array(func(i int) error {
				v, err := s.str()
				if err == nil {
					var h common.Hash
					err = h.UnmarshalText(v)
					l.Topics = append(l.Topics, h)
				}
				if err != nil {
					return fmt.Errorf("topic %d: %w", i, err)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("topics: %w", err)
			}
			return nil
		case lRemoved:
			switch {
			case s.peek() == 't' && s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "true":
				s.i += 4
				l.Removed = true
			case s.peek() == 'f' && s.i+5 <= len(s.b) && string(s.b[s.i:s.i+5]) == "false":
				s.i += 5
			default:
				return errors.New("removed: not a boolean")
			}
			return nil
		}
		v, err := s.str()
		if err == nil {
			err = setLogField(l, bit, v)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, req := range []struct {
		bit  uint
		name string
	}{{lAddress, "address"}, {lTopics, "topics"}, {lData, "data"}, {lTxHash, "transactionHash"}} {
		if !f.has(req.bit) {
			return fmt.Errorf("missing required field '%s'", req.name)
		}
	}
	return nil
}

func setLogField(l *types.Log, bit uint, v []byte) error {
	var q hexutil.Uint64
	var u hexutil.Uint
	switch bit {
	case lAddress:
		return l.Address.UnmarshalText(v)
	case lData:
		var d hexutil.Bytes
		if err := d.UnmarshalText(v); err != nil {
			return err
		}
		l.Data = d
	case lBlockNumber:
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		l.BlockNumber = uint64(q)
	case lTxHash:
		return l.TxHash.UnmarshalText(v)
	case lTxIndex:
		if err := u.UnmarshalText(v); err != nil {
			return err
		}
		l.TxIndex = uint(u)
	case lBlockHash:
		return l.BlockHash.UnmarshalText(v)
	case lBlockTime:
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		l.BlockTimestamp = uint64(q)
	case lIndex:
		if err := u.UnmarshalText(v); err != nil {
			return err
		}
		l.Index = uint(u)
	}
	return nil
}
