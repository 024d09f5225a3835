package chdb

import (
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tracerproject/tracer/store"
)

// Decimal(38, 0) holds wei exactly: the extremes, a value with 128-bit
// two's-complement sign trouble, and a "\n\n" byte pattern survive.
func TestInsertDecimal(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	mustExec(t, c, "DROP TABLE IF EXISTS dec")
	mustExec(t, c, "CREATE TABLE dec (n UInt32, v Decimal(38, 0)) ENGINE = MergeTree ORDER BY n")
	max := strings.Repeat("9", 38)
	want := []string{"0", "1", "-1", max, "-" + max, "85070591730234615865843651857942052864", "2570", "18446744073709551616"}
	vals := make([]decimal.Decimal, len(want))
	idx := make([]uint32, len(want))
	for i, w := range want {
		v, _ := new(big.Int).SetString(w, 10)
		vals[i], idx[i] = decimal.NewFromBigInt(v, 0), uint32(i)
	}
	// Decimal from a scaled representation that is still an integer.
	vals[6] = decimal.New(257, 1)
	if err := c.Insert(ctx, "dec", []store.Column{{Name: "n", Values: idx}, {Name: "v", Values: vals}}); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(ctx, "SELECT n, toString(v), v FROM dec ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var n uint32
		var s, raw string
		if err := rows.Scan(&n, &s, &raw); err != nil {
			t.Fatal(err)
		}
		if s != want[n] || raw != want[n] {
			t.Errorf("row %d: got %s (scanned %s), want %s", n, s, raw, want[n])
		}
		got++
	}
	if got != len(want) {
		t.Errorf("got %d rows, want %d", got, len(want))
	}
	for _, bad := range []decimal.Decimal{decimal.RequireFromString("1" + strings.Repeat("0", 38)), decimal.RequireFromString("1.5")} {
		err := c.Insert(ctx, "dec", []store.Column{{Name: "n", Values: []uint32{99}}, {Name: "v", Values: []decimal.Decimal{bad}}})
		if err == nil {
			t.Errorf("inserting %s into Decimal(38, 0): no error", bad)
		}
	}
}
