package btc

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/outbox"
	"github.com/tracerproject/tracer/stream/payload"
)

// ChainState is the ingestor's on-disk state, in Pebble: the unspent outputs
// (so every input can carry the address and value it spends without the UTXO
// set in RAM), the hash of every connected height, per-block undo records for
// the last UndoDepth blocks, the tip, the event counter, and an outbox of
// events committed together with the state change that produced them but not
// yet acknowledged by JetStream.
//
// Keys:
//
//	u<txid 32><vout BE32>   unspent output: value uvarint, script type, address
//	h<height BE64>          block hash at height (32 bytes)
//	r<height BE64>          undo record of the block at height
//	o<seq BE64>             outbox: the event's payload (payload.Encode)
//	mtip                    height BE64 + hash 32
//	mseq                    last event seq BE64
type ChainState struct {
	db        *pebble.DB
	undoDepth int64
	log       *slog.Logger

	tipHeight int64 // -1 when empty
	tipHash   chainhash.Hash
	seq       uint64

	// The window: blocks connected since the last commit, written to
	// Pebble together (see commit). Outputs created and spent inside one
	// window never reach Pebble at all; a chain spends many outputs within
	// hours of their creation.
	win       *pebble.Batch
	winBlocks int
	fresh     map[wire.OutPoint][]byte   // created in the window, unspent: encoded value
	spent     map[wire.OutPoint]struct{} // committed outputs spent in the window
	winHash   map[int64]chainhash.Hash   // hashes of the window's blocks
	// Sizes of the last window's maps.
	lastFresh, lastSpent int

	// recent holds the outputs of the last committed windows that were
	// unspent when committed, oldest first, at most maxRecent in all: a
	// read cache in front of Pebble. Most inputs spend outputs a few
	// blocks old, and a Pebble Get looks in every memtable and level 0
	// table before it finds one (a visible share of the pipeline's CPU in
	// `tracer bench ingest --cpuprofile`). Outputs a
	// commit deletes leave it at that commit; a disconnect, which
	// rewrites outputs behind the window, empties it.
	recent  []map[wire.OutPoint][]byte
	recentN int
}

// Window limits: a window is committed at the latest after this many
// blocks or fresh outputs, bounding its memory (below From nothing is
// published, so nothing else commits it).
const (
	maxWindowBlocks = 64
	maxWindowFresh  = 1 << 21
	// maxRecent bounds the read cache of committed outputs (recent):
	// about 100 bytes each with their share of the blocks' value buffers.
	maxRecent = 1 << 20
)

// DefaultUndoDepth is how many recent blocks can be disconnected. Deeper
// reorgs fail with a clear error (Bitcoin has not seen one deeper than 53
// blocks, in 2010).
const DefaultUndoDepth = 288

// Errors of the chain state.
var (
	ErrReorgTooDeep = errors.New("btc: reorg deeper than the kept undo records")
)

