package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/stream/payload"
)

// DuplicateWindow is how long JetStream remembers message ids. Consumers are
// idempotent as well, so a re-publish after a longer outage is harmless.
const DuplicateWindow = 10 * time.Minute

// EnsureStream creates the chain's stream, or updates it to this
// configuration, and returns it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, chain string, replicas int) (jetstream.Stream, error) {
	if replicas < 1 {
		replicas = 1
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName(chain),
		Description: "normalized " + chain + " blocks and undos (tracer.event.v1, v2)",
		Subjects:    []string{"chain." + chain + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("stream: creating stream %s: %w", StreamName(chain), err)
	}
	return s, nil
}

// Publisher publishes chain events idempotently.
type Publisher struct {
	js         jetstream.JetStream
	maxPayload int
}

// NewPublisher returns a publisher on the connection's JetStream context.
func NewPublisher(nc *nats.Conn) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	return &Publisher{js: js, maxPayload: int(nc.MaxPayload())}, nil
}

// JetStream returns the publisher's JetStream context.
func (p *Publisher) JetStream() jetstream.JetStream { return p.js }

// Publish encodes the events and publishes them as PublishMessages does.
func (p *Publisher) Publish(ctx context.Context, evs ...*chain.Event) (uint64, error) {
	ms := make([]*payload.Message, len(evs))
	for i, ev := range evs {
		m, err := payload.NewMessage(ev)
		if err != nil {
			return 0, fmt.Errorf("stream: %w", err)
		}
		ms[i] = m
	}
	return p.PublishMessages(ctx, ms...)
}

// PublishMessages sends every part of the encoded events and waits until
// JetStream has stored them all. Parts already stored (same message id) are
// skipped by the server. It returns the stream sequence of the last part.
func (p *Publisher) PublishMessages(ctx context.Context, ms ...*payload.Message) (uint64, error) {
	var futures []jetstream.PubAckFuture
	for _, ev := range ms {
		msgs, err := Encode(ev, p.maxPayload)
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			f, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(StreamName(ev.Chain)))
			if err != nil {
				return 0, fmt.Errorf("stream: publishing %s %d (height %d): %w", ev.Kind, ev.Seq, ev.Height, err)
			}
			futures = append(futures, f)
		}
	}
	var last uint64
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			return 0, fmt.Errorf("stream: publishing %s: %w", f.Msg().Header.Get(nats.MsgIdHdr), err)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return last, nil
}

// LastSeq is the sequence of the last message in the chain's stream, 0 when
// the stream is empty or does not exist yet.
func LastSeq(ctx context.Context, js jetstream.JetStream, chain string) (uint64, error) {
	s, err := js.Stream(ctx, StreamName(chain))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream: %w", err)
	}
	return info.State.LastSeq, nil
}
