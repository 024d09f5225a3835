package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
)

// Keys of the Pebble index under DATA/trace/btc/index:
//
//	'a' address              → id: no longer written (the address map, addrmap.go, answers lookups)
//	'i' id                   → address: indexes before the address log (addrlog.go) only; moved there on open
//	'n'                      → next id
//	'l' id seq k             → a link of id: indexes before the link log (linklog.go) only; moved there on open
//	'e'                      → ends of the link log and of the address log (2×8 bytes, big endian)
//	'b' seq                  → the links of the block event seq (blockRecord)
//	'h' hash seq             → nothing: block hash connected by event seq
//
// seq is the stream sequence of the event that drew the link, k the link's
// number within that event. The links themselves are in the link log, each
// reachable from its A end only: an undo rebuilds whole clusters, and a
// link that is not held has both ends in one cluster, so the A ends of the
// members find every link to replay.
const (
	keyAddr  = 'a'
	keyID    = 'i'
	keyNext  = 'n'
	keyLink  = 'l'
	keyBlock = 'b'
	keyHash  = 'h'
	keyLog   = 'e'
)

// State is the clusterer's state: in memory the union-find forest with the
// link log's heads, and the address → id map (both saved in snapshots); on
// disk the address log (id → address), the link log and the Pebble index
// (next id, the logs' ends, block records). Events are applied in stream
// order with Connect and Disconnect; Commit writes the logs and the Pebble
// batch, Snapshot the forest and the map.
type State struct {
	dir     string
	db      *pebble.DB
	b       *pebble.Batch
	f       Forest
	nextID  uint32
	lastSeq uint64 // stream sequence of the last applied event
	h       heuristic.Config
	// Supercluster: a merge of two clusters both larger than this is held
	// instead of applied; 0 holds nothing.
	supercluster uint32
	log          *slog.Logger
	links        []heuristic.Link
	change       []heuristic.Link
	block        []blockLink // connectBatched's buffers
	block2       []blockLink
	links2       []heuristic.Link
	recs         [][3]uint32
	sink         uint32 // what connectBatched's warming reads add up to
	oneAtATime   bool   // tests: Connect without connectBatched
	// m maps every address with an id to it (addrmap.go). newAddrs are
	// the addresses of the ids from committed on, not yet in the index.
	m         addrMap
	newAddrs  []string
	committed uint32
	// The address ID resolved last, and its id.
	lastAddr string
	lastID   uint32
	// The link log, and per address id the offset of the last link drawn
	// from it (0: none; saved in the forest snapshot).
	llog  *linkLog
	heads []uint64
	// alog holds the address of every id (addrlog.go).
	alog *addrLog
	// spilled is the result of the batch being committed in the
	// background (spill), nil when none is.
	spilled chan error
	// synced: the next id and the ends of the link and address logs at
	// their last sync, what the index may record (setNext).
	synced [3]uint64
	// eth is the Ethereum deposit heuristic's state (eth.go); nil on
	// Bitcoin.
	eth *ethState
}

