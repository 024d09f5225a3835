package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
	tmetrics "github.com/tracerproject/tracer/metrics"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/stream"
)

// Config configures a clusterer.
type Config struct {
	Chain   string
	Durable string // JetStream durable consumer name
	// Dir holds the state: the address index (Pebble) and the forest
	// snapshot. The pipeline puts it at DATA/trace/<chain>.
	Dir        string
	Heuristics heuristic.Config
	// Supercluster: a merge of two clusters both above this size is held
	// for review instead of applied; 0 applies every merge.
	Supercluster uint32
	// BatchWait: longest time an applied block waits for its rows to be
	// stored; IdleWait: a batch also closes when the stream is quiet this
	// long. BatchBlocks: a batch closes at this many blocks.
	BatchWait   time.Duration
	IdleWait    time.Duration
	BatchBlocks int
	AckWait     time.Duration
	// SnapshotInterval: how often the forest is saved (and on shutdown).
	// A restart replays the stream from the last snapshot.
	SnapshotInterval time.Duration
	// Exchanges (Ethereum): the known exchange wallets the deposit
	// heuristic sweeps to, on top of Heuristics.Deposit.Exchanges; read
	// at start and every ExchangeRefresh. Nil: the configured ones only.
	Exchanges       ExchangeSource
	ExchangeRefresh time.Duration
	Logger          *slog.Logger
	Metrics         prometheus.Registerer
}

// DefaultConfig is the configuration callers copy and change.
func DefaultConfig(chain string) Config {
	return Config{
		Chain: chain, Durable: "clusterer", Heuristics: heuristic.DefaultConfig(), Supercluster: 100_000,
		BatchWait: time.Second, IdleWait: 200 * time.Millisecond, BatchBlocks: 500, AckWait: 30 * time.Second,
		SnapshotInterval: 5 * time.Minute, ExchangeRefresh: 10 * time.Minute,
	}
}

// Clusterer is the durable consumer that keeps the address clusters of a
// chain current: it applies the heuristics' links block by block, records
// every merge with its evidence in the store and acks a block only after
// its rows are stored.
type Clusterer struct {
	cfg   Config
	conn  store.Conn
	state *State
	log   *slog.Logger
	m     metrics

	lastSnapshot time.Time
	unsaved      bool // state applied beyond the last snapshot
	lastRefresh  time.Time
}

type metrics struct {
	blocks, links, merges, held, undos prometheus.Counter
	addresses                          prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, chain string) (metrics, error) {
	labels := prometheus.Labels{"chain": chain}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tracer", Subsystem: "clusterer", Name: name, Help: help, ConstLabels: labels})
	}
	m := metrics{
		blocks:    counter("blocks_total", "Blocks clustered."),
		links:     counter("links_total", "Links drawn by the heuristics."),
		merges:    counter("merges_total", "Cluster merges applied."),
		held:      counter("held_total", "Merges held by the supercluster guard."),
		undos:     counter("undos_total", "Blocks undone by reorgs."),
		addresses: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "tracer", Subsystem: "clusterer", Name: "addresses", Help: "Addresses with an id.", ConstLabels: labels}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	for _, c := range []*prometheus.Counter{&m.blocks, &m.links, &m.merges, &m.held, &m.undos} {
		if *c, err = tmetrics.Register(reg, *c); err != nil {
			return m, fmt.Errorf("cluster: clusterer metrics: %w", err)
		}
	}
	if m.addresses, err = tmetrics.Register(reg, m.addresses); err != nil {
		return m, fmt.Errorf("cluster: clusterer metrics: %w", err)
	}
	return m, nil
}

