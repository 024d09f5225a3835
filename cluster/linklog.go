package cluster

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/cockroachdb/pebble"

	"github.com/tracerproject/tracer/cluster/heuristic"
)

// The link log, DATA/trace/<chain>/links.log, holds every link drawn, in
// the order drawn: the header "TRCLL002", then records of
//
//	flags     byte     1 held, 2 extra evidence, 4 undone (set in place),
//	                   8 txid stored as 32 bytes (64 lowercase hex digits),
//	                   16 the same after "0x", 32 heuristic stored as an id
//	size      uvarint  bytes of the record after this field
//	prev      uvarint  this record's offset less that of the previous link
//	                   with the same A end (0: none)
//	seq       uvarint  stream sequence of the event that drew it
//	k         uvarint  its number within the event
//	a, b      uint32   big endian: the two address ids
//	version   byte     the heuristic's version
//	heuristic          its id in linkHeuristics (flag 32), else a length
//	                   byte and the name
//	height    uvarint  the block's height
//	txid               32 bytes (flag 8 or 16), else a uvarint length and
//	                   the txid
//	extra              uvarint length and the extra evidence (flag 2)
//
// About 51 bytes a link on the benchmark's chain where the first format
// ("TRCLL001", still read and appended to when a log has it) took 111: writing the log was a fifth
// of the clusterer's time, most of it the kernel's copying of the bytes.
//
// The forest snapshot keeps, per address, the offset of the last link
// drawn from it (its head), so an undo walks a member's links from there.
// Appending costs a buffered write, where an index keyed by address cost a
// random insert into Pebble's memtable and its share of every compaction
// after. An undo flags the links of its block in place; a held merge sets
// the held flag in place.
//
// The index's 'e' key is the end of the log as of its last sync (see
// State.setNext): the log is synced before the index records its end, and
// reopening cuts it there, so a torn tail never shows. Links of events
// after the snapshot may stay in the log, unreachable from the heads the
// snapshot restores; the replay draws them again.
const (
	linkLogFile   = "links.log"
	linkLogMagic  = "TRCLL002"
	linkLogMagic1 = "TRCLL001"

	linkHeld    = 1
	linkExtra   = 2
	linkUndone  = 4 // flag: the link's block was undone
	linkHex     = 8
	link0xHex   = 16
	linkHeurID  = 32
	linkMinSize = 17 // the smallest record of either format

	// The first format's records: a header of length uint32, prev uint64,
	// seq uint64 and k uint32, then encodeLink's bytes (flags at 8).
	linkRecHeader = 24
)

// linkHeuristics numbers the heuristics for the link log. The ids are
// part of the file format: append, never reorder or remove.
var linkHeuristics = [...]string{
	heuristic.NameMultiInput,
	heuristic.NameChangeOneTime,
	heuristic.NameChangeTypeMatch,
	heuristic.NameChangeOptimal,
	heuristic.NameDeposit,
}

// newLinkLogMagic is the format of new link logs (tests set the first to
// check that old logs still work).
var newLinkLogMagic = linkLogMagic

type linkLog struct {
	logFile
	v1  bool // the log is in the first format
	buf []byte
	val []byte // append's buffer
}

// logFile is an append-only file written through a buffer.
type logFile struct {
	f    *os.File
	w    *bufio.Writer
	end  int64 // logical end, buffered bytes included
	path string
	// dropped: the bytes before it are synced and out of the page cache.
	dropped int64
}

// flush writes the buffered bytes to the file (reads need it).
func (l *logFile) flush() error {
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("cluster: writing %s: %w", l.path, err)
	}
	return nil
}

func (l *logFile) sync() error {
	if err := l.flush(); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("cluster: syncing %s: %w", l.path, err)
	}
	// The newest bytes stay cached: an undo reads the links of the
	// newest blocks.
	if to := l.end - logCachedTail; to > l.dropped {
		dropCache(l.f, l.dropped, to-l.dropped)
		l.dropped = to
	}
	return nil
}

// logCachedTail is how much of a log's end sync leaves in the page cache.
const logCachedTail = 64 << 20

