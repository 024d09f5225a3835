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

	"github.com/tracerproject/tracer/ingest"
	"github.com/tracerproject/tracer/stream"
)

// LoaderConfig configures a loader. Batches close on rows or time,
// whichever comes first.
type LoaderConfig struct {
	Chain     string
	Durable   string        // JetStream durable consumer name
	BatchRows int           // rows over all tables
	BatchWait time.Duration // longest time a received block waits for its insert
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
	return LoaderConfig{Chain: chain, Durable: "loader", BatchRows: 250_000, BatchWait: time.Second, AckWait: 15 * time.Second}
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
	if reg != nil {
		for _, c := range []prometheus.Collector{m.blocks, m.txs, m.rows, m.undos, m.batch, m.height} {
			if err := reg.Register(c); err != nil {
				return m, fmt.Errorf("store: loader metrics: %w", err)
			}
		}
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

// keepAlive sends progress notices for the pending deliveries while an
// insert runs, so a slow insert is not mistaken for a dead loader.
func (l *Loader) keepAlive(ctx context.Context, pending []*stream.Delivery) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(l.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := stream.InProgress(pending); err != nil {
					l.log.Warn("progress notice failed", "err", err)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
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

	var (
		batch      Batch
		pending    []*stream.Delivery
		deadline   time.Time
		txs        int
		lastHeight int64
	)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		start := time.Now()
		stop := l.keepAlive(ctx, pending)
		err := l.st.Write(ctx, &batch)
		stop()
		if err != nil {
			return err
		}
		if err := stream.Ack(ctx, pending); err != nil {
			return err
		}
		l.blocks.Add(uint64(batch.Len()))
		l.txs.Add(uint64(txs))
		l.rows.Add(uint64(batch.Rows()))
		l.m.blocks.Add(float64(batch.Len()))
		l.m.txs.Add(float64(txs))
		l.m.rows.Add(float64(batch.Rows()))
		l.m.height.Set(float64(lastHeight))
		l.m.batch.Observe(time.Since(start).Seconds())
		l.log.Debug("batch stored", "blocks", batch.Len(), "rows", batch.Rows(), "took", time.Since(start))
		batch.Reset()
		pending, txs = pending[:0], 0
		return nil
	}
	for {
		wait := time.Second
		if len(pending) > 0 {
			wait = time.Until(deadline)
		}
		d, err := r.Next(ctx, wait)
		switch {
		case errors.Is(err, stream.ErrNoEvent):
			if len(pending) > 0 && !time.Now().Before(deadline) {
				if err := flush(); err != nil {
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
		case ingest.KindBlock:
			if err := batch.AddBlock(ev.Block, ev.Seq); err != nil {
				return err
			}
			if len(pending) == 0 {
				deadline = time.Now().Add(l.cfg.BatchWait)
			}
			pending = append(pending, d)
			txs += len(ev.Block.Txs)
			lastHeight = ev.Height
			if batch.Rows() >= l.cfg.BatchRows {
				if err := flush(); err != nil {
					return err
				}
			}
		case ingest.KindUndo:
			// Rows of the block may sit in the open batch: store them
			// first so the undo removes them too.
			if err := flush(); err != nil {
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