// OpenState opens (or creates) the state in dir and loads the latest
// snapshot of the forest.
func OpenState(dir string, h heuristic.Config, supercluster uint32, log *slog.Logger) (*State, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: state directory: %w", err)
	}
	// A 64 MiB memtable: the address ids arrive in order, and fewer,
	// larger flushes leave less to compact.
	o := &pebble.Options{Cache: pebble.NewCache(64 << 20), MemTableSize: 64 << 20, Logger: pebbleLogger{log}}
	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].FilterType = pebble.TableFilter
	}
	db, err := pebble.Open(filepath.Join(dir, "index"), o)
	if err != nil {
		return nil, fmt.Errorf("cluster: opening address index in %s: %w", dir, err)
	}
	s := &State{dir: dir, db: db, h: h, supercluster: supercluster, log: log}
	v, closer, err := db.Get([]byte{keyNext})
	switch {
	case err == nil:
		s.nextID = binary.BigEndian.Uint32(v)
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		db.Close()
		return nil, fmt.Errorf("cluster: reading next id: %w", err)
	}
	var linkEnd, addrEnd int64
	switch v, closer, err := db.Get([]byte{keyLog}); {
	case err == nil && len(v) == 16:
		linkEnd, addrEnd = int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
		closer.Close()
	case err == nil:
		closer.Close()
		db.Close()
		return nil, fmt.Errorf("cluster: the index's log ends are %d bytes, want 16", len(v))
	case !errors.Is(err, pebble.ErrNotFound):
		db.Close()
		return nil, fmt.Errorf("cluster: reading the ends of the logs: %w", err)
	}
	if s.llog, err = openLinkLog(filepath.Join(dir, linkLogFile), linkEnd); err != nil {
		db.Close()
		return nil, err
	}
	if s.alog, err = openAddrLog(filepath.Join(dir, addrLogFile), addrEnd); err != nil {
		s.llog.close()
		db.Close()
		return nil, err
	}
	fail := func(err error) (*State, error) {
		s.llog.close()
		s.alog.close()
		db.Close()
		s.free()
		return nil, err
	}
	s.b = db.NewBatch()
	if err := s.loadSnapshot(); err != nil {
		return fail(err)
	}
	for id, h := range s.heads {
		if h != 0 && int64(h)+linkMinSize > s.llog.end {
			return fail(fmt.Errorf("cluster: snapshot: address id %d has its links at %d, beyond the link log's %d bytes", id, h, s.llog.end))
		}
	}
	if addrEnd == 0 && s.nextID > 0 {
		if err := s.migrateAddresses(); err != nil {
			return fail(err)
		}
	}
	if err := s.loadAddrMap(); err != nil {
		return fail(err)
	}
	s.f.Grow(int(s.nextID))
	s.committed = s.nextID
	if err := s.migrateLinks(); err != nil {
		return fail(err)
	}
	return s, nil
}

// LastSeq is the stream sequence of the last applied event.
func (s *State) LastSeq() uint64 { return s.lastSeq }

// Addresses is the number of address ids given out.
func (s *State) Addresses() int { return int(s.nextID) }

// Forest exposes the union-find (read only).
func (s *State) Forest() *Forest { return &s.f }

// Close commits and closes the index; it does not snapshot.
func (s *State) Close() error {
	err := s.Commit(true)
	if err == nil {
		// A flushed memtable makes the next open quick (no WAL replay).
		err = s.db.Flush()
	}
	err = errors.Join(err, s.llog.close(), s.alog.close(), s.db.Close())
	s.free()
	return err
}

// free gives back the memory of the forest, the heads and the address map
// (mapped_linux.go); the state is unusable after.
func (s *State) free() {
	s.f.free()
	mappedFree(s.heads)
	s.heads = nil
	s.m.free()
}

