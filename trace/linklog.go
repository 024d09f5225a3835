package trace

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble"
)

// The link log, DATA/trace/<chain>/links.log, holds every link drawn, in
// the order drawn: the header "TRCLL001", then records of
//
//	length uint32     the whole record
//	prev   uint64     offset of the previous link with the same A end (0: none)
//	seq    uint64     stream sequence of the event that drew it
//	k      uint32     its number within the event
//	link              encodeLink: a, b, flags (1 held, 2 extra, 4 undone), ...
//
// big endian. The forest snapshot keeps, per address, the offset of the
// last link drawn from it (its head), so an undo walks a member's links
// from there. Appending costs a buffered write, where an index keyed by
// address cost a random insert into Pebble's memtable and its share of
// every compaction after. An undo flags the links of its block in place;
// a held merge sets the held flag in place.
//
// The index's 'e' key is the end of the log as of its last sync (see
// State.setNext): the log is synced before the index records its end, and
// reopening cuts it there, so a torn tail never shows. Links of events
// after the snapshot may stay in the log, unreachable from the heads the
// snapshot restores; the replay draws them again.
const (
	linkLogFile   = "links.log"
	linkLogMagic  = "TRCLL001"
	linkRecHeader = 24

	linkUndone = 4 // flag: the link's block was undone
)

type linkLog struct {
	logFile
	buf []byte
	hdr [linkRecHeader]byte // append's header: a field, so that it is not allocated per record
}

// logFile is an append-only file written through a buffer.
type logFile struct {
	f    *os.File
	w    *bufio.Writer
	end  int64 // logical end, buffered bytes included
	path string
}

// flush writes the buffered bytes to the file (reads need it).
func (l *logFile) flush() error {
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("trace: writing %s: %w", l.path, err)
	}
	return nil
}

func (l *logFile) sync() error {
	if err := l.flush(); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("trace: syncing %s: %w", l.path, err)
	}
	return nil
}

func (l *logFile) close() error { return errors.Join(l.sync(), l.f.Close()) }

// openLinkLog opens the log and cuts it at end (0: a new log).
func openLinkLog(path string, end int64) (*linkLog, error) {
	f, err := openLog(path, linkLogMagic, end)
	if err != nil {
		return nil, err
	}
	if end == 0 {
		end = int64(len(linkLogMagic))
	}
	return &linkLog{logFile: logFile{f: f, w: bufio.NewWriterSize(f, 1<<20), end: end, path: path}}, nil
}

// append writes a link record and returns its offset.
func (l *linkLog) append(prev, seq uint64, k uint32, link []byte) (uint64, error) {
	n := linkRecHeader + len(link)
	h := &l.hdr
	binary.BigEndian.PutUint32(h[0:], uint32(n))
	binary.BigEndian.PutUint64(h[4:], prev)
	binary.BigEndian.PutUint64(h[12:], seq)
	binary.BigEndian.PutUint32(h[20:], k)
	if _, err := l.w.Write(h[:]); err != nil {
		return 0, fmt.Errorf("trace: writing link log: %w", err)
	}
	if _, err := l.w.Write(link); err != nil {
		return 0, fmt.Errorf("trace: writing link log: %w", err)
	}
	off := uint64(l.end)
	l.end += int64(n)
	return off, nil
}

// linkRec is one record read back.
type linkRec struct {
	off, prev uint64
	link      storedLink
	undone    bool
}

// read reads the record at off (flushed records only).
func (l *linkLog) read(off uint64) (linkRec, error) {
	if off < uint64(len(linkLogMagic)) || off+linkRecHeader > uint64(l.end) {
		return linkRec{}, fmt.Errorf("trace: link log %s: offset %d outside the log (%d bytes)", l.path, off, l.end)
	}
	if cap(l.buf) < 256 {
		l.buf = make([]byte, 256)
	}
	b := l.buf[:min(uint64(cap(l.buf)), uint64(l.end)-off)]
	if _, err := l.f.ReadAt(b, int64(off)); err != nil && !errors.Is(err, io.EOF) {
		return linkRec{}, fmt.Errorf("trace: reading link log: %w", err)
	}
	n := uint64(binary.BigEndian.Uint32(b))
	if n < linkRecHeader+15 || off+n > uint64(l.end) {
		return linkRec{}, fmt.Errorf("trace: link log %s: corrupt record at %d", l.path, off)
	}
	if n > uint64(len(b)) {
		l.buf = make([]byte, n)
		b = l.buf
		if _, err := l.f.ReadAt(b, int64(off)); err != nil {
			return linkRec{}, fmt.Errorf("trace: reading link log: %w", err)
		}
	}
	b = b[:n]
	r := linkRec{off: off, prev: binary.BigEndian.Uint64(b[4:])}
	seq, k := binary.BigEndian.Uint64(b[12:]), binary.BigEndian.Uint32(b[20:])
	body := b[linkRecHeader:]
	r.undone = body[8]&linkUndone != 0
	var err error
	if r.link, err = decodeLink(linkKey(0, seq, k), body); err != nil {
		return linkRec{}, fmt.Errorf("trace: link log %s: record at %d: %w", l.path, off, err)
	}
	if r.prev >= off {
		return linkRec{}, fmt.Errorf("trace: link log %s: record at %d points forward to %d", l.path, off, r.prev)
	}
	return r, nil
}

// setFlag sets flag on the record at off (flushed records only).
func (l *linkLog) setFlag(off uint64, flag byte) error {
	pos := int64(off) + linkRecHeader + 8
	var b [1]byte
	if _, err := l.f.ReadAt(b[:], pos); err != nil {
		return fmt.Errorf("trace: reading link log: %w", err)
	}
	b[0] |= flag
	if _, err := l.f.WriteAt(b[:], pos); err != nil {
		return fmt.Errorf("trace: writing link log: %w", err)
	}
	return nil
}

// migrateLinks moves the links of an index written before the link log
// ('l' id seq k, an entry under each end) into the log: each once, from
// its A end, up to the snapshot (the replay draws later ones again).
func (s *State) migrateLinks() error {
	lo, hi := []byte{keyLink}, []byte{keyLink + 1}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	found, moved := false, 0
	for ok := it.First(); ok; ok = it.Next() {
		found = true
		l, err := decodeLink(it.Key(), it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("trace: moving links to the link log: %w", err)
		}
		if l.a != binary.BigEndian.Uint32(it.Key()[1:]) || l.seq > s.lastSeq {
			continue
		}
		if int(l.a) >= s.f.Len() {
			it.Close()
			return fmt.Errorf("trace: moving links to the link log: link of event %d has address id %d beyond the %d ids", l.seq, l.a, s.f.Len())
		}
		if err := s.setLink(&l); err != nil {
			it.Close()
			return err
		}
		moved++
	}
	if err := it.Close(); err != nil {
		return err
	}
	if !found {
		return nil
	}
	if err := s.b.DeleteRange(lo, hi, nil); err != nil {
		return err
	}
	if err := s.Commit(true); err != nil {
		return err
	}
	s.log.Info("links moved from the address index to the link log", "links", moved)
	return nil
}
