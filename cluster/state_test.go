package cluster

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/ingest/btc"
	"github.com/tracerproject/tracer/simulate"
)

// prevouts is an in-memory outpoint index for normalizing a simulated chain.
type prevouts map[wire.OutPoint]chain.Output

func (p prevouts) Prevout(op wire.OutPoint) (chain.Output, error) {
	o, ok := p[op]
	if !ok {
		return o, fmt.Errorf("outpoint %s not found", op)
	}
	return o, nil
}

func simConfig(blocks, txsPerBlock int, seed int64) simulate.Config {
	cfg := simulate.DefaultConfig()
	cfg.Params = &chaincfg.RegressionNetParams
	cfg.Blocks, cfg.TxsPerBlock, cfg.Users, cfg.Seed = blocks, txsPerBlock, 1500, seed
	return cfg
}

// simChain generates a synthetic chain and normalizes it.
func simChain(t testing.TB, blocks, txsPerBlock int, seed int64) ([]*chain.Block, *simulate.Truth) {
	t.Helper()
	cfg := simConfig(blocks, txsPerBlock, seed)
	g, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := prevouts{}
	var out []*chain.Block
	for h := int64(0); ; h++ {
		b, err := g.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		nb, err := btc.Normalize(b, h, cfg.Params, idx)
		if err != nil {
			t.Fatalf("normalizing block %d: %v", h, err)
		}
		for i, tx := range b.Transactions {
			hash := tx.TxHash()
			for j := range tx.TxOut {
				idx[wire.OutPoint{Hash: hash, Index: uint32(j)}] = nb.Txs[i].Outputs[j]
			}
		}
		out = append(out, nb)
	}
	return out, g.Truth()
}

