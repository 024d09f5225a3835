//go:build linux

package cluster

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePages asks the kernel to back the memory of s with huge pages
// (madvise MADV_HUGEPAGE) when it is large. The forest, the address map and
// the link heads are read at random over gigabytes: with 4 KB pages nearly
// every read also misses the TLB, and with 2 MB pages the TLB covers them.
// Linux's transparent huge pages are often in "madvise" mode, which is
// this call; where they are off or the call fails nothing changes but the
// speed.
func hugePages[T any](s []T) {
	var zero T
	n := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if n < hugePagesMin {
		return
	}
	const page = 4096
	p := unsafe.Pointer(unsafe.SliceData(s))
	start := uintptr(p)
	first, end := (start+page-1)&^(page-1), (start+n)&^(page-1)
	if end <= first {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, first-start)), end-first), unix.MADV_HUGEPAGE)
}

const hugePagesMin = 8 << 20
