package chserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// Environment variables read by the test helpers.
const (
	// EnvDSN names a running server to use instead of starting one.
	EnvDSN = "TRACER_TEST_CLICKHOUSE_DSN"
	// EnvRequire, set to 1, turns a missing binary from a skip into a failure.
	EnvRequire = "TRACER_REQUIRE_CLICKHOUSE"
)

// sharedStartTimeout bounds the start of the shared server. A cold start of
// 18.16 takes well under a second; a loaded CI machine gets far more.
const sharedStartTimeout = 2 * time.Minute

var shared struct {
	once sync.Once
	mu   sync.Mutex
	srv  *Server
	dsn  string
	err  error
}

// DSN returns the DSN of the default database on the test binary's shared
// server, starting the server on first use, or TRACER_TEST_CLICKHOUSE_DSN
// when that is set. Without a clickhouse-server binary it skips the test,
// or fails it when TRACER_REQUIRE_CLICKHOUSE=1.
func DSN(tb testing.TB) string {
	tb.Helper()
	shared.once.Do(func() {
		if env := os.Getenv(EnvDSN); env != "" {
			shared.dsn, shared.err = withDatabase(env, "default", false)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
		defer cancel()
		start := time.Now()
		srv, err := Start(ctx, Config{})
		if err != nil {
			shared.err = err
			return
		}
		shared.mu.Lock()
		shared.srv = srv
		shared.mu.Unlock()
		shared.dsn = srv.DSN()
		tb.Logf("chserver: started clickhouse-server at %s in %v (logs in %s/log)", srv.Addr(), time.Since(start).Round(time.Millisecond), srv.Dir())
	})
	if shared.err != nil {
		skipOrFail(tb, shared.err)
	}
	return shared.dsn
}

var dbSeq atomic.Uint64

// TempDatabase creates a database of its own for the test on the shared
// server (see DSN), drops it when the test ends, and returns its DSN.
func TempDatabase(tb testing.TB) string {
	tb.Helper()
	base := DSN(tb)
	name := fmt.Sprintf("test_%d_%d_%s", os.Getpid(), dbSeq.Add(1), identPart(tb.Name()))
	dsn, err := withDatabase(base, name, true)
	if err != nil {
		tb.Fatal(err)
	}
	admin, err := withDatabase(base, "default", true)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := execSQL(ctx, admin, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("chserver: creating database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := execSQL(ctx, admin, "DROP DATABASE IF EXISTS "+name); err != nil {
			tb.Errorf("chserver: dropping database %s: %v", name, err)
		}
	})
	return dsn
}

// ForTest starts a server of the test's own, which it may stop or break,
// and closes it when the test ends. It skips or fails like DSN when there
// is no binary; TRACER_TEST_CLICKHOUSE_DSN does not apply.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
	defer cancel()
	srv, err := Start(ctx, Config{})
	if err != nil {
		skipOrFail(tb, err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("closing clickhouse-server: %v", err)
		}
	})
	return srv
}

// StopShared stops the shared server, if one was started, and removes its
// directory. Call it from TestMain after m.Run; later calls of DSN fail.
func StopShared() error {
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// Main runs the tests and then stops the shared server:
//
//	func TestMain(m *testing.M) { chserver.Main(m) }
//
// The cleanups run after the tests, before the servers stop.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if !errors.Is(err, ErrNotFound) {
		tb.Fatal(err)
	}
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("%v; %s=1 requires a ClickHouse server", err, EnvRequire)
	}
	tb.Skipf("%v; or set %s to a running server (%s=1 makes this a failure)", err, EnvDSN, EnvRequire)
}

// withDatabase returns dsn naming database db. Unless replace is set, a
// database already named in dsn is kept.
func withDatabase(dsn, db string, replace bool) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("chserver: bad ClickHouse DSN %q (want clickhouse://host:port[/db])", dsn)
	}
	if replace || strings.Trim(u.Path, "/") == "" {
		u.Path = "/" + db
	}
	return u.String(), nil
}

func execSQL(ctx context.Context, dsn, query string) error {
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Exec(ctx, query)
}

// identPart makes a test name usable in a database name: letters, digits
// and underscores, at most 40 of them.
func identPart(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}
