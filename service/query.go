package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// ChainOf is the chain of an address or transaction argument: chainName
// when given, else Ethereum for 0x…, else Bitcoin.
func ChainOf(chainName, arg string) string {
	if chainName != "" {
		return chainName
	}
	if strings.HasPrefix(arg, "0x") || strings.HasPrefix(arg, "0X") {
		return chain.ETH
	}
	return chain.BTC
}

// AddressRequest asks for an address's summary.
type AddressRequest struct {
	Address string
	// Chain: btc or eth; empty: told by the address (ChainOf).
	Chain string
}

// ETHAddress is an Ethereum address's totals per asset.
type ETHAddress struct {
	Chain   string           `json:"chain"`
	Address string           `json:"address"`
	Assets  []store.EthAsset `json:"assets"`
}

// Address is an address's summary: BTC for a Bitcoin address, ETH for an
// Ethereum one. It marshals as the one it holds.
type Address struct {
	BTC *store.AddressSummary
	ETH *ETHAddress
}

func (a Address) MarshalJSON() ([]byte, error) {
	if a.ETH != nil {
		return json.Marshal(a.ETH)
	}
	return json.Marshal(a.BTC)
}

// Address returns the totals, first and last seen and counts of an
// address.
func (s *Service) Address(ctx context.Context, r AddressRequest) (*Address, error) {
	switch c := ChainOf(r.Chain, r.Address); c {
	case chain.ETH:
		addr, err := chain.ParseETHAddress(r.Address)
		if err != nil {
			return nil, invalid(err)
		}
		assets, err := s.st.EthAddress(ctx, addr)
		if err != nil {
			return nil, notFound(err, "address "+addr)
		}
		return &Address{ETH: &ETHAddress{Chain: chain.ETH, Address: addr, Assets: assets}}, nil
	default:
		if err := chain.CheckBTCAddress(r.Address); err != nil {
			return nil, invalid(err)
		}
		sum, err := s.st.Address(ctx, c, r.Address)
		if err != nil {
			return nil, notFound(err, "address "+r.Address)
		}
		return &Address{BTC: sum}, nil
	}
}

// TxRequest asks for a transaction.
type TxRequest struct {
	Txid string
	// Chain: btc or eth; empty: told by the txid (ChainOf).
	Chain string
}

// ETHTx is an Ethereum transaction's transfers.
type ETHTx struct {
	Chain     string              `json:"chain"`
	Txid      string              `json:"txid"`
	Transfers []store.EthTransfer `json:"transfers"`
}

// Tx is a transaction: BTC holds the Bitcoin transactions of the txid
// (more than one only for the duplicate txids of early blocks), ETH an
// Ethereum one. It marshals as the one transaction, or an array of the
// Bitcoin ones when there are several.
type Tx struct {
	BTC []store.TxDetail
	ETH *ETHTx
}

func (t Tx) MarshalJSON() ([]byte, error) {
	if t.ETH != nil {
		return json.Marshal(t.ETH)
	}
	if len(t.BTC) == 1 {
		return json.Marshal(t.BTC[0])
	}
	return json.Marshal(t.BTC)
}

// Tx returns a transaction with its inputs and outputs (Bitcoin) or its
// transfers (Ethereum).
func (s *Service) Tx(ctx context.Context, r TxRequest) (*Tx, error) {
	switch c := ChainOf(r.Chain, r.Txid); c {
	case chain.ETH:
		txid := strings.ToLower(r.Txid)
		if len(txid) != 66 || !strings.HasPrefix(txid, "0x") || strings.Trim(txid[2:], "0123456789abcdef") != "" {
			return nil, invalidf("%q is not an Ethereum transaction hash (0x and 64 hex digits)", r.Txid)
		}
		trs, err := s.st.EthTx(ctx, txid)
		if err != nil {
			return nil, notFound(err, "transaction "+txid)
		}
		return &Tx{ETH: &ETHTx{Chain: chain.ETH, Txid: txid, Transfers: trs}}, nil
	default:
		if _, err := chainhash.NewHashFromStr(r.Txid); err != nil || len(r.Txid) != 64 {
			return nil, invalidf("%q is not a transaction id (64 hex digits)", r.Txid)
		}
		txs, err := s.st.Tx(ctx, c, r.Txid)
		if err != nil {
			return nil, notFound(err, "transaction "+r.Txid)
		}
		return &Tx{BTC: txs}, nil
	}
}

// StatsRequest asks what the store holds.
type StatsRequest struct {
	// Chain: btc, eth, or empty for both.
	Chain string
}

// Stats is what the store holds per chain; a chain not asked for is nil.
// It marshals as the one chain's record when one was asked for, else as
// an array [btc, eth].
type Stats struct {
	BTC *store.Stats
	ETH *store.EthStats
}

func (s Stats) MarshalJSON() ([]byte, error) {
	switch {
	case s.BTC == nil:
		return json.Marshal(s.ETH)
	case s.ETH == nil:
		return json.Marshal(s.BTC)
	}
	return json.Marshal([]any{s.BTC, s.ETH})
}

// Stats returns the counts and tip of each chain asked for.
func (s *Service) Stats(ctx context.Context, r StatsRequest) (*Stats, error) {
	var out Stats
	var err error
	switch r.Chain {
	case "", chain.BTC, chain.ETH:
	default:
		return nil, invalidf("--chain %q: want btc or eth", r.Chain)
	}
	if r.Chain != chain.BTC {
		if out.ETH, err = s.st.EthStats(ctx); err != nil {
			return nil, fmt.Errorf("reading Ethereum stats: %w", err)
		}
	}
	if r.Chain != chain.ETH {
		if out.BTC, err = s.st.Stats(ctx, chain.BTC); err != nil {
			return nil, fmt.Errorf("reading Bitcoin stats: %w", err)
		}
	}
	return &out, nil
}
