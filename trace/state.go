package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"

	"github.com/tracerproject/tracer/ingest"
	"github.com/tracerproject/tracer/trace/heuristic"
)

// Keys of the Pebble index under DATA/trace/btc/index:
//
//	'a' address              → id (4 bytes, big endian)
//	'i' id                   → address
//	'n'                      → next id
//	'l' id seq k             → a link of id (see encodeLink); one entry per end
//	'b' seq                  → the links of the block event seq (blockRecord)
//	'h' hash seq             → nothing: block hash connected by event seq
//
// seq is the stream sequence of the event that drew the link, k the link's
// number within that event.
const (
	keyAddr  = 'a'
	keyID    = 'i'
	keyNext  = 'n'
	keyLink  = 'l'
	keyBlock = 'b'
	keyHash  = 'h'
)

// State is the clusterer's state: the address ids and links in Pebble, and
// the union-find forest in memory (saved in snapshots). Events are applied
// in stream order with Connect and Disconnect; Commit writes the Pebble
// batch, Snapshot the forest.
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
	// New ids of the uncommitted batch, and a cache of recently used ids:
	// most inputs spend addresses seen shortly before.
	pending    map[string]uint32
	pendingRev map[uint32]string
	cache      *idCache
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
		return nil, fmt.Errorf("trace: state directory: %w", err)
	}
	o := &pebble.Options{Cache: pebble.NewCache(64 << 20), MemTableSize: 32 << 20, Logger: pebbleLogger{log}}
	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		o.Levels[i].FilterType = pebble.TableFilter
	}
	db, err := pebble.Open(filepath.Join(dir, "index"), o)
	if err != nil {
		return nil, fmt.Errorf("trace: opening address index in %s: %w", dir, err)
	}
	s := &State{dir: dir, db: db, h: h, supercluster: supercluster, log: log,
		pending: map[string]uint32{}, pendingRev: map[uint32]string{}, cache: newIDCache(cacheAddresses)}
	v, closer, err := db.Get([]byte{keyNext})
	switch {
	case err == nil:
		s.nextID = binary.BigEndian.Uint32(v)
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		db.Close()
		return nil, fmt.Errorf("trace: reading next id: %w", err)
	}
	if err := s.loadSnapshot(); err != nil {
		db.Close()
		return nil, err
	}
	s.f.Grow(int(s.nextID))
	s.b = db.NewBatch()
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
	return errors.Join(err, s.db.Close())
}

// Commit writes the pending index batch, synced when sync is set.
func (s *State) Commit(sync bool) error {
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], s.nextID)
	if err := s.b.Set([]byte{keyNext}, buf[:], nil); err != nil {
		return err
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := s.b.Commit(opt); err != nil {
		return fmt.Errorf("trace: writing the address index: %w", err)
	}
	s.b.Close()
	s.b = s.db.NewBatch()
	clear(s.pending)
	clear(s.pendingRev)
	return nil
}

// get reads the committed index: the pending batch is not indexed (a cheaper
// write path), so what a read needs is either in pending/pendingRev (new
// ids) or committed first.
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
	id, ok, err := s.LookupID(address)
	if err != nil {
		return 0, err
	}
	if ok {
		return id, nil
	}
	key := append([]byte{keyAddr}, address...)
	if s.nextID == ^uint32(0) {
		return 0, errors.New("trace: address ids exhausted (2^32-1)")
	}
	id = s.nextID
	s.nextID++
	s.pending[address] = id
	s.pendingRev[id] = address
	s.cache.put(address, id)
	var buf [5]byte
	binary.BigEndian.PutUint32(buf[:4], id)
	if err := s.b.Set(key, buf[:4], nil); err != nil {
		return 0, err
	}
	buf[0] = keyID
	binary.BigEndian.PutUint32(buf[1:], id)
	if err := s.b.Set(buf[:], []byte(address), nil); err != nil {
		return 0, err
	}
	s.f.Grow(int(s.nextID))
	return id, nil
}

// seen reports whether address has an id, i.e. appeared before.
func (s *State) seen(address string) bool {
	_, ok, err := s.LookupID(address)
	return ok || err != nil // on a read error, claim seen: no change link
}