func (l *logFile) close() error { return errors.Join(l.sync(), l.f.Close()) }

// openLinkLog opens the log and cuts it at end (0: a new log).
func openLinkLog(path string, end int64) (*linkLog, error) {
	magics := []string{linkLogMagic, linkLogMagic1}
	if newLinkLogMagic == linkLogMagic1 {
		magics[0], magics[1] = magics[1], magics[0]
	}
	f, magic, err := openLog(path, end, magics...)
	if err != nil {
		return nil, err
	}
	if end == 0 {
		end = int64(len(magic))
	}
	return &linkLog{logFile: logFile{f: f, w: bufio.NewWriterSize(f, 1<<20), end: end, path: path}, v1: magic == linkLogMagic1}, nil
}

// append writes a link record whose previous link from the same A end is
// at prev and returns its offset.
func (l *linkLog) append(prev uint64, link *storedLink) (uint64, error) {
	off := uint64(l.end)
	if l.v1 {
		l.val = appendLink(l.val[:0], link)
		l.val = appendLinkHeader1(l.val, prev, link)
	} else {
		var err error
		if l.val, err = appendLinkRec(l.val[:0], off, prev, link); err != nil {
			return 0, err
		}
	}
	if _, err := l.w.Write(l.val); err != nil {
		return 0, fmt.Errorf("cluster: writing link log: %w", err)
	}
	l.end += int64(len(l.val))
	return off, nil
}

// appendLinkHeader1 turns v, encodeLink's bytes, into a record of the
// first format: the header goes before them.
func appendLinkHeader1(v []byte, prev uint64, link *storedLink) []byte {
	n := len(v)
	var room [linkRecHeader]byte
	v = append(v, room[:]...)
	copy(v[linkRecHeader:], v[:n])
	binary.BigEndian.PutUint32(v[0:], uint32(n+linkRecHeader))
	binary.BigEndian.PutUint64(v[4:], prev)
	binary.BigEndian.PutUint64(v[12:], link.seq)
	binary.BigEndian.PutUint32(v[20:], link.k)
	return v
}

// appendLinkRec appends the record of link, at offset off, in the current
// format.
func appendLinkRec(v []byte, off, prev uint64, link *storedLink) ([]byte, error) {
	if prev >= off && prev != 0 {
		return v, fmt.Errorf("cluster: link log: previous link at %d is not before %d", prev, off)
	}
	flags := byte(0)
	if link.held {
		flags |= linkHeld
	}
	if link.extra != "" {
		flags |= linkExtra
	}
	hid := heuristicID(link.heuristic)
	if hid >= 0 {
		flags |= linkHeurID
	} else if len(link.heuristic) > 255 {
		return v, fmt.Errorf("cluster: link log: heuristic name of %d bytes", len(link.heuristic))
	}
	txid, binTxid := link.txid, false
	if len(txid) == 66 && txid[:2] == "0x" && lowerHex(txid[2:]) {
		flags |= link0xHex
		txid, binTxid = txid[2:], true
	} else if len(txid) == 64 && lowerHex(txid) {
		flags |= linkHex
		binTxid = true
	}
	// The body, then its size before it: one byte, unless the body has
	// extra evidence or a long name.
	start := len(v)
	v = append(v, flags, 0) // the size's room, widened below if it needs more
	body := len(v)
	d := uint64(0)
	if prev != 0 {
		d = off - prev
	}
	v = binary.AppendUvarint(v, d)
	v = binary.AppendUvarint(v, link.seq)
	v = binary.AppendUvarint(v, uint64(link.k))
	v = binary.BigEndian.AppendUint32(v, link.a)
	v = binary.BigEndian.AppendUint32(v, link.b)
	v = append(v, link.version)
	if hid >= 0 {
		v = append(v, byte(hid))
	} else {
		v = append(v, byte(len(link.heuristic)))
		v = append(v, link.heuristic...)
	}
	v = binary.AppendUvarint(v, uint64(link.height))
	if binTxid {
		v = slices.Grow(v, 32)
		for i := 0; i < 64; i += 2 {
			v = append(v, hexVal[txid[i]]<<4|hexVal[txid[i+1]])
		}
	} else {
		v = binary.AppendUvarint(v, uint64(len(txid)))
		v = append(v, txid...)
	}
	if link.extra != "" {
		v = binary.AppendUvarint(v, uint64(len(link.extra)))
		v = append(v, link.extra...)
	}
	size := uint64(len(v) - body)
	var sz [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(sz[:], size)
	if n > 1 { // the body moves to fit the size's n bytes
		v = slices.Insert(v, body, make([]byte, n-1)...)
	}
	copy(v[start+1:], sz[:n])
	return v, nil
}

// heuristicID is the id of a heuristic in linkHeuristics, -1 if it has
// none.
func heuristicID(name string) int {
	for i, h := range linkHeuristics {
		if len(h) == len(name) && h == name {
			return i
		}
	}
	return -1
}

// hexVal is the value of each lowercase hex digit, 0xff for other bytes.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

// lowerHex reports whether s is all lowercase hex digits.
func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if hexVal[s[i]] == 0xff {
			return false
		}
	}
	return true
}

