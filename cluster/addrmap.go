package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// addrMap is the address → id map the clusterer reads: an open-addressing
// hash table (linear probing) over the addresses' 96-bit fingerprints, in
// one flat array of 16-byte slots. It answers every lookup from memory,
// hits and misses alike (half the addresses a block names are new); the
// address log (addrlog.go) keeps id → address.
//
// Two distinct addresses with the same fingerprint would share an id. With
// an xxHash64 and an independent CRC-32C the chance that any two of n
// addresses collide is about n²/2⁹⁷: 10⁻¹¹ for all of Bitcoin's 1.5·10⁹
// addresses.
//
// Memory: 16 bytes a slot at a load of 3/8 to 3/4, so 21 to 43 bytes an
// address (2 GiB for 100 million), outside the Go heap (mapped_linux.go). It is saved next to the forest
// snapshot (addrmap.snap) with the address log's marks and reloaded as it
// is; ids given out after it was saved are read back from the address log.
type addrMap struct {
	slots []addrSlot
	n     int // ids in the map
}

type addrSlot struct {
	h  uint64 // xxHash64 of the address
	c  uint32 // CRC-32C of the address
	id uint32 // id+1; 0 marks an empty slot
}

const addrMapMinSlots = 1 << 16

// fingerprint hashes an address for the map.
func fingerprint(a string) (uint64, uint32) {
	return xxhash.Sum64String(a), crc32.Update(0, crcTable, unsafe.Slice(unsafe.StringData(a), len(a)))
}

// get returns the id of the address with fingerprint (h, c).
func (m *addrMap) get(h uint64, c uint32) (uint32, bool) {
	if len(m.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(m.slots) - 1)
	base := unsafe.Pointer(unsafe.SliceData(m.slots))
	for i := h & mask; ; i = (i + 1) & mask {
		sl := (*addrSlot)(unsafe.Add(base, uintptr(i)*unsafe.Sizeof(addrSlot{})))
		if sl.id == 0 {
			return 0, false
		}
		if sl.h == h && sl.c == c {
			return sl.id - 1, true
		}
	}
}

// touch reads the slot where get's probe for h starts, so that a get soon
// after finds it in the cache; the result means nothing (callers keep it
// so that the read is not optimised away).
func (m *addrMap) touch(h uint64) uint32 {
	if len(m.slots) == 0 {
		return 0
	}
	return m.slots[h&uint64(len(m.slots)-1)].id
}

// put adds an address that get did not find.
func (m *addrMap) put(h uint64, c uint32, id uint32) {
	if 4*(m.n+1) > 3*len(m.slots) {
		m.grow()
	}
	m.insert(h, c, id)
	m.n++
}

func (m *addrMap) insert(h uint64, c uint32, id uint32) {
	mask := uint64(len(m.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if m.slots[i].id == 0 {
			m.slots[i] = addrSlot{h: h, c: c, id: id + 1}
			return
		}
	}
}

func (m *addrMap) grow() {
	old := m.slots
	n := max(2*len(old), addrMapMinSlots)
	m.slots = mappedGrow([]addrSlot(nil), n)[:n]
	for _, sl := range old {
		if sl.id != 0 {
			m.insert(sl.h, sl.c, sl.id-1)
		}
	}
	mappedFree(old)
}

// free gives the map's memory back (mapped_linux.go); the map is empty
// after.
func (m *addrMap) free() {
	mappedFree(m.slots)
	*m = addrMap{}
}

// bytes is the memory the map holds.
func (m *addrMap) bytes() int { return len(m.slots) * int(unsafe.Sizeof(addrSlot{})) }

// The map file, DATA/trace/<chain>/addrmap.snap: magic, the number of ids
// it covers, the number of slots, the slots (h, c, id+1: 16 bytes each,
// little endian as in memory), the address log's marks of those ids
// (uint64), and a CRC-32C of everything before it.
// Written like the forest snapshot: to a temporary file, synced, renamed.
const (
	addrMapFile  = "addrmap.snap"
	addrMapMagic = "TRCAM001"
)

func (s *State) addrMapPath() string { return filepath.Join(s.dir, addrMapFile) }

// saveAddrMap writes the map; every id in it must be committed.
func (s *State) saveAddrMap() error {
	err := writeSnapshotFile(s.addrMapPath(), func(w io.Writer) error {
		head := make([]byte, 0, 24)
		head = append(head, addrMapMagic...)
		head = binary.LittleEndian.AppendUint64(head, uint64(s.m.n))
		head = binary.LittleEndian.AppendUint64(head, uint64(len(s.m.slots)))
		_, err := w.Write(head)
		if err == nil && len(s.m.slots) > 0 {
			_, err = w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&s.m.slots[0])), s.m.bytes()))
		}
		marks := s.alog.marks[:marksOf(s.m.n)]
		if err == nil && len(marks) > 0 {
			_, err = w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&marks[0])), 8*len(marks)))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: writing address map: %w", err)
	}
	return nil
}

