package chdb

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/store"
)

// allTypes is one column of every type Insert takes, with the values that
// break careless encoders.
func allTypes() (cols []store.Column, n int) {
	strs := append([]string{}, hostile...)
	n = len(strs)
	i8, i16, i32, i64 := make([]int8, n), make([]int16, n), make([]int32, n), make([]int64, n)
	u8, u16, u32, u64 := make([]uint8, n), make([]uint16, n), make([]uint32, n), make([]uint64, n)
	f64, bs, ts := make([]float64, n), make([]bool, n), make([]time.Time, n)
	for i := range n {
		i8[i] = math.MinInt8 + int8(i)
		i16[i] = math.MinInt16 + int16(i)
		i32[i] = math.MinInt32 + int32(i)
		i64[i] = math.MinInt64 + int64(i)
		u8[i] = math.MaxUint8 - uint8(i)
		u16[i] = math.MaxUint16 - uint16(i)
		u32[i] = uint32(0x0a0a + i) // 2570 is "\n\n\0\0" in RowBinary
		u64[i] = math.MaxUint64 - uint64(i)
		f64[i] = []float64{math.Inf(1), math.Inf(-1), math.MaxFloat64, -0.1, math.SmallestNonzeroFloat64}[i%5]
		bs[i] = i%2 == 0
		ts[i] = time.Unix(int64(i)*86400*365, 0).In(time.FixedZone("X", 5*3600))
	}
	ts[n-1] = time.Unix(math.MaxUint32, 0)
	return []store.Column{
		{Name: "s", Values: strs}, {Name: "i8", Values: i8}, {Name: "i16", Values: i16}, {Name: "i32", Values: i32}, {Name: "i64", Values: i64},
		{Name: "u8", Values: u8}, {Name: "u16", Values: u16}, {Name: "u32", Values: u32}, {Name: "u64", Values: u64}, {Name: "f64", Values: f64}, {Name: "b", Values: bs}, {Name: "t", Values: ts},
	}, n
}

const allTypesDDL = `(
	n UInt32, s String, i8 Int8, i16 Int16, i32 Int32, i64 Int64,
	u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, f64 Float64, b UInt8, t DateTime
)`

func TestInsertExact(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	mustExec(t, c, "DROP TABLE IF EXISTS exact")
	mustExec(t, c, "CREATE TABLE exact "+allTypesDDL+" ENGINE = MergeTree ORDER BY n")
	cols, n := allTypes()
	idx := make([]uint32, n)
	for i := range idx {
		idx[i] = uint32(i)
	}
	if err := c.Insert(ctx, "exact", append([]store.Column{{Name: "n", Values: idx}}, cols...)); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(ctx, "SELECT n, s, i8, i16, i32, i64, u8, u16, u32, u64, f64, b, t FROM exact ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var (
			row   uint32
			s     string
			i8    int8
			i16   int16
			i32   int32
			i64   int64
			u8    uint8
			u16   uint16
			u32   uint32
			u64   uint64
			f64   float64
			b     bool
			tm    time.Time
			aswas = func(col int) any { return cols[col].Values }
		)
		if err := rows.Scan(&row, &s, &i8, &i16, &i32, &i64, &u8, &u16, &u32, &u64, &f64, &b, &tm); err != nil {
			t.Fatal(err)
		}
		i := int(row)
		want := []any{aswas(0).([]string)[i], aswas(1).([]int8)[i], aswas(2).([]int16)[i], aswas(3).([]int32)[i],
			aswas(4).([]int64)[i], aswas(5).([]uint8)[i], aswas(6).([]uint16)[i], aswas(7).([]uint32)[i],
			aswas(8).([]uint64)[i], aswas(9).([]float64)[i], aswas(10).([]bool)[i]}
		have := []any{s, i8, i16, i32, i64, u8, u16, u32, u64, f64, b}
		for j := range want {
			if have[j] != want[j] {
				t.Errorf("row %d column %s: got %#v, want %#v", i, cols[j].Name, have[j], want[j])
			}
		}
		if wt := aswas(11).([]time.Time)[i]; !tm.Equal(wt) {
			t.Errorf("row %d column t: got %v, want %v", i, tm, wt)
		}
		got++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("got %d rows, want %d", got, n)
	}
}

