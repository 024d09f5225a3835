// Package outbox keeps a chain ingestor's events in its Pebble state until
// the stream has them. An event is written in the same batch as the chain
// state change it describes, published after the batch is synced, and
// removed once the stream acknowledged it; after a crash the events left
// are published again (the stream drops the ones it has, by message id).
//
// Keys: o<seq BE64> holds the event's payload (payload.Encode) and
// mseq the last sequence number given out.
package outbox

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble"

	"github.com/tracerproject/tracer/stream/payload"
)

var seqKey = []byte("mseq")

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'o'}, seq) }

// Add records m's payload and its sequence number in batch.
func Add(batch *pebble.Batch, m *payload.Message) error {
	if err := batch.Set(key(m.Seq), m.Body, nil); err != nil {
		return err
	}
	return batch.Set(seqKey, binary.BigEndian.AppendUint64(nil, m.Seq), nil)
}

// LastSeq is the last sequence number given out (0 when none).
func LastSeq(db *pebble.DB) (uint64, error) {
	v, closer, err := db.Get(seqKey)
	if err == pebble.ErrNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("outbox: corrupt sequence record (%d bytes)", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Read returns the events committed but not yet confirmed as published, in
// order.
func Read(db *pebble.DB) ([]*payload.Message, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte("o"), UpperBound: []byte("p")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var msgs []*payload.Message
	for it.First(); it.Valid(); it.Next() {
		ev, _, err := payload.Decode(it.Value())
		if err != nil {
			return nil, fmt.Errorf("outbox: corrupt entry %x: %w", it.Key(), err)
		}
		msgs = append(msgs, &payload.Message{Event: ev, Body: append([]byte(nil), it.Value()...)})
	}
	return msgs, it.Error()
}

// Published removes the events up to and including seq.
func Published(db *pebble.DB, seq uint64) error {
	return db.DeleteRange([]byte("o"), key(seq+1), pebble.NoSync)
}
