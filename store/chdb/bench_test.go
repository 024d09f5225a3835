package chdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tracerproject/tracer/store"
)

// benchColumns is n rows shaped like the pipeline's: an address, a
// height, a value, a hash and a time.
func benchColumns(n int) []store.Column {
	addr, height, value, hash, at := make([]string, n), make([]uint32, n), make([]int64, n), make([]string, n), make([]time.Time, n)
	for i := range n {
		addr[i] = fmt.Sprintf("bc1q%038d", i)
		height[i] = uint32(800000 + i/2000)
		value[i] = int64(i) * 1000
		hash[i] = fmt.Sprintf("%064x", uint64(i)*0x9e3779b97f4a7c15)
		at[i] = time.Unix(1700000000+int64(i/2000)*600, 0)
	}
	return []store.Column{{Name: "address", Values: addr}, {Name: "height", Values: height}, {Name: "value", Values: value}, {Name: "hash", Values: hash}, {Name: "time", Values: at}}
}

const benchRows = 100_000

// BenchmarkInsert inserts batches of 100k rows of (String, UInt32, Int64,
// String, DateTime). The encode sub-benchmark is the Go side alone, the
// baseline the engine's share is measured against.
func BenchmarkInsert(b *testing.B) {
	cols := benchColumns(benchRows)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := encodeRows("bench", cols); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("chdb", func(b *testing.B) {
		c := conn(b)
		ctx := context.Background()
		for _, q := range []string{"DROP TABLE IF EXISTS bench", `CREATE TABLE bench (
			address String, height UInt32, value Int64, hash String, time DateTime
		) ENGINE = ReplacingMergeTree() ORDER BY (address, hash)`} {
			if err := c.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if err := c.Insert(ctx, "bench", cols); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// BenchmarkQuery reads 100k rows of the same shape back and scans them.
func BenchmarkQuery(b *testing.B) {
	c := conn(b)
	ctx := context.Background()
	for _, q := range []string{"DROP TABLE IF EXISTS bench_read", `CREATE TABLE bench_read (
		address String, height UInt32, value Int64, hash String, time DateTime
	) ENGINE = MergeTree() ORDER BY (address, hash)`} {
		if err := c.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Insert(ctx, "bench_read", benchColumns(benchRows)); err != nil {
		b.Fatal(err)
	}
	var (
		addr, hash string
		height     uint32
		value      int64
		at         time.Time
	)
	for b.Loop() {
		rows, err := c.Query(ctx, "SELECT address, height, value, hash, time FROM bench_read")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(&addr, &height, &value, &hash, &at); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil || n != benchRows {
			b.Fatalf("got %d rows, %v", n, err)
		}
		rows.Close()
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
