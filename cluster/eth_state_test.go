package cluster

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/simulate/ethsim"
)

// ethWorld generates a synthetic Ethereum world with exchange customers
// and decodes its blocks.
func ethWorld(t testing.TB, blocks, customers int, seed int64) ([]*chain.Block, *ethsim.Truth, string) {
	t.Helper()
	cfg := ethsim.DefaultConfig()
	cfg.Blocks, cfg.TxsPerBlock, cfg.TokenTransfersPerBlock, cfg.Seed = blocks, 40, 50, seed
	cfg.Customers, cfg.Traders = customers, 2
	dir := t.TempDir()
	truth, err := ethsim.Generate(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := eth.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []*chain.Block
	for h := int64(0); h < int64(blocks); h++ {
		raw, err := src.Block(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := eth.Decode(raw, eth.DecodeOptions{Tokens: eth.DefaultTokens()})
		if err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		out = append(out, b)
	}
	return out, truth, dir
}

// ethHeuristics: the deposit heuristic with the world's exchange wallets.
func ethHeuristics(truth *ethsim.Truth) heuristic.Config {
	h := heuristic.DefaultConfig()
	h.Deposit.Exchanges = map[string]string{}
	for _, a := range truth.Actors {
		if a.Role == "exchange" {
			h.Deposit.Exchanges[a.Address] = a.Name
		}
	}
	return h
}

func openETHState(t testing.TB, dir string, h heuristic.Config) *State {
	t.Helper()
	s, err := OpenETHState(dir, h, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// depositMemory dumps the deposit heuristic's remembered states and expiry
// index (not the journals, which record history).
func depositMemory(t testing.TB, s *State) string {
	t.Helper()
	if err := s.Commit(false); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, prefix := range []byte{keyDeposit, keyExpiry} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			t.Fatal(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			fmt.Fprintf(&b, "%x=%x\n", it.Key(), it.Value())
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestETHStateLinksOwners: the deposit heuristic on the synthetic world
// links only addresses of one owner, never an exchange wallet or a trader.
func TestETHStateLinksOwners(t *testing.T) {
	blocks, truth, _ := ethWorld(t, 30, 25, 3)
	s := openETHState(t, t.TempDir(), ethHeuristics(truth))
	defer s.Close()
	apply(t, s, 0, blocksOf(blocks))
	owners := truth.Owners()
	clusters := partition(t, s)
	if len(clusters) == 0 {
		t.Fatal("no clusters")
	}
	for _, c := range clusters {
		members := strings.Split(c, ",")
		for _, m := range members {
			if owners[m] == "" || owners[m] != owners[members[0]] {
				t.Errorf("cluster %s: %s (owner %q) with %s (owner %q)", c, m, owners[m], members[0], owners[members[0]])
			}
		}
	}
	t.Logf("%d clusters of %d customers", len(clusters), len(truth.Customers))
}

// TestETHReorgEqualsCleanChain: undoing the last blocks leaves the
// clusters and the remembered payments of the chain that never had them;
// connecting another branch gives those of that chain.
func TestETHReorgEqualsCleanChain(t *testing.T) {
	blocks, truth, _ := ethWorld(t, 30, 25, 5)
	alt, _, _ := ethWorld(t, 30, 25, 6) // another branch from height cut on
	h := ethHeuristics(truth)
	cut := 20
	clean := openETHState(t, t.TempDir(), h)
	defer clean.Close()
	apply(t, clean, 0, blocksOf(blocks[:cut]))
	branch := openETHState(t, t.TempDir(), h)
	defer branch.Close()
	apply(t, branch, 0, blocksOf(append(blocks[:cut:cut], alt[cut:]...)))

	reorg := openETHState(t, t.TempDir(), h)
	defer reorg.Close()
	evs := blocksOf(blocks)
	for i := len(blocks) - 1; i >= cut; i-- {
		evs = append(evs, event{undo: blocks[i].Hash})
	}
	seq := apply(t, reorg, 0, evs)
	want := partition(t, clean)
	if len(want) == 0 {
		t.Fatal("the clean chain has no clusters")
	}
	full := openETHState(t, t.TempDir(), h)
	defer full.Close()
	apply(t, full, 0, blocksOf(blocks))
	if len(partition(t, full)) <= len(want) {
		t.Fatalf("the undone blocks drew no clusters: the test shows nothing")
	}
	samePartition(t, "after undoing the last blocks", partition(t, reorg), want)
	if got, want := depositMemory(t, reorg), depositMemory(t, clean); got != want {
		t.Errorf("deposit memory after the undos differs from the clean chain's (%d vs %d bytes)", len(got), len(want))
	}
	apply(t, reorg, seq, blocksOf(alt[cut:]))
	samePartition(t, "after connecting the other branch", partition(t, reorg), partition(t, branch))
	if got, want := depositMemory(t, reorg), depositMemory(t, branch); got != want {
		t.Errorf("deposit memory on the other branch differs from a run on it alone")
	}
}

// TestETHRestartEqualsUninterrupted: a state whose index went past its
// snapshot (committed with every block, then a crash) rolls the deposit
// memory back to the snapshot, replays, and ends as an uninterrupted run.
func TestETHRestartEqualsUninterrupted(t *testing.T) {
	blocks, truth, _ := ethWorld(t, 30, 25, 7)
	h := ethHeuristics(truth)
	evs := blocksOf(blocks)
	n := len(blocks)
	evs = append(evs, event{undo: blocks[n-1].Hash}, event{undo: blocks[n-2].Hash}, event{block: blocks[n-2]})
	once := openETHState(t, t.TempDir(), h)
	defer once.Close()
	apply(t, once, 0, evs)

	dir := t.TempDir()
	s := openETHState(t, dir, h)
	apply(t, s, 0, evs[:12])
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	apply(t, s, 12, evs[12:len(evs)-2]) // past the snapshot, then the "crash"
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openETHState(t, dir, h)
	defer s.Close()
	if s.LastSeq() != 12 {
		t.Fatalf("reopened at seq %d, want the snapshot's 12", s.LastSeq())
	}
	apply(t, s, 5, evs[5:12]) // redeliveries change nothing
	apply(t, s, 12, evs[12:])
	samePartition(t, "restarted", partition(t, s), partition(t, once))
	if got, want := depositMemory(t, s), depositMemory(t, once); got != want {
		t.Errorf("deposit memory after the restart differs from the uninterrupted run's")
	}
}

// TestETHEvidence: every link of the Ethereum state carries its sweep,
// rule and confidence, and the stored link round-trips them.
func TestETHEvidence(t *testing.T) {
	blocks, truth, _ := ethWorld(t, 12, 20, 9)
	s := openETHState(t, t.TempDir(), ethHeuristics(truth))
	defer s.Close()
	ch := NewChanges()
	for i, b := range blocks {
		if err := s.Connect(uint64(i+1), b, ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(ch.Merges) == 0 {
		t.Fatal("no merges")
	}
	for _, m := range ch.Merges {
		e, err := parseDepositEvidence(m.Extra)
		if err != nil {
			t.Fatal(err)
		}
		if m.Heuristic != heuristic.NameDeposit || e.Sweep == "" || e.Sweep == m.Txid || truth.Owners()[m.AddrA] == "" ||
			(e.Rule != heuristic.RuleSweepExact && e.Rule != heuristic.RuleSweepTolerance) || e.Confidence == 0 || int64(m.Height) < e.PaidAt {
			t.Errorf("merge %+v: evidence %+v", m, e)
		}
	}
	l := storedLink{a: 1, b: 2, seq: 3, k: 4, heuristic: heuristic.NameDeposit, version: 1, txid: "0xab", height: 7, extra: ch.Merges[0].Extra}
	got, err := decodeLink(linkKey(1, 3, 4), encodeLink(&l))
	if err != nil || got != l {
		t.Errorf("link round trip: got %+v, %v; want %+v", got, err, l)
	}
	st := heuristic.DepositState{Exchange: "binance", Rejected: true, Receipts: []heuristic.Receipt{{Payer: "0x1", Asset: "ETH", Txid: "0x2", Height: 9, Value: chain.AmountFromUint64(12345)}}}
	back, err := decodeDepositState(encodeDepositState(&st))
	if err != nil || back.Exchange != st.Exchange || !back.Rejected || len(back.Receipts) != 1 || back.Receipts[0].Value.String() != "12345" || back.Receipts[0].Height != 9 {
		t.Errorf("deposit state round trip: got %+v, %v", back, err)
	}
	if _, err := decodeDepositState([]byte{1, 200}); err == nil {
		t.Error("corrupt deposit state decoded without error")
	}
	if _, err := decodeJournal(bytes.Repeat([]byte{0xff}, 3)); err == nil {
		t.Error("corrupt journal decoded without error")
	}
}
