package btc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/stream/payload"
)

// Source is where blocks come from: a node over JSON-RPC (RPCSource) or
// Bitcoin Core's block files (BlocksDir).
type Source interface {
	BestHeight(ctx context.Context) (int64, error)
	BlockHash(ctx context.Context, height int64) (chainhash.Hash, error)
	Block(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, error)
}

// hashedSource is a Source that hashes the transactions from the bytes it
// decoded them from (BlocksDir, RPCSource): see decodeBlock.
type hashedSource interface {
	blockHashed(ctx context.Context, hash chainhash.Hash) (*wire.MsgBlock, *blockIDs, error)
}

// Publisher sends events on and returns once they are stored by the
// stream (stream.Publisher does).
type Publisher interface {
	PublishMessages(ctx context.Context, msgs ...*payload.Message) (uint64, error)
}

// Progress is reported after every connected block.
type Progress struct {
	Height     int64 // last connected height
	Target     int64 // height the run is heading for
	Blocks     int64 // blocks connected in this run
	Txs        int64 // transactions connected in this run
	Publishing bool  // false while indexing outputs below From
}

// Config configures an Ingestor.
type Config struct {
	Source    Source
	State     *ChainState
	Publisher Publisher
	Params    *chaincfg.Params
	// From is the first height to publish. Heights below it are still
	// read to index their outputs (inputs must carry what they spend)
	// when the state starts empty.
	From int64
	// To is the last height to ingest; -1 means the source's tip.
	To int64
	// Follow keeps polling for new blocks after reaching the tip.
	Follow bool
	// Confirmations a block needs before it is ingested (1: the tip).
	Confirmations int64
	// PollInterval between tip checks when following.
	PollInterval time.Duration
	// PublishEvery is how many events are synced to the state and handed
	// to the publisher at a time. Publishing runs on its own goroutine,
	// while the next blocks connect, at most publishAhead handovers
	// behind.
	PublishEvery int
	// SkipMerkleCheck disables the merkle root check (never for real data).
	SkipMerkleCheck bool
	Progress        func(Progress)
	Logger          *slog.Logger
}

// maxParentMismatches is how many times in a row the block at the next
// height may fail to build on the tip, with no reorg to explain it, before
// the ingestor gives up on the source. A real reorg is found by the first
// reconcile after the mismatch.
const maxParentMismatches = 3

// Ingestor follows the source's best chain into the state and the stream.
type Ingestor struct {
	cfg     Config
	log     *slog.Logger
	pending []*payload.Message
	// mismatch describes the last block that did not build on the tip.
	mismatch error

	// The publishing goroutine (see send) and what it reports. It
	// publishes under the context of the send that started it; stopPublisher
	// ends it.
	jobs      chan []*payload.Message
	published sync.WaitGroup // one per job handed over and not yet done
	stopped   chan struct{}  // closed when the goroutine has returned
	mu        sync.Mutex
	pubErr    error  // the first publishing error; no job runs after it
	lastSeq   uint64 // stream sequence of the last published message
	// unsent are events of jobs whose context ended before they were
	// published, in order; the next send puts them first again (a run
	// stopping publishes what it connected under a fresh context).
	unsent []*payload.Message
}

// publishAhead is how many handovers of events may wait for the
// publisher: enough to keep it busy, few enough that a crash repeats
// little.
const publishAhead = 2