// New validates the configuration and opens the state in cfg.Dir.
func New(cfg Config, conn store.Conn) (*Clusterer, error) {
	if cfg.Chain != chain.BTC && cfg.Chain != chain.ETH {
		return nil, fmt.Errorf("cluster: clustering of chain %q is not supported (%s or %s)", cfg.Chain, chain.BTC, chain.ETH)
	}
	if cfg.Durable == "" || cfg.Dir == "" || conn == nil {
		return nil, errors.New("cluster: clusterer needs a durable name, a state directory and a store")
	}
	if cfg.IdleWait <= 0 || cfg.IdleWait > cfg.BatchWait {
		cfg.IdleWait = cfg.BatchWait
	}
	if cfg.BatchWait <= 0 || cfg.BatchBlocks <= 0 || cfg.AckWait < time.Second || cfg.AckWait <= cfg.BatchWait || cfg.SnapshotInterval <= 0 {
		return nil, fmt.Errorf("cluster: clusterer limits: batch wait %s, batch blocks %d and snapshot interval %s must be positive, ack wait %s at least 1s and above the batch wait",
			cfg.BatchWait, cfg.BatchBlocks, cfg.SnapshotInterval, cfg.AckWait)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("service", "clusterer", "chain", cfg.Chain)
	m, err := newMetrics(cfg.Metrics, cfg.Chain)
	if err != nil {
		return nil, err
	}
	open := OpenState
	if cfg.Chain == chain.ETH {
		open = OpenETHState
		if cfg.ExchangeRefresh <= 0 {
			cfg.ExchangeRefresh = 10 * time.Minute
		}
	}
	st, err := open(filepath.Clean(cfg.Dir), cfg.Heuristics, cfg.Supercluster, log)
	if err != nil {
		return nil, err
	}
	log.Info("clusterer state loaded", "addresses", st.Addresses(), "resumes_after_seq", st.LastSeq())
	return &Clusterer{cfg: cfg, conn: conn, state: st, log: log, m: m, lastSnapshot: time.Now()}, nil
}

// State is the clusterer's state (for inspection and tests).
func (c *Clusterer) State() *State { return c.state }

// Close saves a snapshot when everything applied is stored, and closes
// the state.
func (c *Clusterer) Close() error {
	var err error
	if c.unsaved {
		err = c.state.Snapshot()
	}
	return errors.Join(err, c.state.Close())
}

// startSeq positions the durable consumer at the first event after the
// snapshot. The consumer may have acked beyond it (the clusterer stopped
// after storing and acking, before its next snapshot); then it is
// recreated, and the events after the snapshot come again.
func (c *Clusterer) startSeq(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	last := c.state.LastSeq()
	cons, err := js.Consumer(ctx, stream.StreamName(c.cfg.Chain), c.cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound):
		return last + 1, nil
	case err != nil:
		return 0, fmt.Errorf("cluster: consumer %s: %w", c.cfg.Durable, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("cluster: consumer %s: %w", c.cfg.Durable, err)
	}
	if info.AckFloor.Stream <= last {
		return 0, nil // redeliveries up to last are skipped
	}
	c.log.Info("rewinding the durable consumer to the snapshot", "acked", info.AckFloor.Stream, "snapshot_seq", last)
	if err := js.DeleteConsumer(ctx, stream.StreamName(c.cfg.Chain), c.cfg.Durable); err != nil {
		return 0, fmt.Errorf("cluster: rewinding consumer %s: %w", c.cfg.Durable, err)
	}
	return last + 1, nil
}

// Run consumes until ctx is cancelled or an error occurs. On the way out it
// stores what it applied and saves a snapshot.
func (c *Clusterer) Run(ctx context.Context, js jetstream.JetStream) (err error) {
	start, err := c.startSeq(ctx, js)
	if err != nil {
		return err
	}
	r, err := stream.NewReader(ctx, js, stream.ReaderConfig{
		Chain: c.cfg.Chain, Durable: c.cfg.Durable, AckWait: c.cfg.AckWait, StartSeq: start, Logger: c.log,
	})
	if err != nil {
		return err
	}
	defer r.Close()
	var (
		changes  = NewChanges()
		pending  []*stream.Delivery
		deadline time.Time
	)
	if err := c.refreshExchanges(ctx); err != nil {
		return err
	}
	flush := func(ctx context.Context) error {
		if len(pending) == 0 && changes.Empty() {
			return nil
		}
		if err := c.state.Commit(true); err != nil {
			return err
		}
		if err := c.write(ctx, changes, pending); err != nil {
			return err
		}
		if err := stream.Ack(ctx, pending); err != nil {
			return err
		}
		c.m.merges.Add(float64(len(changes.Merges)))
		c.m.held.Add(float64(len(changes.Held)))
		c.m.links.Add(float64(changes.Links))
		c.m.addresses.Set(float64(c.state.Addresses()))
		pending = pending[:0]
		changes.Reset()
		if time.Since(c.lastSnapshot) >= c.cfg.SnapshotInterval {
			if err := c.state.Snapshot(); err != nil {
				return err
			}
			c.lastSnapshot, c.unsaved = time.Now(), false
		}
		return nil
	}
	defer func() {
		// Store what was applied, so the snapshot in Close may cover it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if ferr := flush(fctx); ferr != nil {
			c.unsaved = false // the state is ahead of the store: do not snapshot it
			if err == nil {
				err = ferr
			}
		}
	}()
	for {
		maxWait := time.Second
		if len(pending) > 0 {
			maxWait = min(time.Until(deadline), c.cfg.IdleWait)
		}
		d, err := r.Next(ctx, maxWait)
		switch {
		case errors.Is(err, stream.ErrNoEvent):
			if len(pending) > 0 {
				if err := flush(ctx); err != nil {
					return err
				}
			}
			continue
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		if time.Since(c.lastRefresh) >= c.cfg.ExchangeRefresh {
			if err := c.refreshExchanges(ctx); err != nil {
				return err
			}
		}
		ev := d.Event
		switch ev.Kind {
		case chain.KindBlock:
			if ev.Block == nil {
				return fmt.Errorf("cluster: block event %d (stream sequence %d) has no block", ev.Seq, d.StreamSeq)
			}
			if err := c.state.Connect(d.StreamSeq, ev.Block, changes); err != nil {
				return err
			}
			c.unsaved = true
			c.m.blocks.Inc()
			if len(pending) == 0 {
				deadline = time.Now().Add(c.cfg.BatchWait)
			}
			pending = append(pending, d)
			if len(pending) >= c.cfg.BatchBlocks || changes.Dirty.Len() >= 200_000 {
				if err := flush(ctx); err != nil {
					return err
				}
			}
		case chain.KindUndo:
			if err := flush(ctx); err != nil {
				return err
			}
			redelivered := d.StreamSeq <= c.state.LastSeq()
			if err := c.state.Disconnect(d.StreamSeq, ev.Hash, changes); err != nil {
				return err
			}
			c.unsaved = true
			if !redelivered {
				if err := c.deleteBlock(ctx, ev.Hash); err != nil {
					return err
				}
			}
			pending = append(pending, d)
			if err := flush(ctx); err != nil {
				return err
			}
			c.m.undos.Inc()
			c.log.Info("block undone", "height", ev.Height, "hash", ev.Hash)
		default:
			return fmt.Errorf("cluster: event %d has unknown kind %q", ev.Seq, ev.Kind)
		}
	}
}

// deleteBlock removes the evidence a reorged-out block left in the store.
func (c *Clusterer) deleteBlock(ctx context.Context, hash string) error {
	tables := []any{c.table("merges"), c.table("held")}
	for _, t := range tables {
		if err := c.conn.Exec(ctx, "ALTER TABLE "+t.(string)+" DELETE WHERE block_hash = ?", hash); err != nil {
			return fmt.Errorf("cluster: undo of block %s in %s: %w", hash, t, err)
		}
	}
	// ALTER DELETE is asynchronous on ClickHouse 18.16.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		rows, err := c.conn.Query(ctx, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0 AND table IN ?", ch.GroupSet{Value: tables})
		if err != nil {
			return fmt.Errorf("cluster: waiting for the undo of block %s: %w", hash, err)
		}
		var n uint64
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return fmt.Errorf("cluster: waiting for the undo of block %s: %w", hash, err)
			}
		}
		rows.Close()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// write stores the changes: the evidence first, then the address and
