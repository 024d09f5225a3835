package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/simulate"
)

// TestCLIAlerts runs the binary with a configuration that watches the
// planted brokers' addresses: `ingest btc` on embedded NATS runs the
// alerter with the loader, and `alerts list` must hold exactly one alert
// per payment to a broker address, worked out here from the blocks;
// confirmed below the tip, provisional at the tip (2 confirmations). A bad
// rule stops the command before anything runs.
func TestCLIAlerts(t *testing.T) {
	dir := t.TempDir()
	blocks, data := filepath.Join(dir, "blocks"), filepath.Join(dir, "data")
	params := &chaincfg.RegressionNetParams
	ok(t, "simulate", "btc", "--blocks", "20", "--out", blocks)
	chain := bestChain(t, readBlkRecords(t, blocks, params.Net), *params.GenesisHash)
	raw, err := os.ReadFile(filepath.Join(blocks, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth simulate.Truth
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	brokers := map[string]bool{}
	var list strings.Builder
	for _, e := range truth.Entities {
		if e.Kind == simulate.KindBroker {
			for _, a := range e.Addresses {
				brokers[a] = true
				fmt.Fprintf(&list, "%s # %s\n", a, e.Name)
			}
		}
	}
	watch := filepath.Join(dir, "brokers.txt")
	if err := os.WriteFile(watch, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Expected: every (tx, broker address) that received, from the blocks.
	// Money only moving between broker addresses (change, consolidation)
	// is not money arriving: no alert.
	tip := int64(len(chain) - 1)
	var want []string
	owner := map[wire.OutPoint]string{}
	for h, b := range chain {
		for i, tx := range b.Transactions {
			internal := i > 0
			for _, in := range tx.TxIn {
				if i > 0 && !brokers[owner[in.PreviousOutPoint]] {
					internal = false
				}
			}
			paid := map[string]int64{}
			for n, o := range tx.TxOut {
				a := outputAddress(t, o.PkScript, params)
				owner[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(n)}] = a
				if brokers[a] && !internal {
					paid[a] += o.Value
				}
			}
			status := alert.Confirmed
			if int64(h) == tip {
				status = alert.Provisional
			}
			for a, v := range paid {
				want = append(want, fmt.Sprintf("%s %s %s %d %d", tx.TxHash(), a, status, v, h))
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the simulated chain pays no broker: nothing to alert on")
	}
	slices.Sort(want)

	cfg := filepath.Join(dir, "tracer.yaml")
	writeCfg := func(body string) {
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(fmt.Sprintf("alerts:\n  confirmations: 2\n  rules:\n    - name: broker-in\n      direction: incoming\n      watch:\n        files: [%s]\n"+
		"    - name: purchases\n      kind: repeated-payments\n      min_payments: 3\n      tolerance_pct: 5\n      watch:\n        files: [%s]\n", watch, watch))
	ok(t, "--config", cfg, "--data", data, "ingest", "btc", "--blocks-dir", blocks)

	var got []*alert.Alert
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "alerts", "list", "--since", "1h", "--format", "json")), &got); err != nil {
		t.Fatal(err)
	}
	// Every repeated-payments alert is a planted purchase that is its
	// buyer's third or later payment of one price to that broker.
	qualifying := map[string]bool{}
	for _, f := range truth.Flows {
		if f.Kind != simulate.FlowPurchase {
			continue
		}
		earlier := 0
		for _, g := range truth.Flows {
			d := g.Amount - f.Amount
			if d < 0 {
				d = -d
			}
			if g.Kind == simulate.FlowPurchase && g.From == f.From && g.To == f.To && g.Height < f.Height && d*100 <= g.Amount*5 {
				earlier++
			}
		}
		if earlier >= 2 {
			qualifying[f.Txid+" "+f.Address] = true
		}
	}
	var patterns []*alert.Alert
	for _, a := range got {
		if a.Rule == "purchases" {
			patterns = append(patterns, a)
		}
	}
	got = slices.DeleteFunc(got, func(a *alert.Alert) bool { return a.Rule == "purchases" })
	for _, a := range patterns {
		if !qualifying[a.Txid+" "+a.Address] || len(a.Payments) < 2 {
			t.Errorf("repeated-payments alert %s on %s (%d earlier payments) is not a planted repeated purchase", a.Txid, a.Address, len(a.Payments))
		}
	}
	t.Logf("repeated payments: %d alert states for %d planted qualifying purchases", len(patterns), len(qualifying))
	latest := map[string]*alert.Alert{}
	for _, a := range got {
		if cur := latest[a.ID]; cur == nil || a.Status == alert.Confirmed {
			latest[a.ID] = a
		}
	}
	var have []string
	for _, a := range latest {
		have = append(have, fmt.Sprintf("%s %s %s %s %d", a.Txid, a.Address, a.Status, a.Amount, a.Height))
		if a.Rule != "broker-in" || a.Direction != alert.Incoming || len(a.Matched) != 1 || a.Matched[0].List != watch {
			t.Errorf("alert %s: rule %s, direction %s, matched %+v", a.ID, a.Rule, a.Direction, a.Matched)
		}
	}
	slices.Sort(have)
	if !slices.Equal(have, want) {
		t.Errorf("alerts (txid address status amount height):\n got %d: %q\nwant %d: %q", len(have), have, len(want), want)
	}
	if out := ok(t, "--data", data, "alerts", "list", "--since", "1h"); !strings.Contains(out, "broker-in") || !strings.Contains(out, "confirmed") {
		t.Errorf("alerts list table:\n%s", out)
	}

	// Bad rules fail at start, before anything runs, naming what is wrong.
	writeCfg(fmt.Sprintf("alerts:\n  rules:\n    - name: x\n      severity: urgent\n      watch:\n        files: [%s]\n", watch))
	fails(t, "unknown severity", []string{"--config", cfg, "--data", filepath.Join(dir, "other"), "ingest", "btc", "--blocks-dir", blocks}, `severity "urgent"`)
	writeCfg("alerts:\n  rules:\n    - name: x\n      watch:\n        files: [" + filepath.Join(dir, "missing.txt") + "]\n")
	fails(t, "unreadable watch list", []string{"--config", cfg, "--data", filepath.Join(dir, "other"), "ingest", "btc", "--blocks-dir", blocks}, "missing.txt")
	writeCfg("alerts:\n  rules:\n    - name: x\n      watch:\n        addresses: [notanaddress]\n")
	fails(t, "bad address", []string{"--config", cfg, "--data", filepath.Join(dir, "other"), "alerts", "run"}, "notanaddress")
	if _, err := os.Stat(filepath.Join(dir, "other")); err == nil {
		t.Error("a command with a bad rule created its data directory: something ran")
	}
}

// TestCLIAlertsEthereum: a rule on the Ethereum broker's address and USDT
// fires for every planted purchase, with the planted amount, and the
// alerts add up to what the store says the broker received in USDT.
func TestCLIAlertsEthereum(t *testing.T) {
	const usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7"
	dir := t.TempDir()
	sim := filepath.Join(dir, "eth")
	ok(t, "simulate", "eth", "--out", sim, "--blocks", "12", "--txs-per-block", "30", "--token-transfers-per-block", "40")
	raw, err := os.ReadFile(filepath.Join(sim, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth struct {
		Actors []struct{ Name, Role, Address string }
		Flows  []struct{ Kind, Asset, From, To, Value, Txid string }
	}
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	broker := truth.Actors[0]
	if broker.Role != "precursor-broker" {
		t.Fatalf("first actor %+v, want a broker", broker)
	}
	cfg := filepath.Join(dir, "tracer.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("alerts:\n  confirmations: 1\n  rules:\n    - name: broker-usdt\n      chain: eth\n      direction: incoming\n      assets: [USDT]\n      watch:\n        addresses: [%s]\n", broker.Address)), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	ok(t, "--config", cfg, "--data", data, "ingest", "eth", "--blocks-dir", sim)
	var got []*alert.Alert
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "alerts", "list", "--since", "1h", "--format", "json")), &got); err != nil {
		t.Fatal(err)
	}
	byTx := map[string]string{}
	sum := new(big.Int)
	for _, a := range got {
		if a.Chain != "eth" || a.Asset != "USDT" || a.Address != broker.Address || a.Status != alert.Confirmed {
			t.Errorf("alert %+v: want a confirmed eth USDT alert on %s", a, broker.Address)
			continue
		}
		v, _ := new(big.Int).SetString(a.Amount, 10)
		sum.Add(sum, v)
		byTx[a.Txid] = a.Amount
	}
	planted := 0
	for _, f := range truth.Flows {
		if f.Kind == "purchase" && f.To == broker.Address && f.Asset == usdt {
			planted++
			if byTx[f.Txid] != f.Value {
				t.Errorf("planted purchase %s of %s: alert amount %q", f.Txid, f.Value, byTx[f.Txid])
			}
		}
	}
	if planted == 0 {
		t.Fatal("no planted USDT purchase to the broker")
	}
	var addr struct {
		Assets []struct{ Asset, Received string }
	}
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "query", "address", broker.Address, "--format", "json")), &addr); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range addr.Assets {
		if a.Asset == usdt {
			found = true
			if a.Received != sum.String() {
				t.Errorf("alerts add up to %s USDT units, the store says the broker received %s", sum, a.Received)
			}
		}
	}
	if !found {
		t.Errorf("the store has no USDT for the broker: %+v", addr)
	}
}

