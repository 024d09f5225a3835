package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace/taint"
)

// TestCLITrace ingests a simulated chain with the binary and traces from a
// planted broker in every format; bad input fails with a message naming
// what was wrong.
func TestCLITrace(t *testing.T) {
	dir := t.TempDir()
	blocks, data := filepath.Join(dir, "blocks"), filepath.Join(dir, "data")
	ok(t, "simulate", "btc", "--blocks", "40", "--txs-per-block", "100", "--out", blocks)
	truth, err := simulate.ReadTruthFile(filepath.Join(blocks, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	ok(t, "--data", data, "ingest", "btc", "--blocks-dir", blocks)
	// The broker address paid by the first purchase whose broker later forwarded.
	var from string
	for _, f := range truth.Flows {
		if f.Kind == simulate.FlowCartel || f.Kind == simulate.FlowCashOut {
			for _, p := range truth.Flows {
				if p.Kind == simulate.FlowPurchase && p.To == f.From {
					from = p.Address
					break
				}
			}
			break
		}
	}
	if from == "" {
		t.Fatal("no planted broker flow in the chain")
	}
	var rs []taint.Result
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "trace", "--chain", "btc", "--from", from, "--model", "poison", "--hops", "6", "--format", "json")), &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || !strings.Contains(rs[0].Params, "model=poison direction=down hops=6") || rs[0].Seeds == 0 || len(rs[0].Endpoints) == 0 {
		t.Fatalf("trace json: got %+v, want one result of poison with endpoints", rs)
	}
	// Every path's steps follow one another.
	for _, e := range rs[0].Endpoints {
		for i := 1; i < len(e.Path); i++ {
			if e.Path[i].From != e.Path[i-1].To {
				t.Errorf("endpoint %s: step %d starts at %s, the step before ended at %s", e.Address, i, e.Path[i].From, e.Path[i-1].To)
			}
		}
	}
	table := ok(t, "--data", data, "trace", "--from", from, "--direction", "both", "--model", "haircut")
	for _, want := range []string{"trace down from " + from, "trace up from " + from, "model=haircut direction=down hops=6", "rounding=floor-per-output", "ADDRESS", "steps in the taint graph"} {
		if !strings.Contains(table, want) {
			t.Errorf("table: want %q in\n%s", want, table)
		}
	}
	// From the broker's cluster, when the clusterer linked the address.
	var cl struct {
		ID   uint32 `json:"id"`
		Size uint32 `json:"size"`
	}
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "cluster", "show", from, "--format", "json")), &cl); err != nil {
		t.Fatal(err)
	}
	if cl.ID != 0 {
		var crs []taint.Result
		if err := json.Unmarshal([]byte(ok(t, "--data", data, "trace", "--from", fmt.Sprintf("cluster:%d", cl.ID), "--format", "json")), &crs); err != nil {
			t.Fatal(err)
		}
		if len(crs) != 1 || crs[0].Start != fmt.Sprintf("cluster:%d", cl.ID) || crs[0].Seeds < int(cl.Size) {
			t.Errorf("trace from cluster %d of %d addresses: got %+v", cl.ID, cl.Size, crs)
		}
	} else {
		t.Logf("%s is in no cluster; cluster start not checked", from)
	}

	// The trace.* keys set the defaults; flags override them.
	cfgFile := filepath.Join(dir, "tracer.yaml")
	if err := os.WriteFile(cfgFile, []byte("trace:\n  model: fifo\n  hops: 3\n  stop_at: [cartel]\n  max_nodes: 7\n  timeout: 90s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs = nil
	if err := json.Unmarshal([]byte(ok(t, "--config", cfgFile, "--data", data, "trace", "--from", from, "--hops", "2", "--format", "json")), &rs); err != nil {
		t.Fatal(err)
	}
	if want := "model=fifo direction=down hops=2 min-value=0 max-nodes=7 timeout=1m30s stop-at=cartel"; len(rs) != 1 || rs[0].Params != want {
		t.Errorf("trace with config: got %+v, want params %q", rs, want)
	}
	if dot := ok(t, "--data", data, "trace", "--from", from, "--format", "dot"); !strings.HasPrefix(dot, "digraph trace {") || !strings.Contains(dot, "->") {
		t.Errorf("dot:\n%s", dot)
	}
	if csv := ok(t, "--data", data, "trace", "--from", from, "--format", "csv", "--model", "fifo"); !strings.HasPrefix(csv, "direction,start,params,endpoint") || strings.Count(csv, "\n") < 2 {
		t.Errorf("csv:\n%s", csv)
	}
	if ex := ok(t, "--data", data, "exposure", from, "--hops", "3"); !strings.Contains(ex, "exposure of "+from) || !strings.Contains(ex, "RECEIVED") {
		t.Errorf("exposure:\n%s", ex)
	}
	const unknown = "bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq3xueyj"
	fails(t, "unknown address", []string{"--data", data, "trace", "--from", unknown}, "unknown address", unknown)
	fails(t, "unknown cluster", []string{"--data", data, "trace", "--from", "cluster:4000000"}, "no such cluster", "4000000")
	fails(t, "hops 0", []string{"--data", data, "trace", "--from", from, "--hops", "0"}, "hops 0 out of range 1..50")
	fails(t, "hops 99", []string{"--data", data, "exposure", from, "--hops", "99"}, "hops 99 out of range")
	fails(t, "model", []string{"--data", data, "trace", "--from", from, "--model", "taint"}, `model "taint"`)
	fails(t, "fifo up", []string{"--data", data, "trace", "--from", from, "--model", "fifo", "--direction", "up"}, "fifo traces downstream only")
	fails(t, "min-value", []string{"--data", data, "trace", "--from", from, "--min-value", "0.123456789btc"}, "--min-value", "more than 8 decimals")
	fails(t, "since", []string{"--data", data, "trace", "--from", from, "--since", "yesterday"}, "--since", "yesterday")
	fails(t, "no label", []string{"--data", data, "trace", "--from", "label:mixer"}, "no address has the label category", "mixer")
	fails(t, "chain", []string{"--data", data, "trace", "--chain", "eth", "--from", from}, `--chain "eth"`)
	fails(t, "format", []string{"--data", data, "trace", "--from", from, "--format", "xml"}, `--format "xml"`)
}