func TestInsertErrors(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	mustExec(t, c, "DROP TABLE IF EXISTS ins_err")
	mustExec(t, c, "CREATE TABLE ins_err (a String, v UInt64) ENGINE = MergeTree ORDER BY a")
	tests := []struct {
		name  string
		table string
		cols  []store.Column
		want  string
	}{
		{"Go type narrower than column", "ins_err", []store.Column{{Name: "a", Values: []string{"x"}}, {Name: "v", Values: []uint32{1}}}, "must be UInt64, not UInt32"},
		{"signed into unsigned", "ins_err", []store.Column{{Name: "a", Values: []string{"x"}}, {Name: "v", Values: []int64{-1}}}, "must be UInt64, not Int64"},
		{"unknown column", "ins_err", []store.Column{{Name: "a", Values: []string{"x"}}, {Name: "nope", Values: []uint64{1}}}, "nope"},
		{"unknown table", "nope", []store.Column{{Name: "a", Values: []string{"x"}}}, "UNKNOWN_TABLE"},
		{"ragged columns", "ins_err", []store.Column{{Name: "a", Values: []string{"x", "y"}}, {Name: "v", Values: []uint64{1}}}, "column v has 1 values, column a has 2"},
		{"unsupported slice", "ins_err", []store.Column{{Name: "a", Values: []any{"x"}}}, "unsupported column type []interface {}"},
		{"bad column name", "ins_err", []store.Column{{Name: "a) SELECT 1 --", Values: []string{"x"}}}, "bad column name"},
		{"bad table name", "t; DROP", []store.Column{{Name: "a", Values: []string{"x"}}}, "bad table name"},
		{"time out of range", "ins_err", []store.Column{{Name: "a", Values: []time.Time{{}}}}, "outside the DateTime range"},
	}
	for _, tt := range tests {
		err := c.Insert(ctx, tt.table, tt.cols)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	var n uint64
	if err := queryRow(c, "SELECT count() FROM ins_err", nil, &n); err != nil || n != 0 {
		t.Errorf("rows after failed inserts: got %d, %v; want 0", n, err)
	}
	// No rows is not an error, and sends nothing.
	if err := c.Insert(ctx, "ins_err", []store.Column{{Name: "a", Values: []string{}}, {Name: "v", Values: []uint64{}}}); err != nil {
		t.Errorf("empty insert: %v", err)
	}
}

// TestEncodeDecode checks the Go RowBinary encoder against the decoder
// without the engine: Insert's file is a RowBinaryWithNamesAndTypes result.
func TestEncodeDecode(t *testing.T) {
	cols, n := allTypes()
	data, _, rowsN, err := encodeRows("t", cols)
	if err != nil || rowsN != n {
		t.Fatalf("encode: %d rows, %v", rowsN, err)
	}
	r, err := newRows(data)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := "String,Int8,Int16,Int32,Int64,UInt8,UInt16,UInt32,UInt64,Float64,UInt8,DateTime"
	if got := strings.Join(r.ColumnTypes(), ","); got != wantTypes {
		t.Errorf("types: got %s, want %s", got, wantTypes)
	}
	i := 0
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		if vals[0] != cols[0].Values.([]string)[i] || vals[8] != cols[8].Values.([]uint64)[i] {
			t.Errorf("row %d: got %q %v", i, vals[0], vals[8])
		}
		i++
	}
	if r.Err() != nil || i != n {
		t.Errorf("got %d rows, %v; want %d", i, r.Err(), n)
	}
}

// FuzzRows feeds arbitrary bytes to the result decoder: it may reject
// them but must not panic or loop.
func FuzzRows(f *testing.F) {
	cols, _ := allTypes()
	data, _, _, _ := encodeRows("t", cols)
	f.Add(data)
	f.Add([]byte("\x01\x01x\x10Nullable(String)\x00\x01a\x01"))
	f.Add([]byte("\x02\x01a\x01b\x0eArray(Float64)\x28Map(String, Tuple(UInt8, Decimal(38, 0)))\x01" +
		"\x00\x00\x00\x00\x00\x00\xf0\x3f\x01\x01k\x07" + strings.Repeat("\xff", 16)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := newRows(data)
		if err != nil {
			return
		}
		dest := make([]any, len(r.types))
		ptrs := make([]any, len(dest))
		for i := range dest {
			ptrs[i] = &dest[i]
		}
		for r.Next() {
			_ = r.Scan(ptrs...)
			var s string
			for i := range min(len(r.types), 8) {
				d := make([]any, len(r.types))
				for j := range d {
					d[j] = new(any)
				}
				d[i] = &s
				_ = r.Scan(d...)
			}
		}
	})
}

