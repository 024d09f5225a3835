package chdb

import (
	"errors"
	"flag"
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
	flag.Parse()
	if os.Getenv(helperEnv) != "" || flag.Lookup("test.list").Value.String() != "" {
		// A child of TestOpenWithoutLibrary (it opens by itself), or
		// only listing tests.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "chdb-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testDir = filepath.Join(dir, "db")
	testConn, err = Open(Config{Path: testDir, LibPath: moduleCacheLib()})
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

// moduleCacheLib finds the library `make libchdb` puts in the module
// root's .cache/chdb when CHDB_LIB_PATH does not name one: go test runs in
// the package directory, where the working-directory lookup would miss it.
func moduleCacheLib() string {
	if os.Getenv("CHDB_LIB_PATH") != "" {
		return ""
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".cache", "chdb", "libchdb.so")
			if isFile(p) {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
