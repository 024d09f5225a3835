package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/metrics"
	"github.com/tracerproject/tracer/stream"
)

// LoaderConfig configures a loader. A batch closes on rows or time,
// whichever comes first, or as soon as the stream goes quiet.
type LoaderConfig struct {
	Chain     string
	Durable   string        // JetStream durable consumer name
	BatchRows int           // rows over all tables
	BatchWait time.Duration // longest time a received block waits for its insert
	// IdleWait: a batch also closes when no event arrives for this long,
	// so the tail of a backfill and each new block of a live chain are
	// stored at once. It bounds the inserts a second when the producer is
	// slower than the loader.
	IdleWait time.Duration
	// AckWait is how long JetStream waits for an ack before redelivering:
	// after a crash, the next loader gets the unacked blocks this long
	// after they were delivered. Long inserts keep their messages alive
	// with progress notices, so it can be short.
	AckWait time.Duration
	Logger  *slog.Logger
	// Metrics registers the loader's Prometheus metrics; nil: none.
	Metrics prometheus.Registerer
}

// DefaultLoaderConfig is the configuration callers copy and change.
func DefaultLoaderConfig(chain string) LoaderConfig {
	return LoaderConfig{Chain: chain, Durable: "loader", BatchRows: 250_000, BatchWait: time.Second, IdleWait: 200 * time.Millisecond, AckWait: 15 * time.Second}
}

// Loader is the durable JetStream consumer that writes a chain's events
// into the store. It acks a message only after what it carries is stored.
type Loader struct {
	st  *Store
	cfg LoaderConfig
	log *slog.Logger

	blocks, txs, rows, undos atomic.Uint64
	m                        loaderMetrics
}

type loaderMetrics struct {
	blocks, txs, rows, undos prometheus.Counter
	batch                    prometheus.Histogram
	height                   prometheus.Gauge
}

func newLoaderMetrics(reg prometheus.Registerer, chain string) (loaderMetrics, error) {
	labels := prometheus.Labels{"chain": chain}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tracer", Subsystem: "loader", Name: name, Help: help, ConstLabels: labels})
	}
	m := loaderMetrics{
		blocks: counter("blocks_total", "Blocks stored."),
		txs:    counter("txs_total", "Transactions stored."),
		rows:   counter("rows_total", "Rows inserted over all tables."),
		undos:  counter("undos_total", "Blocks removed by reorgs."),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tracer", Subsystem: "loader", Name: "batch_seconds",
			Help: "Time to insert and ack one batch.", ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "tracer", Subsystem: "loader", Name: "height",
			Help: "Height of the last stored block.", ConstLabels: labels}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	for _, c := range []*prometheus.Counter{&m.blocks, &m.txs, &m.rows, &m.undos} {
		if *c, err = metrics.Register(reg, *c); err != nil {
			return m, fmt.Errorf("store: loader metrics: %w", err)
		}
	}
	if m.batch, err = metrics.Register(reg, m.batch); err != nil {
		return m, fmt.Errorf("store: loader metrics: %w", err)
	}
	if m.height, err = metrics.Register(reg, m.height); err != nil {
		return m, fmt.Errorf("store: loader metrics: %w", err)
	}
	return m, nil
}

