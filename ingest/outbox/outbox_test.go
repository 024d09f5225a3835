package outbox_test

import (
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/outbox"
	"github.com/tracerproject/tracer/stream/payload"
)

func TestOutbox(t *testing.T) {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if seq, err := outbox.LastSeq(db); err != nil || seq != 0 {
		t.Fatalf("empty: last seq %d, %v", seq, err)
	}
	b := db.NewBatch()
	for seq := uint64(1); seq <= 3; seq++ {
		ev, err := payload.NewMessage(&chain.Event{Kind: chain.KindUndo, Seq: seq, Chain: "btc", Height: int64(seq), Hash: strings.Repeat("ab", 32)})
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Add(b, ev); err != nil {
			t.Fatalf("add %d: %v", seq, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if seq, err := outbox.LastSeq(db); err != nil || seq != 3 {
		t.Errorf("last seq %d, %v; want 3", seq, err)
	}
	if err := outbox.Published(db, 2); err != nil {
		t.Fatal(err)
	}
	evs, err := outbox.Read(db)
	if err != nil || len(evs) != 1 || evs[0].Seq != 3 || evs[0].Height != 3 || len(evs[0].Body) == 0 {
		t.Fatalf("after publishing up to 2: %+v, %v; want event 3 only", evs, err)
	}
	// A corrupt entry is an error naming it, not an event.
	if err := db.Set([]byte{'o', 0, 0, 0, 0, 0, 0, 0, 9}, []byte("not s2"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.Read(db); err == nil || !strings.Contains(err.Error(), "corrupt entry") {
		t.Errorf("corrupt entry: got %v", err)
	}
}
