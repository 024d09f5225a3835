package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"
)

// setGCPercent sets the Go collector's target from gc_percent, unless the
// GOGC variable is set: the runtime has read that one already, and it wins.
//
// The default of 200 lets the heap grow to three times the live data
// between collections instead of twice. The ingest pipeline's heap is small
// and mostly batches on their way to NATS and ClickHouse; in `tracer bench
// ingest` against the ClickHouse server the higher target cut the process's
// CPU by 15% in each of four alternated pairs, for about 300 MiB more peak
// RSS. The clusterer's state is another matter: at 100 million addresses
// its live heap is about 4.4 GiB, and a target of 200 took the benchmark's
// peak RSS from 10 to 14.9 GB for 5% more inputs/s. So the extra room is
// bounded (gcLimit): never more than the live heap itself, as with Go's
// default of 100, once the live heap passes 1 GiB. The bound is a soft
// memory limit (debug.SetMemoryLimit) that follows the live heap; a
// GOMEMLIMIT variable, when set, wins over it.
func setGCPercent(p int) error {
	if p <= 0 {
		return fmt.Errorf("gc_percent %d: want a positive percentage (Go's default is 100)", p)
	}
	if os.Getenv("GOGC") != "" {
		return nil
	}
	debug.SetGCPercent(p)
	if p > 100 && os.Getenv("GOMEMLIMIT") == "" {
		go followLiveHeap(time.Second)
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
// collection, checking every interval.
func followLiveHeap(interval time.Duration) {
	var cycles uint64
	for {
		if _, ok := followStep(&cycles); !ok {
			return // not in this runtime: leave the limit off
		}
		time.Sleep(interval)
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

// lazyFreeEnv returns environ with madvdontneed=0 appended to GODEBUG (the
// variable added when absent), or false when GODEBUG sets madvdontneed.
func lazyFreeEnv(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	found := false
	for _, kv := range environ {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok || found { // the runtime reads the first GODEBUG only
			out = append(out, kv)
			continue
		}
		found = true
		for _, setting := range strings.Split(v, ",") {
			if strings.HasPrefix(setting, "madvdontneed=") {
				return nil, false
			}
		}
		if v != "" {
			v += ","
		}
		out = append(out, "GODEBUG="+v+"madvdontneed=0")
	}
	if !found {
		out = append(out, "GODEBUG=madvdontneed=0")
	}
	return out, true
}
