package main

import (
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
		if err := setGCPercent(p); err == nil || !strings.Contains(err.Error(), "gc_percent") {
			t.Errorf("gc_percent %d: got %v, want an error naming the key", p, err)
		}
	}
}

// TestLazyFreeEnv checks the environment reexecLazyFree runs with.
func TestLazyFreeEnv(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string // nil: no re-exec
	}{
		{[]string{"A=1"}, []string{"A=1", "GODEBUG=madvdontneed=0"}},
		{[]string{"GODEBUG=", "A=1"}, []string{"GODEBUG=madvdontneed=0", "A=1"}},
		{[]string{"GODEBUG=gctrace=1"}, []string{"GODEBUG=gctrace=1,madvdontneed=0"}},
		{[]string{"GODEBUG=madvdontneed=1"}, nil},
		{[]string{"GODEBUG=gctrace=1,madvdontneed=0"}, nil},
		// Only the first GODEBUG counts, as in the runtime.
		{[]string{"GODEBUG=x=1", "GODEBUG=madvdontneed=1"}, []string{"GODEBUG=x=1,madvdontneed=0", "GODEBUG=madvdontneed=1"}},
		// Not a setting of that name.
		{[]string{"GODEBUG=xmadvdontneed=1"}, []string{"GODEBUG=xmadvdontneed=1,madvdontneed=0"}},
	} {
		got, ok := lazyFreeEnv(c.in)
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("lazyFreeEnv(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

// TestLazyFreeReexec runs the built binary: it re-executes itself with
// madvdontneed=0 in GODEBUG (its debug log shows the variable it runs
// with), and leaves a GODEBUG that sets madvdontneed as it is.
func TestLazyFreeReexec(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the re-exec is Linux only")
	}
	bin := tracerBinary(t)
	for _, c := range []struct{ godebug, want string }{
		{"", `GODEBUG="madvdontneed=0"`},
		{"gctrace=0", `GODEBUG="gctrace=0,madvdontneed=0"`},
		{"madvdontneed=1", `GODEBUG="madvdontneed=1"`},
	} {
		cmd := exec.Command(bin, "--log-level", "debug", "--data", t.TempDir(), "inspect", "btc-block", filepath.Join(t.TempDir(), "absent"))
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") }), "GODEBUG="+c.godebug)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("inspect of an absent file succeeded:\n%s", out)
		}
		if !strings.Contains(string(out), c.want+" ") {
			t.Errorf("GODEBUG=%q: the debug log does not show %s:\n%s", c.godebug, c.want, out)
		}
		if !strings.Contains(string(out), "absent") {
			t.Errorf("GODEBUG=%q: the error does not name the file:\n%s", c.godebug, out)
		}
	}
}
