package taint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// BenchResult is what Bench measured. Latencies are in milliseconds.
type BenchResult struct {
	Params string `json:"params"`
	Traces int    `json:"traces"`
	// Trace latency over the start sets.
	TraceP50 float64 `json:"trace_p50_ms"`
	TraceP99 float64 `json:"trace_p99_ms"`
	TraceMax float64 `json:"trace_max_ms"`
	// Mean tainted outputs reached and queries per trace.
	Nodes   float64 `json:"nodes_mean"`
	Queries float64 `json:"queries_mean"`
	Capped  int     `json:"capped"`
	// Baseline: one keyed read of an address's rows, the cheapest step a
	// trace repeats, on the same engine in the same run.
	BaselineP50 float64 `json:"baseline_p50_ms"`
	Exposures   int     `json:"exposures"`
	ExposureP50 float64 `json:"exposure_p50_ms"`
	ExposureP99 float64 `json:"exposure_p99_ms"`
	ExposureAvg float64 `json:"exposure_mean_ms"`
}

func quantile(ms []float64, q float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func since(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// Bench traces from each start set (skipping addresses that never
// received anything) with cfg and measures exposure of each
// of exposures (same model and hops), against the baseline of a keyed read.
func (t *Tracer) Bench(ctx context.Context, starts, exposures []Start, cfg Config) (*BenchResult, error) {
	res := &BenchResult{Params: cfg.Params()}
	var lat, base []float64
	for _, s := range starts {
		if len(s.Addresses) == 0 {
			continue
		}
		b := time.Now()
		q := "SELECT count() FROM btc_address_io FINAL WHERE address IN ?"
		if cfg.Chain == ChainETH {
			q = "SELECT count() FROM eth_address_transfers FINAL WHERE address IN ?"
		}
		rows, err := t.conn.Query(ctx, q, set(s.Addresses[:1]))
		if err != nil {
			return nil, fmt.Errorf("taint: bench baseline: %w", err)
		}
		for rows.Next() {
		}
		rows.Close()
		base = append(base, since(b))
		b = time.Now()
		rs, err := t.Trace(ctx, s, cfg)
		if errors.Is(err, ErrUnknown) || errors.Is(err, ErrNoStartOutput) {
			continue // an address made but never paid
		}
		if err != nil {
			return nil, fmt.Errorf("taint: bench trace from %s: %w", s.Desc, err)
		}
		lat = append(lat, since(b))
		for _, r := range rs {
			res.Nodes += float64(r.Nodes)
			res.Queries += float64(r.Queries)
			if r.Capped != "" {
				res.Capped++
			}
		}
	}
	res.Traces = len(lat)
	if res.Traces > 0 {
		res.Nodes /= float64(res.Traces)
		res.Queries /= float64(res.Traces)
	}
	res.TraceP50, res.TraceP99, res.TraceMax = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1)
	res.BaselineP50 = quantile(base, 0.5)
	var ex []float64
	var sum float64
	for _, s := range exposures {
		b := time.Now()
		var err error
		if cfg.Chain == ChainETH {
			_, err = t.AccountExposure(ctx, s, cfg)
		} else {
			_, err = t.Exposure(ctx, s, cfg)
		}
		if errors.Is(err, ErrUnknown) || errors.Is(err, ErrNoStartOutput) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("taint: bench exposure of %s: %w", s.Desc, err)
		}
		d := since(b)
		ex = append(ex, d)
		sum += d
	}
	res.Exposures = len(ex)
	res.ExposureP50, res.ExposureP99 = quantile(ex, 0.5), quantile(ex, 0.99)
	if len(ex) > 0 {
		res.ExposureAvg = sum / float64(len(ex))
	}
	return res, nil
}
