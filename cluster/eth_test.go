package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/stream"
)

func openETHPipeline(t *testing.T, dir, dsn string, truth *ethsim.Truth) (*pipeline.Pipeline, func()) {
	t.Helper()
	cfg := cluster.DefaultConfig(chain.ETH)
	cfg.Heuristics = cluster.ETHHeuristics(truth)
	p, err := pipeline.Open(pipeline.Config{DataDir: dir, StoreDSN: dsn, Cluster: cfg})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeP := func() {
		if !closed {
			closed = true
			if err := p.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	}
	t.Cleanup(closeP)
	return p, closeP
}

// storedETHPartition reads the stored Ethereum clusters of more than one
// address.
func storedETHPartition(t *testing.T, ctx context.Context, c store.Conn) []string {
	t.Helper()
	rows, err := c.Query(ctx, "SELECT address, argMax(cluster, seq) FROM trace_eth_address_cluster GROUP BY address")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	by := map[uint32][]string{}
	for rows.Next() {
		var a string
		var id uint32
		if err := rows.Scan(&a, &id); err != nil {
			t.Fatal(err)
		}
		by[id] = append(by[id], a)
	}
	var out []string
	for _, m := range by {
		if len(m) > 1 {
			sort.Strings(m)
			out = append(out, strings.Join(m, ","))
		}
	}
	sort.Strings(out)
	return out
}

// pairScore is the pairwise precision and recall of clusters against the
// true owners: of the pairs of addresses clustered together, the share
// with one owner; of the pairs of one owner's addresses that appeared on
// chain, the share clustered together. An address without an owner in the
// truth is its own owner.
func pairScore(clusters []string, truth *ethsim.Truth, seen map[string]bool) (precision, recall float64, tp, fp, fn int) {
	owners := truth.Owners()
	owner := func(a string) string {
		if o := owners[a]; o != "" {
			return o
		}
		return "self:" + a
	}
	together := map[[2]string]bool{}
	for _, c := range clusters {
		m := strings.Split(c, ",")
		for i := range m {
			for j := i + 1; j < len(m); j++ {
				together[[2]string{m[i], m[j]}] = true
				if owner(m[i]) == owner(m[j]) {
					tp++
				} else {
					fp++
				}
			}
		}
	}
	for _, c := range truth.Customers {
		var addrs []string
		for _, w := range append([]string{c.Deposit}, c.Wallets...) {
			if seen[w] {
				addrs = append(addrs, w)
			}
		}
		sort.Strings(addrs)
		for i := range addrs {
			for j := i + 1; j < len(addrs); j++ {
				if !together[[2]string{addrs[i], addrs[j]}] {
					fn++
				}
			}
		}
	}
	return float64(tp) / float64(max(tp+fp, 1)), float64(tp) / float64(max(tp+fn, 1)), tp, fp, fn
}

// TestETHClustererEndToEnd: saved JSON-RPC blocks → ingest eth → embedded
// NATS → loader and clusterer → ClickHouse server. The stored clusters are
// the deposit heuristic's; against the planted owners their pairwise
// precision is at least 0.99 (recall is reported); no exchange wallet or
// trader is clustered; explain shows the payment and the sweep.
func TestETHClustererEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	blocks, truth, dir := cluster.ETHWorld(t, 60, 60, 11)
	p, _ := openETHPipeline(t, t.TempDir(), chserver.TempDatabase(t), truth)
	if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
		t.Fatal(err)
	}
	c := conn(t, ctx, p)
	got := storedETHPartition(t, ctx, c)
	samePartition(t, "stored Ethereum clusters", got, cluster.ExpectedETHPartition(t, cluster.ETHHeuristics(truth), blocks))

	seen := map[string]bool{}
	for _, b := range blocks {
		for _, tr := range b.Transfers {
			if tr.Success && !tr.Zero {
				seen[tr.From], seen[tr.To] = true, true
			}
		}
	}
	precision, recall, tp, fp, fn := pairScore(got, truth, seen)
	t.Logf("deposit-address reuse on %d blocks, %d customers: %d clusters, pairwise precision %.4f (%d true, %d false pairs), recall %.4f (%d pairs missed)",
		len(blocks), len(truth.Customers), len(got), precision, tp, fp, recall, fn)
	if precision < 0.99 {
		t.Errorf("pairwise precision %.4f, want at least 0.99", precision)
	}
	if recall < 0.5 {
		t.Errorf("pairwise recall %.4f: the heuristic finds too little of the planted deposits", recall)
	}
	cl, err := cluster.NewChainClusters(c, chain.ETH)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range truth.Actors {
		if a.Role != "exchange" && a.Role != "trader" {
			continue
		}
		if id, err := cl.ClusterOf(ctx, a.Address); !errors.Is(err, cluster.ErrNotClustered) {
			t.Errorf("%s %s: in cluster %d (%v), want in none", a.Role, a.Name, id, err)
		}
	}
	// Explain a customer's wallet and its deposit address: each step is a
	// stored payment into a deposit address and a stored sweep out of it to
	// an exchange wallet.
	explained := 0
	for _, cu := range truth.Customers {
		for _, w := range cu.Wallets {
			path, err := cl.Explain(ctx, w, cu.Deposit)
			if errors.Is(err, cluster.ErrNotLinked) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range path {
				if e.SweepTxid == "" || e.Exchange == "" || e.Rule == "" || e.Confidence == 0 || e.Heuristic != "eth-deposit-reuse" {
					t.Errorf("explain %s → %s: step %+v lacks its evidence", w, cu.Deposit, e)
				}
				if n := countTransfers(t, ctx, c, e.Txid, e.AddressA, e.AddressB); n == 0 {
					t.Errorf("explain step %+v: no stored transfer %s → %s in the payment %s", e, e.AddressA, e.AddressB, e.Txid)
				}
				if n := countTransfers(t, ctx, c, e.SweepTxid, e.AddressB, e.Exchange); n == 0 {
					t.Errorf("explain step %+v: no stored transfer %s → %s in the sweep %s", e, e.AddressB, e.Exchange, e.SweepTxid)
				}
			}
			explained++
		}
		if explained >= 5 {
			break
		}
	}
	if explained == 0 {
		t.Error("no customer wallet linked to its deposit address to explain")
	}
}