// LookupID returns the id of a known address.
func (s *State) LookupID(address string) (uint32, bool, error) {
	if id, ok := s.cache.get(address); ok {
		return id, true, nil
	}
	if id, ok := s.pending[address]; ok {
		return id, true, nil
	}
	v, ok, err := s.get(append([]byte{keyAddr}, address...))
	if err != nil {
		return 0, false, fmt.Errorf("trace: looking up address %s: %w", address, err)
	}
	if !ok {
		return 0, false, nil
	}
	id := binary.BigEndian.Uint32(v)
	s.cache.put(address, id)
	return id, true, nil
}

// Address returns the address of id.
func (s *State) Address(id uint32) (string, error) {
	if a, ok := s.pendingRev[id]; ok {
		return a, nil
	}
	var key [5]byte
	key[0] = keyID
	binary.BigEndian.PutUint32(key[1:], id)
	v, ok, err := s.get(key[:])
	if err != nil {
		return "", fmt.Errorf("trace: address of id %d: %w", id, err)
	}
	if !ok {
		return "", fmt.Errorf("trace: address id %d is not in the index", id)
	}
	return string(v), nil
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
}

// Changes is what applying events changed: the evidence to store and the
// ids whose rows must be rewritten.
type Changes struct {
	Merges []Merge
	Held   []Merge
	// Dirty ids: their cluster may have changed. DirtyRoots: clusters whose
	// size may have changed (absorbed roots get size 0).
	Dirty      map[uint32]struct{}
	DirtyRoots map[uint32]struct{}
	Links      int // links drawn, merging or not
	Seq        uint64
	Height     int64
}

// NewChanges returns empty changes.
func NewChanges() *Changes {
	return &Changes{Dirty: map[uint32]struct{}{}, DirtyRoots: map[uint32]struct{}{}}
}

// Reset empties c for reuse.
func (c *Changes) Reset() {
	c.Merges, c.Held = c.Merges[:0], c.Held[:0]
	clear(c.Dirty)
	clear(c.DirtyRoots)
	c.Links, c.Seq, c.Height = 0, 0, 0
}

// Empty reports whether nothing changed.
func (c *Changes) Empty() bool {
	return len(c.Merges) == 0 && len(c.Held) == 0 && len(c.Dirty) == 0 && len(c.DirtyRoots) == 0
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
}

func linkKey(id uint32, seq uint64, k uint32) []byte {
	key := make([]byte, 17)
	key[0] = keyLink
	binary.BigEndian.PutUint32(key[1:], id)
	binary.BigEndian.PutUint64(key[5:], seq)
	binary.BigEndian.PutUint32(key[13:], k)
	return key
}

func encodeLink(l *storedLink) []byte {
	v := make([]byte, 0, 16+len(l.heuristic)+len(l.txid))
	v = binary.BigEndian.AppendUint32(v, l.a)
	v = binary.BigEndian.AppendUint32(v, l.b)
	flags := byte(0)
	if l.held {
		flags = 1
	}
	v = append(v, flags, l.version, byte(len(l.heuristic)))
	v = append(v, l.heuristic...)
	v = binary.BigEndian.AppendUint32(v, l.height)
	v = append(v, l.txid...)
	return v
}

func decodeLink(key, v []byte) (storedLink, error) {
	if len(key) != 17 || len(v) < 15 || len(v) < 15+int(v[10]) {
		return storedLink{}, fmt.Errorf("trace: corrupt link entry %x", key)
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
		return "", 0, nil, errors.New("trace: corrupt block record")
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
		AddrA: addrA, AddrB: addrB, ClusterA: ra, ClusterB: rb, SizeA: s.f.size[ra], SizeB: s.f.size[rb]}
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
		ch.Dirty[x] = struct{}{}
		return true
	})
	if s.f.size[root] == 1 {
		ch.Dirty[root] = struct{}{}
	}
	s.f.Union(root, absorbed)
	m.Cluster = root
	ch.Merges = append(ch.Merges, m)
	ch.DirtyRoots[root] = struct{}{}
	ch.DirtyRoots[absorbed] = struct{}{}
	return true
}

