package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
)

// TraceOptions are the options trace and exposure share, as a user gives
// them. An empty Model and a nil Hops, MaxNodes or Timeout are the
// configured defaults (Config.Trace); a value given is checked as given
// (hops 0 is refused, not defaulted).
type TraceOptions struct {
	// Chain: btc (the UTXO graph; the default) or eth (transfers, per
	// asset).
	Chain string `json:"chain,omitempty"`
	// Asset (eth): ETH, a known token (USDT) or a token contract; empty:
	// every asset the start moved.
	Asset string `json:"asset,omitempty"`
	// Model: haircut, poison or fifo.
	Model string `json:"model,omitempty"`
	Hops  *int   `json:"hops,omitempty"`
	// MinValue: btc: satoshi (5000) or BTC with a btc suffix (0.001btc);
	// eth: base units of the asset. Empty: 0.
	MinValue string `json:"min_value,omitempty"`
	// Since, Until bound the transactions followed: YYYY-MM-DD (Until: the
	// whole day) or RFC 3339.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	// LabelsAsOf: the labels as known on this date (YYYY-MM-DD: at the end
	// of that day, or RFC 3339); empty: now.
	LabelsAsOf string         `json:"labels_as_of,omitempty"`
	MaxNodes   *int           `json:"max_nodes,omitempty"`
	Timeout    *time.Duration `json:"timeout,omitempty"`
}

// config turns the options, over the defaults, into a taint
// configuration.
func (o TraceOptions) config(d TraceDefaults) (trace.Config, error) {
	c := trace.DefaultConfig()
	c.Model, c.Hops, c.MaxNodes, c.Timeout = d.Model, d.Hops, d.MaxNodes, d.Timeout
	if o.Model != "" {
		c.Model = o.Model
	}
	if o.Hops != nil {
		c.Hops = *o.Hops
	}
	if o.MaxNodes != nil {
		c.MaxNodes = *o.MaxNodes
	}
	if o.Timeout != nil {
		c.Timeout = *o.Timeout
	}
	minValue := o.MinValue
	if minValue == "" {
		minValue = "0"
	}
	switch o.Chain {
	case "", chain.BTC:
		if o.Asset != "" {
			return c, invalidf("--asset %q: Bitcoin has one asset; --asset is for --chain eth", o.Asset)
		}
		v, err := ParseSatoshi(minValue)
		if err != nil {
			return c, invalidf("--min-value: %w", err)
		}
		c.MinValue = v
	case chain.ETH:
		c.Chain = chain.ETH
		if o.Asset != "" {
			asset, err := chain.ParseAsset(o.Asset)
			if err != nil {
				return c, invalidf("--asset: %w", err)
			}
			c.Asset = asset
		}
		v, ok := new(big.Int).SetString(strings.TrimSpace(minValue), 10)
		if !ok || v.Sign() < 0 {
			return c, invalidf("--min-value %q: want a non-negative whole number of base units of the asset (wei; 1000000 is 1 USDT)", minValue)
		}
		c.MinUnits = v
	default:
		return c, invalidf("--chain %q: want btc or eth", o.Chain)
	}
	for _, tf := range []struct {
		name, s string
		dst     *time.Time
	}{{"since", o.Since, &c.Since}, {"until", o.Until, &c.Until}} {
		if tf.s == "" {
			continue
		}
		t, err := parseTraceTime(tf.s, tf.name == "until")
		if err != nil {
			return c, invalidf("--%s %q: want YYYY-MM-DD or an RFC 3339 time", tf.name, tf.s)
		}
		*tf.dst = t
	}
	var err error
	if c.LabelsAsOf, err = ParseAsOf(o.LabelsAsOf); err != nil {
		return c, invalidf("--labels-as-of: %w", err)
	}
	return c, nil
}

