package store

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/tracerproject/tracer/chain"
)

// EthAsset is what an Ethereum address received and sent of one asset.
// Values are exact decimal strings of base units (wei, token units); failed
// transfers and zero-value transfers move nothing and are only counted.
type EthAsset struct {
	Asset     string    `json:"asset"` // "ETH" or the token contract
	Received  string    `json:"received"`
	Sent      string    `json:"sent"`
	Fees      string    `json:"fees"` // fees paid (ETH only)
	Net       string    `json:"net"`  // received - sent - fees, may be negative
	In        uint64    `json:"transfers_in"`
	Out       uint64    `json:"transfers_out"`
	ZeroValue uint64    `json:"zero_value"` // zero-value token transfers: the address-poisoning pattern
	Failed    uint64    `json:"failed"`
	TxCount   uint64    `json:"tx_count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// EthAddress summarises an address per asset. The address must be in the
// canonical form (lower-case 0x hex). ErrNotFound when it never appears.
func (s *Store) EthAddress(ctx context.Context, address string) ([]EthAsset, error) {
	rows, err := s.conn.Query(ctx, `
		SELECT asset,
			toString(sumIf(value, is_from = 0 AND success = 1)),
			toString(sumIf(value, is_from = 1 AND success = 1)),
			toString(sumIf(fee, is_from = 1)),
			countIf(is_from = 0), countIf(is_from = 1), countIf(zero = 1 AND kind = 'token'), countIf(success = 0),
			uniqExact(txid), toUInt32(min(time)), toUInt32(max(time))
		FROM eth_address_transfers FINAL
		WHERE address = ?
		GROUP BY asset ORDER BY asset`, address)
	if err != nil {
		return nil, fmt.Errorf("store: address %s: %w", address, err)
	}
	var out []EthAsset
	for rows.Next() {
		var a EthAsset
		var first, last uint32
		if err := rows.Scan(&a.Asset, &a.Received, &a.Sent, &a.Fees, &a.In, &a.Out, &a.ZeroValue, &a.Failed, &a.TxCount, &first, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: address %s: %w", address, err)
		}
		a.FirstSeen, a.LastSeen = time.Unix(int64(first), 0).UTC(), time.Unix(int64(last), 0).UTC()
		out = append(out, a)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: address %s: %w", address, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: address %s: %w", address, ErrNotFound)
	}
	// Values beyond Decimal(38, 0) are 0 in the sums above; add them
	// exactly from their text.
	big, err := s.conn.Query(ctx, `
		SELECT asset, is_from, value_big FROM eth_address_transfers FINAL
		WHERE address = ? AND value_big != '' AND success = 1`, address)
	if err != nil {
		return nil, fmt.Errorf("store: address %s: %w", address, err)
	}
	extra := map[string][2]*bigInt{}
	for big.Next() {
		var asset, v string
		var isFrom uint8
		if err := big.Scan(&asset, &isFrom, &v); err != nil {
			big.Close()
			return nil, fmt.Errorf("store: address %s: %w", address, err)
		}
		e := extra[asset]
		if e[isFrom] == nil {
			e[isFrom] = newBig(0)
		}
		if _, ok := e[isFrom].SetString(v, 10); !ok {
			big.Close()
			return nil, fmt.Errorf("store: address %s: stored value_big %q is not a number", address, v)
		}
		extra[asset] = e
	}
	err = big.Err()
	big.Close()
	if err != nil {
		return nil, fmt.Errorf("store: address %s: %w", address, err)
	}
	for i := range out {
		a := &out[i]
		recv, sent, fees := mustBig(a.Received), mustBig(a.Sent), mustBig(a.Fees)
		if e, ok := extra[a.Asset]; ok {
			if e[0] != nil {
				recv.Add(recv, e[0])
			}
			if e[1] != nil {
				sent.Add(sent, e[1])
			}
		}
		net := newBig(0).Sub(recv, sent)
		net.Sub(net, fees)
		a.Received, a.Sent, a.Net = recv.String(), sent.String(), net.String()
	}
	return out, nil
}

type bigInt = big.Int

func newBig(v int64) *big.Int { return big.NewInt(v) }

// mustBig reads a decimal the engine printed; toString of a Decimal(38, 0)
// is always one.
func mustBig(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return new(big.Int)
	}
	return v
}

// EthTransfer is a stored Ethereum transfer.
type EthTransfer struct {
	Txid        string    `json:"txid"`
	Kind        string    `json:"kind"`
	Index       uint32    `json:"index"`
	BlockHash   string    `json:"block_hash"`
	BlockHeight uint64    `json:"block_height"`
	Time        time.Time `json:"time"`
	TxIndex     uint32    `json:"tx_index"`
	Asset       string    `json:"asset"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Value       string    `json:"value"` // exact, base units
	Fee         string    `json:"fee"`
	Success     bool      `json:"success"`
	Zero        bool      `json:"zero,omitempty"`
}

