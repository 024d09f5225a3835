package trace_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/base58"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/chdb"
	"github.com/tracerproject/tracer/store/clickhouse"
	"github.com/tracerproject/tracer/trace"
)

func TestMain(m *testing.M) { chserver.Main(m) }

// addr is a mainnet P2PKH address made from i, so labels accept it.
func addr(i int) string {
	h := make([]byte, 20)
	h[0], h[1], h[19] = 0xa5, byte(i>>8), byte(i)
	return base58.CheckEncode(h, 0x00)
}

// Addresses of the hand-built chain.
var (
	aT1, aT2, aC, aX, aY         = addr(1), addr(2), addr(3), addr(4), addr(5)      // two tainted and one clean input
	aP, aD, aQ1, aQ2, aQ3        = addr(10), addr(11), addr(12), addr(13), addr(14) // peel chain
	aE1, aE2, aE3, aG            = addr(15), addr(16), addr(17), addr(18)
	aF, aO1, aO2, aO3            = addr(20), addr(21), addr(22), addr(23) // fan-out
	aS, aW, aZ, aZ2              = addr(30), addr(31), addr(32), addr(33) // fifo: clean before tainted
	startSet                     = []string{aT1, aT2, aP, aF, aS}
	txM, txP1, txP2, txP3, txP1b = txid(100), txid(101), txid(102), txid(103), txid(104)
	txF1, txS1, txZ1, txZ2       = txid(110), txid(120), txid(121), txid(122)
)

func txid(i int) string { return fmt.Sprintf("%064x", i) }

type io struct {
	a string
	v int64
}

// mkTx builds a transaction spending prevs (txid, n, address, value) into outs.
func mkTx(id string, ins []chain.Input, outs ...io) chain.Tx {
	t := chain.Tx{Txid: id, Size: 200, Vsize: 200}
	for i := range ins {
		ins[i].Index = uint32(i)
		ins[i].ScriptType = "pubkeyhash"
	}
	t.Inputs = ins
	for i, o := range outs {
		t.Outputs = append(t.Outputs, chain.Output{Index: uint32(i), Address: o.a, ScriptType: "pubkeyhash", Value: o.v})
	}
	return t
}

func in(prev string, n uint32, a string, v int64) chain.Input {
	return chain.Input{PrevTxid: prev, PrevIndex: n, Address: a, Value: v}
}

// fund is a coinbase paying a.
func fund(k int, a string, v int64) chain.Tx {
	return mkTx(txid(k), []chain.Input{{Coinbase: true}}, io{a, v})
}

// handChain is the chain every hand-computed case runs on. Funding txids
// are 1..; see the cases for the amounts.
func handChain() []*chain.Block {
	b1 := []chain.Tx{
		fund(1, aT1, 50_000), fund(2, aT2, 30_000), fund(3, aC, 20_000),
		fund(10, aP, 100_000), fund(11, aD, 50_000),
		fund(20, aF, 100_000),
		fund(30, aS, 31_000), fund(31, aW, 40_000), // W: clean money first
	}
	b2 := []chain.Tx{
		// Two tainted inputs and a clean one: 80,000 of 100,000 tainted.
		mkTx(txM, []chain.Input{in(txid(1), 0, aT1, 50_000), in(txid(2), 0, aT2, 30_000), in(txid(3), 0, aC, 20_000)},
			io{aX, 60_000}, io{aY, 39_001}), // fee 999
		// Peel chain, 100,000 tainted of 150,000.
		mkTx(txP1, []chain.Input{in(txid(10), 0, aP, 100_000), in(txid(11), 0, aD, 50_000)}, io{aQ1, 130_000}, io{aE1, 19_000}),
		// Fan-out.
		mkTx(txF1, []chain.Input{in(txid(20), 0, aF, 100_000)}, io{aO1, 30_000}, io{aO2, 30_000}, io{aO3, 39_000}),
		// S pays W, which already holds 40,000 clean.
		mkTx(txS1, []chain.Input{in(txid(30), 0, aS, 31_000)}, io{aW, 30_000}),
	}
	b3 := []chain.Tx{
		mkTx(txP2, []chain.Input{in(txP1, 0, aQ1, 130_000)}, io{aQ2, 120_000}, io{aE2, 9_000}),
		mkTx(txP1b, []chain.Input{in(txP1, 1, aE1, 19_000)}, io{aG, 18_000}),
		// W spends the very output S paid it; FIFO says that is its clean money.
		mkTx(txZ1, []chain.Input{in(txS1, 0, aW, 30_000)}, io{aZ, 29_000}),
	}
	b4 := []chain.Tx{
		mkTx(txP3, []chain.Input{in(txP2, 0, aQ2, 120_000)}, io{aQ3, 70_000}, io{aE3, 49_000}),
		mkTx(txZ2, []chain.Input{in(txid(31), 0, aW, 40_000)}, io{aZ2, 39_000}),
	}
	var out []*chain.Block
	for h, txs := range [][]chain.Tx{b1, b2, b3, b4} {
		for i := range txs {
			txs[i].Index = i
			if txs[i].Inputs[0].Coinbase {
				txs[i].Coinbase = true
			}
		}
		out = append(out, &chain.Block{Chain: chain.BTC, Height: int64(h + 1), Hash: fmt.Sprintf("%064x", 0xb000+h+1),
			Parent: fmt.Sprintf("%064x", 0xb000+h), Time: time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC).Unix(), Txs: txs})
	}
	return out
}

