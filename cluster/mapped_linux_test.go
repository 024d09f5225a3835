//go:build linux

package cluster

import (
	"runtime"
	"testing"
)

// TestMappedGrow: a mapped array keeps its elements across grows (in
// place or moved), its new elements are zero, and it is not on the Go
// heap.
func TestMappedGrow(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var s []uint64
	for n := 1; n <= 1<<24; n *= 4 {
		s = mappedGrow(s, n)
		if cap(s) < n || len(s) != n/4 {
			t.Fatalf("grown to %d: len %d cap %d, want len %d and cap at least %d", n, len(s), cap(s), n/4, n)
		}
		for i, v := range s[:cap(s)] {
			if i < len(s) && v != uint64(i)*7+1 {
				t.Fatalf("grown to %d: element %d is %d, want %d", n, i, v, uint64(i)*7+1)
			}
			if i >= len(s) && v != 0 {
				t.Fatalf("grown to %d: new element %d is %d, want 0", n, i, v)
			}
		}
		s = s[:n]
		for i := range s {
			s[i] = uint64(i)*7 + 1
		}
	}
	if g := mappedGrow(s, len(s)); &g[0] != &s[0] || cap(g) != cap(s) {
		t.Fatal("a grow within the capacity moved the array")
	}
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("the Go heap grew by %d bytes for a %d-byte mapped array", grew, 8*cap(s))
	}
	mappedFree(s)
	mappedFree([]uint32(nil))
}
