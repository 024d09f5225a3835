package chain

import (
	"bytes"
	"fmt"
	"math/big"
)

// Kinds of account-model transfers.
const (
	// TransferNative is the ETH value of a top-level transaction. Every
	// transaction has one, with its fee, even when it moves no value.
	TransferNative = "native"
	// TransferToken is an ERC-20 Transfer(address,address,uint256) log.
	TransferToken = "token"
	// TransferInternal is ETH moved by a call inside a transaction, from
	// the node's call traces.
	TransferInternal = "internal"
)

// AssetETH is the asset of native and internal transfers; tokens are named
// by their contract address.
const AssetETH = "ETH"

// Transfer is one value movement on an account-model chain. Addresses are
// lower-case hex with 0x. The natural key within a block is (Txid, Kind,
// Index).
type Transfer struct {
	Kind  string `json:"kind"`
	Asset string `json:"asset"` // "ETH" or the token contract
	From  string `json:"from"`
	To    string `json:"to"` // created contract for a contract creation
	// Value in base units (wei, or the token's smallest unit).
	Value   Amount `json:"value"`
	Txid    string `json:"txid"`
	TxIndex int    `json:"tx_index"` // position of the transaction in the block
	// Index is the log index in the block (token), the call's position in
	// the transaction's call tree, depth first from 1 (internal), or 0
	// (native).
	Index int `json:"index"`
	// Success is false for a failed transaction's native value and for
	// calls that reverted: recorded, but no value moved.
	Success bool `json:"success"`
	// Fee paid by From in wei; native transfers only.
	Fee Amount `json:"fee"`
	// Zero marks a transfer of value 0. Zero-value token transfers are the
	// address-poisoning pattern and move nothing.
	Zero bool `json:"zero,omitempty"`
}

// TxCount is the number of transactions in the block: Txs on a UTXO chain,
// the native transfers (one per transaction) on an account chain.
func (b *Block) TxCount() int {
	if len(b.Transfers) == 0 {
		return len(b.Txs)
	}
	n := 0
	for i := range b.Transfers {
		if b.Transfers[i].Kind == TransferNative {
			n++
		}
	}
	return n
}

// Amount is an exact non-negative integer of base units. It is immutable
// and its JSON form is a decimal string, so values above 2^53 (or 2^256
// for a hostile token) survive every JSON reader.
type Amount struct{ v *big.Int }

// NewAmount returns an amount holding a copy of v; nil is zero.
func NewAmount(v *big.Int) Amount {
	if v == nil || v.Sign() == 0 {
		return Amount{}
	}
	return Amount{new(big.Int).Set(v)}
}

// AmountFromUint64 returns an amount of v.
func AmountFromUint64(v uint64) Amount {
	if v == 0 {
		return Amount{}
	}
	return Amount{new(big.Int).SetUint64(v)}
}

// ParseAmount reads a decimal string of digits.
func ParseAmount(s string) (Amount, error) {
	if s == "" || len(s) > 80 {
		return Amount{}, fmt.Errorf("amount %q: want 1 to 80 decimal digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return Amount{}, fmt.Errorf("amount %q: want decimal digits only", s)
		}
	}
	v, _ := new(big.Int).SetString(s, 10)
	return NewAmount(v), nil
}

// Big returns a copy of the value.
func (a Amount) Big() *big.Int {
	if a.v == nil {
		return new(big.Int)
	}
	return new(big.Int).Set(a.v)
}

// IsZero reports whether the amount is 0.
func (a Amount) IsZero() bool { return a.v == nil || a.v.Sign() == 0 }

// String is the decimal form.
func (a Amount) String() string {
	if a.v == nil {
		return "0"
	}
	return a.v.String()
}

// MarshalJSON writes the decimal string.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}

// UnmarshalJSON reads a decimal string (or a bare JSON integer).
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// AmountFromBytes returns the amount whose big-endian magnitude is b.
func AmountFromBytes(b []byte) Amount {
	v := new(big.Int).SetBytes(b)
	if v.Sign() == 0 {
		return Amount{}
	}
	return Amount{v}
}

// Sign is -1, 0 or +1 as the amount is negative, zero or positive. An
// Amount built by this package is never negative; a decoder checks.
func (a Amount) Sign() int {
	if a.v == nil {
		return 0
	}
	return a.v.Sign()
}

// BitLen is the length of the amount's magnitude in bits (0 for zero).
func (a Amount) BitLen() int {
	if a.v == nil {
		return 0
	}
	return a.v.BitLen()
}

// FillBytes writes the magnitude big-endian into buf, zero-padded, and
// returns buf; buf must be at least (BitLen()+7)/8 bytes long.
func (a Amount) FillBytes(buf []byte) []byte {
	if a.v == nil {
		clear(buf)
		return buf
	}
	return a.v.FillBytes(buf)
}
