package heuristic

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tracerproject/tracer/chain"
)

// mk builds a transaction from input addresses with values and output
// values (each output to its own address).
func mk(ins []string, inVal int64, outs ...int64) *chain.Tx {
	tx := &chain.Tx{Txid: "t"}
	for i, a := range ins {
		tx.Inputs = append(tx.Inputs, chain.Input{Index: uint32(i), Address: a, ScriptType: chain.ScriptP2WPKH, Value: inVal})
	}
	for i, v := range outs {
		tx.Outputs = append(tx.Outputs, chain.Output{Index: uint32(i), Address: fmt.Sprintf("out%d", i), ScriptType: chain.ScriptP2WPKH, Value: v})
	}
	return tx
}

func addrs(n int, prefix string) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return s
}

func repeat(v int64, n int, more ...int64) []int64 {
	s := make([]int64, 0, n+len(more))
	for range n {
		s = append(s, v)
	}
	return append(s, more...)
}

func TestLinks(t *testing.T) {
	c := DefaultConfig()
	off := c
	off.MultiInput = false
	batch := mk(addrs(3, "hot"), 50_000_000, append(repeat(1_000_000, 3), 1_234_567, 2_345_678, 3_456_789, 4_567_890, 5_678_901, 6_789_012, 7_890_123, 8_901_234, 9_012_345)...)
	selfChange := mk([]string{"a", "a"}, 10_000, 15_000, 4_000)
	selfChange.Outputs[1].Address = "a"
	op := mk(addrs(4, "oa"), 10_000, 2_700, 2_700, 2_700, 30_000)
	op.Outputs = append(op.Outputs, chain.Output{Index: 4, ScriptType: chain.ScriptNullData})
	coinbase := mk([]string{"", ""}, 0, 50)
	coinbase.Coinbase = true
	tests := []struct {
		name  string
		cfg   Config
		tx    *chain.Tx
		kind  CoinJoinKind
		links int
	}{
		{"peel chain step: one input, payment and change", c, mk([]string{"p"}, 1_000_000, 100_000, 899_000), NotCoinJoin, 0},
		{"self-change: two coins of one address", c, selfChange, NotCoinJoin, 0},
		{"consolidation 5 in 1 out", c, mk(addrs(5, "c"), 100_000, 499_000), NotCoinJoin, 4},
		{"two-input payment with change", c, mk([]string{"x", "y"}, 100_000, 150_000, 49_000), NotCoinJoin, 1},
		{"duplicate input addresses count once", c, mk([]string{"x", "y", "x", "y", "z"}, 100_000, 450_000, 49_000), NotCoinJoin, 2},
		{"multi-input switched off", off, mk(addrs(5, "c"), 100_000, 499_000), NotCoinJoin, 0},
		{"exchange batch payout, 3 inputs, 3 equal of 12 outputs", c, batch, NotCoinJoin, 2},
		{"batch payout, 1 input, all outputs equal", c, mk([]string{"hot"}, 100_000_000, repeat(1_000_000, 40, 59_000_000)...), NotCoinJoin, 0},
		{"two-party equal-output CoinJoin", c, mk([]string{"u", "v"}, 1_000_000, 600_000, 600_000, 390_000, 395_000), Generic, 0},
		{"JoinMarket: 4 equal outputs, change for 3", c, mk(addrs(6, "jm"), 3_000_000, repeat(5_000_000, 4, 900_000, 800_000, 700_000)...), JoinMarket, 0},
		{"Whirlpool 5x5 0.01 BTC pool", c, mk(addrs(5, "w"), 1_000_300, repeat(1_000_000, 5)...), Whirlpool, 0},
		{"5x5 equal outputs off the Whirlpool pools", c, mk(addrs(5, "w"), 1_200_300, repeat(1_200_000, 5)...), JoinMarket, 0},
		{"Wasabi 1: 12 inputs around 0.1 BTC", c, mk(addrs(12, "w1"), 15_000_000, repeat(10_012_345, 10, 4_000_000, 3_000_000, 2_000_000, 100_000)...), Wasabi1, 0},
		{"Wasabi 2: standard denominations", c, mk(addrs(25, "w2"), 3_000_000, append(repeat(2_000_000, 10, repeat(1_000_000, 10)...), 1_594_323, 531_441, 6_561, 777_777, 123_456)...), Wasabi2, 0},
		{"Wasabi 2 shape with an output below 5,000 sat", c, mk(addrs(25, "w2"), 3_000_000, append(repeat(2_000_000, 10, repeat(1_000_000, 10)...), 1_594_323, 531_441, 4_096, 777_777, 123_456)...), NotCoinJoin, 24},
		{"OP_RETURN colored coin with equal small outputs", c, op, NotCoinJoin, 3},
		{"equal outputs below dust do not count", c, mk(addrs(3, "d"), 10_000, 500, 500, 500, 25_000), NotCoinJoin, 2},
		{"coinbase", c, coinbase, NotCoinJoin, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.CoinJoin(tt.tx); got != tt.kind {
				t.Errorf("CoinJoin: got %q, want %q (shape %s)", got, tt.kind, shapeString(tt.cfg.ShapeOf(tt.tx)))
			}
			links := tt.cfg.Links(nil, tt.tx)
			if len(links) != tt.links {
				t.Errorf("Links: got %d (%v), want %d", len(links), links, tt.links)
			}
			for _, l := range links {
				if l.A == l.B || l.Heuristic != NameMultiInput || l.Version != VersionMultiInput {
					t.Errorf("link %+v: want two different addresses, heuristic %s v%d", l, NameMultiInput, VersionMultiInput)
				}
			}
		})
	}
}