// parseTraceTime reads a date (the whole day for an end) or RFC 3339 time.
func parseTraceTime(s string, end bool) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if end {
			t = t.Add(24*time.Hour - time.Second)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// ParseAsOf reads the time labels are asked as of: a date (as known at
// the end of that day) or an RFC 3339 time; empty is the zero time (now).
func ParseAsOf(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--as-of %q: want YYYY-MM-DD or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// ParseSatoshi reads satoshi, or BTC with a btc suffix, exactly.
func ParseSatoshi(s string) (int64, error) {
	ls := strings.ToLower(strings.TrimSpace(s))
	if b, ok := strings.CutSuffix(ls, "btc"); ok {
		whole, frac, _ := strings.Cut(strings.TrimSpace(b), ".")
		if len(frac) > 8 {
			return 0, fmt.Errorf("%q: more than 8 decimals", s)
		}
		w, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || w < 0 || w > 21_000_000 {
			return 0, fmt.Errorf("%q: not an amount of BTC", s)
		}
		var f int64
		if frac != "" {
			f, err = strconv.ParseInt(frac+strings.Repeat("0", 8-len(frac)), 10, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("%q: not an amount of BTC", s)
			}
		}
		return w*100_000_000 + f, nil
	}
	v, err := strconv.ParseInt(ls, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a non-negative number of satoshi or BTC with a btc suffix", s)
	}
	return v, nil
}

// traceError gives the trace package's errors their kind: a request the
// tracer refuses is invalid, a start it cannot find is not found.
func traceError(err error) error {
	var e *Error
	switch {
	case err == nil || errors.As(err, &e):
		return err
	case errors.Is(err, trace.ErrConfig), errors.Is(err, trace.ErrModel), errors.Is(err, trace.ErrNoAccountClusters):
		return invalid(err)
	case errors.Is(err, trace.ErrUnknown), errors.Is(err, trace.ErrNoLabel), errors.Is(err, trace.ErrNoStartOutput):
		return &Error{Kind: ErrNotFound, Msg: err.Error(), Err: err}
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, labels.ErrNotFound) {
		return &Error{Kind: ErrNotFound, Msg: err.Error(), Err: err}
	}
	return err
}

// start resolves a start (ADDR, cluster:ID or label:CATEGORY) on the
// configured chain.
func (s *Service) start(ctx context.Context, cfg trace.Config, from string) (trace.Start, error) {
	var st trace.Start
	var err error
	if cfg.Chain == chain.ETH {
		st, err = trace.ParseAccountStart(ctx, cfg.Chain, from, s.ls, cfg.LabelsAsOf)
	} else {
		st, err = trace.ParseStart(ctx, from, s.btc, s.ls, cfg.LabelsAsOf)
	}
	return st, traceError(err)
}

// TraceRequest asks to follow value from a start.
type TraceRequest struct {
	// From: ADDR, cluster:ID or label:CATEGORY.
	From string `json:"from"`
	// Direction: down (the default), up or both.
	Direction string `json:"direction,omitempty"`
	// StopAt: label categories that end a path; nil: the configured
	// default, empty: none.
	StopAt []string `json:"stop_at"`
	TraceOptions
}

// Trace follows value from the start, one result per direction.
func (s *Service) Trace(ctx context.Context, r TraceRequest) ([]*trace.Result, error) {
	cfg, err := r.config(s.cfg.Trace)
	if err != nil {
		return nil, err
	}
	if r.Direction != "" {
		cfg.Direction = r.Direction
	}
	stopAt := r.StopAt
	if stopAt == nil {
		stopAt = s.cfg.Trace.StopAt
	}
	for _, c := range stopAt {
		if c = strings.TrimSpace(c); c != "" {
			cfg.StopAt = append(cfg.StopAt, c)
		}
	}
	if r.From == "" {
		return nil, invalidf("--from is required: ADDR, cluster:ID or label:CATEGORY")
	}
	start, err := s.start(ctx, cfg, r.From)
	if err != nil {
		return nil, err
	}
	rs, err := s.tr.Trace(ctx, start, cfg)
	return rs, traceError(err)
}

// ExposureRequest asks for a subject's exposure to the label categories.
type ExposureRequest struct {
	// Subject: an address or cluster:ID.
	Subject string `json:"subject"`
	// Live traces from the subject instead of reading the exposure index.
	Live bool `json:"live,omitempty"`
	TraceOptions
}

// Check reports, without reading the store, whether the request is one
// Exposure can answer (with the package's defaults for what it leaves
// empty).
func (r ExposureRequest) Check() error {
	_, err := r.config(DefaultTrace())
	return err
}

func (r ExposureRequest) config(d TraceDefaults) (trace.Config, error) {
	if r.Subject == "" {
		return trace.Config{}, invalidf("exposure: want an address or cluster:ID (or --build-index)")
	}
	if strings.HasPrefix(r.Subject, "label:") {
		return trace.Config{}, invalidf("exposure of %s: want an address or cluster:ID", r.Subject)
	}
	return r.TraceOptions.config(d)
}

// Exposure is a subject's exposure: BTC for Bitcoin, ETH (one per asset)
// for Ethereum. It marshals as the one it holds.
type Exposure struct {
	Chain string
	BTC   *trace.Exposure
	ETH   []*trace.AccountExposure
	// IndexMiss says why the exposure index did not answer a Bitcoin
	// request that did not ask for Live (it was traced instead).
	IndexMiss string
}

func (e Exposure) MarshalJSON() ([]byte, error) {
	if e.Chain == chain.ETH {
		return json.Marshal(e.ETH)
	}
	return json.Marshal(e.BTC)
}

// Exposure returns how much of what the subject received came from, and
// of what it sent went to, each label category. On Bitcoin it reads the
// exposure index when its build matches the options, else traces.
func (s *Service) Exposure(ctx context.Context, r ExposureRequest) (*Exposure, error) {
	cfg, err := r.config(s.cfg.Trace)
	if err != nil {
		return nil, err
	}
	start, err := s.start(ctx, cfg, r.Subject)
	if err != nil {
		return nil, err
	}
	if cfg.Chain == chain.ETH {
		exs, err := s.tr.AccountExposure(ctx, start, cfg)
		if err != nil {
			return nil, traceError(err)
		}
		return &Exposure{Chain: chain.ETH, ETH: exs}, nil
	}
	out := Exposure{Chain: chain.BTC}
	if !r.Live {
		out.BTC, err = s.indexedExposure(ctx, cfg, r.Subject)
		if err != nil {
			var miss indexMiss
			if !errors.As(err, &miss) {
				return nil, err
			}
			out.IndexMiss = string(miss)
		}
	}
	if out.BTC == nil {
		if out.BTC, err = s.tr.Exposure(ctx, start, cfg); err != nil {
			return nil, traceError(err)
		}
	}
	return &out, nil
}

// indexMiss says why the exposure index cannot answer.
type indexMiss string

func (m indexMiss) Error() string { return string(m) }

// indexedExposure reads subject's exposure from the index when its build
// matches cfg; an indexMiss says why not.
func (s *Service) indexedExposure(ctx context.Context, cfg trace.Config, subject string) (*trace.Exposure, error) {
	if cfg.Model != trace.Haircut {
		return nil, indexMiss(fmt.Sprintf("the exposure index is haircut, not %s", cfg.Model))
	}
	if !cfg.LabelsAsOf.IsZero() {
		return nil, indexMiss("the exposure index uses the labels of its build, not --labels-as-of")
	}
	idx, err := s.tr.OpenExposureIndex(ctx)
	if errors.Is(err, trace.ErrNoIndex) {
		return nil, indexMiss("no exposure index in this store (tracer exposure --build-index builds it)")
	}
	if err != nil {
		return nil, err
	}
	b := idx.Build
	if b.Hops != cfg.Hops || b.MinValue != cfg.MinValue || !b.Since.Equal(cfg.Since) || !b.Until.Equal(cfg.Until) {
		return nil, indexMiss(fmt.Sprintf("the exposure index was built with %s; rebuild it with these flags (--build-index) to read it", b.Params))
	}
	ex, err := idx.Exposure(ctx, subject)
	return ex, traceError(err)
}

// BuildExposureIndex (re)builds the Bitcoin exposure index with the
// options' hops, min-value, since and until (haircut, the labels of now).
func (s *Service) BuildExposureIndex(ctx context.Context, o TraceOptions) (*trace.IndexBuild, error) {
	cfg, err := o.config(s.cfg.Trace)
	if err != nil {
		return nil, err
	}
	if cfg.Chain == chain.ETH {
		return nil, invalidf("--build-index: the exposure index covers Bitcoin only (--chain %s is traced per subject)", cfg.Chain)
	}
	if cfg.Model != trace.Haircut || !cfg.LabelsAsOf.IsZero() {
		return nil, invalidf("--build-index: the index is haircut with the labels of now (model %s, labels-as-of %v)", cfg.Model, cfg.LabelsAsOf)
	}
	ic := trace.DefaultIndexConfig()
	ic.Hops, ic.MinValue, ic.Since, ic.Until = cfg.Hops, cfg.MinValue, cfg.Since, cfg.Until
	b, err := s.tr.BuildExposureIndex(ctx, ic)
	return b, traceError(err)
}