func openState(t testing.TB, dir string, supercluster uint32) *State {
	t.Helper()
	s, err := OpenState(dir, heuristic.DefaultConfig(), supercluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// event is one stream entry for the state tests: a block, or an undo.
type event struct {
	block *chain.Block
	undo  string
}

func apply(t testing.TB, s *State, seq0 uint64, evs []event) uint64 {
	t.Helper()
	seq := seq0
	ch := NewChanges()
	for _, ev := range evs {
		seq++
		var err error
		if ev.block != nil {
			err = s.Connect(seq, ev.block, ch)
		} else {
			err = s.Disconnect(seq, ev.undo, ch)
		}
		if err != nil {
			t.Fatalf("event %d: %v", seq, err)
		}
		ch.Reset()
	}
	if err := s.Commit(false); err != nil {
		t.Fatal(err)
	}
	return seq
}

func blocksOf(bs []*chain.Block) []event {
	evs := make([]event, len(bs))
	for i, b := range bs {
		evs[i] = event{block: b}
	}
	return evs
}

// chainState is a state that connected bs and nothing else, in a
// temporary directory, closed when the test ends: what undoing blocks must
// end equal to.
func chainState(t testing.TB, bs []*chain.Block) *State {
	t.Helper()
	s := openState(t, t.TempDir(), 0)
	t.Cleanup(func() { s.Close() })
	apply(t, s, 0, blocksOf(bs))
	return s
}

// undosOf is the undo of every block of bs, newest first.
func undosOf(bs []*chain.Block) []event {
	evs := make([]event, 0, len(bs))
	for i := len(bs) - 1; i >= 0; i-- {
		evs = append(evs, event{undo: bs[i].Hash})
	}
	return evs
}

// partition returns the clusters of more than one address as sorted,
// comma-joined member lists, sorted.
func partition(t testing.TB, s *State) []string {
	t.Helper()
	by := map[uint32][]string{}
	for id := uint32(0); id < uint32(s.Addresses()); id++ {
		r := s.f.Find(id)
		if s.f.size[r] < 2 {
			continue
		}
		a, err := s.Address(id)
		if err != nil {
			t.Fatal(err)
		}
		by[r] = append(by[r], a)
	}
	out := make([]string, 0, len(by))
	for r, m := range by {
		if uint32(len(m)) != s.f.size[r] {
			t.Fatalf("cluster %d: %d members found, size says %d", r, len(m), s.f.size[r])
		}
		sort.Strings(m)
		out = append(out, strings.Join(m, ","))
	}
	sort.Strings(out)
	return out
}

func samePartition(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s: got %d clusters, want %d", what, len(got), len(want))
	n := 0
	for _, g := range got {
		if !slices.Contains(want, g) && n < 5 {
			t.Errorf("  extra cluster: %.200s", g)
			n++
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) && n < 10 {
			t.Errorf("  missing cluster: %.200s", w)
			n++
		}
	}
}

func TestForest(t *testing.T) {
	var f Forest
	f.Grow(6)
	r, abs := f.Union(0, 1)
	if r != 0 || abs != 1 {
		t.Errorf("Union(0,1) of equal sizes: got root %d absorbed %d, want 0, 1", r, abs)
	}
	r, _ = f.Union(f.Find(2), f.Find(3))
	r, abs = f.Union(f.Find(4), r)
	if r != 2 || abs != 4 {
		t.Errorf("Union(4, {2,3}): got root %d absorbed %d, want the larger side 2 to stay root", r, abs)
	}
	r, _ = f.Union(f.Find(0), f.Find(4))
	var members []uint32
	f.Members(r, func(x uint32) bool { members = append(members, x); return true })
	slices.Sort(members)
	if !slices.Equal(members, []uint32{0, 1, 2, 3, 4}) || f.Size(1) != 5 || f.Size(5) != 1 {
		t.Errorf("members %v size %d, size of 5 %d; want [0 1 2 3 4], 5, 1", members, f.Size(1), f.Size(5))
	}
	f.Reset(members)
	for _, x := range members {
		if f.Find(x) != x || f.Size(x) != 1 {
			t.Errorf("after Reset, %d: root %d size %d; want itself, 1", x, f.Find(x), f.Size(x))
		}
	}
}

// TestPrecisionRecall clusters the synthetic chain with multi-input, then
// with the change rules too, and scores every pair of addresses on the
// chain against the true owners.
func TestPrecisionRecall(t *testing.T) {
	blocks, truth := simChain(t, 60, 150, 7)
	precision, _ := score(t, blocks, truth, heuristic.DefaultConfig(), "multi-input")
	if precision < 0.99 {
		t.Errorf("multi-input: pairwise precision %.4f, want at least 0.99", precision)
	}
	withChange := heuristic.DefaultConfig()
	withChange.Change = true
	// Reported, not asserted: the change rules are lower-confidence.
	score(t, blocks, truth, withChange, "multi-input and change")
	changeOnly := withChange
	changeOnly.MultiInput = false
	score(t, blocks, truth, changeOnly, "change alone")
}

// score clusters blocks with h and returns the pairwise precision and
// recall against the true owners, over every address on the chain.
func score(t *testing.T, blocks []*chain.Block, truth *simulate.Truth, h heuristic.Config, name string) (precision, recall float64) {
	t.Helper()
	s, err := OpenState(t.TempDir(), h, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	apply(t, s, 0, blocksOf(blocks))
	owners := truth.Owners()
	// Every address on the chain counts; one without an id is a cluster
	// of its own. Only the genesis output has no owner.
	addrs := map[string]bool{}
	for _, b := range blocks {
		for i := range b.Txs {
			for _, in := range b.Txs[i].Inputs {
				if in.Address != "" {
					addrs[in.Address] = true
				}
			}
			for _, o := range b.Txs[i].Outputs {
				if o.Address != "" {
					addrs[o.Address] = true
				}
			}
		}
	}
	byRoot := map[uint32]map[int]int{} // root → owner → addresses
	byOwner := map[int]int{}
	unowned, singletons := 0, 0
	for a := range addrs {
		o, ok := owners[a]
		if !ok {
			if unowned++; unowned > 1 {
				t.Fatalf("address %s has no owner in the truth", a)
			}
			continue
		}
		byOwner[o]++
		id, ok, err := s.LookupID(a)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			singletons++
			continue
		}
		r := s.f.Find(id)
		if byRoot[r] == nil {
			byRoot[r] = map[int]int{}
		}
		byRoot[r][o]++
	}
	pairs := func(n int) float64 { return float64(n) * float64(n-1) / 2 }
	var tp, predicted, actual float64
	for _, os := range byRoot {
		n := 0
		for _, k := range os {
			tp += pairs(k)
			n += k
		}
		predicted += pairs(n)
	}
	for _, k := range byOwner {
		actual += pairs(k)
	}
	precision, recall = tp/predicted, tp/actual
	multi := 0
	for _, os := range byRoot {
		n := 0
		for _, k := range os {
			n += k
		}
		if n > 1 {
			multi++
		}
	}
	t.Logf("%s on %d blocks: %d addresses (%d with ids), %d clusters of 2 or more; pairwise precision %.4f, recall %.4f (%.0f true pairs of %.0f predicted, %.0f same-owner pairs on the chain)",
		name, len(blocks), len(addrs), s.Addresses(), multi, precision, recall, tp, predicted, actual)
	if predicted == 0 {
		t.Fatal("no address pairs clustered: the chain has no multi-input transactions?")
	}
	// No merge across a planted CoinJoin: inputs of different owners of
	// every CoinJoin stay in different clusters, unless other evidence
	// joins them (it must not: precision would show it, but say which).
	cj := map[string]bool{}
	for _, r := range truth.CoinJoins {
		cj[r.Txid] = true
	}
	found := 0
	for _, b := range blocks {
		for i := range b.Txs {
			tx := &b.Txs[i]
			if !cj[tx.Txid] {
				continue
			}
			found++
			if k := h.CoinJoin(tx); k == heuristic.NotCoinJoin {
				t.Errorf("planted CoinJoin %s not detected (shape %+v)", tx.Txid, h.ShapeOf(tx))
			}
			for _, x := range tx.Inputs {
				for _, y := range tx.Inputs {
					if owners[x.Address] == owners[y.Address] {
						continue
					}
					ix, okx, _ := s.LookupID(x.Address)
					iy, oky, _ := s.LookupID(y.Address)
					if okx && oky && s.f.Find(ix) == s.f.Find(iy) {
						t.Errorf("CoinJoin %s: inputs %s (owner %d) and %s (owner %d) are in one cluster", tx.Txid, x.Address, owners[x.Address], y.Address, owners[y.Address])
					}
				}
			}
		}
	}
	if found == 0 || found != len(truth.CoinJoins) {
		t.Errorf("found %d of %d planted CoinJoins in the chain; want all, and some", found, len(truth.CoinJoins))
	}
	t.Logf("%s: %d planted CoinJoins, none merged across", name, found)
	for _, r := range truth.BatchPayouts {
		for _, b := range blocks {
			for i := range b.Txs {
				if b.Txs[i].Txid == r.Txid && h.CoinJoin(&b.Txs[i]) != heuristic.NotCoinJoin {
					t.Errorf("batch payout %s classified as CoinJoin %q", r.Txid, h.CoinJoin(&b.Txs[i]))
				}
			}
		}
	}
	return precision, recall
}

// TestReorgEqualsCleanChain: a chain whose last blocks are undone ends with
// the clusters of the chain that never had them; undoing blocks in the
// middle of the chain and connecting them again gives the full chain's.
func TestReorgEqualsCleanChain(t *testing.T) {
	blocks, _ := simChain(t, 40, 120, 3)
	cut := 30
	clean := chainState(t, blocks[:cut])
	full := chainState(t, blocks)

	reorg := openState(t, t.TempDir(), 0)
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
	samePartition(t, "after undoing the last blocks", partition(t, reorg), want)

	// Back to the full chain: the same blocks connected again.
	apply(t, reorg, seq, blocksOf(blocks[cut:]))
	samePartition(t, "after connecting them again", partition(t, reorg), partition(t, full))
}

// TestRestartEqualsUninterrupted: a state reopened from an older snapshot,
// whose index is ahead of it, replays the events after the snapshot and
// ends where an uninterrupted run ends.
func TestRestartEqualsUninterrupted(t *testing.T) {
	blocks, _ := simChain(t, 40, 120, 5)
	evs := blocksOf(blocks)
	evs = append(evs, event{undo: blocks[len(blocks)-1].Hash}, event{undo: blocks[len(blocks)-2].Hash}, event{block: blocks[len(blocks)-2]})
	once := openState(t, t.TempDir(), 0)
	defer once.Close()
	apply(t, once, 0, evs)

	dir := t.TempDir()
	s := openState(t, dir, 0)
	apply(t, s, 0, evs[:20])
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	apply(t, s, 20, evs[20:len(evs)-2]) // applied, never snapshotted: lost in the "crash"
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openState(t, dir, 0)
	defer s.Close()
	if s.LastSeq() != 20 {
		t.Fatalf("reopened at seq %d, want the snapshot's 20", s.LastSeq())
	}
	// Redelivery of applied events changes nothing; then the replay.
	apply(t, s, 10, evs[10:20])
	apply(t, s, 20, evs[20:])
	samePartition(t, "restarted", partition(t, s), partition(t, once))
}

func TestSuperclusterGuard(t *testing.T) {
	mk := func(txid string, ins ...string) *chain.Block {
		tx := chain.Tx{Txid: txid, Outputs: []chain.Output{{Address: "out-" + txid, Value: 1}}}
		for _, a := range ins {
			tx.Inputs = append(tx.Inputs, chain.Input{Address: a, Value: 10})
		}
		return &chain.Block{Chain: "btc", Hash: "h-" + txid, Height: 1, Txs: []chain.Tx{tx}}
	}
	s := openState(t, t.TempDir(), 2)
	defer s.Close()
	ch := NewChanges()
	for i, b := range []*chain.Block{mk("t1", "a1", "a2", "a3"), mk("t2", "b1", "b2", "b3"), mk("t3", "a1", "b1"), mk("t4", "c1", "a2")} {
		if err := s.Connect(uint64(i+1), b, ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(ch.Held) != 1 || ch.Held[0].Txid != "t3" || ch.Held[0].SizeA != 3 || ch.Held[0].SizeB != 3 {
		t.Fatalf("held %+v; want t3, joining two clusters of 3", ch.Held)
	}
	a1, _, _ := s.LookupID("a1")
	b1, _, _ := s.LookupID("b1")
	c1, _, _ := s.LookupID("c1")
	if s.f.Find(a1) == s.f.Find(b1) || s.f.Find(a1) != s.f.Find(c1) {
		t.Errorf("a1 and b1 joined, or c1 not with a1 (a small cluster joining a large one is not held)")
	}
	if len(ch.Merges) != 5 {
		t.Errorf("got %d merges, want 5 (2+2 inside t1 and t2, 1 for t4)", len(ch.Merges))
	}
}

// TestMergeRewritesSmallerSide: a merge marks only the absorbed side's
// members for rewriting (and a lone root), never the larger cluster.
func TestMergeRewritesSmallerSide(t *testing.T) {
	block := func(seq int, ins ...string) *chain.Block {
		tx := chain.Tx{Txid: fmt.Sprint("t", seq), Outputs: []chain.Output{{Address: "o", Value: 1}}}
		for _, a := range ins {
			tx.Inputs = append(tx.Inputs, chain.Input{Address: a, Value: 10})
		}
		return &chain.Block{Chain: "btc", Hash: fmt.Sprint("h", seq), Height: int64(seq), Txs: []chain.Tx{tx}}
	}
	s := openState(t, t.TempDir(), 0)
	defer s.Close()
	big := make([]string, 100)
	for i := range big {
		big[i] = fmt.Sprint("big", i)
	}
	ch := NewChanges()
	if err := s.Connect(1, block(1, big...), ch); err != nil {
		t.Fatal(err)
	}
	if ch.Dirty.Len() != 100 {
		t.Errorf("forming a cluster of 100: %d addresses to rewrite, want 100", ch.Dirty.Len())
	}
	ch.Reset()
	if err := s.Connect(2, block(2, "big7", "new1", "new2"), ch); err != nil {
		t.Fatal(err)
	}
	if ch.Dirty.Len() != 2 || len(ch.Merges) != 2 {
		t.Errorf("two new addresses joining a cluster of 100: %d to rewrite, %d merges; want 2, 2", ch.Dirty.Len(), len(ch.Merges))
	}
	ch.Reset()
	if err := s.Connect(3, block(3, "lone1", "lone2"), ch); err != nil {
		t.Fatal(err)
	}
	if ch.Dirty.Len() != 2 {
		t.Errorf("two lone addresses: %d to rewrite, want both", ch.Dirty.Len())
	}
}

// connectBatched draws what the one-at-a-time path draws: the same ids,
// merges (and held merges), addresses to rewrite, block records and
// partition, on the simulator's chain (CoinJoins, consolidations, reused
// addresses) and on the benchmark's mainnet-shaped blocks, with a
// supercluster guard low enough to hold merges.
func TestConnectBatchedMatchesOneAtATime(t *testing.T) {
	sim, _ := simChain(t, 40, 60, 7)
	g := newChainGen(9)
	var gen []*chain.Block
	var b *chain.Block
	for h := range 30 {
		b = g.block(b, h, []int{300, 1100}[h%2]) // 1,024 transactions or more: two goroutines draw the links
		c := *b
		c.Txs = slices.Clone(b.Txs)
		gen = append(gen, &c)
	}
	for _, tc := range []struct {
		name         string
		blocks       []*chain.Block
		supercluster uint32
	}{{"simulated", sim, 3}, {"mainnet-shaped", gen, 40}} {
		blocks := tc.blocks
		t.Run(tc.name, func(t *testing.T) {
			batched, single := openState(t, t.TempDir(), tc.supercluster), openState(t, t.TempDir(), tc.supercluster)
			defer batched.Close()
			defer single.Close()
			single.oneAtATime = true
			chB, chS := NewChanges(), NewChanges()
			held, merges := 0, 0
			for i, b := range blocks {
				seq := uint64(i + 1)
				if err := batched.Connect(seq, b, chB); err != nil {
					t.Fatal(err)
				}
				if err := single.Connect(seq, b, chS); err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(chB.Merges, chS.Merges, func(a, b Merge) bool { return a == b }) ||
					!slices.EqualFunc(chB.Held, chS.Held, func(a, b Merge) bool { return a == b }) {
					t.Fatalf("block %d: merges differ:\nbatched %+v\nsingle  %+v", i, chB.Merges, chS.Merges)
				}
				if !slices.Equal(chB.Dirty.IDs(), chS.Dirty.IDs()) || !slices.Equal(chB.DirtyRoots.IDs(), chS.DirtyRoots.IDs()) || chB.Links != chS.Links {
					t.Fatalf("block %d: rewrites differ: %d/%d ids, %d/%d roots, %d/%d links", i, chB.Dirty.Len(), chS.Dirty.Len(), chB.DirtyRoots.Len(), chS.DirtyRoots.Len(), chB.Links, chS.Links)
				}
				if batched.Addresses() != single.Addresses() {
					t.Fatalf("block %d: %d ids batched, %d one at a time", i, batched.Addresses(), single.Addresses())
				}
				merges += len(chB.Merges)
				held += len(chB.Held)
				chB.Reset()
				chS.Reset()
			}
			if err := batched.Commit(true); err != nil {
				t.Fatal(err)
			}
			if err := single.Commit(true); err != nil {
				t.Fatal(err)
			}
			for i := range blocks {
				vb, _, err := batched.get(blockKey(uint64(i + 1)))
				if err != nil {
					t.Fatal(err)
				}
				vs, _, err := single.get(blockKey(uint64(i + 1)))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(vb, vs) {
					t.Fatalf("block %d: block records differ", i)
				}
			}
			if !slices.Equal(partition(t, batched), partition(t, single)) {
				t.Fatal("partitions differ")
			}
			if merges == 0 || held == 0 {
				t.Fatalf("%d merges, %d held: the chain does not exercise the paths", merges, held)
			}
			t.Logf("%d blocks, %d ids, %d merges, %d held", len(blocks), batched.Addresses(), merges, held)
		})
	}
}
