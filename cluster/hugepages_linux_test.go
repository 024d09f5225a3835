//go:build linux

package cluster

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// hugePages marks a large array's pages for huge pages (VmFlags "hg" in
// /proc/self/smaps); a small one and an empty one are left alone.
func TestHugePages(t *testing.T) {
	hugePages([]uint32(nil))
	hugePages(make([]uint64, 10))
	big := make([]addrSlot, (64<<20)/16)
	hugePages(big)
	addr := uintptr(unsafe.Pointer(&big[len(big)/2]))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			if !strings.Contains(line, " hg") {
				t.Errorf("the array's mapping is not marked for huge pages: %s", line)
			}
			return
		}
	}
	t.Fatalf("no mapping holds the array at %#x", addr)
}
