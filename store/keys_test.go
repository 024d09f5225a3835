package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracerproject/tracer/store"
)

func TestKeysClickHouseServer(t *testing.T) { testKeys(t, clickhouseConn(t)) }

func TestKeysChDB(t *testing.T) { testKeys(t, chdbConn(t)) }

// testKeys checks that store.Keys selects exactly the stored rows it names,
// whatever bytes the keys hold, beside other arguments, and in sets larger
// than a literal list could carry.
func testKeys(t *testing.T, conn store.Conn) {
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE keys_t (k String, v UInt32) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	hostile := []string{"", "'", "\\", `\'`, "a\tb", "a\nb", "\r\n", "\x00", "a\x00b", "?", "'?'", "$$?$$", "-- x", "/* x", "日本語", "\xff\xfe", "\\N", "\\t", "x' OR 1=1 --"}
	var ks []string
	var vs []uint32
	for i, h := range hostile {
		ks, vs = append(ks, h), append(vs, uint32(i))
	}
	const big = store.KeysLimit
	for i := 0; i < big; i++ {
		ks, vs = append(ks, fmt.Sprintf("bc1q%040d", i)), append(vs, uint32(len(hostile)+i))
	}
	if err := conn.Insert(ctx, "keys_t", []store.Column{{Name: "k", Values: ks}, {Name: "v", Values: vs}}); err != nil {
		t.Fatal(err)
	}
	read := func(query string, args ...any) []string {
		t.Helper()
		rows, err := conn.Query(ctx, query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			out = append(out, k)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	// Every row arrived once, byte for byte, and nothing else did (the
	// server driver presizes large String columns; see presize.go).
	var wantBytes uint64
	for _, k := range ks {
		wantBytes += uint64(len(k))
	}
	var rowCount, byteCount uint64
	rows, err := conn.Query(ctx, "SELECT count(), sum(length(k)) FROM keys_t")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&rowCount, &byteCount); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if rowCount != uint64(len(ks)) || byteCount != wantBytes {
		t.Errorf("stored %d rows of %d key bytes, inserted %d of %d", rowCount, byteCount, len(ks), wantBytes)
	}
	// Every hostile key finds its own row and no other.
	for _, h := range hostile {
		got := read("SELECT k FROM keys_t WHERE k IN ?", store.Keys{h, "not stored"})
		if len(got) != 1 || got[0] != h {
			t.Errorf("key %q: got %q", h, got)
		}
	}
	// Beside ordinary arguments, before and after; and twice in a query.
	want := []string{"'", "a\tb"}
	got := read("SELECT k FROM keys_t WHERE v >= ? AND k IN ? AND v < ? AND k NOT IN ?", 1, store.Keys{"'", "a\tb", "\\", ""}, 10, store.Keys{"\\"})
	if !slices.Equal(got, want) {
		t.Errorf("keys among arguments: got %q, want %q", got, want)
	}
	// A `?` in a literal or a comment is not a placeholder.
	got = read("SELECT k FROM keys_t WHERE k IN ? AND '?' = '?' -- ?\n", store.Keys{"?"})
	if !slices.Equal(got, []string{"?"}) {
		t.Errorf("placeholder after a literal: got %q", got)
	}
	// An empty set matches nothing.
	if got := read("SELECT k FROM keys_t WHERE k IN ?", store.Keys{}); len(got) != 0 {
		t.Errorf("empty keys: got %d rows", len(got))
	}
	// A set of KeysLimit keys, far beyond what a literal list carries.
	all := make(store.Keys, 0, big)
	for i := 0; i < big; i += 2 {
		all = append(all, fmt.Sprintf("bc1q%040d", i))
	}
	got = read("SELECT k FROM keys_t WHERE k IN ?", all)
	if len(got) != len(all) || got[0] != all[0] || got[len(got)-1] != all[len(all)-1] {
		t.Errorf("large set: got %d rows, want %d", len(got), len(all))
	}
	var n uint64
	rows, err = conn.Query(ctx, "SELECT count() FROM keys_t WHERE k IN ? AND v IN ?", store.Keys(all[:10]), ch.GroupSet{Value: []any{uint32(len(hostile)), uint32(len(hostile) + 2)}})
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if n != 2 {
		t.Errorf("keys with a GroupSet: got %d rows, want 2", n)
	}
	// A Keys without a placeholder is an error, not a silent drop.
	if _, err := conn.Query(ctx, "SELECT 1", store.Keys{"a"}); err == nil {
		t.Error("a Keys argument without a placeholder was accepted")
	} else if !strings.Contains(err.Error(), "placeholder") {
		t.Errorf("keys without a placeholder: error %q does not say so", err)
	}
}
