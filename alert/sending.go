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
// so on. Each payment is followed back on its own, and the result is what
// `tracer trace --direction up --model haircut` computes from the
// payment's outputs to watched addresses (its seeds, hop 0), with the step
// rules of the trace package: a transaction whose tainted outputs hold
// taint T of input value V gives an input of value w trace.StepTaint,
// floor(w·T/V), at the hop count trace.LeastHop gives over those outputs,
// a step within one owner (the same address, or with clusters the same
// cluster, a payer of the watched address's cluster included) being no
// hop; an output whose taint is below min_amount is not followed
// (trace.Followed). The walk runs to its fixed point, as a trace's rounds
// do: a transaction met again through another of its outputs passes on
// the taint of all its tainted outputs together. An address reached by a
// step within one owner reaches no new owner and does not alert.
//
// The earlier transactions are read from the store (btc_inputs): a
// funding transaction the loader has not stored yet (it stores blocks
// within about a second) or never saw ends that branch, and the alert
// says nothing of it. One query per round serves every payment of the
// block.

// upstreamBatch bounds the txids of one query.
const upstreamBatch = store.KeysLimit

// upOut is an output on the way back from one payment.
type upOut struct {
	txid string
	n    uint32
}

// upNode is a tainted output on the way back: its address, value and
// taint (the part of it that reached the watched addresses), its hop
// count, and the step that reached it (the transaction that spends it, and
// the output of that transaction it fed: the path goes on from there).
type upNode struct {
	address   string
	value     int64
	taint     int64
	hop       int
	same      bool
	seed      bool
	via       string
	viaHeight int64
	parent    upOut
	match     Match
	order     int
}

// upPayment is one payment into watched addresses followed back.
type upPayment struct {
	tx    string
	nodes map[upOut]*upNode
	// outs: the tainted outputs of each transaction met.
	outs map[string][]upOut
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
	// The inputs of the block's own transactions, then those read from
	// the store, shared by the rules.
	known := map[string][]storedInput{}
	for i := range b.Txs {
		tx := &b.Txs[i]
		for _, in := range tx.Inputs {
			known[tx.Txid] = append(known[tx.Txid], storedInput{prevTxid: in.PrevTxid, prevN: in.PrevIndex, address: in.Address,
				value: in.Value, height: b.Height, coinbase: in.Coinbase || tx.Coinbase})
		}
	}
	var alerts []*Alert
	for _, r := range rules {
		min := r.min.Int64()
		var pays []*upPayment
		pending := map[*upPayment][]string{} // transactions whose tainted outputs changed
		for i := range b.Txs {
			tx := &b.Txs[i]
			if tx.Coinbase || tx.InputValue() == 0 || internal(flow{tx: tx, dir: Incoming}, r) {
				continue
			}
			p := &upPayment{tx: tx.Txid, nodes: map[upOut]*upNode{}, outs: map[string][]upOut{}}
			for _, o := range tx.Outputs {
				if m, ok := r.Watched(o.Address); ok && o.Value > 0 {
					k := upOut{tx.Txid, o.Index}
					p.nodes[k] = &upNode{address: o.Address, value: o.Value, taint: o.Value, seed: true, match: m}
					p.outs[tx.Txid] = append(p.outs[tx.Txid], k)
				}
			}
			if len(p.nodes) > 0 {
				pays = append(pays, p)
				pending[p] = []string{tx.Txid}
			}
		}
		// Steps within one owner are no hop but cost a round: a long peel
		// chain of one owner is followed this far.
		for round := 0; len(pending) > 0 && round < 4*r.Hops; round++ {
			var need []string
			for _, ids := range pending {
				for _, id := range ids {
					if _, ok := known[id]; !ok {
						need = append(need, id)
					}
				}
			}
			if len(need) > 0 {
				ins, err := inputsOf(ctx, a.conn, need)
				if err != nil {
					return nil, err
				}
				for _, id := range need {
					known[id] = ins[id] // nil: not stored, the branch ends
				}
			}
			next := map[*upPayment][]string{}
			for _, p := range pays {
				ids := pending[p]
				slices.Sort(ids)
				for _, id := range slices.Compact(ids) {
					for _, prev := range p.back(id, known[id], r, min, clusterOf) {
						next[p] = append(next[p], prev)
					}
				}
			}
			pending = next
		}
		for _, p := range pays {
			alerts = append(alerts, p.alerts(r, b, when)...)
		}
	}
	return alerts, nil
}

