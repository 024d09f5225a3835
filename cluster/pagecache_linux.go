//go:build linux

package cluster

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache tells the kernel that the synced bytes [off, off+n) of f will
// not be read soon (posix_fadvise DONTNEED), so that it frees their page
// cache. The logs and snapshots are written once and read rarely (an
// undo, an explain, a reload): kept cached, they would fill the machine's
// memory with pages nobody reads, at the expense of the index's and the
// store's. A failure changes nothing but the memory used.
func dropCache(f *os.File, off, n int64) {
	if n > 0 {
		_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
	}
}
