package chdb

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracerproject/tracer/store/sqltext"
)

func TestBind(t *testing.T) {
	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"no args", "SELECT 1", nil, "SELECT 1"},
		{"string", "SELECT ?", []any{`a'b\c`}, `SELECT 'a\'b\\c'`},
		{"control bytes", "SELECT ?", []any{"\x00\n\t\r\x7f"}, `SELECT '\x00\x0a\x09\x0d\x7f'`},
		{"invalid utf-8", "SELECT ?", []any{"\xff€"}, `SELECT '\xff€'`},
		{"bytes", "SELECT ?", []any{[]byte("x'")}, `SELECT 'x\''`},
		{"ints", "SELECT ?, ?, ?, ?", []any{int8(-8), int16(-16), int32(-32), int64(math.MinInt64)},
			"SELECT -8, -16, -32, -9223372036854775808"},
		{"uints", "SELECT ?, ?, ?, ?, ?", []any{uint8(8), uint16(16), uint32(32), uint64(math.MaxUint64), uint(7)},
			"SELECT 8, 16, 32, 18446744073709551615, 7"},
		{"int", "SELECT ?", []any{-1}, "SELECT -1"},
		{"bool", "SELECT ?, ?", []any{true, false}, "SELECT 1, 0"},
		{"float", "SELECT ?, ?", []any{1.5, math.Inf(-1)}, "SELECT CAST(1.5, 'Float64'), CAST('-inf', 'Float64')"},
		{"time", "SELECT ?", []any{time.Date(2023, 11, 14, 22, 13, 20, 0, time.FixedZone("X", 3600))},
			"SELECT toDateTime(1699996400)"},
		{"nil", "SELECT ?", []any{nil}, "SELECT NULL"},
		{"pointer", "SELECT ?, ?", []any{ptr("p"), (*string)(nil)}, "SELECT 'p', NULL"},
		{"group set", "SELECT 1 WHERE x IN ?", []any{ch.GroupSet{Value: []any{"a", 2, uint8(3)}}},
			"SELECT 1 WHERE x IN ('a', 2, 3)"},
		{"tuples", "SELECT 1 WHERE (a, b) IN ?", []any{ch.GroupSet{Value: []any{ch.GroupSet{Value: []any{1, "x"}}}}},
			"SELECT 1 WHERE (a, b) IN ((1, 'x'))"},
		{"array", "SELECT ?", []any{[]string{"a", "b"}}, "SELECT ['a', 'b']"},
		{"? in string", "SELECT '?', ?", []any{1}, "SELECT '?', 1"},
		{"? after escaped quote", `SELECT 'it\'s ?', ?`, []any{1}, `SELECT 'it\'s ?', 1`},
		{"? after doubled quote", `SELECT 'it''s ?', ?`, []any{1}, `SELECT 'it''s ?', 1`},
		{"? after escaped backslash", `SELECT 'a\\', ?`, []any{1}, `SELECT 'a\\', 1`},
		{"? in identifiers", "SELECT `a?` AS \"b?\", ?", []any{1}, "SELECT `a?` AS \"b?\", 1"},
		{"? in line comment", "SELECT ? -- why?\n, ?", []any{1, 2}, "SELECT 1 -- why?\n, 2"},
		{"? in hash comment", "SELECT ? # why?\n, ?", []any{1, 2}, "SELECT 1 # why?\n, 2"},
		{"? in shebang comment", "#!x?\nSELECT ?", []any{1}, "#!x?\nSELECT 1"},
		{"? in nested block comment", "SELECT /* /* ? */ ? */ ?", []any{1}, "SELECT /* /* ? */ ? */ 1"},
		{"? in heredoc", "SELECT $$?$$, $t$?$$?$t$, ?", []any{1}, "SELECT $$?$$, $t$?$$?$t$, 1"},
		{"dollar in identifier", "SELECT a$b$, ?", []any{1}, "SELECT a$b$, 1"},
		{"unterminated string", "SELECT ?, '?", []any{1}, "SELECT 1, '?"},
		{"minus is not a comment", "SELECT 1-?", []any{1}, "SELECT 1-1"},
		{"slash is not a comment", "SELECT 4/?", []any{2}, "SELECT 4/2"},
	}
	for _, tt := range tests {
		got, err := Bind(tt.query, tt.args...)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestBindErrors(t *testing.T) {
	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"too few", "SELECT ?, ?", []any{1}, "2 placeholders, got 1 arguments"},
		{"too many", "SELECT ?", []any{1, 2}, "1 placeholders, got 2 arguments"},
		{"args without placeholder", "SELECT '?'", []any{1}, "0 placeholders, got 1 arguments"},
		{"unsupported", "SELECT ?", []any{struct{}{}}, "unsupported type struct {}"},
		{"time before 1970", "SELECT ?", []any{time.Time{}}, "outside the DateTime range"},
		{"time after 2106", "SELECT ?", []any{time.Unix(1<<32, 0)}, "outside the DateTime range"},
		{"empty group set", "SELECT 1 IN ?", []any{ch.GroupSet{}}, "empty GroupSet"},
	}
	for _, tt := range tests {
		_, err := Bind(tt.query, tt.args...)
		if err == nil || !errors.Is(err, ErrBind) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an ErrBind containing %q", tt.name, err, tt.want)
		}
	}
}

