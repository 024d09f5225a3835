package bench

import (
	"context"
	"testing"

	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/clickhouse"
)

// TestServerCPU: the ingest benchmark reads a server's CPU from its
// system.events, and the counter moves with the work the server does.
func TestServerCPU(t *testing.T) {
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newServerCPU(ctx, conn)
	if !c.ok {
		t.Fatal("the server's system.events gave no CPU time")
	}
	// Enough work for the counters to move by more than their rounding.
	if err := conn.Exec(ctx, "CREATE TABLE cpu_t (k String) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	ks := make([]string, 300_000)
	for i := range ks {
		ks[i] = string(rune('a'+i%26)) + "-" + string(rune('A'+i%23))
	}
	if err := conn.Insert(ctx, "cpu_t", []store.Column{{Name: "k", Values: ks}}); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT count() FROM cpu_t WHERE NOT ignore(cityHash64(k))")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if got := c.since(ctx); got <= 0 {
		t.Errorf("server CPU after an insert of 300,000 rows: %v s", got)
	}
}
