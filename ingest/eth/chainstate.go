package eth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/outbox"
	"github.com/tracerproject/tracer/stream/payload"
)

// ChainState is the Ethereum ingestor's state in Pebble: the hash of the
// last HashDepth connected heights (enough to find where a reorg forks), the
// tip, the event counter, and an outbox of events committed with the state
// change that produced them but not yet acknowledged by JetStream. There is
// no UTXO set: every Ethereum transfer carries its own addresses.
//
// Keys:
//
//	h<height BE64>  block hash at height (the 0x… string)
//	o<seq BE64>     outbox: the event's payload (payload.Encode)
//	mtip            height BE64 + hash
//	mseq            last event seq BE64
//	mchain          chain id of the node, decimal
type ChainState struct {
	db        *pebble.DB
	hashDepth int64
	tipHeight int64 // -1 when empty
	tipHash   string
	seq       uint64
	dirty     bool // batches committed without sync
}

// DefaultHashDepth is how many recent block hashes are kept, and so the
// deepest reorg that can be undone. Proof-of-stake Ethereum finalizes
// after two epochs (64 blocks); the margin covers a loss of finality.
const DefaultHashDepth = 1024

// ErrReorgTooDeep says a reorg reaches below the kept hashes.
var ErrReorgTooDeep = errors.New("eth: reorg deeper than the kept block hashes")

// OpenChainState opens (or creates) the state in dir.
func OpenChainState(dir string, hashDepth int64, log *slog.Logger) (*ChainState, error) {
	if hashDepth <= 0 {
		hashDepth = DefaultHashDepth
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("eth: opening chain state in %s: %w", dir, err)
	}
	s := &ChainState{db: db, hashDepth: hashDepth, tipHeight: -1}
	if v, err := s.get([]byte("mtip")); err == nil {
		if len(v) < 8 {
			db.Close()
			return nil, fmt.Errorf("eth: chain state in %s: corrupt tip record", dir)
		}
		s.tipHeight = int64(binary.BigEndian.Uint64(v))
		s.tipHash = string(v[8:])
	} else if !errors.Is(err, pebble.ErrNotFound) {
		db.Close()
		return nil, fmt.Errorf("eth: chain state in %s: %w", dir, err)
	}
	seq, err := outbox.LastSeq(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("eth: chain state in %s: %w", dir, err)
	}
	s.seq = seq
	return s, nil
}

// Close closes the state.
func (s *ChainState) Close() error { return s.db.Close() }

func (s *ChainState) get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

// ChainID is the chain id recorded by SetChainID; "" when none is.
func (s *ChainState) ChainID() string {
	v, err := s.get([]byte("mchain"))
	if err != nil {
		return ""
	}
	return string(v)
}

// SetChainID records the node's chain id.
func (s *ChainState) SetChainID(id string) error {
	return s.db.Set([]byte("mchain"), []byte(id), pebble.Sync)
}

// Tip is the last connected block; height -1 when nothing is connected.
func (s *ChainState) Tip() (int64, string) { return s.tipHeight, s.tipHash }

// HashAt is the hash of the connected block at height.
func (s *ChainState) HashAt(height int64) (string, error) {
	v, err := s.get(heightKey('h', height))
	if err != nil {
		return "", fmt.Errorf("eth: no connected block at height %d: %w", height, err)
	}
	return string(v), nil
}