// engines runs f on the ClickHouse server and on chDB.
func engines(t *testing.T, f func(t *testing.T, conn store.Conn)) {
	t.Run("clickhouse-server", func(t *testing.T) {
		conn, err := clickhouse.Open(context.Background(), chserver.TempDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		f(t, conn)
	})
	t.Run("chdb", func(t *testing.T) {
		conn, err := chdb.Open(chdb.Config{Path: t.TempDir()})
		if errors.Is(err, chdb.ErrNoLibrary) && os.Getenv("TRACER_REQUIRE_CHDB") != "1" {
			t.Skipf("%v (TRACER_REQUIRE_CHDB=1 makes this a failure)", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		f(t, conn)
	})
}

// handStore writes the hand-built chain (twice), puts Q1 and Q2 in one cluster
// (with change-heuristic evidence in txP2) and labels E1 an exchange.
func handStore(t *testing.T, ctx context.Context, conn store.Conn) *labels.Store {
	t.Helper()
	st, err := store.New(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for i, blk := range handChain() {
		if err := b.AddBlock(blk, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// Twice, as a loader retry would: the tracer reads without FINAL and
	// must count every row once.
	for range 2 {
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Insert(ctx, "trace_btc_address_cluster", []store.Column{
		{Name: "address", Values: []string{aQ1, aQ2}}, {Name: "address_id", Values: []uint32{1, 2}},
		{Name: "cluster", Values: []uint32{7, 7}}, {Name: "block_height", Values: []uint32{3, 3}}, {Name: "seq", Values: []uint64{1, 2}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Insert(ctx, "trace_btc_merges", []store.Column{
		{Name: "address_a", Values: []string{aQ1}}, {Name: "address_b", Values: []string{aQ2}}, {Name: "txid", Values: []string{txP2}},
		{Name: "heuristic", Values: []string{"change"}}, {Name: "heuristic_version", Values: []uint16{1}},
		{Name: "block_hash", Values: []string{"h"}}, {Name: "block_height", Values: []uint32{3}},
		{Name: "cluster_a", Values: []uint32{7}}, {Name: "cluster_b", Values: []uint32{8}}, {Name: "size_a", Values: []uint32{1}},
		{Name: "size_b", Values: []uint32{1}}, {Name: "cluster", Values: []uint32{7}}, {Name: "seq", Values: []uint64{1}},
	}); err != nil {
		t.Fatal(err)
	}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	csv := "chain,address,entity,category,source,confidence\nbtc," + aE1 + ",Hand Exchange,exchange,hand,100\n"
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "hand.csv", Data: []byte(csv)}}, labels.Options{Source: "hand"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return ls
}

type want struct {
	amount int64
	hops   int
	reason string
}

func key(txid string, n uint32) string { return fmt.Sprintf("%s:%d", txid, n) }

func endpoints(r *trace.Result) map[string]trace.Endpoint {
	m := map[string]trace.Endpoint{}
	for _, e := range r.Endpoints {
		m[key(e.Txid, e.N)] = e
	}
	return m
}

func check(t *testing.T, name string, r *trace.Result, w map[string]want) {
	t.Helper()
	got := endpoints(r)
	for k, wv := range w {
		e, ok := got[k]
		if !ok {
			t.Errorf("%s: endpoint %s missing; got %v", name, k, summary(r))
			continue
		}
		if e.Amount != wv.amount || e.Hops != wv.hops || e.Reason != wv.reason {
			t.Errorf("%s: endpoint %s: got amount %d hops %d reason %s, want %d %d %s", name, k, e.Amount, e.Hops, e.Reason, wv.amount, wv.hops, wv.reason)
		}
	}
	for k, e := range got {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: unexpected endpoint %s (%s, amount %d, hops %d, %s)", name, k, e.Address, e.Amount, e.Hops, e.Reason)
		}
	}
}

func summary(r *trace.Result) string {
	var s []string
	for _, e := range r.Endpoints {
		s = append(s, fmt.Sprintf("%s:%d=%d/h%d/%s", e.Txid[60:], e.N, e.Amount, e.Hops, e.Reason))
	}
	return strings.Join(s, " ")
}

// TestHandModels: every model on hand-computed cases (see handChain).
func TestHandModels(t *testing.T) {
	engines(t, func(t *testing.T, conn store.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ls := handStore(t, ctx, conn)
		tr := trace.New(conn, ls)
		start := trace.Start{Desc: "hand", Addresses: startSet}
		// Q1 and Q2 share cluster 7: P2 is no hop for Q2, so Q3 and E3 are
		// 2 hops away, E2 2, G 2 (through E1, 1).
		cases := []struct {
			model string
			want  map[string]want
		}{
			{trace.Poison, map[string]want{
				key(txM, 0): {60_000, 1, "unspent"}, key(txM, 1): {39_001, 1, "unspent"},
				key(txP1, 1): {19_000, 1, "labelled"}, key(txP2, 1): {9_000, 2, "unspent"},
				key(txP3, 0): {70_000, 2, "unspent"}, key(txP3, 1): {49_000, 2, "unspent"}, key(txP1b, 0): {18_000, 2, "unspent"},
				key(txF1, 0): {30_000, 1, "unspent"}, key(txF1, 1): {30_000, 1, "unspent"}, key(txF1, 2): {39_000, 1, "unspent"},
				// W's own output, spent by Z1: poison follows the output.
				key(txZ1, 0): {29_000, 2, "unspent"},
			}},
			{trace.Haircut, map[string]want{
				// 80,000/100,000 of 60,000 and of 39,001 (31,200.8 rounds down).
				key(txM, 0): {48_000, 1, "unspent"}, key(txM, 1): {31_200, 1, "unspent"},
				// 100,000/150,000: Q1 86,666, E1 12,666; then 86,666/130,000.
				key(txP1, 1): {12_666, 1, "labelled"}, key(txP2, 1): {5_999, 2, "unspent"},
				key(txP3, 0): {79_999 * 70_000 / 120_000, 2, "unspent"}, key(txP3, 1): {79_999 * 49_000 / 120_000, 2, "unspent"},
				key(txP1b, 0): {12_666 * 18_000 / 19_000, 2, "unspent"},
				key(txF1, 0):  {30_000, 1, "unspent"}, key(txF1, 1): {30_000, 1, "unspent"}, key(txF1, 2): {39_000, 1, "unspent"},
				key(txZ1, 0): {29_000, 2, "unspent"},
			}},
			{trace.FIFO, map[string]want{
				// 50,000 + 30,000 tainted then 20,000 clean, laid out on X then Y.
				key(txM, 0): {60_000, 1, "unspent"}, key(txM, 1): {20_000, 1, "unspent"},
				// P's 100,000 first: all on Q1 (130,000), none on E1.
				key(txP2, 0): {}, key(txP3, 0): {70_000, 2, "unspent"}, key(txP3, 1): {30_000, 2, "unspent"},
				key(txF1, 0): {30_000, 1, "unspent"}, key(txF1, 1): {30_000, 1, "unspent"}, key(txF1, 2): {39_000, 1, "unspent"},
				// W spends 30,000 of its older clean money first (Z: nothing),
				// then 10,000 clean and the 30,000 tainted: 29,000 on Z2.
				key(txZ2, 0): {29_000, 2, "unspent"},
			}},
		}
		for _, c := range cases {
			if c.model == trace.FIFO {
				delete(c.want, key(txP2, 0))
			}
			cfg := trace.DefaultConfig()
			cfg.Model = c.model
			res, err := tr.Trace(ctx, start, cfg)
			if err != nil {
				t.Fatalf("%s: %v", c.model, err)
			}
			r := res[0]
			if !strings.Contains(r.Params, "model="+c.model) {
				t.Errorf("%s: params %q do not name the model", c.model, r.Params)
			}
			if r.Capped != "" {
				t.Errorf("%s: capped %q", c.model, r.Capped)
			}
			check(t, c.model, r, c.want)
			// The taint graph: M's outputs are fed by T1 and T2, never by
			// the clean C.
			var mSteps []string
			for _, h := range r.Steps {
				if h.Txid == txM {
					mSteps = append(mSteps, h.From+">"+h.Output)
				}
			}
			wantM := []string{aT1 + ">" + key(txM, 0), aT2 + ">" + key(txM, 0), aT1 + ">" + key(txM, 1), aT2 + ">" + key(txM, 1)}
			if c.model == trace.FIFO {
				// 60,000 on X: T1's 50,000 and 10,000 of T2's; Y: the rest of T2's.
				wantM = []string{aT1 + ">" + key(txM, 0), aT2 + ">" + key(txM, 0), aT2 + ">" + key(txM, 1)}
			}
			slices.Sort(mSteps)
			slices.Sort(wantM)
			if !slices.Equal(mSteps, wantM) {
				t.Errorf("%s: steps of M: got %v, want %v", c.model, mSteps, wantM)
			}
			// The path to E3 shows the cluster step P2 with its evidence.
			if e, ok := endpoints(r)[key(txP3, 1)]; ok {
				if len(e.Path) != 3 || e.Path[0].Txid != txP1 || e.Path[1].Txid != txP2 || e.Path[2].Txid != txP3 {
					t.Errorf("%s: path to E3: got %+v, want P1, P2, P3", c.model, e.Path)
				} else if !e.Path[1].ClusterStep || e.Path[1].Cluster != 7 || !strings.HasPrefix(e.Path[1].Evidence, "change v1") || e.Path[0].ClusterStep {
					t.Errorf("%s: path to E3: step P2 got cluster step %v cluster %d evidence %q, want cluster 7 change", c.model,
						e.Path[1].ClusterStep, e.Path[1].Cluster, e.Path[1].Evidence)
				}
				if e.Path[2].Height != 4 || e.Path[0].From != aP || e.Path[2].To != aE3 {
					t.Errorf("%s: path to E3: got %+v", c.model, e.Path)
				}
			}
		}

		// Stop at exchange: E1 ends its path, G is not reached.
		cfg := trace.DefaultConfig()
		cfg.Model = trace.Poison
		cfg.StopAt = []string{"exchange"}
		res, err := tr.Trace(ctx, start, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := endpoints(res[0])
		if e := got[key(txP1, 1)]; e.Reason != "stop:exchange" || len(e.Labels) != 1 || e.Labels[0].Entity != "Hand Exchange" {
			t.Errorf("stop-at exchange: E1 got %+v, want stop:exchange labelled Hand Exchange", e)
		}
		if _, ok := got[key(txP1b, 0)]; ok {
			t.Errorf("stop-at exchange: G reached through the exchange")
		}

		// One hop: Q2 (cluster step) is reached, what it pays is not.
		cfg = trace.DefaultConfig()
		cfg.Model = trace.Poison
		cfg.Hops = 1
		res, err = tr.Trace(ctx, start, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got = endpoints(res[0])
		if e := got[key(txP2, 0)]; e.Reason != "hop-limit" || e.Hops != 1 {
			t.Errorf("hops 1: Q2 got %+v, want hop-limit at 1", e)
		}
		for _, k := range []string{key(txP3, 0), key(txP2, 1), key(txZ1, 0)} {
			if _, ok := got[k]; ok {
				t.Errorf("hops 1: %s reached", k)
			}
		}

		// Until the end of block 2: the spends of blocks 3 and 4 are not
		// followed; what they would spend ends its path there.
		cfg = trace.DefaultConfig()
		cfg.Model = trace.Poison
		cfg.Until = time.Date(2024, 1, 1, 1, 59, 59, 0, time.UTC)
		res, err = tr.Trace(ctx, start, cfg)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "until block 2", res[0], map[string]want{
			key(txM, 0): {60_000, 1, "unspent"}, key(txM, 1): {39_001, 1, "unspent"},
			key(txP1, 0): {130_000, 1, "time-window"}, key(txP1, 1): {19_000, 1, "time-window"},
			key(txF1, 0): {30_000, 1, "unspent"}, key(txF1, 1): {30_000, 1, "unspent"}, key(txF1, 2): {39_000, 1, "unspent"},
			key(txS1, 0): {30_000, 1, "time-window"},
		})

		// Max nodes: the result says the cap was hit.
		cfg = trace.DefaultConfig()
		cfg.MaxNodes = 3
		res, err = tr.Trace(ctx, start, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Capped != "max-nodes 3" || res[0].Nodes != 3 {
			t.Errorf("max-nodes 3: got capped %q nodes %d", res[0].Capped, res[0].Nodes)
		}

		// Time limit: the result says the cap was hit, after reading the
		// start set's outputs.
		cfg = trace.DefaultConfig()
		cfg.Timeout = time.Nanosecond
		res, err = tr.Trace(ctx, start, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Capped != "timeout 1ns" || res[0].Seeds != 5 {
			t.Errorf("timeout 1ns: got capped %q, %d seeds, want timeout 1ns and the 5 seeds", res[0].Capped, res[0].Seeds)
		}

		// Upstream from X: poison takes every input of M whole; haircut
		// 60,000/100,000 of each (the fee is nobody's source).
		for _, c := range []struct {
			model string
			want  map[string]want
		}{
			{trace.Poison, map[string]want{key(txid(1), 0): {50_000, 1, "coinbase"}, key(txid(2), 0): {30_000, 1, "coinbase"}, key(txid(3), 0): {20_000, 1, "coinbase"}}},
			{trace.Haircut, map[string]want{key(txid(1), 0): {30_000, 1, "coinbase"}, key(txid(2), 0): {18_000, 1, "coinbase"}, key(txid(3), 0): {12_000, 1, "coinbase"}}},
		} {
			cfg := trace.DefaultConfig()
			cfg.Model, cfg.Direction = c.model, trace.Up
			res, err := tr.Trace(ctx, trace.Start{Desc: aX, Addresses: []string{aX}}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "up "+c.model, res[0], c.want)
		}

		// Exposure of G: it received from the exchange E1, directly.
		ex, err := tr.Exposure(ctx, trace.Start{Desc: aG, Addresses: []string{aG}}, trace.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if ex.Received != 18_000 || len(ex.From) != 1 || ex.From[0] != (trace.CategoryFlow{Category: "exchange", Direct: 18_000}) {
			t.Errorf("exposure of G: got received %d from %+v, want 18000 direct from exchange", ex.Received, ex.From)
		}
		// Exposure of P: 12,666 of what it sent reached the exchange, directly.
		ex, err = tr.Exposure(ctx, trace.Start{Desc: aP, Addresses: []string{aP}}, trace.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if ex.Sent != 100_000 || len(ex.To) != 1 || ex.To[0] != (trace.CategoryFlow{Category: "exchange", Direct: 12_666}) {
			t.Errorf("exposure of P: got sent %d to %+v, want 12666 direct to exchange", ex.Sent, ex.To)
		}
	})
}

// TestBadInput: errors name what was wrong.
func TestBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := clickhouse.Open(ctx, chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ls := handStore(t, ctx, conn)
	tr := trace.New(conn, ls)
	start := trace.Start{Desc: "hand", Addresses: startSet}
	for _, c := range []struct {
		name  string
		mod   func(*trace.Config)
		start trace.Start
		err   error
		text  string
	}{
		{"hops 0", func(c *trace.Config) { c.Hops = 0 }, start, trace.ErrConfig, "hops 0 out of range 1..50"},
		{"hops 51", func(c *trace.Config) { c.Hops = 51 }, start, trace.ErrConfig, "hops 51 out of range"},
		{"model", func(c *trace.Config) { c.Model = "taint" }, start, trace.ErrConfig, `model "taint"`},
		{"direction", func(c *trace.Config) { c.Direction = "sideways" }, start, trace.ErrConfig, `direction "sideways"`},
		{"fifo up", func(c *trace.Config) { c.Model, c.Direction = trace.FIFO, trace.Up }, start, trace.ErrModel, "fifo traces downstream only"},
		{"min-value", func(c *trace.Config) { c.MinValue = -1 }, start, trace.ErrConfig, "min-value -1"},
		{"unknown address", func(*trace.Config) {}, trace.Start{Desc: addr(999), Addresses: []string{addr(999)}}, trace.ErrUnknown, addr(999)},
		{"empty start", func(*trace.Config) {}, trace.Start{Desc: "label:nothing"}, trace.ErrConfig, "empty start set label:nothing"},
	} {
		cfg := trace.DefaultConfig()
		c.mod(&cfg)
		_, err := tr.Trace(ctx, c.start, cfg)
		if !errors.Is(err, c.err) || !strings.Contains(fmt.Sprint(err), c.text) {
			t.Errorf("%s: got %v, want %v containing %q", c.name, err, c.err, c.text)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden: the table, csv and dot renderings of a haircut trace of the
// peel chain (with its cluster step and an exchange stop) match
// testdata/peel.*, on both engines. go test -update rewrites them.
func TestGolden(t *testing.T) {
	engines(t, func(t *testing.T, conn store.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ls := handStore(t, ctx, conn)
		cfg := trace.DefaultConfig()
		cfg.StopAt = []string{"exchange"}
		rs, err := trace.New(conn, ls).Trace(ctx, trace.Start{Desc: aP, Addresses: []string{aP}}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		rs[0].Elapsed = 0
		for _, g := range []struct {
			file  string
			write func(w *bytes.Buffer) error
		}{
			{"peel.txt", func(w *bytes.Buffer) error { return trace.WriteTable(w, rs) }},
			{"peel.csv", func(w *bytes.Buffer) error { return trace.WriteCSV(w, rs) }},
			{"peel.dot", func(w *bytes.Buffer) error { return trace.WriteDOT(w, rs) }},
		} {
			var b bytes.Buffer
			if err := g.write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", g.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s: got\n%s\nwant\n%s", g.file, b.Bytes(), want)
			}
		}
	})
}

// TestStopNotCarried: taint that reached a stop address ends there, even
// when the transaction that spends it also spends followed taint (a
// deposit swept with tainted coins downstream; a broker's change spent
// with the coins an upstream trace follows).
func TestStopNotCarried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := clickhouse.Open(ctx, chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := store.New(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	aA, aB, aC, aD := addr(200), addr(201), addr(202), addr(203)
	tx1, tx2 := txid(201), txid(202)
	chainName := [][]chain.Tx{
		{fund(200, aA, 30_000)},
		{mkTx(tx1, []chain.Input{in(txid(200), 0, aA, 30_000)}, io{aB, 10_000}, io{aC, 19_000})},
		{mkTx(tx2, []chain.Input{in(tx1, 0, aB, 10_000), in(tx1, 1, aC, 19_000)}, io{aD, 28_000})},
	}
	var b store.Batch
	for h, txs := range chainName {
		if txs[0].Inputs[0].Coinbase {
			txs[0].Coinbase = true
		}
		blk := &chain.Block{Chain: chain.BTC, Height: int64(h + 1), Hash: fmt.Sprintf("%064x", 0xc000+h+1),
			Parent: fmt.Sprintf("%064x", 0xc000+h), Time: time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC).Unix(), Txs: txs}
		if err := b.AddBlock(blk, uint64(h+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "x.csv", Data: []byte("chain,address,entity,category,source,confidence\nbtc," + aB + ",X,exchange,x,100\n")}}, labels.Options{Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	tr := trace.New(conn, ls)
	cfg := trace.DefaultConfig()
	cfg.StopAt = []string{"exchange"}
	res, err := tr.Trace(ctx, trace.Start{Desc: aA, Addresses: []string{aA}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// D gets C's 19,000 of tx2's 29,000, not the exchange's 10,000.
	check(t, "down", res[0], map[string]want{key(tx1, 0): {10_000, 1, "stop:exchange"}, key(tx2, 0): {28_000 * 19_000 / 29_000, 2, "unspent"}})
	cfg.Direction = trace.Up
	res, err = tr.Trace(ctx, trace.Start{Desc: aD, Addresses: []string{aD}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Back from D: B 9,655 and C 18,344 of its 28,000; through tx1 only
	// C's share goes on to A.
	check(t, "up", res[0], map[string]want{key(tx1, 0): {9_655, 1, "stop:exchange"}, key(txid(200), 0): {18_344, 2, "coinbase"}})
}