// TestCLIAlertsCluster: a rule that watches "the cluster of" one broker
// address alerts on payments into every member of that cluster. The chain
// is ingested first; the alerter, added on a second run, reads the stream
// from its start with the clusters complete.
func TestCLIAlertsCluster(t *testing.T) {
	for _, tc := range []struct {
		name string
		// rule is the alerts section for the anchor address's cluster;
		// labels, when set, a label CSV to import first.
		rule   func(anchor string) string
		labels func(anchor string) string
		entry  func(anchor string) (list, entry string)
	}{
		{"watch.clusters", func(anchor string) string {
			return fmt.Sprintf("      watch:\n        clusters: [%s]\n", anchor)
		}, nil, func(anchor string) (string, string) { return "clusters", anchor }},
		// A label on the cluster (the regtest chain's addresses cannot be
		// labelled: labels are mainnet's): a category rule watches every
		// member.
		{"label on the cluster", func(string) string {
			return "      watch:\n        categories: [precursor-broker]\n"
		}, func(cluster string) string {
			return "chain,address,entity,category,source,confidence\nbtc,cluster:" + cluster + ",broker-x,precursor-broker,investigator,90\n"
		}, func(string) (string, string) { return "labels", "broker-x" }},
	} {
		t.Run(tc.name, func(t *testing.T) { testAlertsCluster(t, tc.rule, tc.labels, tc.entry) })
	}
}