func TestStandardDenomination(t *testing.T) {
	for v, want := range map[int64]bool{4_096: false, 8_192: true, 6_561: true, 13_122: true, 10_000: true, 20_000: true, 50_000: true, 5_000: true, 30_000: false, 123_456: false, 1_594_323: true} {
		if got := isStandardDenomination(v); got != want {
			t.Errorf("isStandardDenomination(%d): got %v, want %v", v, got, want)
		}
	}
}

func FuzzCoinJoin(f *testing.F) {
	f.Add(5, 5, int64(1_000_000), int64(1_000_000), uint8(0))
	f.Add(2, 4, int64(600_000), int64(390_000), uint8(1))
	f.Fuzz(func(t *testing.T, nIn, nOut int, v1, v2 int64, addrMod uint8) {
		if nIn < 0 || nOut < 0 || nIn > 300 || nOut > 300 {
			return
		}
		tx := &chain.Tx{}
		for i := range nIn {
			tx.Inputs = append(tx.Inputs, chain.Input{Address: fmt.Sprint(i % (int(addrMod) + 1)), Value: v1})
		}
		for i := range nOut {
			v := v1
			if i%3 == 0 {
				v = v2
			}
			tx.Outputs = append(tx.Outputs, chain.Output{Address: fmt.Sprint("o", i), Value: v})
		}
		c := DefaultConfig()
		k := c.CoinJoin(tx)
		if want := c.classify(c.ShapeOf(tx)); k != want {
			t.Fatalf("CoinJoin %q, the rules on the whole shape %q", k, want)
		}
		links := c.Links(nil, tx)
		if k != NotCoinJoin && len(links) != 0 {
			t.Fatalf("CoinJoin %q but %d links", k, len(links))
		}
		if len(links) >= nIn && nIn > 0 {
			t.Fatalf("%d links from %d inputs", len(links), nIn)
		}
	})
}

