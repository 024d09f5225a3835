package trace_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
)

// eaddr is an Ethereum address made from i.
func eaddr(i int) string { return fmt.Sprintf("0x%040x", 0xe0000+i) }

const usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7"

// Addresses of the hand-built account chain.
var (
	eS                     = eaddr(1) // the start: a broker
	eX, eA, eY, eC, eD, eW = eaddr(10), eaddr(11), eaddr(12), eaddr(13), eaddr(14), eaddr(15)
	eB, eB1, eB2, eB3      = eaddr(20), eaddr(21), eaddr(22), eaddr(23) // fan-out
	eP1, eP2, eP3          = eaddr(30), eaddr(31), eaddr(32)            // peel chain
	eQ1, eQ2, eE           = eaddr(33), eaddr(34), eaddr(35)            // peeled off; E an exchange
	eO, eR                 = eaddr(40), eaddr(41)                       // O spends more than the store saw it receive
	eZ, eF, eK, eG, eH     = eaddr(50), eaddr(51), eaddr(52), eaddr(53), eaddr(54)
)

func ethx(i int) string { return fmt.Sprintf("0x%064x", i) }

func big10(s string) chain.Amount {
	a, err := chain.ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

func tok(tx, txIndex, log int, from, to string, v string) chain.Transfer {
	return chain.Transfer{Kind: chain.TransferToken, Asset: usdt, From: from, To: to, Value: big10(v), Txid: ethx(tx), TxIndex: txIndex,
		Index: log, Success: true, Zero: v == "0"}
}

func native(tx, txIndex int, from, to, v, fee string, ok bool) chain.Transfer {
	return chain.Transfer{Kind: chain.TransferNative, Asset: chain.AssetETH, From: from, To: to, Value: big10(v), Txid: ethx(tx), TxIndex: txIndex,
		Success: ok, Fee: big10(fee), Zero: v == "0"}
}

const (
	eth1   = "1000000000000000000"
	eth2   = "2000000000000000000"
	eth5   = "5000000000000000000"
	milli1 = "1000000000000000" // 0.001 ETH
)

// accountChain is hand-built; amounts of USDT are in base units.
//
//	block 1: X→A 100, A→Y 10 (before any taint: never followed), X→G 2 ETH
//	block 2: S→A 50, S→B 30, S→P1 1000, S→O 10, S→Z 0 (poisoning), S→F 5 ETH
//	         (failed), S→G 2 ETH
//	block 3: A→C 120, A→D 20; B→B1, B2, B3 10 each; P1→P2 900, P1→Q1 100;
//	         O→R 25; G→H 1 ETH (fee 0.001 ETH); F→K 1 ETH
//	block 4: P2→P3 800, P2→Q2 100; W→A 1000
//	block 5: P3→E 800 (E: an exchange)
func accountChain() []*chain.Block {
	blocks := [][]chain.Transfer{
		{tok(1, 0, 0, eX, eA, "100"), tok(2, 1, 1, eA, eY, "10"), native(3, 2, eX, eG, eth2, "21000", true)},
		{tok(4, 0, 0, eS, eA, "50"), tok(5, 1, 1, eS, eB, "30"), tok(6, 2, 2, eS, eP1, "1000"), tok(7, 3, 3, eS, eO, "10"),
			tok(8, 4, 4, eS, eZ, "0"), native(9, 5, eS, eF, eth5, milli1, false), native(10, 6, eS, eG, eth2, milli1, true)},
		{tok(11, 0, 0, eA, eC, "120"), tok(12, 1, 1, eA, eD, "20"), tok(13, 2, 2, eB, eB1, "10"), tok(14, 3, 3, eB, eB2, "10"),
			tok(15, 4, 4, eB, eB3, "10"), tok(16, 5, 5, eP1, eP2, "900"), tok(17, 6, 6, eP1, eQ1, "100"), tok(18, 7, 7, eO, eR, "25"),
			native(19, 8, eG, eH, eth1, milli1, true), native(20, 9, eF, eK, eth1, "0", true)},
		{tok(21, 0, 0, eP2, eP3, "800"), tok(22, 1, 1, eP2, eQ2, "100"), tok(23, 2, 2, eW, eA, "1000")},
		{tok(24, 0, 0, eP3, eE, "800")},
	}
	var out []*chain.Block
	for i, ts := range blocks {
		h := int64(i + 1)
		out = append(out, &chain.Block{Chain: chain.ETH, Height: h, Hash: ethx(0xb000 + i + 1), Parent: ethx(0xb000 + i),
			Time: time.Date(2024, 1, 1, i, 0, 0, 0, time.UTC).Unix(), Transfers: ts})
	}
	return out
}

// accountStore writes the chain twice (as a loader retry would) and labels
// E an exchange and S a precursor broker.
func accountStore(t *testing.T, ctx context.Context, conn store.Conn) *labels.Store {
	t.Helper()
	st, err := store.New(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for i, blk := range accountChain() {
		if err := b.AddBlock(blk, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	csv := "chain,address,entity,category,source,confidence\neth," + eE + ",Hand Exchange,exchange,hand,100\neth," + eS + ",Hand Broker,precursor-broker,hand,100\n"
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "hand.csv", Data: []byte(csv)}}, labels.Options{Source: "hand"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return ls
}

// aw is a wanted account endpoint: amount in base units, hops.
type aw struct {
	amount string
	hops   int
}

// acheck compares the endpoints of r, keyed address/reason, with w.
func acheck(t *testing.T, name string, r *trace.Result, w map[string]aw) {
	t.Helper()
	got := map[string]trace.Endpoint{}
	for _, e := range r.Endpoints {
		k := e.Address + "/" + e.Reason
		if _, dup := got[k]; dup && !strings.HasPrefix(e.Reason, "stop:") {
			t.Errorf("%s: two endpoints %s", name, k)
		}
		got[k] = e
		if e.Amount != 0 || e.Value != 0 {
			t.Errorf("%s: endpoint %s has satoshi fields %d/%d on an account chain", name, k, e.Amount, e.Value)
		}
	}
	for k, wv := range w {
		e, ok := got[k]
		if !ok {
			t.Errorf("%s: endpoint %s missing; got %s", name, k, asummary(r))
			continue
		}
		if e.AmountUnits != wv.amount || e.Hops != wv.hops {
			t.Errorf("%s: endpoint %s: got amount %s hops %d, want %s %d", name, k, e.AmountUnits, e.Hops, wv.amount, wv.hops)
		}
	}
	for k, e := range got {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: unexpected endpoint %s (amount %s, hops %d)", name, k, e.AmountUnits, e.Hops)
		}
	}
}

var names = map[string]string{}

func init() {
	for n, a := range map[string]string{"S": eS, "X": eX, "A": eA, "Y": eY, "C": eC, "D": eD, "W": eW, "B": eB, "B1": eB1, "B2": eB2, "B3": eB3,
		"P1": eP1, "P2": eP2, "P3": eP3, "Q1": eQ1, "Q2": eQ2, "E": eE, "O": eO, "R": eR, "Z": eZ, "F": eF, "K": eK, "G": eG, "H": eH} {
		names[a] = n
	}
}

func asummary(r *trace.Result) string {
	var s []string
	for _, e := range r.Endpoints {
		s = append(s, fmt.Sprintf("%s/%s=%s/h%d", names[e.Address], e.Reason, e.AmountUnits, e.Hops))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func acfg(model, dir, asset string) trace.Config {
	c := trace.DefaultConfig()
	c.Chain, c.Model, c.Direction, c.Asset, c.StopAt = chain.ETH, model, dir, asset, []string{"exchange"}
	return c
}

func traceOne(t *testing.T, ctx context.Context, tr *trace.Tracer, from string, cfg trace.Config) *trace.Result {
	t.Helper()
	rs, err := tr.Trace(ctx, trace.Start{Desc: from, Addresses: []string{from}}, cfg)
	if err != nil {
		t.Fatalf("%s %s %s from %s: %v", cfg.Model, cfg.Direction, cfg.Asset, names[from], err)
	}
	if len(rs) != 1 {
		t.Fatalf("%s: got %d results, want 1", cfg.Model, len(rs))
	}
	return rs[0]
}

// TestAccountModels: each model on the hand-built account chain, amounts
// worked out by hand in the comments.
func TestAccountModels(t *testing.T) {
	engines(t, func(t *testing.T, conn store.Conn) {
		ctx := context.Background()
		tr := trace.New(conn, accountStore(t, ctx, conn))
		// USDT downstream from S. A held 100 - 10 = 90 clean when S's 50
		// arrived; A→Y (before) is never followed. B fans out 30 in
		// three 10s; P1→P2→P3 peels 100 twice and P3 pays the exchange
		// 800 at hop 4. O spent 25 though the store saw it receive only
		// S's 10: it held 15 before the store's history, counted clean.
		same := map[string]aw{"B1/unspent": {"10", 2}, "B2/unspent": {"10", 2}, "B3/unspent": {"10", 2},
			"Q1/unspent": {"100", 2}, "Q2/unspent": {"100", 3}, "E/stop:exchange": {"800", 4}}
		for _, c := range []struct {
			model string
			w     map[string]aw
		}{
			// haircut at A: balance 140 with 50 tainted; A→C 120 carries
			// floor(120·50/140) = 42, leaving 8 of 20; A→D 20 carries
			// floor(20·8/20) = 8. O: floor(25·10/25) = 10 to R.
			{trace.Haircut, map[string]aw{"C/unspent": {"42", 2}, "D/unspent": {"8", 2}, "R/unspent": {"10", 2}}},
			// poison: all that leaves A after the arrival; A keeps W's
			// later 1000, tainted too (poison taints the balance).
			{trace.Poison, map[string]aw{"C/unspent": {"120", 2}, "D/unspent": {"20", 2}, "R/unspent": {"25", 2}, "A/unspent": {"1000", 1}}},
			// fifo: A's queue is 90 clean then 50 tainted; A→C takes the
			// 90 and 30 tainted, A→D the other 20. O's queue: 15 clean
			// (before the store), then 10 tainted: all of it to R.
			{trace.FIFO, map[string]aw{"C/unspent": {"30", 2}, "D/unspent": {"20", 2}, "R/unspent": {"10", 2}}},
		} {
			w := map[string]aw{}
			for k, v := range same {
				w[k] = v
			}
			for k, v := range c.w {
				w[k] = v
			}
			r := traceOne(t, ctx, tr, eS, acfg(c.model, trace.Down, usdt))
			acheck(t, c.model+" usdt", r, byAddress(w))
			if r.SeedUnits != "1090" || r.Seeds != 4 || r.Symbol != "USDT" || r.Decimals != 6 {
				t.Errorf("%s usdt: got seeds %d of %s %s (%d decimals), want 4 of 1090 USDT (6)", c.model, r.Seeds, r.SeedUnits, r.Symbol, r.Decimals)
			}
			if !strings.Contains(r.Params, "chain=eth asset="+usdt+"(USDT) model="+c.model+" direction=down hops=6") {
				t.Errorf("%s: params %q", c.model, r.Params)
			}
		}
		// ETH: S→F failed (nothing moved), S→G 2 ETH. G held 2 clean ETH
		// from X first. G pays 0.001 ETH of fee, then 1 ETH to H.
		for _, c := range []struct {
			model string
			w     map[string]aw
		}{
			// haircut: the fee takes floor(0.001·2/4) = 0.0005 of the
			// taint; then H gets 1·1.9995/3.999 = 0.5 ETH exactly, and G
			// keeps 1.9995 - 0.5 = 1.4995.
			{trace.Haircut, map[string]aw{"H/unspent": {"500000000000000000", 2}, "G/unspent": {"1499500000000000000", 1}}},
			// poison: H gets all of it; G's balance 2.999 ETH is tainted.
			{trace.Poison, map[string]aw{"H/unspent": {eth1, 2}, "G/unspent": {"2999000000000000000", 1}}},
			// fifo: the fee and the 1 ETH come out of X's clean 2 ETH
			// first: H gets nothing tainted; G keeps S's 2 ETH.
			{trace.FIFO, map[string]aw{"G/unspent": {eth2, 1}}},
		} {
			r := traceOne(t, ctx, tr, eS, acfg(c.model, trace.Down, "ETH"))
			acheck(t, c.model+" eth", r, byAddress(c.w))
			if r.SeedUnits != eth2 {
				t.Errorf("%s eth: seed units %s, want %s (the failed 5 ETH moved nothing)", c.model, r.SeedUnits, eth2)
			}
		}
		// Every asset: one result each, ETH first.
		rs, err := tr.Trace(ctx, trace.Start{Desc: eS, Addresses: []string{eS}}, acfg(trace.Haircut, trace.Both, ""))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.Direction+":"+r.Symbol)
		}
		// S never received anything: no upstream result.
		if strings.Join(got, " ") != "down:ETH down:USDT" {
			t.Errorf("both directions, all assets: got results %v, want down:ETH down:USDT", got)
		}
	})
}

// byAddress turns the test's names (C/unspent) into addresses.
func byAddress(w map[string]aw) map[string]aw {
	out := map[string]aw{}
	for k, v := range w {
		n, reason, _ := strings.Cut(k, "/")
		a := n
		for addr, name := range names {
			if name == n {
				a = addr
			}
		}
		out[a+"/"+reason] = v
	}
	return out
}

// TestAccountUpstream: where C's 120 came from, by haircut and poison.
func TestAccountUpstream(t *testing.T) {
	engines(t, func(t *testing.T, conn store.Conn) {
		ctx := context.Background()
		tr := trace.New(conn, accountStore(t, ctx, conn))
		// At A→C, A held what is left of X's 100 after A→Y 10 (90) and
		// S's 50: C's 120 is floor(120·90/140) = 77 X's and
		// floor(120·50/140) = 42 S's. Neither X nor S has earlier rows:
		// both come from their opening balances, which the store does not
		// hold (not-stored); S is a broker, a stop here. W's 1000 came
		// later and is nobody's source.
		cfg := acfg(trace.Haircut, trace.Up, usdt)
		cfg.StopAt = []string{"precursor-broker"}
		r := traceOne(t, ctx, tr, eC, cfg)
		acheck(t, "haircut up", r, byAddress(map[string]aw{"X/not-stored": {"77", 2}, "S/stop:precursor-broker": {"42", 2}}))
		if r.SeedUnits != "120" {
			t.Errorf("haircut up: seed units %s, want 120", r.SeedUnits)
		}
		// poison: every arrival at A before A→C, whole; X's and S's whole
		// opening balances (S sent 1090 in all).
		cfg.Model = trace.Poison
		r = traceOne(t, ctx, tr, eC, cfg)
		acheck(t, "poison up", r, byAddress(map[string]aw{"X/not-stored": {"100", 2}, "S/stop:precursor-broker": {"1090", 2}}))
		// Paths run from the subject back to the source, as Bitcoin's do.
		for _, e := range r.Endpoints {
			if len(e.Path) != 2 || e.Path[0].From != eA || e.Path[0].To != eC || e.Path[1].From != e.Address || e.Path[1].To != eA {
				t.Errorf("poison up: path to %s: %+v", names[e.Address], e.Path)
			}
		}
		// Exposure of C: 42 of its 120 USDT came from a broker, two hops
		// away; nothing it received went anywhere (C never sent).
		exs, err := tr.AccountExposure(ctx, trace.Start{Desc: eC, Addresses: []string{eC}}, acfg(trace.Haircut, trace.Down, ""))
		if err != nil {
			t.Fatal(err)
		}
		if len(exs) != 1 || exs[0].Symbol != "USDT" || exs[0].Received != "120" || exs[0].Sent != "0" ||
			fmt.Sprint(exs[0].From) != "[{precursor-broker 0 42}]" || len(exs[0].To) != 0 {
			t.Errorf("exposure of C: got %+v", exs[0])
		}
		// Exposure of S: of the 1090 USDT it sent, 800 reached the
		// exchange in 4 hops.
		exs, err = tr.AccountExposure(ctx, trace.Start{Desc: eS, Addresses: []string{eS}}, acfg(trace.Poison, trace.Down, usdt))
		if err != nil {
			t.Fatal(err)
		}
		if len(exs) != 1 || exs[0].Sent != "1090" || fmt.Sprint(exs[0].To) != "[{exchange 0 800}]" {
			t.Errorf("exposure of S: got %+v", exs[0])
		}
	})
}

// TestAccountLimits: hops, min-value, the time window and a plugged-in
// clusterer.
func TestAccountLimits(t *testing.T) {
	engines(t, func(t *testing.T, conn store.Conn) {
		ctx := context.Background()
		tr := trace.New(conn, accountStore(t, ctx, conn))
		// Three hops: P3 (hop 3) may not pass its 800 on.
		cfg := acfg(trace.Poison, trace.Down, usdt)
		cfg.Hops = 3
		r := traceOne(t, ctx, tr, eS, cfg)
		acheck(t, "hops 3", r, byAddress(map[string]aw{"B1/unspent": {"10", 2}, "B2/unspent": {"10", 2}, "B3/unspent": {"10", 2},
			"Q1/unspent": {"100", 2}, "Q2/unspent": {"100", 3}, "P3/hop-limit": {"800", 3},
			"C/unspent": {"120", 2}, "D/unspent": {"20", 2}, "R/unspent": {"25", 2}, "A/unspent": {"1000", 1}}))
		// min-value 101: S→A 50, S→B 30, S→O 10 and the peels of 100 are
		// neither reported nor followed; only the 1000 down the peel
		// chain is.
		cfg = acfg(trace.Poison, trace.Down, usdt)
		cfg.MinUnits = big.NewInt(101)
		r = traceOne(t, ctx, tr, eS, cfg)
		acheck(t, "min-value", r, byAddress(map[string]aw{"E/stop:exchange": {"800", 4}}))
		// Until the end of block 2 (01:00): what left A, B, P1 and O in
		// block 3 is outside the window.
		cfg = acfg(trace.Haircut, trace.Down, usdt)
		cfg.Until = time.Date(2024, 1, 1, 1, 30, 0, 0, time.UTC)
		r = traceOne(t, ctx, tr, eS, cfg)
		acheck(t, "until", r, byAddress(map[string]aw{"A/time-window": {"50", 1}, "B/time-window": {"30", 1}, "P1/time-window": {"1000", 1},
			"O/time-window": {"10", 1}}))
		// A clusterer that puts P1 and P2 together: P1→P2 is no hop.
		tr.SetAccountClusters(clusterMap{eP1: 9, eP2: 9})
		r = traceOne(t, ctx, tr, eS, acfg(trace.Haircut, trace.Down, usdt))
		if e := find(r, eE); e == nil || e.Hops != 3 || e.AmountUnits != "800" || e.Cluster != 0 {
			t.Errorf("with P1~P2: exchange endpoint %+v, want 800 at 3 hops", e)
		} else if len(e.Path) != 4 || !e.Path[1].ClusterStep || e.Path[1].Cluster != 9 || e.Path[1].From != eP1 {
			t.Errorf("with P1~P2: path %+v, want the P1→P2 step marked a cluster step", e.Path)
		}
	})
}

type clusterMap map[string]uint32

func (m clusterMap) ClustersOf(_ context.Context, chainName string, addrs []string) (map[string]uint32, error) {
	out := map[string]uint32{}
	for _, a := range addrs {
		if c, ok := m[a]; ok && chainName == chain.ETH {
			out[a] = c
		}
	}
	return out, nil
}

func find(r *trace.Result, a string) *trace.Endpoint {
	for i := range r.Endpoints {
		if r.Endpoints[i].Address == a {
			return &r.Endpoints[i]
		}
	}
	return nil
}

// TestAccountBadInput: every mistake is named.
func TestAccountBadInput(t *testing.T) {
	engines(t, func(t *testing.T, conn store.Conn) {
		ctx := context.Background()
		ls := accountStore(t, ctx, conn)
		tr := trace.New(conn, ls)
		const good = "0xdAC17F958D2ee523a2206206994597C13D831ec7" // EIP-55
		bad := []byte(good)
		for i := 2; i < len(bad); i++ { // flip the case of one letter
			if bad[i] >= 'a' && bad[i] <= 'f' {
				bad[i] -= 'a' - 'A'
				break
			}
			if bad[i] >= 'A' && bad[i] <= 'F' {
				bad[i] += 'a' - 'A'
				break
			}
		}
		for _, c := range []struct {
			name, from string
			err        error
			want       string
		}{
			{"bad checksum", string(bad), chain.ErrBadETHAddress, "EIP-55"},
			{"short", "0x1234", chain.ErrBadETHAddress, "40"},
			{"cluster", "cluster:3", trace.ErrNoAccountClusters, "not clustered yet"},
			{"no label", "label:mixer", trace.ErrNoLabel, "mixer"},
		} {
			_, err := trace.ParseAccountStart(ctx, chain.ETH, c.from, ls, time.Time{})
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v, want %v naming %q", c.name, err, c.err, c.want)
			}
		}
		if s, err := trace.ParseAccountStart(ctx, chain.ETH, good, ls, time.Time{}); err != nil || s.Addresses[0] != usdt {
			t.Errorf("checksummed start: got %+v, %v", s, err)
		}
		if s, err := trace.ParseAccountStart(ctx, chain.ETH, "label:precursor-broker", ls, time.Time{}); err != nil || len(s.Addresses) != 1 || s.Addresses[0] != eS {
			t.Errorf("label start: got %+v, %v", s, err)
		}
		unknown := eaddr(999)
		if _, err := tr.Trace(ctx, trace.Start{Desc: unknown, Addresses: []string{unknown}}, acfg(trace.Haircut, trace.Down, "")); !errors.Is(err, trace.ErrUnknown) || !strings.Contains(err.Error(), unknown) {
			t.Errorf("unknown address: got %v", err)
		}
		for _, c := range []struct {
			name string
			mod  func(*trace.Config)
			err  error
			want string
		}{
			{"hops 0", func(c *trace.Config) { c.Hops = 0 }, trace.ErrConfig, "hops 0 out of range 1..50"},
			{"hops 51", func(c *trace.Config) { c.Hops = 51 }, trace.ErrConfig, "hops 51 out of range"},
			{"fifo up", func(c *trace.Config) { c.Model, c.Direction = trace.FIFO, trace.Up }, trace.ErrModel, "fifo traces downstream only"},
			{"negative min", func(c *trace.Config) { c.MinUnits = big.NewInt(-1) }, trace.ErrConfig, "min-value -1 is negative"},
			{"satoshi min", func(c *trace.Config) { c.MinValue = 5 }, trace.ErrConfig, "base units"},
			{"asset not moved", func(c *trace.Config) { c.Asset = "0x6b175474e89094c44da98b954eedeac495271d0f" }, trace.ErrNoStartOutput, "DAI"},
			{"chain", func(c *trace.Config) { c.Chain = "tron" }, trace.ErrConfig, `chain "tron"`},
		} {
			cfg := acfg(trace.Haircut, trace.Down, "")
			c.mod(&cfg)
			_, err := tr.Trace(ctx, trace.Start{Desc: eS, Addresses: []string{eS}}, cfg)
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v, want %v naming %q", c.name, err, c.err, c.want)
			}
		}
	})
}