// Connect applies the links of a block event with stream sequence seq.
// An event at or below LastSeq was applied before and is skipped, so a
// redelivery changes nothing.
func (s *State) Connect(seq uint64, b *ingest.Block, ch *Changes) error {
	if seq <= s.lastSeq {
		return nil
	}
	if b.Height < 0 || b.Height > 1<<32-1 {
		return fmt.Errorf("trace: block %s: height %d out of range", b.Hash, b.Height)
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
			a, err := s.ID(hl.A)
			if err != nil {
				return err
			}
			bid, err := s.ID(hl.B)
			if err != nil {
				return err
			}
			l := storedLink{a: a, b: bid, seq: seq, k: k, heuristic: hl.Heuristic, version: uint8(hl.Version), txid: tx.Txid, height: uint32(b.Height)}
			s.apply(ch, &l, hl.A, hl.B, b.Hash, seq)
			v := encodeLink(&l)
			if err := s.b.Set(linkKey(a, seq, k), v, nil); err != nil {
				return err
			}
			if err := s.b.Set(linkKey(bid, seq, k), v, nil); err != nil {
				return err
			}
			recs = append(recs, [3]uint32{a, bid, k})
			k++
			ch.Links++
		}
	}
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
		return fmt.Errorf("trace: undo of %s: block record of event %d missing: %v", hash, bseq, err)
	}
	_, height, recs, err := decodeBlock(v)
	if err != nil {
		return fmt.Errorf("trace: undo of %s: %w", hash, err)
	}
	ch.Height = height - 1
	// Keep the block record and its hash entry: a replay after a restart
	// from an older snapshot undoes the block again from them.
	roots := map[uint32]struct{}{}
	for _, r := range recs {
		if err := s.b.Delete(linkKey(r[0], bseq, r[2]), nil); err != nil {
			return err
		}
		if err := s.b.Delete(linkKey(r[1], bseq, r[2]), nil); err != nil {
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
	// Links of the members drawn before this undo (a replay after a restart
	// may find later ones in the index already), each once.
	var links []storedLink
	for _, m := range members {
		lo := linkKey(m, 0, 0)
		hi := linkKey(m, seq, 0)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			l, err := decodeLink(it.Key(), it.Value())
			if err != nil {
				it.Close()
				return err
			}
			if l.a == m && !l.held {
				links = append(links, l)
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	slices.SortFunc(links, func(x, y storedLink) int {
		if x.seq != y.seq {
			if x.seq < y.seq {
				return -1
			}
			return 1
		}
		return int(int64(x.k) - int64(y.k))
	})
	s.f.Reset(members)
	for _, m := range members {
		ch.Dirty[m] = struct{}{}
		ch.DirtyRoots[m] = struct{}{}
	}
	hashes := map[uint64]string{}
	for i := range links {
		l := &links[i]
		bh, ok := hashes[l.seq]
		if !ok {
			v, found, err := s.get(blockKey(l.seq))
			if err != nil || !found {
				return fmt.Errorf("trace: undo of %s: block record of event %d missing: %v", hash, l.seq, err)
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
			v := encodeLink(l)
			if err := s.b.Set(linkKey(l.a, l.seq, l.k), v, nil); err != nil {
				return err
			}
			if err := s.b.Set(linkKey(l.b, l.seq, l.k), v, nil); err != nil {
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

// cacheAddresses bounds the id cache: two generations of up to this many
// addresses each (about 100 bytes an entry).
const cacheAddresses = 1 << 20

// idCache keeps recently used address ids in two generations: a hit in the
// older one moves the entry to the newer; when the newer is full the older
// is dropped. Cheaper than an LRU list and as good for a stream where
// addresses are spent soon after they are paid.
type idCache struct {
	cur, prev map[string]uint32
	max       int
}

func newIDCache(max int) *idCache {
	return &idCache{cur: make(map[string]uint32), prev: map[string]uint32{}, max: max}
}

func (c *idCache) get(a string) (uint32, bool) {
	if id, ok := c.cur[a]; ok {
		return id, true
	}
	id, ok := c.prev[a]
	if ok {
		c.put(a, id)
	}
	return id, ok
}

func (c *idCache) put(a string, id uint32) {
	if len(c.cur) >= c.max {
		c.prev, c.cur = c.cur, make(map[string]uint32, c.max/4)
	}
	c.cur[a] = id
}
