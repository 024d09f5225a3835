package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/simulate/ethsim"
)

// TestCLICluster ingests a simulated chain with the binary (the clusterer
// runs with the loader) and asks the cluster commands about the planted
// brokers.
func TestCLICluster(t *testing.T) {
	dir := t.TempDir()
	blocks, data := filepath.Join(dir, "blocks"), filepath.Join(dir, "data")
	ok(t, "simulate", "btc", "--blocks", "40", "--txs-per-block", "120", "--out", blocks)
	truth, err := simulate.ReadTruthFile(filepath.Join(blocks, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	ok(t, "--data", data, "ingest", "btc", "--blocks-dir", blocks)
	owners := truth.Owners()

	type shown struct {
		cluster.Cluster
		Members []string       `json:"members"`
		Growth  []cluster.Edge `json:"growth"`
	}
	var best shown
	for _, e := range truth.EntitiesOf(simulate.KindBroker) {
		for _, a := range e.Addresses {
			var s shown
			if err := json.Unmarshal([]byte(ok(t, "--data", data, "cluster", "show", a, "--format", "json")), &s); err != nil {
				t.Fatalf("cluster show JSON: %v", err)
			}
			if s.Size < 2 {
				continue
			}
			if int(s.Size) != len(s.Members) || len(s.Growth) != int(s.Size)-1 {
				t.Errorf("cluster %d: size %d, %d members, %d merges; want size members and size-1 merges", s.ID, s.Size, len(s.Members), len(s.Growth))
			}
			for _, m := range s.Members {
				if owners[m] != e.ID {
					t.Errorf("broker %s's cluster %d holds %s of entity %d", e.Name, s.ID, m, owners[m])
				}
			}
			if s.Size > best.Size {
				best = s
			}
			break
		}
	}
	if best.Size < 2 {
		t.Fatal("no broker address is in a cluster of two or more")
	}
	// By id, as a table.
	out := ok(t, "--data", data, "cluster", "show", strconv.FormatUint(uint64(best.ID), 10), "--limit", "1")
	if !strings.Contains(out, "members 1 to 1 of "+strconv.Itoa(int(best.Size))) || !strings.Contains(out, best.Members[0]) {
		t.Errorf("cluster show %d: want the first member of %d in\n%s", best.ID, best.Size, out)
	}
	from, to := best.Members[0], best.Members[len(best.Members)-1]
	var ex struct {
		Linked bool           `json:"linked"`
		Path   []cluster.Edge `json:"path"`
	}
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "cluster", "explain", from, to, "--format", "json")), &ex); err != nil {
		t.Fatalf("explain JSON: %v", err)
	}
	if !ex.Linked || len(ex.Path) == 0 {
		t.Fatalf("explain %s %s: got %+v, want a path", from, to, ex)
	}
	for _, e := range ex.Path {
		tx := ok(t, "--data", data, "query", "tx", e.Txid)
		if !strings.Contains(tx, e.AddressA) || !strings.Contains(tx, e.AddressB) {
			t.Errorf("explain step %s: the transaction does not show both %s and %s:\n%s", e.Txid, e.AddressA, e.AddressB, tx)
		}
	}
	other := ""
	for a, o := range owners {
		if o != owners[from] && strings.HasPrefix(a, "bcrt1q") {
			other = a
			break
		}
	}
	if out := ok(t, "--data", data, "cluster", "explain", from, other); !strings.HasPrefix(out, "not linked") {
		t.Errorf("explain of two owners' addresses: got %q, want not linked", out)
	}
	if out := ok(t, "--data", data, "cluster", "held"); !strings.Contains(out, "no held merges") {
		t.Errorf("cluster held: got %q, want none (supercluster guard at 100000)", out)
	}
	fails(t, "bad argument", []string{"--data", data, "cluster", "show", "nonsense"}, "neither a cluster id nor an address")
}

