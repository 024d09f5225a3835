package trace

import (
	"math/big"
	"math/bits"
)

// The step rules of the taint models, written once. Per-subject
// traces, the exposure index's scan, the all-cluster reports and the
// alerter's exposure rules call these and nothing else for a split, a
// rounding, a hop count or a cut-off, so that an alert, an index row, a
// report and a trace of the same money agree to the satoshi.
//
// A step is one transaction. Downstream, its tainted side is its inputs
// and taint moves to its outputs; upstream, its tainted side is its
// outputs and taint moves back to its inputs (the earlier outputs they
// spend). Fifo's cut of the inputs' segments into the outputs is
// sequential state over an address's history and lives with the tracer
// (spread and fifoAddress in taint.go).

// Share is floor(part·amount/whole), exact (a 128-bit intermediate), for
// 0 ≤ part, 0 ≤ amount, 0 < whole and a result below 2^63, which holds
// whenever part ≤ whole or amount ≤ whole.
//
// It is the haircut split: an output of value v of a transaction whose
// inputs hold taint T of value V gets Share(v, T, V) (upstream: an input
// of value w gets Share(w, T, V), T the taint of the outputs). The fee
// keeps its proportional share. Each output loses less than one satoshi to
// the floor, so an amount k hops from its seed is at most k satoshi below
// the exact rational value, and the shares of one step never add up to
// more than T.
//
// It is also the attribution of an output's taint t among the feeds that
// put it there: a feed of weight w out of the feeds' total W is owed
// Share(t, w, W).
func Share(part, amount, whole int64) int64 {
	hi, lo := bits.Mul64(uint64(part), uint64(amount))
	q, _ := bits.Div64(hi, lo, uint64(whole))
	return int64(q)
}

// ShareBig is Share for the account chains, whose amounts (wei, a token's
// base units) do not fit in 64 bits: floor(part·amount/whole), exact, and
// 0 when whole is not positive. The rounding bound is Share's.
func ShareBig(part, amount, whole *big.Int) *big.Int {
	if whole.Sign() <= 0 {
		return new(big.Int)
	}
	q := new(big.Int).Mul(part, amount)
	return q.Quo(q, whole)
}

// StepTaint is the taint that a value v on the far side of a step gets
// when the tainted side holds taint of total value: poison taints it
// whole, haircut gives it its Share. Fifo has no per-value rule (see
// above); it returns 0 for it.
func StepTaint(model string, v, taint, total int64) int64 {
	switch model {
	case Poison:
		return v
	case Haircut:
		if total <= 0 {
			return 0
		}
		return Share(v, taint, total)
	}
	return 0
}

// Followed is the min-value cut-off: a tainted output with taint below
// min (or none) is neither reported nor followed. Taint only shrinks
// along a path, so what is cut could matter only joined with other taint.
func Followed(taint, min int64) bool { return taint > 0 && taint >= min }

// SameOwner says whether moving value from address a to address b stays
// with one owner: the same address, or two addresses of one cluster.
// clusterOf gives an address's cluster, 0 for none (nil: no clusters).
func SameOwner(a, b string, clusterOf func(string) uint32) bool {
	if a == b {
		return true
	}
	if clusterOf == nil {
		return false
	}
	ca := clusterOf(a)
	return ca != 0 && ca == clusterOf(b)
}

// Feed is one tainted member of a step's tainted side, as the hop rule
// sees it: the address that holds it, its hop count and its taint.
type Feed struct {
	Address string
	Hop     int
	Taint   int64
}

// StepHop is the hop rule. A hop is one transaction moving value from one
// owner to another: value reaching address to from feed f is at f.Hop,
// plus one unless to and f.Address are one owner (SameOwner; same reports
// that). A seed is at hop 0, so a payment from a start address to another
// address of its cluster stays at hop 0.
func StepHop(f Feed, to string, clusterOf func(string) uint32) (hop int, same bool) {
	same = SameOwner(f.Address, to, clusterOf)
	return NextHop(f.Hop, same), same
}

// NextHop is the hop count after a step from hop: hop itself for a step
// inside one owner (a result's Hop.ClusterStep), hop+1 otherwise.
func NextHop(hop int, sameOwner bool) int {
	if sameOwner {
		return hop
	}
	return hop + 1
}

// LeastHop is an output's hop count: the least StepHop over the n feeds
// (feed(i) is the i-th).
//
// best is the feed that gives it, the one of larger taint on a tie (the
// first of those on a further tie): the parent a path goes through. same
// is the feed of a step inside one owner that gives the least hop count,
// -1 when none does: value reaching to then reaches no new owner.
func LeastHop(n int, feed func(i int) Feed, to string, clusterOf func(string) uint32) (hop, best, same int) {
	hop, best, same = -1, -1, -1
	var bestTaint int64
	for i := range n {
		f := feed(i)
		h, owner := StepHop(f, to, clusterOf)
		if hop < 0 || h < hop {
			hop, best, bestTaint, same = h, i, f.Taint, -1
		} else if h == hop && f.Taint > bestTaint {
			best, bestTaint = i, f.Taint
		}
		if owner && h == hop && same < 0 {
			same = i
		}
	}
	return hop, best, same
}
