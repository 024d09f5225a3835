package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/trace"
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
		trace.Cluster
		Members []string     `json:"members"`
		Growth  []trace.Edge `json:"growth"`
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
		Linked bool         `json:"linked"`
		Path   []trace.Edge `json:"path"`
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
