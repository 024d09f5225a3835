package store_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/clickhouse"
)

// freshDatabase gives each test its own database on the shared server.
func clickhouseConn(t *testing.T) store.Conn {
	t.Helper()
	dsn := os.Getenv("TRACER_TEST_CLICKHOUSE_DSN")
	if dsn == "" {
		t.Skip("no ClickHouse server (TRACER_TEST_CLICKHOUSE_DSN)")
	}
	db := fmt.Sprintf("test_%d", time.Now().UnixNano())
	conn, err := clickhouse.Open(context.Background(), dsn+"/"+db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	})
	return conn
}

func TestStoreClickHouseServer(t *testing.T) { runSuite(t, clickhouseConn(t)) }