// Commit writes the pending index batch, synced when sync is set.
func (s *State) Commit(sync bool) (err error) {
	if err := s.waitSpill(); err != nil {
		return err
	}
	// The logs before the index that says where they end.
	if sync {
		err = errors.Join(s.llog.sync(), s.alog.sync())
	} else {
		err = errors.Join(s.llog.flush(), s.alog.flush())
	}
	if err != nil {
		return err
	}
	if err := s.setNext(sync); err != nil {
		return err
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := s.b.Commit(opt); err != nil {
		return fmt.Errorf("cluster: writing the address index: %w", err)
	}
	s.b.Close()
	s.b = s.db.NewBatch()
	clear(s.newAddrs)
	s.newAddrs = s.newAddrs[:0]
	s.committed = s.nextID
	return nil
}

// setNext records the next id and the ends of the logs as of their last
// sync (synced: now). The index never claims more of a log than its disk
// holds, even when a crash of the machine keeps an unsynced write of the
// index and loses the logs': ids and links beyond are those of events after
// the snapshot, which the replay draws again.
func (s *State) setNext(synced bool) error {
	if synced {
		s.synced = [3]uint64{uint64(s.nextID), uint64(s.llog.end), uint64(s.alog.end)}
	}
	if s.synced[1] == 0 {
		// Nothing synced yet in this process: the ends as opened.
		return nil
	}
	var buf [16]byte
	binary.BigEndian.PutUint32(buf[:4], uint32(s.synced[0]))
	if err := s.b.Set([]byte{keyNext}, buf[:4], nil); err != nil {
		return err
	}
	binary.BigEndian.PutUint64(buf[:], s.synced[1])
	binary.BigEndian.PutUint64(buf[8:], s.synced[2])
	return s.b.Set([]byte{keyLog}, buf[:], nil)
}

// spillBytes: a batch this large is committed in the background while the
// next blocks are applied (the memtable inserts take about as long as
// applying the blocks, and there are two cores).
const spillBytes = 4 << 20

// maybeSpill hands a large batch of whole events to a goroutine that
// commits it (no sync), one at a time and in order. Only Commit makes ids
// readable (newAddrs and committed move there), so reads never depend on
// a spill.
func (s *State) maybeSpill() error {
	if s.b.Len() < spillBytes {
		return nil
	}
	if err := s.waitSpill(); err != nil {
		return err
	}
	if err := errors.Join(s.llog.flush(), s.alog.flush()); err != nil {
		return err
	}
	b, done := s.b, make(chan error, 1)
	s.b, s.spilled = s.db.NewBatch(), done
	go func() {
		err := b.Commit(pebble.NoSync)
		b.Close()
		done <- err
	}()
	return nil
}

// waitSpill waits for the batch being committed in the background.
func (s *State) waitSpill() error {
	if s.spilled == nil {
		return nil
	}
	err := <-s.spilled
	s.spilled = nil
	if err != nil {
		return fmt.Errorf("cluster: writing the address index: %w", err)
	}
	return nil
}

// get reads the committed index: the pending batch is not indexed (a cheaper
// write path), so what a read needs is either in newAddrs or committed
// first.
func (s *State) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, true, nil
}

// ID returns the id of address, giving it the next id if it has none.
func (s *State) ID(address string) (uint32, error) {
	if address == "" {
		return 0, errors.New("cluster: an empty address gets no id")
	}
	if address == s.lastAddr {
		return s.lastID, nil // a multi-input star names its first input again and again
	}
	h, c := fingerprint(address)
	return s.idOf(address, h, c)
}

// idOf is ID for an address with fingerprint (h, c).
func (s *State) idOf(address string, h uint64, c uint32) (uint32, error) {
	if address == "" {
		return 0, errors.New("cluster: an empty address gets no id")
	}
	id, ok := s.m.get(h, c)
	if ok {
		s.lastAddr, s.lastID = address, id
		return id, nil
	}
	if s.nextID == ^uint32(0) {
		return 0, errors.New("cluster: address ids exhausted (2^32-1)")
	}
	id = s.nextID
	if err := s.alog.append(address); err != nil {
		return 0, err
	}
	s.nextID++
	s.m.put(h, c, id)
	s.newAddrs = append(s.newAddrs, address)
	s.f.Grow(int(s.nextID))
	s.lastAddr, s.lastID = address, id
	return id, nil
}

// seen reports whether address has an id, i.e. appeared before.
func (s *State) seen(address string) bool {
	_, ok := s.m.get(fingerprint(address))
	return ok
}

// LookupID returns the id of a known address. The error is always nil
// (the map is in memory); it stays for callers written against the index.
func (s *State) LookupID(address string) (uint32, bool, error) {
	id, ok := s.m.get(fingerprint(address))
	return id, ok, nil
}

// Address returns the address of id.
func (s *State) Address(id uint32) (string, error) {
	if id >= s.committed && id < s.nextID {
		return s.newAddrs[id-s.committed], nil
	}
	return s.alog.get(id)
}

