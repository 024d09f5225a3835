package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// TestGCPercent checks gc_percent: it sets the collector's target unless
// GOGC is set, and refuses what is not a positive percentage.
func TestGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	// A GOMEMLIMIT keeps setGCPercent from starting the limit's goroutine
	// here; followStep is tested below.
	t.Setenv("GOMEMLIMIT", "1TiB")
	if err := setGCPercent(t.Context(), 150); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("gc_percent 150: the collector's target is %d", got)
	}
	t.Setenv("GOGC", "100")
	if err := setGCPercent(t.Context(), 300); err != nil {
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
	// followStep: after a collection, the limit is gcLimit of the live heap.
	oldLimit := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(oldLimit)
	runtime.GC()
	var cycles uint64
	live, ok := followStep(&cycles)
	if !ok || live == 0 || cycles == 0 {
		t.Fatalf("followStep: live %d, ok %v, cycles %d", live, ok, cycles)
	}
	if got := debug.SetMemoryLimit(-1); got != gcLimit(live) {
		t.Errorf("memory limit %d after followStep, want gcLimit(%d) = %d", got, live, gcLimit(live))
	}
	// No collection since: the limit stays as it is.
	debug.SetMemoryLimit(oldLimit)
	before := cycles
	if _, ok := followStep(&cycles); !ok {
		t.Fatal("followStep: no metrics")
	}
	if got := debug.SetMemoryLimit(-1); cycles == before && got != oldLimit {
		t.Errorf("memory limit %d without a collection, want it left at %d", got, oldLimit)
	}
	for _, p := range []int{0, -1} {
		if err := setGCPercent(t.Context(), p); err == nil || !strings.Contains(err.Error(), "gc_percent") {
			t.Errorf("gc_percent %d: got %v, want an error naming the key", p, err)
		}
	}
}

// TestGoRuntimeFromEnvironment runs the built binary: it runs with the
// GODEBUG its environment gives, and adds nothing to it (the operator sets
// madvdontneed=0 where it pays: docs/operations.md, Process tuning).
func TestGoRuntimeFromEnvironment(t *testing.T) {
	bin := tracerBinary(t)
	for _, godebug := range []string{"", "madvdontneed=0", "gctrace=0"} {
		cmd := exec.Command(bin, "--log-level", "debug", "--data", t.TempDir(), "inspect", "btc-block", filepath.Join(t.TempDir(), "absent"))
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") }), "GODEBUG="+godebug)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("inspect of an absent file succeeded:\n%s", out)
		}
		if want := fmt.Sprintf("GODEBUG=%q ", godebug); !strings.Contains(string(out), want) {
			t.Errorf("GODEBUG=%q: the debug log does not show %s:\n%s", godebug, want, out)
		}
		if !strings.Contains(string(out), "absent") {
			t.Errorf("GODEBUG=%q: the error does not name the file:\n%s", godebug, out)
		}
	}
}