func testAlertsCluster(t *testing.T, rule, labelCSV func(string) string, entry func(string) (string, string)) {
	dir := t.TempDir()
	blocks, data := filepath.Join(dir, "blocks"), filepath.Join(dir, "data")
	params := &chaincfg.RegressionNetParams
	ok(t, "simulate", "btc", "--blocks", "40", "--txs-per-block", "120", "--out", blocks)
	truth, err := simulate.ReadTruthFile(filepath.Join(blocks, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	ok(t, "--data", data, "ingest", "btc", "--blocks-dir", blocks)
	// The broker address with the largest cluster.
	var anchor string
	var members []string
	var cluster uint32
	for _, e := range truth.EntitiesOf(simulate.KindBroker) {
		for _, a := range e.Addresses {
			var s struct {
				ID      uint32   `json:"id"`
				Members []string `json:"members"`
			}
			if err := json.Unmarshal([]byte(ok(t, "--data", data, "cluster", "show", a, "--format", "json")), &s); err == nil && len(s.Members) > len(members) {
				anchor, members, cluster = a, s.Members, s.ID
			}
		}
	}
	if len(members) < 2 {
		t.Fatalf("no broker cluster of two or more addresses in the chain")
	}
	watched := map[string]bool{}
	for _, m := range members {
		watched[m] = true
	}
	// Expected: payments into a member from outside the cluster.
	chain := bestChain(t, readBlkRecords(t, blocks, params.Net), *params.GenesisHash)
	var want []string
	owner := map[wire.OutPoint]string{}
	for _, b := range chain {
		for i, tx := range b.Transactions {
			internal := i > 0
			for _, in := range tx.TxIn {
				if i > 0 && !watched[owner[in.PreviousOutPoint]] {
					internal = false
				}
			}
			paid := map[string]int64{}
			for n, o := range tx.TxOut {
				a := outputAddress(t, o.PkScript, params)
				owner[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(n)}] = a
				if watched[a] && !internal {
					paid[a] += o.Value
				}
			}
			for a, v := range paid {
				want = append(want, fmt.Sprintf("%s %s %d", tx.TxHash(), a, v))
			}
		}
	}
	slices.Sort(want)
	if labelCSV != nil {
		f := filepath.Join(dir, "labels.csv")
		if err := os.WriteFile(f, []byte(labelCSV(fmt.Sprint(cluster))), 0o644); err != nil {
			t.Fatal(err)
		}
		ok(t, "--data", data, "labels", "import", "--format", "csv", f)
	}
	cfg := filepath.Join(dir, "tracer.yaml")
	if err := os.WriteFile(cfg, []byte("alerts:\n  confirmations: 1\n  rules:\n    - name: broker-cluster\n      direction: incoming\n"+rule(anchor)), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, "--config", cfg, "--data", data, "ingest", "btc", "--blocks-dir", blocks)
	var got []*alert.Alert
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "alerts", "list", "--since", "1h", "--format", "json")), &got); err != nil {
		t.Fatal(err)
	}
	list, ent := entry(anchor)
	var have []string
	for _, a := range got {
		have = append(have, fmt.Sprintf("%s %s %s", a.Txid, a.Address, a.Amount))
		if len(a.Matched) != 1 || a.Matched[0].List != list || !strings.Contains(a.Matched[0].Entry, ent) {
			t.Errorf("alert %s: matched %+v, want %s naming %s", a.ID, a.Matched, list, ent)
		}
	}
	slices.Sort(have)
	if !slices.Equal(have, want) {
		t.Errorf("alerts on the cluster of %s (%d members):\n got %d: %q\nwant %d: %q", anchor, len(members), len(have), have, len(want), want)
	}
}