const ethTransferSelect = `SELECT txid, kind, idx, block_hash, block_height, toUInt32(time), tx_index, asset,
	from_address, to_address, toString(value), value_big, toString(fee), success, zero FROM eth_transfers FINAL`

// kindOrder sorts a transaction's transfers as the chain made them: the
// native value, then token logs, then internal calls.
const kindOrder = "multiIf(kind = 'native', 0, kind = 'token', 1, 2)"

// EthTx returns the transfers of a transaction (canonical 0x… txid):
// its native value and fee, its token transfers and internal transfers.
func (s *Store) EthTx(ctx context.Context, txid string) ([]EthTransfer, error) {
	out, err := s.ethTransfers(ctx, ethTransferSelect+" WHERE txid = ? ORDER BY block_height, "+kindOrder+", idx", txid)
	if err != nil {
		return nil, fmt.Errorf("store: tx %s: %w", txid, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: tx %s: %w", txid, ErrNotFound)
	}
	return out, nil
}

// EthTransfers returns every stored transfer in chain order (for tests
// and exports of small stores).
func (s *Store) EthTransfers(ctx context.Context) ([]EthTransfer, error) {
	return s.ethTransfers(ctx, ethTransferSelect+" ORDER BY block_height, tx_index, "+kindOrder+", idx")
}

func (s *Store) ethTransfers(ctx context.Context, q string, args ...any) ([]EthTransfer, error) {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EthTransfer
	for rows.Next() {
		var t EthTransfer
		var ts uint32
		var big string
		var ok, zero uint8
		if err := rows.Scan(&t.Txid, &t.Kind, &t.Index, &t.BlockHash, &t.BlockHeight, &ts, &t.TxIndex, &t.Asset,
			&t.From, &t.To, &t.Value, &big, &t.Fee, &ok, &zero); err != nil {
			return nil, err
		}
		if big != "" {
			t.Value = big
		}
		t.Time, t.Success, t.Zero = time.Unix(int64(ts), 0).UTC(), ok == 1, zero == 1
		out = append(out, t)
	}
	return out, rows.Err()
}

// EthStats counts what the Ethereum tables hold.
type EthStats struct {
	Chain     string `json:"chain"`
	Blocks    uint64 `json:"blocks"`
	Txs       uint64 `json:"txs"`
	Transfers uint64 `json:"transfers"`
	Token     uint64 `json:"token_transfers"`
	Internal  uint64 `json:"internal_transfers"`
	ZeroValue uint64 `json:"zero_value"` // zero-value token transfers (address poisoning)
	Failed    uint64 `json:"failed"`
	Assets    uint64 `json:"assets"`
	Addresses uint64 `json:"addresses"`
	TipHeight int64  `json:"tip_height"` // -1 when empty
	TipHash   string `json:"tip_hash,omitempty"`
	Engine    string `json:"engine"`
}

// EthStats counts the Ethereum tables.
func (s *Store) EthStats(ctx context.Context) (*EthStats, error) {
	st := EthStats{Chain: chain.ETH, TipHeight: -1, Engine: s.conn.Engine()}
	rows, err := s.conn.Query(ctx, `
		SELECT count(), countIf(kind = 'native'), countIf(kind = 'token'), countIf(kind = 'internal'),
			countIf(zero = 1 AND kind = 'token'), countIf(success = 0), uniqExact(asset)
		FROM eth_transfers FINAL`)
	if err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	if rows.Next() {
		err = rows.Scan(&st.Transfers, &st.Txs, &st.Token, &st.Internal, &st.ZeroValue, &st.Failed, &st.Assets)
	}
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	for _, c := range []struct {
		dst *uint64
		q   string
	}{
		{&st.Blocks, "SELECT count() FROM eth_blocks FINAL"},
		{&st.Addresses, "SELECT uniqExact(address) FROM eth_address_transfers"},
	} {
		if err := s.scalar(ctx, c.dst, c.q); err != nil {
			return nil, fmt.Errorf("store: stats: %w", err)
		}
	}
	if st.Blocks > 0 {
		rows, err := s.conn.Query(ctx, "SELECT height, hash FROM eth_blocks FINAL ORDER BY height DESC LIMIT 1")
		if err != nil {
			return nil, fmt.Errorf("store: stats: %w", err)
		}
		defer rows.Close()
		if rows.Next() {
			var h uint64
			if err := rows.Scan(&h, &st.TipHash); err != nil {
				return nil, fmt.Errorf("store: stats: %w", err)
			}
			st.TipHeight = int64(h)
		}
	}
	return &st, nil
}
