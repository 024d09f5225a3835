package trace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tracerproject/tracer/chain"
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
	// IndexSec: building the exposure index (Bitcoin), IndexRows its rows.
	IndexSec  float64 `json:"index_seconds,omitempty"`
	IndexRows uint64  `json:"index_rows,omitempty"`
	// Exposure read from the index (Bitcoin; Ethereum: traced per subject).
	Exposures   int     `json:"exposures"`
	ExposureP50 float64 `json:"exposure_p50_ms"`
	ExposureP99 float64 `json:"exposure_p99_ms"`
	ExposureAvg float64 `json:"exposure_mean_ms"`
	// Exposure traced per subject (tracer exposure --live).
	LiveExposures   int     `json:"live_exposures"`
	LiveExposureP50 float64 `json:"live_exposure_p50_ms"`
	LiveExposureAvg float64 `json:"live_exposure_mean_ms"`
	// Slowest: the three slowest traces, in order, with their place in
	// the run (1 is the first trace of the process).
	Slowest []SlowTrace `json:"slowest"`
	// Latencies and ExposureLatencies, for figures over several runs.
	Latencies         []float64 `json:"-"`
	ExposureLatencies []float64 `json:"-"`
}

// SlowTrace is one of a bench's slowest traces.
type SlowTrace struct {
	Start   string  `json:"start"`
	Nth     int     `json:"nth"`
	MS      float64 `json:"ms"`
	Nodes   int     `json:"nodes"`
	Queries int     `json:"queries"`
}

// Quantile is the q-quantile (0..1) of ms, nearest rank; 0 when empty.
func Quantile(ms []float64, q float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func mean(ms []float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	var sum float64
	for _, v := range ms {
		sum += v
	}
	return sum / float64(len(ms))
}

func since(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// Bench traces from each start set (skipping addresses that never
// received anything) with cfg and measures exposure of each of exposures
// (same model and hops): on Bitcoin read from an exposure index built
// first (its build timed), and traced per subject for the first live of
// them; on Ethereum traced per subject. The baseline is a keyed read.
func (t *Tracer) Bench(ctx context.Context, starts, exposures []Start, live int, cfg Config) (*BenchResult, error) {
	res := &BenchResult{Params: cfg.Params()}
	var lat, base []float64
	for _, s := range starts {
		if len(s.Addresses) == 0 {
			continue
		}
		b := time.Now()
		q := "SELECT count() FROM btc_address_io WHERE address IN ?"
		if cfg.Chain == chain.ETH {
			q = "SELECT count() FROM eth_address_transfers WHERE address IN ?"
		}
		rows, err := t.conn.Query(ctx, q, set(s.Addresses[:1]))
		if err != nil {
			return nil, fmt.Errorf("trace: bench baseline: %w", err)
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
			return nil, fmt.Errorf("trace: bench trace from %s: %w", s.Desc, err)
		}
		lat = append(lat, since(b))
		st := SlowTrace{Start: s.Desc, Nth: len(lat), MS: lat[len(lat)-1]}
		for _, r := range rs {
			res.Nodes += float64(r.Nodes)
			res.Queries += float64(r.Queries)
			st.Nodes += r.Nodes
			st.Queries += r.Queries
			if r.Capped != "" {
				res.Capped++
			}
		}
		res.Slowest = append(res.Slowest, st)
		slices.SortFunc(res.Slowest, func(a, b SlowTrace) int { return cmp.Compare(b.MS, a.MS) })
		res.Slowest = res.Slowest[:min(3, len(res.Slowest))]
	}
	res.Traces, res.Latencies = len(lat), lat
	if res.Traces > 0 {
		res.Nodes /= float64(res.Traces)
		res.Queries /= float64(res.Traces)
	}
	res.TraceP50, res.TraceP99, res.TraceMax = Quantile(lat, 0.5), Quantile(lat, 0.99), Quantile(lat, 1)
	res.BaselineP50 = Quantile(base, 0.5)
	var liveMS []float64
	for i, s := range exposures {
		if i >= live {
			break
		}
		b := time.Now()
		var err error
		if cfg.Chain == chain.ETH {
			_, err = t.AccountExposure(ctx, s, cfg)
		} else {
			_, err = t.Exposure(ctx, s, cfg)
		}
		if errors.Is(err, ErrUnknown) || errors.Is(err, ErrNoStartOutput) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("trace: bench exposure of %s: %w", s.Desc, err)
		}
		liveMS = append(liveMS, since(b))
	}
	res.LiveExposures, res.LiveExposureP50, res.LiveExposureAvg = len(liveMS), Quantile(liveMS, 0.5), mean(liveMS)
	ex := liveMS
	if cfg.Chain != chain.ETH && len(exposures) > 0 {
		b := time.Now()
		ic := DefaultIndexConfig()
		ic.Hops, ic.MinValue, ic.Since, ic.Until = cfg.Hops, cfg.MinValue, cfg.Since, cfg.Until
		build, err := t.BuildExposureIndex(ctx, ic)
		if err != nil {
			return nil, fmt.Errorf("trace: bench exposure index: %w", err)
		}
		res.IndexSec, res.IndexRows = since(b)/1000, build.Rows
		idx, err := t.OpenExposureIndex(ctx)
		if err != nil {
			return nil, err
		}
		ex = nil
		for _, s := range exposures {
			b := time.Now()
			_, err := idx.Exposure(ctx, s.Desc)
			if errors.Is(err, ErrUnknown) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("trace: bench exposure of %s: %w", s.Desc, err)
			}
			ex = append(ex, since(b))
		}
	}
	res.Exposures, res.ExposureLatencies = len(ex), ex
	res.ExposureP50, res.ExposureP99, res.ExposureAvg = Quantile(ex, 0.5), Quantile(ex, 0.99), mean(ex)
	return res, nil
}
