package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// setGCPercent sets the Go collector's target from gc_percent, unless the
// GOGC variable is set: the runtime has read that one already, and it wins.
//
// A target above Go's 100 spends less CPU on collection for a larger heap
// (docs/benchmarks.md, Process tuning, has the measurements). That suits
// the ingest pipeline, whose heap is small and mostly batches on their way
// to NATS and ClickHouse, but not the clusterer, whose live state can be
// gigabytes: so the extra room is bounded (gcLimit): never more than the
// live heap itself, as with Go's default of 100, once the live heap passes
// gcHeadroomFloor. The bound is a soft memory limit (debug.SetMemoryLimit)
// that follows the live heap until ctx ends; a GOMEMLIMIT variable, when
// set, wins over it.
func setGCPercent(ctx context.Context, p int) error {
	if p <= 0 {
		return fmt.Errorf("gc_percent %d: want a positive percentage (Go's default is 100)", p)
	}
	if os.Getenv("GOGC") != "" {
		return nil
	}
	debug.SetGCPercent(p)
	if p > 100 && os.Getenv("GOMEMLIMIT") == "" {
		go followLiveHeap(ctx, time.Second)
	}
	return nil
}

// gcHeadroomFloor is the extra heap a gc_percent above 100 may always use.
const gcHeadroomFloor = 1 << 30

// gcLimit is the soft memory limit for a live heap of live bytes: the live
// heap plus the larger of itself and gcHeadroomFloor.
func gcLimit(live uint64) int64 {
	return int64(live + max(live, gcHeadroomFloor))
}

// followLiveHeap sets the memory limit from the live heap after each
// collection, checking every interval, until ctx (the command's) ends.
func followLiveHeap(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var cycles uint64
	for {
		if _, ok := followStep(&cycles); !ok {
			return // not in this runtime: leave the limit off
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// followStep sets the memory limit to gcLimit of the live heap when a
// collection has ended since the cycle count in cycles, and returns the
// live heap it read; false when the runtime does not report it.
func followStep(cycles *uint64) (live uint64, ok bool) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 || sample[1].Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	live = sample[0].Value.Uint64()
	if c := sample[1].Value.Uint64(); c != *cycles {
		*cycles = c
		debug.SetMemoryLimit(gcLimit(live))
	}
	return live, true
}