// hostile strings for binding and inserting.
var hostile = []string{
	"", "'", "\\", `\'`, `''`, "'; DROP TABLE x; --", "a\x00b", "\x00", "\n", "\n\n", "\r\n", "\t",
	"?", "'?'", "\\?", "$$", "$$?$$", "/*", "*/", "--", "# ", "`", `"`, "\x7f", "\x1b[31m",
	"日本語", "emoji 🚀", "\u2028\u2029", "\xff\xfe", "\xc3", "a\\x00", "\\N", "\\0",
	strings.Repeat("x", 10000), strings.Repeat("'\\", 1000),
}

// checkLiteral reads back the literal Bind made of s with a Go
// re-implementation of ClickHouse's string-literal rules and checks it is s,
// and that the query text stays printable UTF-8 without NUL or line breaks.
func checkLiteral(t *testing.T, s string) {
	t.Helper()
	q, err := Bind("SELECT ?", s)
	if err != nil {
		t.Fatal(err)
	}
	lit := strings.TrimPrefix(q, "SELECT ")
	if !utf8.ValidString(lit) || strings.ContainsAny(lit, "\x00\n\r") {
		t.Fatalf("literal for %q is not clean text: %q", s, lit)
	}
	if end := sqltext.SkipQuoted(lit, 0, '\''); end != len(lit)-1 {
		t.Fatalf("literal for %q ends at %d of %d: %q", s, end, len(lit), lit)
	}
	got, err := unquote(lit)
	if err != nil || got != s {
		t.Fatalf("literal %q reads back as %q (%v), want %q", lit, got, err, s)
	}
	// The literal hides any ? in s from the placeholder scan.
	if _, err := Bind("SELECT "+lit+", ?", 1); err != nil {
		t.Fatalf("rebinding around %q: %v", lit, err)
	}
}

// FuzzBind checks that any string survives binding. The pure-Go check runs
// always; with libchdb present every input also makes the round trip
// through `SELECT ?` on the engine.
func FuzzBind(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkLiteral(t, s)
		if testConn == nil {
			return
		}
		var got string
		if err := queryRow(testConn, "SELECT ?", []any{s}, &got); err != nil {
			t.Fatalf("SELECT %q: %v", s, err)
		}
		if got != s {
			t.Fatalf("SELECT ?: got %q, want %q", got, s)
		}
	})
}