func TestChangeLinks(t *testing.T) {
	c := DefaultConfig()
	c.Change = true
	off := DefaultConfig()
	seenSet := map[string]bool{"pay": true, "old": true}
	seen := func(a string) bool { return seenSet[a] }
	tx := func(inType string, ins []int64, outs ...chain.Output) *chain.Tx {
		t := &chain.Tx{Txid: "t"}
		for i, v := range ins {
			t.Inputs = append(t.Inputs, chain.Input{Index: uint32(i), Address: fmt.Sprint("in", i), ScriptType: inType, Value: v})
		}
		for i := range outs {
			outs[i].Index = uint32(i)
		}
		t.Outputs = outs
		return t
	}
	out := func(a, typ string, v int64) chain.Output {
		return chain.Output{Address: a, ScriptType: typ, Value: v}
	}
	const wpkh, pkh, tr = chain.ScriptP2WPKH, chain.ScriptP2PKH, chain.ScriptP2TR
	selfChange := tx(wpkh, []int64{100_000}, out("pay", wpkh, 60_000), out("in0", wpkh, 39_000))
	coinbase := tx(wpkh, []int64{0}, out("fresh", wpkh, 1), out("fresh2", pkh, 1))
	coinbase.Coinbase = true
	tests := []struct {
		name string
		cfg  Config
		tx   *chain.Tx
		want []string // heuristic names of the links, all to "chg"
	}{
		{"one-time: the only fresh output", c, tx(wpkh, []int64{100_000}, out("pay", wpkh, 30_000), out("chg", wpkh, 69_000)), []string{NameChangeOneTime}},
		{"type match: the only output of the inputs' type", c, tx(tr, []int64{100_000}, out("pay2", wpkh, 60_000), out("chg", tr, 39_000)), []string{NameChangeTypeMatch}},
		{"all rules agree", c, tx(tr, []int64{100_000, 90_000}, out("pay", wpkh, 95_000), out("chg", tr, 90)), []string{NameChangeOneTime, NameChangeTypeMatch, NameChangeOptimal}},
		{"optimal: the only output below every input", c, tx(wpkh, []int64{100_000, 80_000}, out("pay3", wpkh, 150_000), out("chg", wpkh, 29_000)), []string{NameChangeOptimal}},
		{"peel chain step, both outputs fresh and of one type: ambiguous", c, tx(wpkh, []int64{1_000_000}, out("pay4", wpkh, 100_000), out("next", wpkh, 899_000)), nil},
		{"rules disagree", c, tx(pkh, []int64{100_000}, out("pay5", wpkh, 60_000), out("old", pkh, 39_000)), nil},
		{"self-change", c, selfChange, nil},
		{"coinbase", c, coinbase, nil},
		{"change off", off, tx(wpkh, []int64{100_000}, out("pay", wpkh, 30_000), out("chg", wpkh, 69_000)), nil},
		{"one output", c, tx(wpkh, []int64{100_000}, out("chg", wpkh, 99_000)), nil},
		{"CoinJoin", c, tx(wpkh, []int64{1_000_000, 1_000_000}, out("u", wpkh, 600_000), out("v", wpkh, 600_000), out("chg", pkh, 390_000), out("w", wpkh, 395_000)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			links := tt.cfg.ChangeLinks(nil, tt.tx, seen)
			var got []string
			for _, l := range links {
				got = append(got, l.Heuristic)
				if l.A != "in0" || l.B != "chg" || l.Version != VersionChange {
					t.Errorf("link %+v: want in0 → chg, version %d", l, VersionChange)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got rules %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLinksLargeConsolidation(t *testing.T) {
	ins := addrs(500, "c")
	ins = append(ins, ins[:100]...) // the same addresses spent again
	tx := mk(ins, 10_000, 4_000_000)
	if got := len(DefaultConfig().Links(nil, tx)); got != 499 {
		t.Errorf("500 distinct input addresses of 600 inputs: got %d links, want 499", got)
	}
}

// The first test of CoinJoin (mayBeCoinJoin) never turns away a
// transaction that the rules on its whole shape classify: random small
// and large transactions with equal, dust, zero and OP_RETURN outputs,
// pool and standard denominations.
func TestCoinJoinQuickTestAgreesWithRules(t *testing.T) {
	values := []int64{0, 100, 545, 546, 5_000, 100_000, 1_000_000, 10_000_000, 8_192, 123_456, 2_500_000}
	r := rand.New(rand.NewPCG(1, 2))
	kinds := map[CoinJoinKind]int{}
	for range 50_000 {
		tx := &chain.Tx{}
		nIn, nOut := 2+r.IntN(30), 1+r.IntN(30)
		if r.IntN(2) == 0 {
			nIn, nOut = 2+r.IntN(10), 1+r.IntN(10)
		}
		addrs := 1 + r.IntN(nIn)
		for i := range nIn {
			tx.Inputs = append(tx.Inputs, chain.Input{Address: fmt.Sprint("i", i%addrs), Value: 1})
		}
		for range nOut {
			o := chain.Output{Address: fmt.Sprint("o", r.IntN(nOut)), Value: values[r.IntN(len(values))]}
			if r.IntN(3) == 0 {
				o.Value = values[5+r.IntN(2)]
			}
			if r.IntN(200) == 0 {
				o.ScriptType, o.Address = chain.ScriptNullData, ""
			}
			tx.Outputs = append(tx.Outputs, o)
		}
		if r.IntN(50) == 0 { // Whirlpool's shape: n distinct inputs, n outputs of a pool's value
			n := 5 + r.IntN(6)
			tx = &chain.Tx{}
			for i := range n {
				tx.Inputs = append(tx.Inputs, chain.Input{Address: fmt.Sprint("i", i), Value: 1})
				tx.Outputs = append(tx.Outputs, chain.Output{Address: fmt.Sprint("o", i), Value: 1_000_000})
			}
		}
		for _, c := range []Config{DefaultConfig(), {MultiInput: true, Dust: 200_000}} {
			got, want := c.CoinJoin(tx), c.classify(c.ShapeOf(tx))
			if got != want {
				t.Fatalf("CoinJoin %q, the rules on the whole shape %q (shape %s)", got, want, shapeString(c.ShapeOf(tx)))
			}
			kinds[got]++
		}
	}
	// The draw reaches the rules, not only the quick refusal.
	for _, k := range []CoinJoinKind{NotCoinJoin, Whirlpool, JoinMarket, Generic} {
		if kinds[k] == 0 {
			t.Errorf("no transaction classified %q: the test does not reach that rule", k)
		}
	}
	t.Log(kinds)
}
