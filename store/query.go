package store

import (
	"context"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// groupSet binds a list for `col IN ?` (a plain slice binds as an array,
// which ClickHouse 18.16 rejects on the right of IN).
func groupSet(v []any) ch.GroupSet { return ch.GroupSet{Value: v} }

// AddressSummary is what an address received and sent.
type AddressSummary struct {
	Chain     string    `json:"chain"`
	Address   string    `json:"address"`
	Received  int64     `json:"received"`
	Sent      int64     `json:"sent"`
	Balance   int64     `json:"balance"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	TxCount   uint64    `json:"tx_count"`
	Outputs   uint64    `json:"outputs"` // outputs received
	Inputs    uint64    `json:"inputs"`  // outputs spent
}

// Address summarises an address's history. ErrNotFound when it never
// appears on chain.
func (s *Store) Address(ctx context.Context, chain, address string) (*AddressSummary, error) {
	if chain != "btc" {
		return nil, fmt.Errorf("store: chain %q is not stored", chain)
	}
	rows, err := s.conn.Query(ctx, `
		SELECT
			sum(if(is_input = 0, value, 0)) AS received,
			sum(if(is_input = 1, value, 0)) AS sent,
			toUInt32(min(time)) AS first_seen,
			toUInt32(max(time)) AS last_seen,
			uniqExact(txid) AS txs,
			sum(if(is_input = 0, 1, 0)) AS outs,
			sum(if(is_input = 1, 1, 0)) AS ins,
			count() AS n
		FROM btc_address_io FINAL
		WHERE address = ?`, address)
	if err != nil {
		return nil, fmt.Errorf("store: address %s: %w", address, err)
	}
	defer rows.Close()
	a := AddressSummary{Chain: chain, Address: address}
	var first, last uint32
	var outs, ins, n uint64
	if !rows.Next() {
		return nil, fmt.Errorf("store: address %s: %w", address, ErrNotFound)
	}
	if err := rows.Scan(&a.Received, &a.Sent, &first, &last, &a.TxCount, &outs, &ins, &n); err != nil {
		return nil, fmt.Errorf("store: address %s: %w", address, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("store: address %s: %w", address, ErrNotFound)
	}
	a.Balance = a.Received - a.Sent
	a.FirstSeen, a.LastSeen = time.Unix(int64(first), 0).UTC(), time.Unix(int64(last), 0).UTC()
	a.Outputs, a.Inputs = outs, ins
	return &a, rows.Err()
}

// TxInput is an input with the address and value of the output it spends.
type TxInput struct {
	N          uint32 `json:"n"`
	PrevTxid   string `json:"prev_txid,omitempty"`
	PrevN      uint32 `json:"prev_n"`
	Coinbase   bool   `json:"coinbase,omitempty"`
	Address    string `json:"address,omitempty"`
	ScriptType string `json:"script_type,omitempty"`
	Value      int64  `json:"value"`
}

// TxOutput is an output of a transaction.
type TxOutput struct {
	N          uint32 `json:"n"`
	Address    string `json:"address,omitempty"`
	ScriptType string `json:"script_type"`
	Value      int64  `json:"value"`
	// SpentBy is the input that spends the output, "txid:n" (btc_spends);
	// empty while it is unspent.
	SpentBy string `json:"spent_by,omitempty"`
}

// TxDetail is a stored transaction.
type TxDetail struct {
	Chain       string     `json:"chain"`
	Txid        string     `json:"txid"`
	BlockHash   string     `json:"block_hash"`
	BlockHeight uint32     `json:"block_height"`
	Index       uint32     `json:"index"`
	Time        time.Time  `json:"time"`
	Coinbase    bool       `json:"coinbase"`
	Size        uint32     `json:"size"`
	Vsize       uint32     `json:"vsize"`
	InputValue  int64      `json:"input_value"`
	OutputValue int64      `json:"output_value"`
	Fee         int64      `json:"fee"`
	Inputs      []TxInput  `json:"inputs"`
	Outputs     []TxOutput `json:"outputs"`
}

// Tx returns the transaction with this txid. Mainnet has two txids that
// occur in two blocks each (before BIP30); all occurrences are returned.
func (s *Store) Tx(ctx context.Context, chain, txid string) ([]TxDetail, error) {
	if chain != "btc" {
		return nil, fmt.Errorf("store: chain %q is not stored", chain)
	}
	rows, err := s.conn.Query(ctx, `
		SELECT block_hash, block_height, idx, toUInt32(time), coinbase, size, vsize, input_value, output_value, fee
		FROM btc_txs FINAL WHERE txid = ? ORDER BY block_height`, txid)
	if err != nil {
		return nil, fmt.Errorf("store: tx %s: %w", txid, err)
	}
	var txs []TxDetail
	for rows.Next() {
		t := TxDetail{Chain: chain, Txid: txid}
		var ts uint32
		var cb uint8
		if err := rows.Scan(&t.BlockHash, &t.BlockHeight, &t.Index, &ts, &cb, &t.Size, &t.Vsize, &t.InputValue, &t.OutputValue, &t.Fee); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: tx %s: %w", txid, err)
		}
		t.Time, t.Coinbase = time.Unix(int64(ts), 0).UTC(), cb == 1
		txs = append(txs, t)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: tx %s: %w", txid, err)
	}
	if len(txs) == 0 {
		return nil, fmt.Errorf("store: tx %s: %w", txid, ErrNotFound)
	}
	for i := range txs {
		t := &txs[i]
		if t.Inputs, err = s.txInputs(ctx, txid, t.BlockHash); err != nil {
			return nil, err
		}
		if t.Outputs, err = s.txOutputs(ctx, txid, t.BlockHash); err != nil {
			return nil, err
		}
	}
	return txs, nil
}

func (s *Store) txInputs(ctx context.Context, txid, blockHash string) ([]TxInput, error) {
	rows, err := s.conn.Query(ctx, `
		SELECT n, prev_txid, prev_n, coinbase, address, script_type, value
		FROM btc_inputs FINAL WHERE txid = ? AND block_hash = ? ORDER BY n`, txid, blockHash)
	if err != nil {
		return nil, fmt.Errorf("store: inputs of %s: %w", txid, err)
	}
	defer rows.Close()
	var ins []TxInput
	for rows.Next() {
		var in TxInput
		var cb uint8
		if err := rows.Scan(&in.N, &in.PrevTxid, &in.PrevN, &cb, &in.Address, &in.ScriptType, &in.Value); err != nil {
			return nil, fmt.Errorf("store: inputs of %s: %w", txid, err)
		}
		in.Coinbase = cb == 1
		ins = append(ins, in)
	}
	return ins, rows.Err()
}

func (s *Store) txOutputs(ctx context.Context, txid, blockHash string) ([]TxOutput, error) {
	rows, err := s.conn.Query(ctx, `
		SELECT n, address, script_type, value
		FROM btc_outputs FINAL WHERE txid = ? AND block_hash = ? ORDER BY n`, txid, blockHash)
	if err != nil {
		return nil, fmt.Errorf("store: outputs of %s: %w", txid, err)
	}
	defer rows.Close()
	var outs []TxOutput
	for rows.Next() {
		var o TxOutput
		if err := rows.Scan(&o.N, &o.Address, &o.ScriptType, &o.Value); err != nil {
			return nil, fmt.Errorf("store: outputs of %s: %w", txid, err)
		}
		outs = append(outs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: outputs of %s: %w", txid, err)
	}
	// The spenders, from the spend index. An output spent in two blocks
	// (a reorg whose undo is under way) shows the first by txid.
	srows, err := s.conn.Query(ctx, "SELECT prev_n, txid, n FROM btc_spends FINAL WHERE prev_txid = ? ORDER BY prev_n, txid, n", txid)
	if err != nil {
		return nil, fmt.Errorf("store: spenders of %s: %w", txid, err)
	}
	defer srows.Close()
	for srows.Next() {
		var prevN, n uint32
		var by string
		if err := srows.Scan(&prevN, &by, &n); err != nil {
			return nil, fmt.Errorf("store: spenders of %s: %w", txid, err)
		}
		for i := range outs {
			if outs[i].N == prevN && outs[i].SpentBy == "" {
				outs[i].SpentBy = fmt.Sprintf("%s:%d", by, n)
			}
		}
	}
	return outs, srows.Err()
}

// Stats counts what a chain's tables hold.
type Stats struct {
	Chain     string `json:"chain"`
	Blocks    uint64 `json:"blocks"`
	Txs       uint64 `json:"txs"`
	Inputs    uint64 `json:"inputs"`
	Outputs   uint64 `json:"outputs"`
	Addresses uint64 `json:"addresses"`
	TipHeight int64  `json:"tip_height"` // -1 when empty
	TipHash   string `json:"tip_hash,omitempty"`
	Engine    string `json:"engine"`
}

// Stats counts blocks, transactions, inputs, outputs and distinct addresses.
func (s *Store) Stats(ctx context.Context, chain string) (*Stats, error) {
	if chain != "btc" {
		return nil, fmt.Errorf("store: chain %q is not stored", chain)
	}
	st := Stats{Chain: chain, TipHeight: -1, Engine: s.conn.Engine()}
	counts := []struct {
		dst *uint64
		q   string
	}{
		{&st.Blocks, "SELECT count() FROM btc_blocks FINAL"},
		{&st.Txs, "SELECT count() FROM btc_txs FINAL"},
		{&st.Inputs, "SELECT count() FROM btc_inputs FINAL"},
		{&st.Outputs, "SELECT count() FROM btc_outputs FINAL"},
		{&st.Addresses, "SELECT uniqExact(address) FROM btc_address_io"},
	}
	for _, c := range counts {
		if err := s.scalar(ctx, c.dst, c.q); err != nil {
			return nil, fmt.Errorf("store: stats: %w", err)
		}
	}
	if st.Blocks > 0 {
		rows, err := s.conn.Query(ctx, "SELECT height, hash FROM btc_blocks FINAL ORDER BY height DESC LIMIT 1")
		if err != nil {
			return nil, fmt.Errorf("store: stats: %w", err)
		}
		defer rows.Close()
		if rows.Next() {
			var h uint32
			if err := rows.Scan(&h, &st.TipHash); err != nil {
				return nil, fmt.Errorf("store: stats: %w", err)
			}
			st.TipHeight = int64(h)
		}
	}
	return &st, nil
}

func (s *Store) scalar(ctx context.Context, dst any, q string, args ...any) error {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return ErrNotFound
	}
	if err := rows.Scan(dst); err != nil {
		return err
	}
	return rows.Err()
}

// BlockHash returns the stored hash at a height; ErrNotFound when absent.
func (s *Store) BlockHash(ctx context.Context, chain string, height int64) (string, error) {
	var h string
	err := s.scalar(ctx, &h, "SELECT hash FROM btc_blocks FINAL WHERE height = ? LIMIT 1", uint32(height))
	if err != nil {
		return "", fmt.Errorf("store: block at %d: %w", height, err)
	}
	return h, nil
}
