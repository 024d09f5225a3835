// Package report writes exposure reports: for each watched address,
// cluster or label category, how much of what it received came from, and
// of what it sent went to, each label category over a period, directly and
// through unlabelled intermediaries; how that changed since the previous
// report; and the largest flows with their transactions. Reports are
// written as JSON (format tracer.report.v1, also what the next report
// compares with), CSV and a self-contained HTML page, on demand (`tracer
// report exposure`) or on cron schedules (`tracer report schedule`), which
// also announce each report on NATS (reports.exposure).
package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tracerproject/tracer/trace"
)

// Format is the version of a report's JSON.
const Format = "tracer.report.v1"

// Config says what a report covers.
type Config struct {
	Name string // names the files: <name>-<generated>.{json,csv,html}
	// Watch: ADDR, cluster:ID or label:CATEGORY entries.
	Watch        []string
	Since, Until time.Time
	Hops         int
	Model        string // haircut (default) or poison; fifo has no upstream rule
	// Buckets: periods of the chart of exposure over time (default 6).
	Buckets int
	// TopFlows per subject (default 10).
	TopFlows int
	MaxNodes int
	Timeout  time.Duration
}

// Report is one exposure report.
type Report struct {
	Format    string    `json:"format"`
	Name      string    `json:"name"`
	Generated time.Time `json:"generated"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Params    string    `json:"params"`
	// Previous is the generation time of the report compared with, if any.
	Previous *time.Time `json:"previous,omitempty"`
	Subjects []Subject  `json:"subjects"`
	// Empty says why there is nothing to report, when there is not.
	Empty string `json:"empty,omitempty"`
}

// Subject is one watched entry.
type Subject struct {
	Watch     string               `json:"watch"`
	Addresses int                  `json:"addresses"`
	Received  int64                `json:"received"`
	Sent      int64                `json:"sent"`
	From      []trace.CategoryFlow `json:"from"`
	To        []trace.CategoryFlow `json:"to"`
	Series    []Point              `json:"series"`
	TopFlows  []Flow               `json:"top_flows"`
	Change    []Change             `json:"change,omitempty"`
	Capped    string               `json:"capped,omitempty"`
	Error     string               `json:"error,omitempty"`
}

// Point is the exposure of one period of the chart, by category (direct and
// indirect, received and sent together).
type Point struct {
	From       time.Time        `json:"from"`
	Until      time.Time        `json:"until"`
	ByCategory map[string]int64 `json:"by_category"`
}

// Flow is one of the largest flows to or from a labelled endpoint.
type Flow struct {
	Direction string   `json:"direction"` // to (downstream) or from (upstream)
	Address   string   `json:"address"`
	Category  string   `json:"category"`
	Entity    string   `json:"entity"`
	Amount    int64    `json:"amount"`
	Hops      int      `json:"hops"`
	Txids     []string `json:"txids"`
}

// Change is the difference with the previous report for one category.
type Change struct {
	Category string `json:"category"`
	Before   int64  `json:"before"`
	Now      int64  `json:"now"`
}

// Resolver turns a watch entry into a start set (trace.ParseStart with the
// clusters and labels bound).
type Resolver func(ctx context.Context, watch string) (trace.Start, error)

// ErrConfig is wrapped by errors about the report's configuration.
var ErrConfig = errors.New("report: bad configuration")

func (c *Config) check() error {
	if len(c.Watch) == 0 {
		return fmt.Errorf("%w: nothing watched (give --watchlist or a schedule's watch entries)", ErrConfig)
	}
	if !c.Until.After(c.Since) {
		return fmt.Errorf("%w: period %s – %s is empty", ErrConfig, c.Since.Format(time.RFC3339), c.Until.Format(time.RFC3339))
	}
	if c.Model == "" {
		c.Model = trace.Haircut
	}
	if c.Model == trace.FIFO {
		return fmt.Errorf("%w: model fifo has no upstream rule; exposure reports use haircut or poison", ErrConfig)
	}
	if c.Buckets <= 0 {
		c.Buckets = 6
	}
	if c.TopFlows <= 0 {
		c.TopFlows = 10
	}
	if c.Name == "" {
		c.Name = "exposure"
	}
	return nil
}

func (c *Config) taint(since, until time.Time) trace.Config {
	tc := trace.DefaultConfig()
	tc.Model, tc.Since, tc.Until = c.Model, since, until
	if c.Hops > 0 {
		tc.Hops = c.Hops
	}
	if c.MaxNodes > 0 {
		tc.MaxNodes = c.MaxNodes
	}
	if c.Timeout > 0 {
		tc.Timeout = c.Timeout
	}
	return tc
}

// Build computes a report. prev, when given, is the previous report of the
// same name: each subject's totals by category are compared with it. A
// watch entry that cannot be resolved (an unknown address) is reported in
// its subject's Error, not fatal: a schedule goes on for the others.
func Build(ctx context.Context, tr *trace.Tracer, resolve Resolver, cfg Config, prev *Report, now time.Time) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	tc := cfg.taint(cfg.Since, cfg.Until)
	tc.Direction = trace.Both // exposure looks both ways
	rep := &Report{Format: Format, Name: cfg.Name, Generated: now.UTC(), Since: cfg.Since.UTC(), Until: cfg.Until.UTC(),
		Params: tc.Params(), Subjects: []Subject{}}
	if prev != nil {
		g := prev.Generated
		rep.Previous = &g
	}
	for _, w := range cfg.Watch {
		s := Subject{Watch: w, From: []trace.CategoryFlow{}, To: []trace.CategoryFlow{}, Series: []Point{}, TopFlows: []Flow{}}
		start, err := resolve(ctx, w)
		if err != nil {
			s.Error = err.Error()
			rep.Subjects = append(rep.Subjects, s)
			continue
		}
		s.Addresses = len(start.Addresses)
		ex, err := tr.Exposure(ctx, start, cfg.taint(cfg.Since, cfg.Until))
		if errors.Is(err, trace.ErrNoStartOutput) {
			ex, err = &trace.Exposure{}, nil // nothing received in the period: no exposure
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			s.Error = err.Error()
			rep.Subjects = append(rep.Subjects, s)
			continue
		}
		s.Received, s.Sent, s.Capped = ex.Received, ex.Sent, ex.Capped
		s.From, s.To = nonNil(ex.From), nonNil(ex.To)
		if s.Series, err = series(ctx, tr, start, cfg); err != nil {
			return nil, err
		}
		if s.TopFlows, err = topFlows(ctx, tr, start, cfg); err != nil {
			return nil, err
		}
		if prev != nil {
			s.Change = change(prevSubject(prev, w), &s)
		}
		rep.Subjects = append(rep.Subjects, s)
	}
	if total(rep) == 0 {
		rep.Empty = fmt.Sprintf("no exposure to any labelled category between %s and %s", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339))
	}
	return rep, nil
}

func nonNil(f []trace.CategoryFlow) []trace.CategoryFlow {
	if f == nil {
		return []trace.CategoryFlow{}
	}
	return f
}

// series is the exposure of each period of the chart.
func series(ctx context.Context, tr *trace.Tracer, start trace.Start, cfg Config) ([]Point, error) {
	span := cfg.Until.Sub(cfg.Since) / time.Duration(cfg.Buckets)
	var out []Point
	for i := range cfg.Buckets {
		from := cfg.Since.Add(time.Duration(i) * span)
		until := from.Add(span)
		if i == cfg.Buckets-1 {
			until = cfg.Until
		}
		p := Point{From: from.UTC(), Until: until.UTC(), ByCategory: map[string]int64{}}
		ex, err := tr.Exposure(ctx, start, cfg.taint(from, until))
		if errors.Is(err, trace.ErrNoStartOutput) {
			out = append(out, p)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range append(slices.Clone(ex.From), ex.To...) {
			p.ByCategory[f.Category] += f.Direct + f.Indirect
		}
		out = append(out, p)
	}
	return out, nil
}

// topFlows are the largest taints that reached labelled endpoints, both
// ways, with the transactions of their paths.
func topFlows(ctx context.Context, tr *trace.Tracer, start trace.Start, cfg Config) ([]Flow, error) {
	tc := cfg.taint(cfg.Since, cfg.Until)
	tc.Direction, tc.StopAtAnyLabel = trace.Both, true
	results, err := tr.Trace(ctx, start, tc)
	if errors.Is(err, trace.ErrNoStartOutput) {
		return []Flow{}, nil
	}
	if err != nil {
		return nil, err
	}
	flows := []Flow{}
	for _, r := range results {
		dir := "to"
		if r.Direction == trace.Up {
			dir = "from"
		}
		for _, e := range r.Endpoints {
			if len(e.Labels) == 0 || e.Amount == 0 {
				continue
			}
			f := Flow{Direction: dir, Address: e.Address, Category: e.Labels[0].Category, Entity: e.Labels[0].Entity, Amount: e.Amount, Hops: e.Hops, Txids: []string{}}
			for _, h := range e.Path {
				if !slices.Contains(f.Txids, h.Txid) {
					f.Txids = append(f.Txids, h.Txid)
				}
			}
			flows = append(flows, f)
		}
	}
	sort.SliceStable(flows, func(i, j int) bool { return flows[i].Amount > flows[j].Amount })
	if len(flows) > cfg.TopFlows {
		flows = flows[:cfg.TopFlows]
	}
	return flows, nil
}

func prevSubject(prev *Report, watch string) *Subject {
	for i := range prev.Subjects {
		if prev.Subjects[i].Watch == watch {
			return &prev.Subjects[i]
		}
	}
	return nil
}

// byCategory totals a subject's exposure per category, both ways.
func byCategory(s *Subject) map[string]int64 {
	m := map[string]int64{}
	if s == nil {
		return m
	}
	for _, f := range append(slices.Clone(s.From), s.To...) {
		m[f.Category] += f.Direct + f.Indirect
	}
	return m
}

func change(before, now *Subject) []Change {
	b, n := byCategory(before), byCategory(now)
	var cats []string
	for c := range b {
		cats = append(cats, c)
	}
	for c := range n {
		if _, ok := b[c]; !ok {
			cats = append(cats, c)
		}
	}
	sort.Strings(cats)
	out := []Change{}
	for _, c := range cats {
		if b[c] != n[c] {
			out = append(out, Change{Category: c, Before: b[c], Now: n[c]})
		}
	}
	return out
}

func total(rep *Report) int64 {
	var t int64
	for i := range rep.Subjects {
		for _, v := range byCategory(&rep.Subjects[i]) {
			t += v
		}
	}
	return t
}

// Categories lists the categories of a report, largest exposure first.
func (r *Report) Categories() []string {
	sum := map[string]int64{}
	for i := range r.Subjects {
		for c, v := range byCategory(&r.Subjects[i]) {
			sum[c] += v
		}
	}
	var cats []string
	for c := range sum {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool {
		if sum[cats[i]] != sum[cats[j]] {
			return sum[cats[i]] > sum[cats[j]]
		}
		return cats[i] < cats[j]
	})
	return cats
}