// NewLoader validates the configuration.
func NewLoader(st *Store, cfg LoaderConfig) (*Loader, error) {
	if cfg.Chain == "" || cfg.Durable == "" {
		return nil, errors.New("store: loader needs a chain and a durable name")
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 15 * time.Second
	}
	if cfg.IdleWait <= 0 || cfg.IdleWait > cfg.BatchWait {
		cfg.IdleWait = cfg.BatchWait
	}
	if cfg.BatchRows <= 0 || cfg.BatchWait <= 0 || cfg.AckWait < time.Second || cfg.AckWait <= cfg.BatchWait {
		return nil, fmt.Errorf("store: loader limits: batch rows %d and batch wait %s must be positive, ack wait %s at least 1s and above the batch wait", cfg.BatchRows, cfg.BatchWait, cfg.AckWait)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newLoaderMetrics(cfg.Metrics, cfg.Chain)
	if err != nil {
		return nil, err
	}
	return &Loader{st: st, cfg: cfg, m: m, log: log.With("service", "loader", "chain", cfg.Chain)}, nil
}

// LoaderStats are running totals since the loader started.
type LoaderStats struct{ Blocks, Txs, Rows, Undos uint64 }

// Stats returns the loader's running totals.
func (l *Loader) Stats() LoaderStats {
	return LoaderStats{l.blocks.Load(), l.txs.Load(), l.rows.Load(), l.undos.Load()}
}

// write stores a batch, then acks its deliveries.
func (l *Loader) write(ctx context.Context, b *Batch, pending []*stream.Delivery, txs int, lastHeight int64) error {
	start := time.Now()
	stop := stream.KeepAlive(ctx, l.cfg.AckWait, pending, l.log)
	err := l.st.Write(ctx, b)
	stop()
	if err != nil {
		return err
	}
	if err := stream.Ack(ctx, pending); err != nil {
		return err
	}
	l.blocks.Add(uint64(b.Len()))
	l.txs.Add(uint64(txs))
	l.rows.Add(uint64(b.Rows()))
	l.m.blocks.Add(float64(b.Len()))
	l.m.txs.Add(float64(txs))
	l.m.rows.Add(float64(b.Rows()))
	l.m.height.Set(float64(lastHeight))
	l.m.batch.Observe(time.Since(start).Seconds())
	l.log.Debug("batch stored", "blocks", b.Len(), "rows", b.Rows(), "took", time.Since(start))
	return nil
}

// Run consumes until ctx is cancelled or an error occurs. Work received
// but not stored when it returns is redelivered to the next run.
func (l *Loader) Run(ctx context.Context, js jetstream.JetStream) error {
	r, err := stream.NewReader(ctx, js, stream.ReaderConfig{
		Chain:   l.cfg.Chain,
		Durable: l.cfg.Durable,
		AckWait: l.cfg.AckWait,
		Logger:  l.log,
	})
	if err != nil {
		return err
	}
	defer r.Close()

	// One batch fills while the one before it is written: decoding the
	// stream overlaps the insert. Acks follow each write, in order.
	var (
		batch, spare = &Batch{}, &Batch{}
		pending      []*stream.Delivery
		deadline     time.Time
		txs          int
		lastHeight   int64
		inflight     chan error
	)
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	defer func() { _ = wait() }()
	flush := func(sync bool) error {
		if err := wait(); err != nil {
			return err
		}
		if len(pending) > 0 {
			b, p, n, h := batch, pending, txs, lastHeight
			batch, spare = spare, batch
			batch.Reset()
			pending, txs = nil, 0
			done := make(chan error, 1)
			go func() { done <- l.write(ctx, b, p, n, h) }()
			inflight = done
		}
		if sync {
			return wait()
		}
		return nil
	}
	for {
		maxWait := time.Second
		if len(pending) > 0 {
			maxWait = min(time.Until(deadline), l.cfg.IdleWait)
		}
		d, err := r.Next(ctx, maxWait)
		switch {
		case errors.Is(err, stream.ErrNoEvent):
			// The batch's time is up, or the stream went quiet: a
			// backfill's tail, or a live chain between blocks.
			if len(pending) > 0 {
				if err := flush(false); err != nil {
					return err
				}
			}
			continue
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		ev := d.Event
		switch ev.Kind {
		case chain.KindBlock:
			if err := batch.AddBlock(ev.Block, ev.Seq); err != nil {
				return err
			}
			if len(pending) == 0 {
				deadline = time.Now().Add(l.cfg.BatchWait)
			}
			pending = append(pending, d)
			txs += ev.Block.TxCount()
			lastHeight = ev.Height
			if batch.Rows() >= l.cfg.BatchRows {
				if err := flush(false); err != nil {
					return err
				}
			}
		case chain.KindUndo:
			// Rows of the block may sit in the open batch: store them
			// first so the undo removes them too.
			if err := flush(true); err != nil {
				return err
			}
			if err := l.st.Undo(ctx, ev.Chain, ev.Hash); err != nil {
				return err
			}
			if err := stream.Ack(ctx, []*stream.Delivery{d}); err != nil {
				return err
			}
			l.undos.Add(1)
			l.m.undos.Inc()
			l.m.height.Set(float64(ev.Height - 1))
			l.log.Info("block undone", "height", ev.Height, "hash", ev.Hash)
		default:
			return fmt.Errorf("store: event %d has unknown kind %q", ev.Seq, ev.Kind)
		}
	}
}
