package heuristic

import (
	"github.com/tracerproject/tracer/chain"
)

// Names of the change rules, as recorded in the merge evidence: each link
// of the change heuristic names the rule that picked the change output.
const (
	NameChangeOneTime   = "btc-change-one-time"   // the only output to a never-seen address
	NameChangeTypeMatch = "btc-change-type-match" // the only output of the inputs' script type
	NameChangeOptimal   = "btc-change-optimal"    // the only output smaller than every input
	VersionChange       = 1
)

// ChangeLinks returns the links of the change heuristic (when Change is
// on): the transaction's first input address linked to its change output,
// one link per rule that picked it. seen reports whether an address
// appeared on the chain before this transaction.
//
// The rules are weaker than multi-input, so they apply only where they are
// unambiguous: never to coinbases or CoinJoins, only with two or more
// outputs, not when an output pays an input address back (the change is
// then known and adds no address), and not when two rules pick different
// outputs. A rule that finds several candidates picks none.
func (c Config) ChangeLinks(dst []Link, tx *chain.Tx, seen func(string) bool) []Link {
	dst = dst[:0]
	if !c.Change || tx.Coinbase || len(tx.Inputs) == 0 || len(tx.Outputs) < 2 {
		return dst
	}
	in := tx.Inputs[0].Address
	if in == "" {
		return dst
	}
	inType := tx.Inputs[0].ScriptType
	minIn := tx.Inputs[0].Value
	inAddrs := make(map[string]bool, len(tx.Inputs))
	for i := range tx.Inputs {
		x := &tx.Inputs[i]
		inAddrs[x.Address] = true
		if x.ScriptType != inType {
			inType = ""
		}
		minIn = min(minIn, x.Value)
	}
	outAddrs := make(map[string]int, len(tx.Outputs))
	for i := range tx.Outputs {
		o := &tx.Outputs[i]
		if o.Address == "" {
			continue
		}
		if inAddrs[o.Address] {
			return dst // self-change
		}
		outAddrs[o.Address]++
	}
	if c.CoinJoin(tx) != NotCoinJoin {
		return dst
	}
	// only returns the one output for which pick holds, or -1.
	only := func(pick func(o *chain.Output) bool) int {
		found := -1
		for i := range tx.Outputs {
			o := &tx.Outputs[i]
			if o.Address == "" || !pick(o) {
				continue
			}
			if found >= 0 {
				return -2
			}
			found = i
		}
		return found
	}
	picks := [3]int{-1, -1, -1}
	if seen != nil {
		picks[0] = only(func(o *chain.Output) bool { return outAddrs[o.Address] == 1 && !seen(o.Address) })
	}
	if inType != "" {
		picks[1] = only(func(o *chain.Output) bool { return o.ScriptType == inType })
	}
	picks[2] = only(func(o *chain.Output) bool { return o.Value < minIn })
	change := -1
	for _, p := range picks {
		if p < 0 {
			continue
		}
		if change >= 0 && p != change {
			return dst // the rules disagree
		}
		change = p
	}
	if change < 0 {
		return dst
	}
	names := [3]string{NameChangeOneTime, NameChangeTypeMatch, NameChangeOptimal}
	for i, p := range picks {
		if p == change {
			dst = append(dst, Link{A: in, B: tx.Outputs[change].Address, Heuristic: names[i], Version: VersionChange})
		}
	}
	return dst
}
