package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"unsafe"
)

// The forest snapshot, DATA/trace/btc/forest.snap: magic, the stream
// sequence it covers, the number of ids, then parent, size and next as
// little-endian uint32 arrays, and a CRC-32C of everything before it. It is
// written to a temporary file, synced and renamed over the old one, so a
// crash leaves either snapshot whole.
const (
	snapshotFile  = "forest.snap"
	snapshotMagic = "TRCUF001"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// SnapshotPath is where the forest snapshot lives.
func (s *State) SnapshotPath() string { return filepath.Join(s.dir, snapshotFile) }

// Snapshot syncs the index and saves the forest with the stream sequence
// it covers. Call it only when everything applied up to LastSeq is stored
// downstream: a restart resumes from there.
func (s *State) Snapshot() error {
	if err := s.Commit(true); err != nil {
		return err
	}
	path := s.SnapshotPath()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("trace: writing snapshot: %w", err)
	}
	crc := crc32.New(crcTable)
	w := io.MultiWriter(f, crc)
	head := make([]byte, 0, 20)
	head = append(head, snapshotMagic...)
	head = binary.LittleEndian.AppendUint64(head, s.lastSeq)
	head = binary.LittleEndian.AppendUint32(head, uint32(s.f.Len()))
	_, err = w.Write(head)
	for _, a := range [][]uint32{s.f.parent, s.f.size, s.f.next} {
		if err == nil {
			_, err = w.Write(u32bytes(a))
		}
	}
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("trace: writing snapshot %s: %w", path, err)
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
		return errors.New("trace: snapshots need a little-endian machine")
	}
	path := s.SnapshotPath()
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trace: reading snapshot: %w", err)
	}
	if len(raw) < 24 || string(raw[:8]) != snapshotMagic {
		return fmt.Errorf("trace: snapshot %s: not a forest snapshot (bad magic or too short); remove it to rebuild from the stream", path)
	}
	body, sum := raw[:len(raw)-4], binary.LittleEndian.Uint32(raw[len(raw)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return fmt.Errorf("trace: snapshot %s: checksum mismatch; remove it to rebuild from the stream", path)
	}
	seq := binary.LittleEndian.Uint64(raw[8:])
	n := int(binary.LittleEndian.Uint32(raw[16:]))
	if len(body) != 20+12*n {
		return fmt.Errorf("trace: snapshot %s: %d bytes for %d ids, want %d", path, len(body), n, 20+12*n)
	}
	arr := func(i int) []uint32 {
		a := make([]uint32, n, n+n/8+16)
		copy(u32bytes(a), body[20+4*n*i:20+4*n*(i+1)])
		return a
	}
	s.f = Forest{parent: arr(0), size: arr(1), next: arr(2)}
	for i, p := range s.f.parent {
		if int(p) >= n || int(s.f.next[i]) >= n {
			return fmt.Errorf("trace: snapshot %s: id %d points outside the forest", path, i)
		}
	}
	if uint32(n) > s.nextID {
		return fmt.Errorf("trace: snapshot %s covers %d ids, the address index only %d: the index is older than the snapshot", path, n, s.nextID)
	}
	s.lastSeq = seq
	return nil
}
