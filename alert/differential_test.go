package alert_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/stream"
	"github.com/tracerproject/tracer/trace"
)

// plantedChain is a simulated chain of flows into and out of one broker,
// with random amounts from seed. The broker shares cluster 1 with
// "broker2", which it is not watched by; the other clusters are a mule and
// its change address, and a payer and its collecting address. Each flow k
// has addresses of its own, so that the money of one payment into the
// broker has no source in common with another's.
//
// Upstream, per flow: funder → buyer (mixed with a stranger's clean money,
// or in flows k%4 == 3 with the funder's own change through a middle
// address, so that the funder's transaction is met twice) → payer →
// broker; in odd flows the payer collects through an address of
// its own cluster (a step inside one cluster at hop 1), and in flows
// k%3 == 2 the payer pays broker2, which pays the broker (a step inside
// the broker's cluster at hop 0).
//
// Downstream, per flow: the broker pays a mule, change to itself and, in
// even flows, part to broker2 (hop 0 inside the cluster); the mule mixes
// clean money in and pays on, its change going to an address of its
// cluster (hop 1 inside a cluster); broker2 pays on; and at the hop limit
// an output of hop 3 is spent together with one of hop 2.
func plantedChain(seed uint64, flows int) (blocks []*chain.Block, clusters map[string]uint32) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	amt := func(lo, hi int64) int64 { return lo + rng.Int64N(hi-lo) }
	clusters = map[string]uint32{"broker": 1, "broker2": 1}
	var w world
	w.height = 1
	const stages = 12
	txs := make([][]chain.Tx, stages)
	add := func(stage int, name string, ins []utxo, outs []io) []utxo {
		tx, created := ptx(name, ins, outs)
		txs[stage] = append(txs[stage], tx)
		return created
	}
	for k := range flows {
		a := func(s string) string { return fmt.Sprintf("%s%d", s, k) }
		n := func(s string) string { return fmt.Sprintf("flow%d-%s", k, s) }
		// Upstream.
		v0 := amt(200_000, 2_000_000)
		x := amt(v0/3, v0-10_000)
		u1 := add(0, n("u1"), []utxo{{addr: a("funder"), value: v0}}, []io{{a("buyer"), x}, {a("funder"), v0 - x - 1_000}})
		clean := amt(10_000, 1_000_000)
		stranger := utxo{addr: a("stranger"), value: clean}
		if k%4 == 3 {
			// The funder's change reaches the buyer too, through a middle
			// address: the funder's transaction is met again a hop later.
			mid := add(1, n("mid"), []utxo{u1[1]}, []io{{a("mid"), u1[1].value - 700}})
			stranger = mid[0]
			clean = stranger.value
		}
		y := amt((x+clean)/4, x+clean-5_000)
		payer := a("payer")
		if k%2 == 1 {
			payer = a("collect")
			clusters[a("payer")], clusters[a("collect")] = uint32(200+k), uint32(200+k)
		}
		u2 := add(2, n("u2"), []utxo{u1[0], stranger}, []io{{payer, y}, {a("buyer"), x + clean - y - 2_000}})
		if k%2 == 1 {
			u2 = add(3, n("u2b"), []utxo{u2[0]}, []io{{a("payer"), y - 500}})
			y -= 500
		}
		z := amt(y/5, y-3_000)
		var got utxo // the broker's output of this flow
		if k%3 == 2 {
			u3 := add(4, n("u3"), []utxo{u2[0]}, []io{{"broker2", z}, {a("payer"), y - z - 1_000}})
			got = add(5, n("u4"), []utxo{u3[0]}, []io{{"broker", z - 700}})[0]
		} else {
			got = add(4, n("u3"), []utxo{u2[0]}, []io{{"broker", z}, {a("payer"), y - z - 1_000}})[0]
		}
		// Downstream.
		v := got.value
		m := amt(v/4, v/2)
		outs := []io{{a("mule"), m}}
		var b2 int64
		if k%2 == 0 {
			b2 = amt(v/8, v/4)
			outs = append(outs, io{"broker2", b2})
		}
		outs = append(outs, io{"broker", v - m - b2 - 1_000})
		d1 := add(6, n("d1"), []utxo{got}, outs)
		clean = amt(10_000, 3*m)
		nv := amt((m+clean)/3, m+clean-20_000)
		change := a("mulechange")
		clusters[a("mule")], clusters[change] = uint32(100+k), uint32(100+k)
		d2 := add(7, n("d2"), []utxo{d1[0], {addr: a("clean"), value: clean}}, []io{{a("next"), nv}, {change, m + clean - nv - 1_500}})
		xv := amt(nv/3, nv-10_000)
		d3 := add(8, n("d3"), []utxo{d2[0]}, []io{{a("far"), xv}, {a("next"), nv - xv - 1_000}})
		add(8, n("d4"), []utxo{d2[1]}, []io{{a("y"), d2[1].value - 800}})
		if k%2 == 0 {
			q := add(9, n("d5"), []utxo{d1[1]}, []io{{a("q"), b2 - 600}})
			add(10, n("d6"), []utxo{q[0]}, []io{{a("r"), b2 - 1_200}})
		}
		// At the limit: hop 3 (far) spent with hop 2 (next's change).
		add(11, n("d7"), []utxo{d3[0], d3[1]}, []io{{a("z"), d3[0].value + d3[1].value - 900}})
	}
	for _, ts := range txs {
		if len(ts) > 0 {
			blocks = append(blocks, w.block("", ts...))
		}
	}
	return blocks, clusters
}

