//go:build linux

package cluster

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The clusterer's big arrays (the forest, the link heads, the address map)
// hold no pointers and grow with the chain to gigabytes. They live in
// anonymous mappings outside the Go heap: a grow is an mremap, which moves
// page tables instead of copying the bytes and zeroing a new array, and the
// collector neither counts them into its heap target nor sweeps them. The
// owner frees them (mappedFree) when it is done; nothing may keep a slice
// of one across a grow or a free.

// mappedGrow returns s with a capacity of at least n (rounded up to whole
// pages), its elements kept and the new ones zero. s must be nil or what
// mappedGrow returned; afterwards only the result may be used.
func mappedGrow[T any](s []T, n int) []T {
	var zero T
	elem := unsafe.Sizeof(zero)
	if n <= cap(s) {
		return s
	}
	const page = 4096
	if page%elem != 0 {
		panic(fmt.Sprintf("cluster: mapped arrays need elements that divide a page, not %d bytes", elem))
	}
	size := (uintptr(n)*elem + page - 1) &^ (page - 1)
	var p unsafe.Pointer
	var err error
	if cap(s) == 0 {
		p, err = unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	} else {
		p, err = unix.MremapPtr(unsafe.Pointer(unsafe.SliceData(s)), uintptr(cap(s))*elem, nil, size, unix.MREMAP_MAYMOVE)
	}
	if err != nil {
		// As the runtime does when the heap cannot grow.
		panic(fmt.Sprintf("cluster: mapping %d bytes for the clusterer's state: %v", size, err))
	}
	g := unsafe.Slice((*T)(p), size/elem)
	hugePages(g)
	return g[:len(s)]
}

// mappedFree unmaps what mappedGrow returned.
func mappedFree[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	var zero T
	if err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(s)), uintptr(cap(s))*unsafe.Sizeof(zero)); err != nil {
		panic(fmt.Sprintf("cluster: unmapping the clusterer's state: %v", err))
	}
}
