package chserver_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracerproject/tracer/internal/chserver"
)

func TestMain(m *testing.M) { chserver.Main(m) }

func query(t *testing.T, dsn, q string) string {
	t.Helper()
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s string
	if err := conn.QueryRow(ctx, q).Scan(&s); err != nil {
		t.Fatalf("%s on %s: %v", q, dsn, err)
	}
	return s
}

func exec(t *testing.T, dsn, q string) {
	t.Helper()
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, q); err != nil {
		t.Fatalf("%s on %s: %v", q, dsn, err)
	}
}

func TestStartVersionClose(t *testing.T) {
	begin := time.Now()
	srv := chserver.ForTest(t)
	t.Logf("clickhouse-server started in %v", time.Since(begin).Round(time.Millisecond))

	if got := srv.DSN(); !strings.HasPrefix(got, "clickhouse://127.0.0.1:") || !strings.HasSuffix(got, "/default") {
		t.Errorf("DSN: got %q, want clickhouse://127.0.0.1:PORT/default", got)
	}
	version := query(t, srv.DSN(), "SELECT version()")
	if version == "" {
		t.Error("SELECT version(): got an empty string")
	}
	t.Logf("version %s", version)

	// Loopback only: the native port does not answer on another address of
	// this host, if it has one.
	if ip := otherAddress(); ip != "" {
		_, port, _ := net.SplitHostPort(srv.Addr())
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second); err == nil {
			c.Close()
			t.Errorf("native port answers on %s, want loopback only", ip)
		}
	}

	dir := srv.Dir()
	begin = time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("clickhouse-server stopped in %v", time.Since(begin).Round(time.Millisecond))
	if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("native port %s still answers after Close", srv.Addr())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s after Close: got %v, want it removed", dir, err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSharedAndTempDatabase(t *testing.T) {
	dsn := chserver.DSN(t)
	if again := chserver.DSN(t); again != dsn {
		t.Errorf("second DSN: got %q, want the shared %q", again, dsn)
	}
	db := chserver.TempDatabase(t)
	if !strings.Contains(db, "/test_") {
		t.Errorf("TempDatabase: got %q, want a test_ database", db)
	}
	if got, want := query(t, db, "SELECT currentDatabase()"), db[strings.LastIndex(db, "/")+1:]; got != want {
		t.Errorf("currentDatabase(): got %q, want %q", got, want)
	}
}

func TestRestartInGivenDir(t *testing.T) {
	dir := t.TempDir()
	start := func() *chserver.Server {
		t.Helper()
		srv, err := chserver.Start(context.Background(), chserver.Config{Dir: dir})
		if errors.Is(err, chserver.ErrNotFound) && os.Getenv(chserver.EnvRequire) != "1" {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	query(t, srv.DSN(), "SELECT toString(count()) FROM system.one") // answers
	exec(t, srv.DSN(), "CREATE TABLE kept (x UInt8) ENGINE = MergeTree ORDER BY x")
	// INSERT ... VALUES through Exec hangs on 18.16 (the server waits for a
	// data block); INSERT ... SELECT does not.
	exec(t, srv.DSN(), "INSERT INTO kept (x) SELECT 7")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/log/server.log"); err != nil {
		t.Errorf("server log in the given directory: %v", err)
	}
	// A new start in the same directory (new ports) finds the data.
	srv = start()
	defer srv.Close()
	if got := query(t, srv.DSN(), "SELECT toString(sum(x)) FROM kept"); got != "7" {
		t.Errorf("after restart: got sum %s, want 7", got)
	}
}

func TestMissingBinary(t *testing.T) {
	_, err := chserver.Start(context.Background(), chserver.Config{Binary: "/nonexistent/clickhouse-server"})
	if !errors.Is(err, chserver.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

// otherAddress returns a non-loopback IPv4 address of this host, or "".
func otherAddress() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
