package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"unsafe"
)

// The forest snapshot, DATA/trace/btc/forest.snap: magic, the stream
// sequence it covers, the number of ids, then parent, size and next as
// little-endian uint32 arrays, the heads of the link log (linklog.go) as
// little-endian uint64s, and a CRC-32C of everything before it. It is
// written to a temporary file, synced and renamed over the old one, so a
// crash leaves either snapshot whole. Version 1 had no heads; its links
// are still in the address index, and OpenState moves them.
const (
	snapshotFile    = "forest.snap"
	snapshotMagic   = "TRCUF002"
	snapshotMagicV1 = "TRCUF001"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// SnapshotPath is where the forest snapshot lives.
func (s *State) SnapshotPath() string { return filepath.Join(s.dir, snapshotFile) }

// Snapshot syncs the index and saves the forest with the stream sequence
// it covers, and the address map. Call it only when everything applied up
// to LastSeq is stored downstream: a restart resumes from there.
func (s *State) Snapshot() error {
	if err := s.Commit(true); err != nil {
		return err
	}
	if err := s.saveForest(); err != nil {
		return err
	}
	return s.saveAddrMap()
}

func (s *State) saveForest() error {
	if len(s.heads) < s.f.Len() {
		s.growHeads()
	}
	err := writeSnapshotFile(s.SnapshotPath(), func(w io.Writer) error {
		head := make([]byte, 0, 20)
		head = append(head, snapshotMagic...)
		head = binary.LittleEndian.AppendUint64(head, s.lastSeq)
		head = binary.LittleEndian.AppendUint32(head, uint32(s.f.Len()))
		_, err := w.Write(head)
		for _, a := range [][]uint32{s.f.parent, s.f.size, s.f.next} {
			if err == nil {
				_, err = w.Write(u32bytes(a))
			}
		}
		if err == nil && s.f.Len() > 0 {
			_, err = w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&s.heads[0])), 8*s.f.Len()))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: writing snapshot: %w", err)
	}
	return nil
}

// writeSnapshotFile writes path through write, followed by a CRC-32C of
// what it wrote: to a temporary file, synced, renamed over path, and the
// directory synced, so that a crash leaves the old file or the new one
// whole.
func writeSnapshotFile(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		dropCache(f, 0, math.MaxInt64)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// u32bytes views a as little-endian bytes (every platform Go's clusterer
// runs on is little endian; loadSnapshot checks).
func u32bytes(a []uint32) []byte {
	if len(a) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a))
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// loadSnapshot reads the snapshot, if there is one.
func (s *State) loadSnapshot() error {
	if !littleEndian() {
		return errors.New("cluster: snapshots need a little-endian machine")
	}
	path := s.SnapshotPath()
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: reading snapshot: %w", err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fmt.Errorf("cluster: reading snapshot: %w", err)
	}
	// Read straight into the forest's arrays, checksumming on the way:
	// no second copy of the file in memory.
	crc := crc32.New(crcTable)
	r := io.TeeReader(bufio.NewReaderSize(file, 1<<20), crc)
	var head [20]byte
	if _, err := io.ReadFull(r, head[:]); err != nil || fi.Size() < 24 || (string(head[:8]) != snapshotMagic && string(head[:8]) != snapshotMagicV1) {
		return fmt.Errorf("cluster: snapshot %s: not a forest snapshot (bad magic or too short); remove it to rebuild from the stream", path)
	}
	perID := int64(20)
	if string(head[:8]) == snapshotMagicV1 {
		perID = 12
	}
	seq := binary.LittleEndian.Uint64(head[8:])
	n := int(binary.LittleEndian.Uint32(head[16:]))
	if fi.Size()-4 != 20+perID*int64(n) {
		return fmt.Errorf("cluster: snapshot %s: %d bytes for %d ids, want %d", path, fi.Size()-4, n, 20+perID*int64(n))
	}
	if uint32(n) > s.nextID {
		return fmt.Errorf("cluster: snapshot %s covers %d ids, the address index only %d: the index is older than the snapshot", path, n, s.nextID)
	}
	var f Forest
	var heads []uint64
	ok := false
	defer func() {
		if !ok {
			f.free()
			mappedFree(heads)
		}
	}()
	for _, a := range []*[]uint32{&f.parent, &f.size, &f.next} {
		*a = mappedGrow([]uint32(nil), n+n/8+16)[:n]
		if _, err := io.ReadFull(r, u32bytes(*a)); err != nil {
			return fmt.Errorf("cluster: reading snapshot %s: %w", path, err)
		}
	}
	if perID == 20 {
		heads = mappedGrow([]uint64(nil), n+n/8+16)[:n]
		if n > 0 {
			if _, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(&heads[0])), 8*n)); err != nil {
				return fmt.Errorf("cluster: reading snapshot %s: %w", path, err)
			}
		}
	}
	sum := crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil || binary.LittleEndian.Uint32(tail[:]) != sum {
		return fmt.Errorf("cluster: snapshot %s: checksum mismatch; remove it to rebuild from the stream", path)
	}
	for i, p := range f.parent {
		if int(p) >= n || int(f.next[i]) >= n {
			return fmt.Errorf("cluster: snapshot %s: id %d points outside the forest", path, i)
		}
	}
	s.f, s.heads = f, heads
	ok = true
	s.lastSeq = seq
	return nil
}
