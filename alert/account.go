package alert

import (
	"fmt"
	"time"

	"github.com/tracerproject/tracer/chain"
)

// evaluateTransfers is Evaluate for an account chain: each transfer that
// moved value (not failed, not zero: zero-value token transfers are address
// poisoning) to or from a watched address.
func evaluateTransfers(b *chain.Block, rules []*Rule) ([]*Alert, []Candidate) {
	var alerts []*Alert
	var cands []Candidate
	when := time.Unix(b.Time, 0).UTC()
	for i := range b.Transfers {
		t := &b.Transfers[i]
		if !t.Success || t.Zero || t.Value.IsZero() {
			continue
		}
		v := t.Value.Big()
		for _, r := range rules {
			if !r.wantsAsset(t.Asset) || v.Cmp(r.minFor(t.Asset)) < 0 {
				continue
			}
			for _, side := range []struct {
				dir        Direction
				addr, peer string
				on         bool
			}{{Incoming, t.To, t.From, r.incoming}, {Outgoing, t.From, t.To, r.outgoing}} {
				if !side.on {
					continue
				}
				m, ok := r.Watched(side.addr)
				if !ok {
					continue
				}
				if _, peerWatched := r.Watched(side.peer); peerWatched {
					continue // between watched addresses: nothing arrives or leaves
				}
				a := &Alert{
					Format: Format, ID: alertID(r.Name, b.Chain, b.Hash, fmt.Sprintf("%s/%s/%d", t.Txid, t.Kind, t.Index), side.dir, side.addr),
					Status: Provisional, Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Chain: b.Chain, Txid: t.Txid,
					BlockHash: b.Hash, Height: b.Height, Time: when, Direction: side.dir, Address: side.addr,
					Counterparties: []string{side.peer}, Amount: t.Value.String(), Asset: chain.AssetSymbol(t.Asset),
					Matched: []Match{m},
				}
				if r.Kind == KindRepeated {
					if side.dir == Incoming {
						cands = append(cands, Candidate{Rule: r, Alert: a, Payer: side.peer, Value: v})
					}
					continue
				}
				alerts = append(alerts, a)
			}
		}
	}
	return alerts, cands
}
