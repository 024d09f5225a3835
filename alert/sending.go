package alert

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
)

// Sending exposure: when a payment reaches a watched address, whose money
// was it, up to the rule's hops back? The payer is hop 1 (the watch
// rules' counterparty); the addresses that funded the payer are hop 2, and
// so on. Haircut backwards, exact to the satoshi: an input of value w of a
// transaction with input value V that paid T to watched addresses gets
// floor(w·T/V); an earlier transaction that created a tainted output of
// taint t passes floor(w·t/V) to each of its inputs. A step within one
// owner (the same address, or with clusters the same cluster) is no hop.
//
// The earlier transactions are read from the store (btc_inputs): a
// funding transaction the loader has not stored yet (it stores blocks
// within about a second) or never saw ends that branch, and the alert
// says nothing of it. One query per hop level serves every payment of the
// block.

// upstreamBatch bounds the txids of one query.
const upstreamBatch = store.KeysLimit

// fund is a tainted output on the way back: its address, its taint (the
// part of it that reached the watched addresses), the hop count of its
// owner and the path from it to the watched address.
type fund struct {
	txid    string // the transaction that created it
	address string
	value   int64
	taint   int64
	hop     int
	path    []PathStep
	match   Match
	payTx   string // the transaction in this block that paid the watched address
}

// storedInput is an input of a stored transaction.
type storedInput struct {
	prevTxid, address string
	prevN             uint32
	value             int64
	height            int64
	coinbase          bool
}

// inputsOf reads the inputs of stored transactions.
func inputsOf(ctx context.Context, conn store.Conn, txids []string) (map[string][]storedInput, error) {
	slices.Sort(txids)
	txids = slices.Compact(txids)
	out := map[string][]storedInput{}
	type key struct {
		txid string
		n    uint32
	}
	seen := map[key]bool{}
	for start := 0; start < len(txids); start += upstreamBatch {
		part := txids[start:min(start+upstreamBatch, len(txids))]
		rows, err := conn.Query(ctx, "SELECT txid, n, prev_txid, prev_n, coinbase, address, value, block_height FROM btc_inputs WHERE txid IN ? ORDER BY txid, n", store.Keys(part))
		if err != nil {
			return nil, fmt.Errorf("alert: reading the inputs of %d transactions: %w", len(part), err)
		}
		for rows.Next() {
			var txid string
			var n uint32
			var in storedInput
			var cb uint8
			var h uint32
			if err := rows.Scan(&txid, &n, &in.prevTxid, &in.prevN, &cb, &in.address, &in.value, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("alert: reading inputs: %w", err)
			}
			// A transaction stored under two blocks (a reorg) has its
			// inputs twice: the same ones.
			if seen[key{txid, n}] {
				continue
			}
			seen[key{txid, n}] = true
			in.coinbase, in.height = cb == 1, int64(h)
			out[txid] = append(out[txid], in)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("alert: reading inputs: %w", err)
		}
	}
	return out, nil
}

// sendingExposure returns the block's sending-exposure alerts.
func (a *Alerter) sendingExposure(ctx context.Context, b *chain.Block, sameOwner ownerFunc) ([]*Alert, error) {
	var rules []*Rule
	for _, r := range a.cfg.Rules {
		if r.Kind == KindExposure && r.sending {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 || len(b.Transfers) > 0 {
		return nil, nil
	}
	if sameOwner == nil {
		sameOwner = func(string, string) bool { return false }
	}
	when := time.Unix(b.Time, 0).UTC()
	var alerts []*Alert
	for _, r := range rules {
		min := r.min.Int64()
		// Hop 1: the payers of each payment into watched addresses.
		var frontier []fund
		for i := range b.Txs {
			tx := &b.Txs[i]
			if tx.Coinbase {
				continue
			}
			var paid int64
			var to string
			var m Match
			for _, o := range tx.Outputs {
				if wm, ok := r.Watched(o.Address); ok {
					if paid == 0 {
						to, m = o.Address, wm
					}
					paid += o.Value
				}
			}
			total := tx.InputValue()
			if paid == 0 || total == 0 || internal(flow{tx: tx, dir: Incoming}, r) {
				continue
			}
			for _, in := range tx.Inputs {
				if _, ok := r.Watched(in.Address); ok || in.Address == "" {
					continue // the watched owner's own money
				}
				t := mulDiv(in.Value, paid, total)
				if t < min {
					continue
				}
				step := PathStep{Txid: tx.Txid, Height: b.Height, From: in.Address, To: to, Amount: strconv.FormatInt(t, 10)}
				frontier = append(frontier, fund{txid: in.PrevTxid, address: in.Address, value: in.Value, taint: t, hop: 1,
					path: []PathStep{step}, match: m, payTx: tx.Txid})
			}
		}
		type akey struct{ payTx, address string }
		found := map[akey]*Alert{}
		var order []akey
		// Steps within one owner are no hop but cost a query: a long
		// peel chain of one owner is followed this far.
		for level := 0; len(frontier) > 0 && level < 3*r.Hops; level++ {
			var txids []string
			for _, f := range frontier {
				txids = append(txids, f.txid)
			}
			ins, err := inputsOf(ctx, a.conn, txids)
			if err != nil {
				return nil, err
			}
			var next []fund
			for _, f := range frontier {
				inputs := ins[f.txid]
				var total int64
				for _, in := range inputs {
					total += in.value
				}
				if total == 0 {
					continue // not stored, or a coinbase: the branch ends
				}
				for _, in := range inputs {
					if in.coinbase || in.address == "" {
						continue
					}
					if _, ok := r.Watched(in.address); ok {
						continue // the watched owner's own money coming back
					}
					t := mulDiv(in.value, f.taint, total)
					if t < min {
						continue
					}
					same := in.address == f.address || sameOwner(in.address, f.address)
					hop := f.hop + 1
					if same {
						hop = f.hop
					}
					if hop > r.Hops {
						continue
					}
					step := PathStep{Txid: f.txid, Height: in.height, From: in.address, To: f.address, Amount: strconv.FormatInt(t, 10), SameOwner: same}
					path := append([]PathStep{step}, f.path...)
					if !same && hop >= 2 && t*100 >= int64(r.MinSharePct)*in.value {
						k := akey{f.payTx, in.address}
						if al := found[k]; al != nil {
							n, _ := strconv.ParseInt(al.Amount, 10, 64)
							v, _ := strconv.ParseInt(al.Value, 10, 64)
							al.Amount, al.Value = strconv.FormatInt(n+t, 10), strconv.FormatInt(v+in.value, 10)
							if hop < al.Hops {
								al.Hops, al.Path = hop, path
							}
						} else {
							found[k] = &Alert{
								Format: Format, ID: alertID(r.Name, b.Chain, b.Hash, f.payTx, Outgoing, in.address), Status: Provisional,
								Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Chain: b.Chain, Txid: f.payTx,
								BlockHash: b.Hash, Height: b.Height, Time: when, Direction: Outgoing, Address: in.address,
								Counterparties: []string{path[len(path)-1].To}, Amount: strconv.FormatInt(t, 10),
								Value: strconv.FormatInt(in.value, 10), Asset: asset(b.Chain), Hops: hop, Matched: []Match{f.match}, Path: path,
							}
							order = append(order, k)
						}
					}
					if hop < r.Hops || same {
						next = append(next, fund{txid: in.prevTxid, address: in.address, value: in.value, taint: t, hop: hop, path: path, match: f.match, payTx: f.payTx})
					}
				}
			}
			frontier = next
		}
		for _, k := range order {
			alerts = append(alerts, found[k])
		}
	}
	return alerts, nil
}