// back passes the taint of transaction id's tainted outputs to the outputs
// its inputs spend; it returns the transactions that created the outputs
// whose taint or hop count changed.
func (p *upPayment) back(id string, inputs []storedInput, r *Rule, min int64, clusterOf clusterFunc) []string {
	outs := p.outs[id]
	var total, taint int64
	for _, in := range inputs {
		total += in.value
	}
	for _, k := range outs {
		taint += p.nodes[k].taint
	}
	if total == 0 || taint == 0 {
		return nil // not stored, or a coinbase: the branch ends
	}
	feed := func(i int) trace.Feed {
		n := p.nodes[outs[i]]
		return trace.Feed{Address: n.address, Hop: n.hop, Taint: n.taint}
	}
	var changed []string
	for _, in := range inputs {
		if in.coinbase || in.address == "" {
			continue
		}
		if _, ok := r.Watched(in.address); ok {
			continue // the watched owner's own money
		}
		t := trace.StepTaint(trace.Haircut, in.value, taint, total)
		if !trace.Followed(t, min) {
			continue
		}
		hop, best, same := trace.LeastHop(len(outs), feed, in.address, clusterOf)
		if hop > r.Hops {
			continue
		}
		if same >= 0 {
			best = same
		}
		k := upOut{in.prevTxid, in.prevN}
		n := p.nodes[k]
		if n == nil {
			n = &upNode{address: in.address, value: in.value, hop: hop, order: len(p.nodes)}
			p.nodes[k] = n
			p.outs[in.prevTxid] = append(p.outs[in.prevTxid], k)
		} else if n.seed || n.taint == t && n.hop <= hop {
			continue
		}
		n.taint = t
		if hop <= n.hop {
			n.hop, n.same, n.via, n.viaHeight, n.parent = hop, same >= 0, id, in.height, outs[best]
		}
		changed = append(changed, in.prevTxid)
	}
	return changed
}

// alerts are the payment's alerts: per address reached not by a step
// within one owner, at hop 2 to the rule's hops, the taint of its outputs
// reached that carry at least the rule's share of their value.
func (p *upPayment) alerts(r *Rule, b *chain.Block, when time.Time) []*Alert {
	keys := make([]upOut, 0, len(p.nodes))
	for k, n := range p.nodes {
		if !n.seed {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y upOut) int { return p.nodes[x].order - p.nodes[y].order })
	found := map[string]*Alert{}
	var order []string
	for _, k := range keys {
		n := p.nodes[k]
		if n.same || n.hop < 2 || n.hop > r.Hops || n.taint*100 < int64(r.MinSharePct)*n.value {
			continue
		}
		if al := found[n.address]; al != nil {
			x, _ := strconv.ParseInt(al.Amount, 10, 64)
			v, _ := strconv.ParseInt(al.Value, 10, 64)
			al.Amount, al.Value = strconv.FormatInt(x+n.taint, 10), strconv.FormatInt(v+n.value, 10)
			if n.hop < al.Hops {
				al.Hops, al.Path = n.hop, p.path(k)
			}
			continue
		}
		path := p.path(k)
		seed := p.nodes[k]
		for !seed.seed {
			seed = p.nodes[seed.parent]
		}
		found[n.address] = &Alert{
			Format: Format, ID: alertID(r.Name, b.Chain, b.Hash, p.tx, Outgoing, n.address), Status: Provisional,
			Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Chain: b.Chain, Txid: p.tx,
			BlockHash: b.Hash, Height: b.Height, Time: when, Direction: Outgoing, Address: n.address,
			Counterparties: []string{seed.address}, Amount: strconv.FormatInt(n.taint, 10),
			Value: strconv.FormatInt(n.value, 10), Asset: asset(b.Chain), Hops: n.hop, Matched: []Match{seed.match}, Path: path,
		}
		order = append(order, n.address)
	}
	out := make([]*Alert, 0, len(order))
	for _, a := range order {
		out = append(out, found[a])
	}
	return out
}

// path is the steps from output k to the watched address.
func (p *upPayment) path(k upOut) []PathStep {
	var path []PathStep
	for n := p.nodes[k]; !n.seed; n = p.nodes[n.parent] {
		to := p.nodes[n.parent]
		path = append(path, PathStep{Txid: n.via, Height: n.viaHeight, From: n.address, To: to.address, Amount: strconv.FormatInt(n.taint, 10), SameOwner: n.same})
	}
	return path
}
