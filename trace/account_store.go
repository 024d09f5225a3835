package trace

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// tkey is a transfer's natural key (eth_transfers' ORDER BY without the
// block hash).
type tkey struct {
	txid, kind string
	idx        uint32
}

func (k tkey) String() string { return fmt.Sprintf("%s/%s/%d", k.txid, k.kind, k.idx) }

// xfer is a stored account-chain transfer of one asset.
type xfer struct {
	tkey
	height  uint64
	txIndex uint32
	time    time.Time
	from    string
	to      string
	value   *big.Int
	fee     *big.Int // native rows: paid by from, even when the call failed
	moves   bool     // succeeded, not flagged zero, value above 0
}

func kindRank(k string) int {
	switch k {
	case chain.TransferNative:
		return 0
	case chain.TransferToken:
		return 1
	}
	return 2
}

// chainOrder sorts transfers as the chain made them: block, position in
// the block, then within a transaction its native value first (the EVM
// moves it before any code runs), then token logs and internal calls by
// their index. The store cannot tell the order of a token log against an
// internal call of the same transaction; token logs go first.
func chainOrder(a, b *xfer) int {
	if c := cmp.Compare(a.height, b.height); c != 0 {
		return c
	}
	if c := cmp.Compare(a.txIndex, b.txIndex); c != 0 {
		return c
	}
	if c := cmp.Compare(kindRank(a.kind), kindRank(b.kind)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.idx, b.idx); c != 0 {
		return c
	}
	return cmp.Compare(a.txid, b.txid)
}

// Events of an address's history in one asset.
const (
	evIn = iota
	evFee
	evOut
)

type aev struct {
	kind   int
	x      *xfer
	amount *big.Int
}

// ahist is an address's history of one asset, in chain order.
type ahist struct {
	events []aev
	// opening is the least balance the address must have held before the
	// store's first row of it for its balance never to go below zero.
	opening *big.Int
	end     *big.Int // balance after the last event, opening included
}

// agraph reads one asset's transfers from the store by address and caches
// them.
type agraph struct {
	conn    store.Conn
	asset   string
	hist    map[string]*ahist
	cluster map[string]uint32
	queries int
}

func newAGraph(conn store.Conn, asset string) *agraph {
	return &agraph{conn: conn, asset: asset, hist: map[string]*ahist{}, cluster: map[string]uint32{}}
}

type arowKey struct {
	address, txid, kind string
	idx                 uint32
	isFrom              uint8
	blockHash           string
}

// load reads the histories of addresses not read yet.
func (g *agraph) load(ctx context.Context, addrs []string) error {
	var need []string
	for _, a := range addrs {
		if _, ok := g.hist[a]; !ok {
			g.hist[a] = nil
			need = append(need, a)
		}
	}
	return each(need, func(part []string) error {
		g.queries++
		// Without FINAL (a merge on every read on ClickHouse 18.16): a row
		// inserted twice is dropped here by its key. A self-transfer has
		// two rows, one per side; they make one transfer.
		rows, err := g.conn.Query(ctx, `SELECT address, is_from, txid, kind, idx, block_hash, block_height, toUInt32(time), tx_index,
			from_address, to_address, toString(value), value_big, toString(fee), success, zero
			FROM eth_address_transfers WHERE address IN ? AND asset = ?`, set(part), g.asset)
		if err != nil {
			return fmt.Errorf("trace: reading transfers of %s: %w", g.asset, err)
		}
		defer rows.Close()
		seen := map[arowKey]bool{}
		byAddr := map[string][]*xfer{}
		for rows.Next() {
			var a, hash, val, valBig, fee string
			var x xfer
			var isFrom, ok, zero uint8
			var ts uint32
			if err := rows.Scan(&a, &isFrom, &x.txid, &x.kind, &x.idx, &hash, &x.height, &ts, &x.txIndex,
				&x.from, &x.to, &val, &valBig, &fee, &ok, &zero); err != nil {
				return fmt.Errorf("trace: reading transfers of %s: %w", g.asset, err)
			}
			k := arowKey{a, x.txid, x.kind, x.idx, isFrom, hash}
			if seen[k] {
				continue
			}
			seen[k] = true
			if x.from == x.to && isFrom == 0 {
				continue // the other side of a self-transfer
			}
			if valBig != "" {
				val = valBig
			}
			var good bool
			if x.value, good = new(big.Int).SetString(val, 10); !good {
				return fmt.Errorf("trace: transfer %s: stored value %q is not a number", x.tkey, val)
			}
			if x.fee, good = new(big.Int).SetString(fee, 10); !good {
				return fmt.Errorf("trace: transfer %s: stored fee %q is not a number", x.tkey, fee)
			}
			x.time = time.Unix(int64(ts), 0).UTC()
			x.moves = ok == 1 && zero == 0 && x.value.Sign() > 0
			byAddr[a] = append(byAddr[a], &x)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("trace: reading transfers of %s: %w", g.asset, err)
		}
		for a, xs := range byAddr {
			g.hist[a] = history(a, xs)
		}
		return nil
	})
}