// Merge is the evidence of one union: the link that joined two clusters.
type Merge struct {
	Seq       uint64 // stream sequence of the event that applied it
	Height    int64
	BlockHash string
	Txid      string
	Heuristic string
	Version   int
	AddrA     string
	AddrB     string
	ClusterA  uint32 // roots before the merge
	ClusterB  uint32
	SizeA     uint32
	SizeB     uint32
	Cluster   uint32 // root after the merge
	Held      bool   // supercluster guard: recorded, not applied
	// Extra evidence of a chain's heuristic (Ethereum: the sweep, see
	// eth.go); empty on Bitcoin.
	Extra string
}

// Changes is what applying events changed: the evidence to store and the
// ids whose rows must be rewritten.
type Changes struct {
	Merges []Merge
	Held   []Merge
	// Dirty ids: their cluster may have changed. DirtyRoots: clusters whose
	// size may have changed (absorbed roots get size 0).
	Dirty      IDSet
	DirtyRoots IDSet
	Links      int // links drawn, merging or not
	Seq        uint64
	Height     int64
}

// NewChanges returns empty changes.
func NewChanges() *Changes {
	return &Changes{}
}

// Reset empties c for reuse.
func (c *Changes) Reset() {
	c.Merges, c.Held = c.Merges[:0], c.Held[:0]
	c.Dirty.Reset()
	c.DirtyRoots.Reset()
	c.Links, c.Seq, c.Height = 0, 0, 0
}

// Empty reports whether nothing changed.
func (c *Changes) Empty() bool {
	return len(c.Merges) == 0 && len(c.Held) == 0 && c.Dirty.Len() == 0 && c.DirtyRoots.Len() == 0
}

// storedLink is one link as the index keeps it.
type storedLink struct {
	a, b      uint32
	seq       uint64
	k         uint32
	held      bool
	heuristic string
	version   uint8
	txid      string
	height    uint32
	extra     string // Merge.Extra; stored after the txid and a NUL (flag 2)
}

func linkKey(id uint32, seq uint64, k uint32) []byte {
	return appendLinkKey(make([]byte, 0, 17), id, seq, k)
}

func appendLinkKey(key []byte, id uint32, seq uint64, k uint32) []byte {
	key = append(key, keyLink)
	key = binary.BigEndian.AppendUint32(key, id)
	key = binary.BigEndian.AppendUint64(key, seq)
	return binary.BigEndian.AppendUint32(key, k)
}

// growHeads gives every id of the forest a link head.
func (s *State) growHeads() {
	n := s.f.Len()
	if n <= len(s.heads) {
		return
	}
	if n > cap(s.heads) {
		// As much room as the forest has: a grow per forest grow.
		s.heads = mappedGrow(s.heads, max(n, s.f.cap()))
	}
	s.heads = s.heads[:n]
}

// setLink appends l to the link log, reachable from its A end.
func (s *State) setLink(l *storedLink) error {
	if int(l.a) >= len(s.heads) {
		s.growHeads()
	}
	off, err := s.llog.append(s.heads[l.a], l)
	if err != nil {
		return err
	}
	s.heads[l.a] = off
	return nil
}

// head is the offset of the last link drawn from id (0: none).
func (s *State) head(id uint32) uint64 {
	if int(id) < len(s.heads) {
		return s.heads[id]
	}
	return 0
}

// findLink returns the offset of link k of event seq drawn from a, or 0.
// A's links come newest first.
func (s *State) findLink(a uint32, seq uint64, k uint32) (uint64, error) {
	for off := s.head(a); off != 0; {
		r, err := s.llog.read(off)
		if err != nil {
			return 0, err
		}
		if r.link.seq == seq && r.link.k == k {
			return off, nil
		}
		if r.link.seq < seq {
			break
		}
		off = r.prev
	}
	return 0, nil
}

func encodeLink(l *storedLink) []byte {
	return appendLink(make([]byte, 0, 16+len(l.heuristic)+len(l.txid)+len(l.extra)), l)
}