// OpenChainState opens (or creates) the state in dir.
func OpenChainState(dir string, undoDepth int64, log *slog.Logger) (*ChainState, error) {
	if undoDepth <= 0 {
		undoDepth = DefaultUndoDepth
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := pebbleOptions(log)
	db, err := pebble.Open(dir, opts)
	// The DB holds its own reference to the cache from Open on.
	opts.Cache.Unref()
	if err != nil {
		return nil, fmt.Errorf("btc: opening chain state in %s: %w", dir, err)
	}
	s := &ChainState{db: db, undoDepth: undoDepth, log: log, tipHeight: -1}
	s.resetWindow()
	if v, err := s.get([]byte("mtip")); err == nil {
		if len(v) != 40 {
			db.Close()
			return nil, fmt.Errorf("btc: chain state in %s: corrupt tip record", dir)
		}
		s.tipHeight = int64(binary.BigEndian.Uint64(v))
		copy(s.tipHash[:], v[8:])
	} else if !errors.Is(err, pebble.ErrNotFound) {
		db.Close()
		return nil, fmt.Errorf("btc: chain state in %s: %w", dir, err)
	}
	seq, err := outbox.LastSeq(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("btc: chain state in %s: %w", dir, err)
	}
	s.seq = seq
	return s, nil
}

// stateCacheBytes is the block cache of the outpoint index. Every input
// looks up the output it spends; without a cache each lookup reads and
// decompresses an sstable block, which dominates the ingest's CPU
// (`tracer bench ingest --cpuprofile` shows it).
const stateCacheBytes = 256 << 20

// pebbleOptions tunes Pebble for the outpoint index: point lookups of
// random keys (bloom filters skip the sstables without the key), a large
// write rate (64 MiB memtables), and values that compress little (hashes,
// addresses), so the upper levels, rewritten most often, are not
// compressed.
func pebbleOptions(log *slog.Logger) *pebble.Options {
	o := &pebble.Options{
		Logger:                      quietLogger{log},
		Cache:                       pebble.NewCache(stateCacheBytes),
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		MaxConcurrentCompactions:    func() int { return 2 },
	}
	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		l := &o.Levels[i]
		l.FilterPolicy = bloom.FilterPolicy(10)
		l.FilterType = pebble.TableFilter
		l.Compression = pebble.NoCompression
		if i >= 3 {
			l.Compression = pebble.SnappyCompression
		}
	}
	return o.EnsureDefaults()
}

// Close commits the window and closes the state.
func (s *ChainState) Close() error {
	err := s.commit(pebble.NoSync)
	s.win.Close()
	return errors.Join(err, s.db.Close())
}

func (s *ChainState) resetWindow() {
	s.win = s.db.NewBatch()
	s.winBlocks = 0
	// Sized like the last window, so the maps do not grow step by step
	// every window.
	s.fresh = make(map[wire.OutPoint][]byte, s.lastFresh)
	s.spent = make(map[wire.OutPoint]struct{}, s.lastSpent)
	s.winHash = make(map[int64]chainhash.Hash)
}

// commit writes the window to Pebble in one batch: the undo records, block
// hashes, outbox events and tip it collected, the deletions of committed
// outputs it spent, and the outputs it created that are still unspent.
// Either all of it lands or none: after a crash the state is at the last
// committed tip, and the blocks after it are connected again.
//
// The outputs go in in key order: Pebble inserts a sorted batch into its
// memtable faster than a random one, sort included (its skiplist inserts
// find their place from the previous one).
func (s *ChainState) commit(opt *pebble.WriteOptions) error {
	if s.winBlocks == 0 {
		return nil
	}
	s.lastFresh, s.lastSpent = len(s.fresh), len(s.spent)
	type change struct {
		op  wire.OutPoint
		val []byte // nil: delete
	}
	changes := make([]change, 0, len(s.fresh)+len(s.spent))
	for op, v := range s.fresh {
		changes = append(changes, change{op, v})
	}
	for op := range s.spent {
		// An output both spent and created in the window is a txid
		// created again (the duplicate coinbases before BIP30): the new
		// output stands, as if deleted then written.
		if _, ok := s.fresh[op]; !ok {
			changes = append(changes, change{op: op})
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return compareOutpoints(&a.op, &b.op) })
	key := make([]byte, 0, 37)
	for _, c := range changes {
		key = append(append(append(key[:0], 'u'), c.op.Hash[:]...), byte(c.op.Index>>24), byte(c.op.Index>>16), byte(c.op.Index>>8), byte(c.op.Index))
		var err error
		if c.val == nil {
			err = s.win.Delete(key, nil)
		} else {
			err = s.win.Set(key, c.val, nil)
		}
		if err != nil {
			return err
		}
	}
	if err := s.win.Commit(opt); err != nil {
		return fmt.Errorf("btc: committing %d blocks up to %s: %w", s.winBlocks, s.tipHash, err)
	}
	s.win.Close()
	s.remember()
	s.resetWindow()
	return nil
}