// decodeLinkRec decodes the record of the current format at off from b,
// which holds it (and perhaps more); it returns the record and its length,
// or a length above len(b) and no error when b holds only its start.
func decodeLinkRec(off uint64, b []byte) (linkRec, int, error) {
	bad := func(what string) (linkRec, int, error) {
		return linkRec{}, 0, fmt.Errorf("corrupt record at %d: %s", off, what)
	}
	if len(b) < 2 {
		return bad("truncated")
	}
	flags := b[0]
	size, n := binary.Uvarint(b[1:])
	if n <= 0 || size > 1<<20 {
		return bad("bad size")
	}
	total := 1 + n + int(size)
	if total > len(b) {
		return linkRec{}, total, nil
	}
	p := b[1+n : total]
	r := linkRec{off: off, undone: flags&linkUndone != 0}
	l := &r.link
	l.held = flags&linkHeld != 0
	uv := func() (uint64, bool) {
		x, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return x, true
	}
	d, ok1 := uv()
	seq, ok2 := uv()
	k, ok3 := uv()
	if !ok1 || !ok2 || !ok3 || k > math.MaxUint32 || len(p) < 10 {
		return bad("truncated header")
	}
	if d > off {
		return bad(fmt.Sprintf("previous link %d bytes before the record", d))
	}
	if d != 0 {
		r.prev = off - d
	}
	l.seq, l.k = seq, uint32(k)
	l.a, l.b = binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])
	l.version = p[8]
	p = p[9:]
	if flags&linkHeurID != 0 {
		if int(p[0]) >= len(linkHeuristics) {
			return bad(fmt.Sprintf("heuristic id %d unknown", p[0]))
		}
		l.heuristic = linkHeuristics[p[0]]
		p = p[1:]
	} else {
		hn := int(p[0])
		if len(p) < 1+hn {
			return bad("truncated heuristic")
		}
		l.heuristic = string(p[1 : 1+hn])
		p = p[1+hn:]
	}
	h, ok := uv()
	if !ok || h > math.MaxUint32 {
		return bad("bad height")
	}
	l.height = uint32(h)
	switch {
	case flags&(linkHex|link0xHex) != 0:
		if len(p) < 32 {
			return bad("truncated txid")
		}
		prefix := ""
		if flags&link0xHex != 0 {
			prefix = "0x"
		}
		l.txid = prefix + hex.EncodeToString(p[:32])
		p = p[32:]
	default:
		tn, ok := uv()
		if !ok || tn > uint64(len(p)) {
			return bad("truncated txid")
		}
		l.txid = string(p[:tn])
		p = p[tn:]
	}
	if flags&linkExtra != 0 {
		en, ok := uv()
		if !ok || en == 0 || en > uint64(len(p)) {
			return bad("extra evidence missing")
		}
		l.extra = string(p[:en])
		p = p[en:]
	}
	if len(p) != 0 {
		return bad(fmt.Sprintf("%d bytes after the link", len(p)))
	}
	return r, total, nil
}

