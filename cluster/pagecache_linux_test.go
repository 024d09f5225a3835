//go:build linux

package cluster

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentPages counts the pages of the file at path that are in the page
// cache (mincore over a read-only mapping).
func residentPages(t *testing.T, path string) (resident, pages int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			resident++
		}
	}
	return resident, len(vec)
}

// TestLogsLeaveThePageCache: a synced log keeps only its newest
// logCachedTail bytes in the page cache, and a written snapshot none, so
// that logs written once and read rarely do not fill the machine's memory.
func TestLogsLeaveThePageCache(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type == unix.TMPFS_MAGIC {
		t.Skipf("%s is on tmpfs (or unknown: %v), whose pages are the file itself", dir, err)
	}
	path := filepath.Join(dir, "test.log")
	l, err := openLinkLog(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	link := storedLink{a: 1, b: 2, heuristic: linkHeuristics[0], txid: "no hex: stored as it is, 40 bytes or so"}
	for i := 0; int64(i) < 2*logCachedTail/40; i++ {
		link.seq = uint64(i)
		if _, err := l.append(0, &link); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.sync(); err != nil {
		t.Fatal(err)
	}
	resident, pages := residentPages(t, path)
	tail := int(logCachedTail) / os.Getpagesize()
	if pages < 2*tail-tail/2 {
		t.Fatalf("the log has %d pages, want about %d", pages, 2*tail)
	}
	// A few pages more: the kernel keeps pages it has not yet put on its
	// lists (per-CPU batches).
	if resident > tail+tail/64 || resident < tail/2 {
		t.Errorf("%d of the synced log's %d pages are cached, want its last %d", resident, pages, tail)
	}

	snap := filepath.Join(dir, "test.snap")
	err = writeSnapshotFile(snap, func(w io.Writer) error {
		_, err := w.Write(make([]byte, 16<<20))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if resident, pages := residentPages(t, snap); resident > 0 {
		t.Errorf("%d of the snapshot's %d pages are cached, want none", resident, pages)
	}
}
