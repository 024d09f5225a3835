package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble"
)

// The address log, DATA/trace/<chain>/addresses.log: the header
// "TRCAL001", then the address of every id in id order, each as a length
// byte and the address. Ids are given out in order, so appending is all
// the writing there is (the index used to take an 'i' entry per address,
// and its compactions cost more than the clusterer itself). Memory keeps
// the offset of every 64th id (addrMarkEvery): 0.125 bytes an address;
// reading an id's address reads from its mark on.
//
// The index's 'e' key holds, besides the end of the link log, the end of
// this log at its last sync, and 'n' the ids it then held; reopening cuts
// the log there. The marks are saved with the address map (addrmap.snap) and
// the ids after it are read back from the log.
const (
	addrLogFile   = "addresses.log"
	addrLogMagic  = "TRCAL001"
	addrMarkEvery = 64
	maxAddressLen = 255
)

type addrLog struct {
	logFile
	n     uint32   // ids in the log
	marks []uint64 // offset of id i*addrMarkEvery
	buf   []byte
}

// openAddrLog opens the log and cuts it at end (0: a new log). The marks
// and n are set by loadAddrMap.
func openAddrLog(path string, end int64) (*addrLog, error) {
	f, _, err := openLog(path, end, addrLogMagic)
	if err != nil {
		return nil, err
	}
	if end == 0 {
		end = int64(len(addrLogMagic))
	}
	return &addrLog{logFile: logFile{f: f, w: bufio.NewWriterSize(f, 1<<20), end: end, path: path}}, nil
}

// openLog opens a log file and cuts it at end (0: a new log, written
// afresh with the first of magics). An existing log must start with one
// of magics; openLog returns the one it found.
func openLog(path string, end int64, magics ...string) (*os.File, string, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("cluster: opening %s: %w", path, err)
	}
	fail := func(err error) (*os.File, string, error) {
		f.Close()
		return nil, "", err
	}
	magic := magics[0]
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if end == 0 {
		// The index never committed a byte of it: start over.
		end = int64(len(magic))
		if err := f.Truncate(0); err != nil {
			return fail(err)
		}
		if _, err := f.WriteAt([]byte(magic), 0); err != nil {
			return fail(err)
		}
	} else {
		var got [8]byte
		if _, err := f.ReadAt(got[:], 0); err != nil || !slices.Contains(magics, string(got[:])) {
			return fail(fmt.Errorf("cluster: %s: bad magic, not a %s file", path, strings.Join(magics, " or ")))
		}
		magic = string(got[:])
		if fi.Size() < end {
			return fail(fmt.Errorf("cluster: %s has %d bytes, the index says %d: the file lost its tail", path, fi.Size(), end))
		}
		if fi.Size() > end {
			if err := f.Truncate(end); err != nil {
				return fail(err)
			}
		}
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, magic, nil
}

func (l *addrLog) append(a string) error {
	if len(a) > maxAddressLen {
		return fmt.Errorf("cluster: address %.40s… is %d bytes long, more than %d", a, len(a), maxAddressLen)
	}
	if l.n%addrMarkEvery == 0 {
		l.marks = append(l.marks, uint64(l.end))
	}
	if err := l.w.WriteByte(byte(len(a))); err != nil {
		return fmt.Errorf("cluster: writing address log: %w", err)
	}
	if _, err := l.w.WriteString(a); err != nil {
		return fmt.Errorf("cluster: writing address log: %w", err)
	}
	l.end += 1 + int64(len(a))
	l.n++
	return nil
}

// get reads the address of id (flushed ids only).
func (l *addrLog) get(id uint32) (string, error) {
	if id >= l.n {
		return "", fmt.Errorf("cluster: address id %d is not in the address log (%d ids)", id, l.n)
	}
	off := int64(l.marks[id/addrMarkEvery])
	skip := int(id % addrMarkEvery)
	for size := 4096; ; size = addrMarkEvery * (maxAddressLen + 1) {
		if cap(l.buf) < size {
			l.buf = make([]byte, size)
		}
		b := l.buf[:min(int64(size), l.end-off)]
		if _, err := l.f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("cluster: reading address log: %w", err)
		}
		p := 0
		for i := 0; p < len(b); i++ {
			n := int(b[p])
			if p+1+n > len(b) {
				break
			}
			if i == skip {
				return string(b[p+1 : p+1+n]), nil
			}
			p += 1 + n
		}
		if len(b) < size {
			return "", fmt.Errorf("cluster: address log %s: id %d not found from its mark at %d", l.path, id, off)
		}
	}
}

// scan reads the ids from `from` on (from must be a multiple of
// addrMarkEvery with its mark, or the log's first id), calls fn with each
// at or after skipTo, and sets the marks and the count.
func (l *addrLog) scan(from, skipTo uint32, fn func(id uint32, a []byte) error) error {
	off := int64(len(addrLogMagic))
	if from > 0 {
		off = int64(l.marks[from/addrMarkEvery])
	}
	l.marks = l.marks[:from/addrMarkEvery]
	r := bufio.NewReaderSize(io.NewSectionReader(l.f, off, l.end-off), 1<<20)
	id := from
	var a [maxAddressLen]byte
	for off < l.end {
		n, err := r.ReadByte()
		if err == nil {
			_, err = io.ReadFull(r, a[:n])
		}
		if err != nil {
			return fmt.Errorf("cluster: address log %s: record of id %d at %d: %w", l.path, id, off, err)
		}
		if id%addrMarkEvery == 0 {
			l.marks = append(l.marks, uint64(off))
		}
		if id >= skipTo {
			if err := fn(id, a[:n]); err != nil {
				return err
			}
		}
		off += 1 + int64(n)
		id++
	}
	l.n = id
	return nil
}

// migrateAddresses moves the addresses of an index written before the
// address log ('i' id → address) into the log, once, on open.
func (s *State) migrateAddresses() error {
	lo, hi := []byte{keyID}, []byte{keyID + 1}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	var id uint32
	for ok := it.First(); ok && id < s.nextID; ok = it.Next() {
		k := it.Key()
		if len(k) != 5 || binary.BigEndian.Uint32(k[1:]) != id {
			it.Close()
			return fmt.Errorf("cluster: moving addresses to the address log: entry %x where id %d was expected", k, id)
		}
		if err := s.alog.append(string(it.Value())); err != nil {
			it.Close()
			return err
		}
		id++
	}
	if err := it.Close(); err != nil {
		return err
	}
	if id == 0 {
		return nil
	}
	if id != s.nextID {
		return fmt.Errorf("cluster: moving addresses to the address log: ids %d to %d missing", id, s.nextID-1)
	}
	// The address → id entries of those indexes go too.
	if err := s.b.DeleteRange([]byte{keyAddr}, []byte{keyAddr + 1}, nil); err != nil {
		return err
	}
	if err := s.b.DeleteRange(lo, hi, nil); err != nil {
		return err
	}
	s.committed = s.nextID
	if err := s.Commit(true); err != nil {
		return err
	}
	s.log.Info("addresses moved from the index to the address log", "addresses", id)
	return nil
}
