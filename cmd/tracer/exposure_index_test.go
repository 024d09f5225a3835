package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace"
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

	read := func(args ...string) trace.Exposure {
		t.Helper()
		var ex trace.Exposure
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

	// exposure.index_cron rebuilds the index within tracer report schedule
	// (and tracer run); a bad expression stops it before anything runs.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("exposure:\n  index_cron: \"every night\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fails(t, "bad index cron", []string{"--data", data, "--config", bad, "report", "schedule"}, "exposure.index_cron", "every night")
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("exposure:\n  index_cron: \"@every 1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tracerBinary(t), "--data", data, "--config", good, "--log-level", "info", "report", "schedule")
	cmd.Env = cliEnv(t)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	built := false
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "exposure index built") {
			built = true
			break
		}
	}
	cmd.Process.Signal(os.Interrupt)
	go io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		t.Errorf("report schedule: %v", err)
	}
	if !built {
		t.Fatal("report schedule with exposure.index_cron @every 1s built no index")
	}
	if ex := read(); ex.Source != "index" || ex.Index == nil || ex.Index.Build <= idx.Index.Build {
		t.Errorf("after the scheduled build: source %q, index %+v; want a build newer than %d", ex.Source, ex.Index, idx.Index.Build)
	}
}
