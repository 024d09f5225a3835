// Package realdata finds the shared folder of real mainnet data (raw
// blocks, JSON-RPC answers, OFAC lists, tag packs, CoinJoins) that tests may
// read but the project must not carry. Tests skip, saying where they
// looked, when it is absent.
package realdata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir is $TRACER_REALDATA, else ../shared/realdata next to the checkout
// (the folder beside the module root).
func Dir() string {
	if d := os.Getenv("TRACER_REALDATA"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared", "realdata")
		}
	}
	return filepath.Join(dir, "realdata")
}

// Path is the path of rel (slash-separated) in Dir; the test is skipped
// with a clear message when it is not there.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Dir(), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("real data %s not available (set TRACER_REALDATA to the real-data directory): %v", p, err)
	}
	return p
}
