package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/clickhouse"
	"github.com/tracerproject/tracer/stream"
)

// killBlocks are synthetic normalized blocks: the loader does not care
// where they come from. Every tx has 2 inputs and 3 outputs.
func killBlocks(n, txs int) ([]*chain.Event, int64) {
	var evs []*chain.Event
	var total int64
	for h := 0; h < n; h++ {
		b := &chain.Block{Chain: "btc", Height: int64(h), Hash: fmt.Sprintf("%064x", h+1), Parent: fmt.Sprintf("%064x", h), Time: 1700000000 + int64(h)*600}
		for i := 0; i < txs; i++ {
			txid := fmt.Sprintf("%056x%08x", h, i)
			tx := chain.Tx{Txid: txid, Index: i}
			for j := 0; j < 2; j++ {
				tx.Inputs = append(tx.Inputs, chain.Input{Index: uint32(j), PrevTxid: fmt.Sprintf("%064x", h*txs+i+j), Address: fmt.Sprintf("in-%d-%d", h, i), ScriptType: chain.ScriptP2WPKH, Value: 1000})
			}
			for j := 0; j < 3; j++ {
				v := int64(h*1000000 + i*10 + j)
				total += v
				tx.Outputs = append(tx.Outputs, chain.Output{Index: uint32(j), Address: fmt.Sprintf("out-%d", (h*txs+i)%997), ScriptType: chain.ScriptP2WPKH, Value: v})
			}
			b.Txs = append(b.Txs, tx)
		}
		evs = append(evs, &chain.Event{Kind: chain.KindBlock, Seq: uint64(h + 1), Chain: "btc", Height: int64(h), Hash: b.Hash, Block: b})
	}
	return evs, total
}

// TestLoaderSurvivesKill9 kills the loader process many times at random
// points of its batches, restarts it, and checks that every (txid, n) is
// stored exactly once.
func TestLoaderSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a real loader process many times")
	}
	bin := tracerBinary(t)
	dsn := chserver.TempDatabase(t)
	ctx := context.Background()

	ns, err := stream.StartServer(stream.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := stream.EnsureStream(ctx, js, "btc", 1); err != nil {
		t.Fatal(err)
	}
	pub, _ := stream.NewPublisher(nc)
	const blocks, txs = 60, 400
	evs, wantValue := killBlocks(blocks, txs)
	last, err := pub.Publish(ctx, evs...)
	if err != nil {
		t.Fatal(err)
	}

	data := t.TempDir()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "load", "--data", data, "--nats", ns.ClientURL(), "--store", dsn, "--log-level", "warn")
		// Small batches so kills land between insert and ack.
		cmd.Env = append(os.Environ(), "TRACER_LOADER_BATCH_ROWS=20000", "TRACER_LOADER_BATCH_WAIT=100ms", "TRACER_LOADER_ACK_WAIT=2s")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for i := 0; i < 15; i++ {
		cmd := start()
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
	}
	cmd := start()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := stream.WaitAcked(wctx, js, "btc", "loader", last); err != nil {
		t.Fatalf("loader did not finish after %d kills: %v", kills, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	conn, err := clickhouse.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(q string) uint64 {
		t.Helper()
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var n uint64
		rows.Next()
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	checks := []struct {
		name string
		q    string
		want uint64
	}{
		{"blocks", "SELECT count() FROM btc_blocks FINAL", blocks},
		{"txs", "SELECT count() FROM btc_txs FINAL", blocks * txs},
		{"outputs", "SELECT count() FROM btc_outputs FINAL", blocks * txs * 3},
		{"inputs", "SELECT count() FROM btc_inputs FINAL", blocks * txs * 2},
		{"address rows", "SELECT count() FROM btc_address_io FINAL", blocks * txs * 5},
		{"outputs stored twice", "SELECT count() FROM (SELECT txid, n, count() AS c FROM btc_outputs FINAL GROUP BY txid, n HAVING c > 1)", 0},
		{"inputs stored twice", "SELECT count() FROM (SELECT txid, n, count() AS c FROM btc_inputs FINAL GROUP BY txid, n HAVING c > 1)", 0},
		{"output value", "SELECT toUInt64(sum(value)) FROM btc_outputs FINAL", uint64(wantValue)},
	}
	for _, c := range checks {
		if got := count(c.q); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
	physical := count("SELECT count() FROM btc_outputs")
	t.Logf("%d kills; %d output rows physically stored for %d distinct (duplicates from redelivery are collapsed by the ReplacingMergeTree key)", kills, physical, blocks*txs*3)
	_ = filepath.Join
	_ = store.ErrNotFound
}
