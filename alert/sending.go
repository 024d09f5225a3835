package alert

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
)

// Sending exposure: when a payment reaches a watched address, whose money
// was it, up to the rule's hops back? The payer is hop 1 (the watch
// rules' counterparty); the addresses that funded the payer are hop 2, and
// so on. The model is upstream haircut with the step rules of the trace
// package, so an alert equals `tracer trace --direction up --model
// haircut` from the watched addresses for the payment's money: an input
// of value w of a transaction with input value V whose outputs reached
// hold taint T (what it paid to watched addresses, or the taint of its
// outputs found on the way back) gets trace.StepTaint, floor(w·T/V); its
// hop count is trace.LeastHop over those outputs, a step within one owner
// (the same address, or with clusters the same cluster, a payer of the
// watched address's cluster included) being no hop. An address reached
// by such a step reaches no new owner and does not alert.
//
// Each payment is followed back on its own, level by level: a transaction
// met again at a later level (two paths of different lengths from one
// source) passes on the taint of the outputs reached at each level
// separately, where a trace would add them before the floor.
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

// spendKey is a transaction on the way back from one payment.
type spendKey struct{ payTx, txid string }

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
func (a *Alerter) sendingExposure(ctx context.Context, b *chain.Block, clusterOf clusterFunc) ([]*Alert, error) {
	var rules []*Rule
	for _, r := range a.cfg.Rules {
		if r.Kind == KindExposure && r.sending {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 || len(b.Transfers) > 0 {
		return nil, nil
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
			var seeds []fund // the watched outputs: hop 0
			for _, o := range tx.Outputs {
				if wm, ok := r.Watched(o.Address); ok {
					paid += o.Value
					seeds = append(seeds, fund{txid: tx.Txid, address: o.Address, value: o.Value, taint: o.Value, match: wm, payTx: tx.Txid})
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
				t := trace.StepTaint(trace.Haircut, in.Value, paid, total)
				if !trace.Followed(t, min) {
					continue
				}
				hop, best, same := trace.LeastHop(len(seeds), fundFeed(seeds), in.Address, clusterOf)
				if same >= 0 {
					best = same
				}
				to := seeds[best]
				step := PathStep{Txid: tx.Txid, Height: b.Height, From: in.Address, To: to.address, Amount: strconv.FormatInt(t, 10), SameOwner: same >= 0}
				frontier = append(frontier, fund{txid: in.PrevTxid, address: in.Address, value: in.Value, taint: t, hop: hop,
					path: []PathStep{step}, match: to.match, payTx: tx.Txid})
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
			// The outputs reached of each transaction, per payment: the
			// transaction's taint is theirs together.
			byTx := map[spendKey][]fund{}
			var txOrder []spendKey
			for _, f := range frontier {
				k := spendKey{f.payTx, f.txid}
				if _, ok := byTx[k]; !ok {
					txOrder = append(txOrder, k)
				}
				byTx[k] = append(byTx[k], f)
			}
			var next []fund
			for _, k := range txOrder {
				outs := byTx[k]
				inputs := ins[k.txid]
				var total, taint int64
				for _, in := range inputs {
					total += in.value
				}
				for _, f := range outs {
					taint += f.taint
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
					t := trace.StepTaint(trace.Haircut, in.value, taint, total)
					if !trace.Followed(t, min) {
						continue
					}
					hop, best, sameIdx := trace.LeastHop(len(outs), fundFeed(outs), in.address, clusterOf)
					same := sameIdx >= 0
					if same {
						best = sameIdx
					}
					if hop > r.Hops {
						continue
					}
					f := outs[best]
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

// fundFeed shows the hop rule the outputs reached of a transaction.
func fundFeed(fs []fund) func(int) trace.Feed {
	return func(i int) trace.Feed { return trace.Feed{Address: fs[i].address, Hop: fs[i].hop, Taint: fs[i].taint} }
}
