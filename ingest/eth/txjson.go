package eth

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// The transaction decoder reads the JSON of the common transaction types
// (legacy, EIP-2930 access list, EIP-1559 dynamic fee: nearly every
// transaction on mainnet) field by field with the scanner, with the same
// rules as go-ethereum's Transaction.UnmarshalJSON (required fields per
// type, v and yParity, the signature's sanity check); any other type, or
// a transaction carrying fields of another type, goes to go-ethereum's
// decoder. Either way the transactions root then proves every field.
// TestDecodeTxMatchesGeth and FuzzDecodeTx hold the two decoders to the
// same results.

// Transaction fields, as bits of seen.
const (
	tType = iota
	tChainID
	tNonce
	tTo
	tGas
	tGasPrice
	tTip
	tFeeCap
	tValue
	tInput
	tAccessList
	tV
	tR
	tS
	tYParity
	tFrom
	tHash
	tOther // a field of another transaction type: go-ethereum decodes it
)

var txFields = map[string]uint{
	"type": tType, "chainId": tChainID, "nonce": tNonce, "to": tTo, "gas": tGas, "gasPrice": tGasPrice,
	"maxPriorityFeePerGas": tTip, "maxFeePerGas": tFeeCap, "value": tValue, "input": tInput,
	"accessList": tAccessList, "v": tV, "r": tR, "s": tS, "yParity": tYParity, "from": tFrom, "hash": tHash,
	"maxFeePerBlobGas": tOther, "blobVersionedHashes": tOther, "authorizationList": tOther,
	"blobs": tOther, "commitments": tOther, "proofs": tOther,
}

// txJSON holds the fields read; a nil pointer is a field not given (or
// null, which go-ethereum takes as not given).
type txJSON struct {
	seen                                  seen
	typ                                   uint64
	nonce, gas, yParity                   uint64
	chainID, gasPrice, tip, feeCap, value *big.Int
	v, r, s                               *big.Int
	to                                    *common.Address
	input                                 []byte
	accessList                            types.AccessList
	from                                  *common.Address
	other                                 bool
}