// linkRec is one record read back.
type linkRec struct {
	off, prev uint64
	link      storedLink
	undone    bool
}

// read reads the record at off (flushed records only).
func (l *linkLog) read(off uint64) (linkRec, error) {
	if off < uint64(len(linkLogMagic)) || off+linkMinSize > uint64(l.end) {
		return linkRec{}, fmt.Errorf("cluster: link log %s: offset %d outside the log (%d bytes)", l.path, off, l.end)
	}
	if cap(l.buf) < 256 {
		l.buf = make([]byte, 256)
	}
	b := l.buf[:min(uint64(cap(l.buf)), uint64(l.end)-off)]
	if _, err := l.f.ReadAt(b, int64(off)); err != nil && !errors.Is(err, io.EOF) {
		return linkRec{}, fmt.Errorf("cluster: reading link log: %w", err)
	}
	var r linkRec
	var err error
	if l.v1 {
		r, err = l.read1(off, b)
	} else {
		var n int
		r, n, err = decodeLinkRec(off, b)
		if err == nil && n > len(b) {
			if off+uint64(n) > uint64(l.end) {
				err = fmt.Errorf("corrupt record at %d: %d bytes, past the end", off, n)
			} else {
				l.buf = make([]byte, n)
				if _, err := l.f.ReadAt(l.buf, int64(off)); err != nil {
					return linkRec{}, fmt.Errorf("cluster: reading link log: %w", err)
				}
				r, _, err = decodeLinkRec(off, l.buf)
			}
		}
	}
	if err != nil {
		return linkRec{}, fmt.Errorf("cluster: link log %s: %w", l.path, err)
	}
	if r.prev >= off {
		return linkRec{}, fmt.Errorf("cluster: link log %s: record at %d points forward to %d", l.path, off, r.prev)
	}
	return r, nil
}

// read1 decodes a record of the first format at off from b.
func (l *linkLog) read1(off uint64, b []byte) (linkRec, error) {
	if len(b) < linkRecHeader {
		return linkRec{}, fmt.Errorf("corrupt record at %d", off)
	}
	n := uint64(binary.BigEndian.Uint32(b))
	if n < linkRecHeader+15 || off+n > uint64(l.end) {
		return linkRec{}, fmt.Errorf("corrupt record at %d", off)
	}
	if n > uint64(len(b)) {
		l.buf = make([]byte, n)
		b = l.buf
		if _, err := l.f.ReadAt(b, int64(off)); err != nil {
			return linkRec{}, fmt.Errorf("reading: %w", err)
		}
	}
	b = b[:n]
	r := linkRec{off: off, prev: binary.BigEndian.Uint64(b[4:])}
	seq, k := binary.BigEndian.Uint64(b[12:]), binary.BigEndian.Uint32(b[20:])
	body := b[linkRecHeader:]
	r.undone = body[8]&linkUndone != 0
	var err error
	if r.link, err = decodeLink(linkKey(0, seq, k), body); err != nil {
		return linkRec{}, fmt.Errorf("record at %d: %w", off, err)
	}
	return r, nil
}

// setFlag sets flag on the record at off (flushed records only).
func (l *linkLog) setFlag(off uint64, flag byte) error {
	pos := int64(off)
	if l.v1 {
		pos += linkRecHeader + 8
	}
	var b [1]byte
	if _, err := l.f.ReadAt(b[:], pos); err != nil {
		return fmt.Errorf("cluster: reading link log: %w", err)
	}
	b[0] |= flag
	if _, err := l.f.WriteAt(b[:], pos); err != nil {
		return fmt.Errorf("cluster: writing link log: %w", err)
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
			return fmt.Errorf("cluster: moving links to the link log: %w", err)
		}
		if l.a != binary.BigEndian.Uint32(it.Key()[1:]) || l.seq > s.lastSeq {
			continue
		}
		if int(l.a) >= s.f.Len() {
			it.Close()
			return fmt.Errorf("cluster: moving links to the link log: link of event %d has address id %d beyond the %d ids", l.seq, l.a, s.f.Len())
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
