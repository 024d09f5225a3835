package heuristic

import (
	"github.com/tracerproject/tracer/chain"
)

// CoinJoinKind names the rule that recognised a CoinJoin.
type CoinJoinKind string

// CoinJoin kinds; NotCoinJoin is the empty kind.
const (
	NotCoinJoin CoinJoinKind = ""
	Wasabi1     CoinJoinKind = "wasabi1"
	Wasabi2     CoinJoinKind = "wasabi2"
	Whirlpool   CoinJoinKind = "whirlpool"
	JoinMarket  CoinJoinKind = "joinmarket"
	Generic     CoinJoinKind = "generic"
)

// Whirlpool pool denominations in satoshi: Samourai's 0.001, 0.01, 0.05 and
// 0.5 BTC pools, and Ashigaru's 0.025 and 0.25 BTC pools.
var whirlpoolPools = map[int64]bool{
	100_000: true, 1_000_000: true, 5_000_000: true, 50_000_000: true,
	2_500_000: true, 25_000_000: true,
}

// Shape is what the CoinJoin rules look at in a transaction.
type Shape struct {
	Inputs, Outputs  int
	DistinctInputs   int   // distinct input addresses
	NonDust          int   // outputs of at least the dust limit
	MinOutput        int64 // smallest output value
	Common           int64 // most common non-dust output value (the larger on ties)
	CommonCount      int   // how often it appears
	Standard         int   // outputs whose value is a WabiSabi standard denomination
	NullData         bool  // has an OP_RETURN output
	AllOutputsEqual  bool
	DistinctOutAddrs int
}

// ShapeOf measures tx.
func (c Config) ShapeOf(tx *chain.Tx) Shape {
	s := Shape{Inputs: len(tx.Inputs), Outputs: len(tx.Outputs), MinOutput: -1, AllOutputsEqual: len(tx.Outputs) > 0}
	addrs := make(map[string]struct{}, len(tx.Inputs))
	for i := range tx.Inputs {
		if a := tx.Inputs[i].Address; a != "" {
			addrs[a] = struct{}{}
		}
	}
	s.DistinctInputs = len(addrs)
	counts := make(map[int64]int, len(tx.Outputs))
	outAddrs := make(map[string]struct{}, len(tx.Outputs))
	for i := range tx.Outputs {
		o := &tx.Outputs[i]
		if o.ScriptType == chain.ScriptNullData {
			s.NullData = true
		}
		if o.Address != "" {
			outAddrs[o.Address] = struct{}{}
		}
		if s.MinOutput < 0 || o.Value < s.MinOutput {
			s.MinOutput = o.Value
		}
		if o.Value != tx.Outputs[0].Value {
			s.AllOutputsEqual = false
		}
		if isStandardDenomination(o.Value) {
			s.Standard++
		}
		if o.Value < c.Dust || o.Value == 0 {
			continue
		}
		s.NonDust++
		counts[o.Value]++
	}
	s.DistinctOutAddrs = len(outAddrs)
	for v, n := range counts {
		if n > s.CommonCount || (n == s.CommonCount && v > s.Common) {
			s.Common, s.CommonCount = v, n
		}
	}
	return s
}

// CoinJoin classifies tx: the protocol whose shape it has, Generic when
// only the generic rule matches, or NotCoinJoin.
//
// Every rule bounds the participants by the distinct input addresses (each
// participant brings at least one coin of its own), and the generic and
// JoinMarket rules bound the outputs by two per participant plus a
// coordinator fee (an equal output and a change each). An exchange batch
// payout, with one or a few inputs and many payees, fails those bounds even
// when some payees get equal amounts. Transactions with an OP_RETURN output
// are not CoinJoins: colored-coin protocols (Omni, Open Assets, Runes) and
// Whirlpool's TX0 put equal small outputs next to a marker.
func (c Config) CoinJoin(tx *chain.Tx) CoinJoinKind {
	if tx.Coinbase || len(tx.Inputs) < 2 || len(tx.Outputs) < 2 {
		return NotCoinJoin
	}
	if !c.mayBeCoinJoin(tx) {
		return NotCoinJoin
	}
	s := c.ShapeOf(tx)
	return c.classify(s)
}

