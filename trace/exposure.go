package trace

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
)

// Exposure is how much of what a subject received came from, and of what
// it sent went to, each label category: directly (one hop) and indirectly
// (through unlabelled intermediaries, up to Hops hops).
type Exposure struct {
	Subject  string         `json:"subject"`
	Params   string         `json:"params"`
	Received int64          `json:"received"`
	Sent     int64          `json:"sent"`
	From     []CategoryFlow `json:"from"`
	To       []CategoryFlow `json:"to"`
	Capped   string         `json:"capped,omitempty"`
	// Source: live (traced from the subject) or index (read from the
	// exposure index build Index; Stale says what moved past it).
	Source string      `json:"source"`
	Index  *IndexBuild `json:"index,omitempty"`
	Stale  []string    `json:"stale,omitempty"`
}

// CategoryFlow is the taint that reached one category.
type CategoryFlow struct {
	Category string `json:"category"`
	Direct   int64  `json:"direct"`
	Indirect int64  `json:"indirect"`
}

// Exposure traces upstream and downstream from start, every labelled
// address ending a path, and sums the taint reaching labelled endpoints by
// category. An endpoint with labels of several categories counts in each.
// Model fifo has no upstream rule: its received side uses haircut.
func (t *Tracer) Exposure(ctx context.Context, start Start, cfg Config) (*Exposure, error) {
	cfg.StopAtAnyLabel = true
	cfg.StopAt = nil
	ex := &Exposure{Subject: start.Desc, Source: "live"}
	for _, dir := range []string{Up, Down} {
		c := cfg
		c.Direction = dir
		if dir == Up && c.Model == FIFO {
			c.Model = Haircut
		}
		if err := c.validate(); err != nil {
			return nil, err
		}
		res, err := t.trace(ctx, start, c)
		if err != nil {
			return nil, err
		}
		if ex.Params != "" {
			ex.Params += "; "
		}
		ex.Params += c.Params()
		if res.Capped != "" {
			ex.Capped = res.Capped
		}
		by := map[string]*CategoryFlow{}
		for _, e := range res.Endpoints {
			seen := map[string]bool{}
			for _, l := range e.Labels {
				if seen[l.Category] {
					continue
				}
				seen[l.Category] = true
				f := by[l.Category]
				if f == nil {
					f = &CategoryFlow{Category: l.Category}
					by[l.Category] = f
				}
				if e.Hops <= 1 {
					f.Direct += e.Amount
				} else {
					f.Indirect += e.Amount
				}
			}
		}
		var flows []CategoryFlow
		for _, f := range by {
			flows = append(flows, *f)
		}
		sort.Slice(flows, func(i, j int) bool { return flows[i].Category < flows[j].Category })
		if dir == Up {
			ex.From, ex.Received = flows, res.SeedValue
		} else {
			ex.To = flows
			ex.Sent = res.spentValue
		}
	}
	return ex, nil
}

// AccountExposure is Exposure on an account chain, for one asset, with
// exact amounts in base units of the asset as decimal strings.
type AccountExposure struct {
	Subject  string        `json:"subject"`
	Chain    string        `json:"chain"`
	Asset    string        `json:"asset"`
	Symbol   string        `json:"symbol"`
	Decimals int           `json:"decimals"` // -1: unknown token, amounts in base units
	Params   string        `json:"params"`
	Received string        `json:"received"`
	Sent     string        `json:"sent"`
	From     []AccountFlow `json:"from"`
	To       []AccountFlow `json:"to"`
	Capped   string        `json:"capped,omitempty"`
}

// AccountFlow is the taint of one asset that reached one category.
type AccountFlow struct {
	Category string `json:"category"`
	Direct   string `json:"direct"`
	Indirect string `json:"indirect"`
}

// AccountExposure is Exposure for an account chain (cfg.Chain eth): one
// per asset the subject received or sent (or cfg.Asset alone). Received is
// what the subject received in the window, Sent what it sent; fifo's
// received side uses haircut.
func (t *Tracer) AccountExposure(ctx context.Context, start Start, cfg Config) ([]*AccountExposure, error) {
	cfg.StopAtAnyLabel = true
	cfg.StopAt = nil
	byAsset := map[string]*AccountExposure{}
	var order []string
	for _, dir := range []string{Up, Down} {
		c := cfg
		c.Direction = dir
		if dir == Up && c.Model == FIFO {
			c.Model = Haircut
		}
		if err := c.validate(); err != nil {
			return nil, err
		}
		rs, err := t.Trace(ctx, start, c)
		if errors.Is(err, ErrNoStartOutput) {
			continue // nothing received (or sent) this way
		}
		if err != nil {
			return nil, err
		}
		for _, res := range rs {
			ex := byAsset[res.Asset]
			if ex == nil {
				ex = &AccountExposure{Subject: start.Desc, Chain: res.Chain, Asset: res.Asset, Symbol: res.Symbol, Decimals: res.Decimals,
					Received: "0", Sent: "0", From: []AccountFlow{}, To: []AccountFlow{}}
				byAsset[res.Asset] = ex
				order = append(order, res.Asset)
			}
			if ex.Params != "" {
				ex.Params += "; "
			}
			ex.Params += res.Params
			if res.Capped != "" {
				ex.Capped = res.Capped
			}
			direct, indirect := map[string]*big.Int{}, map[string]*big.Int{}
			var cats []string
			for _, e := range res.Endpoints {
				amt, ok := new(big.Int).SetString(e.AmountUnits, 10)
				if !ok || !strings.HasPrefix(e.Reason, "stop:") {
					continue // only labelled endpoints end a path here
				}
				seen := map[string]bool{}
				for _, l := range e.Labels {
					if seen[l.Category] {
						continue
					}
					seen[l.Category] = true
					if direct[l.Category] == nil {
						direct[l.Category], indirect[l.Category] = new(big.Int), new(big.Int)
						cats = append(cats, l.Category)
					}
					if e.Hops <= 1 {
						direct[l.Category].Add(direct[l.Category], amt)
					} else {
						indirect[l.Category].Add(indirect[l.Category], amt)
					}
				}
			}
			sort.Strings(cats)
			var flows []AccountFlow
			for _, c := range cats {
				flows = append(flows, AccountFlow{Category: c, Direct: direct[c].String(), Indirect: indirect[c].String()})
			}
			if flows == nil {
				flows = []AccountFlow{}
			}
			if dir == Up {
				ex.From, ex.Received = flows, res.SeedUnits
			} else {
				ex.To, ex.Sent = flows, res.SeedUnits
			}
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoStartOutput, start.Desc)
	}
	slices.Sort(order) // "0x…" contracts sort before "ETH"; put ETH first
	out := make([]*AccountExposure, 0, len(order))
	if ex := byAsset["ETH"]; ex != nil {
		out = append(out, ex)
	}
	for _, a := range order {
		if a != "ETH" {
			out = append(out, byAsset[a])
		}
	}
	return out, nil
}
