package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
)

// ReaderConfig configures a durable reader of one chain's stream.
type ReaderConfig struct {
	Chain string
	// Durable is the consumer name; its position survives restarts.
	Durable string
	// AckWait is how long the server waits for an ack before redelivering.
	// It must exceed the longest time between receiving an event and storing
	// it (one batch interval plus one insert).
	AckWait time.Duration
	// MaxAckPending bounds the messages delivered and not yet acked.
	MaxAckPending int
	// StartSeq, when set, makes a new durable consumer start at this stream
	// sequence instead of the first message (a consumer that resumes from
	// its own saved state). An existing consumer keeps its position.
	StartSeq uint64
	Logger   *slog.Logger
}

// Delivery is one reassembled event and the messages that carried it.
type Delivery struct {
	Event *chain.Event
	// StreamSeq is the stream sequence of the event's last part.
	StreamSeq uint64
	msgs      []jetstream.Msg
}

// pullMaxBytes bounds what one reader asks the server for at a time. The
// server closes a connection as a slow consumer once more than its
// max_pending (64 MiB by default) waits to be written to it, and the
// readers of a process share one connection with its publisher: a bound
// by count (256 messages) could ask for 256 parts of up to max_payload
// each, and a backfill of full blocks then lost the connection mid-publish.
const pullMaxBytes = 16 << 20

// Reader reads complete events from a durable JetStream consumer. Events are
// returned in stream order; acknowledging is the caller's job, once what an
// event carries is stored.
type Reader struct {
	cfg  ReaderConfig
	cons jetstream.Consumer
	it   jetstream.MessagesContext
	log  *slog.Logger
	asm  assembler
}

// assembler puts events split over several messages back together.
type assembler struct {
	chain   string
	log     *slog.Logger
	partial *assembly
}

type assembly struct {
	info   partInfo
	bodies [][]byte
	msgs   []jetstream.Msg
}

// NewReader creates or updates the durable consumer and starts pulling.
func NewReader(ctx context.Context, js jetstream.JetStream, cfg ReaderConfig) (*Reader, error) {
	if cfg.Chain == "" || cfg.Durable == "" {
		return nil, errors.New("stream: reader needs a chain and a durable name")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 2 * time.Minute
	}
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = 20000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The stream's owner (the pipeline) sets it up with its replicas; a
	// reader only creates it, with one replica, when it is not there yet.
	s, err := js.Stream(ctx, StreamName(cfg.Chain))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = EnsureStream(ctx, js, cfg.Chain, 1)
	}
	if err != nil {
		return nil, fmt.Errorf("stream: %s: %w", StreamName(cfg.Chain), err)
	}
	ccfg := jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "tracer " + cfg.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	}
	{
		old, err := s.Consumer(ctx, cfg.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			if cfg.StartSeq > 0 {
				ccfg.DeliverPolicy, ccfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cfg.StartSeq
			}
		case err != nil:
			return nil, fmt.Errorf("stream: consumer %s on %s: %w", cfg.Durable, StreamName(cfg.Chain), err)
		default:
			// Where a consumer starts cannot be changed once it exists.
			info := old.CachedInfo()
			ccfg.DeliverPolicy, ccfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
		}
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, ccfg)
	if err != nil {
		return nil, fmt.Errorf("stream: consumer %s on %s: %w", cfg.Durable, StreamName(cfg.Chain), err)
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(pullMaxBytes))
	if err != nil {
		return nil, fmt.Errorf("stream: pulling from %s: %w", StreamName(cfg.Chain), err)
	}
	return &Reader{cfg: cfg, cons: cons, it: it, log: log, asm: assembler{chain: cfg.Chain, log: log}}, nil
}

// Next returns the next complete event, waiting at most maxWait for it.
// It returns ErrNoEvent when none completed in time.
func (r *Reader) Next(ctx context.Context, maxWait time.Duration) (*Delivery, error) {
	deadline := time.Now().Add(maxWait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, ErrNoEvent
		}
		// The wait follows ctx, so a cancelled consumer stops at once.
		wctx, cancel := context.WithTimeout(ctx, wait)
		m, err := r.it.Next(jetstream.NextContext(wctx))
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream: reading %s: %w", StreamName(r.cfg.Chain), err)
		}
		d, err := r.asm.add(m)
		if err != nil {
			return nil, err
		}
		if d != nil {
			return d, nil
		}
	}
}