// errAddrMap marks a map file that cannot be used; the map is then rebuilt
// from the index.
var errAddrMap = errors.New("unusable address map file")

// readAddrMap reads the map file into s.m.
func (s *State) readAddrMap() error {
	path := s.addrMapPath()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	crc := crc32.New(crcTable)
	r := io.TeeReader(bufio.NewReaderSize(f, 1<<20), crc)
	var head [24]byte
	if _, err := io.ReadFull(r, head[:]); err != nil || string(head[:8]) != addrMapMagic {
		return fmt.Errorf("%w: bad magic or too short", errAddrMap)
	}
	n, slots := binary.LittleEndian.Uint64(head[8:]), binary.LittleEndian.Uint64(head[16:])
	if slots&(slots-1) != 0 || n > slots || n > uint64(s.nextID) || fi.Size() != int64(24+16*slots+8*uint64(marksOf(int(n)))+4) {
		return fmt.Errorf("%w: %d ids in %d slots, %d bytes (the index has %d ids)", errAddrMap, n, slots, fi.Size(), s.nextID)
	}
	m := addrMap{slots: mappedGrow([]addrSlot(nil), int(slots))[:slots], n: int(n)}
	ok := false
	defer func() {
		if !ok {
			m.free()
		}
	}()
	if slots > 0 {
		if _, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(&m.slots[0])), m.bytes())); err != nil {
			return fmt.Errorf("%w: %v", errAddrMap, err)
		}
	}
	marks := make([]uint64, marksOf(int(n)), marksOf(int(s.nextID))+1)
	if len(marks) > 0 {
		if _, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(&marks[0])), 8*len(marks))); err != nil {
			return fmt.Errorf("%w: %v", errAddrMap, err)
		}
	}
	sum := crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil || binary.LittleEndian.Uint32(tail[:]) != sum {
		return fmt.Errorf("%w: checksum mismatch", errAddrMap)
	}
	// Every id below n once, and nothing else: a damaged file must not
	// map an address to a wrong id.
	var count int
	for _, sl := range m.slots {
		if sl.id != 0 {
			if uint64(sl.id) > n {
				return fmt.Errorf("%w: id %d beyond the %d it covers", errAddrMap, sl.id-1, n)
			}
			count++
		}
	}
	if count != int(n) {
		return fmt.Errorf("%w: %d ids in the slots, header says %d", errAddrMap, count, n)
	}
	for i, off := range marks {
		if off < uint64(len(addrLogMagic)) || int64(off) >= s.alog.end || (i > 0 && off <= marks[i-1]) {
			return fmt.Errorf("%w: mark %d (%d) outside the address log", errAddrMap, i, off)
		}
	}
	s.m, s.alog.marks = m, marks
	ok = true
	return nil
}

// loadAddrMap loads the map file and adds the ids the index gave out
// after it was saved; without a usable file it rebuilds the map from the
// index.
func (s *State) loadAddrMap() error {
	if !littleEndian() {
		return errors.New("cluster: the address map needs a little-endian machine")
	}
	err := s.readAddrMap()
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, errAddrMap):
		s.log.Warn("rebuilding the address map from the address log", "file", s.addrMapPath(), "reason", err)
	default:
		return fmt.Errorf("cluster: reading address map: %w", err)
	}
	// The ids after the file, read back from the address log, from the
	// mark at or before the first.
	n := uint32(s.m.n)
	from := n / addrMarkEvery * addrMarkEvery
	if from == n && int(n/addrMarkEvery) >= len(s.alog.marks) && n > 0 {
		// n is a multiple of the marks' spacing: its mark is not saved.
		from -= addrMarkEvery
	}
	err = s.alog.scan(from, n, func(id uint32, a []byte) error {
		h, c := fingerprint(unsafe.String(unsafe.SliceData(a), len(a)))
		if _, dup := s.m.get(h, c); dup {
			return fmt.Errorf("cluster: address log: id %d (%q) has the fingerprint of another address", id, a)
		}
		s.m.put(h, c, id)
		return nil
	})
	if err != nil {
		return err
	}
	want := s.alog.n
	if want != s.nextID {
		return fmt.Errorf("cluster: address log %s holds %d ids, the index %d", s.alog.path, want, s.nextID)
	}
	return nil
}

// marksOf is the number of address log marks of n ids.
func marksOf(n int) int { return (n + addrMarkEvery - 1) / addrMarkEvery }
