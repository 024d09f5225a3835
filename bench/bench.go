package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/store"
)

// open opens a pipeline of the benchmark's own: base's loader, clusterer
// and logger, data under dataDir, an embedded NATS server on a random port
// and the store at dsn (empty: embedded chDB under dataDir), opened.
func open(ctx context.Context, base pipeline.Config, dataDir, dsn string, noCluster bool) (*pipeline.Pipeline, *store.Store, error) {
	cfg := base
	cfg.DataDir, cfg.NATSURL, cfg.NATSListen, cfg.StoreDSN, cfg.NoCluster = dataDir, "", "127.0.0.1:0", dsn, noCluster
	p, err := pipeline.Open(cfg)
	if err != nil {
		return nil, nil, err
	}
	st, err := p.Store(ctx)
	if err != nil {
		return nil, nil, errors.Join(err, p.Close())
	}
	return p, st, nil
}

// Database is dsn with its database replaced by db: never the user's own
// tables, a benchmark works in a database of its own. An empty dsn
// (embedded chDB) stays empty.
func Database(dsn, db string) (string, error) {
	if dsn == "" {
		return "", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("--clickhouse %q: %w", dsn, err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// truncate empties tables, which a benchmark refills.
func truncate(ctx context.Context, conn store.Conn, tables ...string) error {
	for _, t := range tables {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+t); err != nil {
			return err
		}
	}
	return nil
}

// reset drops and recreates the schema between the phases of one run.
func reset(ctx context.Context, conn store.Conn) error {
	if err := store.Drop(ctx, conn); err != nil {
		return err
	}
	return store.Migrate(ctx, conn)
}

// startCPUProfile writes a CPU profile to path until the returned stop is
// called; an empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// ProcessCPU is the CPU time the process has used, all threads, user
// and system (getrusage: one system call, microseconds; the cluster bench
// reads it twice a block); 0 where it cannot tell.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ResetPeakRSS restarts the process's resident-set high-water mark (Linux
// 4.0+, /proc/PID/clear_refs); elsewhere the peak covers the whole run.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// PeakRSSMiB reads the process's peak resident set (VmHWM) on Linux; 0
// elsewhere.
func PeakRSSMiB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// serverCPU reads the CPU time a ClickHouse server has counted for its
// query threads (system.events), to measure a phase: since returns the
// seconds counted from newServerCPU on, 0 when the engine is chDB (its CPU
// is this process's) or the server counts none.
type serverCPU struct {
	conn  store.Conn
	start float64
	ok    bool
}

func newServerCPU(ctx context.Context, conn store.Conn) serverCPU {
	if Embedded(conn.Engine()) {
		return serverCPU{}
	}
	v, ok := readServerCPU(ctx, conn)
	return serverCPU{conn: conn, start: v, ok: ok}
}

func (c serverCPU) since(ctx context.Context) float64 {
	if !c.ok {
		return 0
	}
	v, ok := readServerCPU(ctx, c.conn)
	if !ok || v < c.start {
		return 0
	}
	return v - c.start
}

func readServerCPU(ctx context.Context, conn store.Conn) (float64, bool) {
	rows, err := conn.Query(ctx, "SELECT toUInt64(sum(value)) FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')")
	if err != nil {
		return 0, false
	}
	defer rows.Close()
	var us uint64
	if !rows.Next() || rows.Scan(&us) != nil || us == 0 {
		return 0, false
	}
	return float64(us) / 1e6, true
}

// Embedded reports whether the engine runs in this process (chDB).
func Embedded(engine string) bool { return strings.HasPrefix(engine, "chdb") }

// loadAverage is the 1, 5 and 15 minute load averages (Linux), "" elsewhere.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// PerCPUSec is n per CPU-second, 0 when the CPU time is unknown.
func PerCPUSec(n int64, sec float64) float64 {
	if sec <= 0 {
		return 0
	}
	return float64(n) / sec
}

// percentile is the p-th percentile of v (nearest rank below), 0 for none.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// dataDir is where a benchmark's pipeline keeps its data below work.
func dataDir(work string) string { return filepath.Join(work, "data") }