// ErrNoEvent says no complete event arrived within the wait.
var ErrNoEvent = errors.New("stream: no event within the wait")

func (r *assembler) add(m jetstream.Msg) (*Delivery, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("stream: message without metadata: %w", err)
	}
	info, err := parseHeaders(m.Headers())
	if errors.Is(err, errNotEvent) {
		// Not ours (someone published by hand): drop it for good, loudly.
		r.log.Error("dropping a message that is not a tracer event", "stream", StreamName(r.chain), "seq", meta.Sequence.Stream, "subject", m.Subject())
		_ = m.Term()
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream: message %d of %s: %w", meta.Sequence.Stream, StreamName(r.chain), err)
	}
	a := r.partial
	if a == nil || a.info.seq != info.seq || a.info.hash != info.hash || a.info.parts != info.parts {
		if info.part != 1 {
			// A tail part whose head we did not see: the head was acked
			// with it before (never happens, parts are acked together) or
			// this is a redelivery whose head comes again. Skip it; its
			// redelivery brings the head first.
			r.log.Warn("skipping a part without its head", "seq", meta.Sequence.Stream, "part", info.part)
			return nil, nil
		}
		a = &assembly{info: info}
		r.partial = a
	}
	if info.part != len(a.bodies)+1 {
		if info.part <= len(a.bodies) {
			return nil, nil // duplicate delivery of a part we hold
		}
		return nil, fmt.Errorf("stream: event %d: part %d arrived after part %d", info.seq, info.part, len(a.bodies))
	}
	a.bodies = append(a.bodies, m.Data())
	a.msgs = append(a.msgs, m)
	if len(a.bodies) < a.info.parts {
		return nil, nil
	}
	r.partial = nil
	ev, format, err := Decode(a.bodies)
	if err != nil {
		return nil, fmt.Errorf("stream: event at stream sequence %d: %w", meta.Sequence.Stream, err)
	}
	if format != a.info.format {
		return nil, fmt.Errorf("stream: event at stream sequence %d: headers say %s, the payload is %s", meta.Sequence.Stream, a.info.format, format)
	}
	return &Delivery{Event: ev, StreamSeq: meta.Sequence.Stream, msgs: a.msgs}, nil
}

// KeepAlive sends a progress notice for the deliveries every third of
// ackWait until stop is called (or ctx ends), so that a slow write of
// what they carry is not mistaken for a dead consumer and redelivered.
func KeepAlive(ctx context.Context, ackWait time.Duration, pending []*Delivery, log *slog.Logger) (stop func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := InProgress(pending); err != nil {
					log.Warn("progress notice failed", "err", err)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// InProgress tells the server the deliveries are still being worked on, so
// it does not redeliver them while a long insert runs.
func InProgress(ds []*Delivery) error {
	for _, d := range ds {
		for _, m := range d.msgs {
			if err := m.InProgress(); err != nil {
				return fmt.Errorf("stream: in progress: %w", err)
			}
		}
	}
	return nil
}

// Ack acknowledges the deliveries' messages and waits for the server to
// confirm the last one; acks on one connection are processed in order.
func Ack(ctx context.Context, ds []*Delivery) error {
	var last jetstream.Msg
	for _, d := range ds {
		for _, m := range d.msgs {
			if last != nil {
				if err := last.Ack(); err != nil {
					return fmt.Errorf("stream: ack: %w", err)
				}
			}
			last = m
		}
	}
	if last == nil {
		return nil
	}
	if err := last.DoubleAck(ctx); err != nil {
		return fmt.Errorf("stream: ack: %w", err)
	}
	return nil
}

// Close stops pulling. Unacked messages are redelivered to the next reader.
func (r *Reader) Close() { r.it.Stop() }

// WaitAcked blocks until the durable consumer has acked every message up to
// stream sequence seq.
func WaitAcked(ctx context.Context, js jetstream.JetStream, chain, durable string, seq uint64) error {
	if seq == 0 {
		return nil
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		// The consumer may not exist yet: its service creates it when it
		// starts, and may recreate it (a clusterer rewinding to its
		// snapshot).
		cons, err := js.Consumer(ctx, StreamName(chain), durable)
		if err == nil {
			var info *jetstream.ConsumerInfo
			info, err = cons.Info(ctx)
			if err == nil && info.AckFloor.Stream >= seq {
				return nil
			}
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("stream: consumer %s: %w", durable, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
