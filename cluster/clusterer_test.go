package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/chdb"
	"github.com/tracerproject/tracer/stream"
)

func TestMain(m *testing.M) { chserver.Main(m) }

func openPipeline(t *testing.T, dir, dsn string) (*pipeline.Pipeline, func()) {
	t.Helper()
	p, err := pipeline.Open(pipeline.Config{DataDir: dir, StoreDSN: dsn})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	var once sync.Once
	closeP := func() {
		once.Do(func() {
			if err := p.Close(); err != nil {
				t.Errorf("Close(%s): %v", dir, err)
			}
		})
	}
	t.Cleanup(closeP)
	return p, closeP
}

func conn(t *testing.T, ctx context.Context, p *pipeline.Pipeline) store.Conn {
	t.Helper()
	st, err := p.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Conn()
}

// storedPartition reads the clusters of more than one address from the
// store, in the form of cluster.ExpectedPartition.
func storedPartition(t *testing.T, ctx context.Context, c store.Conn) []string {
	t.Helper()
	rows, err := c.Query(ctx, "SELECT address, argMax(cluster, seq) FROM trace_btc_address_cluster GROUP BY address")
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range by {
		if len(m) < 2 {
			continue
		}
		sort.Strings(m)
		out = append(out, strings.Join(m, ","))
	}
	sort.Strings(out)
	return out
}

func samePartition(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the expected partition is empty", what)
	}
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s: got %d clusters, want %d", what, len(got), len(want))
	n := 0
	for _, g := range got {
		if !slices.Contains(want, g) && n < 3 {
			t.Errorf("  extra: %.160s", g)
			n++
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) && n < 6 {
			t.Errorf("  missing: %.160s", w)
			n++
		}
	}
}

