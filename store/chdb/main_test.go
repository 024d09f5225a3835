package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// One engine per process (and loading the 560 MB library takes a while),
// so the tests share one Conn on one data directory, opened in TestMain.
var (
	testConn    *Conn
	testDir     string
	testSkipMsg string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv(helperEnv) != "" {
		// A child of TestOpenWithoutLibrary: it opens by itself.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "chdb-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testDir = filepath.Join(dir, "db")
	testConn, err = Open(Config{Path: testDir})
	switch {
	case errors.Is(err, ErrNoLibrary):
		testSkipMsg = "no libchdb.so (run `make libchdb` or set CHDB_LIB_PATH): " + err.Error()
	case err != nil:
		fmt.Fprintln(os.Stderr, "opening chDB:", err)
		return 1
	}
	code := m.Run()
	if testConn != nil {
		testConn.Close()
	}
	return code
}

// conn returns the shared connection, or skips the test without libchdb.
func conn(t testing.TB) *Conn {
	t.Helper()
	if testConn == nil {
		t.Skip(testSkipMsg)
	}
	return testConn
}