func appendLink(v []byte, l *storedLink) []byte {
	v = binary.BigEndian.AppendUint32(v, l.a)
	v = binary.BigEndian.AppendUint32(v, l.b)
	flags := byte(0)
	if l.held {
		flags = 1
	}
	if l.extra != "" {
		flags |= 2
	}
	v = append(v, flags, l.version, byte(len(l.heuristic)))
	v = append(v, l.heuristic...)
	v = binary.BigEndian.AppendUint32(v, l.height)
	v = append(v, l.txid...)
	if l.extra != "" {
		v = append(v, 0)
		v = append(v, l.extra...)
	}
	return v
}

func decodeLink(key, v []byte) (storedLink, error) {
	if len(key) != 17 || len(v) < 15 || len(v) < 15+int(v[10]) {
		return storedLink{}, fmt.Errorf("cluster: corrupt link entry %x", key)
	}
	l := storedLink{
		seq: binary.BigEndian.Uint64(key[5:]), k: binary.BigEndian.Uint32(key[13:]),
		a: binary.BigEndian.Uint32(v), b: binary.BigEndian.Uint32(v[4:]),
		held: v[8]&1 != 0, version: v[9],
	}
	n := int(v[10])
	l.heuristic = string(v[11 : 11+n])
	l.height = binary.BigEndian.Uint32(v[11+n:])
	l.txid = string(v[15+n:])
	if v[8]&2 != 0 {
		txid, extra, ok := strings.Cut(l.txid, "\x00")
		if !ok || extra == "" {
			return storedLink{}, fmt.Errorf("cluster: corrupt link entry %x: extra evidence missing", key)
		}
		l.txid, l.extra = txid, extra
	}
	return l, nil
}

func blockKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{keyBlock}, seq)
}

func hashKey(hash string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{keyHash}, hash...), seq)
}

// blockRecord: hash, height, then (a, b, k) of every link of the block.
func encodeBlock(hash string, height int64, links [][3]uint32) []byte {
	v := make([]byte, 0, 2+len(hash)+8+12*len(links))
	v = append(v, byte(len(hash)))
	v = append(v, hash...)
	v = binary.BigEndian.AppendUint64(v, uint64(height))
	for _, l := range links {
		v = binary.BigEndian.AppendUint32(v, l[0])
		v = binary.BigEndian.AppendUint32(v, l[1])
		v = binary.BigEndian.AppendUint32(v, l[2])
	}
	return v
}

func decodeBlock(v []byte) (hash string, height int64, links [][3]uint32, err error) {
	if len(v) < 1 || len(v) < 9+int(v[0]) || (len(v)-9-int(v[0]))%12 != 0 {
		return "", 0, nil, errors.New("cluster: corrupt block record")
	}
	n := int(v[0])
	hash = string(v[1 : 1+n])
	height = int64(binary.BigEndian.Uint64(v[1+n:]))
	for p := 9 + n; p < len(v); p += 12 {
		links = append(links, [3]uint32{binary.BigEndian.Uint32(v[p:]), binary.BigEndian.Uint32(v[p+4:]), binary.BigEndian.Uint32(v[p+8:])})
	}
	return hash, height, links, nil
}

// apply unites the clusters of a link's two ends, or holds the merge, and
// records the evidence in ch.
func (s *State) apply(ch *Changes, l *storedLink, addrA, addrB, hash string, seq uint64) bool {
	ra, rb := s.f.Find(l.a), s.f.Find(l.b)
	if ra == rb {
		return false
	}
	m := Merge{Seq: seq, Height: int64(l.height), BlockHash: hash, Txid: l.txid, Heuristic: l.heuristic, Version: int(l.version),
		AddrA: addrA, AddrB: addrB, ClusterA: ra, ClusterB: rb, SizeA: s.f.size[ra], SizeB: s.f.size[rb], Extra: l.extra}
	if s.supercluster > 0 && m.SizeA > s.supercluster && m.SizeB > s.supercluster {
		m.Held = true
		l.held = true
		ch.Held = append(ch.Held, m)
		s.log.Warn("supercluster merge held", "txid", l.txid, "heuristic", l.heuristic, "cluster_a", ra, "size_a", m.SizeA, "cluster_b", rb, "size_b", m.SizeB)
		return false
	}
	// Union by size rewrites the smaller side only: the larger side's
	// members have their rows already, unless it is a lone address.
	root, absorbed := s.f.Order(ra, rb)
	s.f.Members(absorbed, func(x uint32) bool {
		ch.Dirty.Add(x)
		return true
	})
	if s.f.size[root] == 1 {
		ch.Dirty.Add(root)
	}
	s.f.Union(root, absorbed)
	m.Cluster = root
	ch.Merges = append(ch.Merges, m)
	ch.DirtyRoots.Add(root)
	ch.DirtyRoots.Add(absorbed)
	return true
}