// FuzzScanPlaceholders checks the scanner on any query text: it never
// panics, and Bind with as many arguments as it found placeholders
// succeeds.
func FuzzScanPlaceholders(f *testing.F) {
	for _, q := range []string{"SELECT ?", "SELECT '?' -- ?\n?", "/* /* */ ? */", "$a$?$a$?", "'\\", "`?``?`?"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n := 0
		sqltext.Placeholders(q, func(int) bool { n++; return true })
		args := make([]any, n)
		for i := range args {
			args[i] = "x"
		}
		if _, err := Bind(q, args...); err != nil {
			t.Fatalf("Bind(%q) with %d args: %v", q, n, err)
		}
	})
}

func TestBindRoundTrip(t *testing.T) {
	c := conn(t)
	for _, s := range hostile {
		var got string
		if err := queryRow(c, "SELECT ?", []any{s}, &got); err != nil {
			t.Fatalf("SELECT %q: %v", s, err)
		}
		if got != s {
			t.Errorf("SELECT ?: got %q, want %q", got, s)
		}
		// And as a byte slice, and inside a comparison.
		var eq uint8
		if err := queryRow(c, "SELECT ? = ?", []any{[]byte(s), s}, &eq); err != nil || eq != 1 {
			t.Errorf("SELECT %q = %q: got %d, %v; want 1", s, s, eq, err)
		}
	}

	var (
		i8  int8
		i16 int16
		i32 int32
		i64 int64
		u8  uint8
		u16 uint16
		u32 uint32
		u64 uint64
	)
	err := queryRow(c, "SELECT ?, ?, ?, ?, ?, ?, ?, ?", []any{
		int8(math.MinInt8), int16(math.MinInt16), int32(math.MinInt32), int64(math.MinInt64),
		uint8(math.MaxUint8), uint16(math.MaxUint16), uint32(math.MaxUint32), uint64(math.MaxUint64),
	}, &i8, &i16, &i32, &i64, &u8, &u16, &u32, &u64)
	if err != nil {
		t.Fatal(err)
	}
	if i8 != math.MinInt8 || i16 != math.MinInt16 || i32 != math.MinInt32 || i64 != math.MinInt64 ||
		u8 != math.MaxUint8 || u16 != math.MaxUint16 || u32 != math.MaxUint32 || u64 != math.MaxUint64 {
		t.Errorf("integer extremes: got %d %d %d %d %d %d %d %d", i8, i16, i32, i64, u8, u16, u32, u64)
	}

	for _, f := range []float64{0, -1.5, math.Pi, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN()} {
		var got float64
		if err := queryRow(c, "SELECT ?", []any{f}, &got); err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(got) != math.Float64bits(f) && !(math.IsNaN(f) && math.IsNaN(got)) {
			t.Errorf("float %v: got %v", f, got)
		}
	}

	var b bool
	var tm time.Time
	when := time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("UTC-7", -7*3600))
	if err := queryRow(c, "SELECT ?, ?", []any{true, when}, &b, &tm); err != nil {
		t.Fatal(err)
	}
	if !b || !tm.Equal(when) || tm.Location() != time.UTC {
		t.Errorf("bool, time: got %v %v, want true %v in UTC", b, tm, when.UTC())
	}

	var n uint64
	if err := queryRow(c, "SELECT count() FROM numbers(10) WHERE toString(number) IN ? AND number IN ?",
		[]any{ch.GroupSet{Value: []any{"1", "2", "'", "3"}}, ch.GroupSet{Value: []any{uint64(2), 3, 4}}}, &n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("IN GroupSet: got %d rows, want 2", n)
	}
}

// queryRow runs a query that returns one row and scans it.
func queryRow(c *Conn, q string, args []any, dest ...any) error {
	rows, err := c.Query(context.Background(), q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return errors.New("no rows")
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	if rows.Next() {
		return errors.New("more than one row")
	}
	return rows.Err()
}

func ptr[T any](v T) *T { return &v }
