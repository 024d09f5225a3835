package alert

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tracerproject/tracer/ingest"
	"github.com/tracerproject/tracer/ingest/eth"
)

var contract = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// CanonicalAsset names an account-chain asset the way transfers do: ETH, or
// a token contract in lower case. A known token's symbol (USDT, USDC, ...)
// stands for its contract.
func CanonicalAsset(s string) (string, error) {
	if strings.EqualFold(s, ingest.AssetETH) {
		return ingest.AssetETH, nil
	}
	if contract.MatchString(s) {
		return strings.ToLower(s), nil
	}
	for _, t := range eth.KnownTokens {
		if strings.EqualFold(t.Symbol, s) {
			return strings.ToLower(t.Address), nil
		}
	}
	var known []string
	for _, t := range eth.KnownTokens {
		known = append(known, t.Symbol)
	}
	return "", fmt.Errorf("asset %q: want ETH, a token contract (0x and 40 hex digits) or a known token (%s)", s, strings.Join(known, ", "))
}

// assetName is how an alert names an asset: ETH, a known token's symbol,
// else the contract.
func assetName(asset string) string {
	if t, ok := eth.LookupToken(asset); ok {
		return t.Symbol
	}
	return asset
}

// evaluateTransfers is Evaluate for an account chain: each transfer that
// moved value (not failed, not zero: zero-value token transfers are address
// poisoning) to or from a watched address.
func evaluateTransfers(b *ingest.Block, rules []*Rule) ([]*Alert, []Candidate) {
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
					Counterparties: []string{side.peer}, Amount: t.Value.String(), Asset: assetName(t.Asset),
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