// Connect applies the links of a block event with stream sequence seq.
// An event at or below LastSeq was applied before and is skipped, so a
// redelivery changes nothing.
func (s *State) Connect(seq uint64, b *chain.Block, ch *Changes) error {
	if seq <= s.lastSeq {
		return nil
	}
	if b.Height < 0 || b.Height > 1<<32-1 {
		return fmt.Errorf("cluster: block %s: height %d out of range", b.Hash, b.Height)
	}
	if err := s.maybeSpill(); err != nil {
		return err
	}
	if s.eth != nil {
		return s.connectETH(seq, b, ch)
	}
	if !s.h.Change && !s.oneAtATime {
		return s.connectBatched(seq, b, ch)
	}
	var recs [][3]uint32
	var k uint32
	for i := range b.Txs {
		tx := &b.Txs[i]
		s.links = s.h.Links(s.links, tx)
		if s.h.Change {
			s.change = s.h.ChangeLinks(s.change, tx, s.seen)
			s.links = append(s.links, s.change...)
			// Every output address is now seen: the one-time change rule
			// asks whether an address appeared before.
			for j := range tx.Outputs {
				if a := tx.Outputs[j].Address; a != "" {
					if _, err := s.ID(a); err != nil {
						return err
					}
				}
			}
		}
		for _, hl := range s.links {
			rec, err := s.drawLink(ch, hl, tx.Txid, "", uint32(b.Height), b.Hash, seq, k)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
			k++
		}
	}
	return s.connected(seq, b, recs, ch)
}

// blockLink is a link of the block being connected, with its ends'
// fingerprints and then ids.
type blockLink struct {
	heuristic.Link
	tx       int // index in the block
	ha, hb   uint64
	ca, cb   uint32
	idA, idB uint32
}

// blockLinks appends the links of transactions from to to of b, with
// their ends' fingerprints, to dst; links is a buffer it returns for
// reuse. It reads only b and the heuristics' configuration.
func (s *State) blockLinks(dst []blockLink, b *chain.Block, from, to int, links []heuristic.Link) ([]blockLink, []heuristic.Link) {
	for i := from; i < to; i++ {
		links = s.h.Links(links, &b.Txs[i])
		prevA, prevH, prevC := "", uint64(0), uint32(0)
		for _, hl := range links {
			l := blockLink{Link: hl, tx: i}
			if l.A == prevA { // a star names its first input again and again
				l.ha, l.ca = prevH, prevC
			} else {
				l.ha, l.ca = fingerprint(l.A)
				prevA, prevH, prevC = l.A, l.ha, l.ca
			}
			l.hb, l.cb = fingerprint(l.B)
			dst = append(dst, l)
		}
	}
	return dst, links
}

