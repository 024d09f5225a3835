package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Replay reads the events of a chain's stream whose last part lies in the
// stream sequences [from, to], in order, and calls fn for each. It uses an
// ordered consumer: nothing is acked and no durable consumer moves. An
// event whose head lies before from is skipped.
func Replay(ctx context.Context, js jetstream.JetStream, chain string, from, to uint64, log *slog.Logger, fn func(*Delivery) error) error {
	if from == 0 {
		from = 1
	}
	if to < from {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := js.Stream(ctx, StreamName(chain))
	if err != nil {
		return fmt.Errorf("stream: replaying %s: %w", StreamName(chain), err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return fmt.Errorf("stream: replaying %s from %d: %w", StreamName(chain), from, err)
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(pullMaxBytes))
	if err != nil {
		return fmt.Errorf("stream: replaying %s: %w", StreamName(chain), err)
	}
	defer it.Stop()
	asm := assembler{chain: chain, log: log}
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := it.Next(jetstream.NextContext(wctx))
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("stream: replaying %s: sequence %d did not arrive within 30s", StreamName(chain), to)
		}
		if err != nil {
			return fmt.Errorf("stream: replaying %s: %w", StreamName(chain), err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("stream: replaying %s: message without metadata: %w", StreamName(chain), err)
		}
		if meta.Sequence.Stream > to {
			return nil
		}
		d, err := asm.add(m)
		if err != nil {
			return err
		}
		if d != nil {
			if err := fn(d); err != nil {
				return err
			}
		}
		if meta.Sequence.Stream == to {
			return nil
		}
	}
}

// SeqAtHeight returns the first stream sequence at or before last whose
// event is at height at least h, searching the messages' height headers.
// Heights along a stream only fall back at reorgs, by a few blocks, so the
// answer may start a reorg's depth late or early; callers that need
// exactness filter by height.
func SeqAtHeight(ctx context.Context, js jetstream.JetStream, chain string, h int64, last uint64) (uint64, error) {
	s, err := js.Stream(ctx, StreamName(chain))
	if err != nil {
		return 0, fmt.Errorf("stream: %s: %w", StreamName(chain), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream: %s: %w", StreamName(chain), err)
	}
	lo, hi := info.State.FirstSeq, min(last, info.State.LastSeq)
	if lo == 0 {
		lo = 1
	}
	height := func(seq uint64) (int64, error) {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return -1, nil // deleted: treat as old
		}
		if err != nil {
			return 0, fmt.Errorf("stream: %s message %d: %w", StreamName(chain), seq, err)
		}
		v, err := strconv.ParseInt(m.Header.Get(HdrHeight), 10, 64)
		if err != nil {
			return -1, nil // not a tracer event
		}
		return v, nil
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		v, err := height(mid)
		if err != nil {
			return 0, err
		}
		if v >= h {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}
