package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/stream/payload"
)

func startJS(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, err := StartServer(ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureStream(context.Background(), js, "btc", 1); err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// bigBlock builds a block whose encoding is about size bytes of
// incompressible data: random addresses defeat S2.
func bigBlock(seq uint64, height int64, txs, outsPerTx int) *chain.Event {
	b := &chain.Block{Chain: "btc", Height: height, Hash: fmt.Sprintf("%064x", height+1000*int64(seq)), Parent: fmt.Sprintf("%064x", height-1)}
	for i := 0; i < txs; i++ {
		tx := chain.Tx{Txid: randHex(32), Index: i}
		for j := 0; j < outsPerTx; j++ {
			tx.Outputs = append(tx.Outputs, chain.Output{Index: uint32(j), Address: "bc1q" + randHex(20), ScriptType: chain.ScriptP2WPKH, Value: int64(j + 1)})
		}
		b.Txs = append(b.Txs, tx)
	}
	return &chain.Event{Kind: chain.KindBlock, Seq: seq, Chain: "btc", Height: height, Hash: b.Hash, Block: b}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestEncodeSplitsBigEvents(t *testing.T) {
	tests := []struct {
		name      string
		ev        *chain.Event
		minRaw    int // JSON size of the event before compression
		minParts  int
		maxPaylod int
	}{
		{"small block, one part", bigBlock(1, 1, 2, 2), 0, 1, 1 << 20},
		// Over 4 MB of JSON: a mainnet-sized block.
		{"4 MB block", bigBlock(2, 2, 2500, 18), 4 << 20, 2, 1 << 20},
		// One transaction of over 1 MB (real ones exist, e.g. btcd's megatx).
		{"1 MB transaction", bigBlock(3, 3, 1, 12000), 1 << 20, 1, 1 << 20},
		{"1 MB transaction, 256 KB server limit", bigBlock(3, 3, 1, 12000), 1 << 20, 3, 256 << 10},
		{"tiny server limit", bigBlock(4, 4, 50, 10), 0, 2, 8 << 10},
	}
	for _, tc := range tests {
		raw, _ := json.Marshal(tc.ev)
		if len(raw) < tc.minRaw {
			t.Fatalf("%s: test event is %d bytes, want at least %d", tc.name, len(raw), tc.minRaw)
		}
		msgs, err := Encode(message(t, tc.ev), tc.maxPaylod)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(msgs) < tc.minParts {
			t.Errorf("%s: got %d parts, want at least %d", tc.name, len(msgs), tc.minParts)
		}
		var bodies [][]byte
		for i, m := range msgs {
			size := len(m.Data)
			for k, v := range m.Header {
				size += len(k) + len(v[0]) + 4
			}
			if size > tc.maxPaylod {
				t.Errorf("%s: part %d is %d bytes, over the limit %d", tc.name, i+1, size, tc.maxPaylod)
			}
			bodies = append(bodies, m.Data)
		}
		got, format, err := Decode(bodies)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if format != payload.V2 {
			t.Errorf("%s: decoded format %q, want %q", tc.name, format, payload.V2)
		}
		if got.Block == nil || len(got.Block.Txs) != len(tc.ev.Block.Txs) || got.Block.Txs[0].Outputs[0].Address != tc.ev.Block.Txs[0].Outputs[0].Address {
			t.Errorf("%s: decoded event differs from the original", tc.name)
		}
	}
}

func TestPublishIsIdempotentAndReaderReassembles(t *testing.T) {
	ctx := context.Background()
	nc, js := startJS(t)
	pub, err := NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	evs := []*chain.Event{bigBlock(1, 0, 3, 2), bigBlock(2, 1, 2500, 18), bigBlock(3, 2, 1, 12000)}
	undo := &chain.Event{Kind: chain.KindUndo, Seq: 4, Chain: "btc", Height: 2, Hash: evs[2].Hash}
	evs = append(evs, undo)
	last, err := pub.Publish(ctx, evs...)
	if err != nil {
		t.Fatal(err)
	}
	// A crash-and-retry re-publishes the same events: nothing new is stored.
	again, err := pub.Publish(ctx, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if again != last {
		t.Errorf("re-publish moved the stream to %d, want it to stay at %d", again, last)
	}
	// The same block connected again after its undo is a new event.
	reconnect := *evs[2]
	reconnect.Seq = 5
	if _, err := pub.Publish(ctx, &reconnect); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, &reconnect)

	r, err := NewReader(ctx, js, ReaderConfig{Chain: "btc", Durable: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []*Delivery
	for len(got) < len(evs) {
		d, err := r.Next(ctx, 5*time.Second)
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		got = append(got, d)
	}
	for i, d := range got {
		if d.Event.Seq != evs[i].Seq || d.Event.Kind != evs[i].Kind || d.Event.Hash != evs[i].Hash {
			t.Errorf("event %d: got seq %d %s %s, want seq %d %s %s", i, d.Event.Seq, d.Event.Kind, d.Event.Hash, evs[i].Seq, evs[i].Kind, evs[i].Hash)
		}
	}
	if _, err := r.Next(ctx, 300*time.Millisecond); !errors.Is(err, ErrNoEvent) {
		t.Errorf("got %v after the last event, want ErrNoEvent", err)
	}
	if err := Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	tail, err := LastSeq(ctx, js, "btc")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := WaitAcked(wctx, js, "btc", "test", tail); err != nil {
		t.Fatalf("consumer did not reach the stream tail %d: %v", tail, err)
	}
}

func TestUnackedEventsAreRedelivered(t *testing.T) {
	ctx := context.Background()
	nc, js := startJS(t)
	pub, _ := NewPublisher(nc)
	if _, err := pub.Publish(ctx, bigBlock(1, 0, 2500, 18), bigBlock(2, 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(ctx, js, ReaderConfig{Chain: "btc", Durable: "redeliver", AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Next(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // a crash: nothing acked
	r2, err := NewReader(ctx, js, ReaderConfig{Chain: "btc", Durable: "redeliver", AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	d2, err := r2.Next(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Event.Seq != d.Event.Seq {
		t.Errorf("after restart got event %d first, want the unacked %d", d2.Event.Seq, d.Event.Seq)
	}
}

func TestReaderRejectsUnknownFormat(t *testing.T) {
	ctx := context.Background()
	nc, js := startJS(t)
	m := nats.NewMsg("chain.btc.block")
	m.Header.Set(HdrFormat, "tracer.event.v99")
	m.Data = []byte("{}")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	_ = nc
	r, err := NewReader(ctx, js, ReaderConfig{Chain: "btc", Durable: "fmt"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Next(ctx, 5*time.Second)
	if err == nil || !contains(err.Error(), "unsupported payload format") {
		t.Errorf("got %v, want an unsupported payload format error", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestReaderReadsV1AndV2 publishes an event whose payload an older build
// encoded (v1, JSON, as left in its outbox) next to a v2 one: each goes
// out with its own format headers and both read back.
func TestReaderReadsV1AndV2(t *testing.T) {
	ctx := context.Background()
	nc, js := startJS(t)
	pub, err := NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	old, cur := bigBlock(1, 0, 3, 2), bigBlock(2, 1, 4, 3)
	oldBody, err := payload.EncodeV1(old)
	if err != nil {
		t.Fatal(err)
	}
	oldMsg, curMsg := &payload.Message{Event: old, Body: oldBody}, message(t, cur)
	for _, c := range []struct {
		m                *payload.Message
		format, encoding string
	}{{oldMsg, payload.V1, "json+s2"}, {curMsg, payload.V2, "bin"}} {
		msgs, err := Encode(c.m, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if f, e := msgs[0].Header.Get(HdrFormat), msgs[0].Header.Get(HdrEncoding); f != c.format || e != c.encoding {
			t.Errorf("event %d: headers %s %s, want %s %s", c.m.Seq, f, e, c.format, c.encoding)
		}
	}
	if _, err := pub.PublishMessages(ctx, oldMsg, curMsg); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(ctx, js, ReaderConfig{Chain: "btc", Durable: "formats"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, want := range []*chain.Event{old, cur} {
		d, err := r.Next(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got := d.Event
		if got.Seq != want.Seq || len(got.Block.Txs) != len(want.Block.Txs) || got.Block.Txs[3%len(want.Block.Txs)].Outputs[1].Address != want.Block.Txs[3%len(want.Block.Txs)].Outputs[1].Address {
			t.Errorf("event %d read back differs: %+v", want.Seq, got.Block)
		}
	}
}

// TestReaderRejectsFormatMismatch: headers that name one format over a
// payload of the other are an error, not a guess.
func TestReaderRejectsFormatMismatch(t *testing.T) {
	ctx := context.Background()
	_, js := startJS(t)
	ev := bigBlock(1, 0, 2, 2)
	msgs, err := Encode(message(t, ev), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	m.Header.Set(HdrFormat, payload.V1)
	m.Header.Set(HdrEncoding, payload.EncodingV1)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(ctx, js, ReaderConfig{Chain: "btc", Durable: "mismatch"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(ctx, 5*time.Second); err == nil || !contains(err.Error(), "headers say") {
		t.Errorf("got %v, want a format mismatch error", err)
	}
}

// message encodes ev in the current payload format.
func message(t testing.TB, ev *chain.Event) *payload.Message {
	t.Helper()
	m, err := payload.NewMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