// Connect puts a normalized block on top of the tip and records its event
// in the outbox, in one batch. The batch is not synced: call Sync before
// publishing. The first block of an empty state may be at any height.
func (s *ChainState) Connect(b *chain.Block) (*payload.Message, error) {
	if s.tipHeight >= 0 && b.Height != s.tipHeight+1 {
		return nil, fmt.Errorf("eth: block %s at height %d does not extend tip %d", b.Hash, b.Height, s.tipHeight)
	}
	if s.tipHeight >= 0 && b.Parent != s.tipHash {
		return nil, fmt.Errorf("eth: block %s has parent %s, tip is %s", b.Hash, b.Parent, s.tipHash)
	}
	ev, err := payload.NewMessage(&chain.Event{Kind: chain.KindBlock, Seq: s.seq + 1, Chain: chain.ETH, Height: b.Height, Hash: b.Hash, Block: b})
	if err != nil {
		return nil, fmt.Errorf("eth: %w", err)
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := batch.Set(heightKey('h', b.Height), []byte(b.Hash), nil); err != nil {
		return nil, err
	}
	if old := b.Height - s.hashDepth - 1; old >= 0 {
		if err := batch.Delete(heightKey('h', old), nil); err != nil {
			return nil, err
		}
	}
	if err := s.addOutbox(batch, ev); err != nil {
		return nil, err
	}
	setTip(batch, b.Height, b.Hash)
	if s.tipHeight < 0 {
		_ = batch.Set([]byte("mroot"), heightKey('r', b.Height)[1:], nil)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return nil, fmt.Errorf("eth: committing block %s: %w", b.Hash, err)
	}
	s.dirty = true
	s.tipHeight, s.tipHash, s.seq = b.Height, b.Hash, ev.Seq
	return ev, nil
}

// Disconnect removes the tip block and records an undo event.
func (s *ChainState) Disconnect() (*payload.Message, error) {
	if s.tipHeight < 0 {
		return nil, errors.New("eth: nothing to disconnect")
	}
	height, hash := s.tipHeight, s.tipHash
	parent, err := s.HashAt(height - 1)
	if err != nil && height == s.root() {
		// The first block this state connected: the state becomes empty,
		// and the next block at this height connects without a parent.
		parent, err = "", nil
	}
	if err != nil && height > 0 {
		return nil, fmt.Errorf("%w (%d): cannot disconnect block %s at height %d", ErrReorgTooDeep, s.hashDepth, hash, height)
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := batch.Delete(heightKey('h', height), nil); err != nil {
		return nil, err
	}
	ev, err := payload.NewMessage(&chain.Event{Kind: chain.KindUndo, Seq: s.seq + 1, Chain: chain.ETH, Height: height, Hash: hash})
	if err != nil {
		return nil, fmt.Errorf("eth: %w", err)
	}
	if err := s.addOutbox(batch, ev); err != nil {
		return nil, err
	}
	newTip := height - 1
	if parent == "" {
		newTip = -1
	}
	setTip(batch, newTip, parent)
	if err := batch.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("eth: committing undo of %s: %w", hash, err)
	}
	s.tipHeight, s.tipHash, s.seq = newTip, parent, ev.Seq
	return ev, nil
}

// root is the height of the first block connected to the empty state.
func (s *ChainState) root() int64 {
	v, err := s.get([]byte("mroot"))
	if err != nil || len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// Sync makes everything committed durable; events must be on disk before
// they are published.
func (s *ChainState) Sync() error {
	if !s.dirty {
		return nil
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("eth: syncing chain state: %w", err)
	}
	s.dirty = false
	return nil
}

// Outbox returns the events committed but not yet confirmed as published.
func (s *ChainState) Outbox() ([]*payload.Message, error) {
	evs, err := outbox.Read(s.db)
	if err != nil {
		return nil, fmt.Errorf("eth: %w", err)
	}
	return evs, nil
}

// Published removes events up to and including seq from the outbox.
func (s *ChainState) Published(seq uint64) error {
	return outbox.Published(s.db, seq)
}

func (s *ChainState) addOutbox(batch *pebble.Batch, ev *payload.Message) error {
	if err := outbox.Add(batch, ev); err != nil {
		return fmt.Errorf("eth: %w", err)
	}
	return nil
}

func setTip(batch *pebble.Batch, height int64, hash string) {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(hash)), uint64(height))
	_ = batch.Set([]byte("mtip"), append(v, hash...), nil)
}

func heightKey(prefix byte, h int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, uint64(h))
}

// quietLogger routes Pebble's logs to slog at debug level.
type quietLogger struct{ log *slog.Logger }

func (l quietLogger) Infof(format string, args ...any)  { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l quietLogger) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }
func (l quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