// remember moves the committed window's unspent outputs into the read
// cache and drops from it what the window spent.
func (s *ChainState) remember() {
	for op := range s.spent {
		for _, gen := range s.recent {
			if _, ok := gen[op]; ok {
				delete(gen, op)
				s.recentN--
			}
		}
	}
	if len(s.fresh) > 0 && len(s.fresh) <= maxRecent {
		s.recent = append(s.recent, s.fresh)
		s.recentN += len(s.fresh)
	}
	for s.recentN > maxRecent {
		s.recentN -= len(s.recent[0])
		s.recent[0] = nil
		s.recent = s.recent[1:]
	}
}

// forget empties the read cache.
func (s *ChainState) forget() { s.recent, s.recentN = nil, 0 }

// compareOutpoints orders outpoints as their keys: txid bytes, then the
// index. The first eight bytes of two txids almost always differ, and
// comparing them as one big-endian integer gives the order of bytes.Compare
// at a fraction of its cost (the window's sort was a tenth of the
// connecting goroutine's CPU).
func compareOutpoints(a, b *wire.OutPoint) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a.Hash[:8]), binary.BigEndian.Uint64(b.Hash[:8])); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Hash[8:], b.Hash[8:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// Tip is the last connected block; height -1 when nothing is connected.
func (s *ChainState) Tip() (int64, chainhash.Hash) { return s.tipHeight, s.tipHash }

// HashAt is the hash of the connected block at height.
func (s *ChainState) HashAt(height int64) (chainhash.Hash, error) {
	if h, ok := s.winHash[height]; ok {
		return h, nil
	}
	var h chainhash.Hash
	v, err := s.get(heightKey('h', height))
	if err != nil {
		return h, fmt.Errorf("btc: no connected block at height %d: %w", height, err)
	}
	copy(h[:], v)
	return h, nil
}

func (s *ChainState) get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

// Prevout implements PrevoutLookup from the committed unspent outputs.
func (s *ChainState) Prevout(op wire.OutPoint) (chain.Output, error) {
	if v, ok := s.fresh[op]; ok {
		return decodePrevout(op, v)
	}
	if _, ok := s.spent[op]; ok {
		return chain.Output{}, fmt.Errorf("%w: %s:%d (spent earlier)", ErrPrevoutNotFound, op.Hash, op.Index)
	}
	for i := len(s.recent) - 1; i >= 0; i-- {
		if v, ok := s.recent[i][op]; ok {
			return decodePrevout(op, v)
		}
	}
	v, closer, err := s.db.Get(utxoKey(op.Hash, op.Index))
	if errors.Is(err, pebble.ErrNotFound) {
		return chain.Output{}, fmt.Errorf("%w: %s:%d", ErrPrevoutNotFound, op.Hash, op.Index)
	}
	if err != nil {
		return chain.Output{}, fmt.Errorf("btc: reading outpoint %s:%d: %w", op.Hash, op.Index, err)
	}
	defer closer.Close()
	return decodePrevout(op, v)
}

func decodePrevout(op wire.OutPoint, v []byte) (chain.Output, error) {
	o, err := decodeUtxo(v)
	if err != nil {
		return chain.Output{}, fmt.Errorf("btc: outpoint %s:%d: %w", op.Hash, op.Index, err)
	}
	o.Index = op.Index
	return o, nil
}

// Connect applies a normalized block on top of the tip and, when publish is
// set, records its event in the outbox, all in one batch. It returns the
// event (nil when not publishing). The batch is not synced to disk: a crash
// may lose the last blocks connected, never part of one, and they are
// connected again after the restart with the same event sequence numbers.
// Call Sync before publishing their events.
func (s *ChainState) Connect(b *chain.Block, publish bool) (*payload.Message, error) {
	return s.connect(b, publish, nil)
}

// rawHashes are the hashes of a normalized block in bytes: the txids
// (txHashes) and the wire block, whose inputs hold the outpoints they
// spend. The ingestor has them, so connecting need not parse the hex of
// every txid again.
type rawHashes struct {
	txids []chainhash.Hash
	msg   *wire.MsgBlock
}

func (s *ChainState) connect(b *chain.Block, publish bool, raw *rawHashes) (*payload.Message, error) {
	if raw != nil && (len(raw.txids) != len(b.Txs) || len(raw.msg.Transactions) != len(b.Txs)) {
		return nil, fmt.Errorf("btc: block %s: %d txids and %d wire transactions for %d transactions", b.Hash, len(raw.txids), len(raw.msg.Transactions), len(b.Txs))
	}
	hash, err := chainhash.NewHashFromStr(b.Hash)
	if err != nil {
		return nil, fmt.Errorf("btc: block hash %q: %w", b.Hash, err)
	}
	if s.tipHeight >= 0 && b.Height != s.tipHeight+1 {
		return nil, fmt.Errorf("btc: block %s at height %d does not extend tip %d", b.Hash, b.Height, s.tipHeight)
	}
	if s.tipHeight >= 0 && b.Parent != s.tipHash.String() {
		return nil, fmt.Errorf("btc: block %s has parent %s, tip is %s", b.Hash, b.Parent, s.tipHash)
	}
	// First everything that can fail, then the changes: a block is in the
	// window completely or not at all.
	type created struct {
		op  wire.OutPoint
		val []byte
	}
	var nin, nout int
	for i := range b.Txs {
		nin += len(b.Txs[i].Inputs)
		nout += len(b.Txs[i].Outputs)
	}
	var (
		spends  = make([]wire.OutPoint, 0, nin)
		creates = make([]created, 0, nout)
		// The values of the created outputs share one allocation.
		vals = make([]byte, 0, nout*48)
	)
	// The undo record holds every output this block spends (to restore) and
	// the txids with output counts it creates (to delete).
	undo := make([]byte, 0, 40*len(b.Txs)+80*nin)
	undo = binary.AppendUvarint(undo, uint64(len(b.Txs)))
	var val []byte
	for i := range b.Txs {
		tx := &b.Txs[i]
		var txid *chainhash.Hash
		if raw != nil {
			txid = &raw.txids[i]
		} else if txid, err = chainhash.NewHashFromStr(tx.Txid); err != nil {
			return nil, fmt.Errorf("btc: txid %q: %w", tx.Txid, err)
		}
		undo = append(undo, txid[:]...)
		undo = binary.AppendUvarint(undo, uint64(len(tx.Outputs)))
		if !tx.Coinbase {
			undo = binary.AppendUvarint(undo, uint64(len(tx.Inputs)))
			for j := range tx.Inputs {
				in := &tx.Inputs[j]
				var prev *chainhash.Hash
				if raw != nil {
					if len(raw.msg.Transactions[i].TxIn) != len(tx.Inputs) {
						return nil, fmt.Errorf("btc: block %s: tx %s has %d inputs, its wire form %d", b.Hash, tx.Txid, len(tx.Inputs), len(raw.msg.Transactions[i].TxIn))
					}
					prev = &raw.msg.Transactions[i].TxIn[j].PreviousOutPoint.Hash
				} else if prev, err = chainhash.NewHashFromStr(in.PrevTxid); err != nil {
					return nil, fmt.Errorf("btc: prev txid %q: %w", in.PrevTxid, err)
				}
				val = encodeUtxo(val[:0], in.Value, in.ScriptType, in.Address)
				undo = append(undo, prev[:]...)
				undo = binary.BigEndian.AppendUint32(undo, in.PrevIndex)
				undo = binary.AppendUvarint(undo, uint64(len(val)))
				undo = append(undo, val...)
				spends = append(spends, wire.OutPoint{Hash: *prev, Index: in.PrevIndex})
			}
		} else {
			undo = binary.AppendUvarint(undo, 0)
		}
		for j := range tx.Outputs {
			o := &tx.Outputs[j]
			if o.ScriptType == chain.ScriptNullData {
				continue // provably unspendable
			}
			start := len(vals)
			vals = encodeUtxo(vals, o.Value, o.ScriptType, o.Address)
			// A value stays valid when vals grows: the old array is
			// never written again.
			creates = append(creates, created{wire.OutPoint{Hash: *txid, Index: o.Index}, vals[start:len(vals):len(vals)]})
		}
	}
	var ev *payload.Message
	if publish {
		ev, err = payload.NewMessage(&chain.Event{Kind: chain.KindBlock, Seq: s.seq + 1, Chain: b.Chain, Height: b.Height, Hash: b.Hash, Block: b})
		if err != nil {
			return nil, fmt.Errorf("btc: %w", err)
		}
	}

	batch := s.win
	for _, op := range spends {
		if _, ok := s.fresh[op]; ok {
			delete(s.fresh, op) // created and spent in the window
			continue
		}
		s.spent[op] = struct{}{} // deleted by commit
	}
	for _, c := range creates {
		s.fresh[c.op] = c.val
	}
	if err := batch.Set(heightKey('r', b.Height), undo, nil); err != nil {
		return nil, err
	}
	if old := b.Height - s.undoDepth; old >= 0 {
		if err := batch.Delete(heightKey('r', old), nil); err != nil {
			return nil, err
		}
	}
	if err := batch.Set(heightKey('h', b.Height), hash[:], nil); err != nil {
		return nil, err
	}
	if ev != nil {
		if err := s.addOutbox(batch, ev); err != nil {
			return nil, err
		}
	}
	s.setTip(batch, b.Height, *hash)
	s.winBlocks++
	s.winHash[b.Height] = *hash
	s.tipHeight, s.tipHash = b.Height, *hash
	if ev != nil {
		s.seq = ev.Seq
	}
	if s.winBlocks >= maxWindowBlocks || len(s.fresh) >= maxWindowFresh {
		if err := s.commit(pebble.NoSync); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// Sync makes everything committed so far durable: the events in the
// outbox must be on disk before they are published, or a crash could make
// the state forget events that subscribers have seen.
func (s *ChainState) Sync() error {
	if s.winBlocks > 0 {
		return s.commit(pebble.Sync)
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("btc: syncing chain state: %w", err)
	}
	return nil
}

// Disconnect removes the tip block, restoring what it spent, and records an
// undo event in the outbox.
func (s *ChainState) Disconnect(chainName string) (*payload.Message, error) {
	if s.tipHeight < 0 {
		return nil, errors.New("btc: nothing to disconnect")
	}
	if err := s.commit(pebble.NoSync); err != nil {
		return nil, err
	}
	s.forget() // the undo rewrites outputs in Pebble
	height, hash := s.tipHeight, s.tipHash
	undo, err := s.get(heightKey('r', height))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w (%d): cannot disconnect block %s at height %d", ErrReorgTooDeep, s.undoDepth, hash, height)
	}
	if err != nil {
		return nil, err
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := applyUndo(batch, undo); err != nil {
		return nil, fmt.Errorf("btc: undo record of block %s at %d: %w", hash, height, err)
	}
	for _, k := range [][]byte{heightKey('r', height), heightKey('h', height)} {
		if err := batch.Delete(k, nil); err != nil {
			return nil, err
		}
	}
	ev, err := payload.NewMessage(&chain.Event{Kind: chain.KindUndo, Seq: s.seq + 1, Chain: chainName, Height: height, Hash: hash.String()})
	if err != nil {
		return nil, fmt.Errorf("btc: %w", err)
	}
	if err := s.addOutbox(batch, ev); err != nil {
		return nil, err
	}
	var parent chainhash.Hash
	if height > 0 {
		if parent, err = s.HashAt(height - 1); err != nil {
			return nil, err
		}
	}
	s.setTip(batch, height-1, parent)
	if err := batch.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("btc: committing undo of %s: %w", hash, err)
	}
	s.tipHeight, s.tipHash, s.seq = height-1, parent, ev.Seq
	return ev, nil
}

// applyUndo restores spent outputs and deletes created ones. Restores come
// first, so outputs created and spent inside the block end up deleted.
func applyUndo(batch *pebble.Batch, undo []byte) error {
	r := undoReader{b: undo}
	ntx := r.uvarint()
	type created struct {
		txid chainhash.Hash
		n    uint64
	}
	creates := make([]created, 0, ntx)
	for i := uint64(0); i < ntx && r.err == nil; i++ {
		var c created
		copy(c.txid[:], r.bytes(32))
		c.n = r.uvarint()
		creates = append(creates, c)
		nin := r.uvarint()
		for j := uint64(0); j < nin && r.err == nil; j++ {
			var prev chainhash.Hash
			copy(prev[:], r.bytes(32))
			idx := binary.BigEndian.Uint32(r.bytes(4))
			val := r.bytes(int(r.uvarint()))
			if r.err == nil {
				if err := batch.Set(utxoKey(prev, idx), val, nil); err != nil {
					return err
				}
			}
		}
	}
	if r.err != nil {
		return r.err
	}
	for _, c := range creates {
		for n := uint64(0); n < c.n; n++ {
			if err := batch.Delete(utxoKey(c.txid, uint32(n)), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Outbox returns the events committed but not yet confirmed as published,
// in order.
func (s *ChainState) Outbox() ([]*payload.Message, error) {
	if err := s.commit(pebble.NoSync); err != nil {
		return nil, err
	}
	evs, err := outbox.Read(s.db)
	if err != nil {
		return nil, fmt.Errorf("btc: %w", err)
	}
	return evs, nil
}

// Published removes events up to and including seq from the outbox. It
// touches only what Sync made durable (events are published after it), so
// it may run on another goroutine while blocks connect.
func (s *ChainState) Published(seq uint64) error {
	return outbox.Published(s.db, seq)
}

func (s *ChainState) addOutbox(batch *pebble.Batch, ev *payload.Message) error {
	if err := outbox.Add(batch, ev); err != nil {
		return fmt.Errorf("btc: %w", err)
	}
	return nil
}

func (s *ChainState) setTip(batch *pebble.Batch, height int64, hash chainhash.Hash) {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), uint64(height))
	v = append(v, hash[:]...)
	_ = batch.Set([]byte("mtip"), v, nil)
}

func utxoKey(txid chainhash.Hash, vout uint32) []byte {
	k := make([]byte, 0, 37)
	k = append(k, 'u')
	k = append(k, txid[:]...)
	return binary.BigEndian.AppendUint32(k, vout)
}

func heightKey(prefix byte, h int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, uint64(h))
}

// Script types are stored as one byte.
var scriptTypes = []string{
	chain.ScriptNonStd, chain.ScriptP2PKH, chain.ScriptP2SH, chain.ScriptP2WPKH, chain.ScriptP2WSH,
	chain.ScriptP2TR, chain.ScriptP2PK, chain.ScriptMultisig, chain.ScriptNullData, chain.ScriptWitnessUn,
}

func scriptTypeByte(t string) byte {
	for i, s := range scriptTypes {
		if s == t {
			return byte(i)
		}
	}
	return 0
}

func encodeUtxo(dst []byte, value int64, scriptType, address string) []byte {
	dst = binary.AppendUvarint(dst, uint64(value))
	dst = append(dst, scriptTypeByte(scriptType))
	return append(dst, address...)
}

func decodeUtxo(v []byte) (chain.Output, error) {
	value, n := binary.Uvarint(v)
	if n <= 0 || n >= len(v) || int(v[n]) >= len(scriptTypes) {
		return chain.Output{}, errors.New("corrupt unspent output record")
	}
	return chain.Output{Value: int64(value), ScriptType: scriptTypes[v[n]], Address: string(v[n+1:])}, nil
}

type undoReader struct {
	b   []byte
	err error
}

func (r *undoReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *undoReader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = io.ErrUnexpectedEOF
		return make([]byte, max(n, 0))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// quietLogger routes Pebble's logs to slog at debug level; fatal stays fatal.
type quietLogger struct{ log *slog.Logger }

func (l quietLogger) Infof(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l quietLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}
func (l quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