// expected is an exposure alert as the trace computes it.
type expected struct {
	amount int64
	hops   int
}

// traceNodes runs trace from the broker and returns, per tainted output
// (txid:n), its address, taint, hop count and whether that hop count is
// reached by a step inside one owner; and, per output, the seed its taint
// came from (the first seed on its parents' chain).
type traceNode struct {
	address string
	taint   int64
	hop     int
	same    bool
	txid    string // downstream: the transaction that created it
	seed    string
}

func traceNodes(t *testing.T, ctx context.Context, tr *trace.Tracer, dir string, hops int, min int64) map[string]*traceNode {
	t.Helper()
	cfg := trace.DefaultConfig()
	cfg.Model, cfg.Direction, cfg.Hops, cfg.MinValue = trace.Haircut, dir, hops, min
	cfg.Timeout = 5 * time.Minute
	res, err := tr.Trace(ctx, trace.Start{Desc: "broker", Addresses: []string{"broker"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Capped != "" {
		t.Fatalf("trace %s capped: %s", dir, res[0].Capped)
	}
	nodes := map[string]*traceNode{}
	parents := map[string][]trace.Hop{}
	for _, s := range res[0].Steps {
		to := s.To
		if dir == trace.Up {
			to = s.From
		}
		nodes[s.Output] = &traceNode{address: to, taint: s.Amount, hop: -1, txid: s.Txid}
		parents[s.Output] = append(parents[s.Output], s)
	}
	// An output's hop count is the least over what fed it: a seed is hop
	// 0, a step inside one owner adds none.
	hopOf := func(o string) int {
		if n := nodes[o]; n != nil {
			return n.hop
		}
		return 0 // a seed
	}
	for changed := true; changed; {
		changed = false
		for o, n := range nodes {
			for _, s := range parents[o] {
				h := hopOf(s.Input)
				if h < 0 {
					continue
				}
				if !s.ClusterStep {
					h++
				}
				if n.hop < 0 || h < n.hop {
					n.hop, changed = h, true
				}
			}
		}
	}
	for o, n := range nodes {
		for _, s := range parents[o] {
			if s.ClusterStep && hopOf(s.Input) == n.hop {
				n.same = true
			}
		}
		for p := o; ; {
			ps := parents[p]
			if len(ps) == 0 {
				n.seed = p
				break
			}
			p = ps[0].Input
		}
	}
	return nodes
}

// TestExposureRulesMatchTrace: on a simulated chain with planted flows,
// every exposure alert the alerter publishes, incoming and outgoing,
// equals in hop count and amount (to the satoshi) what the trace package
// computes for the same start, model, hop limit and minimum over the same
// blocks, and every alert the trace implies is published.
func TestExposureRulesMatchTrace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	blocks, clusters := plantedChain(17, 12)

	st, err := store.New(ctx, e.conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	var batch store.Batch
	for i, b := range blocks {
		if err := batch.AddBlock(b, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Write(ctx, &batch); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	var ids []uint32
	var seqs []uint64
	var heights []uint32
	for a, c := range clusters {
		addrs, ids = append(addrs, a), append(ids, c)
		seqs, heights = append(seqs, uint64(len(seqs)+1)), append(heights, 1)
	}
	aids := make([]uint32, len(addrs))
	for i := range aids {
		aids[i] = uint32(i + 1)
	}
	if err := e.conn.Insert(ctx, "trace_btc_address_cluster", []store.Column{
		{Name: "address", Values: addrs}, {Name: "address_id", Values: aids},
		{Name: "cluster", Values: ids}, {Name: "block_height", Values: heights}, {Name: "seq", Values: seqs},
	}); err != nil {
		t.Fatal(err)
	}

	type ruleCase struct {
		name, dir string
		min       int64
	}
	const hops = 3
	cases := []ruleCase{
		{"in-any", "incoming", 1}, {"in-min", "incoming", 20_000},
		{"out-any", "outgoing", 1}, {"out-min", "outgoing", 20_000},
	}
	var rcs []alert.RuleConfig
	for _, c := range cases {
		rcs = append(rcs, alert.RuleConfig{Name: c.name, Kind: alert.KindExposure, Direction: c.dir, Hops: hops,
			MinAmount: strconv.FormatInt(c.min, 10), Watch: alert.WatchList{Addresses: []string{"broker"}}})
	}
	rules, err := alert.Rules(rcs, anyAddress)
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.DefaultConfig(chain.BTC)
	cfg.Rules, cfg.Confirmations, cfg.Clusters = rules, 1, cluster.NewClusters(e.conn)
	stop := run(t, e, cfg)
	for _, b := range blocks {
		e.publish(t, blockEv(b))
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	last, err := stream.LastSeq(wctx, e.js, chain.BTC)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.WaitAcked(wctx, e.js, chain.BTC, cfg.Durable, last); err != nil {
		t.Fatal(err)
	}
	stop()
	stored, err := alert.List(ctx, e.conn, alert.Filter{Since: time.Unix(blocks[0].Time, 0).Add(-time.Hour), Limit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]expected{} // rule → key → alert
	for _, a := range stored {
		if a.Kind != alert.KindExposure || a.Status == alert.Retracted {
			continue
		}
		n, err := strconv.ParseInt(a.Amount, 10, 64)
		if err != nil {
			t.Fatalf("alert %s: amount %q", a.ID, a.Amount)
		}
		if got[a.Rule] == nil {
			got[a.Rule] = map[string]expected{}
		}
		got[a.Rule][a.Txid+" "+a.Address] = expected{n, a.Hops}
	}

	tr := trace.New(e.conn, nil)
	for _, c := range cases {
		want := map[string]expected{}
		if c.dir == "incoming" {
			// Per transaction and address paid: the taint of its outputs
			// there, at hop 2..hops and not a step inside one owner.
			for _, n := range traceNodes(t, ctx, tr, trace.Down, hops, c.min) {
				if n.same || n.hop < 2 || n.hop > hops {
					continue
				}
				k := n.txid + " " + n.address
				x := want[k]
				x.amount += n.taint
				x.hops = n.hop
				want[k] = x
			}
		} else {
			// Per payment into the broker (the transaction of the seed)
			// and address that funded it: the taint of its outputs at hop
			// 2..hops, reached not by a step inside one owner.
			for _, n := range traceNodes(t, ctx, tr, trace.Up, hops, c.min) {
				if n.same || n.hop < 2 || n.hop > hops {
					continue
				}
				payTx, _, _ := strings.Cut(n.seed, ":")
				k := payTx + " " + n.address
				x, ok := want[k]
				x.amount += n.taint
				if !ok || n.hop < x.hops {
					x.hops = n.hop
				}
				want[k] = x
			}
		}
		g := got[c.name]
		var keys []string
		for k := range want {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := want[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if len(want) == 0 {
			t.Errorf("%s: the trace implies no alert: the planted flows do not exercise the rule", c.name)
		}
		for _, k := range keys {
			w, inWant := want[k]
			a, inGot := g[k]
			switch {
			case !inGot:
				t.Errorf("%s: %s: no alert, trace says hop %d amount %d", c.name, k, w.hops, w.amount)
			case !inWant:
				t.Errorf("%s: %s: alert hop %d amount %d, trace says no alert", c.name, k, a.hops, a.amount)
			case a != w:
				t.Errorf("%s: %s: alert hop %d amount %d, trace says hop %d amount %d", c.name, k, a.hops, a.amount, w.hops, w.amount)
			}
		}
		t.Logf("%s: %d alerts expected, %d published", c.name, len(want), len(g))
	}
}
