// Package pipeline assembles the tracer's components for one process: the
// data directory and its lock, NATS (embedded nats-server or an external
// server), the store (embedded chDB or a ClickHouse server) and the
// consumer services that run on them. Run runs a long-lived process's
// services (ingest, loaders, clusterers, alerters, schedules) in one
// group that it cancels and waits for as a whole.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/chdb"
	"github.com/tracerproject/tracer/store/clickhouse"
	"github.com/tracerproject/tracer/stream"
)

// Config says where things live. Empty URLs mean the embedded defaults.
type Config struct {
	DataDir string
	// NATSURL of an external server or cluster; empty starts an embedded
	// server with its store under DataDir/nats.
	NATSURL string
	// NATSListen is the embedded server's client address.
	NATSListen string
	// NATSReplicas for the chain streams on a NATS cluster.
	NATSReplicas int
	// StoreDSN of a ClickHouse server (clickhouse://host:9000/db); empty
	// opens embedded chDB under DataDir/chdb.
	StoreDSN string
	// ChdbLib is the path of libchdb.so (empty: CHDB_LIB_PATH and the
	// usual places).
	ChdbLib string
	Loader  store.LoaderConfig
	// Cluster configures the clusterer (zero: cluster.DefaultConfig);
	// NoCluster turns it off.
	Cluster   cluster.Config
	NoCluster bool
	// Alerts configures the alerter; nil (or no rules): no alerter.
	Alerts *alert.Config
	Logger *slog.Logger
	// Metrics registers the services' Prometheus metrics; nil: none.
	Metrics prometheus.Registerer
}

// Pipeline owns the process's connections. Components open on first use.
type Pipeline struct {
	cfg  Config
	log  *slog.Logger
	lock *os.File

	mu sync.Mutex
	ns *stream.Server
	nc *nats.Conn
	js jetstream.JetStream
	st *store.Store
}

// ErrLocked says another process uses the data directory.
var ErrLocked = errors.New("pipeline: data directory in use")

// Open creates the data directory if needed and locks it: the embedded
// NATS store, embedded ClickHouse and ingest state must have one owner.
func Open(cfg Config) (*Pipeline, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("pipeline: no data directory (--data or TRACER_DATA)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("pipeline: data directory: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &Pipeline{cfg: cfg, log: log, lock: lock}, nil
}

func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pipeline: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by another tracer process (pid %s); stop it, or give this command its own --data (with an external NATS and ClickHouse, several processes share one stream and store, each with its own data directory)",
			ErrLocked, dir, strings.TrimSpace(string(owner)))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// DataDir is the locked data directory.
func (p *Pipeline) DataDir() string { return p.cfg.DataDir }

// Embedded reports whether NATS and the store both run in this process, in
// which case commands also run the consumers themselves.
func (p *Pipeline) Embedded() bool { return p.cfg.NATSURL == "" && p.cfg.StoreDSN == "" }

// EmbeddedNATS reports whether NATS runs in this process.
func (p *Pipeline) EmbeddedNATS() bool { return p.cfg.NATSURL == "" }

// NATS connects to NATS, starting the embedded server first if configured.
func (p *Pipeline) NATS(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nc != nil {
		return p.nc, p.js, nil
	}
	url := p.cfg.NATSURL
	if url == "" {
		ns, err := stream.StartServer(stream.ServerConfig{
			StoreDir: filepath.Join(p.cfg.DataDir, "nats"),
			Listen:   p.cfg.NATSListen,
			Logger:   p.log,
		})
		if err != nil {
			return nil, nil, err
		}
		p.ns = ns
		url = ns.ClientURL()
		_ = os.WriteFile(filepath.Join(p.cfg.DataDir, "nats.url"), []byte(url+"\n"), 0o644)
		p.log.Info("embedded NATS started", "url", url)
	}
	nc, err := nats.Connect(url, nats.Name("tracer"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("pipeline: connecting to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("pipeline: JetStream: %w", err)
	}
	for _, chain := range []string{chain.BTC, chain.ETH} {
		if _, err := stream.EnsureStream(ctx, js, chain, p.cfg.NATSReplicas); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	p.nc, p.js = nc, js
	return nc, js, nil
}

// Store opens the store, migrating its schema.
func (p *Pipeline) Store(ctx context.Context) (*store.Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st != nil {
		return p.st, nil
	}
	var conn store.Conn
	var err error
	switch dsn := p.cfg.StoreDSN; {
	case dsn == "":
		conn, err = chdb.Open(chdb.Config{Path: filepath.Join(p.cfg.DataDir, "chdb"), LibPath: p.cfg.ChdbLib})
	case strings.HasPrefix(dsn, "clickhouse://"):
		conn, err = clickhouse.Open(ctx, dsn)
	default:
		err = fmt.Errorf("pipeline: store DSN %q: want clickhouse://host:9000/db, or empty for embedded chDB", dsn)
	}
	if err != nil {
		return nil, err
	}
	st, err := store.New(ctx, conn, p.log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	p.st = st
	return st, nil
}

// Loader returns a loader for the chain on this pipeline's store.
func (p *Pipeline) Loader(ctx context.Context, chain string) (*store.Loader, jetstream.JetStream, error) {
	st, err := p.Store(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, js, err := p.NATS(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg := p.cfg.Loader
	if cfg.BatchRows == 0 && cfg.BatchWait == 0 {
		cfg = store.DefaultLoaderConfig(chain)
	}
	if cfg.Durable == "" {
		cfg.Durable = "loader"
	}
	cfg.Chain, cfg.Logger, cfg.Metrics = chain, p.log, p.cfg.Metrics
	l, err := store.NewLoader(st, cfg)
	return l, js, err
}

// Health checks that NATS and the store answer.
func (p *Pipeline) Health(ctx context.Context) error {
	p.mu.Lock()
	nc, st := p.nc, p.st
	p.mu.Unlock()
	if nc != nil && !nc.IsConnected() {
		return fmt.Errorf("NATS: %s", nc.Status())
	}
	if st != nil {
		rows, err := st.Conn().Query(ctx, "SELECT 1")
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		rows.Close()
	}
	return nil
}

// Close shuts everything down in reverse order of opening. A second Close
// does nothing.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	if p.nc != nil {
		if err := p.nc.Drain(); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: draining the NATS connection: %w", err))
		}
		p.nc.Close()
	}
	if p.ns != nil {
		p.ns.Close()
	}
	if p.st != nil {
		if err := p.st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: closing the store: %w", err))
		}
	}
	if p.lock != nil {
		// Closing the file releases the lock too; unlocking first makes
		// the release not wait for the close.
		_ = syscall.Flock(int(p.lock.Fd()), syscall.LOCK_UN)
		if err := p.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: closing the lock file: %w", err))
		}
	}
	p.nc, p.js, p.ns, p.st, p.lock = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}