// New validates the configuration.
func New(cfg Config) (*Ingestor, error) {
	if cfg.Source == nil || cfg.State == nil || cfg.Publisher == nil || cfg.Params == nil {
		return nil, errors.New("btc: ingestor needs a source, a state, a publisher and chain params")
	}
	if cfg.Confirmations < 1 {
		cfg.Confirmations = 1
	}
	if cfg.From < 0 {
		return nil, fmt.Errorf("btc: --from %d is negative", cfg.From)
	}
	if cfg.To >= 0 && cfg.To < cfg.From {
		return nil, fmt.Errorf("btc: --to %d is below --from %d", cfg.To, cfg.From)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.PublishEvery <= 0 {
		cfg.PublishEvery = 16
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingestor{cfg: cfg, log: log.With("service", "ingest", "chain", chain.BTC)}, nil
}

// LastSeq is the stream sequence of the last message this ingestor published.
func (g *Ingestor) LastSeq() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastSeq
}

// Run ingests until the target height is reached (or, when following, until
// ctx is cancelled).
func (g *Ingestor) Run(ctx context.Context) error {
	defer g.stopPublisher()
	// Events committed before a crash but maybe not published go first;
	// JetStream drops the ones it already has.
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
	var blocks, txs int64
	mismatches := 0 // parent mismatches in a row at the same tip
	for {
		best, err := g.cfg.Source.BestHeight(ctx)
		if err != nil {
			return err
		}
		target := best - (g.cfg.Confirmations - 1)
		if g.cfg.To >= 0 && g.cfg.To < target {
			target = g.cfg.To
		}
		if err := g.reconcile(ctx, min(target, best)); err != nil {
			return err
		}
		tip, _ := g.cfg.State.Tip()
		if tip < 0 {
			tip = g.rootHeight() - 1
		}
		if tip < target {
			// Blocks are read, checked and normalized ahead, on their own
			// goroutine, while this one resolves inputs and connects.
			fctx, stop := context.WithCancel(ctx)
			ahead := g.fetchAhead(fctx, tip+1, target)
			mismatch, err := g.connect(ctx, ahead, target, &blocks, &txs)
			stop()
			for range ahead {
				// Wait for the reader to stop: reconcile uses the source next.
			}
			if err != nil {
				// The blocks connected before the failure are good: publish
				// them, so that what was read up to the bad block is stored.
				if ctx.Err() == nil {
					if ferr := g.flush(ctx); ferr != nil {
						return errors.Join(err, ferr)
					}
				}
				return err
			}
			if ctx.Err() != nil {
				// The publisher ran under ctx: what it could not publish
				// is in unsent. Publish it under a context that stays.
				g.stopPublisher()
				return g.flush(context.WithoutCancel(ctx))
			}
			if mismatch {
				// The source's chain moved under us: reconcile again. If
				// reconcile finds our tip still on the source's chain
				// time after time, the source contradicts itself and
				// waiting will not help.
				mismatches++
				if mismatches > maxParentMismatches {
					return fmt.Errorf("%w (still so after %d checks for a reorg): the source's chain is inconsistent", g.mismatch, maxParentMismatches)
				}
				g.log.Info("parent mismatch, checking for a reorg", "err", g.mismatch)
				continue
			}
			mismatches = 0
		}
		if err := g.flush(ctx); err != nil {
			return err
		}
		tip, _ = g.cfg.State.Tip()
		if !g.cfg.Follow && tip >= target {
			return nil
		}
		if g.cfg.To >= 0 && tip >= g.cfg.To {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(g.cfg.PollInterval):
		}
	}
}

// prefetchBlocks is how far reading runs ahead of connecting.
const prefetchBlocks = 8

// fetched is a block read from the source, checked against its merkle root
// and normalized without its inputs resolved.
type fetched struct {
	height int64
	msg    *wire.MsgBlock
	txids  []chainhash.Hash
	block  *chain.Block
	err    error
}

// fetchAhead reads the blocks from..to in order. The channel closes after
// the last block, after an error (sent as the last value) or when ctx ends.
func (g *Ingestor) fetchAhead(ctx context.Context, from, to int64) <-chan fetched {
	ch := make(chan fetched, prefetchBlocks)
	go func() {
		defer close(ch)
		for h := from; h <= to; h++ {
			f := g.fetch(ctx, h)
			select {
			case ch <- f:
			case <-ctx.Done():
				return
			}
			if f.err != nil {
				return
			}
		}
	}()
	return ch
}

func (g *Ingestor) fetch(ctx context.Context, h int64) fetched {
	hash, err := g.cfg.Source.BlockHash(ctx, h)
	if err != nil {
		return fetched{err: err}
	}
	var (
		mb  *wire.MsgBlock
		ids *blockIDs
	)
	if hs, ok := g.cfg.Source.(hashedSource); ok {
		mb, ids, err = hs.blockHashed(ctx, hash)
	} else {
		mb, err = g.cfg.Source.Block(ctx, hash)
	}
	if err != nil {
		return fetched{err: err}
	}
	if got := mb.BlockHash(); got != hash {
		return fetched{err: fmt.Errorf("btc: source returned block %s when asked for %s at height %d", got, hash, h)}
	}
	// The txids serve the merkle check and the record: hash once.
	if ids == nil {
		txids, err := txHashes(mb)
		if err != nil {
			return fetched{err: fmt.Errorf("btc: block %s at height %d: %w", hash, h, err)}
		}
		ids = &blockIDs{txids: txids}
	}
	if !g.cfg.SkipMerkleCheck {
		if err := checkMerkle(mb, ids.txids, ids.wtxids); err != nil {
			return fetched{err: err}
		}
	}
	b, err := normalize(mb, h, g.cfg.Params, nil, ids.txids)
	if err != nil {
		return fetched{err: fmt.Errorf("btc: block %s at height %d: %w", hash, h, err)}
	}
	return fetched{height: h, msg: mb, txids: ids.txids, block: b}
}

// connect resolves the inputs of the fetched blocks and connects them,
// publishing as it goes. It stops with mismatch set when a block does not
// build on the tip (g.mismatch says how).
func (g *Ingestor) connect(ctx context.Context, ahead <-chan fetched, target int64, blocks, txs *int64) (mismatch bool, err error) {
	for f := range ahead {
		if f.err != nil {
			if ctx.Err() != nil {
				return false, nil // stopping: the reader saw it first
			}
			return false, f.err
		}
		tip, tipHash := g.cfg.State.Tip()
		if tip >= 0 && f.msg.Header.PrevBlock != tipHash {
			g.mismatch = fmt.Errorf("btc: the source's block %s at height %d has parent %s, but its block at height %d is %s",
				f.block.Hash, f.height, f.msg.Header.PrevBlock, tip, tipHash)
			return true, nil
		}
		if err := resolveInputs(f.msg, f.block, g.cfg.State, f.txids); err != nil {
			return false, fmt.Errorf("btc: block %s at height %d: %w", f.block.Hash, f.height, err)
		}
		publish := f.height >= g.cfg.From
		ev, err := g.cfg.State.connect(f.block, publish, &rawHashes{txids: f.txids, msg: f.msg})
		if err != nil {
			return false, err
		}
		if ev != nil {
			g.pending = append(g.pending, ev)
			if len(g.pending) >= g.cfg.PublishEvery {
				if err := g.send(ctx); err != nil {
					return false, err
				}
			}
		}
		*blocks++
		*txs += int64(len(f.block.Txs))
		if g.cfg.Progress != nil {
			g.cfg.Progress(Progress{Height: f.height, Target: target, Blocks: *blocks, Txs: *txs, Publishing: publish})
		}
		if ctx.Err() != nil {
			return false, nil
		}
	}
	return false, nil
}

// rootHeight is the first height the source has: 0 for a node, maybe more
// for a blocks directory that starts after genesis.
func (g *Ingestor) rootHeight() int64 {
	if r, ok := g.cfg.Source.(interface{ RootHeight() int64 }); ok {
		return r.RootHeight()
	}
	return 0
}

// reconcile disconnects our blocks that are no longer on the source's best
// chain, newest first, publishing an undo for each.
func (g *Ingestor) reconcile(ctx context.Context, best int64) error {
	for {
		tip, tipHash := g.cfg.State.Tip()
		if tip < 0 {
			return nil
		}
		if tip <= best {
			h, err := g.cfg.Source.BlockHash(ctx, tip)
			if err != nil {
				return err
			}
			if h == tipHash {
				return nil
			}
		}
		ev, err := g.cfg.State.Disconnect(chain.BTC)
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

// flush publishes every event connected so far and returns once the stream
// has them all.
func (g *Ingestor) flush(ctx context.Context) error {
	for {
		if err := g.send(ctx); err != nil {
			return err
		}
		g.published.Wait()
		if err := g.publishErr(); err != nil {
			return err
		}
		g.mu.Lock()
		n := len(g.unsent)
		g.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// send makes the pending events durable in the state (the outbox must hold
// them before anyone can see them) and hands them to the publishing
// goroutine, which publishes them in order and then removes them from the
// outbox. It returns at once unless publishAhead handovers are waiting; an
// error of an earlier handover is returned by the next send or flush.
func (g *Ingestor) send(ctx context.Context) error {
	if err := g.publishErr(); err != nil {
		return err
	}
	g.mu.Lock()
	if len(g.unsent) > 0 {
		g.pending = append(g.unsent, g.pending...)
		g.unsent = nil
	}
	g.mu.Unlock()
	if len(g.pending) == 0 {
		return nil
	}
	if err := g.cfg.State.Sync(); err != nil {
		return err
	}
	if g.jobs == nil {
		g.jobs = make(chan []*payload.Message, publishAhead)
		g.stopped = make(chan struct{})
		go g.publishLoop(ctx)
	}
	g.published.Add(1)
	select {
	case g.jobs <- g.pending:
	case <-ctx.Done():
		g.published.Done()
		return ctx.Err()
	}
	g.pending = nil
	return nil
}

// publishLoop publishes the jobs in order under ctx until the channel
// closes. After an error it skips the jobs left: their events stay in the
// outbox and are published by the next run. Once ctx has ended, the job it
// cut short and every job after it go to unsent instead.
func (g *Ingestor) publishLoop(ctx context.Context) {
	defer close(g.stopped)
	for evs := range g.jobs {
		g.mu.Lock()
		skip, behind := g.pubErr != nil, len(g.unsent) > 0
		if behind {
			g.unsent = append(g.unsent, evs...)
		}
		g.mu.Unlock()
		if !skip && !behind {
			if err := g.publish(ctx, evs); err != nil {
				g.mu.Lock()
				if ctx.Err() != nil {
					g.unsent = append(g.unsent, evs...)
				} else {
					g.pubErr = err
				}
				g.mu.Unlock()
			}
		}
		g.published.Done()
	}
}

func (g *Ingestor) publish(ctx context.Context, evs []*payload.Message) error {
	seq, err := g.cfg.Publisher.PublishMessages(ctx, evs...)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.lastSeq = max(g.lastSeq, seq)
	g.mu.Unlock()
	return g.cfg.State.Published(evs[len(evs)-1].Seq)
}

func (g *Ingestor) publishErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pubErr
}

// stopPublisher waits for the publishing goroutine to finish the jobs it
// has (bounded by its context) and to return.
func (g *Ingestor) stopPublisher() {
	if g.jobs == nil {
		return
	}
	close(g.jobs)
	<-g.stopped
	g.jobs = nil
}