// connectBatched applies a block's links in the order Connect draws them,
// in passes over the whole block: every link's ends are fingerprinted and
// their address-map slots read (independent loads, which the CPU overlaps,
// where resolving one address at a time waits for each cache miss in
// turn), then the ids are resolved (and new ones given) in link order,
// the forest entries of the ids read the same way, and the links applied
// in order. The ids, merges and records are those of the one-at-a-time
// path (which the change heuristic needs: it asks per transaction whether
// an output address was seen before).
func (s *State) connectBatched(seq uint64, b *chain.Block, ch *Changes) error {
	// The links and fingerprints of a large block's second half on
	// another goroutine (they depend on nothing but the block).
	half := len(b.Txs)
	var second chan []blockLink
	if len(b.Txs) >= 1024 {
		half = len(b.Txs) / 2
		second = make(chan []blockLink, 1)
		buf, links := s.block2[:0], s.links2
		go func() {
			bl, links := s.blockLinks(buf, b, half, len(b.Txs), links)
			s.links2 = links // read after the channel's receive
			second <- bl
		}()
	}
	bl, links := s.blockLinks(s.block[:0], b, 0, half, s.links)
	s.links = links
	if second != nil {
		more := <-second
		bl = append(bl, more...)
		s.block2 = more
	}
	s.block = bl
	// A loop of loads alone: the CPU keeps many of them in flight.
	var sink uint32
	for j := range bl {
		sink += s.m.touch(bl[j].ha) + s.m.touch(bl[j].hb)
	}
	for j := range bl {
		l := &bl[j]
		var err error
		if l.idA, err = s.idOf(l.A, l.ha, l.ca); err != nil {
			return err
		}
		if l.idB, err = s.idOf(l.B, l.hb, l.cb); err != nil {
			return err
		}
	}
	s.growHeads()
	for j := range bl {
		a, b := bl[j].idA, bl[j].idB
		sink += s.f.touch(a) + s.f.touch(b) + uint32(s.heads[a])
	}
	s.sink = sink
	recs := s.recs[:0]
	for j := range bl {
		l := &bl[j]
		tx := &b.Txs[l.tx]
		sl := storedLink{a: l.idA, b: l.idB, seq: seq, k: uint32(j), heuristic: l.Heuristic, version: uint8(l.Version), txid: tx.Txid, height: uint32(b.Height)}
		s.apply(ch, &sl, l.A, l.B, b.Hash, seq)
		if err := s.setLink(&sl); err != nil {
			return err
		}
		ch.Links++
		recs = append(recs, [3]uint32{l.idA, l.idB, uint32(j)})
	}
	s.recs = recs
	return s.connected(seq, b, recs, ch)
}

// drawLink records link number k of the block event seq, drawn by
// transaction txid at height, and applies it.
func (s *State) drawLink(ch *Changes, hl heuristic.Link, txid, extra string, height uint32, hash string, seq uint64, k uint32) ([3]uint32, error) {
	a, err := s.ID(hl.A)
	if err != nil {
		return [3]uint32{}, err
	}
	bid, err := s.ID(hl.B)
	if err != nil {
		return [3]uint32{}, err
	}
	l := storedLink{a: a, b: bid, seq: seq, k: k, heuristic: hl.Heuristic, version: uint8(hl.Version), txid: txid, height: height, extra: extra}
	s.apply(ch, &l, hl.A, hl.B, hash, seq)
	if err := s.setLink(&l); err != nil {
		return [3]uint32{}, err
	}
	ch.Links++
	return [3]uint32{a, bid, k}, nil
}

// connected records the block event seq with its links.
func (s *State) connected(seq uint64, b *chain.Block, recs [][3]uint32, ch *Changes) error {
	if err := s.b.Set(blockKey(seq), encodeBlock(b.Hash, b.Height, recs), nil); err != nil {
		return err
	}
	if err := s.b.Set(hashKey(b.Hash, seq), nil, nil); err != nil {
		return err
	}
	s.lastSeq, ch.Seq, ch.Height = seq, seq, b.Height
	return nil
}