// history orders an address's transfers into events and finds its
// opening balance.
func history(a string, xs []*xfer) *ahist {
	slices.SortFunc(xs, chainOrder)
	h := &ahist{}
	for _, x := range xs {
		// Gas is bought before the value moves.
		if x.from == a && x.kind == chain.TransferNative && x.fee.Sign() > 0 {
			h.events = append(h.events, aev{kind: evFee, x: x, amount: x.fee})
		}
		if !x.moves || x.from == x.to {
			continue
		}
		if x.to == a {
			h.events = append(h.events, aev{kind: evIn, x: x, amount: x.value})
		} else {
			h.events = append(h.events, aev{kind: evOut, x: x, amount: x.value})
		}
	}
	bal, low := new(big.Int), new(big.Int)
	for _, e := range h.events {
		if e.kind == evIn {
			bal.Add(bal, e.amount)
			continue
		}
		bal.Sub(bal, e.amount)
		if bal.Cmp(low) < 0 {
			low.Set(bal)
		}
	}
	h.opening = low.Neg(low)
	h.end = bal.Add(bal, h.opening)
	return h
}

// loadClusters asks the account clusterer, if any, for the clusters of
// addresses not asked yet.
func (g *agraph) loadClusters(ctx context.Context, acl AccountClusters, addrs []string) error {
	var need []string
	for _, a := range addrs {
		if _, ok := g.cluster[a]; !ok {
			g.cluster[a] = 0
			need = append(need, a)
		}
	}
	if acl == nil || len(need) == 0 {
		return nil
	}
	g.queries++
	m, err := acl.ClustersOf(ctx, chain.ETH, need)
	if err != nil {
		return fmt.Errorf("trace: reading clusters: %w", err)
	}
	for a, c := range m {
		g.cluster[a] = c
	}
	return nil
}

// startAssets lists the assets in which the start addresses have rows,
// and whether each address has any row at all.
func startAssets(ctx context.Context, conn store.Conn, addrs []string) (assets []string, known map[string]bool, err error) {
	known = map[string]bool{}
	seenAsset := map[string]bool{}
	err = each(addrs, func(part []string) error {
		rows, err := conn.Query(ctx, "SELECT DISTINCT address, asset FROM eth_address_transfers WHERE address IN ?", set(part))
		if err != nil {
			return fmt.Errorf("trace: reading the assets of the start set: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var a, asset string
			if err := rows.Scan(&a, &asset); err != nil {
				return fmt.Errorf("trace: reading the assets of the start set: %w", err)
			}
			known[a] = true
			if !seenAsset[asset] {
				seenAsset[asset] = true
				assets = append(assets, asset)
			}
		}
		return rows.Err()
	})
	// ETH first, then contracts in order: results come out the same way
	// every time.
	slices.SortFunc(assets, func(a, b string) int {
		if (a == chain.AssetETH) != (b == chain.AssetETH) {
			if a == chain.AssetETH {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	return assets, known, err
}