func countTransfers(t *testing.T, ctx context.Context, c store.Conn, txid, from, to string) uint64 {
	t.Helper()
	rows, err := c.Query(ctx, "SELECT count() FROM eth_transfers FINAL WHERE txid = ? AND from_address = ? AND to_address = ? AND success = 1 AND zero = 0", txid, from, to)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestETHClustererRestart: ingest stopped half-way and resumed, with the
// snapshot and after losing it, stores the clusters of one uninterrupted
// run.
func TestETHClustererRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	blocks, truth, dir := cluster.ETHWorld(t, 36, 40, 13)
	want := cluster.ExpectedETHPartition(t, cluster.ETHHeuristics(truth), blocks)
	for _, lose := range []bool{false, true} {
		data := t.TempDir()
		dsn := chserver.TempDatabase(t)
		p, closeP := openETHPipeline(t, data, dsn, truth)
		if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: 17, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
			t.Fatal(err)
		}
		closeP()
		if lose {
			if err := os.Remove(filepath.Join(data, "trace", "eth", "forest.snap")); err != nil {
				t.Fatalf("removing the snapshot: %v", err)
			}
		}
		p, _ = openETHPipeline(t, data, dsn, truth)
		if err := p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens()}); err != nil {
			t.Fatal(err)
		}
		samePartition(t, map[bool]string{false: "restarted", true: "restarted without snapshot"}[lose], storedETHPartition(t, ctx, conn(t, ctx, p)), want)
	}
}

// TestETHClustererReorg: the stream undoes the last blocks and connects
// another branch; the stored clusters are those of a chain that never had
// the orphaned blocks, and no evidence of them is left.
func TestETHClustererReorg(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	blocks, truth, _ := cluster.ETHWorld(t, 36, 40, 17)
	alt, _, _ := cluster.ETHWorld(t, 36, 40, 18)
	h := cluster.ETHHeuristics(truth)
	cut := 26
	p, _ := openETHPipeline(t, t.TempDir(), chserver.TempDatabase(t), truth)
	nc, js, err := p.NATS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := stream.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	var evs []*chain.Event
	add := func(kind chain.EventKind, b *chain.Block) {
		ev := &chain.Event{Kind: kind, Seq: uint64(len(evs) + 1), Chain: chain.ETH, Height: b.Height, Hash: b.Hash}
		if kind == chain.KindBlock {
			ev.Block = b
		}
		evs = append(evs, ev)
	}
	for _, b := range blocks {
		add(chain.KindBlock, b)
	}
	for i := len(blocks) - 1; i >= cut; i-- {
		add(chain.KindUndo, blocks[i])
	}
	run := func(evs []*chain.Event) {
		t.Helper()
		if _, err := pub.Publish(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		cl, _, err := p.Clusterer(ctx, chain.ETH)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cl.Run(rctx, js) }()
		last, err := stream.LastSeq(ctx, js, chain.ETH)
		if err == nil {
			err = stream.WaitAcked(ctx, js, chain.ETH, "clusterer", last)
		}
		stop()
		if rerr := <-done; rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run(evs)
	c := conn(t, ctx, p)
	samePartition(t, "after the undos", storedETHPartition(t, ctx, c), cluster.ExpectedETHPartition(t, h, blocks[:cut]))
	orphans := make([]any, 0, len(blocks)-cut)
	for _, b := range blocks[cut:] {
		orphans = append(orphans, b.Hash)
	}
	rows, err := c.Query(ctx, "SELECT count() FROM trace_eth_merges FINAL WHERE block_hash IN ?", groupSet(orphans))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if n != 0 {
		t.Errorf("%d merges of orphaned blocks still stored, want 0", n)
	}
	// The other branch.
	var more []*chain.Event
	for i, b := range alt[cut:] {
		more = append(more, &chain.Event{Kind: chain.KindBlock, Seq: uint64(len(evs) + i + 1), Chain: chain.ETH, Height: b.Height, Hash: b.Hash, Block: b})
	}
	run(more)
	samePartition(t, "on the other branch", storedETHPartition(t, ctx, c), cluster.ExpectedETHPartition(t, h, append(blocks[:cut:cut], alt[cut:]...)))
}
