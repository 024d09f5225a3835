package eth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/stream/payload"
)

// Source is where blocks come from: a node over JSON-RPC (RPCSource).
type Source interface {
	BestHeight(ctx context.Context) (int64, error)
	// Finalized is the node's finalized height, -1 when it has none.
	Finalized(ctx context.Context) (int64, error)
	BlockHash(ctx context.Context, height int64) (string, error)
	Block(ctx context.Context, height int64) (RawBlock, error)
}

// Publisher sends events on and returns once the stream stored them
// (stream.Publisher does).
type Publisher interface {
	PublishMessages(ctx context.Context, msgs ...*payload.Message) (uint64, error)
}

// Progress is reported after every connected block.
type Progress struct {
	Height    int64 // last connected height
	Target    int64 // height the run is heading for
	Blocks    int64 // blocks connected in this run
	Transfers int64 // transfers connected in this run
}

// Config configures an Ingestor.
type Config struct {
	Source    Source
	State     *ChainState
	Publisher Publisher
	Decode    DecodeOptions
	// From is the first height ingested into an empty state.
	From int64
	// To is the last height to ingest; -1 means the safe tip.
	To int64
	// Follow keeps polling for new blocks after reaching the tip.
	Follow bool
	// Confirmations a block needs before it is ingested (1: the tip).
	Confirmations int64
	// Finalized ingests only up to the node's finalized block.
	Finalized bool
	// PollInterval between tip checks when following, and between retries
	// when the node fails while following.
	PollInterval time.Duration
	// PublishEvery bounds the events committed but not yet published.
	PublishEvery int
	Progress     func(Progress)
	Logger       *slog.Logger
}

// SourceError is a failure of the node or of what it sent: the block it
// concerns was not stored. While following, the ingestor retries.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Ingestor follows the node's canonical chain into the state and stream.
type Ingestor struct {
	cfg     Config
	log     *slog.Logger
	pending []*payload.Message
}

