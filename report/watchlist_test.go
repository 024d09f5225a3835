package report_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/report"
)

func TestReadWatchlist(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       []string
		err        string
	}{
		{"entries and comments", "# brokers\nbc1qexample\n\n  cluster:7  # seized\nlabel:cartel\n", []string{"bc1qexample", "cluster:7", "label:cartel"}, ""},
		{"two on a line", "a b\n", nil, "w.txt:1: \"a b\": one entry per line"},
		{"comma", "x\na,b\n", nil, "w.txt:2"},
	} {
		path := filepath.Join(dir, "w.txt")
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := report.ReadWatchlist(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := report.ReadWatchlist(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "watch list") {
		t.Errorf("missing file: got %v, want a watch list error", err)
	}
}