func TestScanTypes(t *testing.T) {
	c := conn(t)
	var (
		wei     string
		small   string
		neg     string
		u256    string
		nulls   *string
		nullv   = ptr("x")
		nn      *uint64
		zeroStr = "y"
		date    time.Time
		dt64    time.Time
		uuid    string
		enum    string
		fixed   string
		arr     any
		tup     any
		mp      any
		f32     float32
		bl      bool
		asInt   int
		ip      string
	)
	err := queryRow(c, `SELECT
		toDecimal128('123456789012345678901234567890123456', 0) AS wei,
		toDecimal64('1.50', 4),
		toDecimal32('-0.05', 3),
		toUInt256('115792089237316195423570985008687907853269984665640564039457584007913129639935'),
		CAST(NULL, 'Nullable(String)'),
		CAST(NULL, 'Nullable(String)'),
		CAST(7, 'Nullable(UInt64)'),
		CAST(NULL, 'Nullable(String)'),
		toDate('2024-02-29'),
		toDateTime64('1969-12-31 23:59:59.250', 3, 'UTC'),
		toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0'),
		CAST('b', 'Enum8(\'a\' = 1, \'b\' = -2)'),
		toFixedString('ab', 4),
		[1, 2, 3],
		tuple('x', toUInt8(1), NULL),
		map('k', [toInt16(-1)]),
		toFloat32(0.5),
		true,
		toUInt32(4000000000),
		toIPv4('10.0.0.1')`,
		nil, &wei, &small, &neg, &u256, &nulls, &nullv, &nn, &zeroStr, &date, &dt64, &uuid, &enum, &fixed,
		&arr, &tup, &mp, &f32, &bl, &asInt, &ip)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Decimal(38, 0)", wei, "123456789012345678901234567890123456"},
		{"Decimal64(4)", small, "1.5"},
		{"Decimal32(3)", neg, "-0.05"},
		{"UInt256", u256, "115792089237316195423570985008687907853269984665640564039457584007913129639935"},
		{"NULL into **string", nulls, (*string)(nil)},
		{"NULL over a set **string", nullv, (*string)(nil)},
		{"Nullable into **uint64", *nn, uint64(7)},
		{"NULL into *string", zeroStr, ""},
		{"Date", date, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"DateTime64 before 1970", dt64, time.Date(1969, 12, 31, 23, 59, 59, 250e6, time.UTC)},
		{"UUID", uuid, "61f0c404-5cb3-11e7-907b-a6006ad3dba0"},
		{"Enum8", enum, "b"},
		{"FixedString", fixed, "ab\x00\x00"},
		{"Array", fmt.Sprint(arr), "[1 2 3]"},
		{"Tuple", fmt.Sprint(tup), "[x 1 <nil>]"},
		{"Map", fmt.Sprint(mp), "map[k:[-1]]"},
		{"Float32", f32, float32(0.5)},
		{"Bool", bl, true},
		{"UInt32 into *int", asInt, 4000000000},
		{"IPv4", ip, "10.0.0.1"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}

	mismatches := []struct {
		query string
		dest  any
		want  string
	}{
		{"SELECT toUInt64(1)", new(int64), "cannot scan into *int64, use *uint64"},
		{"SELECT toUInt32(1)", new(uint64), "use *uint32"},
		{"SELECT 'x'", new(int), "use *string"},
		{"SELECT toDateTime(0)", new(string), "use *time.Time"},
		{"SELECT toUInt64(18446744073709551615)", new(int), "overflows int"},
		{"SELECT CAST(1, 'Nullable(Int32)')", new(uint32), "use *int32"},
	}
	for _, m := range mismatches {
		err := queryRow(c, m.query, nil, m.dest)
		if err == nil || !strings.Contains(err.Error(), m.want) {
			t.Errorf("%s into %T: got %v, want an error containing %q", m.query, m.dest, err, m.want)
		}
	}
}

// TestLargeResult reads a million rows.
func TestLargeResult(t *testing.T) {
	if testing.Short() {
		t.Skip("large result in -short mode")
	}
	c := conn(t)
	start := time.Now()
	rows, err := c.Query(context.Background(), "SELECT number, toString(number), toDateTime(number) FROM numbers(1000000)")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var (
		n, sum uint64
		s      string
		tm     time.Time
	)
	for rows.Next() {
		var v uint64
		if err := rows.Scan(&v, &s, &tm); err != nil {
			t.Fatal(err)
		}
		if v != n || s != fmt.Sprint(n) || tm.Unix() != int64(n) {
			t.Fatalf("row %d: got %d %q %v", n, v, s, tm)
		}
		sum += v
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1000000 || sum != 999999*1000000/2 {
		t.Errorf("got %d rows summing to %d, want 1000000 and %d", n, sum, 999999*1000000/2)
	}
	t.Logf("1M rows (UInt64, String, DateTime) queried and scanned in %v", time.Since(start))
}