// Disconnect undoes the block with this hash (event seq): its links are
// removed, and the clusters they touched are rebuilt from singletons by
// replaying the remaining links of their members in chain order.
func (s *State) Disconnect(seq uint64, hash string, ch *Changes) error {
	if seq <= s.lastSeq {
		return nil
	}
	// Reads below see the committed index only.
	if err := s.Commit(false); err != nil {
		return err
	}
	// The block event that connected this hash last before seq.
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: hashKey(hash, 0), UpperBound: hashKey(hash, seq)})
	if err != nil {
		return err
	}
	var bseq uint64
	if it.Last() {
		k := it.Key()
		bseq = binary.BigEndian.Uint64(k[len(k)-8:])
	}
	if err := it.Close(); err != nil {
		return err
	}
	s.lastSeq, ch.Seq = seq, seq
	if bseq == 0 {
		s.log.Debug("undo of a block without recorded links", "hash", hash)
		return nil
	}
	v, ok, err := s.get(blockKey(bseq))
	if err != nil || !ok {
		return fmt.Errorf("cluster: undo of %s: block record of event %d missing: %v", hash, bseq, err)
	}
	_, height, recs, err := decodeBlock(v)
	if err != nil {
		return fmt.Errorf("cluster: undo of %s: %w", hash, err)
	}
	ch.Height = height - 1
	if s.eth != nil {
		if err := s.eth.undo(s, seq, bseq); err != nil {
			return fmt.Errorf("cluster: undo of %s: %w", hash, err)
		}
	}
	// Keep the block record and its hash entry: a replay after a restart
	// from an older snapshot undoes the block again from them.
	roots := map[uint32]struct{}{}
	for _, r := range recs {
		off, err := s.findLink(r[0], bseq, r[2])
		if err != nil {
			return fmt.Errorf("cluster: undo of %s: %w", hash, err)
		}
		if off == 0 {
			return fmt.Errorf("cluster: undo of %s: link %d of event %d (address id %d) is not in the link log", hash, r[2], bseq, r[0])
		}
		if err := s.llog.setFlag(off, linkUndone); err != nil {
			return err
		}
		roots[s.f.Find(r[0])] = struct{}{}
		roots[s.f.Find(r[1])] = struct{}{}
	}
	if len(recs) == 0 {
		return nil
	}
	if err := s.Commit(false); err != nil {
		return err
	}
	var members []uint32
	for r := range roots {
		s.f.Members(r, func(x uint32) bool {
			members = append(members, x)
			return true
		})
	}
	// Links of the members drawn before this undo, each once (from its A
	// end), in chain order.
	var links []linkRec
	for _, m := range members {
		for off := s.head(m); off != 0; {
			r, err := s.llog.read(off)
			if err != nil {
				return fmt.Errorf("cluster: undo of %s: %w", hash, err)
			}
			if r.link.a != m {
				return fmt.Errorf("cluster: undo of %s: link log record at %d is a link of id %d, found from id %d", hash, off, r.link.a, m)
			}
			if !r.undone && !r.link.held && r.link.seq < seq {
				links = append(links, r)
			}
			off = r.prev
		}
	}
	slices.SortFunc(links, func(x, y linkRec) int {
		if x.link.seq != y.link.seq {
			if x.link.seq < y.link.seq {
				return -1
			}
			return 1
		}
		return int(int64(x.link.k) - int64(y.link.k))
	})
	s.f.Reset(members)
	for _, m := range members {
		ch.Dirty.Add(m)
		ch.DirtyRoots.Add(m)
	}
	hashes := map[uint64]string{}
	for i := range links {
		l := &links[i].link
		bh, ok := hashes[l.seq]
		if !ok {
			v, found, err := s.get(blockKey(l.seq))
			if err != nil || !found {
				return fmt.Errorf("cluster: undo of %s: block record of event %d missing: %v", hash, l.seq, err)
			}
			if bh, _, _, err = decodeBlock(v); err != nil {
				return err
			}
			hashes[l.seq] = bh
		}
		if s.f.Find(l.a) == s.f.Find(l.b) {
			continue
		}
		addrA, err := s.Address(l.a)
		if err != nil {
			return err
		}
		addrB, err := s.Address(l.b)
		if err != nil {
			return err
		}
		wasHeld := l.held
		s.apply(ch, l, addrA, addrB, bh, seq)
		if l.held && !wasHeld {
			if err := s.llog.setFlag(links[i].off, 1); err != nil {
				return err
			}
		}
	}
	// Replayed merges keep the height of their link, the evidence is the
	// same transaction; Merge.Seq says when it was applied again.
	return nil
}

// pebbleLogger sends Pebble's chatter (WAL replays, compactions) to debug.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
	os.Exit(1)
}