// mayBeCoinJoin is a cheap first test, for the common transaction: every
// rule of classify needs at least two outputs of one value that is not
// dust (the most common non-dust value appears twice or more: Whirlpool's
// all-equal pool outputs, CommonCount elsewhere), and none allows an
// OP_RETURN output. A transaction with few outputs is checked pair by
// pair; one with many goes to ShapeOf.
func (c Config) mayBeCoinJoin(tx *chain.Tx) bool {
	outs := tx.Outputs
	if len(outs) > 16 {
		return true
	}
	equal := false
	for i := range outs {
		if outs[i].ScriptType == chain.ScriptNullData {
			return false
		}
		v := outs[i].Value
		if equal || v < c.Dust || v == 0 {
			continue
		}
		for j := i + 1; j < len(outs); j++ {
			if outs[j].Value == v {
				equal = true
				break
			}
		}
	}
	return equal
}

func (c Config) classify(s Shape) CoinJoinKind {
	if s.NullData || s.Inputs < 2 {
		return NotCoinJoin
	}
	// Whirlpool: 5 to 10 inputs, as many outputs, all of one pool's value
	// (the pool fee was paid in TX0, the mining fee by the inputs).
	if s.Inputs == s.Outputs && s.Inputs >= 5 && s.Inputs <= 10 && s.AllOutputsEqual &&
		whirlpoolPools[s.Common] && s.DistinctOutAddrs == s.Outputs {
		return Whirlpool
	}
	// Wasabi 2.0 (WabiSabi): large rounds of standard denominations; no
	// output below the 5,000 sat minimum. Most outputs are standard
	// denominations, change is not.
	if s.Inputs >= 20 && s.Outputs >= 20 && s.MinOutput >= 5_000 && 2*s.Standard >= s.Outputs &&
		s.CommonCount >= 2 && s.CommonCount <= s.DistinctInputs {
		return Wasabi2
	}
	// Wasabi 1.x: at least 10 inputs and an equal-output group around the
	// 0.1 BTC base denomination (rounds from 2018 mixed around 0.1 BTC,
	// with mixing levels at multiples of it).
	if s.Inputs >= 10 && s.CommonCount >= 3 && s.CommonCount <= s.DistinctInputs &&
		s.Common >= 8_000_000 && s.Common <= 12_000_000 {
		return Wasabi1
	}
	// JoinMarket: a taker and makers each get one equal output; makers
	// and the taker (usually) get change.
	if s.CommonCount >= 3 && s.CommonCount <= s.DistinctInputs && s.NonDust <= 2*s.CommonCount {
		return JoinMarket
	}
	// The generic rule: at least 3 outputs, a most common value that
	// appears once per participant, no more participants than distinct
	// input addresses, and no more outputs than an equal output and a
	// change per participant plus a coordinator's fee.
	if s.Outputs >= 3 && s.CommonCount >= 2 && s.CommonCount <= s.DistinctInputs && s.NonDust <= 2*s.CommonCount+1 {
		return Generic
	}
	return NotCoinJoin
}

// isStandardDenomination reports whether v (satoshi) is one of WabiSabi's
// standard output denominations: powers of 2 and of 3, twice the powers
// of 3, and 1, 2 and 5 times the powers of 10, from 5,000 sat up.
func isStandardDenomination(v int64) bool {
	if v < 5_000 {
		return false
	}
	if v&(v-1) == 0 {
		return true
	}
	for _, base := range [...]int64{3, 10} {
		x := v
		for x%base == 0 {
			x /= base
		}
		if x == 1 || (base == 3 && x == 2) || (base == 10 && (x == 2 || x == 5)) {
			return true
		}
	}
	return false
}
