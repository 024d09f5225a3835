package store_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/chdb"
	"github.com/tracerproject/tracer/store/clickhouse"
)

func TestMain(m *testing.M) { chserver.Main(m) }

// clickhouseConn opens a database of the test's own on the Debian
// ClickHouse server (18.16) that the test binary starts.
func clickhouseConn(t *testing.T) store.Conn {
	t.Helper()
	conn, err := clickhouse.Open(context.Background(), chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// chdbConn opens embedded chDB (current ClickHouse) in a temporary
// directory. chDB holds one data directory per process, so tests using it
// must not run in parallel.
func chdbConn(t *testing.T) store.Conn {
	t.Helper()
	conn, err := chdb.Open(chdb.Config{Path: t.TempDir()})
	if errors.Is(err, chdb.ErrNoLibrary) && os.Getenv("TRACER_REQUIRE_CHDB") != "1" {
		t.Skipf("%v (TRACER_REQUIRE_CHDB=1 makes this a failure)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestStoreClickHouseServer(t *testing.T) { runSuite(t, clickhouseConn(t)) }

func TestStoreChDB(t *testing.T) { runSuite(t, chdbConn(t)) }