func writeChain(t *testing.T, blocks, txs int, seed int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blocks")
	g, err := simulate.New(cluster.SimConfig(blocks, txs, seed))
	if err != nil {
		t.Fatal(err)
	}
	if err := simulate.WriteBlocksDir(g, dir, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestClustererEndToEnd: blk files → ingest → embedded NATS → loader and
// clusterer → ClickHouse server; the stored clusters are those of the
// heuristics, the planted brokers' addresses are clustered, and explain
// finds a path of real transactions.
func TestClustererEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blocks, truth := cluster.SimChain(t, 40, 120, 9)
	dir := writeChain(t, 40, 120, 9)
	p, _ := openPipeline(t, t.TempDir(), chserver.TempDatabase(t))
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
		t.Fatal(err)
	}
	c := conn(t, ctx, p)
	samePartition(t, "stored clusters", storedPartition(t, ctx, c), cluster.ExpectedPartition(t, blocks))

	cl := cluster.NewClusters(c)
	brokers := truth.EntitiesOf(simulate.KindBroker)
	if len(brokers) == 0 {
		t.Fatal("no planted brokers")
	}
	owners := truth.Owners()
	explained := 0
	for _, b := range brokers {
		var id uint32
		var members []string
		for _, a := range b.Addresses {
			got, err := cl.ClusterOf(ctx, a)
			if errors.Is(err, cluster.ErrNotClustered) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			id = got
			break
		}
		if id == 0 && len(members) == 0 {
			t.Logf("broker %s: no address clustered", b.Name)
			continue
		}
		sum, err := cl.Cluster(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		members, err = cl.Members(ctx, id, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if sum.FirstSeen > sum.FirstLinked || sum.FirstSeen == 0 {
			t.Errorf("broker %s: cluster %d first seen at %d, first linked at %d; want seen first, above the premine", b.Name, id, sum.FirstSeen, sum.FirstLinked)
		}
		if uint32(len(members)) != sum.Size {
			t.Errorf("broker %s: cluster %d has %d members, size says %d", b.Name, id, len(members), sum.Size)
		}
		for _, m := range members {
			if owners[m] != b.ID {
				t.Errorf("broker %s: cluster %d holds %s of entity %d", b.Name, id, m, owners[m])
			}
		}
		t.Logf("broker %s: cluster %d, %d of its %d addresses, %d merges, first seen at %d, first linked at %d", b.Name, id, sum.Size, len(b.Addresses), sum.Merges, sum.FirstSeen, sum.FirstLinked)
		if len(members) < 2 {
			continue
		}
		from, to := members[0], members[len(members)-1]
		path, err := cl.Explain(ctx, from, to)
		if err != nil {
			t.Fatalf("Explain(%s, %s): %v", from, to, err)
		}
		checkPath(t, ctx, c, from, to, path)
		explained++
	}
	if explained == 0 {
		t.Error("no broker cluster of two or more addresses to explain")
	}
	// Two addresses of different clusters are not linked.
	var a, b string
	for _, bl := range blocks[20:] {
		for _, tx := range bl.Txs {
			if len(tx.Inputs) >= 2 && tx.Inputs[0].Address != "" {
				if _, err := cl.ClusterOf(ctx, tx.Inputs[0].Address); err == nil {
					if a == "" {
						a = tx.Inputs[0].Address
					} else if id1, _ := cl.ClusterOf(ctx, a); id1 != mustCluster(t, ctx, cl, tx.Inputs[0].Address) {
						b = tx.Inputs[0].Address
					}
				}
			}
		}
		if b != "" {
			break
		}
	}
	if _, err := cl.Explain(ctx, a, b); !errors.Is(err, cluster.ErrNotLinked) {
		t.Errorf("Explain of two clusters (%s, %s): got %v, want ErrNotLinked", a, b, err)
	}
}

func mustCluster(t *testing.T, ctx context.Context, cl *cluster.Clusters, a string) uint32 {
	id, err := cl.ClusterOf(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// checkPath checks that path leads from one address to the other and that
// each step is a stored transaction spending from both of its addresses.
func checkPath(t *testing.T, ctx context.Context, c store.Conn, from, to string, path []cluster.Edge) {
	t.Helper()
	if len(path) == 0 {
		t.Fatalf("explain %s → %s: empty path", from, to)
	}
	at := from
	for i, e := range path {
		switch at {
		case e.AddressA:
			at = e.AddressB
		case e.AddressB:
			at = e.AddressA
		default:
			t.Fatalf("explain %s → %s: step %d (%s–%s) does not start at %s", from, to, i, e.AddressA, e.AddressB, at)
		}
		rows, err := c.Query(ctx, "SELECT countIf(address = ?), countIf(address = ?) FROM btc_inputs FINAL WHERE txid = ?", e.AddressA, e.AddressB, e.Txid)
		if err != nil {
			t.Fatal(err)
		}
		var na, nb uint64
		for rows.Next() {
			if err := rows.Scan(&na, &nb); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		if na == 0 || nb == 0 || e.Heuristic != "btc-multi-input" {
			t.Errorf("explain step %d: tx %s spends from %s %d times and from %s %d times (heuristic %s); want both inputs, multi-input",
				i, e.Txid, e.AddressA, na, e.AddressB, nb, e.Heuristic)
		}
	}
	if at != to {
		t.Errorf("explain %s → %s: path ends at %s", from, to, at)
	}
	t.Logf("explain %s → %s: %d transactions", from, to, len(path))
}

// TestClustererRestart: ingest stopped half-way and resumed, once with the
// clusterer's snapshot and once after losing it (a crash before the first
// snapshot), stores the clusters of one uninterrupted run.
func TestClustererRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blocks, _ := cluster.SimChain(t, 36, 100, 13)
	dir := writeChain(t, 36, 100, 13)
	want := cluster.ExpectedPartition(t, blocks)
	for _, lose := range []bool{false, true} {
		data := t.TempDir()
		dsn := chserver.TempDatabase(t)
		p, closeP := openPipeline(t, data, dsn)
		if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: 20}); err != nil {
			t.Fatal(err)
		}
		closeP()
		if lose {
			snap := filepath.Join(data, "trace", "btc", "forest.snap")
			if err := os.Remove(snap); err != nil {
				t.Fatalf("removing the snapshot: %v", err)
			}
		}
		p, _ = openPipeline(t, data, dsn)
		if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
			t.Fatal(err)
		}
		samePartition(t, map[bool]string{false: "restarted", true: "restarted without snapshot"}[lose], storedPartition(t, ctx, conn(t, ctx, p)), want)
	}
}

// TestClustererReorg publishes a chain, undoes its last blocks and
// connects the first of them again; the stored clusters are those of the
// chain without the orphaned blocks.
func TestClustererReorg(t *testing.T) { testReorg(t, chserver.TempDatabase(t)) }

// TestClustererReorgChDB runs the reorg on embedded chDB (current
// ClickHouse), where ALTER DELETE and system.mutations differ from 18.16.
// chDB holds one database per process: this is the package's only chDB test.
func TestClustererReorgChDB(t *testing.T) {
	testReorg(t, "")
}

func testReorg(t *testing.T, dsn string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blocks, _ := cluster.SimChain(t, 36, 100, 17)
	cut := 28
	p, _ := openPipeline(t, t.TempDir(), dsn)
	if _, err := p.Store(ctx); errors.Is(err, chdb.ErrNoLibrary) && os.Getenv("TRACER_REQUIRE_CHDB") != "1" {
		t.Skipf("%v (TRACER_REQUIRE_CHDB=1 makes this a failure)", err)
	}
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
		ev := &chain.Event{Kind: kind, Seq: uint64(len(evs) + 1), Chain: chain.BTC, Height: b.Height, Hash: b.Hash}
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
	if _, err := pub.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		cl, _, err := p.Clusterer(ctx, chain.BTC)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cl.Run(rctx, js) }()
		last, err := stream.LastSeq(ctx, js, chain.BTC)
		if err == nil {
			err = stream.WaitAcked(ctx, js, chain.BTC, "clusterer", last)
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
	run()
	c := conn(t, ctx, p)
	samePartition(t, "after the undos", storedPartition(t, ctx, c), cluster.ExpectedPartition(t, blocks[:cut]))
	// No evidence of an orphaned block is left.
	orphans := make([]any, 0, len(blocks)-cut)
	for _, b := range blocks[cut:] {
		orphans = append(orphans, b.Hash)
	}
	rows, err := c.Query(ctx, "SELECT count() FROM trace_btc_merges FINAL WHERE block_hash IN ?", groupSet(orphans))
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

	// The chain comes back: a second run connects the orphaned blocks again.
	evs = evs[:0]
	for _, b := range blocks[cut:] {
		ev := &chain.Event{Kind: chain.KindBlock, Seq: uint64(len(blocks) + (len(blocks) - cut) + len(evs) + 1), Chain: chain.BTC, Height: b.Height, Hash: b.Hash, Block: b}
		evs = append(evs, ev)
	}
	if _, err := pub.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	run()
	samePartition(t, "after reconnecting", storedPartition(t, ctx, c), cluster.ExpectedPartition(t, blocks))
}

// TestClustererHeld: with a tiny supercluster limit, merges of two
// clusters above it are stored as held, listed by Held, and not applied.
func TestClustererHeld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := writeChain(t, 30, 100, 21)
	cfg := cluster.DefaultConfig("btc")
	cfg.Supercluster = 3
	p, err := pipeline.Open(pipeline.Config{DataDir: t.TempDir(), StoreDSN: chserver.TempDatabase(t), Cluster: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.IngestBTC(ctx, pipeline.BTCIngest{BlocksDir: dir, To: -1}); err != nil {
		t.Fatal(err)
	}
	c := conn(t, ctx, p)
	cl := cluster.NewClusters(c)
	held, err := cl.Held(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) == 0 {
		t.Fatal("no held merges with a supercluster limit of 3")
	}
	for _, h := range held {
		if h.SizeA <= 3 || h.SizeB <= 3 {
			t.Errorf("held %s: sizes %d and %d, want both above 3", h.Txid, h.SizeA, h.SizeB)
		}
	}
	// No applied merge joined two clusters both above the limit.
	rows, err := c.Query(ctx, "SELECT count() FROM trace_btc_merges FINAL WHERE size_a > 3 AND size_b > 3")
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
		t.Errorf("%d applied merges joined two clusters above the limit, want 0", n)
	}
	t.Logf("%d merges held", len(held))
}
