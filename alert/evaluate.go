package alert

import (
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/tracerproject/tracer/chain"
)

// maxCounterparties bounds the addresses listed on the other side of a
// transaction (a batch payout pays thousands).
const maxCounterparties = 20

// flow is money moving to or from one address in one transaction.
type flow struct {
	tx     *chain.Tx
	dir    Direction
	addr   string
	amount int64
}

// flows lists, per transaction, the total each address received (its
// outputs) and sent (the outputs its inputs spend).
func flows(tx *chain.Tx) []flow {
	var out []flow
	sum := func(dir Direction, addr string, v int64) {
		if addr == "" {
			return
		}
		for i := range out {
			if out[i].dir == dir && out[i].addr == addr {
				out[i].amount += v
				return
			}
		}
		out = append(out, flow{tx: tx, dir: dir, addr: addr, amount: v})
	}
	for i := range tx.Outputs {
		sum(Incoming, tx.Outputs[i].Address, tx.Outputs[i].Value)
	}
	for i := range tx.Inputs {
		if !tx.Inputs[i].Coinbase {
			sum(Outgoing, tx.Inputs[i].Address, tx.Inputs[i].Value)
		}
	}
	return out
}

// counterparties of a flow: the payers of an incoming flow, the payees of an
// outgoing one; the address itself is left out (change).
func counterparties(f flow) []string {
	var cps []string
	add := func(a string) {
		if a == "" || a == f.addr || slices.Contains(cps, a) || len(cps) >= maxCounterparties {
			return
		}
		cps = append(cps, a)
	}
	if f.dir == Incoming {
		for i := range f.tx.Inputs {
			if f.tx.Inputs[i].Coinbase {
				add("coinbase")
			}
			add(f.tx.Inputs[i].Address)
		}
	} else {
		for i := range f.tx.Outputs {
			add(f.tx.Outputs[i].Address)
		}
	}
	if cps == nil {
		cps = []string{}
	}
	return cps
}

// internal reports whether a flow only moves money between addresses the
// rule watches: change coming back to a watched wallet, or a consolidation
// of watched addresses. That is no money arriving or leaving.
func internal(f flow, r *Rule) bool {
	if f.dir == Incoming {
		for i := range f.tx.Inputs {
			if in := &f.tx.Inputs[i]; in.Coinbase {
				return false
			} else if _, ok := r.Watched(in.Address); !ok {
				return false
			}
		}
		return true
	}
	for i := range f.tx.Outputs {
		o := &f.tx.Outputs[i]
		if o.Address == "" {
			continue // OP_RETURN
		}
		if _, ok := r.Watched(o.Address); !ok {
			return false
		}
	}
	return true
}

// payer of an incoming payment, for the repeated-payments pattern: the
// address of its first input ("coinbase" for a coinbase).
func payer(tx *chain.Tx) string {
	if len(tx.Inputs) == 0 || tx.Coinbase {
		return "coinbase"
	}
	return tx.Inputs[0].Address
}

// Evaluate returns the watch rules' alerts for a block, and the incoming
// payments to addresses watched by repeated-payments rules (for the
// pattern, which needs history), in block order.
func Evaluate(b *chain.Block, rules []*Rule) ([]*Alert, []Candidate) {
	if len(b.Transfers) > 0 {
		return evaluateTransfers(b, rules)
	}
	var alerts []*Alert
	var cands []Candidate
	when := time.Unix(b.Time, 0).UTC()
	for i := range b.Txs {
		tx := &b.Txs[i]
		for _, f := range flows(tx) {
			for _, r := range rules {
				if f.dir == Incoming && !r.incoming || f.dir == Outgoing && !r.outgoing {
					continue
				}
				m, ok := r.Watched(f.addr)
				if !ok || big.NewInt(f.amount).Cmp(r.min) < 0 || internal(f, r) {
					continue
				}
				a := &Alert{
					Format: Format, ID: alertID(r.Name, b.Chain, b.Hash, tx.Txid, f.dir, f.addr), Status: Provisional,
					Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Chain: b.Chain, Txid: tx.Txid,
					BlockHash: b.Hash, Height: b.Height, Time: when, Direction: f.dir, Address: f.addr,
					Counterparties: counterparties(f), Amount: strconv.FormatInt(f.amount, 10), Asset: asset(b.Chain),
					Matched: []Match{m},
				}
				if r.Kind == KindRepeated {
					cands = append(cands, Candidate{Rule: r, Alert: a, Payer: payer(tx), Value: big.NewInt(f.amount)})
					continue
				}
				alerts = append(alerts, a)
			}
		}
	}
	return alerts, cands
}

// Candidate is an incoming payment to an address a repeated-payments rule
// watches: an alert if the history completes the pattern.
type Candidate struct {
	Rule  *Rule
	Alert *Alert
	Payer string
	// Payee keys the watched side of the pattern: the address, or its
	// cluster (set by the alerter); empty means the address.
	Payee string
	Value *big.Int
}

func asset(chainName string) string {
	if chainName == chain.BTC {
		return "BTC"
	}
	return chainName
}