// decodeTx reads one transaction object; from is the node's "from".
func decodeTx(s *scanner) (tx *types.Transaction, from *common.Address, err error) {
	start := s.i
	var d txJSON
	err = s.object(func(key []byte) error {
		bit, ok := txFields[string(key)]
		if !ok {
			return s.skip()
		}
		if bit == tOther {
			d.other = true
			return s.skip()
		}
		if err := d.seen.once(bit, key); err != nil {
			return err
		}
		if s.null() {
			if bit == tType || bit == tHash {
				// Not pointers in go-ethereum's decoder: null is an error.
				return fmt.Errorf("%s: null", key)
			}
			d.seen &^= 1 << bit
			return nil
		}
		if bit == tAccessList {
			if err := decodeAccessList(s, &d.accessList); err != nil {
				return fmt.Errorf("accessList: %w", err)
			}
			return nil
		}
		v, err := s.str()
		if err == nil {
			err = d.set(bit, v)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	switch {
	case d.other, d.typ > types.DynamicFeeTxType:
		tx = new(types.Transaction)
		if err := tx.UnmarshalJSON(s.b[start:s.i]); err != nil {
			return nil, nil, err
		}
	default:
		if tx, err = d.build(); err != nil {
			return nil, nil, err
		}
	}
	return tx, d.from, nil
}

func (d *txJSON) set(bit uint, v []byte) error {
	var q hexutil.Uint64
	big := func(dst **big.Int) error {
		var n hexutil.Big
		if err := n.UnmarshalText(v); err != nil {
			return err
		}
		*dst = n.ToInt()
		return nil
	}
	u64 := func(dst *uint64) error {
		if err := q.UnmarshalText(v); err != nil {
			return err
		}
		*dst = uint64(q)
		return nil
	}
	switch bit {
	case tType:
		return u64(&d.typ)
	case tChainID:
		return big(&d.chainID)
	case tNonce:
		return u64(&d.nonce)
	case tTo:
		d.to = new(common.Address)
		return d.to.UnmarshalText(v)
	case tGas:
		return u64(&d.gas)
	case tGasPrice:
		return big(&d.gasPrice)
	case tTip:
		return big(&d.tip)
	case tFeeCap:
		return big(&d.feeCap)
	case tValue:
		return big(&d.value)
	case tInput:
		var b hexutil.Bytes
		if err := b.UnmarshalText(v); err != nil {
			return err
		}
		d.input = b
	case tV:
		return big(&d.v)
	case tR:
		return big(&d.r)
	case tS:
		return big(&d.s)
	case tYParity:
		return u64(&d.yParity)
	case tFrom:
		d.from = new(common.Address)
		return d.from.UnmarshalText(v)
	case tHash:
		var h common.Hash // only checked for form, as go-ethereum does
		return h.UnmarshalText(v)
	}
	return nil
}

func (d *txJSON) missing(bit uint, name, what string) error {
	if d.seen.has(bit) {
		return nil
	}
	return fmt.Errorf("missing required field '%s' %s", name, what)
}

// build makes the transaction as go-ethereum's UnmarshalJSON would.
func (d *txJSON) build() (*types.Transaction, error) {
	legacy := d.typ == types.LegacyTxType
	if !legacy {
		if err := d.missing(tChainID, "chainId", "in transaction"); err != nil {
			return nil, err
		}
	}
	if err := d.missing(tNonce, "nonce", "in transaction"); err != nil {
		return nil, err
	}
	what := "in transaction"
	if d.typ == types.DynamicFeeTxType {
		what = "for txdata"
	}
	if err := d.missing(tGas, "gas", what); err != nil {
		return nil, err
	}
	if d.typ == types.DynamicFeeTxType {
		if err := d.missing(tTip, "maxPriorityFeePerGas", what); err != nil {
			return nil, err
		}
		if err := d.missing(tFeeCap, "maxFeePerGas", what); err != nil {
			return nil, err
		}
	} else if err := d.missing(tGasPrice, "gasPrice", "in transaction"); err != nil {
		return nil, err
	}
	for _, req := range []struct {
		bit  uint
		name string
	}{{tValue, "value"}, {tInput, "input"}, {tR, "r"}, {tS, "s"}} {
		if err := d.missing(req.bit, req.name, "in transaction"); err != nil {
			return nil, err
		}
	}
	var v *big.Int
	if legacy {
		if err := d.missing(tV, "v", "in transaction"); err != nil {
			return nil, err
		}
		v = d.v
	} else {
		var err error
		if v, err = d.yParityValue(); err != nil {
			return nil, err
		}
	}
	if v.Sign() != 0 || d.r.Sign() != 0 || d.s.Sign() != 0 {
		if err := sanityCheckSignature(v, d.r, d.s, legacy); err != nil {
			return nil, err
		}
	}
	var inner types.TxData
	switch d.typ {
	case types.LegacyTxType:
		inner = &types.LegacyTx{Nonce: d.nonce, GasPrice: d.gasPrice, Gas: d.gas, To: d.to, Value: d.value, Data: d.input, V: v, R: d.r, S: d.s}
	case types.AccessListTxType:
		inner = &types.AccessListTx{ChainID: d.chainID, Nonce: d.nonce, GasPrice: d.gasPrice, Gas: d.gas, To: d.to, Value: d.value,
			Data: d.input, AccessList: d.accessList, V: v, R: d.r, S: d.s}
	case types.DynamicFeeTxType:
		inner = &types.DynamicFeeTx{ChainID: d.chainID, Nonce: d.nonce, GasTipCap: d.tip, GasFeeCap: d.feeCap, Gas: d.gas, To: d.to,
			Value: d.value, Data: d.input, AccessList: d.accessList, V: v, R: d.r, S: d.s}
	}
	return types.NewTx(inner), nil
}

// yParityValue is go-ethereum's rule: yParity, else v; both must agree.
func (d *txJSON) yParityValue() (*big.Int, error) {
	if d.seen.has(tYParity) {
		if d.yParity > 1 {
			return nil, errors.New("'yParity' field must be 0 or 1")
		}
		y := new(big.Int).SetUint64(d.yParity)
		if d.seen.has(tV) && d.v.Cmp(y) != 0 {
			return nil, errors.New("'v' and 'yParity' fields do not match")
		}
		return y, nil
	}
	if d.seen.has(tV) {
		return d.v, nil
	}
	return nil, errors.New("missing 'yParity' or 'v' field in transaction")
}

// sanityCheckSignature is go-ethereum's check of a decoded signature
// (core/types, unexported there).
func sanityCheckSignature(v, r, s *big.Int, maybeProtected bool) error {
	if isProtectedV(v) && !maybeProtected {
		return types.ErrUnexpectedProtection
	}
	var plainV byte
	switch {
	case isProtectedV(v):
		chainID := deriveChainID(v).Uint64()
		plainV = byte(v.Uint64() - 35 - 2*chainID)
	case maybeProtected:
		// Only EIP-155 signatures can be optionally protected: an
		// unprotected one is a raw 27 or 28.
		plainV = byte(v.Uint64() - 27)
	default:
		plainV = byte(v.Uint64())
	}
	if !crypto.ValidateSignatureValues(plainV, r, s, false) {
		return types.ErrInvalidSig
	}
	return nil
}

func isProtectedV(v *big.Int) bool {
	if v.BitLen() <= 8 {
		n := v.Uint64()
		return n != 27 && n != 28 && n != 1 && n != 0
	}
	return true
}

func deriveChainID(v *big.Int) *big.Int {
	if v.BitLen() <= 64 {
		n := v.Uint64()
		if n == 27 || n == 28 {
			return new(big.Int)
		}
		return new(big.Int).SetUint64((n - 35) / 2)
	}
	c := new(big.Int).Sub(v, big.NewInt(35))
	return c.Rsh(c, 1)
}

// decodeAccessList reads [{"address": …, "storageKeys": […]}, …].
func decodeAccessList(s *scanner, out *types.AccessList) error {
	*out = types.AccessList{}
	return s.array(func(i int) error {
		var t types.AccessTuple
		var f seen
		err := s.object(func(key []byte) error {
			var bit uint
			switch string(key) {
			case "address":
				bit = 0
			case "storageKeys":
				bit = 1
			default:
				return s.skip()
			}
			if err := f.once(bit, key); err != nil {
				return err
			}
			if s.null() {
				f &^= 1 << bit
				return nil
			}
			if bit == 0 {
				v, err := s.str()
				if err == nil {
					err = t.Address.UnmarshalText(v)
				}
				return err
			}
			t.StorageKeys = []common.Hash{}
			return s.array(func(int) error {
				v, err := s.str()
				if err != nil {
					return err
				}
				var h common.Hash
				if err := h.UnmarshalText(v); err != nil {
					return err
				}
				t.StorageKeys = append(t.StorageKeys, h)
				return nil
			})
		})
		if err == nil && !f.has(0) {
			err = errors.New("missing required field 'address' for AccessTuple")
		}
		if err == nil && !f.has(1) {
			err = errors.New("missing required field 'storageKeys' for AccessTuple")
		}
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		*out = append(*out, t)
		return nil
	})
}
