package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestGCPercent checks gc_percent: it sets the collector's target unless
// GOGC is set, and refuses what is not a positive percentage.
func TestGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	if err := setGCPercent(150); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("gc_percent 150: the collector's target is %d", got)
	}
	t.Setenv("GOGC", "100")
	if err := setGCPercent(300); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("gc_percent 300 with GOGC=100: the target is %d, want GOGC's 100", got)
	}
	// The headroom: up to the floor for a small live heap, then as much
	// as the live heap.
	for _, c := range []struct {
		live uint64
		want int64
	}{{0, 1 << 30}, {300 << 20, 300<<20 + 1<<30}, {1 << 30, 2 << 30}, {4400 << 20, 8800 << 20}} {
		if got := gcLimit(c.live); got != c.want {
			t.Errorf("gcLimit(%d MiB) = %d MiB, want %d MiB", c.live>>20, got>>20, c.want>>20)
		}
	}
	for _, p := range []int{0, -1} {
		if err := setGCPercent(p); err == nil || !strings.Contains(err.Error(), "gc_percent") {
			t.Errorf("gc_percent %d: got %v, want an error naming the key", p, err)
		}
	}
}