// cluster rows, all versioned by the stream sequence of the last event.
func (c *Clusterer) write(ctx context.Context, chg *Changes, pending []*stream.Delivery) error {
	stop := stream.KeepAlive(ctx, c.cfg.AckWait, pending, c.log)
	defer stop()
	seq := c.state.LastSeq()
	height := uint32(max(chg.Height, 0))
	for _, part := range []struct {
		table string
		rows  []Merge
	}{{c.table("merges"), chg.Merges}, {c.table("held"), chg.Held}} {
		if len(part.rows) == 0 {
			continue
		}
		cols := MergeColumns(part.rows, part.table == c.table("merges"))
		if c.cfg.Chain == chain.ETH {
			more, err := evidenceColumns(part.rows)
			if err != nil {
				return err
			}
			cols = append(cols, more...)
		}
		if err := c.conn.Insert(ctx, part.table, cols); err != nil {
			return fmt.Errorf("cluster: storing %d merges in %s: %w", len(part.rows), part.table, err)
		}
	}
	if chg.Dirty.Len() > 0 {
		n := chg.Dirty.Len()
		addr, ids, clusters := make([]string, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
		for _, id := range chg.Dirty.IDs() {
			a, err := c.state.Address(id)
			if err != nil {
				return err
			}
			addr, ids, clusters = append(addr, a), append(ids, id), append(clusters, c.state.f.Find(id))
		}
		err := c.conn.Insert(ctx, c.table("address_cluster"), []store.Column{
			{Name: "address", Values: addr}, {Name: "address_id", Values: ids}, {Name: "cluster", Values: clusters},
			{Name: "block_height", Values: fill(n, height)}, {Name: "seq", Values: fill(n, seq)},
		})
		if err != nil {
			return fmt.Errorf("cluster: storing %d address clusters: %w", n, err)
		}
	}
	if chg.DirtyRoots.Len() > 0 {
		n := chg.DirtyRoots.Len()
		ids, sizes := make([]uint32, 0, n), make([]uint32, 0, n)
		for _, r := range chg.DirtyRoots.IDs() {
			size := uint32(0)
			if c.state.f.Find(r) == r {
				size = c.state.f.size[r]
			}
			ids, sizes = append(ids, r), append(sizes, size)
		}
		err := c.conn.Insert(ctx, c.table("clusters"), []store.Column{
			{Name: "cluster", Values: ids}, {Name: "size", Values: sizes},
			{Name: "block_height", Values: fill(n, height)}, {Name: "seq", Values: fill(n, seq)},
		})
		if err != nil {
			return fmt.Errorf("cluster: storing %d cluster sizes: %w", n, err)
		}
	}
	return nil
}

// table is the name of the chain's table trace_<chain>_<name>.
func (c *Clusterer) table(name string) string { return tableName(c.cfg.Chain, name) }

func tableName(chain, name string) string { return "trace_" + chain + "_" + name }

// refreshExchanges reads the known exchange wallets (Ethereum) again.
func (c *Clusterer) refreshExchanges(ctx context.Context) error {
	c.lastRefresh = time.Now()
	if c.cfg.Chain != chain.ETH || c.cfg.Exchanges == nil {
		return nil
	}
	m, err := c.cfg.Exchanges.Exchanges(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// Keep the wallets known so far: a passing store error should not
		// stop clustering.
		c.log.Warn("reading the exchange wallets", "err", err)
		return nil
	}
	n, err := c.state.SetExchanges(m)
	if err != nil {
		return err
	}
	c.log.Debug("exchange wallets", "known", n)
	return nil
}

func fill[T any](n int, v T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// MergeColumns are the columns of trace_<chain>_merges (withCluster) and
// trace_<chain>_held for merges, as the clusterer writes them.
func MergeColumns(ms []Merge, withCluster bool) []store.Column {
	n := len(ms)
	var (
		a, b, txid, heur, hash = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ver                    = make([]uint16, n)
		height                 = make([]uint32, n)
		ca, cb, sa, sb, cl     = make([]uint32, n), make([]uint32, n), make([]uint32, n), make([]uint32, n), make([]uint32, n)
		seq                    = make([]uint64, n)
	)
	for i, m := range ms {
		a[i], b[i], txid[i], heur[i], hash[i] = m.AddrA, m.AddrB, m.Txid, m.Heuristic, m.BlockHash
		ver[i], height[i] = uint16(m.Version), uint32(m.Height)
		ca[i], cb[i], sa[i], sb[i], cl[i] = m.ClusterA, m.ClusterB, m.SizeA, m.SizeB, m.Cluster
		seq[i] = m.Seq
	}
	cols := []store.Column{
		{Name: "address_a", Values: a}, {Name: "address_b", Values: b}, {Name: "txid", Values: txid},
		{Name: "heuristic", Values: heur}, {Name: "heuristic_version", Values: ver},
		{Name: "block_hash", Values: hash}, {Name: "block_height", Values: height},
		{Name: "cluster_a", Values: ca}, {Name: "cluster_b", Values: cb},
		{Name: "size_a", Values: sa}, {Name: "size_b", Values: sb}, {Name: "seq", Values: seq},
	}
	if withCluster {
		cols = append(cols, store.Column{Name: "cluster", Values: cl})
	}
	return cols
}
