// Package heuristic holds the address-clustering heuristics: rules that say,
// from one transaction, which addresses share an owner. Each heuristic has a
// name and a version, recorded with every link it draws, so that a link can
// be explained later by the exact rule that made it.
//
// Bitcoin multi-input (the "common input ownership" heuristic) links all
// input addresses of a transaction, except in CoinJoins, where the inputs
// belong to different people by design. CoinJoins are recognised by a
// generic equal-output rule and by the shapes of the known protocols
// (Wasabi 1.x, Wasabi 2.0 / WabiSabi, Whirlpool, JoinMarket); exchange batch
// payouts, which also have many outputs and sometimes repeated values, are
// kept from passing as CoinJoins by the participant bound of each rule.
//
// Ethereum deposit-address reuse (Deposits, deposit.go) links the addresses
// that pay into an exchange deposit address with it, once the address
// forwards what it received to a known exchange wallet.
package heuristic

import (
	"fmt"

	"github.com/tracerproject/tracer/chain"
)

// Names of the heuristics, as recorded in the merge evidence.
const (
	NameMultiInput = "btc-multi-input"
)

// Versions of the heuristics. A change in what a heuristic links gets a new
// version, so old evidence keeps naming the rule that drew it.
const (
	VersionMultiInput = 1
)

// Config switches the heuristics on and off and sets their limits.
type Config struct {
	// MultiInput links the input addresses of non-CoinJoin transactions.
	MultiInput bool
	// Change links a transaction's inputs to its change output (lower
	// confidence; off by default).
	Change bool
	// Dust: outputs below this many satoshi do not count as CoinJoin
	// outputs (anti-fingerprinting dust and colored-coin markers).
	Dust int64
	// Deposit: Ethereum deposit-address reuse (see deposit.go).
	Deposit DepositConfig
}

// DefaultConfig is the configuration callers copy and change.
func DefaultConfig() Config {
	return Config{MultiInput: true, Dust: 546, Deposit: DefaultDepositConfig()}
}

// Validate checks the limits.
func (c Config) Validate() error {
	if c.Dust < 0 {
		return fmt.Errorf("heuristic: dust limit %d sat is negative", c.Dust)
	}
	return c.Deposit.Validate()
}

// Link says that two addresses of one transaction have the same owner.
type Link struct {
	A, B      string
	Heuristic string
	Version   int
}

// Links returns the links the enabled heuristics draw from tx: for
// multi-input, the first distinct input address linked to each other one
// (a star; any spanning tree of the inputs joins the same cluster). dst is
// reused.
func (c Config) Links(dst []Link, tx *chain.Tx) []Link {
	dst = dst[:0]
	if !c.MultiInput || tx.Coinbase || len(tx.Inputs) < 2 {
		return dst
	}
	first := ""
	seen := 0
	// Large consolidations: a set instead of scanning the links.
	var set map[string]struct{}
	if len(tx.Inputs) > 64 {
		set = make(map[string]struct{}, len(tx.Inputs))
	}
	for i := range tx.Inputs {
		a := tx.Inputs[i].Address
		if a == "" || a == first {
			continue
		}
		if first == "" {
			first = a
			continue
		}
		if set != nil {
			if _, dup := set[a]; dup {
				continue
			}
			set[a] = struct{}{}
		} else if seenAddr(dst, a) {
			continue
		}
		seen++
		dst = append(dst, Link{A: first, B: a, Heuristic: NameMultiInput, Version: VersionMultiInput})
	}
	if seen == 0 {
		return dst
	}
	if kind := c.CoinJoin(tx); kind != NotCoinJoin {
		return dst[:0]
	}
	return dst
}

// seenAddr reports whether a is already the B side of a link in dst. Scans
// are short: inputs are few except in consolidations and CoinJoins, and
// those spend mostly distinct addresses anyway.
func seenAddr(dst []Link, a string) bool {
	for j := range dst {
		if dst[j].B == a {
			return true
		}
	}
	return false
}
