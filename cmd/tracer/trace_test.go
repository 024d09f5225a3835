package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/trace"
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
	var rs []trace.Result
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
		var crs []trace.Result
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
	fails(t, "chain", []string{"--data", data, "trace", "--chain", "tron", "--from", from}, `--chain "tron"`)
	fails(t, "btc address on eth", []string{"--data", data, "trace", "--chain", "eth", "--from", from}, "bad address", "0x")
	fails(t, "asset on btc", []string{"--data", data, "trace", "--from", from, "--asset", "USDT"}, "--asset", "--chain eth")
	fails(t, "format", []string{"--data", data, "trace", "--from", from, "--format", "xml"}, `--format "xml"`)
}

// TestCLITraceETH: simulate eth, ingest it, label the truth's actors, then
// trace and measure exposure from a broker with --chain eth: the broker's
// planted cash-outs are found with their amounts in every format, and bad
// input fails naming what was wrong.
func TestCLITraceETH(t *testing.T) {
	dir := t.TempDir()
	sim := filepath.Join(dir, "sim")
	ok(t, "simulate", "eth", "--out", sim, "--blocks", "16", "--txs-per-block", "40", "--token-transfers-per-block", "50")
	raw, err := os.ReadFile(filepath.Join(sim, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth ethsim.Truth
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	for _, a := range truth.Actors {
		if a.Role == "precursor-broker" || a.Role == "cartel" || a.Role == "exchange" {
			fmt.Fprintf(&csv, "eth,%s,%s,%s,truth,100\n", a.Address, a.Name, a.Role)
		}
	}
	labelsFile := filepath.Join(dir, "truth.csv")
	if err := os.WriteFile(labelsFile, csv.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := []string{"--data", filepath.Join(dir, "data"), "--store", chserver.TempDatabase(t)}
	ok(t, append(d, "ingest", "eth", "--blocks-dir", sim)...)
	ok(t, append(d, "labels", "import", "--format", "csv", "--source", "truth", labelsFile)...)
	// The broker with the most cash-outs, in its EIP-55 form.
	outs := map[string]map[string]string{} // broker → txid → USDT amount
	for _, f := range truth.Flows {
		if f.Kind == "cash-out" {
			if outs[f.From] == nil {
				outs[f.From] = map[string]string{}
			}
			outs[f.From][f.Txid] = f.Value
		}
	}
	var broker string
	for b, m := range outs {
		if len(m) > len(outs[broker]) || (len(m) == len(outs[broker]) && b < broker) {
			broker = b
		}
	}
	if broker == "" {
		t.Fatal("no planted cash-out in the chain")
	}
	mixed, err := chain.ETHChecksum(broker)
	if err != nil {
		t.Fatal(err)
	}
	var rs []trace.Result
	if err := json.Unmarshal([]byte(ok(t, append(d, "trace", "--chain", "eth", "--from", mixed, "--asset", "usdt", "--model", "poison", "--format", "json")...)), &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Symbol != "USDT" || rs[0].Decimals != 6 || rs[0].Start != broker || !strings.Contains(rs[0].Params, "chain=eth asset=0xdac17f958d2ee523a2206206994597c13d831ec7(USDT) model=poison direction=down hops=6") {
		t.Fatalf("trace json: got %+v, want one USDT result of poison from %s", rs, broker)
	}
	got := map[string]string{}
	for _, e := range rs[0].Endpoints {
		if e.Reason == "stop:exchange" {
			got[e.Txid] = e.AmountUnits
		}
	}
	for txid, v := range outs[broker] {
		if got[txid] != v {
			t.Errorf("cash-out %s: got %q, want %s", txid, got[txid], v)
		}
	}
	if len(got) != len(outs[broker]) {
		t.Errorf("got %d exchange endpoints, want the %d planted cash-outs: %v", len(got), len(outs[broker]), got)
	}
	// Table: amounts in USDT with six decimals at most, the parameters.
	table := ok(t, append(d, "trace", "--chain", "eth", "--from", strings.ToUpper(broker[:2])+strings.ToUpper(broker[2:]), "--direction", "both")...)
	for _, want := range []string{"trace down from " + broker + " on eth, asset USDT", "trace down from " + broker + " on eth, asset ETH", "trace up from " + broker,
		"TAINTED USDT", "model=haircut direction=down hops=6", "rounding=floor-per-transfer", "stop:exchange"} {
		if !strings.Contains(table, want) {
			t.Errorf("table: want %q in\n%s", want, table)
		}
	}
	for _, v := range outs[broker] {
		if want := chain.FormatUnits(mustBig(t, v), 6) + " USDT"; !strings.Contains(table, want) {
			t.Errorf("table: want the cash-out %q in\n%s", want, table)
		}
		break
	}
	if csvOut := ok(t, append(d, "trace", "--chain", "eth", "--from", "label:precursor-broker", "--format", "csv", "--model", "fifo")...); !strings.HasPrefix(csvOut, "chain,asset,symbol,decimals,direction") || !strings.Contains(csvOut, "stop:exchange") || !strings.Contains(csvOut, "cartel:cartel-") {
		t.Errorf("csv:\n%s", csvOut)
	}
	if dot := ok(t, append(d, "trace", "--chain", "eth", "--from", broker, "--format", "dot")...); !strings.HasPrefix(dot, "digraph trace {") || !strings.Contains(dot, " USDT") {
		t.Errorf("dot:\n%s", dot)
	}
	ex := ok(t, append(d, "exposure", "--chain", "eth", broker)...)
	for _, want := range []string{"exposure of " + broker + " on eth, asset USDT", "SENT", "to exchange", "RECEIVED"} {
		if !strings.Contains(ex, want) {
			t.Errorf("exposure: want %q in\n%s", want, ex)
		}
	}
	var exs []trace.AccountExposure
	if err := json.Unmarshal([]byte(ok(t, append(d, "exposure", "--chain", "eth", broker, "--asset", "USDT", "--format", "json")...)), &exs); err != nil {
		t.Fatal(err)
	}
	if len(exs) != 1 || exs[0].Symbol != "USDT" || len(exs[0].To) != 1 || exs[0].To[0].Category != "exchange" {
		t.Errorf("exposure json: got %+v", exs)
	}
	bad := []byte(mixed)
	for i := 2; i < len(bad); i++ {
		if c := bad[i]; c >= 'a' && c <= 'f' {
			bad[i] = c - 'a' + 'A'
			break
		}
	}
	unknown := "0x00000000000000000000000000000000000000e1"
	fails(t, "bad checksum", append(d, "trace", "--chain", "eth", "--from", string(bad)), "EIP-55")
	fails(t, "short address", append(d, "trace", "--chain", "eth", "--from", "0x1234"), "40")
	fails(t, "unknown", append(d, "trace", "--chain", "eth", "--from", unknown), "unknown address", unknown)
	fails(t, "cluster", append(d, "trace", "--chain", "eth", "--from", "cluster:1"), "not clustered yet")
	fails(t, "hops", append(d, "trace", "--chain", "eth", "--from", broker, "--hops", "0"), "hops 0 out of range 1..50")
	fails(t, "min-value", append(d, "trace", "--chain", "eth", "--from", broker, "--min-value", "0.5"), "--min-value", "base units")
	fails(t, "asset", append(d, "trace", "--chain", "eth", "--from", broker, "--asset", "DOGE"), "--asset", `"DOGE"`)
	fails(t, "exposure cluster", append(d, "exposure", "--chain", "eth", "cluster:2"), "not clustered yet")
}

func mustBig(t *testing.T, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("%q is not a number", s)
	}
	return v
}
