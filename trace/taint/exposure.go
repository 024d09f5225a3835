package taint

import (
	"context"
	"sort"
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
	ex := &Exposure{Subject: start.Desc}
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
