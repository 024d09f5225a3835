package chdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/store"
)

// helperEnv makes the test binary a child that opens chDB without a
// library; see TestOpenWithoutLibrary.
const helperEnv = "CHDB_TEST_NO_LIBRARY_CHILD"

// TestOpenWithoutLibrary runs this test binary again with no library to
// find: Open must return an error that says how to get libchdb, and the
// process must not panic.
func TestOpenWithoutLibrary(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		_, err := Open(Config{Path: t.TempDir()})
		fmt.Printf("OPEN ERROR: %v\n", err)
		if !errors.Is(err, ErrNoLibrary) {
			t.Fatalf("got %v, want ErrNoLibrary", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenWithoutLibrary$", "-test.v")
	cmd.Dir = t.TempDir() // no .cache/chdb here
	cmd.Env = append(os.Environ(), helperEnv+"=1", "CHDB_LIB_PATH="+filepath.Join(t.TempDir(), "libchdb.so"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	for _, want := range []string{"OPEN ERROR: chdb: libchdb.so not found", "make libchdb", "CHDB_LIB_PATH"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

func TestFindLib(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libchdb.so")
	if err := os.WriteFile(lib, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.so")
	tests := []struct {
		name, configured, env, want string
	}{
		{"config wins", lib, missing, lib},
		{"env", "", lib, lib},
		{"configured but missing: no fallback", missing, lib, ""},
		{"env but missing: no fallback", "", missing, ""},
	}
	for _, tt := range tests {
		t.Setenv("CHDB_LIB_PATH", tt.env)
		got, tried := findLib(tt.configured)
		if got != tt.want {
			t.Errorf("%s: got %q (tried %v), want %q", tt.name, got, tried, tt.want)
		}
	}
	// The working directory's .cache/chdb is a standard place.
	t.Setenv("CHDB_LIB_PATH", "")
	t.Chdir(dir)
	if err := os.MkdirAll(filepath.Join(dir, ".cache", "chdb"), 0o755); err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(dir, ".cache", "chdb", "libchdb.so")
	if err := os.WriteFile(cached, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, tried := findLib(""); got != cached && got != "/usr/local/lib/libchdb.so" {
		t.Errorf("working directory: got %q (tried %v), want %q", got, tried, cached)
	}
}

func TestEngine(t *testing.T) {
	c := conn(t)
	if got := c.Engine(); !strings.HasPrefix(got, "chdb 2") {
		t.Errorf("Engine: got %q, want chdb <version>", got)
	}
}

func TestErrors(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	tests := []struct {
		query string
		want  []string
	}{
		{"SELEC 1", []string{"Code: 62", "Syntax error"}},
		{"SELECT * FROM no_such_table", []string{"Code: 60", "no_such_table", "UNKNOWN_TABLE"}},
		{"SELECT throwIf(1, 'boom')", []string{"boom"}},
		// Fails after some blocks of output were written.
		{"SELECT number, throwIf(number = 90000) FROM numbers(100000) SETTINGS max_block_size = 1000", []string{"Code: 395"}},
	}
	for _, tt := range tests {
		_, err := c.Query(ctx, tt.query)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want a *chdb.Error", tt.query, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: got %q, want it to contain %q", tt.query, err, w)
			}
		}
		if err := c.Exec(ctx, tt.query); err == nil {
			t.Errorf("Exec %s: got no error", tt.query)
		}
	}
	// The connection still works after errors, and no output of a failed
	// statement leaks into the next result.
	var one uint8
	if err := queryRow(c, "SELECT 1", nil, &one); err != nil || one != 1 {
		t.Errorf("after errors: got %d, %v", one, err)
	}
}

func TestContext(t *testing.T) {
	c := conn(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Exec: got %v, want context.Canceled", err)
	}
	if _, err := c.Query(ctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Query: got %v, want context.Canceled", err)
	}
	if err := c.Insert(ctx, "t", []store.Column{{Name: "a", Values: []string{"x"}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Insert: got %v, want context.Canceled", err)
	}
	// Waiting for a busy connection gives up when ctx ends.
	c.eng.sem <- struct{}{}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := c.Exec(ctx, "SELECT 1")
	<-c.eng.sem
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("busy connection: got %v, want context.DeadlineExceeded", err)
	}
}

// TestReplacingMergeTree exercises what the store relies on: a
// ReplacingMergeTree in the syntax ClickHouse 18.16 accepts, FINAL, and a
// DELETE mutation that is done when ALTER returns.
func TestReplacingMergeTree(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	mustExec(t, c, "DROP TABLE IF EXISTS rmt")
	mustExec(t, c, `CREATE TABLE rmt (
		k String, n UInt32, v String, ver UInt64, at DateTime
	) ENGINE = ReplacingMergeTree(ver) ORDER BY (k, n)`)
	at := time.Unix(1700000000, 0)
	insert := func(ks []string, ns []uint32, vs []string, vers []uint64) {
		t.Helper()
		ats := make([]time.Time, len(ks))
		for i := range ats {
			ats[i] = at
		}
		err := c.Insert(ctx, "rmt", []store.Column{{Name: "k", Values: ks}, {Name: "n", Values: ns}, {Name: "v", Values: vs}, {Name: "ver", Values: vers}, {Name: "at", Values: ats}})
		if err != nil {
			t.Fatal(err)
		}
	}
	insert([]string{"a", "a", "b", "c"}, []uint32{1, 2, 1, 1}, []string{"a1", "a2", "b1", "c1"}, []uint64{1, 1, 1, 1})
	// A redelivery and a newer version of a/1, as separate parts.
	insert([]string{"a", "a", "b", "c"}, []uint32{1, 2, 1, 1}, []string{"a1", "a2", "b1", "c1"}, []uint64{1, 1, 1, 1})
	insert([]string{"a"}, []uint32{1}, []string{"a1 v2"}, []uint64{2})

	got := selectStrings(t, c, "SELECT concat(k, '/', toString(n), '=', v) FROM rmt FINAL ORDER BY k, n")
	want := []string{"a/1=a1 v2", "a/2=a2", "b/1=b1", "c/1=c1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("FINAL: got %v, want %v", got, want)
	}

	// chDB runs mutations with mutations_sync = 1: ALTER ... DELETE
	// returns when the mutation is done.
	if err := c.Exec(ctx, "ALTER TABLE rmt DELETE WHERE k = ?", "a"); err != nil {
		t.Fatal(err)
	}
	got = selectStrings(t, c, "SELECT concat(k, '/', toString(n)) FROM rmt ORDER BY k, n")
	if strings.Join(got, ",") != "b/1,b/1,c/1,c/1" {
		t.Errorf("right after DELETE (no FINAL): got %v, want b/1,b/1,c/1,c/1", got)
	}
	var pending uint64
	if err := queryRow(c, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = ? AND is_done = 0",
		[]any{"rmt"}, &pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("pending mutations after ALTER returned: got %d, want 0", pending)
	}
	var at2 time.Time
	if err := queryRow(c, "SELECT at FROM rmt FINAL WHERE k = ? AND at = ?", []any{"b", at}, &at2); err != nil || !at2.Equal(at) {
		t.Errorf("DateTime by bound time: got %v, %v; want %v", at2, err, at)
	}
}

// TestRestart closes the engine and opens the same directory again in the
// same process; it also checks that a second directory is refused while
// one is open and accepted after it closed.
func TestRestart(t *testing.T) {
	c := conn(t)
	mustExec(t, c, "DROP TABLE IF EXISTS persist")
	mustExec(t, c, "CREATE TABLE persist (k String, v Int64) ENGINE = ReplacingMergeTree() ORDER BY k")
	if err := c.Insert(context.Background(), "persist", []store.Column{{Name: "k", Values: []string{"x", "y"}}, {Name: "v", Values: []int64{-1, math.MinInt64}}}); err != nil {
		t.Fatal(err)
	}

	other := t.TempDir()
	if _, err := Open(Config{Path: other}); !errors.Is(err, ErrOtherPath) {
		t.Fatalf("second directory while open: got %v, want ErrOtherPath", err)
	}
	// A second Conn on the same directory shares the engine.
	c2, err := Open(Config{Path: testDir + "/"})
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if err := c2.Exec(context.Background(), "SELECT 1"); !errors.Is(err, ErrClosed) {
		t.Errorf("closed Conn: got %v, want ErrClosed", err)
	}
	if err := queryRow(c, "SELECT 1", nil, new(uint8)); err != nil {
		t.Fatalf("first Conn after closing the second: %v", err)
	}

	testConn.Close()
	testConn = nil
	o, err := Open(Config{Path: other})
	if err != nil {
		t.Fatalf("other directory after close: %v", err)
	}
	if err := queryRow(o, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'persist'", nil, new(uint64)); err != nil {
		t.Fatal(err)
	}
	o.Close()

	testConn, err = Open(Config{Path: testDir})
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	got := selectStrings(t, testConn, "SELECT concat(k, '=', toString(v)) FROM persist FINAL ORDER BY k")
	if want := "x=-1,y=-9223372036854775808"; strings.Join(got, ",") != want {
		t.Errorf("after restart: got %v, want %s", got, want)
	}
}

func mustExec(t *testing.T, c *Conn, q string, args ...any) {
	t.Helper()
	if err := c.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func selectStrings(t *testing.T, c *Conn, q string, args ...any) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConcurrent runs statements from several goroutines at once on one
// Conn; they take turns on the C connection.
func TestConcurrent(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	mustExec(t, c, "DROP TABLE IF EXISTS conc")
	mustExec(t, c, "CREATE TABLE conc (w UInt32, i UInt32) ENGINE = MergeTree ORDER BY (w, i)")
	const workers, rounds = 8, 20
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range rounds {
				err := c.Insert(ctx, "conc", []store.Column{{Name: "w", Values: []uint32{uint32(w)}}, {Name: "i", Values: []uint32{uint32(i)}}})
				if err != nil {
					errs <- err
					return
				}
				var n uint64
				if err := queryRow(c, "SELECT count() FROM conc WHERE w = ?", []any{w}, &n); err != nil {
					errs <- err
					return
				}
				if n != uint64(i+1) {
					errs <- fmt.Errorf("worker %d round %d: got %d rows, want %d", w, i, n, i+1)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
