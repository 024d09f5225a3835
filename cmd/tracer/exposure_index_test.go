package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace/taint"
)

// TestCLIExposureIndex: tracer exposure traces live until an index is
// built, then reads the index (naming the build), traces live again for
// flags the index was not built with or with --live, and refuses a
// build it cannot make.
func TestCLIExposureIndex(t *testing.T) {
	dir := t.TempDir()
	blocks, data := filepath.Join(dir, "blocks"), filepath.Join(dir, "data")
	// Mainnet addresses, which labels accept.
	sc := simulate.DefaultConfig()
	sc.Params, sc.Blocks, sc.TxsPerBlock, sc.Users = &chaincfg.MainNetParams, 40, 100, 1000
	g, err := simulate.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := simulate.WriteBlocksDir(g, blocks, false); err != nil {
		t.Fatal(err)
	}
	truth := g.Truth()
	ok(t, "--data", data, "ingest", "btc", "--blocks-dir", blocks)
	var csv strings.Builder
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	var user string
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
			for _, a := range e.Addresses {
				fmt.Fprintf(&csv, "btc,%s,%s,%s,truth,100\n", a, e.Name, e.Kind)
			}
		case simulate.KindBuyer:
			if user == "" && len(e.Addresses) > 0 {
				user = e.Addresses[0] // a buyer pays brokers: exposed
			}
		}
	}
	labelsFile := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(labelsFile, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, "--data", data, "labels", "import", "--format", "csv", "--source", "truth", labelsFile)

	read := func(args ...string) taint.Exposure {
		t.Helper()
		var ex taint.Exposure
		if err := json.Unmarshal([]byte(ok(t, append([]string{"--data", data, "exposure", user, "--format", "json"}, args...)...)), &ex); err != nil {
			t.Fatal(err)
		}
		return ex
	}
	if ex := read(); ex.Source != "live" || ex.Index != nil {
		t.Errorf("before any index: source %q, index %+v; want live", ex.Source, ex.Index)
	}
	r := tracer(t, nil, "--data", data, "exposure", "--build-index")
	if r.code != 0 || !strings.Contains(r.stderr, "exposure index build") {
		t.Fatalf("--build-index: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	idx, live := read(), read("--live")
	if idx.Source != "index" || idx.Index == nil || idx.Index.BlockHeight != 39 || len(idx.Stale) != 0 {
		t.Fatalf("after --build-index: source %q, index %+v, stale %q; want the index as of block 39, current", idx.Source, idx.Index, idx.Stale)
	}
	if live.Source != "live" || idx.Received != live.Received || idx.Sent != live.Sent || len(idx.From)+len(idx.To) == 0 {
		t.Errorf("index received %d sent %d (%d flows), live (%s) received %d sent %d", idx.Received, idx.Sent, len(idx.From)+len(idx.To), live.Source, live.Received, live.Sent)
	}
	if ex := read("--hops", "3"); ex.Source != "live" {
		t.Errorf("--hops 3 against an index of 6 hops: source %q, want live", ex.Source)
	}
	if table := ok(t, "--data", data, "exposure", user); !strings.Contains(table, "from the exposure index: build") || !strings.Contains(table, "as of block 39") {
		t.Errorf("table does not name the build:\n%s", table)
	}
	fails(t, "no subject", []string{"--data", data, "exposure"}, "want an address or cluster:ID")
	fails(t, "poison index", []string{"--data", data, "exposure", "--build-index", "--model", "poison"}, "--build-index", "haircut")
	fails(t, "build and live", []string{"--data", data, "exposure", "--build-index", "--live"}, "choose one")
	fails(t, "eth index", []string{"--data", data, "exposure", "--build-index", "--chain", "eth"}, "Bitcoin only")
}