// TestCLIClusterETH: a synthetic Ethereum world with exchange customers,
// its exchange wallets labelled, ingested with the binary on the embedded
// defaults (chDB): cluster show and explain --chain eth answer with the
// deposit heuristic's clusters and evidence.
func TestCLIClusterETH(t *testing.T) {
	dir := t.TempDir()
	sim, data := filepath.Join(dir, "eth"), filepath.Join(dir, "data")
	cfg := ethsim.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.TokenTransfersPerBlock, cfg.Customers, cfg.Traders = 30, 40, 50, 30, 1
	truth, err := ethsim.Generate(cfg, sim)
	if err != nil {
		t.Fatal(err)
	}
	csv := "chain,address,entity,category,source,confidence\n"
	for _, a := range truth.Actors {
		if a.Role == "exchange" {
			csv += "eth," + a.Address + "," + a.Name + ",exchange,test,90\n"
		}
	}
	labelsFile := filepath.Join(dir, "exchanges.csv")
	if err := os.WriteFile(labelsFile, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, "--data", data, "labels", "import", "--format", "csv", "--source", "test", labelsFile)
	ok(t, "--data", data, "ingest", "eth", "--blocks-dir", sim)
	owners := truth.Owners()

	type shown struct {
		cluster.Cluster
		Members []string       `json:"members"`
		Growth  []cluster.Edge `json:"growth"`
	}
	var best shown
	var bestCustomer ethsim.Customer
	clustered := 0
	for _, cu := range truth.Customers {
		var s shown
		if err := json.Unmarshal([]byte(ok(t, "--data", data, "cluster", "show", cu.Deposit, "--chain", "eth", "--format", "json")), &s); err != nil {
			t.Fatalf("cluster show JSON: %v", err)
		}
		if s.Size < 2 {
			continue
		}
		clustered++
		if int(s.Size) != len(s.Members) || len(s.Growth) != int(s.Size)-1 {
			t.Errorf("cluster %d: size %d, %d members, %d merges; want size members and size-1 merges", s.ID, s.Size, len(s.Members), len(s.Growth))
		}
		for _, m := range s.Members {
			if owners[m] != cu.Name {
				t.Errorf("customer %s's cluster %d holds %s of %q", cu.Name, s.ID, m, owners[m])
			}
		}
		for _, g := range s.Growth {
			if g.Heuristic != "eth-deposit-reuse" || g.SweepTxid == "" || g.Exchange == "" {
				t.Errorf("cluster %d grew by %+v: want deposit evidence with its sweep", s.ID, g)
			}
		}
		if s.Size > best.Size {
			best, bestCustomer = s, cu
		}
	}
	if clustered < len(truth.Customers)/2 {
		t.Fatalf("%d of %d customers' deposit addresses clustered, want most", clustered, len(truth.Customers))
	}
	// By id, as a table; the deposit address given in EIP-55 mixed case.
	out := ok(t, "--data", data, "cluster", "show", strconv.FormatUint(uint64(best.ID), 10), "--chain", "eth")
	for _, want := range []string{"chain", "eth", "exchange", bestCustomer.Deposit, "sweep txid", "eth-deposit-reuse v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster show %d --chain eth: want %q in\n%s", best.ID, want, out)
		}
	}
	wallet := ""
	for _, m := range best.Members {
		if m != bestCustomer.Deposit {
			wallet = m
		}
	}
	var ex struct {
		Linked bool           `json:"linked"`
		Path   []cluster.Edge `json:"path"`
	}
	if err := json.Unmarshal([]byte(ok(t, "--data", data, "cluster", "explain", wallet, strings.ToUpper(bestCustomer.Deposit[:2])+bestCustomer.Deposit[2:], "--chain", "eth", "--format", "json")), &ex); err != nil {
		t.Fatalf("explain JSON: %v", err)
	}
	if !ex.Linked || len(ex.Path) == 0 {
		t.Fatalf("explain %s %s: got %+v, want a path", wallet, bestCustomer.Deposit, ex)
	}
	for _, e := range ex.Path {
		for _, txid := range []string{e.Txid, e.SweepTxid} {
			tx := ok(t, "--data", data, "query", "tx", txid)
			if !strings.Contains(tx, e.AddressB) {
				t.Errorf("explain step %+v: transaction %s does not show the deposit address:\n%s", e, txid, tx)
			}
		}
	}
	out = ok(t, "--data", data, "cluster", "explain", wallet, bestCustomer.Deposit)
	if !strings.Contains(out, "linked by") || !strings.Contains(out, "payment txid") {
		t.Errorf("explain (chain from the 0x address) as a table: got\n%s", out)
	}
	var other string
	for _, cu := range truth.Customers {
		if cu.Name != bestCustomer.Name {
			other = cu.Deposit
			break
		}
	}
	if out := ok(t, "--data", data, "cluster", "explain", wallet, other, "--chain", "eth"); !strings.HasPrefix(out, "not linked") {
		t.Errorf("explain of two customers' addresses: got %q, want not linked", out)
	}
	for _, a := range truth.Actors {
		if a.Role == "exchange" {
			if out := ok(t, "--data", data, "cluster", "show", a.Address); !strings.Contains(out, "in no cluster") {
				t.Errorf("exchange wallet %s: got %q, want in no cluster", a.Name, out)
			}
		}
	}
	if out := ok(t, "--data", data, "cluster", "held", "--chain", "eth"); !strings.Contains(out, "no held merges") {
		t.Errorf("cluster held --chain eth: got %q, want none", out)
	}
	fails(t, "bad Ethereum address", []string{"--data", data, "cluster", "explain", "0x12", other, "--chain", "eth"}, "0x12")
	fails(t, "bad chain", []string{"--data", data, "cluster", "held", "--chain", "tron"}, "--chain", "tron")
}