// New validates the configuration.
func New(cfg Config) (*Ingestor, error) {
	if cfg.Source == nil || cfg.State == nil || cfg.Publisher == nil {
		return nil, errors.New("eth: ingestor needs a source, a state and a publisher")
	}
	if cfg.Confirmations < 1 {
		cfg.Confirmations = 1
	}
	if cfg.From < 0 {
		return nil, fmt.Errorf("eth: --from %d is negative", cfg.From)
	}
	if cfg.To >= 0 && cfg.To < cfg.From {
		return nil, fmt.Errorf("eth: --to %d is below --from %d", cfg.To, cfg.From)
	}
	if tip, _ := cfg.State.Tip(); tip >= 0 && cfg.From > tip+1 {
		return nil, fmt.Errorf("eth: the state ends at height %d, so --from %d would leave a gap: use a new data directory", tip, cfg.From)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.PublishEvery <= 0 {
		cfg.PublishEvery = 16
	}
	if cfg.Decode.Tokens.keep == nil && !cfg.Decode.Tokens.all {
		cfg.Decode.Tokens = DefaultTokens()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingestor{cfg: cfg, log: log.With("service", "ingest", "chain", chain.ETH)}, nil
}

// Run ingests until the target height is reached or, when following, until
// ctx ends. While following, a failing node is retried every poll
// interval; otherwise its error is returned, after what was read before
// it is published.
func (g *Ingestor) Run(ctx context.Context) error {
	out, err := g.cfg.State.Outbox()
	if err != nil {
		return err
	}
	if len(out) > 0 {
		g.log.Info("re-publishing events left in the outbox", "events", len(out))
		g.pending = out
		if err := g.flush(ctx); err != nil {
			return err
		}
	}
	var blocks, transfers int64
	for {
		done, err := g.step(ctx, &blocks, &transfers)
		if ferr := g.flush(context.WithoutCancel(ctx)); ferr != nil {
			return ferr
		}
		var se *SourceError
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && errors.As(err, &se) && g.cfg.Follow && !errors.Is(err, ErrTracesNotServed):
			g.log.Warn("node failed; retrying", "err", err, "in", g.cfg.PollInterval)
		case err != nil:
			return err
		case done:
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(g.cfg.PollInterval):
		}
	}
}

// step reconciles with the node and connects the blocks up to the target.
func (g *Ingestor) step(ctx context.Context, blocks, transfers *int64) (done bool, err error) {
	best, err := g.cfg.Source.BestHeight(ctx)
	if err != nil {
		return false, &SourceError{err}
	}
	target := best - (g.cfg.Confirmations - 1)
	if g.cfg.Finalized {
		fin, err := g.cfg.Source.Finalized(ctx)
		if err != nil {
			return false, &SourceError{err}
		}
		target = min(target, fin)
	}
	if g.cfg.To >= 0 {
		target = min(target, g.cfg.To)
	}
	for mismatches := 0; ; mismatches++ {
		if err := g.reconcile(ctx, best); err != nil {
			return false, err
		}
		tip, _ := g.cfg.State.Tip()
		next := tip + 1
		if tip < 0 {
			next = g.cfg.From
		}
		if next > target {
			break
		}
		mismatch, err := g.connect(ctx, next, target, blocks, transfers)
		if err != nil || ctx.Err() != nil {
			return false, err
		}
		if !mismatch {
			break
		}
		if mismatches >= 3 {
			return false, &SourceError{errors.New("eth: the node's chain keeps changing under the ingestor, or contradicts itself")}
		}
	}
	tip, _ := g.cfg.State.Tip()
	if g.cfg.To >= 0 && tip >= g.cfg.To {
		return true, nil
	}
	return !g.cfg.Follow && tip >= target, nil
}

// prefetchBlocks is how far reading runs ahead of connecting.
const prefetchBlocks = 8

type fetched struct {
	height int64
	block  *chain.Block
	err    error
}

// fetchAhead reads, checks and decodes blocks from..to on fetchWorkers
// goroutines (checking a block is CPU work: JSON, two tries, one signature
// recovery per transaction; reading one is waiting for the node) and
// delivers them in order. The channel closes after the last block, after
// an error (sent last) or when ctx ends, and only once every goroutine
// it started has returned.
func (g *Ingestor) fetchAhead(ctx context.Context, from, to int64) <-chan fetched {
	out := make(chan fetched, prefetchBlocks)
	order := make(chan chan fetched, prefetchBlocks)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // starts one fetch per height, at most fetchWorkers at once
		defer wg.Done()
		defer close(order)
		sem := make(chan struct{}, fetchWorkers())
		for h := from; h <= to; h++ {
			res := make(chan fetched, 1)
			select {
			case order <- res:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(h int64) {
				defer wg.Done()
				res <- g.fetch(ctx, h)
				<-sem
			}(h)
		}
	}()
	go func() { // delivers in height order
		defer func() { wg.Wait(); close(out) }()
		for res := range order {
			var f fetched
			select {
			case f = <-res:
			case <-ctx.Done():
				return
			}
			select {
			case out <- f:
			case <-ctx.Done():
				return
			}
			if f.err != nil {
				return
			}
		}
	}()
	return out
}

// fetchWorkers is how many blocks are read and checked at once.
func fetchWorkers() int { return max(4, runtime.GOMAXPROCS(0)) }

func (g *Ingestor) fetch(ctx context.Context, h int64) fetched {
	f := fetched{height: h}
	raw, err := g.cfg.Source.Block(ctx, h)
	if err == nil {
		f.block, _, err = Decode(raw, g.cfg.Decode)
	}
	if err == nil && f.block.Height != h {
		err = fmt.Errorf("%w: asked for height %d, got block %s at %d", ErrBadBlock, h, f.block.Hash, f.block.Height)
	}
	if err != nil {
		f.err = &SourceError{fmt.Errorf("block %d: %w", h, err)}
	}
	return f
}

// connect connects blocks from..to; mismatch when a block does not build
// on the tip (the node reorganised meanwhile).
func (g *Ingestor) connect(ctx context.Context, from, to int64, blocks, transfers *int64) (mismatch bool, err error) {
	fctx, stop := context.WithCancel(ctx)
	ahead := g.fetchAhead(fctx, from, to)
	defer func() {
		stop()
		for range ahead {
		}
	}()
	for f := range ahead {
		if f.err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, f.err
		}
		tip, tipHash := g.cfg.State.Tip()
		if tip >= 0 && f.block.Parent != tipHash {
			g.log.Info("parent mismatch, checking for a reorg", "height", f.height, "parent", f.block.Parent, "tip", tipHash)
			return true, nil
		}
		ev, err := g.cfg.State.Connect(f.block)
		if err != nil {
			return false, err
		}
		g.pending = append(g.pending, ev)
		if len(g.pending) >= g.cfg.PublishEvery {
			if err := g.flush(ctx); err != nil {
				return false, err
			}
		}
		*blocks++
		*transfers += int64(len(f.block.Transfers))
		if g.cfg.Progress != nil {
			g.cfg.Progress(Progress{Height: f.height, Target: to, Blocks: *blocks, Transfers: *transfers})
		}
		if ctx.Err() != nil {
			return false, nil
		}
	}
	return false, nil
}

// reconcile disconnects our blocks that are no longer on the node's chain,
// newest first, publishing an undo for each.
func (g *Ingestor) reconcile(ctx context.Context, best int64) error {
	for {
		tip, tipHash := g.cfg.State.Tip()
		if tip < 0 {
			return nil
		}
		if tip <= best {
			h, err := g.cfg.Source.BlockHash(ctx, tip)
			if err != nil && !errors.Is(err, ErrNoBlock) {
				return &SourceError{err}
			}
			if h == tipHash {
				return nil
			}
		}
		ev, err := g.cfg.State.Disconnect()
		if err != nil {
			return err
		}
		g.log.Warn("reorg: block disconnected", "height", ev.Height, "hash", ev.Hash)
		g.pending = append(g.pending, ev)
		if err := g.flush(ctx); err != nil {
			return err
		}
	}
}

func (g *Ingestor) flush(ctx context.Context) error {
	if len(g.pending) == 0 {
		return nil
	}
	if err := g.cfg.State.Sync(); err != nil {
		return err
	}
	if _, err := g.cfg.Publisher.PublishMessages(ctx, g.pending...); err != nil {
		return err
	}
	if err := g.cfg.State.Published(g.pending[len(g.pending)-1].Seq); err != nil {
		return err
	}
	g.pending = g.pending[:0]
	return nil
}
