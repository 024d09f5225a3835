package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLIDemo runs `tracer demo` as `make demo` does and follows what it
// tells the user to try: every section is there, no info log line comes
// between them, the report exists, and the brokers' cluster carries the
// brokers' labels on all its members.
func TestCLIDemo(t *testing.T) {
	data := t.TempDir()
	r := tracer(t, nil, "--data", data, "demo")
	if r.code != 0 {
		t.Fatalf("tracer demo: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	out := r.stdout
	// The services log at warn during the demo: no line per alert.
	if n := strings.Count(r.stderr, "level=INFO"); n > 0 {
		t.Errorf("demo stderr holds %d info log lines, want none:\n%.600s", n, r.stderr)
	}
	for _, want := range []string{"1. Simulating", "3. The store holds", "5. The brokers' clusters", "6. Alerts published",
		"7. Ethereum", "8. Labels and the exposure report", "Done in"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	report := regexp.MustCompile(`exposure report: (\S+\.html)`).FindStringSubmatch(out)
	if report == nil {
		t.Fatalf("demo names no exposure report:\n%s", out)
	}
	if fi, err := os.Stat(report[1]); err != nil || fi.Size() < 1000 {
		t.Errorf("exposure report %s: %v", report[1], err)
	}
	show := regexp.MustCompile(`cluster show (\d+)`).FindStringSubmatch(out)
	if show == nil {
		t.Fatalf("demo suggests no cluster:\n%s", out)
	}
	demoData := filepath.Join(data, "demo", "data")
	var cl struct {
		Size   uint32 `json:"size"`
		Labels []struct {
			Category string `json:"category"`
			Entity   string `json:"entity"`
			Members  int    `json:"members"`
		} `json:"labels"`
	}
	if err := json.Unmarshal([]byte(ok(t, "--data", demoData, "cluster", "show", show[1], "--format", "json")), &cl); err != nil {
		t.Fatal(err)
	}
	if len(cl.Labels) != 1 || cl.Labels[0].Category != "precursor-broker" || cl.Labels[0].Members != int(cl.Size) {
		t.Errorf("cluster %s of %d members: labels %+v, want precursor-broker on every member", show[1], cl.Size, cl.Labels)
	}
	if list := ok(t, "--data", demoData, "alerts", "list", "--since", "1000000h"); !strings.Contains(list, "precursor-purchases") {
		t.Errorf("alerts list after the demo:\n%.400s", list)
	}
}
